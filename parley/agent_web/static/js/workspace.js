// The interactions in hand as tabs, and the selected one's panel. Each channel draws its
// own panel body (`registerChannel`); until a channel has one, a generic panel shows the
// interaction's details with an End button. Ended interactions show the wrap-up form.

import { allItems } from "./api.js";
import { byId, clear, h } from "./dom.js";
import { caller } from "./offers.js";
import { showError, toast } from "./notify.js";
import { duration, formatTime, label, t } from "./strings.js";

const channelPanels = new Map();
// Attributes the router reads, not facts about the customer.
const ROUTING_ATTRIBUTES = new Set(["preferred_agent_id"]);

// `render(container, interaction, desktop)` draws the body of a channel's panel.
export function registerChannel(channel, render) {
  channelPanels.set(channel, render);
}

// The End button every panel has: ends the interaction through the engine's route.
export function endButton(interaction, desktop) {
  return h("button", {
    type: "button",
    class: "end",
    onclick: async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      try {
        await desktop.end(interaction.id);
      } catch (error) {
        button.disabled = false;
        showError(error);
      }
    },
  }, t("work.end"));
}

function genericPanel(container, interaction, desktop) {
  const attributes = Object.entries(interaction.attributes ?? {}).filter(
    ([name, value]) => !ROUTING_ATTRIBUTES.has(name) && (typeof value !== "object" || value === null),
  );
  container.append(
    attributes.length
      ? h("section", { class: "details" },
          h("h3", {}, t("work.attributes")),
          h("dl", { class: "facts" }, attributes.map(([name, value]) => [h("dt", {}, name), h("dd", {}, String(value))])),
        )
      : null,
    h("div", { class: "actions" }, endButton(interaction, desktop)),
  );
}

export class Workspace {
  constructor(desktop) {
    this.desktop = desktop;
    this.tabs = byId("tabs");
    this.panels = byId("panels");
    this.dispositions = new Map();
    this.drafts = new Map();
    desktop.addEventListener("change", (event) => {
      if (["work", "selection", "agent"].includes(event.detail.what)) this.render();
    });
    setInterval(() => this.tick(), 1000);
  }

  render() {
    const items = [...this.desktop.work.values()];
    const selected = this.desktop.selected();
    clear(this.tabs);
    items.forEach((item, index) => this.tabs.append(this.tab(item, index, item === selected)));
    byId("tabs-empty").hidden = items.length > 0;
    byId("workspace-empty").hidden = selected !== null;
    this.saveDraft();
    clear(this.panels);
    if (selected) this.panels.append(this.panel(selected));
    this.tick();
  }

  tab(item, index, isSelected) {
    return h("li", { role: "presentation" },
      h("button", {
        type: "button",
        role: "tab",
        id: `tab-${item.id}`,
        class: `tab channel-${item.channel} state-${item.state}`,
        "aria-selected": String(isSelected),
        "aria-controls": `panel-${item.id}`,
        title: index < 9 ? `Alt+${index + 1}` : null,
        onclick: () => this.desktop.select(item.id),
      },
        h("span", { class: "tab-channel" }, label("channel", item.channel)),
        h("span", { class: "tab-who" }, caller(item)),
        h("span", { class: "tab-state" }, label("interaction", item.state)),
        h("time", { class: "tab-timer", dataset: { since: item.ended_at ?? item.answered_at ?? item.created_at } }),
      ),
    );
  }

  panel(item) {
    const body = h("div", { class: "panel-body" });
    const panel = h("article", {
      class: `panel channel-${item.channel}`,
      id: `panel-${item.id}`,
      role: "tabpanel",
      "aria-labelledby": `tab-${item.id}`,
    },
      h("header", {},
        h("h2", {}, `${label("channel", item.channel)} · ${caller(item)}`),
        h("p", { class: "meta" },
          [label("direction", item.direction), item.queue_name ?? t("no_queue"),
            item.answered_at ? t("work.started", { time: formatTime(new Date(item.answered_at)) }) : null]
            .filter(Boolean).join(" · "),
        ),
      ),
      body,
    );
    if (item.state === "wrap_up") body.append(this.wrapUpForm(item));
    else (channelPanels.get(item.channel) ?? genericPanel)(body, item, this.desktop);
    return panel;
  }

  async dispositionsFor(queueId) {
    const key = queueId ?? "global";
    if (!this.dispositions.has(key)) {
      const reading = Promise.all([
        allItems("/api/dispositions?is_active=true&is_global=true&sort=name"),
        queueId ? allItems(`/api/dispositions?is_active=true&queue_id=${queueId}&sort=name`) : [],
      ]).then(([global, own]) => [...own, ...global]);
      this.dispositions.set(key, reading);
      reading.catch(() => this.dispositions.delete(key));
    }
    return this.dispositions.get(key);
  }

  wrapUpForm(item) {
    const draft = this.drafts.get(item.id);
    const select = h("select", { name: "disposition", id: `disposition-${item.id}`, "aria-required": String(item.disposition_required) },
      h("option", { value: "" }, t("wrapup.none")));
    const notes = h("textarea", { name: "notes", id: `notes-${item.id}`, rows: "4", maxlength: "4000" });
    notes.value = draft?.notes ?? item.wrap_up_notes ?? "";
    const message = h("p", { class: "form-error", role: "alert", hidden: true });
    this.dispositionsFor(item.queue_id).then((dispositions) => {
      for (const disposition of dispositions) {
        select.append(h("option", { value: disposition.id, dataset: { requiresNote: disposition.requires_note } }, disposition.name));
      }
      select.value = String(draft?.disposition ?? item.disposition_id ?? "");
    }, showError);
    const form = h("form", { class: "wrapup", dataset: { interactionId: item.id }, onsubmit: (event) => this.finish(event, item, select, notes, message) },
      h("header", {},
        h("h3", {}, t("wrapup.title")),
        h("time", { class: "wrapup-timer", dataset: { endedAt: item.ended_at ?? "" } }),
      ),
      h("label", { for: select.id }, t("wrapup.disposition"), item.disposition_required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null),
      select,
      h("label", { for: notes.id }, t("wrapup.notes")),
      notes,
      message,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "done", title: "Alt+D" }, t("wrapup.done"))),
    );
    return form;
  }

  // Keep what the agent typed in a wrap-up form across redraws of the panel.
  saveDraft() {
    const form = this.panels.querySelector("form.wrapup");
    if (!form) return;
    this.drafts.set(Number(form.dataset.interactionId), {
      disposition: form.elements.disposition.value,
      notes: form.elements.notes.value,
    });
  }

  async finish(event, item, select, notes, message) {
    event.preventDefault();
    const chosen = select.selectedOptions[0];
    const fail = (text) => {
      message.textContent = text;
      message.hidden = false;
    };
    if (item.disposition_required && !select.value) return fail(t("wrapup.disposition_required"));
    if (chosen?.dataset.requiresNote === "true" && !notes.value.trim()) return fail(t("wrapup.note_required"));
    message.hidden = true;
    const button = event.submitter ?? event.target.querySelector("button.done");
    button.disabled = true;
    try {
      await this.desktop.setDisposition(item.id, select.value ? Number(select.value) : null, notes.value);
      this.drafts.delete(item.id);
      if (this.desktop.agent.state === "wrap_up") await this.desktop.wrapUpDone();
      else toast(t("wrapup.saved"));
    } catch (error) {
      button.disabled = false;
      fail(error.code === "disposition_required" ? t("wrapup.disposition_required") : error.message);
    }
  }

  // The agent's shortcut for Done: submit the wrap-up form in view, else the first one.
  submitWrapUp() {
    const selected = this.desktop.selected();
    if (selected?.state !== "wrap_up") {
      const first = [...this.desktop.work.values()].find((item) => item.state === "wrap_up");
      if (!first) return;
      this.desktop.select(first.id);
    }
    this.panels.querySelector("form.wrapup")?.requestSubmit();
  }

  tick() {
    const now = this.desktop.now();
    for (const timer of this.tabs.querySelectorAll(".tab-timer")) {
      timer.textContent = duration((now - Date.parse(timer.dataset.since)) / 1000);
    }
    const wrapTimer = this.panels.querySelector(".wrapup-timer");
    if (wrapTimer) {
      const until = this.desktop.agent.wrap_up_until;
      wrapTimer.textContent = until && this.desktop.agent.state === "wrap_up"
        ? t("wrapup.left", { time: duration((Date.parse(until) - now) / 1000) })
        : t("wrapup.elapsed", { time: duration((now - Date.parse(wrapTimer.dataset.endedAt || now)) / 1000) });
    }
  }
}
