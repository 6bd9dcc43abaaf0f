// Conversations kept in the browser's IndexedDB: their words in one store, their attachments (as
// Blobs, written once) in another, so a reload loses nothing and a large picture fits.
//
// A conversation: {id, title, updated, error, messages}; a user message: {role: "user", parts,
// rejected}, each part {type: "text", text} or {type: "image" | "video", id, name, fps}; a reply:
// {role: "assistant", mode, locate, thought, answer, thought_seconds, point, label, image, usage, stopped,
// streaming}.

const DATABASE = "desktop-agent";
let opened = null;

function database() {
  opened ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore("conversations", { keyPath: "id" });
      request.result.createObjectStore("attachments", { keyPath: "id" });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opened;
}

const outcome = (request) => new Promise((resolve, reject) => {
  request.onsuccess = () => resolve(request.result);
  request.onerror = () => reject(request.error);
});

const committed = (transaction) => new Promise((resolve, reject) => {
  transaction.oncomplete = () => resolve();
  transaction.onerror = transaction.onabort = () => reject(transaction.error);
});

async function write(stores, work) {
  const transaction = (await database()).transaction(stores, "readwrite");
  work(transaction);
  await committed(transaction);
}

export async function loadConversations() {
  await moveFromLocalStorage();
  const all = await outcome((await database()).transaction("conversations").objectStore("conversations").getAll());
  for (const reply of all.flatMap((c) => c.messages).filter((m) => m.streaming)) {
    delete reply.streaming; // the page went away while it came: the server stopped it there
    reply.stopped = true;
  }
  return all.sort((a, b) => b.updated - a.updated);
}

export function saveConversation(conversation) {
  return write(["conversations"], (t) => t.objectStore("conversations").put(conversation));
}

export function deleteConversation(conversation) {
  const ids = conversation.messages.flatMap((m) => (m.parts || []).filter((p) => p.id).map((p) => p.id));
  return write(["conversations", "attachments"], (t) => {
    t.objectStore("conversations").delete(conversation.id);
    for (const id of ids) t.objectStore("attachments").delete(id);
  });
}

export function saveAttachment(id, blob) {
  return write(["attachments"], (t) => t.objectStore("attachments").put({ id, blob }));
}

export function deleteAttachment(id) {
  return write(["attachments"], (t) => t.objectStore("attachments").delete(id));
}

export async function loadAttachment(id) {
  const found = await outcome((await database()).transaction("attachments").objectStore("attachments").get(id));
  return found ? found.blob : null;
}

export const newId = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

// Earlier versions of the page kept conversations in localStorage, pictures as data: URLs.
async function moveFromLocalStorage() {
  const kept = localStorage.getItem("conversations");
  if (kept === null) return;
  let old = [];
  try { old = JSON.parse(kept) || []; } catch { /* unreadable: nothing to move */ }
  for (const [index, conversation] of old.entries()) {
    for (const message of conversation.messages) {
      delete message.image; // a located point's picture was a copy; the message before it has the original
      if (!message.parts) continue;
      for (const part of message.parts.filter((p) => p.data)) {
        part.id = newId();
        await saveAttachment(part.id, await (await fetch(part.data)).blob());
        delete part.data;
      }
    }
    await saveConversation({ ...conversation, updated: Date.now() - index });
  }
  localStorage.removeItem("conversations");
}
