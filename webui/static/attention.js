// A question from the safety gate must not go unseen: while one waits, the tab's title says so,
// the Agent tab wears a badge, a banner stands above every other view, and (if asked for) the
// desktop shows a notification.

import { $ } from "./dom.js";

const TITLE = document.title;
let waiting = null; // {run, number, action, reason}
let notified = null; // the question a notification was shown for
let review = () => {}; // opens the run that asks
let watching = () => false; // whether the person is looking at the run's question already

export function onReview(open) {
  review = open;
}

export function watchedBy(test) {
  watching = test;
}

export function setWaiting(question) {
  waiting = question;
  $("agent-badge").hidden = !question;
  document.title = question ? `(1) Approval needed · ${TITLE}` : TITLE;
  showBanner();
  const key = question && `${question.run}:${question.number}`;
  if (question && key !== notified && $("notify").checked && window.Notification?.permission === "granted"
      && (document.hidden || !watching(question.run))) {
    // the reason, not the action: a notification may show on a locked screen, and an action can hold a secret
    new Notification("The agent waits for your approval", { body: question.reason, tag: key });
  }
  notified = key || notified;
}

export function showBanner() {
  $("approval-alert").hidden = !waiting || watching(waiting.run);
  if (waiting) $("approval-alert-action").textContent = waiting.action;
}

export function startAttention() {
  $("approval-review").onclick = () => waiting && review(waiting.run);
  $("notify").checked = localStorage.getItem("notify") === "yes";
  $("notify").onchange = async () => {
    if ($("notify").checked && window.Notification && Notification.permission !== "granted") {
      $("notify").checked = (await Notification.requestPermission()) === "granted";
    }
    localStorage.setItem("notify", $("notify").checked ? "yes" : "no");
  };
}
