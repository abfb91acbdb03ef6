// Telling the agent: toasts in the page, the browser's notifications when the page is
// not in front, and a ring tone made with Web Audio (no sound file to ship or load).

import { byId, h } from "./dom.js";
import { t } from "./strings.js";

export function toast(message, { kind = "info", seconds = 6 } = {}) {
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  byId("toasts").append(item);
  setTimeout(() => item.remove(), seconds * 1000);
}

export function showError(error) {
  const message = error?.code === "offline" ? t("error.offline_action") : t("error.generic", { message: error?.message ?? error });
  toast(message, { kind: "error" });
}

export function notify(title, body, tag) {
  if (!("Notification" in window) || Notification.permission !== "granted") return null;
  if (document.visibilityState === "visible" && document.hasFocus()) return null;
  const notification = new Notification(title, { body, tag, requireInteraction: true });
  notification.addEventListener("click", () => {
    window.focus();
    notification.close();
  });
  return notification;
}

// Asking needs a click of the agent's: offer a button while the browser has not been told.
export function setUpNotificationButton() {
  const button = byId("enable-notifications");
  if (!("Notification" in window) || Notification.permission !== "default") return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await Notification.requestPermission();
    button.hidden = Notification.permission === "default";
  });
}

// A two-tone ring (as a phone's: 0.4 s on, 0.2 s off, 0.4 s on, 2 s off) while offers ring.
export class Ringer {
  constructor() {
    this.context = null;
    this.timer = null;
    // Browsers start audio only after a gesture: unlock on the agent's first click or key.
    const unlock = () => {
      this.audio()?.resume();
      window.removeEventListener("pointerdown", unlock);
      window.removeEventListener("keydown", unlock);
    };
    window.addEventListener("pointerdown", unlock);
    window.addEventListener("keydown", unlock);
  }

  audio() {
    if (!this.context && window.AudioContext) this.context = new AudioContext();
    return this.context;
  }

  get isRinging() {
    return this.timer !== null;
  }

  start() {
    if (this.timer !== null) return;
    const ring = () => {
      this.burst(0);
      this.burst(0.6);
    };
    ring();
    this.timer = setInterval(ring, 3000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  burst(offset) {
    const context = this.audio();
    if (!context || context.state !== "running") return;
    const start = context.currentTime + offset;
    const gain = context.createGain();
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.2, start + 0.02);
    gain.gain.setValueAtTime(0.2, start + 0.38);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.4);
    gain.connect(context.destination);
    for (const frequency of [440, 480]) {
      const tone = context.createOscillator();
      tone.frequency.value = frequency;
      tone.connect(gain);
      tone.start(start);
      tone.stop(start + 0.4);
    }
  }
}
