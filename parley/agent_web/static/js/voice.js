// The call panel: who is on the line and the agent's call control, every button a
// `call.command` frame on the desktop's socket (PROTOCOL.md): hold and resume, mute, the
// keypad (DTMF), recording with pause (and a sign of it), a transfer dialog (blind to a
// colleague, a queue or a number; or consulting a colleague or a number first, then
// complete, cancel or join all three), a conference (add a colleague or a number, the
// member list with kick, leave), the queue's pre-recorded messages to play into the call
// (and a sign while one plays), hang up.
// Callback tasks (lost calls, voicemails) get a panel of their own; the dialer above
// the interactions redials the last call.
//
// Like the chat panel, each call keeps one view for as long as it is in hand, so a redraw
// of the workspace keeps the digits and the number being typed. The call's state (phase,
// mute, recording, consultation, conference) is read from the server after every action
// and every few seconds.

import { api } from "./api.js";
import { fill, h } from "./dom.js";
import { caller } from "./offers.js";
import { showError, toast } from "./notify.js";
import { config, formatDateTime, label, t } from "./strings.js";
import { endButton, registerChannel } from "./workspace.js";

const REFRESH_MS = 3000;
const LAST_CALL_KEY = `parley.last_call.${config.me?.id ?? ""}`;
const views = new Map();

// "+48601234567 · Hotline": who calls, and the number they dialled.
function callLine(interaction) {
  const a = interaction.attributes ?? {};
  return [a.caller_number || caller(interaction), a.number_name || a.dialled_number]
    .filter(Boolean)
    .join(" · ");
}

// The number a redial calls: the one dialled for a call out, the caller's for one in.
function otherParty(interaction) {
  const a = interaction.attributes ?? {};
  return (interaction.direction === "outbound" ? a.dialled_number : a.caller_number) || "";
}

function rememberLastCall(interaction) {
  const number = otherParty(interaction);
  if (!number) return;
  try {
    localStorage.setItem(LAST_CALL_KEY, JSON.stringify({ id: interaction.id, number }));
  } catch {
    // Storage refused (private mode): no redial after a reload, nothing else lost.
  }
  document.dispatchEvent(new CustomEvent("parley:last-call"));
}

function lastCall() {
  try {
    return JSON.parse(localStorage.getItem(LAST_CALL_KEY) ?? "null");
  } catch {
    return null;
  }
}

function typed(input) {
  return input.value.replace(/[\s()-]/g, "");
}

class CallView {
  constructor(interaction, desktop) {
    this.interaction = interaction;
    this.desktop = desktop;
    this.path = `/api/calls/${interaction.id}`;
    this.state = null;
    this.members = [];
    rememberLastCall(interaction);
    this.status = h("p", { class: "call-status", "aria-live": "polite" }, t("call.connecting"));
    this.recording = h("span", { class: "call-recording", role: "status", hidden: true });
    this.holdButton = this.button("call-hold", t("call.hold"), () => this.toggleHold());
    this.muteButton = this.button("call-mute", t("call.mute"), () => this.toggleMute());
    this.recordButton = this.button("call-record", t("call.record"), () => this.record());
    this.stopRecordButton = this.button("call-record-stop", t("call.record_stop"), () =>
      this.command("recording.stop").catch(() => {}));
    this.transferButton = this.button("call-transfer-open", t("call.transfer_open"), () =>
      this.openDialog("transfer"));
    this.conferenceButton = this.button("call-conference-open", t("call.conference_open"), () =>
      this.openDialog("conference"));
    this.hangupButton = this.button("call-hangup end", t("call.hangup"), () =>
      this.command("hangup").catch(() => {}));
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
        if (digits) {
          this.command("dtmf", { digits }).then(() => { this.digits.value = ""; }, () => {});
        }
      },
    }, this.digits, h("button", { type: "submit" }, t("call.send_digits")));
    this.consulting = h("div", { class: "call-consulting", role: "group", hidden: true },
      h("span", {}, t("call.consulting")),
      this.button("call-transfer-complete", t("call.transfer_complete"), () =>
        this.command("transfer.complete").catch(() => {})),
      this.button("call-transfer-cancel", t("call.transfer_cancel"), () =>
        this.command("transfer.cancel").catch(() => {})),
      this.button("call-transfer-conference", t("call.join_all"), () =>
        this.command("transfer.conference").catch(() => {})));
    this.messagePlayer = this.messageControls();
    this.memberList = h("ul", { class: "call-members" });
    this.conference = h("section", { class: "call-conference", hidden: true,
      "aria-label": t("call.conference") },
    h("h3", {}, t("call.conference")),
    this.memberList,
    this.button("call-conference-leave", t("call.conference_leave"), () =>
      this.command("conference.leave").catch(() => {})));
    this.dialog = this.targetDialog();
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
      h("div", { class: "call-state" }, this.status, this.recording),
      h("div", { class: "call-actions" },
        this.holdButton, this.muteButton, this.recordButton, this.stopRecordButton,
        this.transferButton, this.conferenceButton, this.hangupButton),
      this.consulting,
      this.conference,
      this.messagePlayer,
      keypad,
      promise,
      this.dialog,
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

  // One `call.command` on the socket; its ack, or the error shown and thrown.
  async command(action, fields = {}) {
    try {
      return await this.desktop.socket.request("call.command", {
        interaction_id: this.interaction.id,
        action,
        ...fields,
      });
    } catch (error) {
      showError(error);
      throw error;
    } finally {
      await this.refresh();
    }
  }

  // The queue's pre-recorded messages (F-VO-6): choose one and play it into the call;
  // shown only when the queue has some, with a sign while one plays.
  messageControls() {
    this.messageChoice = h("select", { class: "call-message", "aria-label": t("call.message") });
    this.playButton = h("button", {
      type: "submit",
      class: "call-message-play",
    }, t("call.message_play"));
    this.playing = h("span", { class: "call-message-playing", role: "status", hidden: true });
    const form = h("form", {
      class: "call-messages",
      hidden: true,
      onsubmit: (event) => {
        event.preventDefault();
        const message = this.messageChoice.value;
        if (!message || this.state?.message) return;
        this.playButton.disabled = true;
        this.command("message.play", { message }).catch(() => {});
      },
    }, h("span", {}, t("call.message")), this.messageChoice, this.playButton, this.playing);
    api("GET", `${this.path}/messages`).then((messages) => {
      fill(this.messageChoice, messages.map((message) =>
        h("option", { value: message.name }, message.name)));
      form.hidden = messages.length === 0;
    }, () => {
      // No voice, or the call already ended: no messages to offer.
    });
    return form;
  }

  toggleHold() {
    return this.command(this.state?.phase === "held" ? "resume" : "hold").catch(() => {});
  }

  toggleMute() {
    return this.command(this.state?.is_muted ? "unmute" : "mute").catch(() => {});
  }

  record() {
    const recording = this.state?.recording ?? "off";
    const action = { off: "start", on: "pause", paused: "resume" }[recording];
    return this.command(`recording.${action}`).catch(() => {});
  }

  // The dialog for a transfer or a new conference party: a colleague or a queue from
  // the list, or a typed number (which wins when there is one).
  targetDialog() {
    this.target = h("select", { class: "call-target", "aria-label": t("call.target") });
    this.number = h("input", {
      class: "call-transfer-number",
      type: "tel",
      inputmode: "tel",
      maxlength: "21",
      "aria-label": t("call.transfer_number"),
      placeholder: t("call.transfer_number"),
    });
    this.dialogTitle = h("h2", {});
    this.blindButton = this.button("call-transfer", t("call.transfer"), () => this.transfer());
    this.consultButton = this.button("call-consult", t("call.consult"), () => this.consult());
    this.addButton = this.button("call-conference", t("call.conference_add"), () =>
      this.addParty());
    return h("dialog", { class: "call-dialog", "aria-label": t("call.transfer_open") },
      h("form", { method: "dialog", onsubmit: (event) => event.preventDefault() },
        this.dialogTitle,
        h("label", {}, t("call.target"), this.target),
        h("label", {}, t("call.or_number"), this.number),
        h("div", { class: "actions" },
          this.blindButton, this.consultButton, this.addButton,
          h("button", { type: "button", class: "call-dialog-close",
            onclick: () => this.dialog.close() }, t("call.close")))));
  }

  async openDialog(mode) {
    this.mode = mode;
    const isTransfer = mode === "transfer";
    fill(this.dialogTitle, isTransfer ? t("call.transfer_title") : t("call.conference_title"));
    this.dialog.setAttribute("aria-label", this.dialogTitle.textContent);
    this.blindButton.hidden = !isTransfer;
    this.consultButton.hidden = !isTransfer;
    this.addButton.hidden = isTransfer;
    this.number.value = "";
    let targets = { agents: [], queues: [] };
    try {
      targets = await api("GET", "/api/calls/transfer-targets");
    } catch (error) {
      showError(error);
    }
    fill(this.target,
      h("option", { value: "" }, t("call.target_none")),
      h("optgroup", { label: t("call.target_agents") }, targets.agents.map((agent) =>
        h("option", { value: `agent:${agent.id}` },
          `${agent.name} (${label("state", agent.state)})`))),
      isTransfer
        ? h("optgroup", { label: t("call.target_queues") }, targets.queues.map((queue) =>
          h("option", { value: `queue:${queue.id}` }, queue.name)))
        : null);
    if (!this.dialog.open) this.dialog.showModal();
  }

  // {to, target_id} or {to, number} for the frame; null (and a hint) when nothing chosen.
  chosen(kinds) {
    const number = typed(this.number);
    if (number && kinds.includes("number")) return { to: "number", number };
    const [kind, id] = this.target.value.split(":");
    if (kind && kinds.includes(kind)) return { to: kind, target_id: Number(id) };
    return null;
  }

  async transfer() {
    const target = this.chosen(["agent", "queue", "number"]);
    if (!target) {
      toast(t("call.transfer_where"), { kind: "error" });
      return;
    }
    try {
      await this.command("transfer", target);
    } catch {
      return;
    }
    this.dialog.close();
    toast(t("call.transferred"));
  }

  async consult() {
    const target = this.chosen(["agent", "number"]);
    if (!target) {
      toast(t("call.consult_where"), { kind: "error" });
      return;
    }
    try {
      await this.command("consult", target);
    } catch {
      return;
    }
    this.dialog.close();
    toast(t("call.consulting"));
  }

  async addParty() {
    const target = this.chosen(["agent", "number"]);
    if (!target) {
      toast(t("call.conference_where"), { kind: "error" });
      return;
    }
    try {
      await this.command("conference.add", target);
    } catch {
      return;
    }
    this.dialog.close();
    toast(t("call.conference_added"));
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

  async refresh() {
    try {
      this.state = await api("GET", this.path);
    } catch (error) {
      if (error.status === 404) {
        this.state = { phase: "ended", is_muted: false, recording: "off" };
        clearInterval(this.timer);
        if (this.dialog.open) this.dialog.close();
      } else {
        return; // offline or voice down: keep what is shown, try again on the next tick
      }
    }
    if (this.state.is_conference && this.desktop.isOnline) {
      try {
        const listed = await this.desktop.socket.request("call.command", {
          interaction_id: this.interaction.id,
          action: "conference.list",
        });
        this.members = listed.members;
      } catch {
        // The call ended meanwhile, or the socket is reconnecting: the next tick reads.
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
    // A browser line (softphone.js) silences the microphone's track too.
    document.dispatchEvent(new CustomEvent("parley:call-mute", { detail: { isMuted: muted && live } }));
    this.recordButton.textContent = {
      off: t("call.record"), on: t("call.record_pause"), paused: t("call.record_resume"),
    }[recording];
    this.stopRecordButton.hidden = recording === "off";
    this.recording.hidden = recording === "off";
    this.recording.dataset.state = recording;
    fill(this.recording, recording === "paused" ? t("call.recording_paused") : t("call.recording_on"));
    this.consulting.hidden = !(live && this.state.is_consulting);
    this.conference.hidden = !(live && this.state.is_conference);
    this.showMembers();
    for (const control of this.element.querySelectorAll("button, input, select")) {
      control.disabled = !live;
    }
    const message = live ? this.state.message : null;
    this.playing.hidden = !message;
    fill(this.playing, message ? t("call.message_playing", { name: message }) : "");
    this.playButton.disabled = !live || Boolean(message);
  }

  showMembers() {
    const who = (member) => ({
      caller: t("call.member_caller"),
      agent: t("call.member_you"),
    }[member.role] ?? (member.name || t("call.member_party")));
    fill(this.memberList, this.members.map((member) =>
      h("li", { class: `call-member role-${member.role}` },
        h("span", {}, member.role === "caller" && member.name ? `${who(member)} · ${member.name}` : who(member)),
        member.role === "agent"
          ? null
          : this.button("call-kick link", t("call.kick"), () =>
            this.command("conference.kick", { channel: member.channel }).catch(() => {})))));
  }

  close() {
    clearInterval(this.timer);
  }
}

function render(container, interaction, desktop) {
  let view = views.get(interaction.id);
  if (!view) {
    view = new CallView(interaction, desktop);
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

// Redial (F-VO-3): the dialer's button calls the last call's other party again, through
// the socket (`call.command` `redial`), shown once this browser has seen a call.
export function setUpRedial(desktop) {
  if (!dialer) return;
  const button = h("button", {
    type: "button",
    class: "redial",
    onclick: async () => {
      const last = lastCall();
      if (!last) return;
      button.disabled = true;
      try {
        await desktop.socket.request("call.command", { interaction_id: last.id, action: "redial" });
        toast(t("call.dialing", { number: last.number }));
      } catch (error) {
        showError(error);
      } finally {
        button.disabled = false;
      }
    },
  }, t("call.redial"));
  const update = () => {
    const last = lastCall();
    button.hidden = !last;
    button.title = last ? t("call.redial_number", { number: last.number }) : "";
  };
  dialer.append(button);
  update();
  document.addEventListener("parley:last-call", update);
}
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

// A call's recordings and a voicemail in the interaction history (F-VO-5): players for
// whoever may listen (the agent who had the call, a supervisor: the server's rule, which
// answers others 403), a note for the others.
export function callAudio(entry) {
  const files = [
    ...(entry.recordings ?? []).map((name) => ({
      src: `/api/calls/${entry.id}/recordings/${encodeURIComponent(name)}`,
      title: t("info.recording"),
    })),
    ...(entry.voicemail ? [{ src: `/api/calls/${entry.id}/voicemail`, title: t("info.voicemail") }] : []),
  ];
  if (!files.length) return null;
  const me = config.me ?? {};
  const mayListen = entry.agent_id === me.id || ["supervisor", "admin"].includes(me.role);
  if (!mayListen) return h("p", { class: "call-audio-locked" }, t("info.audio_not_yours"));
  return h("div", { class: "call-audio" }, files.map((file) =>
    h("audio", { controls: "", preload: "none", src: file.src, "aria-label": file.title, title: file.title })));
}

registerChannel("voice", render);
registerChannel("callback", renderCallback);
