// The page: chat with the model, and run and supervise the agent. Plain JavaScript modules, no build
// step. The header shows what is loaded and how fast it answers; a run going on opens with the page.

import { api } from "./api.js";
import { onReview, setWaiting, showBanner, startAttention, watchedBy } from "./attention.js";
import { chatStatus, startChat } from "./chat.js";
import { $, mebibytes, speedLine } from "./dom.js";
import { startLayout } from "./layout.js";
import { refreshRuns, showRun, shownRun, startRuns } from "./runs.js";

const TABS = ["chat", "agent"];

function showTab(name, { focus = false } = {}) {
  for (const tab of TABS) {
    const button = $(`tab-${tab}`);
    button.setAttribute("aria-selected", String(tab === name));
    button.tabIndex = tab === name ? 0 : -1;
    $(tab).hidden = tab !== name;
  }
  if (focus) $(`tab-${name}`).focus();
  if (name === "agent") refreshRuns();
  showBanner();
}

function startTabs() {
  for (const tab of TABS) {
    $(`tab-${tab}`).onclick = () => showTab(tab);
    $(`tab-${tab}`).onkeydown = (event) => { // arrows move between tabs, as in any tab list
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) showTab(TABS[(TABS.indexOf(tab) + step + TABS.length) % TABS.length], { focus: true });
    };
  }
}

function showStatus(status) {
  const model = status.model;
  $("model-name").textContent = { loading: `loading ${model.model}…`, ready: model.model,
    failed: `failed: ${model.message}` }[model.state];
  $("model-name").className = model.state;
  $("model-name").title = `${model.backend} backend · ${model.message}${model.waiting ? ` · ${model.waiting} waiting` : ""}`;
  $("model-mode").textContent = model.mode;
  $("model-quantization").textContent = model.quantization;
  const memory = status.memory;
  $("memory-kind").textContent = memory.kind === "GPU" ? "GPU memory" : "RAM (no GPU)";
  $("model-memory").textContent = `${mebibytes(memory.used_mb ?? 0)} in use · ${mebibytes(memory.peak_mb)} peak`;
  $("model-memory").title = memory.device + (memory.total_mb ? ` · ${mebibytes(memory.total_mb)} in all` : "");
  $("loading").hidden = model.state !== "loading";
  const progress = model.progress;
  if (progress) {
    $("load-progress").max = progress.total;
    $("load-progress").value = progress.done;
  } else $("load-progress").removeAttribute("value");
  $("load-words").textContent = progress ? `${progress.what} ${progress.done}/${progress.total} · ${Math.round(model.seconds)} s`
    : `${model.message} · ${Math.round(model.seconds)} s`;
  $("model-last").textContent = speedLine(model.last_reply) || "–";
}

async function refreshStatus() {
  try {
    const status = await api("/api/status");
    showStatus(status);
    chatStatus(status);
    followLiveRun(status);
    return status;
  } catch (error) {
    $("model-name").textContent = `server unreachable: ${error.message}`;
    $("model-name").className = "failed";
    return null;
  }
}

async function pollStatus() {
  const status = await refreshStatus();
  setTimeout(pollStatus, status?.model.state === "loading" ? 1000 : 2000);
  return status;
}

// A run going on is always followed, so that its questions reach the page at once.
function followLiveRun(status) {
  const shown = shownRun();
  if (status.run && (!shown || (!shown.live && shown.id !== status.run))) showRun(status.run);
  else if (!status.run && (!shown || !shown.live)) setWaiting(null);
}

function reviewRun(id) {
  if (shownRun()?.id !== id) showRun(id);
  showTab("agent");
  $("approval").focus();
}

async function start() {
  startLayout();
  startTabs();
  startAttention();
  onReview(reviewRun);
  watchedBy((run) => !$("agent").hidden && shownRun()?.id === run);
  startRuns();
  document.addEventListener("model-replied", refreshStatus); // the header's figures of the reply, at once
  const status = await pollStatus(); // which follows a run going on
  const asked = /^#run=(.+)$/.exec(location.hash);
  if (status?.run) showTab("agent"); // before the run's first event: its question takes the focus
  else if (asked) {
    showRun(decodeURIComponent(asked[1]));
    showTab("agent");
  }
  await startChat();
}

start();
