// Chat with the model: conversations kept in the browser (store.js), the reply streamed into its own
// message (the reasoning open while it comes, with its time), Stop, Regenerate, rename and delete.

import { api, postEvents, RequestFailed } from "./api.js";
import { Attachments } from "./attachments.js";
import { $, el, numberOf, speedLine } from "./dom.js";
import { closeSidebarOnPhone } from "./layout.js";
import { showMarkdown } from "./markdown.js";
import * as store from "./store.js";

let conversations = []; // newest first
let current = null; // the conversation shown
let generation = null; // the reply being generated: {conversation, reply, controller}
let status = null; // the server's /api/status: sampling in force, upload limits
const attachments = new Attachments();
const views = new WeakMap(); // reply -> its view on screen
const pictures = new Map(); // attachment id -> object URL
const inline = new Map(); // attachment id -> data: URL, as sent

// ---- conversations ----

async function save(conversation) {
  if (!conversations.includes(conversation)) return; // deleted while its reply came
  conversation.updated = Date.now();
  try { await store.saveConversation(conversation); } catch (error) {
    conversation.error = `This conversation could not be kept in the browser: ${error.message}`;
  }
}

function newConversation() {
  current = { id: store.newId(), title: "New chat", updated: Date.now(), error: null, messages: [] };
  conversations.unshift(current);
  renderConversations();
  renderMessages();
  $("chat-input").focus();
}

function open(conversation) {
  current = conversation;
  renderConversations();
  renderMessages();
  closeSidebarOnPhone();
}

function rename(conversation, item) {
  const field = el("input", { type: "text", value: conversation.title, "aria-label": `New name for ${conversation.title}` });
  const finish = async (keep) => {
    if (!field.isConnected) return;
    if (keep && field.value.trim()) {
      conversation.title = field.value.trim();
      await save(conversation);
    }
    renderConversations();
    $("conversations").querySelector(`[data-id="${conversation.id}"] .open`)?.focus();
  };
  field.onkeydown = (event) => {
    if (event.key === "Enter") { event.preventDefault(); finish(true); }
    if (event.key === "Escape") { event.stopPropagation(); finish(false); }
  };
  field.onblur = () => finish(true);
  item.replaceChildren(field);
  field.select();
}

async function remove(conversation) {
  if (!window.confirm(`Delete the chat “${conversation.title}” and its attachments?`)) return;
  if (generation?.conversation === conversation) generation.controller.abort();
  await store.deleteConversation(conversation);
  conversations = conversations.filter((c) => c !== conversation);
  if (current === conversation) current = conversations[0] || null;
  renderConversations();
  renderMessages();
  $("new-chat").focus();
}

function renderConversations() {
  $("conversations").replaceChildren(...conversations.map((c) => {
    const item = el("li", { "data-id": c.id, class: c === current ? "current" : "" });
    item.append(
      el("button", { type: "button", class: "open", "aria-current": c === current ? "true" : null,
        onclick: () => open(c) }, c.title),
      el("button", { type: "button", class: "icon", "aria-label": `Rename ${c.title}`, title: "Rename",
        onclick: () => rename(c, item) }, "✎"),
      el("button", { type: "button", class: "icon", "aria-label": `Delete ${c.title}`, title: "Delete",
        onclick: () => remove(c) }, "🗑"));
    return item;
  }));
}

// ---- messages ----

async function pictureOf(id) {
  if (!pictures.has(id)) {
    const blob = await store.loadAttachment(id);
    pictures.set(id, blob ? URL.createObjectURL(blob) : null);
  }
  return pictures.get(id);
}

// A picture that loads late pushes the latest message down: the list stays at its end if it was there.
function stayAtEnd(event) {
  const list = $("messages");
  if (list.scrollHeight - list.scrollTop - list.clientHeight <= event.target.offsetHeight + 40) {
    list.scrollTop = list.scrollHeight;
  }
}

function media(part) {
  const view = part.type === "image" ? el("img", { alt: `attached picture ${part.name || ""}`.trim(), onload: stayAtEnd })
    : el("video", { controls: true, "aria-label": `attached video ${part.name || ""}`.trim() });
  pictureOf(part.id).then((url) => {
    if (url) view.src = url;
    else view.replaceWith(el("span", { class: "detail" }, `[${part.name || part.type}: no longer in this browser]`));
  });
  return view;
}

function userView(message) {
  const view = el("li", { class: `message user${message.rejected ? " rejected" : ""}` }, el("div", { class: "who" }, "you"));
  for (const part of message.parts) view.append(part.type === "text" ? el("div", { class: "text" }, part.text) : media(part));
  if (message.rejected) {
    view.append(el("p", { class: "refusal", role: "alert" },
      `Not answered: ${message.rejected}. This message is not sent again.`));
  }
  return view;
}

class ReplyView {
  constructor(reply) {
    this.reply = reply;
    this.touched = false; // the person opened or closed the reasoning: it stays as they left it
    this.summary = el("summary", { onclick: () => { this.touched = true; } });
    this.thoughtText = el("div", { class: "thought-text" });
    this.thought = el("details", { class: "thought" }, this.summary, this.thoughtText);
    this.answer = el("div", { class: "answer markdown" });
    this.located = el("figure", { class: "located", hidden: true });
    this.speed = el("p", { class: "speed" });
    this.actions = el("div", { class: "actions" });
    this.root = el("li", { class: "message assistant" }, el("div", { class: "who" }, `model · ${reply.mode || ""}`),
      this.thought, this.answer, this.located, this.speed, this.actions);
    this.shownAnswer = null;
    views.set(reply, this);
    this.update();
  }

  thinking() {
    return generation?.reply === this.reply && !this.reply.answer && this.reply.thought_seconds === undefined;
  }

  update() {
    const reply = this.reply;
    this.thought.hidden = !reply.thought;
    if (this.thoughtText.textContent !== reply.thought) this.thoughtText.textContent = reply.thought;
    const live = this.thinking();
    if (live && !this.touched) this.thought.open = true;
    if (!live && this.thought.open && !this.touched && reply.answer) this.thought.open = false;
    this.summary.textContent = live ? `Thinking… ${((Date.now() - reply.started) / 1000).toFixed(1)} s`
      : `Reasoning${reply.thought_seconds ? ` · ${reply.thought_seconds.toFixed(1)} s` : ""}`;
    const answer = reply.point || (reply.locate && generation?.reply === reply) ? "" : reply.answer; // no raw JSON
    if (answer !== this.shownAnswer) {
      showMarkdown(this.answer, answer);
      this.shownAnswer = answer;
    }
    if (reply.point && reply.image && this.located.hidden) this.showPoint();
    this.speed.textContent = [speedLine(reply.usage), reply.stopped && "stopped"].filter(Boolean).join(" · ");
    const last = current && current.messages[current.messages.length - 1] === reply;
    this.actions.replaceChildren(...(last && !generation ? [el("button", { type: "button", class: "secondary",
      onclick: () => regenerate(current) }, "Regenerate")] : []));
  }

  showPoint() {
    const { point, label } = this.reply;
    const marker = el("span", { class: "marker" });
    const image = el("img", { alt: `the picture, with ${label || "the located thing"} marked` });
    image.onload = (event) => {
      marker.style.left = `${(point[0] / image.naturalWidth) * 100}%`;
      marker.style.top = `${(point[1] / image.naturalHeight) * 100}%`;
      stayAtEnd(event);
    };
    pictureOf(this.reply.image).then((url) => { if (url) image.src = url; });
    this.located.replaceChildren(el("div", { class: "spot" }, image, marker),
      el("figcaption", {}, `${label ? `${label}: ` : "Found "}at ${point[0]}, ${point[1]} px`));
    this.located.hidden = false;
  }
}

function renderMessages() {
  const items = current ? current.messages.map((m) => (m.role === "user" ? userView(m) : new ReplyView(m).root)) : [];
  if (current?.error) {
    items.push(el("li", { class: "notice", role: "alert" }, el("span", {}, current.error),
      el("button", { type: "button", class: "secondary", onclick: () => regenerate(current) }, "Try again")));
  }
  $("messages").replaceChildren(...items);
  $("messages").scrollTop = $("messages").scrollHeight;
}

// ---- sending ----

const modeChosen = () => document.querySelector("input[name=mode]:checked")?.value || status?.default_mode || "instruct";

async function inlineOf(id) {
  if (!inline.has(id)) {
    const blob = await store.loadAttachment(id);
    if (!blob) throw new Error("an attachment of this conversation is no longer in this browser");
    inline.set(id, await new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    }));
  }
  return inline.get(id);
}

// What the server is sent: every message but those it refused, attachments inline.
async function historyOf(conversation) {
  const turns = [];
  for (const message of conversation.messages) {
    if (message.role === "assistant") {
      if (message.answer) turns.push({ role: "assistant", content: [{ type: "text", text: message.answer }] });
    } else if (!message.rejected) {
      turns.push({ role: "user", content: await Promise.all(message.parts.map(async (p) => (p.type === "text" ? p
        : { type: p.type, data: await inlineOf(p.id), ...(p.type === "video" ? { fps: p.fps } : {}) }))) });
    }
  }
  const size = turns.reduce((sum, t) => sum + t.content.reduce((n, p) => n + (p.data || p.text || "").length, 0), 0);
  const limit = status.uploads.max_request_bytes;
  if (size > limit * 0.95) {
    throw new Error(`this conversation's attachments come to ${Math.round(size / 2 ** 20)} MiB as sent, more than `
      + `the server takes at once (${limit / 2 ** 20} MiB): go on in a new chat`);
  }
  return turns;
}

async function send(event) {
  event?.preventDefault();
  const text = $("chat-input").value.trim();
  if (generation || (!text && !attachments.pending.length)) return;
  if (!current) newConversation();
  const parts = [...attachments.take(numberOf("fps") || 1), ...(text ? [{ type: "text", text }] : [])];
  current.messages.push({ role: "user", parts });
  if (current.title === "New chat") current.title = (text || parts[0].name || "attachment").slice(0, 40);
  $("chat-input").value = "";
  renderConversations();
  await save(current);
  await generate(current);
}

async function regenerate(conversation) {
  if (generation) return;
  if (conversation.messages[conversation.messages.length - 1]?.role === "assistant") conversation.messages.pop();
  await generate(conversation);
}

function setBusy(busy) {
  $("chat-send").disabled = busy;
  $("chat-stop").hidden = !busy;
  if (!busy && document.activeElement === $("chat-stop")) $("chat-input").focus();
}

async function generate(conversation) {
  const mode = modeChosen();
  const reply = { role: "assistant", mode, thought: "", answer: "", started: Date.now() };
  conversation.error = null;
  let body;
  try {
    body = { messages: await historyOf(conversation), mode, locate: $("locate").checked,
      temperature: numberOf("temperature"), top_p: numberOf("top-p"), max_tokens: numberOf("max-tokens") };
  } catch (error) {
    conversation.error = error.message;
    renderMessages();
    return;
  }
  reply.locate = body.locate;
  conversation.messages.push(reply);
  generation = { conversation, reply, controller: new AbortController() };
  setBusy(true);
  if (conversation === current) renderMessages();
  const ticking = setInterval(() => views.get(reply)?.update(), 100); // the reasoning's clock
  const keeping = setInterval(() => save(conversation), 1000); // what came so far outlives a reload
  reply.streaming = true;
  try {
    for await (const [kind, data] of postEvents("/api/chat", body, generation.controller.signal)) {
      if (kind === "thought") reply.thought += data.text;
      else if (kind === "answer") {
        reply.thought_seconds ??= reply.thought ? (Date.now() - reply.started) / 1000 : undefined;
        reply.answer += data.text;
      } else if (kind === "done") {
        Object.assign(reply, { thought: data.thought, answer: data.answer, point: data.point, label: data.label,
          usage: data.usage });
        if (data.point) reply.image = lastPicture(conversation);
        document.dispatchEvent(new Event("model-replied"));
      } else if (kind === "error") throw new RequestFailed(data.message);
      views.get(reply)?.update();
      if (conversation === current) $("messages").scrollTop = $("messages").scrollHeight;
    }
  } catch (error) {
    if (error.name === "AbortError") reply.stopped = true;
    else {
      if (!reply.answer && !reply.thought) conversation.messages.pop(); // no empty reply: the error is the notice
      const asked = conversation.messages.findLast((m) => m.role === "user");
      if ([400, 413, 422].includes(error.status)) asked.rejected = error.message; // told beside the message
      else conversation.error = error.message;
    }
  } finally {
    clearInterval(ticking);
    clearInterval(keeping);
    delete reply.streaming;
    if (reply.thought && reply.thought_seconds === undefined) reply.thought_seconds = (Date.now() - reply.started) / 1000;
    generation = null;
    setBusy(false);
    await save(conversation);
    if (conversation === current && (conversation.error || !conversation.messages.includes(reply))) renderMessages();
    else views.get(reply)?.update(); // drawn anew, it would forget the reasoning opened or closed
  }
}

function lastPicture(conversation) {
  const parts = conversation.messages.filter((m) => m.role === "user" && !m.rejected).flatMap((m) => m.parts);
  return parts.filter((p) => p.type === "image").pop()?.id;
}

// ---- the composer ----

function showSampling() {
  const mode = modeChosen();
  const used = status.sampling[mode];
  $("temperature").placeholder = used.temperature;
  $("top-p").placeholder = used.top_p;
  $("max-tokens").placeholder = used.max_tokens;
  $("sampling-in-force").textContent = `Left empty: ${mode}'s model card, temperature ${used.temperature}, `
    + `top_p ${used.top_p}, at most ${used.max_tokens} tokens.`;
}

export function chatStatus(latest) {
  status = latest;
  attachments.limits = latest.uploads;
  if (!document.querySelector("input[name=mode]:checked")) $(`mode-${latest.default_mode}`).checked = true;
  showSampling();
}

export async function startChat() {
  $("new-chat").onclick = newConversation;
  $("composer").onsubmit = send;
  $("chat-stop").onclick = () => generation?.controller.abort();
  $("chat-input").onkeydown = (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
  };
  $("attach").onclick = () => $("file-input").click();
  $("file-input").onchange = async (event) => {
    await attachments.add([...event.target.files]);
    event.target.value = "";
  };
  for (const radio of document.querySelectorAll("input[name=mode]")) radio.onchange = () => status && showSampling();
  navigator.storage?.persist?.();
  try { conversations = await store.loadConversations(); } catch (error) {
    $("messages").replaceChildren(el("li", { class: "notice", role: "alert" },
      `The browser keeps no conversations here (${error.message}); they will be lost on reload.`));
  }
  current = conversations[0] || null;
  renderConversations();
  renderMessages();
}
