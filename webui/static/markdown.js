// The model's answers as Markdown: marked turns them into HTML, DOMPurify keeps only what is safe
// to show (both served from vendor/, so this works offline). Pictures a reply links to are not
// fetched; links open in a new tab; code blocks get a Copy button.

import { marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.mjs";

import { el } from "./dom.js";

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

export function showMarkdown(element, text) {
  element.innerHTML = DOMPurify.sanitize(marked.parse(text, { gfm: true, breaks: true }),
    { FORBID_TAGS: ["img", "input", "style", "form"] });
  for (const block of element.querySelectorAll("pre")) {
    block.tabIndex = 0; // a long line scrolls sideways: reachable by keyboard
    block.before(el("button", { type: "button", class: "copy", "aria-label": "Copy the code",
      onclick: (event) => {
        navigator.clipboard?.writeText(block.textContent);
        event.currentTarget.textContent = "Copied";
      } }, "Copy"));
  }
}
