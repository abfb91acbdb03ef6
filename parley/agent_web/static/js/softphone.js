// The browser softphone (F-VO-11): for an agent whose device is "browser", the desktop
// keeps one WebRTC peer connection to Parley's media gateway for the whole shift, the
// *line* (PROTOCOL.md, "The browser line"). Calls come and go over it; the call panel
// controls them with `call.command` frames as for any phone.
//
// The line is opened once the agent is signed in (the snapshot after the socket
// connects): a complete offer (ICE gathering finished, no trickle) as `line.offer`, the
// server's `line.answer` applied. After a drop of the socket it is opened anew unless its
// media connection outlived the drop. A line that fails, closes or loses its network is
// opened again with growing, jittered delays; the old connection plays on until the new
// one is answered.
//
// The header shows the line's status; its panel chooses the microphone and the speaker
// (remembered in this browser), shows both sides' levels (Web Audio analysers) and the
// connection's round trip and losses. Mute in the call panel also silences the
// microphone's track here (the server's mute over AMI stays).

import { byId, fill, h } from "./dom.js";
import { toast } from "./notify.js";
import { config, t } from "./strings.js";

const ICE_GATHERING_MS = 5000;
const ANSWER_TIMEOUT_MS = 20000;
const DISCONNECTED_GRACE_MS = 4000;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30000;
const METER_MS = 150;
const QUALITY_MS = 2000;
const DEVICES_KEY = `parley.audio_devices.${config.me?.id ?? ""}`;
const HAS_SINK_ID = typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;

// getUserMedia's errors, in the words the agent needs to put them right.
const MICROPHONE_ERRORS = {
  NotAllowedError: "line.mic_denied",
  SecurityError: "line.mic_denied",
  NotFoundError: "line.no_mic",
  OverconstrainedError: "line.no_mic",
  NotReadableError: "line.mic_busy",
  AbortError: "line.mic_busy",
};

function rememberedDevices() {
  try {
    return JSON.parse(localStorage.getItem(DEVICES_KEY) ?? "{}") ?? {};
  } catch {
    return {};
  }
}

function rememberDevices(devices) {
  try {
    localStorage.setItem(DEVICES_KEY, JSON.stringify(devices));
  } catch {
    // Storage refused (private mode): the choice holds until the page is reloaded.
  }
}

class LineError extends Error {
  constructor(messageKey, { canRetry = true, detail = "" } = {}) {
    super(detail || messageKey);
    this.messageKey = messageKey;
    this.canRetry = canRetry;
    this.detail = detail;
  }
}

// How loud a stream is now, 0 to 1 (the peak of the last analyser window).
class LevelMeter {
  constructor(context, stream) {
    this.source = context.createMediaStreamSource(stream);
    this.analyser = context.createAnalyser();
    this.analyser.fftSize = 512;
    this.samples = new Float32Array(this.analyser.fftSize);
    this.source.connect(this.analyser);
  }

  level() {
    this.analyser.getFloatTimeDomainData(this.samples);
    let peak = 0;
    for (const sample of this.samples) peak = Math.max(peak, Math.abs(sample));
    return Math.min(1, peak);
  }

  disconnect() {
    this.source.disconnect();
  }
}

export class Softphone {
  constructor(desktop) {
    this.desktop = desktop;
    this.socket = desktop.socket;
    this.pc = null;
    this.sender = null;
    this.stream = null;
    this.remoteStream = null;
    this.status = "off";
    this.problem = "";
    this.inCall = false;
    this.isCallMuted = false;
    this.isStopped = false;
    this.isOpening = false;
    this.isFresh = false; // the socket (re)connected: its first snapshot opens the line
    this.attempt = 0;
    this.retryTimer = null;
    this.graceTimer = null;
    this.offerCount = 0;
    this.audioContext = null;
    this.meters = { microphone: null, caller: null };
    this.devices = rememberedDevices();
    this.audio = h("audio", { class: "line-audio", autoplay: true, hidden: true });
    document.body.append(this.audio);
    this.build();
    this.socket.addEventListener("frame", (event) => this.receive(event.detail));
    this.socket.addEventListener("open", () => {
      this.isFresh = true;
    });
    this.socket.addEventListener("close", () => {
      if (this.status !== "off" && this.status !== "failed") this.setStatus("reconnecting");
    });
    document.addEventListener("parley:call-mute", (event) => this.muteLocally(event.detail.isMuted));
    navigator.mediaDevices?.addEventListener?.("devicechange", () => this.listDevices());
    // Browsers start audio only after a gesture: unlock on the agent's first click or key.
    const unlock = () => {
      this.audioContext?.resume();
      this.audio.play().catch(() => {});
    };
    window.addEventListener("pointerdown", unlock);
    window.addEventListener("keydown", unlock);
    setInterval(() => this.showLevels(), METER_MS);
    setInterval(() => this.showQuality(), QUALITY_MS);
  }

  // --- the header's indicator and its panel ----------------------------------------------

  build() {
    const root = byId("line");
    root.hidden = false;
    this.label = h("span", { class: "line-status", id: "line-status", role: "status" }, t("line.connecting"));
    this.button = h("button", {
      type: "button",
      class: "line-button",
      id: "line-button",
      "aria-haspopup": "dialog",
      "aria-expanded": "false",
      "aria-controls": "line-panel",
      title: t("line.title"),
      onclick: () => this.togglePanel(),
    }, h("span", { class: "line-dot", "aria-hidden": "true" }), this.label);
    this.microphoneSelect = h("select", {
      class: "line-microphone",
      onchange: () => this.chooseMicrophone(this.microphoneSelect.value),
    });
    this.speakerSelect = h("select", {
      class: "line-speaker",
      onchange: () => this.chooseSpeaker(this.speakerSelect.value),
    });
    this.microphoneMeter = h("meter", { class: "line-meter-microphone", min: "0", max: "1", value: "0" });
    this.callerMeter = h("meter", { class: "line-meter-caller", min: "0", max: "1", value: "0" });
    this.problemText = h("p", { class: "line-problem", role: "alert", hidden: true });
    this.quality = h("p", { class: "line-quality", hidden: true });
    this.panel = h("section", {
      class: "line-panel",
      id: "line-panel",
      role: "dialog",
      "aria-label": t("line.audio"),
      hidden: true,
    },
    h("h2", {}, t("line.audio")),
    this.problemText,
    h("label", {}, t("line.microphone"), this.microphoneSelect),
    HAS_SINK_ID ? h("label", {}, t("line.speaker"), this.speakerSelect) : null,
    h("label", {}, t("line.mic_level"), this.microphoneMeter),
    h("label", {}, t("line.caller_level"), this.callerMeter),
    this.quality,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "line-reconnect", onclick: () => this.reconnectNow() },
        t("line.reconnect"))));
    fill(root, this.button, this.panel);
    document.addEventListener("click", (event) => {
      if (!root.contains(event.target)) this.togglePanel(false);
    });
  }

  togglePanel(open = this.panel.hidden) {
    this.panel.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
    if (open) this.listDevices();
  }

  setStatus(status, problem = "") {
    this.status = status;
    this.problem = problem;
    byId("line").dataset.status = status;
    const text = {
      connecting: t("line.connecting"),
      connected: this.inCall ? t("line.in_call") : t("line.connected"),
      reconnecting: t("line.reconnecting"),
      failed: t("line.failed"),
      off: t("line.off"),
    }[status];
    fill(this.label, text);
    this.problemText.hidden = !problem;
    fill(this.problemText, problem);
  }

  showLevels() {
    if (this.panel.hidden && !this.inCall) return;
    this.microphoneMeter.value = this.meters.microphone?.level() ?? 0;
    this.callerMeter.value = this.meters.caller?.level() ?? 0;
    byId("line").dataset.microphoneLevel = this.microphoneMeter.value.toFixed(3);
    byId("line").dataset.callerLevel = this.callerMeter.value.toFixed(3);
  }

  // Round trip and lost packets of the connection: what "the line is bad" looks like.
  async showQuality() {
    if (!this.pc || this.panel.hidden || this.status !== "connected") {
      this.quality.hidden = true;
      return;
    }
    let rtt = null;
    let lost = 0;
    let received = 0;
    try {
      const report = await this.pc.getStats();
      report.forEach((entry) => {
        if (entry.type === "candidate-pair" && entry.nominated && entry.currentRoundTripTime !== undefined) {
          rtt = Math.round(entry.currentRoundTripTime * 1000);
        }
        if (entry.type === "inbound-rtp" && entry.kind === "audio") {
          lost += entry.packetsLost ?? 0;
          received += entry.packetsReceived ?? 0;
        }
      });
    } catch {
      return; // the connection is being replaced: the next tick reads the new one
    }
    const share = received + lost > 0 ? lost / (received + lost) : 0;
    const percent = new Intl.NumberFormat(config.language || "en", {
      style: "percent",
      maximumFractionDigits: 1,
    }).format(share);
    this.quality.hidden = false;
    fill(this.quality, rtt === null
      ? t("line.quality_loss", { lost: percent })
      : t("line.quality", { rtt, lost: percent }));
  }

  // --- audio devices -----------------------------------------------------------------------

  async listDevices() {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    let devices;
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch (error) {
      console.warn("listing audio devices failed", error);
      return;
    }
    const options = (kind, chosen) => {
      const ofKind = devices.filter((device) => device.kind === kind && device.deviceId !== "default");
      return [
        h("option", { value: "", selected: !chosen }, t("line.default_device")),
        ofKind.map((device, index) =>
          h("option", { value: device.deviceId, selected: device.deviceId === chosen },
            device.label || t("line.device_unnamed", { number: index + 1 }))),
      ];
    };
    fill(this.microphoneSelect, options("audioinput", this.devices.microphone));
    fill(this.speakerSelect, options("audiooutput", this.devices.speaker));
  }

  chooseMicrophone(deviceId) {
    this.devices = { ...this.devices, microphone: deviceId || undefined };
    rememberDevices(this.devices);
    return this.replaceMicrophone();
  }

  // A new track on the same sender: no new offer, a call in progress goes on. Without a
  // line, the next one opens with the chosen microphone.
  async replaceMicrophone() {
    if (!this.pc) {
      for (const track of this.stream?.getTracks() ?? []) track.stop();
      this.stream = null;
      if (this.status === "failed") this.reconnectNow();
      return;
    }
    try {
      const stream = await this.microphone();
      await this.sender?.replaceTrack(stream.getAudioTracks()[0]);
      this.useMicrophone(stream);
    } catch (error) {
      // The line keeps the microphone it had (or sends silence if that one is gone).
      toast(this.describe(this.microphoneError(error)), { kind: "error", seconds: 12 });
    }
  }

  async chooseSpeaker(deviceId) {
    this.devices = { ...this.devices, speaker: deviceId || undefined };
    rememberDevices(this.devices);
    await this.playOn(deviceId);
  }

  async playOn(deviceId) {
    if (!HAS_SINK_ID) return;
    try {
      await this.audio.setSinkId(deviceId || "");
    } catch (error) {
      console.warn("choosing the speaker failed", error);
      toast(t("line.speaker_failed", { message: error.message }), { kind: "error" });
    }
  }

  async microphone() {
    if (!navigator.mediaDevices?.getUserMedia || !window.RTCPeerConnection) {
      throw new LineError("line.unsupported", { canRetry: false });
    }
    const chosen = this.devices.microphone;
    const audio = {
      echoCancellation: true,
      noiseSuppression: true,
      autoGainControl: true,
      ...(chosen ? { deviceId: { exact: chosen } } : {}),
    };
    try {
      return await navigator.mediaDevices.getUserMedia({ audio, video: false });
    } catch (error) {
      if (chosen && error.name === "OverconstrainedError") {
        // The remembered microphone is gone (unplugged): take the default one.
        this.devices = { ...this.devices, microphone: undefined };
        rememberDevices(this.devices);
        return navigator.mediaDevices.getUserMedia({ audio: true, video: false });
      }
      throw error;
    }
  }

  microphoneError(error) {
    if (error instanceof LineError) return error;
    const key = MICROPHONE_ERRORS[error?.name];
    if (key) return new LineError(key, { canRetry: false });
    return new LineError("line.error", { detail: error?.message ?? String(error) });
  }

  useMicrophone(stream) {
    const old = this.stream;
    this.stream = stream;
    const track = stream.getAudioTracks()[0];
    track.enabled = !this.isCallMuted;
    track.addEventListener("ended", () => {
      // Unplugged, or the permission withdrawn: open a microphone again (the chosen one
      // if it is back, else the default one), or say why not.
      if (this.stream === stream) this.replaceMicrophone();
    });
    this.meters.microphone?.disconnect();
    this.meters.microphone = new LevelMeter(this.context(), stream);
    if (old && old !== stream) for (const oldTrack of old.getTracks()) oldTrack.stop();
  }

  context() {
    if (!this.audioContext) this.audioContext = new AudioContext();
    if (this.audioContext.state === "suspended") this.audioContext.resume().catch(() => {});
    return this.audioContext;
  }

  muteLocally(isMuted) {
    this.isCallMuted = Boolean(isMuted);
    for (const track of this.stream?.getAudioTracks() ?? []) track.enabled = !this.isCallMuted;
  }

  // --- the line ------------------------------------------------------------------------

  receive(frame) {
    // The first snapshot after a (re)connect: the agent is signed in; open the line
    // unless its media outlived the socket's drop (then a call on it carries on as it
    // is). Later snapshots answer the desktop's `sync`s: nothing to do with the line.
    if (frame.type === "snapshot") {
      const isSignedIn = frame.agent?.state !== "offline";
      if (isSignedIn && (this.isFresh || this.status === "off")) {
        if (this.pc?.connectionState === "connected") this.setStatus("connected");
        else this.open();
      }
      this.isFresh = false;
      return;
    }
    if (frame.type === "agent.state_changed") {
      if (frame.state === "offline") this.close();
      else if (this.status === "off") this.open();
      return;
    }
    if (frame.type !== "line.status") return;
    this.inCall = Boolean(frame.in_call);
    if (!this.inCall) this.muteLocally(false);
    if (frame.status === "connected") {
      this.attempt = 0;
      this.setStatus("connected");
    } else if (frame.status === "connecting") {
      if (this.status !== "connected") this.setStatus("connecting");
    } else if (!this.isOpening) {
      // failed or closed: the server has let this line go; open a new one.
      this.retry();
    }
  }

  // Open the line, or replace it with a new connection (after a drop, a reconnect).
  async open() {
    if (this.isStopped || this.isOpening || this.desktop.agent.state === "offline") return;
    clearTimeout(this.retryTimer);
    this.isOpening = true;
    if (this.status !== "connected") this.setStatus(this.status === "off" ? "connecting" : "reconnecting");
    const pc = new RTCPeerConnection({ iceServers: config.ice_servers || [] });
    try {
      if (!this.stream || this.stream.getAudioTracks().every((track) => track.readyState === "ended")) {
        this.useMicrophone(await this.microphone().catch((error) => {
          throw this.microphoneError(error);
        }));
      }
      const track = this.stream.getAudioTracks()[0];
      const transceiver = pc.addTransceiver(track, { direction: "sendrecv", streams: [this.stream] });
      pc.addEventListener("track", (event) => this.play(pc, event));
      pc.addEventListener("connectionstatechange", () => this.connectionChanged(pc));
      await pc.setLocalDescription(await pc.createOffer());
      await this.gathered(pc);
      const answer = await this.offer(pc.localDescription.sdp);
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      const old = this.pc;
      this.pc = pc;
      this.sender = transceiver.sender;
      old?.close();
    } catch (error) {
      pc.close();
      this.isOpening = false;
      const problem = error instanceof LineError ? error : new LineError("line.error", { detail: error.message });
      if (problem.canRetry) this.retry(problem);
      else this.fail(problem);
      return;
    }
    this.isOpening = false;
  }

  // No trickle ICE: the offer goes once every candidate is in it (or after a while,
  // with those found by then).
  gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (pc.iceGatheringState !== "complete") return;
        pc.removeEventListener("icegatheringstatechange", done);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(resolve, ICE_GATHERING_MS);
      pc.addEventListener("icegatheringstatechange", done);
    });
  }

  // `line.offer` and its `line.answer` (same id), or the `error` with that id.
  offer(sdp) {
    const id = `line-${++this.offerCount}`;
    return new Promise((resolve, reject) => {
      const settle = (event) => {
        const frame = event.detail;
        if (frame.id !== id || (frame.type !== "line.answer" && frame.type !== "error")) return;
        finish();
        if (frame.type === "line.answer") resolve(frame.sdp);
        else {
          reject(new LineError(frame.code === "bad_offer" ? "line.bad_offer" : "line.error", {
            canRetry: frame.code !== "bad_offer",
            detail: frame.message ?? frame.code,
          }));
        }
      };
      const lost = () => {
        finish();
        reject(new LineError("line.error", { detail: "connection lost" }));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new LineError("line.error", { detail: "no answer from the server" }));
      }, ANSWER_TIMEOUT_MS);
      const finish = () => {
        clearTimeout(timer);
        this.socket.removeEventListener("frame", settle);
        this.socket.removeEventListener("close", lost);
      };
      this.socket.addEventListener("frame", settle);
      this.socket.addEventListener("close", lost);
      if (!this.socket.send({ type: "line.offer", id, sdp })) lost();
    });
  }

  play(pc, event) {
    if (pc !== this.pc && !this.isOpening) return; // a replaced connection's late track
    this.remoteStream = event.streams[0] ?? new MediaStream([event.track]);
    this.audio.srcObject = this.remoteStream;
    this.playOn(this.devices.speaker);
    this.audio.play().catch(() => {
      // Blocked until the agent clicks: the unlock above plays it then.
    });
    this.meters.caller?.disconnect();
    this.meters.caller = new LevelMeter(this.context(), this.remoteStream);
  }

  connectionChanged(pc) {
    if (pc !== this.pc) return; // an older connection, already replaced
    clearTimeout(this.graceTimer);
    const state = pc.connectionState;
    if (state === "connected") {
      this.attempt = 0;
      this.setStatus("connected");
    } else if (state === "disconnected") {
      // Often a blip that heals itself; a new offer if it does not.
      this.setStatus("reconnecting");
      this.graceTimer = setTimeout(() => {
        if (this.pc === pc && pc.connectionState !== "connected") this.retry();
      }, DISCONNECTED_GRACE_MS);
    } else if (state === "failed") {
      this.retry();
    }
  }

  // Try again after a growing, jittered delay; the socket's reconnect opens it too.
  retry(problem = null) {
    if (this.isStopped) return;
    clearTimeout(this.retryTimer);
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.attempt);
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
    this.attempt += 1;
    this.setStatus("reconnecting", problem ? this.describe(problem) : "");
    this.retryTimer = setTimeout(() => {
      if (this.socket.isOpen) this.open();
    }, jittered);
  }

  fail(problem) {
    clearTimeout(this.retryTimer);
    const message = this.describe(problem);
    this.setStatus("failed", message);
    toast(message, { kind: "error", seconds: 12 });
  }

  describe(problem) {
    return t(problem.messageKey, { message: problem.detail });
  }

  reconnectNow() {
    this.isStopped = false;
    this.attempt = 0;
    if (this.socket.isOpen) this.open();
  }

  // The agent went offline: the server has closed the line; let the microphone go.
  close() {
    clearTimeout(this.retryTimer);
    clearTimeout(this.graceTimer);
    this.pc?.close();
    this.pc = null;
    this.sender = null;
    this.inCall = false;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.meters.microphone?.disconnect();
    this.meters.caller?.disconnect();
    this.meters = { microphone: null, caller: null };
    this.setStatus("off");
  }

  // The end of the shift (logging out): close the line on purpose.
  stop() {
    this.isStopped = true;
    this.socket.send({ type: "line.hangup", id: `line-${++this.offerCount}` });
    this.close();
  }
}
