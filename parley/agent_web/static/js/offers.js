// Offers ringing for the agent (F-VO-2): a card per offer with the screen pop (who, on
// which channel, from which queue), a countdown to its expiry, Accept and Reject; the
// ring tone plays and the browser notifies while any offer rings.

import { byId, clear, h } from "./dom.js";
import { notify, Ringer, showError } from "./notify.js";
import { label, t } from "./strings.js";

// Who is calling or writing, from the fields channels put in an interaction's attributes.
export function caller(interaction) {
  const a = interaction.attributes ?? {};
  return a.name || a.from_name || a.from || a.caller_number || a.email || a.phone || t("unknown_caller");
}

export class Offers {
  constructor(desktop) {
    this.desktop = desktop;
    this.element = byId("offers");
    this.ringer = new Ringer();
    this.notifications = new Map();
    this.busy = new Set();
    desktop.addEventListener("change", (event) => {
      if (event.detail.what === "offers") this.render();
    });
    setInterval(() => this.tick(), 250);
  }

  // The offer the shortcuts act on: the one that rang first.
  first() {
    return [...this.desktop.offers.values()].sort((a, b) => Date.parse(a.expires_at) - Date.parse(b.expires_at))[0] ?? null;
  }

  render() {
    const offers = [...this.desktop.offers.values()];
    clear(this.element);
    for (const offer of offers) this.element.append(this.card(offer));
    if (offers.length > 0) this.ringer.start();
    else this.ringer.stop();
    for (const [offerId, notification] of this.notifications) {
      if (!this.desktop.offers.has(offerId)) {
        notification?.close();
        this.notifications.delete(offerId);
      }
    }
    for (const offer of offers) {
      if (!this.notifications.has(offer.offer_id)) {
        const interaction = offer.interaction;
        this.notifications.set(
          offer.offer_id,
          notify(
            t("offer.title", { channel: label("channel", interaction.channel) }),
            t("offer.notification", {
              channel: label("channel", interaction.channel),
              from: caller(interaction),
              queue: interaction.queue_name ?? t("no_queue"),
            }),
            `offer-${offer.offer_id}`,
          ),
        );
      }
    }
    this.tick();
  }

  card(offer) {
    const interaction = offer.interaction;
    const channel = label("channel", interaction.channel);
    return h(
      "article",
      {
        class: `offer channel-${interaction.channel}`,
        role: "alertdialog",
        "aria-labelledby": `offer-title-${offer.offer_id}`,
        dataset: { offerId: offer.offer_id, expiresAt: offer.expires_at },
      },
      h("header", {},
        h("h2", { id: `offer-title-${offer.offer_id}` }, t("offer.title", { channel })),
        h("span", { class: "countdown", "aria-live": "off" }),
      ),
      h("p", { class: "offer-from" }, caller(interaction)),
      h("dl", { class: "facts" },
        h("dt", {}, t("info.queue")), h("dd", {}, interaction.queue_name ?? t("no_queue")),
        interaction.case_id ? [h("dt", {}, t("info.case")), h("dd", {}, caseSummary(interaction))] : null,
        ivrPath(interaction) ? [h("dt", {}, t("info.ivr")), h("dd", {}, ivrPath(interaction))] : null,
      ),
      h("progress", { max: "1", value: "1", "aria-hidden": "true" }),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "accept", title: "Alt+A", onclick: () => this.accept(offer.offer_id) }, t("offer.accept")),
        h("button", { type: "button", class: "reject", title: "Alt+X", onclick: () => this.reject(offer.offer_id) }, t("offer.reject")),
      ),
    );
  }

  tick() {
    for (const card of this.element.querySelectorAll(".offer")) {
      const offer = this.desktop.offers.get(card.dataset.offerId);
      if (!offer) continue;
      const left = Math.max(0, (Date.parse(offer.expires_at) - this.desktop.now()) / 1000);
      card.querySelector(".countdown").textContent = t("offer.countdown", { seconds: Math.ceil(left) });
      const progress = card.querySelector("progress");
      const total = offer.total ?? (offer.total = Math.max(left, 1));
      progress.value = left / total;
    }
  }

  async accept(offerId) {
    if (this.busy.has(offerId)) return;
    this.busy.add(offerId);
    try {
      await this.desktop.accept(offerId);
    } catch (error) {
      if (error.code === "not_found") {
        this.desktop.offers.delete(offerId);
        this.render();
        showError({ message: t("offer.gone") });
      } else showError(error);
    } finally {
      this.busy.delete(offerId);
    }
  }

  async reject(offerId) {
    if (this.busy.has(offerId)) return;
    this.busy.add(offerId);
    try {
      await this.desktop.reject(offerId);
    } catch (error) {
      if (error.code !== "not_found") showError(error);
      this.desktop.offers.delete(offerId);
      this.render();
    } finally {
      this.busy.delete(offerId);
    }
  }
}

// "Case #12 · Wrong bill (Open)", from what the work item knows of its case.
export function caseSummary(interaction) {
  const parts = [t("info.case_number", { id: interaction.case_id })];
  if (interaction.case_subject) parts.push(interaction.case_subject);
  const summary = parts.join(" · ");
  return interaction.case_status ? `${summary} (${label("case", interaction.case_status)})` : summary;
}

// The IVR choices a call went through ("1 Billing › 2 Refunds"), if a channel put them.
export function ivrPath(interaction) {
  const path = interaction.attributes?.ivr_path;
  return Array.isArray(path) && path.length ? path.join(" › ") : "";
}
