// The one websocket of the desktop (`/ws/agent`, protocol: parley/platform/agents/
// PROTOCOL.md). It heartbeats, answers requests by frame id, and comes back on its own
// after a drop: reconnecting with growing, jittered delays, then taking the server's
// snapshot as the truth (events missed while away are not replayed).

const REQUEST_TIMEOUT_MS = 10000;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10000;

export class AgentSocket extends EventTarget {
  constructor(path, heartbeatSeconds) {
    super();
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
    this.heartbeatMs = heartbeatSeconds * 1000;
    this.ws = null;
    this.isOpen = false;
    this.isStopped = false;
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map();
    this.heartbeat = null;
    this.retryTimer = null;
  }

  start() {
    this.isStopped = false;
    this.connect();
  }

  stop() {
    this.isStopped = true;
    clearTimeout(this.retryTimer);
    this.ws?.close(1000);
  }

  connect() {
    clearTimeout(this.retryTimer);
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.isOpen = true;
      this.attempt = 0;
      this.heartbeat = setInterval(() => this.send({ type: "heartbeat" }), this.heartbeatMs);
      this.emit("open", {});
    });
    ws.addEventListener("message", (message) => this.receive(message.data));
    ws.addEventListener("close", (closed) => this.closed(ws, closed));
    // An error is always followed by close, which does the work.
    ws.addEventListener("error", () => {});
  }

  closed(ws, closed) {
    if (ws !== this.ws) return;
    this.isOpen = false;
    clearInterval(this.heartbeat);
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(Object.assign(new Error("connection lost"), { code: "offline" }));
    }
    this.pending.clear();
    if (this.isStopped) return;
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.attempt);
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
    this.attempt += 1;
    this.emit("close", { code: closed.code, retryInMs: jittered });
    this.retryTimer = setTimeout(() => this.connect(), jittered);
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if ((frame.type === "ack" || frame.type === "error") && this.pending.has(frame.id)) {
      const { resolve, reject, timer } = this.pending.get(frame.id);
      clearTimeout(timer);
      this.pending.delete(frame.id);
      if (frame.type === "ack") resolve(frame);
      else reject(Object.assign(new Error(frame.message), frame));
      return;
    }
    this.emit("frame", frame);
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // Send a frame that has an effect; resolves with its ack, rejects with its error.
  request(type, fields = {}) {
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      if (!this.send({ type, id, ...fields })) {
        reject(Object.assign(new Error("not connected"), { code: "offline" }));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(Object.assign(new Error("no answer from the server"), { code: "timeout" }));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
