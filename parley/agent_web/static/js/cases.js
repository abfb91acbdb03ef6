// Cases in the desktop (F-CS-1): a side panel with the cases the agent may see, filtered
// (status, priority, queue, assignee, tag, SLA), and a case opened from it with its
// timeline of every interaction on every channel, notes, its fields to change, and a
// merge into another case. REST: /api/cases (parley/platform/cases/api.py).
//
// Everything a customer or colleague wrote is put in as text (dom.js `h`); an email's
// HTML is never shown here, its text is (the email panel shows the HTML, sandboxed).

import { api } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { showError, toast } from "./notify.js";
import { config, formatDateTime, label, t } from "./strings.js";
import { callAudio } from "./voice.js";

const STATUSES = ["new", "open", "pending", "resolved", "closed"];
const PRIORITIES = ["low", "normal", "high", "urgent"];
const SLA_SOON_MS = 60 * 60 * 1000; // amber: due within the hour
const REFRESH_MS = 30000;
const SNIPPET = 600;

// red: past due; amber: due soon; green: in time; none: no due time or done.
export function slaColour(item, now = Date.now()) {
  if (!item.sla_due_at || item.status === "resolved" || item.status === "closed") return "none";
  if (item.sla_breached) return "red";
  return Date.parse(item.sla_due_at) - now < SLA_SOON_MS ? "amber" : "green";
}

function options(values, prefix, anyLabel) {
  return [
    anyLabel === null ? null : h("option", { value: "" }, anyLabel),
    values.map((value) => h("option", { value }, label(prefix, value))),
  ];
}

function shortened(text) {
  const flat = text.trim();
  return flat.length > SNIPPET ? `${flat.slice(0, SNIPPET)}…` : flat;
}

export class CasesPanel {
  constructor(desktop) {
    this.desktop = desktop;
    this.element = byId("side-cases");
    this.colleagues = [];
    this.queues = [];
    this.openId = null;

    const select = (name, children) => h("select", { name, id: `cases-${name}` }, children);
    this.filters = h("form", {
      class: "case-filters",
      "aria-label": t("cases.filters"),
      onsubmit: (event) => { event.preventDefault(); this.refresh(); },
      onchange: () => this.refresh(),
    },
      h("label", { for: "cases-q" }, t("cases.search")),
      h("input", { type: "search", name: "q", id: "cases-q", maxlength: "200" }),
      h("label", { for: "cases-status" }, t("cases.status")),
      select("status", options(STATUSES, "case", t("cases.any"))),
      h("label", { for: "cases-priority" }, t("cases.priority")),
      select("priority", options(PRIORITIES, "priority", t("cases.any"))),
      h("label", { for: "cases-queue" }, t("cases.queue")),
      select("queue", h("option", { value: "" }, t("cases.any"))),
      h("label", { for: "cases-assignee" }, t("cases.assignee")),
      select("assignee", [
        h("option", { value: "" }, t("cases.anyone")),
        h("option", { value: "me" }, t("cases.me")),
        h("option", { value: "none" }, t("cases.unassigned")),
      ]),
      h("label", { for: "cases-tag" }, t("cases.tag")),
      h("input", { name: "tag", id: "cases-tag", maxlength: "50" }),
      h("label", { for: "cases-sla" }, t("cases.sla")),
      select("sla", [
        h("option", { value: "" }, t("cases.any")),
        h("option", { value: "red" }, t("cases.sla_red")),
        h("option", { value: "amber" }, t("cases.sla_amber")),
        h("option", { value: "green" }, t("cases.sla_green")),
      ]),
    );
    this.list = h("ul", { class: "case-list", "aria-label": t("cases.list") });
    this.listView = h("div", { class: "cases-list-view" }, this.filters, this.list);
    this.detail = h("div", { class: "case-detail", hidden: true });
    this.element.append(this.listView, this.detail);

    api("GET", "/api/case-queues").then((queues) => {
      this.queues = queues;
      this.filters.elements.queue.append(...queues.map((q) => h("option", { value: String(q.id) }, q.name)));
    }, showError);
    api("GET", "/api/directory").then((people) => {
      this.colleagues = people.filter((p) => p.role !== "admin");
      const assignee = this.filters.elements.assignee;
      assignee.append(...this.colleagues.filter((p) => !p.is_me).map((p) => h("option", { value: String(p.id) }, p.display_name)));
    }, showError);
    setInterval(() => { if (!this.element.hidden && this.openId === null) this.refresh(); }, REFRESH_MS);
  }

  query() {
    const fields = this.filters.elements;
    const query = new URLSearchParams({ sort: "-updated_at", limit: "100" });
    if (fields.q.value.trim()) query.set("q", fields.q.value.trim());
    if (fields.status.value) query.set("status", fields.status.value);
    if (fields.priority.value) query.set("priority", fields.priority.value);
    if (fields.queue.value) query.set("queue_id", fields.queue.value);
    if (fields.assignee.value === "me") query.set("assignee_id", String(config.me?.id ?? ""));
    else if (fields.assignee.value === "none") query.set("unassigned", "true");
    else if (fields.assignee.value) query.set("assignee_id", fields.assignee.value);
    if (fields.tag.value.trim()) query.set("tag", fields.tag.value.trim());
    if (fields.sla.value === "red") query.set("sla_breached", "true");
    else if (fields.sla.value) query.set("sla_breached", "false");
    return query;
  }

  async refresh() {
    if (this.openId !== null) return;
    let page;
    try {
      page = await api("GET", `/api/cases?${this.query()}`);
    } catch (error) {
      showError(error);
      return;
    }
    // Amber and green are both "not breached" to the server: told apart here.
    const colour = this.filters.elements.sla.value;
    const items = colour ? page.items.filter((item) => slaColour(item) === colour) : page.items;
    fill(this.list, items.length
      ? items.map((item) => this.row(item))
      : h("li", { class: "empty" }, t("cases.none")));
  }

  row(item) {
    const colour = slaColour(item);
    return h("li", { class: "case-row", dataset: { caseId: item.id } },
      h("button", { type: "button", class: "case-open", onclick: () => this.open(item.id) },
        h("span", { class: `sla-dot sla-${colour}`, title: colour === "none" ? "" : t(`cases.sla_${colour}`) }),
        h("span", { class: "case-number" }, t("info.case_number", { id: item.id })),
        " ",
        h("span", { class: "case-subject" }, item.subject),
      ),
      h("p", { class: "case-meta" },
        [label("case", item.status), label("priority", item.priority), item.queue_name, item.assignee_name ?? t("cases.unassigned")]
          .filter(Boolean).join(" · "),
        item.tags.length ? h("span", { class: "case-tags" }, " ", item.tags.map((tag) => h("span", { class: "tag" }, tag))) : null,
      ),
    );
  }

  // --- one case ---------------------------------------------------------------------

  async open(caseId) {
    this.openId = caseId;
    let item;
    try {
      item = await api("GET", `/api/cases/${caseId}`);
    } catch (error) {
      this.openId = null;
      showError(error);
      return;
    }
    this.listView.hidden = true;
    this.detail.hidden = false;
    fill(this.detail,
      h("button", { type: "button", class: "link case-back", onclick: () => this.back() }, t("cases.back")),
      h("h3", { class: "case-title" }, t("info.case_number", { id: item.id }), " ", item.subject),
      item.merged_into_id
        ? h("p", { class: "case-merged" }, t("cases.merged_into", { id: item.merged_into_id }))
        : null,
      this.editor(item),
      this.noteForm(item),
      h("h4", {}, t("cases.timeline")),
      h("ol", { class: "case-timeline", "aria-label": t("cases.timeline") },
        item.timeline.length ? item.timeline.map((entry) => this.entry(entry)) : h("li", { class: "empty" }, t("cases.timeline_empty"))),
      this.mergeForm(item),
    );
  }

  back() {
    this.openId = null;
    this.detail.hidden = true;
    this.listView.hidden = false;
    this.refresh();
  }

  editor(item) {
    const id = (name) => `case-${name}-${item.id}`;
    const select = (name, children, value) => {
      const element = h("select", { name, id: id(name) }, children);
      element.value = value;
      return element;
    };
    const assignee = select("assignee", [
      h("option", { value: "" }, t("cases.unassigned")),
      this.colleagues.map((p) => h("option", { value: String(p.id) }, p.display_name)),
    ], item.assignee_id ? String(item.assignee_id) : "");
    if (item.assignee_id && assignee.value !== String(item.assignee_id)) {
      assignee.append(h("option", { value: String(item.assignee_id) }, item.assignee_name ?? String(item.assignee_id)));
      assignee.value = String(item.assignee_id);
    }
    const fieldsText = Object.entries(item.custom_fields)
      .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
      .join("\n");
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const row = (name, text, control) => [h("label", { for: id(name) }, text), control];
    const form = h("form", {
      class: "case-edit",
      "aria-label": t("cases.edit"),
      onsubmit: (event) => { event.preventDefault(); this.save(item, form, error); },
    },
      row("status", t("cases.status"), select("status", options(STATUSES, "case", null), item.status)),
      row("priority", t("cases.priority"), select("priority", options(PRIORITIES, "priority", null), item.priority)),
      row("assignee", t("cases.assignee"), assignee),
      row("tags", t("cases.tags"), h("input", { name: "tags", id: id("tags"), value: item.tags.join(", "), placeholder: t("cases.tags_hint") })),
      row("category", t("cases.category"), h("input", { name: "category", id: id("category"), value: item.category, maxlength: "100" })),
      row("fields", t("cases.custom_fields"), h("textarea", { name: "fields", id: id("fields"), rows: "3", placeholder: t("cases.custom_fields_hint") }, fieldsText)),
      h("p", { class: "case-facts" },
        item.sla_due_at ? h("span", { class: `sla-dot sla-${slaColour(item)}` }) : null,
        item.sla_due_at ? t("cases.sla_due", { time: formatDateTime(new Date(item.sla_due_at)) }) : t("cases.no_sla"),
        item.queue_name ? ` · ${item.queue_name}` : "",
        item.contact_name ? ` · ${item.contact_name}` : "",
      ),
      error,
      h("button", { type: "submit", class: "case-save" }, t("cases.save")),
    );
    return form;
  }

  // `key=value` lines as custom fields; a field no longer there is removed (null).
  static customFields(text, before) {
    const fields = {};
    for (const line of text.split("\n")) {
      const at = line.indexOf("=");
      if (at < 1) {
        if (line.trim()) throw new Error(t("cases.custom_fields_bad", { line: line.trim() }));
        continue;
      }
      fields[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    for (const key of Object.keys(before)) if (!(key in fields)) fields[key] = null;
    return fields;
  }

  async save(item, form, error) {
    error.hidden = true;
    const fields = form.elements;
    try {
      const body = {
        status: fields.status.value,
        priority: fields.priority.value,
        assignee_id: fields.assignee.value ? Number(fields.assignee.value) : null,
        tags: fields.tags.value.split(",").map((tag) => tag.trim()).filter(Boolean),
        category: fields.category.value.trim(),
        custom_fields: CasesPanel.customFields(fields.fields.value, item.custom_fields),
      };
      await api("PATCH", `/api/cases/${item.id}`, body);
      toast(t("cases.saved"));
      await this.open(item.id);
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  }

  noteForm(item) {
    const text = h("textarea", { name: "note", id: `case-note-${item.id}`, rows: "3", maxlength: "20000", required: true });
    return h("form", {
      class: "case-note",
      onsubmit: async (event) => {
        event.preventDefault();
        if (!text.value.trim()) return;
        try {
          await api("POST", `/api/cases/${item.id}/notes`, { body: text.value });
          toast(t("cases.note_added"));
          await this.open(item.id);
        } catch (error) {
          showError(error);
        }
      },
    },
      h("label", { for: text.id }, t("cases.note")),
      text,
      h("button", { type: "submit", class: "case-add-note" }, t("cases.add_note")),
    );
  }

  mergeForm(item) {
    if (item.merged_into_id) return null;
    const target = h("input", { type: "number", min: "1", name: "into", id: `case-merge-${item.id}`, required: true });
    return h("form", {
      class: "case-merge",
      onsubmit: async (event) => {
        event.preventDefault();
        const into = Number(target.value);
        if (!into || !window.confirm(t("cases.merge_confirm", { id: item.id, into }))) return;
        try {
          const merged = await api("POST", `/api/cases/${item.id}/merge`, { into_case_id: into });
          toast(t("cases.merged", { id: merged.id }));
          await this.open(merged.id);
        } catch (error) {
          showError(error);
        }
      },
    },
      h("label", { for: target.id }, t("cases.merge_into")),
      target,
      h("button", { type: "submit", class: "case-merge-button" }, t("cases.merge")),
    );
  }

  entry(entry) {
    const when = formatDateTime(new Date(entry.at));
    if (entry.kind === "message") return this.message(entry.message, "case-entry");
    const item = entry.interaction;
    const facts = [
      label("channel", item.channel),
      label("direction", item.direction),
      label("interaction", item.state),
      item.queue_name,
      item.agent_name,
    ].filter(Boolean).join(" · ");
    return h("li", { class: `case-entry is-interaction channel-${item.channel}`, dataset: { interactionId: item.id } },
      h("p", { class: "case-entry-head" }, h("time", {}, when), " ", facts),
      item.disposition_name
        ? h("p", { class: "case-disposition" }, t("cases.disposition", { name: item.disposition_name }))
        : null,
      item.wrap_up_notes ? h("p", { class: "case-wrap-up" }, t("cases.wrap_up_notes", { notes: item.wrap_up_notes })) : null,
      callAudio(item),
      item.messages.length
        ? h("ol", { class: "case-messages" }, item.messages.map((message) => this.message(message, "case-message")))
        : null,
    );
  }

  message(message, className) {
    const who = message.author_name
      ?? (message.headers?.from?.address ? message.headers.from.address : label("direction", message.direction));
    const kind = message.kind === "note" ? t("cases.note_kind") : label("channel", message.kind);
    return h("li", { class: `${className} kind-${message.kind}`, dataset: { messageId: message.id } },
      h("p", { class: "case-entry-head" }, h("time", {}, formatDateTime(new Date(message.created_at))), " ", kind, " · ", who),
      message.subject ? h("p", { class: "case-message-subject" }, message.subject) : null,
      h("p", { class: "case-message-text" }, shortened(message.body_text)),
    );
  }
}
