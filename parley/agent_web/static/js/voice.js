// The call panel: who is on the line and the agent's call control (REST:
// /api/calls/{id}/...): hold and resume, mute, the keypad (DTMF), recording with pause,
// transfer to a number (blind, or consulting first) or a queue, adding a party to a
// conference, hang up. Callback tasks (lost calls, voicemails) get a panel of their own.
//
// Like the chat panel, each call keeps one view for as long as it is in hand, so a redraw
// of the workspace keeps the digits and the number being typed. The call's state (phase,
// mute, recording) is read from the server after every action and every few seconds.

import { api } from "./api.js";
import { fill, h } from "./dom.js";
import { caller } from "./offers.js";
import { showError, toast } from "./notify.js";
import { formatDateTime, t } from "./strings.js";
import { endButton, registerChannel } from "./workspace.js";

const REFRESH_MS = 3000;
const views = new Map();
let targets = null; // the promise of the queues a call may be transferred to

function transferTargets() {
  if (!targets) {
    targets = api("GET", "/api/calls/transfer-targets");
    targets.catch(() => { targets = null; });
  }
  return targets;
}

// "+48601234567 · Hotline": who calls, and the number they dialled.
function callLine(interaction) {
  const a = interaction.attributes ?? {};
  return [a.caller_number || caller(interaction), a.number_name || a.dialled_number]
    .filter(Boolean)
    .join(" · ");
}

class CallView {
  constructor(interaction) {
    this.interaction = interaction;
    this.path = `/api/calls/${interaction.id}`;
    this.state = null;
    this.status = h("p", { class: "call-status", "aria-live": "polite" }, t("call.connecting"));
    this.holdButton = this.button("call-hold", t("call.hold"), () => this.toggleHold());
    this.muteButton = this.button("call-mute", t("call.mute"), () => this.toggleMute());
    this.recordButton = this.button("call-record", t("call.record"), () => this.record());
    this.stopRecordButton = this.button("call-record-stop", t("call.record_stop"), () =>
      this.send("recording", { action: "stop" }));
    this.hangupButton = this.button("call-hangup end", t("call.hangup"), () => this.send("hangup"));
    this.digits = h("input", {
      class: "call-digits",
      inputmode: "tel",
      maxlength: "32",
      pattern: "[0-9*#A-D]*",
      "aria-label": t("call.keypad"),
      placeholder: t("call.keypad"),
    });
    const keypad = h("form", {
      class: "call-keypad",
      onsubmit: (event) => {
        event.preventDefault();
        const digits = this.digits.value.trim().toUpperCase();
        if (digits) this.send("dtmf", { digits }).then(() => { this.digits.value = ""; });
      },
    }, this.digits, h("button", { type: "submit" }, t("call.send_digits")));
    this.number = h("input", {
      class: "call-transfer-number",
      inputmode: "tel",
      maxlength: "21",
      "aria-label": t("call.transfer_number"),
      placeholder: t("call.transfer_number"),
    });
    this.queue = h("select", { class: "call-transfer-queue", "aria-label": t("call.transfer_queue") },
      h("option", { value: "" }, t("call.transfer_queue")));
    transferTargets().then((queues) => {
      for (const queue of queues) this.queue.append(h("option", { value: String(queue.id) }, queue.name));
    }, showError);
    this.consult = h("input", { type: "checkbox", class: "call-consult" });
    this.completeButton = this.button("call-transfer-complete", t("call.transfer_complete"), () =>
      this.send("transfer/complete").then(() => { this.consulting = false; }, () => {}));
    this.cancelButton = this.button("call-transfer-cancel", t("call.transfer_cancel"), () =>
      this.send("transfer/cancel").then(() => { this.consulting = false; }, () => {}));
    this.consulting = false;
    const transfer = h("form", {
      class: "call-transfer",
      onsubmit: (event) => {
        event.preventDefault();
        this.transfer();
      },
    }, this.number, this.queue,
    h("label", { class: "call-consult-label" }, this.consult, t("call.consult")),
    h("button", { type: "submit" }, t("call.transfer")),
    this.button("call-conference", t("call.conference_add"), () => this.conference()),
    this.completeButton, this.cancelButton);
    this.callbackAt = h("input", {
      type: "datetime-local",
      class: "callback-at",
      "aria-label": t("callback.when"),
    });
    this.callbackPersonal = h("input", { type: "checkbox", checked: "" });
    const promise = h("form", {
      class: "call-schedule",
      onsubmit: (event) => {
        event.preventDefault();
        this.scheduleCallback();
      },
    }, h("span", {}, t("callback.schedule_label")), this.callbackAt,
    h("label", { class: "call-consult-label" }, this.callbackPersonal, t("callback.personal")),
    h("button", { type: "submit" }, t("callback.schedule")));
    this.element = h("section", { class: "call-panel" },
      h("p", { class: "call-line" }, callLine(interaction)),
      this.status,
      h("div", { class: "call-actions" },
        this.holdButton, this.muteButton, this.recordButton, this.stopRecordButton, this.hangupButton),
      keypad,
      transfer,
      promise,
    );
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    this.refresh();
  }

  button(className, text, action) {
    return h("button", {
      type: "button",
      class: className,
      onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          await action();
        } finally {
          button.disabled = false;
        }
      },
    }, text);
  }

  async send(action, body = undefined) {
    try {
      await api("POST", `${this.path}/${action}`, body);
    } catch (error) {
      showError(error);
      throw error;
    } finally {
      await this.refresh();
    }
  }

  toggleHold() {
    return this.send(this.state?.phase === "held" ? "resume" : "hold").catch(() => {});
  }

  toggleMute() {
    return this.send("mute", { muted: !this.state?.is_muted }).catch(() => {});
  }

  record() {
    const recording = this.state?.recording ?? "off";
    const action = { off: "start", on: "pause", paused: "resume" }[recording];
    return this.send("recording", { action }).catch(() => {});
  }

  typedNumber() {
    return this.number.value.replace(/[\s()-]/g, "");
  }

  transfer() {
    const number = this.typedNumber();
    const queueId = this.queue.value;
    if (!number && !queueId) {
      toast(t("call.transfer_where"), { kind: "error" });
      return;
    }
    const consult = Boolean(number) && this.consult.checked;
    const body = number
      ? { to: "number", number, consult }
      : { to: "queue", queue_id: Number(queueId) };
    this.send("transfer", body).then(() => {
      this.consulting = consult;
      toast(consult ? t("call.consulting") : t("call.transferred"));
      this.show();
    }, () => {});
  }

  // A call back promised for a time (F-VO-7): queued then, offered to this agent first
  // unless it is left to the queue.
  scheduleCallback() {
    const a = this.interaction.attributes ?? {};
    const number = a.caller_number;
    const when = this.callbackAt.value ? new Date(this.callbackAt.value) : null;
    if (!number || !when || Number.isNaN(when.getTime())) {
      toast(t("callback.schedule_where"), { kind: "error" });
      return;
    }
    api("POST", "/api/calls/callbacks", {
      number,
      due_at: when.toISOString(),
      queue_id: this.interaction.queue_id,
      contact_id: this.interaction.contact_id ?? null,
      is_personal: this.callbackPersonal.checked,
    }).then(() => {
      this.callbackAt.value = "";
      toast(t("callback.scheduled", { time: formatDateTime(when) }));
    }, showError);
  }

  conference() {
    const number = this.typedNumber();
    if (!number) {
      toast(t("call.conference_where"), { kind: "error" });
      return Promise.resolve();
    }
    return this.send("conference", { number }).then(() => {
      this.number.value = "";
      toast(t("call.conference_added"));
    }, () => {});
  }

  async refresh() {
    try {
      this.state = await api("GET", this.path);
    } catch (error) {
      if (error.status === 404) {
        this.state = { phase: "ended", is_muted: false, recording: "off" };
        clearInterval(this.timer);
      } else {
        return; // offline or voice down: keep what is shown, try again on the next tick
      }
    }
    this.show();
  }

  show() {
    const { phase, is_muted: muted, recording } = this.state;
    fill(this.status, t(`call.phase_${phase}`));
    const live = phase === "talking" || phase === "held";
    this.holdButton.textContent = phase === "held" ? t("call.resume") : t("call.hold");
    this.holdButton.setAttribute("aria-pressed", String(phase === "held"));
    this.muteButton.textContent = muted ? t("call.unmute") : t("call.mute");
    this.muteButton.setAttribute("aria-pressed", String(muted));
    this.recordButton.textContent = {
      off: t("call.record"), on: t("call.record_pause"), paused: t("call.record_resume"),
    }[recording];
    this.stopRecordButton.hidden = recording === "off";
    this.completeButton.hidden = !this.consulting;
    this.cancelButton.hidden = !this.consulting;
    for (const control of this.element.querySelectorAll("button, input, select")) {
      control.disabled = !live;
    }
  }

  close() {
    clearInterval(this.timer);
  }
}

function render(container, interaction) {
  let view = views.get(interaction.id);
  if (!view) {
    view = new CallView(interaction);
    views.set(interaction.id, view);
  }
  container.append(view.element);
  for (const [id, other] of views) {
    if (!other.element.isConnected && other !== view && other.state?.phase === "ended") {
      other.close();
      views.delete(id);
    }
  }
}

// Click to call: the dialer above the interactions, and the phone numbers of contact
// cards. The agent's phone rings first; the call then shows as an interaction.
async function dial(number, contactId = null) {
  const digits = number.replace(/[\s()-]/g, "");
  try {
    await api("POST", "/api/calls", { number: digits, contact_id: contactId });
    toast(t("call.dialing", { number: digits }));
    return true;
  } catch (error) {
    showError(error);
    return false;
  }
}

const dialer = document.getElementById("dialer");
dialer?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = dialer.elements.number;
  if (input.value.trim() && (await dial(input.value))) input.value = "";
});
document.addEventListener("click", (event) => {
  const button = event.target.closest?.(".dial-number");
  if (!button) return;
  const contactId = button.dataset.contactId ? Number(button.dataset.contactId) : null;
  dial(button.dataset.number, contactId);
});

// A callback task (a lost call, or a voicemail left after hours): the number, the
// message to listen to, a button to call back, and End once it is dealt with.
function renderCallback(container, interaction, desktop) {
  const a = interaction.attributes ?? {};
  const number = a.callback_number || a.caller_number || "";
  const reason = a.reason === "voicemail" ? t("callback.voicemail") : t("callback.abandoned");
  container.append(h("section", { class: "callback-panel" },
    h("p", { class: "call-line" }, [number, a.number_name].filter(Boolean).join(" · ")),
    h("p", { class: "call-status" }, reason),
    a.voicemail
      ? h("audio", {
        controls: "",
        preload: "none",
        src: `/api/calls/${interaction.id}/voicemail`,
        "aria-label": t("callback.listen"),
      })
      : null,
    h("div", { class: "call-actions" },
      number
        ? h("button", {
          type: "button",
          class: "call-back",
          onclick: () => dial(number, interaction.contact_id ?? null),
        }, t("callback.call_back"))
        : null,
      endButton(interaction, desktop)),
  ));
}

registerChannel("voice", render);
registerChannel("callback", renderCallback);
