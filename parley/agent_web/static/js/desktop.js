// What the desktop knows, in one place: the agent's state, the offers ringing for them
// and the interactions in hand. The socket and the REST API feed it; the views listen
// to its "change" events and draw from it, so every view shows the same truth.
//
// After every (re)connect the server's snapshot replaces what was known, and the work
// list is read again from /api/me/work, so a desktop that was away shows what is so now.
//
// Frames of a channel's own conversation (`chat.*`) are not the desktop's state: they are
// passed on as "channel" events (`detail` is the frame) to the channel's view.

import { api, allItems } from "./api.js";

export class Desktop extends EventTarget {
  constructor(socket) {
    super();
    this.socket = socket;
    this.agent = { state: "offline", reason: null, since: null, pending_not_ready: null };
    this.offers = new Map();
    this.work = new Map();
    this.selectedId = null;
    this.serverOffsetMs = 0;
    this.reasonCodes = [];
    this.isOnline = false;
    this.workRead = 0;
    socket.addEventListener("frame", (event) => this.receive(event.detail));
    socket.addEventListener("open", () => this.setOnline(true));
    socket.addEventListener("close", (event) => this.setOnline(false, event.detail));
  }

  // The server's clock, from this browser's: countdowns end when the server says.
  now() {
    return Date.now() + this.serverOffsetMs;
  }

  changed(what) {
    this.dispatchEvent(new CustomEvent("change", { detail: { what } }));
  }

  setOnline(isOnline, detail = {}) {
    this.isOnline = isOnline;
    this.dispatchEvent(new CustomEvent("connection", { detail: { isOnline, ...detail } }));
  }

  async loadReasonCodes() {
    const codes = await allItems("/api/reason-codes?is_active=true&sort=name");
    this.reasonCodes = codes;
    this.changed("reasons");
  }

  receive(frame) {
    switch (frame.type) {
      case "snapshot":
        this.serverOffsetMs = Date.parse(frame.server_time) - Date.now();
        this.agent = frame.agent;
        this.changed("agent");
        this.readWork();
        break;
      case "agent.state_changed":
        this.agent = {
          ...this.agent,
          state: frame.state,
          reason: frame.reason,
          since: frame.since,
          pending_not_ready: frame.pending_not_ready,
        };
        this.changed("agent");
        // The event has no wrap-up deadline or interaction list: the snapshot has.
        this.socket.send({ type: "sync" });
        break;
      case "offer.created":
        this.offers.set(frame.offer_id, {
          offer_id: frame.offer_id,
          expires_at: frame.expires_at,
          interaction: {
            id: frame.interaction_id,
            channel: frame.channel,
            direction: "inbound",
            queue_id: frame.queue_id,
            queue_name: frame.queue_name,
            contact_id: frame.contact_id,
            case_id: frame.case_id,
            attributes: frame.attributes ?? {},
          },
        });
        this.changed("offers");
        this.readWork();
        break;
      case "offer.accepted":
      case "offer.rejected":
      case "offer.expired":
      case "offer.cancelled":
        if (this.offers.delete(frame.offer_id)) this.changed("offers");
        break;
      case "interaction.assigned":
      case "interaction.transferred":
      case "interaction.ended":
      case "interaction.disposition_set":
        this.readWork();
        this.changed(frame.type);
        break;
      default:
        if (frame.type.startsWith("chat.")) {
          if (frame.type === "chat.invited") this.readWork(); // a conference joined or left
          this.dispatchEvent(new CustomEvent("channel", { detail: frame }));
        }
        break;
    }
  }

  // Read the offers and interactions in hand again; an older answer arriving after a
  // newer one is dropped.
  // A read that fails (the network went away) keeps what is shown: the reconnect's
  // snapshot reads again.
  async readWork() {
    const reading = ++this.workRead;
    let work;
    try {
      work = await api("GET", "/api/me/work");
    } catch (error) {
      console.warn("reading the work in hand failed", error);
      return;
    }
    if (reading !== this.workRead) return;
    this.offers = new Map(work.offers.map((offer) => [offer.offer_id, offer]));
    this.work = new Map(work.interactions.map((item) => [item.id, item]));
    if (this.selectedId !== null && !this.work.has(this.selectedId)) this.selectedId = null;
    if (this.selectedId === null && this.work.size > 0) {
      this.selectedId = [...this.work.keys()].at(-1);
    }
    this.changed("work");
    this.changed("offers");
  }

  select(interactionId) {
    if (!this.work.has(interactionId)) return;
    this.selectedId = interactionId;
    this.changed("selection");
  }

  selected() {
    return this.selectedId === null ? null : (this.work.get(this.selectedId) ?? null);
  }

  // --- what the agent does --------------------------------------------------------------

  // A request kept pending while busy changes no state, so no event tells of it: ask
  // for the snapshot, which has it.
  async ready() {
    await this.socket.request("state.ready");
    this.socket.send({ type: "sync" });
  }

  async notReady(reason) {
    await this.socket.request("state.not_ready", { reason });
    this.socket.send({ type: "sync" });
  }

  async accept(offerId) {
    const ack = await this.socket.request("offer.accept", { offer_id: offerId });
    this.offers.delete(offerId);
    this.selectedId = ack.interaction_id;
    this.changed("offers");
    await this.readWork();
    return ack;
  }

  async reject(offerId) {
    await this.socket.request("offer.reject", { offer_id: offerId });
    this.offers.delete(offerId);
    this.changed("offers");
  }

  end(interactionId) {
    return api("POST", `/api/interactions/${interactionId}/complete`);
  }

  setDisposition(interactionId, dispositionId, notes) {
    return this.socket.request("wrap_up.disposition", {
      interaction_id: interactionId,
      disposition_id: dispositionId,
      notes,
    });
  }

  wrapUpDone() {
    return this.socket.request("wrap_up.done");
  }

  logout() {
    return this.socket.request("logout");
  }
}
