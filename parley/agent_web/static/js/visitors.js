// The live list of the site's visitors (F-CH-5) and manual invitations (F-CH-3).
//
// It reads `/api/chat-visitors` when opened and after every reconnect, then follows the
// `chat.visitor` frames of the agent socket (the server sends them for the widgets of
// the queues this agent serves, and to supervisors): each frame is a visitor's whole row.
// Times on site and on page count up here, against the server's clock. Filters: waiting
// (their chat waits for an agent), answered, browsing (no chat). Selecting a visitor
// shows the pages they visited, the agents' comments on them and the invitation form.

import { api } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { showError, toast } from "./notify.js";
import { duration, formatTime, t } from "./strings.js";

const FILTERS = ["all", "waiting", "answered", "browsing"];
const TICK_MS = 1000;

export class VisitorsPanel {
  constructor(desktop) {
    this.desktop = desktop;
    this.element = byId("side-visitors");
    this.visitors = new Map(); // id -> the row as the server sent it
    this.filter = "all";
    this.selectedId = null;
    this.comments = [];
    // What the agent is typing survives the detail being drawn again on a live change.
    this.drafts = { comment: "", invitation: t("visitors.invite_default") };
    this.listElement = h("ul", { class: "visitor-list", role: "list" });
    this.detailElement = h("section", { class: "visitor-detail", hidden: true });
    this.filterElement = h("div", { class: "visitor-filters", role: "group", "aria-label": t("visitors.filter") },
      FILTERS.map((filter) => h("button", {
        type: "button",
        dataset: { filter },
        "aria-pressed": String(filter === this.filter),
        onclick: () => this.setFilter(filter),
      }, t(`visitors.filter.${filter}`))));
    fill(this.element, this.filterElement, this.listElement, this.detailElement);
    desktop.addEventListener("channel", (event) => {
      if (event.detail.type === "chat.visitor") this.update(event.detail);
    });
    desktop.addEventListener("connection", (event) => {
      if (event.detail.isOnline) this.refresh();
    });
    setInterval(() => this.tick(), TICK_MS);
  }

  async refresh() {
    let rows;
    try {
      rows = await api("GET", "/api/chat-visitors");
    } catch {
      return; // Kept as it was; the next refresh or frame brings it up to date.
    }
    this.visitors = new Map(rows.map((row) => [row.id, row]));
    this.renderList();
  }

  update(frame) {
    const { type, event_id, occurred_at, agent_ids, ...row } = frame;
    this.visitors.set(row.id, row);
    this.renderList();
    // Not while the agent types in it (focus would be lost); the next change draws it.
    if (row.id === this.selectedId && !this.detailElement.contains(document.activeElement)) this.renderDetail();
  }

  setFilter(filter) {
    this.filter = filter;
    for (const button of this.filterElement.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.filter === filter));
    }
    this.renderList();
  }

  shown() {
    return [...this.visitors.values()]
      .filter((row) => this.filter === "all" || row.status === this.filter)
      .sort((a, b) => Number(b.is_online) - Number(a.is_online) || Date.parse(b.page_started_at) - Date.parse(a.page_started_at));
  }

  secondsSince(iso) {
    return (this.desktop.now() - Date.parse(iso)) / 1000;
  }

  // Only the clocks move every second; the rows are drawn again on a change.
  tick() {
    for (const cell of this.element.querySelectorAll("[data-since]")) {
      const row = this.visitors.get(Number(cell.dataset.visitor));
      if (row?.is_online) cell.textContent = this.clock(cell.dataset.clock, cell.dataset.since);
    }
  }

  clock(kind, since) {
    const time = duration(this.secondsSince(since));
    return kind === "site" ? t("visitors.time_on_site", { time }) : t("visitors.time_on_page", { time });
  }

  name(row) {
    return row.name || t("visitors.anonymous", { id: row.id });
  }

  renderList() {
    const rows = this.shown();
    if (!rows.length) {
      fill(this.listElement, h("li", { class: "empty" }, t("visitors.none")));
      return;
    }
    fill(this.listElement, rows.map((row) => this.item(row)));
  }

  item(row) {
    const location = [row.city, row.country].filter(Boolean).join(", ");
    const software = [row.browser, row.os].filter(Boolean).join(" · ");
    return h("li", {
      class: `visitor status-${row.status}${row.is_online ? "" : " has-left"}${row.id === this.selectedId ? " is-selected" : ""}`,
      dataset: { visitorId: String(row.id), status: row.status },
    },
      h("button", { type: "button", class: "visitor-open", onclick: () => this.select(row.id) },
        h("span", { class: "visitor-name" }, this.name(row)),
        h("span", { class: `badge status-${row.status}` }, t(`visitors.status.${row.status}`)),
        row.is_online ? null : h("span", { class: "badge left" }, t("visitors.left")),
        row.last_chat_ended && row.status === "browsing" ? h("span", { class: "badge closed" }, t("visitors.chat_closed")) : null),
      h("p", { class: "visitor-page", title: row.page_url },
        h("span", { class: "page-title" }, row.page_title || row.page_url)),
      h("p", { class: "visitor-facts" },
        h("span", {}, t("visitors.pages", { count: row.page_views })),
        " · ",
        h("span", {}, t("visitors.visits", { count: row.visit_count })),
        " · ",
        h("span", { dataset: { since: row.visit_started_at, clock: "site", visitor: String(row.id) } },
          this.clock("site", row.visit_started_at)),
        " · ",
        h("span", { dataset: { since: row.page_started_at, clock: "page", visitor: String(row.id) } },
          this.clock("page", row.page_started_at))),
      h("dl", { class: "visitor-more" },
        this.fact("visitors.referrer", row.referrer || t("visitors.direct")),
        this.fact("visitors.location", location || "—"),
        this.fact("visitors.software", software || "—"),
        this.fact("visitors.screen", row.screen || "—"),
        this.fact("visitors.language", row.language || "—")),
    );
  }

  fact(key, value) {
    return [h("dt", {}, t(key)), h("dd", {}, value)];
  }

  async select(id) {
    if (id !== this.selectedId) this.drafts = { comment: "", invitation: t("visitors.invite_default") };
    this.selectedId = id;
    this.comments = [];
    this.renderList();
    this.renderDetail();
    try {
      this.comments = await api("GET", `/api/chat-visitors/${id}/comments`);
    } catch (error) {
      showError(error);
      return;
    }
    if (this.selectedId === id) this.renderDetail();
  }

  renderDetail() {
    const row = this.visitors.get(this.selectedId);
    this.detailElement.hidden = !row;
    if (!row) return;
    const commentInput = this.draftInput("comment", 1000, t("visitors.comment"));
    const inviteInput = this.draftInput("invitation", 500, t("visitors.invitation"));
    const canInvite = row.is_online && row.status === "browsing";
    fill(this.detailElement,
      h("h3", {}, this.name(row)),
      h("h4", {}, t("visitors.visited")),
      h("ol", { class: "visitor-pages" }, row.pages.map((page) =>
        h("li", { title: page.url }, `${formatTime(new Date(page.at))} ${page.title || page.url}`))),
      canInvite
        ? h("form", { class: "visitor-invite", onsubmit: (event) => this.invite(event, row.id, inviteInput) },
            inviteInput, h("button", { type: "submit" }, t("visitors.invite")))
        : null,
      h("h4", {}, t("visitors.comments")),
      this.comments.length
        ? h("ul", { class: "visitor-comments", role: "list" }, this.comments.map((comment) =>
            h("li", {}, h("span", { class: "author" }, `${comment.author_name} · ${formatTime(new Date(comment.created_at))}`),
              h("p", {}, comment.text))))
        : h("p", { class: "empty" }, t("visitors.no_comments")),
      h("form", { class: "visitor-comment", onsubmit: (event) => this.comment(event, row.id, commentInput) },
        commentInput, h("button", { type: "submit" }, t("visitors.add_comment"))),
    );
  }

  draftInput(kind, maxLength, name) {
    const input = h("textarea", { rows: "2", maxlength: String(maxLength), required: true, "aria-label": name,
      oninput: () => { this.drafts[kind] = input.value; } });
    input.value = this.drafts[kind];
    return input;
  }

  async comment(event, id, input) {
    event.preventDefault();
    if (!input.value.trim()) return;
    try {
      const added = await api("POST", `/api/chat-visitors/${id}/comments`, { text: input.value });
      if (this.selectedId === id) this.comments = [...this.comments, added];
      this.drafts.comment = "";
    } catch (error) {
      showError(error);
      return;
    }
    this.renderDetail();
  }

  async invite(event, id, input) {
    event.preventDefault();
    if (!input.value.trim()) return;
    try {
      await api("POST", `/api/chat-visitors/${id}/invite`, { text: input.value });
    } catch (error) {
      if (error.code === "invited_too_soon") toast(t("visitors.invited_too_soon"), { kind: "error" });
      else showError(error);
      return;
    }
    toast(t("visitors.invited"));
  }
}
