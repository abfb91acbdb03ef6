// Keyboard shortcuts. Keys are matched by their place on the keyboard (`event.code`),
// not by the letter typed, so they work the same with a Russian or Polish layout.

import { byId } from "./dom.js";
import { showError } from "./notify.js";

export function installShortcuts({ desktop, offers, status, workspace }) {
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest?.("input, textarea, select, [contenteditable]");
    if (event.key === "?" && !typing && !event.altKey && !event.ctrlKey) {
      event.preventDefault();
      byId("help").showModal();
      return;
    }
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    const run = (action) => {
      event.preventDefault();
      Promise.resolve().then(action).catch(showError);
    };
    const first = offers.first();
    switch (event.code) {
      case "KeyA":
        if (first) run(() => offers.accept(first.offer_id));
        break;
      case "KeyX":
        if (first) run(() => offers.reject(first.offer_id));
        break;
      case "KeyR":
        run(() => desktop.ready());
        break;
      case "KeyN":
        run(() => status.openMenu({ focus: "reasons" }));
        break;
      case "KeyD":
        run(() => workspace.submitWrapUp());
        break;
      default: {
        const digit = /^Digit([1-9])$/.exec(event.code);
        if (digit) {
          const item = [...desktop.work.values()][Number(digit[1]) - 1];
          if (item) run(() => desktop.select(item.id));
        }
      }
    }
  });
}
