// The page: chat with the model, and run and supervise the agent. Plain JavaScript, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
};

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error ? data.error.message : `${response.status} ${response.statusText}`);
  return data;
}

// Server-sent events from a POST (EventSource only does GET).
async function* postEvents(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    throw new Error(data.error ? data.error.message : `${response.status} ${response.statusText}`);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block);
      const data = /^data: (.*)$/m.exec(block);
      if (event && data) yield [event[1], JSON.parse(data[1])];
    }
  }
}

// ---- tabs and the model's status ----

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.setAttribute("aria-selected", tab.dataset.tab === name);
  $("chat").hidden = name !== "chat";
  $("agent").hidden = name !== "agent";
  if (name === "agent") refreshRuns();
}

let defaultMode = "instruct";
async function pollStatus() {
  let wait = 5000;
  try {
    const status = await api("/api/status");
    const model = status.model;
    const line = { loading: `loading ${model.model}… ${Math.round(model.seconds)} s (${model.message})`,
      ready: `${model.model} (${model.backend}) ready`,
      failed: `model failed: ${model.message}` }[model.state];
    $("model-status").textContent = line + (model.waiting ? ` · ${model.waiting} waiting` : "");
    $("model-status").className = `status ${model.state}`;
    if (!document.querySelector("input[name=mode]:checked")) {
      defaultMode = status.default_mode;
      $(`mode-${defaultMode}`).checked = true;
    }
    if (model.state === "loading") wait = 1000;
  } catch (error) {
    $("model-status").textContent = `server unreachable: ${error.message}`;
    $("model-status").className = "status failed";
  }
  setTimeout(pollStatus, wait);
}

// ---- chat ----

const store = {
  load() {
    try { return JSON.parse(localStorage.getItem("conversations")) || []; } catch { return []; }
  },
  save(conversations) {
    try {
      localStorage.setItem("conversations", JSON.stringify(conversations));
    } catch { // too big for the browser's storage: keep the words, drop the pictures
      const light = conversations.map((c) => ({ ...c, messages: c.messages.map((m) => ({
        ...m, parts: m.parts.map((p) => (p.type === "text" ? p : { type: "text", text: `[${p.type} not kept]` })) })) }));
      try { localStorage.setItem("conversations", JSON.stringify(light)); } catch { /* nothing more to do */ }
    }
  },
};
let conversations = store.load();
let current = null; // the conversation shown
let pending = []; // attachments of the message being written

function newConversation() {
  current = { id: Date.now().toString(36), title: "New chat", messages: [] };
  conversations.unshift(current);
  renderConversations();
  renderMessages();
}

function renderConversations() {
  $("conversations").replaceChildren(...conversations.map((c) => {
    const item = el("li", { class: c === current ? "current" : "" }, c.title);
    item.onclick = () => { current = c; renderConversations(); renderMessages(); };
    return item;
  }));
}

function renderMessages() {
  $("messages").replaceChildren(...(current ? current.messages.map(messageView) : []));
  $("messages").scrollTop = $("messages").scrollHeight;
}

function messageView(message) {
  const view = el("li", { class: `message ${message.role}` }, el("div", { class: "who" }, message.role === "user"
    ? "you" : `model · ${message.mode || ""}`));
  if (message.role === "user") {
    for (const part of message.parts) {
      if (part.type === "text") view.append(el("div", { class: "answer" }, part.text));
      else if (part.type === "image" && part.data) view.append(el("img", { src: part.data, alt: "attached image" }));
      else if (part.type === "video" && part.data) view.append(el("video", { src: part.data, controls: "" }));
    }
    return view;
  }
  const thought = el("details", { class: "thought" }, el("summary", {}, "Reasoning"), el("div", {}, message.thought || ""));
  thought.hidden = !message.thought;
  view.append(thought, el("div", { class: "answer" }, message.answer || ""));
  if (message.point && message.image) {
    const marker = el("span", { class: "marker" });
    const image = el("img", { src: message.image, alt: "the located point" });
    image.onload = () => {
      marker.style.left = `${(message.point[0] / image.naturalWidth) * image.width}px`;
      marker.style.top = `${(message.point[1] / image.naturalHeight) * image.height}px`;
    };
    view.append(el("div", { class: "located" }, image, marker),
      el("div", { class: "detail" }, `point: ${message.point[0]}, ${message.point[1]} px`));
  }
  if (message.error) view.append(el("div", { class: "error" }, message.error));
  return view;
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function addFiles(files) {
  for (const file of files) {
    const type = file.type.startsWith("video/") ? "video" : "image";
    pending.push({ type, data: await readFile(file), name: file.name });
  }
  $("attachments").replaceChildren(...pending.map((p) => el("span", {}, `${p.type}: ${p.name}`)));
}

function numberOf(id) {
  const value = $(id).value;
  return value === "" ? null : Number(value);
}

async function send(event) {
  event.preventDefault();
  const text = $("chat-input").value.trim();
  if (!text && !pending.length) return;
  if (!current) newConversation();
  const fps = numberOf("fps") || 1;
  const parts = [...pending.map((p) => (p.type === "video" ? { type: "video", data: p.data, fps } : { type: p.type, data: p.data })),
    ...(text ? [{ type: "text", text }] : [])];
  const mode = document.querySelector("input[name=mode]:checked")?.value || defaultMode;
  const locate = $("locate").checked;
  current.messages.push({ role: "user", parts });
  if (current.title === "New chat") current.title = (text || "image").slice(0, 40);
  const reply = { role: "assistant", mode, thought: "", answer: "" };
  current.messages.push(reply);
  pending = [];
  $("attachments").replaceChildren();
  $("chat-input").value = "";
  renderConversations();
  renderMessages();
  let view = $("messages").lastElementChild;
  const update = () => {
    const next = messageView(reply);
    view.replaceWith(next);
    view = next;
    $("messages").scrollTop = $("messages").scrollHeight;
  };
  const history = current.messages.slice(0, -1).map((m) => (m.role === "user"
    ? { role: "user", content: m.parts.filter((p) => p.type === "text" || p.data) }
    : { role: "assistant", content: [{ type: "text", text: m.answer || "" }] }));
  $("chat-send").disabled = true;
  showError("");
  try {
    for await (const [kind, data] of postEvents("/api/chat", {
      messages: history, mode, locate,
      temperature: numberOf("temperature"), top_p: numberOf("top-p"), max_tokens: numberOf("max-tokens"),
    })) {
      if (kind === "thought") reply.thought += data.text;
      else if (kind === "answer") reply.answer += data.text;
      else if (kind === "done") {
        Object.assign(reply, { thought: data.thought, answer: data.answer, point: data.point });
        if (data.point) reply.image = [...parts].reverse().find((p) => p.type === "image")?.data
          || [...current.messages].reverse().flatMap((m) => m.parts || []).find((p) => p.type === "image")?.data;
      } else if (kind === "error") reply.error = data.message;
      update();
    }
  } catch (error) {
    reply.error = error.message;
    update();
  } finally {
    $("chat-send").disabled = false;
    store.save(conversations);
  }
}

// ---- agent ----

let shown = null; // the run on screen: {id, events}
let forms = []; // the bundled form specs
let fillRows = null; // the data file chosen for a fill: {text, format}

async function refreshRuns() {
  try {
    const runs = await api("/api/runs");
    $("runs").replaceChildren(...runs.map((run) => {
      const item = el("li", { class: shown && shown.id === run.id ? "current" : "", title: run.id },
        run.instruction, el("small", {}, run.live ? "running" : run.status || "unfinished"));
      item.onclick = () => showRun(run.id);
      return item;
    }));
    const recordings = await api("/api/recordings");
    $("replay-name").replaceChildren(...recordings.map((r) => el("option", { value: r.name },
      `${r.name} (${r.steps} steps${r.parameters.length ? `; needs ${r.parameters.join(", ")}` : ""})`)));
    $("replay-start").disabled = !recordings.length;
    if (!forms.length) {
      forms = await api("/api/forms");
      $("fill-spec-name").replaceChildren(el("option", { value: "" }, "your own spec"),
        ...forms.map((f) => el("option", { value: f.name }, `bundled: ${f.name}`)));
    }
  } catch (error) {
    showError(error.message);
  }
}

function stepView(step) {
  const action = step.action ? `${step.action.action}${step.action.text !== undefined ? ` "${step.action.text}"` : ""}`
    + (step.target ? ` at ${step.target.join(", ")}` : "") : "no action";
  const view = el("li", { class: "step", "data-step": step.step },
    el("b", {}, `${step.step}. `), action, " → ",
    el("span", { class: `outcome ${step.outcome}` }, step.outcome || "?"),
    el("div", { class: "detail" }, [step.verdict ? `gate: ${step.verdict.decision} (${step.verdict.reason})` : "",
      step.detail].filter(Boolean).join(" · ")));
  if (step.thought) view.append(el("details", { class: "thought" }, el("summary", {}, "Thought"), el("div", {}, step.thought)));
  view.onclick = () => showPicture(step.picture);
  return view;
}

function showPicture(src) {
  $("run-picture").src = src;
  $("run-picture").hidden = false;
}

function showApproval(approval) {
  $("approval").hidden = !approval;
  if (!approval) return;
  $("approval").dataset.number = approval.number;
  $("approval-action").textContent = approval.action;
  $("approval-reason").textContent = `Why: ${approval.reason}.`;
  $("approval-crop").hidden = !approval.has_crop;
  if (approval.has_crop) $("approval-crop").src = `/api/runs/${shown.id}/approval.png?n=${approval.number}`;
  $("approve").disabled = $("deny").disabled = false;
}

function showEnding(ending) {
  const summary = ending.summary || {};
  const outcome = ending.result || summary; // how the job ended, else what its folder says
  const status = outcome.status || (ending.error ? "error" : ending.summary ? "finished" : "unfinished");
  const words = [`${status} after ${summary.steps ?? "?"} steps`, outcome.reason, ending.error,
    summary.answer && `answer: ${summary.answer}`].filter(Boolean);
  $("run-status").textContent = words.join(" · ");
  $("run-status").className = `status ${status}`;
  $("stop").hidden = true;
  $("run-text").hidden = true;
  showApproval(null);
}

function showRun(id) {
  if (shown) shown.events.close();
  history.replaceState(null, "", `#run=${encodeURIComponent(id)}`);
  showTab("agent");
  const events = new EventSource(`/api/runs/${encodeURIComponent(id)}/events`);
  shown = { id, events };
  events.addEventListener("state", (event) => {
    const state = JSON.parse(event.data);
    $("run-title").textContent = state.instruction;
    $("steps").replaceChildren(...state.steps.map(stepView));
    const last = state.steps[state.steps.length - 1];
    if (last) showPicture(last.picture); else $("run-picture").hidden = true;
    $("run-text").textContent = state.text;
    $("run-text").hidden = !state.live || !state.text;
    $("stop").hidden = !state.live;
    $("stop").disabled = false;
    $("run-status").textContent = state.live ? "running" : "";
    $("run-status").className = "status running";
    showApproval(state.approval);
  });
  events.addEventListener("step", (event) => {
    const step = JSON.parse(event.data);
    $("steps").append(stepView(step));
    showPicture(step.picture);
  });
  events.addEventListener("text", (event) => {
    const text = JSON.parse(event.data);
    if (text.new) $("run-text").textContent = "";
    $("run-text").textContent += text.text;
    $("run-text").hidden = !$("run-text").textContent;
    $("run-text").scrollTop = $("run-text").scrollHeight;
  });
  events.addEventListener("approval", (event) => showApproval(JSON.parse(event.data)));
  events.addEventListener("end", (event) => {
    events.close();
    showEnding(JSON.parse(event.data));
    refreshRuns();
  });
  refreshRuns();
}

async function startRun(body) {
  showError("");
  try {
    const state = await api("/api/runs", body);
    showRun(state.id);
  } catch (error) {
    showError(error.message);
  }
}

async function decide(approve) {
  $("approve").disabled = $("deny").disabled = true;
  try {
    await api(`/api/runs/${shown.id}/decision`, { approve, approval: Number($("approval").dataset.number) });
  } catch (error) {
    showError(error.message);
  }
}

function start() {
  for (const tab of document.querySelectorAll(".tab")) tab.onclick = () => showTab(tab.dataset.tab);
  $("new-chat").onclick = newConversation;
  $("composer").onsubmit = send;
  $("chat-input").onkeydown = (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) send(event);
  };
  $("file-input").onchange = async (event) => { await addFiles(event.target.files); event.target.value = ""; };
  $("run-form").onsubmit = (event) => {
    event.preventDefault();
    startRun({ kind: "run", instruction: $("run-instruction").value, mode: $("run-mode").value || null,
      max_steps: numberOf("run-max-steps"), dry_run: $("run-dry").checked || null });
  };
  $("replay-form").onsubmit = (event) => {
    event.preventDefault();
    const params = Object.fromEntries($("replay-params").value.split("\n").filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")).trim(), l.slice(l.indexOf("=") + 1)]));
    startRun({ kind: "replay", recording: $("replay-name").value, params, speed: numberOf("replay-speed") || 1 });
  };
  $("fill-spec-name").onchange = () => {
    const form = forms.find((f) => f.name === $("fill-spec-name").value);
    $("fill-spec").value = form ? form.spec : "";
  };
  $("fill-rows").onchange = async (event) => {
    const file = event.target.files[0];
    fillRows = file ? { text: await file.text(), format: /\.(jsonl|ndjson)$/i.test(file.name) ? "jsonl" : "csv" } : null;
    $("fill-rows-name").textContent = file ? file.name : "";
  };
  $("fill-form").onsubmit = (event) => {
    event.preventDefault();
    startRun({ kind: "fill", form: $("fill-spec").value, rows: fillRows ? fillRows.text : null,
      rows_format: fillRows ? fillRows.format : "csv", locator: $("fill-locator").value });
  };
  $("approve").onclick = () => decide(true);
  $("deny").onclick = () => decide(false);
  $("stop").onclick = async () => {
    $("stop").disabled = true;
    try { await api(`/api/runs/${shown.id}/stop`, {}); } catch (error) { showError(error.message); }
  };
  current = conversations[0] || null;
  renderConversations();
  renderMessages();
  pollStatus();
  const run = /^#run=(.+)$/.exec(location.hash);
  if (run) showRun(decodeURIComponent(run[1]));
}

start();
