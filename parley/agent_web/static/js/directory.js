// Colleagues with their live state, searchable by name or team.

import { api } from "./api.js";
import { byId, clear, h } from "./dom.js";
import { label, t } from "./strings.js";

const REFRESH_MS = 15000;

export class DirectoryPanel {
  constructor(desktop) {
    this.desktop = desktop;
    this.element = byId("side-directory");
    this.colleagues = [];
    this.search = h("input", { type: "search", placeholder: t("directory.search"), "aria-label": t("directory.search") });
    this.search.addEventListener("input", () => this.renderList());
    this.list = h("ul", { class: "directory" });
    this.element.append(this.search, this.list);
    setInterval(() => this.refresh(), REFRESH_MS);
  }

  async refresh() {
    try {
      this.colleagues = await api("GET", "/api/directory");
    } catch {
      return;
    }
    this.renderList();
  }

  renderList() {
    const term = this.search.value.trim().toLocaleLowerCase();
    const shown = this.colleagues.filter(
      (person) => !term || `${person.display_name} ${person.team_name ?? ""}`.toLocaleLowerCase().includes(term),
    );
    clear(this.list);
    if (!shown.length) this.list.append(h("li", { class: "empty" }, t("directory.empty")));
    for (const person of shown) {
      const reason = person.state === "not_ready" && person.reason ? this.desktop.reasonCodes.find((r) => r.code === person.reason)?.name ?? label("reason", person.reason) : "";
      this.list.append(
        h("li", { class: `person state-${person.state}`, dataset: { userId: person.id } },
          h("span", { class: "state-dot", "aria-hidden": "true" }),
          h("span", { class: "person-name" }, person.display_name, person.is_me ? ` ${t("directory.me")}` : ""),
          h("span", { class: "person-team" }, person.team_name ?? ""),
          h("span", { class: "person-state" }, label("state", person.state), reason ? ` (${reason})` : ""),
        ),
      );
    }
  }
}
