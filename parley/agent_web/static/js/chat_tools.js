// The chat panel's tools (F-CH-6): transfer to an agent or a queue, invite an agent (a
// conference), take over (supervisors), ban the visitor, open a case, mail the
// transcript; for an invited guest, leave. REST: /api/chats/{id}/... (tools_api.py).
//
// One form at a time opens under the buttons; the desktop hears of what changed from
// the socket (the transferred chat leaves the work list, a guest's chat joins it).

import { api } from "./api.js";
import { clear, fill, h } from "./dom.js";
import { showError, toast } from "./notify.js";
import { config, t } from "./strings.js";

const SUPERVISOR_ROLES = new Set(["supervisor", "admin"]);
const BAN_MINUTES = [15, 60, 24 * 60, 7 * 24 * 60];

export function isGuestOf(interaction) {
  return (interaction.attributes?.chat_participants ?? []).includes(config.me.id);
}

export class ChatToolbar {
  constructor(view) {
    this.view = view;
    this.id = view.id;
    this.interaction = null;
    this.open = null; // the name of the form shown, or null
    this.buttons = h("div", { class: "chat-tool-buttons", role: "toolbar", "aria-label": t("chat.tools") });
    this.form = h("div", { class: "chat-tool-form", hidden: true });
    this.element = h("div", { class: "chat-toolbar" }, this.buttons, this.form);
  }

  // Redrawn with the work item each time the panel is mounted (guest or holder).
  update(interaction) {
    this.interaction = interaction;
    const isGuest = isGuestOf(interaction);
    const isSupervisor = SUPERVISOR_ROLES.has(config.me.role);
    const button = (name, text, onclick) =>
      h("button", { type: "button", class: `chat-tool tool-${name}`, "aria-expanded": String(this.open === name), onclick }, text);
    const toggle = (name, draw) => button(name, t(`chat.tool_${name}`), () => this.toggle(name, draw));
    fill(this.buttons,
      isGuest ? null : toggle("transfer", () => this.transferForm()),
      isGuest && isSupervisor ? button("take_over", t("chat.tool_take_over"), () => this.takeOver()) : null,
      toggle("ban", () => this.banForm()),
      toggle("case", () => this.caseForm()),
      toggle("transcript", () => this.transcriptForm()),
      isGuest ? button("leave", t("chat.tool_leave"), () => this.leave()) : null,
    );
  }

  toggle(name, draw) {
    this.open = this.open === name ? null : name;
    this.form.hidden = this.open === null;
    clear(this.form);
    if (this.open) draw();
    if (this.interaction) this.update(this.interaction);
  }

  close() {
    this.open = null;
    this.form.hidden = true;
    clear(this.form);
    if (this.interaction) this.update(this.interaction);
  }

  // A form with a title, its fields, a submit button and Cancel; `submit` gets the form.
  drawForm(name, title, fields, submitText, submit) {
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const send = h("button", { type: "submit" }, submitText);
    const form = h("form", {
      class: `chat-tool-${name}`,
      "aria-label": title,
      onsubmit: async (event) => {
        event.preventDefault();
        send.disabled = true;
        error.hidden = true;
        try {
          await submit(form);
          this.close();
        } catch (failure) {
          error.textContent = t("error.generic", { message: failure.message });
          error.hidden = false;
        } finally {
          send.disabled = false;
        }
      },
    },
      h("h4", {}, title),
      fields,
      error,
      h("div", { class: "actions" }, send,
        h("button", { type: "button", class: "secondary", onclick: () => this.close() }, t("chat.tool_cancel"))),
    );
    fill(this.form, form);
    form.querySelector("select, input, textarea")?.focus();
    return form;
  }

  async transferForm() {
    const select = h("select", { name: "target", id: `chat-target-${this.id}`, required: true },
      h("option", { value: "" }, t("chat.loading")));
    const invite = h("button", { type: "button", class: "invite", disabled: true }, t("chat.tool_invite"));
    const form = this.drawForm("transfer", t("chat.transfer_title"),
      [h("label", { for: select.id }, t("chat.transfer_to")), select],
      t("chat.tool_transfer"),
      async () => {
        const [kind, id] = select.value.split(":");
        const body = kind === "agent" ? { agent_id: Number(id) } : { queue_id: Number(id) };
        await api("POST", `/api/chats/${this.id}/transfer`, body);
        toast(t("chat.transferred"));
      });
    form.querySelector(".actions").prepend(invite);
    select.addEventListener("change", () => { invite.disabled = !select.value.startsWith("agent:"); });
    invite.addEventListener("click", async () => {
      invite.disabled = true;
      try {
        await api("POST", `/api/chats/${this.id}/invite`, { agent_id: Number(select.value.split(":")[1]) });
        toast(t("chat.invited"));
        this.close();
      } catch (error) {
        invite.disabled = false;
        showError(error);
      }
    });
    let targets;
    try {
      targets = await api("GET", "/api/chats/transfer-targets");
    } catch (error) {
      showError(error);
      return;
    }
    const agents = targets.agents.filter((agent) => agent.id !== config.me.id);
    fill(select,
      h("option", { value: "" }, t("chat.transfer_choose")),
      agents.length
        ? h("optgroup", { label: t("chat.transfer_agents") }, agents.map((agent) =>
            h("option", { value: `agent:${agent.id}` }, t("chat.transfer_agent", { name: agent.name, free: agent.free_chats }))))
        : null,
      targets.queues.length
        ? h("optgroup", { label: t("chat.transfer_queues") }, targets.queues.map((queue) =>
            h("option", { value: `queue:${queue.id}` }, queue.name)))
        : null,
    );
  }

  async takeOver() {
    try {
      await api("POST", `/api/chats/${this.id}/take-over`);
      toast(t("chat.taken_over"));
    } catch (error) {
      showError(error);
    }
  }

  async leave() {
    try {
      await api("POST", `/api/chats/${this.id}/leave`);
    } catch (error) {
      showError(error);
    }
  }

  banForm() {
    const minutes = h("select", { name: "minutes", id: `chat-ban-minutes-${this.id}` },
      BAN_MINUTES.map((value) => h("option", { value }, t(`chat.ban_${value}`))));
    const reason = h("input", { name: "reason", id: `chat-ban-reason-${this.id}`, maxlength: "500" });
    this.drawForm("ban", t("chat.ban_title"),
      [h("label", { for: minutes.id }, t("chat.ban_for")), minutes,
        h("label", { for: reason.id }, t("chat.ban_reason")), reason],
      t("chat.tool_ban"),
      async () => {
        await api("POST", `/api/chats/${this.id}/ban`, { minutes: Number(minutes.value), reason: reason.value.trim() });
        toast(t("chat.banned"));
      });
  }

  caseForm() {
    const first = [...this.view.messages.values()].sort((a, b) => a.seq - b.seq).find((m) => m.author.kind === "visitor");
    const subject = h("input", { name: "subject", id: `chat-case-subject-${this.id}`, maxlength: "300" });
    subject.value = (first?.text ?? "").split("\n")[0].slice(0, 120);
    const existing = h("input", { name: "case_id", id: `chat-case-id-${this.id}`, type: "number", min: "1" });
    if (this.interaction?.case_id) existing.value = String(this.interaction.case_id);
    this.drawForm("case", t("chat.case_title"),
      [h("label", { for: subject.id }, t("chat.case_subject")), subject,
        h("label", { for: existing.id }, t("chat.case_existing")), existing],
      t("chat.tool_case"),
      async () => {
        const body = existing.value ? { case_id: Number(existing.value) } : { subject: subject.value.trim() };
        const opened = await api("POST", `/api/chats/${this.id}/case`, body);
        toast(t("chat.case_opened", { id: opened.case_id }));
      });
  }

  transcriptForm() {
    const email = h("input", { name: "email", id: `chat-transcript-email-${this.id}`, type: "email", maxlength: "320" });
    email.value = this.interaction?.attributes?.email ?? "";
    this.drawForm("transcript", t("chat.transcript_title"),
      [h("label", { for: email.id }, t("chat.transcript_email")), email],
      t("chat.tool_transcript"),
      async () => {
        await api("POST", `/api/chats/${this.id}/transcript`, email.value.trim() ? { email: email.value.trim() } : {});
        toast(t("chat.transcript_sent"));
      });
  }
}
