// The agent: start a run, a replay or a form fill; follow a run's steps, pictures and words as they
// come; answer the safety gate's questions; stop. Past runs come from their run folders.

import { api } from "./api.js";
import { setWaiting, showBanner } from "./attention.js";
import { $, el, numberOf, showError, speedLine } from "./dom.js";
import { closeSidebarOnPhone } from "./layout.js";

let shown = null; // the run on screen: {id, events, live}
let forms = []; // the bundled form specs
let fillRows = null; // the data file chosen for a fill: {text, format}

export const shownRun = () => shown;

export async function refreshRuns() {
  try {
    const runs = await api("/api/runs");
    $("runs").replaceChildren(...runs.map((run) => el("li", {}, el("button", { type: "button", class: "open",
      title: run.id, "aria-current": shown && shown.id === run.id ? "true" : null,
      onclick: () => { showRun(run.id); closeSidebarOnPhone(); } },
    el("span", {}, run.instruction || run.id), el("small", {}, run.live ? "running" : run.status || "unfinished")))));
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
  const detail = [step.verdict ? `gate: ${step.verdict.decision} (${step.verdict.reason})` : "", step.detail]
    .filter(Boolean).join(" · ");
  const open = el("button", { type: "button", class: "step-open", "aria-controls": "run-figure",
    disabled: !step.picture, onclick: () => showPicture(step) },
  el("b", {}, `${step.step}. `), action, " → ", el("span", { class: `outcome ${step.outcome}` }, step.outcome || "?"));
  return el("li", { class: "step", "data-step": step.step }, open,
    detail && el("div", { class: "detail" }, detail),
    step.speed && el("div", { class: "speed" }, speedLine(step.speed)),
    step.thought && el("details", { class: "thought" }, el("summary", {}, "Thought"), el("div", {}, step.thought)));
}

function showPicture(step) {
  if (!step.picture) return;
  $("run-picture").src = step.picture;
  $("run-picture").alt = `step ${step.step}: the screen the agent saw, with its action drawn`;
  $("run-picture-caption").textContent = `Step ${step.step}`;
  $("run-figure").hidden = false;
  for (const button of document.querySelectorAll(".step-open")) {
    button.setAttribute("aria-pressed", String(button.parentElement.dataset.step === String(step.step)));
  }
}

function showApproval(approval) {
  $("approval").hidden = !approval;
  setWaiting(approval && { run: shown.id, ...approval });
  if (!approval) return;
  $("approval").dataset.number = approval.number;
  $("approval-action").textContent = approval.action;
  $("approval-reason").textContent = `Why: ${approval.reason}.`;
  $("approval-crop").hidden = !approval.has_crop;
  if (approval.has_crop) $("approval-crop").src = `/api/runs/${shown.id}/approval.png?n=${approval.number}`;
  $("approve").disabled = $("deny").disabled = false;
  if (!$("agent").hidden) $("approval").focus();
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
  shown.live = false;
  showApproval(null);
}

export function showRun(id) {
  if (shown) shown.events.close();
  history.replaceState(null, "", `#run=${encodeURIComponent(id)}`);
  const events = new EventSource(`/api/runs/${encodeURIComponent(id)}/events`);
  shown = { id, events, live: true };
  events.addEventListener("state", (event) => {
    const state = JSON.parse(event.data);
    shown.live = state.live;
    $("run-title").textContent = state.instruction;
    $("steps").replaceChildren(...state.steps.map(stepView));
    const last = state.steps[state.steps.length - 1];
    if (last) showPicture(last); else $("run-figure").hidden = true;
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
    showPicture(step);
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
  showBanner();
  refreshRuns();
}

async function startRun(body) {
  showError("");
  try {
    const state = await api("/api/runs", body);
    showRun(state.id);
    closeSidebarOnPhone();
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

export function startRuns() {
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
}
