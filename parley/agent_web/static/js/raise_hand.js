// "Request help" (F-VO-10): the agent raises a hand about the interaction in view over
// the desktop's socket (`help.raise`); supervisors see it on their monitoring page.
// Pressed again, the hand goes down (`help.clear`); a supervisor may clear it too.

import { api } from "./api.js";
import { byId } from "./dom.js";
import { showError, toast } from "./notify.js";
import { t } from "./strings.js";

export function setUpRaiseHand(desktop) {
  const button = byId("raise-hand");
  let raisedId = null;

  function show(id) {
    raisedId = id;
    button.setAttribute("aria-pressed", String(id !== null));
    button.textContent = id === null ? t("help.raise") : t("help.lower");
  }

  button.addEventListener("click", async () => {
    try {
      if (raisedId === null) {
        const selected = desktop.selected();
        const ack = await desktop.socket.request("help.raise", {
          interaction_id: selected ? selected.id : null,
        });
        show(ack.help_request_id);
        toast(t("help.raised"));
      } else {
        await desktop.socket.request("help.clear");
        show(null);
      }
    } catch (error) {
      showError(error);
    }
  });

  // A supervisor may have cleared it meanwhile: look again every so often.
  async function load() {
    try {
      const open = await api("GET", "/api/help-requests");
      show(open.length ? open[0].id : null);
    } catch (error) {
      if (error.code !== "offline") showError(error);
    }
  }
  show(null);
  load();
  setInterval(load, 15_000);
}
