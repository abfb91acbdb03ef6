// Call forwarding in the desktop's preferences (F-VO-9): the agent names an outside
// number (E.164) and, while it is set, the calls they accept ring it instead of their
// own phone. `/api/me/call-forward` keeps it.

import { api } from "./api.js";
import { byId } from "./dom.js";
import { showError, toast } from "./notify.js";
import { t } from "./strings.js";

export function setUpForwarding() {
  const dialog = byId("forwarding");
  const form = byId("forwarding-form");
  const input = form.elements.number;
  const current = byId("forwarding-current");
  const button = byId("forward-button");

  function show(number) {
    current.textContent = number ? t("forward.on", { number }) : t("forward.off");
    button.setAttribute("aria-pressed", String(Boolean(number)));
    byId("forwarding-off").hidden = !number;
    input.value = number ?? "";
  }

  async function load() {
    try {
      show((await api("GET", "/api/me/call-forward")).number);
    } catch (error) {
      if (error.status === 404) show(null);
      else showError(error);
    }
  }

  button.addEventListener("click", () => {
    load();
    dialog.showModal();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const number = input.value.trim().replace(/[\s()-]/g, "");
    if (!/^\+[1-9][0-9]{3,14}$/.test(number)) {
      input.setCustomValidity(t("forward.invalid"));
      input.reportValidity();
      return;
    }
    input.setCustomValidity("");
    try {
      show((await api("PUT", "/api/me/call-forward", { number })).number);
      toast(t("forward.on", { number }));
      dialog.close();
    } catch (error) {
      showError(error);
    }
  });
  input.addEventListener("input", () => input.setCustomValidity(""));
  byId("forwarding-off").addEventListener("click", async () => {
    try {
      await api("DELETE", "/api/me/call-forward");
      show(null);
      toast(t("forward.off"));
      dialog.close();
    } catch (error) {
      showError(error);
    }
  });
  load();
}
