// The agent's own numbers for today (F-RP-2): handled and average handle time next to
// the team's, time per state as a bar chart, and the break budget used and remaining.

import { api } from "./api.js";
import { byId, clear, fill, h } from "./dom.js";
import { duration, label, t } from "./strings.js";

const REFRESH_MS = 30000;
const STATE_ORDER = ["ready", "reserved", "busy", "wrap_up", "not_ready"];

export class StatsPanel {
  constructor(desktop) {
    this.desktop = desktop;
    this.element = byId("side-stats");
    this.stats = null;
    desktop.addEventListener("change", (event) => {
      if (["interaction.ended", "interaction.disposition_set", "agent"].includes(event.detail.what)) this.refreshSoon();
    });
    setInterval(() => this.refresh(), REFRESH_MS);
    this.timer = null;
  }

  refreshSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 300);
  }

  async refresh() {
    try {
      this.stats = await api("GET", "/api/me/stats");
    } catch {
      return; // Kept as it was; the next refresh tries again.
    }
    this.render();
  }

  render() {
    const stats = this.stats;
    if (!stats) return;
    const team = stats.team;
    const aht = (seconds) => (seconds === null || seconds === undefined ? "—" : duration(seconds));
    const average = (value) => (value === null || value === undefined ? "—" : value.toFixed(1));
    const states = STATE_ORDER.filter((state) => stats.time_in_state[state]);
    const longest = Math.max(1, ...states.map((state) => stats.time_in_state[state]));
    fill(this.element, 
      h("table", { class: "compare" },
        h("thead", {}, h("tr", {}, h("th", {}), h("th", { scope: "col" }, t("stats.me")), h("th", { scope: "col" }, t("stats.team")))),
        h("tbody", {},
          h("tr", { dataset: { metric: "handled" } },
            h("th", { scope: "row" }, t("stats.handled")),
            h("td", { class: "mine" }, String(stats.handled.total)),
            h("td", {}, team ? average(team.handled_average) : "—")),
          h("tr", { dataset: { metric: "aht" } },
            h("th", { scope: "row" }, t("stats.aht")),
            h("td", { class: "mine" }, aht(stats.handled.aht_seconds)),
            h("td", {}, team ? aht(team.aht_seconds) : "—")),
        ),
      ),
      Object.keys(stats.handled.by_channel).length
        ? h("p", { class: "by-channel" },
            Object.entries(stats.handled.by_channel).map(([channel, count]) => `${label("channel", channel)}: ${count}`).join(" · "))
        : null,
      team ? null : h("p", { class: "empty" }, t("stats.no_team")),
      h("h3", {}, t("stats.time_in_state")),
      h("ul", { class: "bars", role: "list" }, states.map((state) =>
        h("li", { class: `bar state-${state}` },
          h("span", { class: "bar-label" }, label("state", state)),
          h("span", { class: "bar-track", "aria-hidden": "true" },
            h("span", { class: "bar-fill", style: `width: ${(100 * stats.time_in_state[state]) / longest}%` })),
          h("span", { class: "bar-value" }, duration(stats.time_in_state[state]))))),
      this.breaks(stats.breaks),
    );
  }

  breaks(budget) {
    const used = duration(budget.used_seconds);
    if (budget.budget_seconds === null) {
      return h("section", { class: "breaks" }, h("h3", {}, t("stats.breaks")), h("p", {}, t("stats.break_no_budget", { used })));
    }
    const share = Math.min(1, budget.used_seconds / Math.max(1, budget.budget_seconds));
    return h("section", { class: `breaks${budget.is_over ? " is-over" : ""}` },
      h("h3", {}, t("stats.breaks")),
      h("p", {}, t("stats.break_used", { used, budget: duration(budget.budget_seconds) })),
      h("meter", { min: "0", max: "1", low: "0.75", high: "0.9", optimum: "0", value: String(share) }),
      h("p", { class: "remaining" }, budget.is_over
        ? t("stats.break_over", { time: duration(budget.used_seconds - budget.budget_seconds) })
        : t("stats.break_remaining", { time: duration(budget.remaining_seconds) })),
    );
  }
}
