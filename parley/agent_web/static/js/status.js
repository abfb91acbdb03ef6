// The status bar: the agent's state with its timer, the state menu (Ready, or Not ready
// with a reason code), the pending state kept while work is in hand, the connection.

import { byId, h } from "./dom.js";
import { showError } from "./notify.js";
import { duration, label, t } from "./strings.js";

export class StatusBar {
  constructor(desktop) {
    this.desktop = desktop;
    this.button = byId("state-button");
    this.menu = byId("state-menu");
    this.button.addEventListener("click", () => this.toggleMenu());
    this.menu.addEventListener("click", (event) => this.chosen(event));
    this.menu.addEventListener("keydown", (event) => this.menuKey(event));
    document.addEventListener("click", (event) => {
      if (!byId("state").contains(event.target)) this.closeMenu();
    });
    desktop.addEventListener("change", (event) => {
      if (event.detail.what === "agent") this.render();
      if (event.detail.what === "reasons") this.renderReasons();
    });
    desktop.addEventListener("connection", (event) => this.renderConnection(event.detail));
    setInterval(() => this.tick(), 1000);
    this.render();
  }

  reasonName(code) {
    const known = this.desktop.reasonCodes.find((reason) => reason.code === code);
    return known ? known.name : label("reason", code);
  }

  render() {
    const { state, reason, pending_not_ready: pending } = this.desktop.agent;
    byId("state").dataset.state = state;
    byId("state-name").textContent = label("state", state);
    byId("state-reason").textContent = state === "not_ready" && reason ? this.reasonName(reason) : "";
    const pendingElement = byId("pending");
    pendingElement.hidden = !pending;
    pendingElement.textContent = pending
      ? t("pending", { state: `${label("state", "not_ready")} (${this.reasonName(pending)})` })
      : "";
    document.title = `${label("state", state)} · Parley`;
    this.tick();
  }

  tick() {
    const since = this.desktop.agent.since;
    const seconds = since ? (this.desktop.now() - Date.parse(since)) / 1000 : 0;
    byId("state-timer").textContent = duration(seconds);
  }

  renderReasons() {
    for (const item of this.menu.querySelectorAll("[data-reason]")) item.parentElement.remove();
    for (const reason of this.desktop.reasonCodes) {
      this.menu.append(
        h("li", { role: "none" },
          h("button", { type: "button", role: "menuitem", dataset: { reason: reason.code } }, reason.name)),
      );
    }
    this.render();
  }

  renderConnection({ isOnline, retryInMs }) {
    const banner = byId("offline-banner");
    banner.hidden = isOnline;
    banner.textContent = isOnline
      ? ""
      : retryInMs > 1500
        ? t("connection.retry_in", { seconds: Math.round(retryInMs / 1000) })
        : t("connection.offline");
    byId("connection").dataset.online = String(isOnline);
    byId("connection").textContent = isOnline ? t("connection.online") : "";
    document.body.classList.toggle("is-offline", !isOnline);
  }

  toggleMenu() {
    if (this.menu.hidden) this.openMenu();
    else this.closeMenu();
  }

  openMenu({ focus = "first" } = {}) {
    this.menu.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    const items = [...this.menu.querySelectorAll("[role=menuitem]")];
    const target = focus === "reasons" ? items.find((item) => item.dataset.reason) : items[0];
    (target ?? items[0])?.focus();
  }

  closeMenu() {
    this.menu.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
  }

  menuKey(event) {
    const items = [...this.menu.querySelectorAll("[role=menuitem]")];
    const at = items.indexOf(document.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      items[(at + step + items.length) % items.length]?.focus();
    } else if (event.key === "Escape") {
      this.closeMenu();
      this.button.focus();
    }
  }

  async chosen(event) {
    const item = event.target.closest("[role=menuitem]");
    if (!item) return;
    this.closeMenu();
    try {
      if (item.dataset.state === "ready") await this.desktop.ready();
      else if (item.dataset.reason) await this.desktop.notReady(item.dataset.reason);
    } catch (error) {
      showError(error);
    }
  }
}
