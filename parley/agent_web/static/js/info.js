// The info area of the selected interaction: the contact card with the contact's history
// on every channel, the case, the queue and the IVR path the caller took.

import { api } from "./api.js";
import { byId, clear, fill, h } from "./dom.js";
import { caseSummary, ivrPath } from "./offers.js";
import { formatDateTime, label, t } from "./strings.js";
import { callAudio } from "./voice.js";

export class InfoPanel {
  constructor(desktop) {
    this.desktop = desktop;
    this.element = byId("side-info");
    this.shownFor = undefined;
    this.reading = 0;
    desktop.addEventListener("change", (event) => {
      if (["work", "selection"].includes(event.detail.what)) this.render();
      if (event.detail.what === "interaction.ended") this.render({ force: true });
    });
    this.render();
  }

  async render({ force = false } = {}) {
    const item = this.desktop.selected();
    const key = item ? `${item.id}:${item.contact_id}` : null;
    if (key === this.shownFor && !force) return;
    this.shownFor = key;
    const reading = ++this.reading;
    if (!item) {
      fill(this.element, h("p", { class: "empty" }, t("info.nothing")));
      return;
    }
    const [contact, history] = item.contact_id
      ? await Promise.all([
          api("GET", `/api/contacts/${item.contact_id}`).catch(() => null),
          api("GET", `/api/contacts/${item.contact_id}/interactions?limit=20`).catch(() => []),
        ])
      : [null, []];
    if (reading !== this.reading) return;
    fill(this.element, 
      this.contactCard(contact),
      h("section", { class: "info-facts" },
        h("dl", { class: "facts" },
          h("dt", {}, t("info.queue")), h("dd", {}, item.queue_name ?? t("no_queue")),
          item.case_id ? [h("dt", {}, t("info.case")), h("dd", {}, caseSummary(item))] : null,
          ivrPath(item) ? [h("dt", {}, t("info.ivr")), h("dd", {}, ivrPath(item))] : null,
        ),
      ),
      this.history(history.filter((entry) => entry.id !== item.id), Boolean(contact)),
    );
  }

  contactCard(contact) {
    if (!contact) {
      return h("section", { class: "contact-card" }, h("h3", {}, t("info.contact")), h("p", { class: "empty" }, t("info.no_contact")));
    }
    const of = (kind) => contact.identities.filter((identity) => identity.kind === kind).map((identity) => identity.value);
    const phones = of("phone");
    const emails = of("email");
    return h("section", { class: "contact-card", "aria-label": t("info.contact") },
      h("h3", {}, contact.name || phones[0] || emails[0] || t("unknown_caller")),
      h("dl", { class: "facts" },
        contact.company ? [h("dt", {}, t("info.company")), h("dd", {}, contact.company)] : null,
        phones.length ? [h("dt", {}, t("info.phones")), h("dd", {}, phones.map((phone) =>
          // voice.js calls the number (click to call); the contact's id goes with it.
          h("button", {
            type: "button",
            class: "link dial-number",
            "data-number": phone,
            "data-contact-id": String(contact.id),
            title: t("call.dial_number", { number: phone }),
          }, phone)))] : null,
        emails.length ? [h("dt", {}, t("info.emails")), h("dd", {}, emails.join(", "))] : null,
      ),
      contact.notes ? h("p", { class: "contact-notes" }, contact.notes) : null,
    );
  }

  history(entries, hasContact) {
    if (!hasContact) return null;
    return h("section", { class: "history" },
      h("h3", {}, t("info.history")),
      entries.length
        ? h("ol", { class: "timeline" }, entries.map((entry) =>
            h("li", { class: `channel-${entry.channel}` },
              h("time", { datetime: entry.created_at }, formatDateTime(new Date(entry.created_at))),
              " ",
              h("strong", {}, label("channel", entry.channel)),
              ` · ${entry.queue_name ?? t("no_queue")}`,
              entry.agent_name ? ` · ${entry.agent_name}` : "",
              entry.disposition_name ? h("span", { class: "badge" }, entry.disposition_name) : null,
              entry.wrap_up_notes ? h("p", { class: "note" }, entry.wrap_up_notes) : null,
              entry.csat_rating
                ? h("p", { class: "csat" }, t("chat.csat", { rating: entry.csat_rating }),
                    entry.csat_comment ? ` · ${entry.csat_comment}` : "")
                : null,
              callAudio(entry),
            )))
        : h("p", { class: "empty" }, t("info.no_history")),
    );
  }
}
