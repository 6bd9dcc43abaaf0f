// The side panels: beside the content on a wide screen (and foldable there), over it on a narrow
// one, where they start closed and close again once something in them is chosen.

import { $ } from "./dom.js";

const narrow = window.matchMedia("(max-width: 760px)");

export function setSidebar(open) {
  document.body.classList.toggle("sidebar-closed", !open);
  $("sidebar-toggle").setAttribute("aria-expanded", String(open));
  $("backdrop").hidden = !(open && narrow.matches);
}

export function closeSidebarOnPhone() {
  if (narrow.matches) setSidebar(false);
}

export function startLayout() {
  setSidebar(!narrow.matches);
  narrow.addEventListener("change", () => setSidebar(!narrow.matches));
  $("sidebar-toggle").onclick = () => setSidebar(document.body.classList.contains("sidebar-closed"));
  $("backdrop").onclick = () => setSidebar(false);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && narrow.matches && !document.body.classList.contains("sidebar-closed")) {
      setSidebar(false);
      $("sidebar-toggle").focus();
    }
  });
}
