// The agent's follow-ups (F-CS-5): a list by day, a form to plan one (linked to the
// interaction in view if the agent wants), and reminders when each one's time comes —
// a toast, the browser's notification, and a short ring.

import { api } from "./api.js";
import { byId, clear, h } from "./dom.js";
import { notify, showError, toast } from "./notify.js";
import { formatDay, formatTime, t } from "./strings.js";

const REFRESH_MS = 60000;
const DAY_MS = 24 * 3600 * 1000;

export class CalendarPanel {
  constructor(desktop, ringer) {
    this.desktop = desktop;
    this.ringer = ringer;
    this.element = byId("side-calendar");
    this.items = [];
    this.reminders = new Map();
    this.reminded = new Set();
    this.form = this.buildForm();
    this.list = h("div", { class: "follow-ups" });
    this.element.append(this.form, this.list);
    setInterval(() => this.refresh(), REFRESH_MS);
  }

  buildForm() {
    const inAnHour = new Date(Date.now() + 3600 * 1000);
    inAnHour.setSeconds(0, 0);
    const local = new Date(inAnHour.getTime() - inAnHour.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    const form = h("form", { class: "follow-up-form", onsubmit: (event) => this.add(event) },
      h("label", {}, t("calendar.title"), h("input", { name: "title", required: true, maxlength: "200" })),
      h("label", {}, t("calendar.due"), h("input", { name: "due", type: "datetime-local", required: true, value: local })),
      h("label", {}, t("calendar.remind"), h("input", { name: "remind", type: "number", min: "0", max: "10080", value: "10" })),
      h("label", {}, t("calendar.notes"), h("textarea", { name: "notes", rows: "2", maxlength: "4000" })),
      h("label", { class: "check" }, h("input", { name: "link", type: "checkbox" }), t("calendar.link_current")),
      h("button", { type: "submit" }, t("calendar.add")),
    );
    return form;
  }

  async refresh() {
    try {
      // A week back, so overdue follow-ups stay in sight, and two months ahead.
      const start = new Date(Date.now() - 7 * DAY_MS).toISOString();
      const end = new Date(Date.now() + 60 * DAY_MS).toISOString();
      const query = new URLSearchParams({ start, end, limit: "200" });
      this.items = (await api("GET", `/api/me/follow-ups?${query}`)).items;
    } catch {
      return;
    }
    this.render();
    this.schedule();
  }

  async add(event) {
    event.preventDefault();
    const fields = this.form.elements;
    const selected = this.desktop.selected();
    const body = {
      title: fields.title.value.trim(),
      due_at: new Date(fields.due.value).toISOString(),
      remind_minutes_before: Number(fields.remind.value || 0),
      notes: fields.notes.value,
    };
    if (fields.link.checked && selected) {
      body.interaction_id = selected.id;
      if (selected.contact_id) body.contact_id = selected.contact_id;
      if (selected.case_id) body.case_id = selected.case_id;
    }
    try {
      await api("POST", "/api/me/follow-ups", body);
      fields.title.value = "";
      fields.notes.value = "";
      await this.refresh();
    } catch (error) {
      showError(error);
    }
  }

  render() {
    clear(this.list);
    const open = this.items.filter((item) => !item.done_at);
    if (!open.length) {
      this.list.append(h("p", { class: "empty" }, t("calendar.empty")));
      return;
    }
    const now = Date.now();
    let day = null;
    let group = null;
    for (const item of open) {
      const due = new Date(item.due_at);
      const dayName = formatDay(due);
      if (dayName !== day) {
        day = dayName;
        group = h("ul", { class: "day" });
        this.list.append(h("h3", {}, new Date().toDateString() === due.toDateString() ? t("calendar.today") : dayName), group);
      }
      group.append(
        h("li", { class: `follow-up${due.getTime() < now ? " is-overdue" : ""}`, dataset: { followUpId: item.id } },
          h("time", { datetime: item.due_at }, formatTime(due)),
          h("span", { class: "follow-up-title" }, item.title),
          due.getTime() < now ? h("span", { class: "badge" }, t("calendar.overdue")) : null,
          item.notes ? h("p", { class: "note" }, item.notes) : null,
          h("span", { class: "row-actions" },
            h("button", { type: "button", class: "link", onclick: () => this.act("POST", `/api/me/follow-ups/${item.id}/done`) }, t("calendar.done")),
            h("button", { type: "button", class: "link", onclick: () => this.act("DELETE", `/api/me/follow-ups/${item.id}`) }, t("calendar.delete")),
          ),
        ),
      );
    }
  }

  async act(method, path) {
    try {
      await api(method, path);
      await this.refresh();
    } catch (error) {
      showError(error);
    }
  }

  // One timer per open follow-up whose reminder falls within the next day; each fires once.
  schedule() {
    for (const timer of this.reminders.values()) clearTimeout(timer);
    this.reminders.clear();
    const now = Date.now();
    for (const item of this.items) {
      if (item.done_at || this.reminded.has(item.id)) continue;
      const at = Date.parse(item.remind_at);
      if (at - now > DAY_MS || Date.parse(item.due_at) < now - DAY_MS) continue;
      this.reminders.set(item.id, setTimeout(() => this.remind(item), Math.max(0, at - now)));
    }
  }

  remind(item) {
    this.reminded.add(item.id);
    const message = t("calendar.reminder", { title: item.title, time: formatTime(new Date(item.due_at)) });
    toast(message, { kind: "reminder", seconds: 30 });
    notify("Parley", message, `follow-up-${item.id}`);
    this.ringer.burst(0);
  }
}
