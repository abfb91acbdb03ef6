// Parley's chat widget for customers' sites (F-CH-1, F-CH-2, F-CH-4, F-CH-7).
//
// Installed with one tag, nothing else on the page:
//   <script src="https://parley.example/chat/widget.js" data-parley-widget="KEY" async></script>
//
// It reads its look and texts from Parley (`/chat/widgets/KEY/config`, in the browser's
// language), draws a button and a chat window inside a Shadow DOM (the page's styles do
// not reach it, its styles do not leak out), and talks to Parley over the visitor
// websocket exactly as parley/chat_channel/PROTOCOL.md says: `hello` first, messages
// shown in seq order and deduplicated by id, every visitor message kept in an outbox
// (in local storage, so a reload or another tab resends it) under its client_msg_id
// until its `ack`, reconnects with backoff, typing and read marks both ways. Its forms
// (PROTOCOL.md, Forms): the pre-chat form before the first message, "leave us a message"
// while no agent can answer, and the holding text and contacts prompt while nobody has.
//
// The visitor id from `welcome` is kept in local storage for this site, so today's
// conversation survives page loads, other tabs and closing the window: each page asks
// the server to replay it (`resume: 0`), the server being the one copy of the history.
//
// Everything shown that came from a person is set as text (never as HTML); only http(s)
// addresses in it become links, opened in a new tab without a referrer. The state of
// the widget is on the script tag (`data-parley-state`: loading, shown, hidden,
// unavailable, duplicate) for the site's own scripts and for tests.
(function () {
  "use strict";

  const script = document.currentScript;
  if (!script || !script.src) return;
  const widgetKey = script.getAttribute("data-parley-widget") || "";
  // A page that includes the tag twice (a template and a tag manager) gets one widget.
  const started = (window.parleyChatWidgets = window.parleyChatWidgets || new Set());
  if (started.has(widgetKey)) {
    script.setAttribute("data-parley-state", "duplicate");
    return;
  }
  started.add(widgetKey);
  const parleyUrl = new URL(script.src);
  const socketUrl = `${parleyUrl.protocol === "https:" ? "wss:" : "ws:"}//${parleyUrl.host}` +
    `/ws/visitor?widget=${encodeURIComponent(widgetKey)}`;
  const storeKey = `parley-chat:${widgetKey}`;
  const filesUrl = `${parleyUrl.origin}/chat/widgets/${encodeURIComponent(widgetKey)}/files`;

  const TYPING_EVERY_MS = 3000; // PROTOCOL.md: `typing` at most every 3 s
  const HEARTBEAT_MS = 25000; // PROTOCOL.md: a socket silent this long sends `heartbeat`
  const BACKOFF_FIRST_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const RATE_LIMITED_WAIT_MS = 5000; // after close code 4429, at least this long
  const ERROR_SHOWN_MS = 8000;
  const CLOSE_FORBIDDEN = 4403;
  const CLOSE_RATE_LIMITED = 4429;
  const MAX_TEXT = 4000;
  const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
  const LANGUAGE_PATTERN = /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/;
  const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;
  const TRAILING_PUNCTUATION = /[.,;:!?)\]]+$/;
  const NARROW = window.matchMedia("(max-width: 480px)");
  const MIN_WIDTH = 280;
  const MIN_HEIGHT = 320;

  function setState(state) {
    script.setAttribute("data-parley-state", state);
  }

  // --- small tools -----------------------------------------------------------------

  // An element with attributes (`on...` are listeners) and children (strings are text).
  function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
      else element.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === "") continue;
      element.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return element;
  }

  // Text with its http(s) addresses made links; everything else stays plain text.
  function linkified(text) {
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(URL_PATTERN)) {
      const address = match[0].replace(TRAILING_PUNCTUATION, "");
      let url = null;
      try {
        url = new URL(address);
      } catch {
        url = null;
      }
      if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) continue;
      parts.push(text.slice(last, match.index));
      parts.push(h("a", { href: url.href, rel: "noopener noreferrer nofollow", target: "_blank" }, address));
      last = match.index + address.length;
    }
    parts.push(text.slice(last));
    return parts;
  }

  // At most `limit` characters, never ending in half a surrogate pair, and well formed:
  // the server refuses text no database could store.
  function bounded(text, limit) {
    let value = String(text || "");
    if (typeof value.toWellFormed === "function") value = value.toWellFormed();
    if (value.length > limit) {
      value = value.slice(0, limit);
      const last = value.charCodeAt(value.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) value = value.slice(0, -1);
    }
    return value;
  }

  // What the file picker offers for the widget's kinds (the server checks the bytes).
  const ACCEPT_BY_KIND = {
    image: "image/png,image/jpeg,image/gif,image/webp",
    pdf: "application/pdf,.pdf",
    office: ".doc,.docx,.xls,.xlsx,.ppt,.pptx,.odt,.ods,.odp",
    text: "text/plain,text/csv,.txt,.csv,.log,.md",
  };

  function acceptFor(kinds) {
    return (kinds || []).map((kind) => ACCEPT_BY_KIND[kind]).filter(Boolean).join(",");
  }

  // "48 kB", "10 MB", in the widget's language.
  function formatSize(bytes, language) {
    const units = [["megabyte", 1024 * 1024], ["kilobyte", 1024]];
    for (const [unit, size] of units) {
      if (bytes >= size) {
        try {
          return new Intl.NumberFormat(language, { style: "unit", unit, maximumFractionDigits: 1 })
            .format(bytes / size);
        } catch {
          return `${Math.round(bytes / size)} ${unit === "megabyte" ? "MB" : "kB"}`;
        }
      }
    }
    try {
      return new Intl.NumberFormat(language, { style: "unit", unit: "byte" }).format(bytes);
    } catch {
      return `${bytes} B`;
    }
  }

  function newMessageId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes); // unlike randomUUID, also on plain-http sites
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  // What this site's pages share about the visitor: their id, the messages not yet
  // acknowledged, and how they left the window.
  const store = {
    read() {
      try {
        const data = JSON.parse(localStorage.getItem(storeKey) || "{}");
        return data && typeof data === "object" ? data : {};
      } catch {
        return {};
      }
    },
    update(change) {
      const data = this.read();
      change(data);
      try {
        localStorage.setItem(storeKey, JSON.stringify(data));
      } catch {
        // Storage full or refused (private mode): the chat still works on this page.
      }
    },
  };

  // --- the look --------------------------------------------------------------------

  const STYLE = `
    :host { all: initial; }
    * { box-sizing: border-box; }
    [hidden] { display: none !important; }
    .launcher, .window { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
    .launcher {
      position: fixed; z-index: 2147483000; bottom: var(--offset-y); display: flex;
      align-items: center; gap: 8px; padding: 12px 18px; border: 0; border-radius: 24px;
      background: var(--accent); color: var(--accent-text); font-weight: 600; font-size: 15px;
      box-shadow: 0 4px 16px rgba(0, 0, 0, .25); cursor: pointer;
    }
    .right .launcher { right: var(--offset-x); }
    .left .launcher { left: var(--offset-x); }
    .launcher:focus-visible, button:focus-visible, textarea:focus-visible {
      outline: 2px solid #0969da; outline-offset: 2px;
    }
    .badge {
      min-width: 20px; padding: 1px 6px; border-radius: 10px; background: #d1242f; color: #fff;
      font-size: 12px; text-align: center;
    }
    .window {
      position: fixed; z-index: 2147483001; bottom: var(--window-y);
      width: var(--window-width, 360px); height: var(--window-height, 520px);
      display: flex; flex-direction: column; overflow: hidden;
      background: #fff; color: #1f2328; border-radius: 12px; box-shadow: 0 8px 32px rgba(0, 0, 0, .3);
    }
    .right .window { right: var(--window-x); }
    .left .window { left: var(--window-x); }
    .window.minimized { height: auto; }
    .window.minimized .body, .window.minimized .grip { display: none; }
    header {
      display: flex; align-items: center; gap: 10px; padding: 10px 12px; flex: none;
      background: var(--accent); color: var(--accent-text); cursor: move; user-select: none;
      touch-action: none;
    }
    .photo { width: 36px; height: 36px; border-radius: 50%; object-fit: cover; flex: none; }
    .titles { flex: 1; min-width: 0; }
    .title { font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .operator { font-size: 12px; opacity: .9; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    header button {
      width: 30px; height: 30px; border: 0; border-radius: 6px; background: transparent;
      color: inherit; font-size: 18px; line-height: 1; cursor: pointer;
    }
    header button:hover { background: rgba(255, 255, 255, .2); }
    .grip { position: absolute; top: 0; width: 16px; height: 16px; z-index: 1; }
    .right .grip { left: 0; cursor: nwse-resize; }
    .left .grip { right: 0; cursor: nesw-resize; }
    .body { display: flex; flex-direction: column; flex: 1; min-height: 0; }
    .notice { margin: 0; padding: 8px 12px; font-size: 13px; background: #fff8c5; color: #3b2300; }
    .notice.error { background: #ffebe9; color: #82071e; }
    .messages {
      flex: 1; min-height: 0; overflow-y: auto; margin: 0; padding: 12px; list-style: none;
      display: flex; flex-direction: column; gap: 8px;
    }
    .message {
      max-width: 85%; padding: 8px 10px; border-radius: 12px; white-space: pre-wrap;
      overflow-wrap: anywhere;
    }
    .message a { color: inherit; text-decoration: underline; }
    .from-visitor { align-self: flex-end; background: var(--accent); color: var(--accent-text); }
    .from-agent { align-self: flex-start; background: #eef1f4; }
    .from-system { align-self: center; background: transparent; color: #57606a; font-style: italic; }
    .from-visitor.failed { opacity: .75; box-shadow: 0 0 0 2px #d1242f; }
    .author { display: block; font-size: 11px; font-weight: 600; opacity: .8; }
    .meta { display: block; margin-top: 2px; font-size: 11px; opacity: .8; text-align: right; }
    .ended { align-self: center; color: #57606a; font-size: 12px; text-align: center; }
    .rating { align-self: stretch; padding: 8px 10px; border-radius: 12px; background: #eef1f4; }
    .rating p { margin: 0 0 4px; }
    .rating .scale { font-size: 12px; color: #57606a; }
    .rating form { display: flex; flex-direction: column; gap: 6px; padding: 0; border: 0; }
    .rating .stars { display: flex; gap: 4px; }
    .rating .star {
      padding: 0 4px; border: 0; background: transparent; color: #afb8c1; font-size: 24px;
      line-height: 1; cursor: pointer;
    }
    .rating .star.on { color: #bf8700; }
    .rating textarea { flex: none; height: 48px; }
    .rating button[type="submit"] { padding: 8px 14px; align-self: flex-start; }
    .typing { margin: 0; padding: 0 12px 6px; color: #57606a; font-size: 12px; font-style: italic; }
    .file { display: flex; flex-direction: column; gap: 4px; }
    .file img { display: block; max-width: 200px; max-height: 160px; border-radius: 6px; background: #fff; }
    .file .size { font-size: 11px; opacity: .8; }
    form button.attach {
      padding: 0 10px; background: transparent; color: #57606a; font-size: 18px; font-weight: 400;
    }
    .window.dropping .body { outline: 3px dashed var(--accent); outline-offset: -6px; }
    .invitation {
      position: fixed; z-index: 2147483002; bottom: calc(var(--offset-y) + 60px); width: 280px;
      max-width: calc(100vw - 16px); padding: 12px; border-radius: 12px; background: #fff;
      color: #1f2328; box-shadow: 0 8px 32px rgba(0, 0, 0, .3);
      font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
    }
    .right .invitation { right: var(--offset-x); }
    .left .invitation { left: var(--offset-x); }
    .invitation p { margin: 0 0 10px; white-space: pre-wrap; overflow-wrap: anywhere; }
    .invitation .from { margin-bottom: 4px; font-size: 12px; font-weight: 600; color: #57606a; }
    .invitation .actions { display: flex; gap: 8px; }
    .invitation button {
      padding: 6px 12px; border: 0; border-radius: 8px; font: inherit; cursor: pointer;
    }
    .invitation .accept { background: var(--accent); color: var(--accent-text); font-weight: 600; }
    .invitation .decline { background: #eef1f4; color: #1f2328; }
    .panel { flex: 1; min-height: 0; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 10px; }
    .panel p { margin: 0; }
    .panel form, .contacts form { display: flex; flex-direction: column; gap: 8px; padding: 0; border: 0; }
    .field { display: flex; flex-direction: column; gap: 2px; font-size: 13px; }
    .field input, .field textarea {
      padding: 6px 8px; font: inherit; color: inherit; background: #fff; border: 1px solid #d0d7de;
      border-radius: 6px;
    }
    .field textarea { height: 72px; resize: vertical; }
    .field [aria-invalid="true"] { border-color: #d1242f; box-shadow: 0 0 0 1px #d1242f; }
    .panel form button, .contacts form button { padding: 8px 14px; align-self: flex-start; }
    .contacts { align-self: stretch; padding: 8px 10px; border-radius: 12px; background: #eef1f4; }
    form { display: flex; gap: 8px; padding: 8px; border-top: 1px solid #d0d7de; flex: none; }
    textarea {
      flex: 1; height: 42px; max-height: 120px; padding: 8px; resize: none; font: inherit;
      color: inherit; background: #fff; border: 1px solid #d0d7de; border-radius: 8px;
    }
    form button {
      padding: 0 14px; border: 0; border-radius: 8px; background: var(--accent);
      color: var(--accent-text); font: inherit; font-weight: 600; cursor: pointer;
    }
    form button:disabled, textarea:disabled { opacity: .5; cursor: not-allowed; }
    @media (max-width: 480px) {
      .window, .right .window, .left .window {
        inset: 0; width: 100%; height: 100%; max-width: none; border-radius: 0;
      }
      .window.minimized { inset: auto 0 0 0; height: auto; }
      header { cursor: default; }
      .grip { display: none; }
    }
  `;

  // --- the widget ------------------------------------------------------------------

  class Widget {
    constructor(config) {
      this.config = config;
      this.texts = config.texts;
      this.look = config.look;
      this.side = this.look.position === "bottom-left" ? "left" : "right";

      // The conversation as far as this page knows it. `generation` counts the
      // conversations shown here: a new one after `closed` numbers its seqs from 1.
      this.messages = new Map(); // server message id -> message (+ generation)
      this.pending = new Map(); // client_msg_id -> { text, status: sending|sent|failed, seq }
      this.generation = 0;
      this.lastSeq = 0;
      this.conversationId = null;
      this.agentReadUpTo = 0;
      this.readUpTo = 0; // the visitor's read mark, as sent or as the server had it
      this.isAgentTyping = false;
      this.agentName = "";
      this.isEnded = false; // the last conversation shown here has ended
      this.endedReason = "ended"; // why, from its `closed` frame
      this.welcomed = null; // the conversation the last `welcome` described
      // CSAT (F-CH-8): after `closed` the visitor may rate the chat: null (not asked),
      // "asking", "sending" or "saved".
      this.rating = null;
      this.ratingItem = null;

      // The forms (F-CH-2; PROTOCOL.md, Forms). `agentsAvailable` is the last `welcome`'s
      // word; the offline form shows only once one has said no.
      this.forms = config.forms;
      this.formTexts = config.form_texts;
      this.agentsAvailable = true;
      this.agentsKnown = false;
      this.panelMode = null;
      this.detailsFor = null; // "prechat" or "contacts" while a `details` frame is out
      this.question = null; // sent as the first message once the pre-chat form is saved
      this.offline = null; // the `offline_message` not yet received
      this.offlineDone = false;
      this.waitStart = null;
      this.waitTimers = [];
      this.isHoldingShown = false;
      this.isContactsShown = false;
      this.contactsSaved = false;
      this.contactsItem = null;

      this.socket = null;
      this.isWelcomed = false;
      this.justWelcomed = false;
      this.isRefused = false;
      this.backoff = BACKOFF_FIRST_MS;
      this.reconnectTimer = null;
      this.lastSentAt = 0;
      this.typingSentAt = 0;
      this.isTypingSent = false;
      this.errorTimer = null;
      this.titleMark = null; // "(2) " while the page's title counts unread messages
      this.audio = null; // made on the visitor's first click: browsers allow sound then
      this.beepedAt = 0;
      // Files (F-CH-6; PROTOCOL.md, Files): uploads in flight by client_msg_id, and the
      // downloaded files' object URLs by file id (fetched with the visitor's id).
      this.fileLimits = config.files || { max_bytes: 0, kinds: [] };
      this.fileTexts = config.file_texts || {};
      this.uploads = new Map();
      this.fileUrls = new Map(); // file id -> object URL, once read
      this.fileLoads = new Map(); // file id -> the promise of its object URL
      // Tracking and invitations (PROTOCOL.md, Visitor tracking and Invitations): the
      // page as last reported, and the invitation shown (null: none).
      this.reportedPage = null;
      this.invitationShown = null;

      const saved = store.read();
      for (const item of Array.isArray(saved.outbox) ? saved.outbox : []) {
        if (item && ID_PATTERN.test(item.id) && typeof item.text === "string" && item.text.trim()) {
          this.pending.set(item.id, { text: item.text.slice(0, MAX_TEXT), status: "sending", seq: null });
        }
      }
      this.hasDetails = saved.hasDetails === true; // the pre-chat form was answered here
      this.isOpen = saved.isOpen === true;
      this.isMinimized = saved.isMinimized === true;
      const place = saved.window || {};
      this.place = {
        x: Number.isFinite(place.x) ? place.x : this.look.offset_x,
        y: Number.isFinite(place.y) ? place.y : this.look.offset_y,
        width: Number.isFinite(place.width) ? place.width : 360,
        height: Number.isFinite(place.height) ? place.height : 520,
      };
    }

    // --- drawing ---------------------------------------------------------------------

    mount() {
      this.host = h("parley-chat", {});
      this.host.style.cssText = "all: initial;";
      const root = this.host.attachShadow({ mode: "open" });
      this.frame = h("div", { class: this.side, part: "widget" });
      this.frame.style.setProperty("--accent", this.look.accent_color);
      this.frame.style.setProperty("--accent-text", this.look.accent_text_color);
      this.frame.style.setProperty("--offset-x", `${this.look.offset_x}px`);
      this.frame.style.setProperty("--offset-y", `${this.look.offset_y}px`);

      this.badge = h("span", { class: "badge", hidden: true });
      this.launcher = h("button", { type: "button", class: "launcher", onclick: () => this.open() },
        h("span", {}, this.texts.button), this.badge);

      this.photo = this.look.operator_photo_url
        ? h("img", { class: "photo", src: this.look.operator_photo_url, alt: "",
          onerror: (event) => { event.target.hidden = true; } }) // no broken-image icon
        : null;
      this.operatorLine = h("div", { class: "operator" });
      this.headerBadge = h("span", { class: "badge", hidden: true });
      this.minimizeButton = h("button", { type: "button", class: "minimize",
        onclick: () => this.toggleMinimized() }, "–");
      const closeButton = h("button", { type: "button", class: "close", title: this.texts.close,
        "aria-label": this.texts.close, onclick: () => this.close() }, "×");
      this.header = h("header", {}, this.photo,
        h("div", { class: "titles" }, h("div", { class: "title" }, this.texts.title), this.operatorLine),
        this.headerBadge, this.minimizeButton, closeButton);
      this.header.addEventListener("pointerdown", (event) => this.startDrag(event));
      const grip = h("div", { class: "grip", "aria-hidden": "true" });
      grip.addEventListener("pointerdown", (event) => this.startResize(event));

      this.notice = h("p", { class: "notice", role: "status", hidden: true });
      this.list = h("ol", { class: "messages", "aria-live": "polite" });
      this.typing = h("p", { class: "typing", hidden: true }, this.texts.typing);
      this.input = h("textarea", { rows: 1, maxlength: MAX_TEXT, placeholder: this.texts.placeholder,
        "aria-label": this.texts.placeholder });
      this.input.addEventListener("input", () => this.typed());
      this.input.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          this.send();
        }
      });
      this.sendButton = h("button", { type: "submit" }, this.texts.send);
      this.fileInput = h("input", { type: "file", hidden: true, accept: acceptFor(this.fileLimits.kinds),
        onchange: () => {
          for (const file of this.fileInput.files) this.sendFile(file);
          this.fileInput.value = "";
        } });
      this.attachButton = h("button", { type: "button", class: "attach", title: this.fileTexts.attach,
        "aria-label": this.fileTexts.attach, hidden: !this.fileLimits.kinds.length,
        onclick: () => this.fileInput.click() }, "📎");
      const form = h("form", { onsubmit: (event) => { event.preventDefault(); this.send(); } },
        this.fileInput, this.attachButton, this.input, this.sendButton);
      this.composer = form;
      this.panel = h("div", { class: "panel", hidden: true });

      this.window = h("section", { class: "window", role: "dialog", "aria-label": this.texts.title },
        grip, this.header,
        h("div", { class: "body" }, this.notice, this.panel, this.list, this.typing, form));

      this.watchDrops();
      const style = h("style", {});
      style.textContent = STYLE;
      this.invitationBox = h("div", { class: "invitation", role: "dialog", hidden: true });
      this.frame.append(this.launcher, this.window, this.invitationBox);
      root.append(style, this.frame);
      document.body.append(this.host);

      this.placeWindow();
      window.addEventListener("resize", () => this.placeWindow());
      document.addEventListener("visibilitychange", () => this.markRead());
      window.addEventListener("online", () => this.reconnectNow());
      window.addEventListener("storage", (event) => {
        if (event.key === storeKey) this.adoptOutbox();
      });
      setInterval(() => this.heartbeat(), 5000);
      this.watchPages();
      this.render();
      this.connect();
    }

    placeWindow() {
      const maxWidth = Math.max(MIN_WIDTH, window.innerWidth - 16);
      const maxHeight = Math.max(MIN_HEIGHT, window.innerHeight - 16);
      const width = Math.min(Math.max(this.place.width, MIN_WIDTH), maxWidth);
      const height = Math.min(Math.max(this.place.height, MIN_HEIGHT), maxHeight);
      const x = Math.min(Math.max(this.place.x, 0), Math.max(0, window.innerWidth - width));
      const y = Math.min(Math.max(this.place.y, 0), Math.max(0, window.innerHeight - height));
      this.place = { x, y, width, height };
      const style = this.window.style;
      style.setProperty("--window-x", `${x}px`);
      style.setProperty("--window-y", `${y}px`);
      style.setProperty("--window-width", `${width}px`);
      style.setProperty("--window-height", `${height}px`);
    }

    savePlace() {
      store.update((data) => { data.window = this.place; });
    }

    // Drag by the header: the window keeps its corner (offsets grow away from it).
    startDrag(event) {
      if (NARROW.matches || event.button !== 0 || event.target.closest("button")) return;
      event.preventDefault();
      const start = { x: event.clientX, y: event.clientY, place: { ...this.place } };
      const direction = this.side === "right" ? -1 : 1;
      this.follow(event, (move) => {
        this.place.x = start.place.x + direction * (move.clientX - start.x);
        this.place.y = start.place.y - (move.clientY - start.y);
        this.placeWindow();
      });
    }

    // Resize by the grip in the top corner away from the window's anchor.
    startResize(event) {
      if (NARROW.matches || event.button !== 0) return;
      event.preventDefault();
      event.stopPropagation();
      const start = { x: event.clientX, y: event.clientY, place: { ...this.place } };
      const direction = this.side === "right" ? -1 : 1;
      this.follow(event, (move) => {
        this.place.width = start.place.width + direction * (move.clientX - start.x);
        this.place.height = start.place.height - (move.clientY - start.y);
        this.placeWindow();
      });
    }

    follow(event, onMove) {
      const target = event.currentTarget;
      target.setPointerCapture(event.pointerId);
      const move = (moved) => onMove(moved);
      const done = () => {
        target.removeEventListener("pointermove", move);
        target.removeEventListener("pointerup", done);
        target.removeEventListener("pointercancel", done);
        this.savePlace();
      };
      target.addEventListener("pointermove", move);
      target.addEventListener("pointerup", done);
      target.addEventListener("pointercancel", done);
    }

    open() {
      this.hideInvitation();
      this.unlockSound();
      this.isOpen = true;
      this.isMinimized = false;
      this.saveWindowState();
      this.render();
      this.input.focus();
      this.markRead();
    }

    close() {
      this.isOpen = false;
      this.saveWindowState();
      this.render();
      this.launcher.focus();
    }

    toggleMinimized() {
      this.isMinimized = !this.isMinimized;
      this.saveWindowState();
      this.render();
      this.markRead();
    }

    saveWindowState() {
      store.update((data) => {
        data.isOpen = this.isOpen;
        data.isMinimized = this.isMinimized;
      });
    }

    isReading() {
      return this.isOpen && !this.isMinimized && document.visibilityState === "visible";
    }

    unreadCount() {
      let count = 0;
      for (const message of this.messages.values()) {
        if (message.generation === this.generation && message.author.kind !== "visitor" &&
            message.seq > this.readUpTo) count += 1;
      }
      return count;
    }

    render() {
      this.window.hidden = !this.isOpen;
      this.window.classList.toggle("minimized", this.isMinimized);
      this.launcher.hidden = this.isOpen;
      const restoreText = this.isMinimized ? this.texts.restore : this.texts.minimize;
      this.minimizeButton.title = restoreText;
      this.minimizeButton.setAttribute("aria-label", restoreText);
      this.minimizeButton.textContent = this.isMinimized ? "□" : "–";

      const operator = this.look.operator_name || this.agentName;
      this.operatorLine.textContent = operator;
      this.operatorLine.hidden = !operator;

      const unread = this.unreadCount();
      this.badge.hidden = unread === 0;
      this.badge.textContent = String(unread);
      this.badge.setAttribute("aria-label", `${this.texts.unread}: ${unread}`);
      this.markTitle(unread > 0 && document.visibilityState === "hidden" ? unread : 0);
      this.headerBadge.hidden = unread === 0 || !this.isMinimized;
      this.headerBadge.textContent = String(unread);
      this.headerBadge.setAttribute("aria-label", `${this.texts.unread}: ${unread}`);

      this.typing.hidden = !this.isAgentTyping;
      this.input.disabled = this.isRefused;
      this.sendButton.disabled = this.isRefused;
      this.attachButton.disabled = this.isRefused;
      this.renderPanel();
      this.updateWaiting();
      this.renderMessages();
    }

    // --- the forms (F-CH-2) -------------------------------------------------------------

    hasConversation() {
      return this.conversationId !== null || this.lastSeq > 0 || this.pending.size > 0;
    }

    // What the window shows instead of the chat, if anything.
    mode() {
      if (this.hasConversation()) return "chat";
      if (this.offlineDone) return "offline-done";
      if (this.agentsKnown && !this.agentsAvailable && this.forms.offline_form_enabled) return "offline";
      if (this.forms.prechat_fields.length && !this.hasDetails) return "prechat";
      return "chat";
    }

    field(name, isRequired) {
      const text = this.formTexts[name];
      const label = isRequired ? `${text} (${this.formTexts.required})` : text;
      const attributes = { name, required: isRequired, "aria-label": text };
      const control = name === "question" || name === "message"
        ? h("textarea", { ...attributes, maxlength: MAX_TEXT })
        : h("input", { ...attributes, type: { email: "email", phone: "tel" }[name] || "text",
          maxlength: { email: 320, phone: 40 }[name] || 100,
          autocomplete: { name: "name", email: "email", phone: "tel" }[name] });
      control.addEventListener("input", () => control.removeAttribute("aria-invalid"));
      return h("label", { class: "field" }, h("span", {}, label), control);
    }

    // The filled fields of a form, trimmed and bounded, by name.
    values(form, names) {
      const values = {};
      for (const name of names) {
        const control = form.elements.namedItem(name);
        const value = control ? bounded(control.value.trim(), name === "question" || name === "message" ? MAX_TEXT : 320) : "";
        if (value) values[name] = value;
      }
      return values;
    }

    renderPanel() {
      const mode = this.mode();
      this.panel.hidden = mode === "chat";
      this.list.hidden = mode !== "chat";
      this.composer.hidden = mode !== "chat";
      if (mode === this.panelMode) return; // keep what the visitor typed
      this.panelMode = mode;
      const texts = this.formTexts;
      if (mode === "prechat") {
        const required = new Set(this.forms.prechat_required);
        const form = h("form", { class: "prechat", onsubmit: (event) => {
          event.preventDefault();
          this.submitPrechat(event.currentTarget);
        } }, this.forms.prechat_fields.map((name) => this.field(name, required.has(name))),
        h("button", { type: "submit" }, texts.start));
        this.panel.replaceChildren(h("p", {}, texts.prechat_title), form);
      } else if (mode === "offline") {
        const form = h("form", { class: "offline", onsubmit: (event) => {
          event.preventDefault();
          this.submitOffline(event.currentTarget);
        } }, ["name", "email", "message"].map((name) => this.field(name, true)),
        h("button", { type: "submit" }, texts.offline_send));
        this.panel.replaceChildren(h("p", {}, texts.offline_title), form);
      } else if (mode === "offline-done") {
        this.panel.replaceChildren(h("p", { class: "offline-sent" }, texts.offline_sent));
      } else {
        this.panel.replaceChildren();
      }
    }

    submitPrechat(form) {
      const values = this.values(form, this.forms.prechat_fields);
      this.question = values.question || null;
      this.detailsFor = "prechat";
      if (!this.sendFrame({ type: "details", ...values })) this.showNotice(this.texts.retry_hint);
    }

    submitOffline(form) {
      const values = this.values(form, ["name", "email", "message"]);
      this.offline = { type: "offline_message", client_msg_id: newMessageId(), name: values.name || "",
        email: values.email || "", text: values.message || "" };
      if (!this.sendFrame(this.offline)) this.showNotice(this.texts.retry_hint);
    }

    submitContacts(form) {
      const values = this.values(form, ["name", "email", "phone"]);
      this.detailsFor = "contacts";
      if (!this.sendFrame({ type: "details", ...values })) this.showNotice(this.texts.retry_hint);
    }

    detailsSaved() {
      if (this.detailsFor === "prechat") {
        this.hasDetails = true;
        store.update((data) => { data.hasDetails = true; });
        const question = this.question;
        this.question = null;
        if (question) this.queueMessage(question);
      } else if (this.detailsFor === "contacts") {
        this.contactsSaved = true;
        this.contactsItem = null;
      }
      this.detailsFor = null;
      this.hideNotice();
      this.render();
    }

    offlineReceived(frame) {
      if (!this.offline || frame.client_msg_id !== this.offline.client_msg_id) return;
      this.offline = null;
      this.offlineDone = true;
      this.hideNotice();
      this.render();
    }

    // A refused form: its fields named by the server are marked.
    markInvalid(fields) {
      for (const item of fields) {
        const name = String(item.field || "").split(".")[1];
        if (!["name", "email", "phone", "question"].includes(name) && name !== "text") continue;
        const control = this.window.querySelector(
          `form [name="${name === "text" ? "message" : name}"]`);
        if (control) control.setAttribute("aria-invalid", "true");
      }
    }

    // The holding text and the prompt to leave contacts, while the visitor's messages
    // have no agent's answer (counted from the first of them).
    updateWaiting() {
      let first = null;
      let hasAgent = false;
      for (const message of this.messages.values()) {
        if (message.generation !== this.generation) continue;
        if (message.author.kind === "agent") hasAgent = true;
        if (message.author.kind === "visitor" && (first === null || message.seq < first.seq)) first = message;
      }
      const isWaiting = !hasAgent && (first !== null || this.pending.size > 0);
      if (!isWaiting) {
        for (const timer of this.waitTimers) clearTimeout(timer);
        this.waitTimers = [];
        this.waitStart = null;
        this.isHoldingShown = false;
        this.isContactsShown = false;
        return;
      }
      if (this.waitStart !== null) return;
      const sentAt = first ? Date.parse(first.sent_at) : NaN;
      this.waitStart = Number.isNaN(sentAt) ? Date.now() : Math.min(sentAt, Date.now());
      const after = (seconds, show) => {
        const wait = Math.max(0, this.waitStart + seconds * 1000 - Date.now());
        this.waitTimers.push(setTimeout(() => { show(); this.render(); }, wait));
      };
      after(this.forms.holding_after_seconds, () => { this.isHoldingShown = true; });
      after(this.forms.contacts_after_seconds, () => { this.isContactsShown = true; });
    }

    waitingItems() {
      const items = [];
      if (this.isHoldingShown) {
        items.push(h("li", { class: "message from-system holding" }, this.formTexts.holding));
      }
      if (this.isContactsShown) {
        if (this.contactsSaved) {
          items.push(h("li", { class: "message from-system" }, this.formTexts.contacts_saved));
        } else {
          if (!this.contactsItem) {
            const form = h("form", { onsubmit: (event) => {
              event.preventDefault();
              this.submitContacts(event.currentTarget);
            } }, ["name", "email", "phone"].map((name) => this.field(name, false)),
            h("button", { type: "submit" }, this.formTexts.contacts_send));
            this.contactsItem = h("li", { class: "contacts" },
              h("p", {}, this.formTexts.contacts_prompt), form);
          }
          items.push(this.contactsItem);
        }
      }
      return items;
    }

    renderMessages() {
      const isAtBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
      const items = [];
      const ordered = [...this.messages.values()].sort(
        (a, b) => a.generation - b.generation || a.seq - b.seq);
      let generation = null;
      for (const message of ordered) {
        if (generation !== null && message.generation !== generation) {
          items.push(h("li", { class: "ended" }, this.texts.ended));
        }
        generation = message.generation;
        items.push(this.messageItem(message));
      }
      if (this.isEnded && ordered.length && generation === this.generation - 1) {
        items.push(h("li", { class: "ended" }, {
          inactivity: this.texts.ended_inactivity,
          banned: this.texts.ended_banned,
        }[this.endedReason] || this.texts.ended));
        const rating = this.ratingItemNow();
        if (rating) items.push(rating);
      }
      for (const [clientMsgId, item] of this.pending) {
        items.push(h("li", { class: `message from-visitor${item.status === "failed" ? " failed" : ""}`,
          "data-client-msg-id": clientMsgId },
        linkified(item.text),
        h("span", { class: "meta" }, {
          sending: this.texts.sending, sent: this.texts.sent, failed: this.texts.not_sent,
        }[item.status])));
      }
      for (const [clientMsgId, upload] of this.uploads) {
        items.push(h("li", { class: "message from-visitor uploading", "data-client-msg-id": clientMsgId },
          upload.name, h("span", { class: "meta" }, this.fileTexts.uploading)));
      }
      items.push(...this.waitingItems());
      this.list.replaceChildren(...items);
      if (isAtBottom || items.length <= 1) this.list.scrollTop = this.list.scrollHeight;
    }

    // The rating form after a chat ended (F-CH-8), or the thanks once it is saved.
    ratingItemNow() {
      if (this.rating === null) return null;
      if (this.rating === "saved") {
        return h("li", { class: "message from-system rating-thanks" }, this.texts.rating_thanks);
      }
      if (!this.ratingItem) {
        let chosen = 0;
        const stars = [1, 2, 3, 4, 5].map((value) => h("button", {
          type: "button", class: "star", "data-rating": value, "aria-pressed": "false",
          "aria-label": `${value} / 5`,
          onclick: () => {
            chosen = value;
            for (const star of stars) {
              const isOn = Number(star.dataset.rating) <= value;
              star.classList.toggle("on", isOn);
              star.setAttribute("aria-pressed", String(Number(star.dataset.rating) === value));
            }
            send.disabled = false;
          },
        }, "★"));
        const comment = h("textarea", { name: "comment", maxlength: 1000, rows: 2,
          "aria-label": this.texts.rating_comment, placeholder: this.texts.rating_comment });
        const send = h("button", { type: "submit", disabled: true }, this.texts.rating_send);
        const form = h("form", { onsubmit: (event) => {
          event.preventDefault();
          if (!chosen || this.rating !== "asking") return;
          const frame = { type: "rating", rating: chosen };
          if (comment.value.trim()) frame.comment = bounded(comment.value.trim(), 1000);
          if (this.sendFrame(frame)) this.rating = "sending";
          else this.showNotice(this.texts.retry_hint);
        } },
        h("div", { class: "stars", role: "group", "aria-label": this.texts.rating_scale }, stars),
        comment, send);
        this.ratingItem = h("li", { class: "rating" },
          h("p", {}, this.texts.rating_title), h("p", { class: "scale" }, this.texts.rating_scale), form);
      }
      return this.ratingItem;
    }

    messageItem(message) {
      const kind = message.author.kind;
      const item = h("li", { class: `message from-${kind}`, "data-seq": message.seq });
      if (kind === "agent" && message.author.name) {
        item.append(h("span", { class: "author" }, message.author.name));
      }
      if (message.file && typeof message.file.id === "string") item.append(this.fileView(message.file));
      else item.append(...linkified(message.text));
      const time = new Date(message.sent_at);
      let meta = Number.isNaN(time.getTime())
        ? ""
        : time.toLocaleTimeString(this.config.language, { hour: "2-digit", minute: "2-digit" });
      if (kind === "visitor" && message.generation === this.generation) {
        meta += ` · ${message.seq <= this.agentReadUpTo ? this.texts.read : this.texts.sent}`;
      }
      if (meta) item.append(h("span", { class: "meta" }, meta));
      return item;
    }

    // --- files (F-CH-6) ----------------------------------------------------------------

    // Drop a file anywhere on the window to send it.
    watchDrops() {
      const hasFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");
      let depth = 0;
      this.window.addEventListener("dragenter", (event) => {
        if (!hasFiles(event) || !this.canSendFiles()) return;
        event.preventDefault();
        depth += 1;
        this.window.classList.add("dropping");
        this.window.title = this.fileTexts.drop;
      });
      this.window.addEventListener("dragover", (event) => {
        if (hasFiles(event) && this.canSendFiles()) event.preventDefault();
      });
      const leave = () => {
        depth = Math.max(0, depth - 1);
        if (!depth) {
          this.window.classList.remove("dropping");
          this.window.removeAttribute("title");
        }
      };
      this.window.addEventListener("dragleave", leave);
      this.window.addEventListener("drop", (event) => {
        if (!hasFiles(event)) return;
        event.preventDefault();
        depth = 1;
        leave();
        if (!this.canSendFiles()) return;
        for (const file of event.dataTransfer.files) this.sendFile(file);
      });
    }

    canSendFiles() {
      return this.fileLimits.kinds.length > 0 && !this.isRefused && this.mode() === "chat";
    }

    // Upload `file` as a message of the conversation; the server checks it again (its
    // type by its bytes), and its `message` frame comes over the socket.
    async sendFile(file) {
      if (!this.canSendFiles()) return;
      const visitorId = store.read().visitorId;
      if (!this.isWelcomed || typeof visitorId !== "string") {
        this.showNotice(this.texts.retry_hint, { hideAfter: ERROR_SHOWN_MS });
        return;
      }
      if (file.size > this.fileLimits.max_bytes) {
        this.showFileError("file_too_large");
        return;
      }
      this.unlockSound();
      const clientMsgId = newMessageId();
      this.uploads.set(clientMsgId, { name: file.name });
      this.render();
      this.list.scrollTop = this.list.scrollHeight;
      const form = new FormData();
      form.append("visitor_id", visitorId);
      form.append("client_msg_id", clientMsgId);
      form.append("file", file, file.name);
      try {
        const response = await fetch(`${filesUrl}`, { method: "POST", body: form, credentials: "omit", mode: "cors" });
        if (!response.ok) {
          const body = await response.json().catch(() => null);
          this.showFileError(body && body.error ? body.error.code : "");
        }
      } catch {
        this.showFileError("");
      } finally {
        this.uploads.delete(clientMsgId);
        this.render();
      }
    }

    showFileError(code) {
      const size = formatSize(this.fileLimits.max_bytes, this.config.language);
      const text = {
        file_too_large: (this.fileTexts.too_large || "").replace("{size}", size),
        file_type_not_allowed: this.fileTexts.wrong_type,
        rate_limited: this.texts.error_rate_limited,
      }[code] || this.fileTexts.failed;
      this.showNotice(text, { isError: true, hideAfter: ERROR_SHOWN_MS });
    }

    // The file's bytes as an object URL, fetched once with the visitor's id (the header
    // keeps it out of URLs); the promise is kept, so a failure can be tried again.
    loadFile(file) {
      let loading = this.fileLoads.get(file.id);
      if (!loading) {
        const visitorId = store.read().visitorId;
        loading = fetch(`${filesUrl}/${encodeURIComponent(file.id)}`, {
          headers: { "X-Parley-Visitor": String(visitorId || "") }, credentials: "omit", mode: "cors",
        }).then((response) => {
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          return response.blob();
        }).then((blob) => {
          const url = URL.createObjectURL(blob);
          this.fileUrls.set(file.id, url);
          return url;
        }).catch((error) => {
          // Not again on every redraw: a click or a later message may retry in a while.
          setTimeout(() => this.fileLoads.delete(file.id), ERROR_SHOWN_MS);
          throw error;
        });
        this.fileLoads.set(file.id, loading);
      }
      return loading;
    }

    fileView(file) {
      const url = this.fileUrls.get(file.id) || null;
      if (file.is_image && !url && !this.fileLoads.has(file.id)) {
        this.loadFile(file).then(() => this.render(), (error) =>
          console.warn("Parley chat: the file could not be read:", error.message));
      }
      const link = h("a", { class: "download", href: url || "#", download: file.name,
        title: `${this.fileTexts.download}: ${file.name}`,
        onclick: (event) => {
          if (this.fileUrls.get(file.id)) return; // the browser saves it
          event.preventDefault();
          this.loadFile(file).then((ready) => {
            const save = h("a", { href: ready, download: file.name, hidden: true });
            this.window.append(save);
            save.click();
            save.remove();
          }, () => this.showFileError(""));
        } }, file.name);
      return h("span", { class: "file" },
        file.is_image && url ? h("img", { src: url, alt: file.name }) : null,
        link, h("span", { class: "size" }, formatSize(file.size, this.config.language)));
    }

    showNotice(text, { isError = false, hideAfter = 0 } = {}) {
      clearTimeout(this.errorTimer);
      const isAtBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
      this.notice.textContent = text;
      this.notice.classList.toggle("error", isError);
      this.notice.hidden = false;
      if (isAtBottom) this.list.scrollTop = this.list.scrollHeight; // it took some height
      if (hideAfter) this.errorTimer = setTimeout(() => this.hideNotice(), hideAfter);
    }

    hideNotice() {
      clearTimeout(this.errorTimer);
      this.notice.hidden = true;
    }

    // --- notifications (F-CH-4) -------------------------------------------------------

    pageTitle() {
      const title = document.title;
      return this.titleMark && title.startsWith(this.titleMark) ? title.slice(this.titleMark.length) : title;
    }

    // While the page is in the background, its title counts the unread messages.
    markTitle(count) {
      const base = this.pageTitle();
      const mark = count > 0 ? `(${count}) ` : null;
      if (mark === this.titleMark) return;
      this.titleMark = mark;
      document.title = (mark || "") + base;
    }

    unlockSound() {
      if (this.audio || typeof window.AudioContext !== "function") return;
      try {
        this.audio = new window.AudioContext();
      } catch {
        this.audio = null;
      }
    }

    // A short, soft tone for a message the visitor is not looking at (once a second).
    beep() {
      const now = Date.now();
      if (!this.audio || this.audio.state !== "running" || now - this.beepedAt < 1000) return;
      this.beepedAt = now;
      const tone = this.audio.createOscillator();
      const volume = this.audio.createGain();
      tone.frequency.value = 880;
      volume.gain.setValueAtTime(0.08, this.audio.currentTime);
      volume.gain.exponentialRampToValueAtTime(0.0001, this.audio.currentTime + 0.25);
      tone.connect(volume).connect(this.audio.destination);
      tone.start();
      tone.stop(this.audio.currentTime + 0.25);
    }

    // --- the socket ------------------------------------------------------------------

    connect() {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      this.isWelcomed = false;
      let socket;
      try {
        socket = new WebSocket(socketUrl);
      } catch {
        this.scheduleReconnect(0);
        return;
      }
      this.socket = socket;
      socket.addEventListener("open", () => this.sendHello());
      socket.addEventListener("message", (event) => {
        let frame = null;
        try {
          frame = JSON.parse(event.data);
        } catch {
          return;
        }
        if (frame && typeof frame === "object") this.receive(frame);
      });
      socket.addEventListener("close", (event) => {
        if (this.socket === socket) this.dropped(event.code);
      });
    }

    dropped(code) {
      this.socket = null;
      this.isWelcomed = false;
      this.isAgentTyping = false;
      if (code === CLOSE_FORBIDDEN) {
        // Refused (widget switched off, site no longer allowed): retrying cannot help.
        this.isRefused = true;
        setState("unavailable");
        this.showNotice(this.texts.unavailable, { isError: true });
        this.render();
        return;
      }
      if (code === CLOSE_RATE_LIMITED) {
        // The error frame before this close said why: keep saying it until `welcome`.
        this.showNotice(this.texts.error_rate_limited, { isError: true });
      } else {
        this.showNotice(this.texts.reconnecting);
      }
      this.render();
      this.scheduleReconnect(code === CLOSE_RATE_LIMITED ? RATE_LIMITED_WAIT_MS : 0);
    }

    scheduleReconnect(atLeast) {
      if (this.reconnectTimer !== null || this.isRefused) return;
      const wait = Math.max(atLeast, this.backoff * (0.5 + Math.random() / 2));
      this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
      this.reconnectTimer = setTimeout(() => this.connect(), wait);
    }

    reconnectNow() {
      if (this.socket === null && !this.isRefused) {
        this.backoff = BACKOFF_FIRST_MS;
        this.connect();
      }
    }

    sendFrame(frame) {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
      this.socket.send(JSON.stringify(frame));
      this.lastSentAt = Date.now();
      return true;
    }

    heartbeat() {
      if (this.isWelcomed && Date.now() - this.lastSentAt >= HEARTBEAT_MS) {
        this.sendFrame({ type: "heartbeat" });
      }
    }

    // A single-page site changes its address without a reload: report it as `page_view`
    // (and a new title of the same page), at most once a second (PROTOCOL.md limits).
    watchPages() {
      const changed = () => setTimeout(() => this.reportPage(), 0);
      for (const name of ["pushState", "replaceState"]) {
        const original = history[name];
        history[name] = function (...args) {
          const result = original.apply(this, args);
          changed();
          return result;
        };
      }
      window.addEventListener("popstate", changed);
      window.addEventListener("hashchange", changed);
      const title = document.querySelector("title");
      if (title) new MutationObserver(changed).observe(title, { childList: true, characterData: true, subtree: true });
    }

    currentPage() {
      return { url: bounded(location.href, 2048), title: bounded(this.pageTitle(), 300) };
    }

    reportPage() {
      const page = this.currentPage();
      const last = this.reportedPage;
      if (!this.isWelcomed || !page.url || (last && last.url === page.url && last.title === page.title)) return;
      if (this.pageTimer) return; // one report a second at most; the latest page wins
      this.pageTimer = setTimeout(() => { this.pageTimer = null; this.reportPage(); }, 1000);
      if (this.sendFrame({ type: "page_view", page })) this.reportedPage = page;
      if (!last || last.url !== page.url) this.hideInvitation();
    }

    invited(frame) {
      if (typeof frame.text !== "string" || !frame.text || this.isOpen) return;
      const from = typeof frame.agent_name === "string" && frame.agent_name
        ? h("p", { class: "from" }, frame.agent_name) : null;
      const accept = h("button", { type: "button", class: "accept",
        onclick: () => { this.hideInvitation(); this.open(); } }, this.texts.invitation_accept);
      const decline = h("button", { type: "button", class: "decline",
        onclick: () => this.declineInvitation() }, this.texts.invitation_decline);
      this.invitationBox.replaceChildren(from || "", h("p", { class: "text" }, frame.text),
        h("div", { class: "actions" }, accept, decline));
      this.invitationBox.setAttribute("aria-label", frame.text);
      this.invitationShown = frame.text;
      this.invitationBox.hidden = false;
      this.beep();
    }

    declineInvitation() {
      // "No, thanks" is not a chat: the server only stops inviting on this page.
      this.sendFrame({ type: "decline_invitation" });
      this.hideInvitation();
    }

    hideInvitation() {
      this.invitationShown = null;
      if (this.invitationBox) this.invitationBox.hidden = true;
    }

    sendHello(resume = this.lastSeq) {
      this.reportedPage = this.currentPage();
      const hello = {
        type: "hello",
        resume,
        page: this.reportedPage,
        referrer: bounded(document.referrer, 2048),
      };
      const visitorId = store.read().visitorId;
      if (typeof visitorId === "string" && ID_PATTERN.test(visitorId)) hello.visitor_id = visitorId;
      const width = Math.round(window.screen.width);
      const height = Math.round(window.screen.height);
      if (width >= 1 && height >= 1 && width <= 100000 && height <= 100000) {
        hello.screen = { width, height };
      }
      const language = navigator.language || "";
      if (language.length <= 35 && LANGUAGE_PATTERN.test(language)) hello.language = language;
      this.sendFrame(hello);
    }

    receive(frame) {
      const wasJustWelcomed = this.justWelcomed;
      this.justWelcomed = false;
      switch (frame.type) {
        case "welcome": return this.welcome(frame);
        case "message": return this.message(frame);
        case "ack": return this.ack(frame);
        case "typing":
          this.isAgentTyping = frame.is_typing === true;
          return this.render();
        case "read":
          this.agentReadUpTo = Math.max(this.agentReadUpTo, frame.up_to || 0);
          return this.render();
        case "error": return this.error(frame, wasJustWelcomed);
        case "closed": return this.closed(frame);
        case "rating_saved": return this.ratingSaved();
        case "details_saved": return this.detailsSaved();
        case "offline_received": return this.offlineReceived(frame);
        case "invitation": return this.invited(frame);
        default: return undefined; // a newer server's frame: not for this script
      }
    }

    welcome(frame) {
      store.update((data) => { data.visitorId = frame.visitor_id; });
      const conversation = frame.conversation;
      const hadConversation = this.conversationId !== null || this.lastSeq > 0;
      if (!conversation && hadConversation) {
        this.nextConversation(); // the one shown here ended while the socket was down
      } else if (conversation && this.lastSeq > 0 && conversation.id !== this.conversationId) {
        // Not known to be the conversation `resume` counted the seqs of (it may have
        // ended, and another tab started this one): ask for it whole. Known messages
        // are skipped by id; a seq starting over opens the next conversation (message).
        this.conversationId = conversation.id;
        this.sendHello(0);
        return;
      }
      this.isWelcomed = true;
      this.justWelcomed = true;
      this.backoff = BACKOFF_FIRST_MS;
      this.hideNotice();
      this.welcomed = conversation;
      this.agentsAvailable = frame.agents_available !== false;
      this.agentsKnown = true;
      if (this.offline) this.sendFrame(this.offline); // same id: one case however often
      if (conversation) {
        this.conversationId = conversation.id;
        this.agentReadUpTo = Math.max(this.agentReadUpTo, conversation.agent_read_up_to);
        this.readUpTo = Math.max(this.readUpTo, conversation.visitor_read_up_to);
        this.isAgentTyping = conversation.is_agent_typing === true;
      }
      // PROTOCOL.md: after reconnecting, the outbox goes again under the same ids.
      for (const [clientMsgId, item] of this.pending) {
        if (item.status === "sending") {
          this.sendFrame({ type: "message", client_msg_id: clientMsgId, text: item.text });
        }
      }
      this.render();
    }

    nextConversation() {
      if (this.lastSeq > 0 || this.conversationId !== null) this.generation += 1;
      this.isEnded = this.messages.size > 0;
      this.lastSeq = 0;
      this.conversationId = null;
      this.agentReadUpTo = 0;
      this.readUpTo = 0;
      this.isAgentTyping = false;
    }

    message(frame) {
      // Before `welcome` (a second `hello` is on its way) the replay is not ours.
      if (!this.isWelcomed) return;
      if (typeof frame.id !== "string" || this.messages.has(frame.id)) return; // seen already
      if (frame.seq <= this.lastSeq) {
        // Numbering started over: another conversation. If it is the one `welcome`
        // described (its replay), its marks are known.
        this.nextConversation();
        if (this.welcomed) {
          this.conversationId = this.welcomed.id;
          this.agentReadUpTo = this.welcomed.agent_read_up_to;
          this.readUpTo = this.welcomed.visitor_read_up_to;
        }
      }
      this.isEnded = false;
      this.messages.set(frame.id, { ...frame, generation: this.generation });
      this.lastSeq = frame.seq;
      if (frame.client_msg_id && this.pending.has(frame.client_msg_id)) {
        this.pending.delete(frame.client_msg_id);
        this.forgetSent(frame.client_msg_id);
      }
      if (frame.author && frame.author.kind === "agent") {
        this.isAgentTyping = false;
        if (frame.author.name) this.agentName = frame.author.name;
        if (!this.isReading() && frame.seq > this.readUpTo) this.beep();
      }
      this.render();
      this.markRead();
    }

    ack(frame) {
      const item = this.pending.get(frame.client_msg_id);
      if (item) {
        item.status = "sent";
        item.seq = frame.seq;
      }
      this.forgetSent(frame.client_msg_id);
      // Its `message` frame follows (and replaces it); after `closed` there may be none.
      this.render();
    }

    error(frame, wasJustWelcomed) {
      if (frame.code === "not_found" && wasJustWelcomed) {
        // `resume` was beyond the server's last message: drop the copy, ask again.
        for (const [id, message] of this.messages) {
          if (message.generation === this.generation) this.messages.delete(id);
        }
        this.lastSeq = 0;
        this.isWelcomed = false;
        this.sendHello();
        return;
      }
      if (frame.client_msg_id && this.pending.has(frame.client_msg_id)) {
        // Refused for good (too long, blank): shown as not sent, never resent.
        this.pending.get(frame.client_msg_id).status = "failed";
        this.forgetSent(frame.client_msg_id);
      }
      const fields = Array.isArray(frame.fields) ? frame.fields : [];
      if (fields.some((item) => /^(details|offline_message)\./.test(String(item.field)))) {
        // A form the server refused: say which fields, keep what was typed.
        this.markInvalid(fields);
        this.showNotice(this.formTexts.error_invalid, { isError: true, hideAfter: ERROR_SHOWN_MS });
        return;
      }
      const text = {
        bad_frame: this.texts.error_bad_frame,
        frame_too_large: this.texts.error_frame_too_large,
        rate_limited: this.texts.error_rate_limited,
        banned: this.texts.error_banned,
      }[frame.code] || this.texts.error_generic;
      if (this.rating === "sending") this.rating = "asking"; // the rating was refused
      this.showNotice(text, { isError: true, hideAfter: ERROR_SHOWN_MS });
      this.render();
    }

    closed(frame) {
      this.welcomed = null;
      this.endedReason = frame.reason;
      // A banned visitor is not asked to rate the chat.
      this.rating = frame.reason === "banned" ? null : "asking";
      this.ratingItem = null;
      this.nextConversation();
      this.render();
    }

    ratingSaved() {
      this.rating = "saved";
      this.render();
    }

    // --- the visitor's actions -------------------------------------------------------

    send() {
      const text = this.input.value;
      if (!text.trim() || this.isRefused) return;
      this.input.value = "";
      this.queueMessage(text);
    }

    queueMessage(text) {
      this.unlockSound();
      const clientMsgId = newMessageId();
      const boundedText = bounded(text, MAX_TEXT);
      this.pending.set(clientMsgId, { text: boundedText, status: "sending", seq: null });
      store.update((data) => {
        data.outbox = [...(Array.isArray(data.outbox) ? data.outbox : []),
          { id: clientMsgId, text: boundedText }];
      });
      this.input.value = "";
      this.isTypingSent = false; // the message ends the indicator (PROTOCOL.md)
      this.typingSentAt = 0;
      if (this.isWelcomed) {
        this.sendFrame({ type: "message", client_msg_id: clientMsgId, text: boundedText });
      } else {
        this.showNotice(this.texts.retry_hint);
      }
      this.render();
      this.list.scrollTop = this.list.scrollHeight;
    }

    forgetSent(clientMsgId) {
      store.update((data) => {
        if (Array.isArray(data.outbox)) data.outbox = data.outbox.filter((item) => item.id !== clientMsgId);
      });
    }

    // Another tab wrote to the outbox: messages it sent are resent from here too (the
    // server takes each once), and those it saw acknowledged stop being resent.
    adoptOutbox() {
      const outbox = store.read().outbox;
      const ids = new Set((Array.isArray(outbox) ? outbox : []).map((item) => item.id));
      for (const [clientMsgId, item] of this.pending) {
        if (item.status === "sending" && !ids.has(clientMsgId)) item.status = "sent";
      }
      this.render();
    }

    typed() {
      if (!this.isWelcomed) return;
      const hasText = this.input.value.trim() !== "";
      const now = Date.now();
      if (hasText && now - this.typingSentAt >= TYPING_EVERY_MS) {
        if (this.sendFrame({ type: "typing", is_typing: true })) {
          this.typingSentAt = now;
          this.isTypingSent = true;
        }
      } else if (!hasText && this.isTypingSent) {
        this.sendFrame({ type: "typing", is_typing: false });
        this.isTypingSent = false;
        this.typingSentAt = 0;
      }
    }

    markRead() {
      if (!this.isReading() || !this.isWelcomed || this.lastSeq <= this.readUpTo) {
        this.render();
        return;
      }
      if (this.sendFrame({ type: "read", up_to: this.lastSeq })) this.readUpTo = this.lastSeq;
      this.render();
    }
  }

  // --- start -----------------------------------------------------------------------

  async function start() {
    setState("loading");
    const query = new URLSearchParams({
      url: bounded(location.href, 2048),
      lang: bounded(navigator.language || "", 35),
    });
    let config;
    try {
      const response = await fetch(
        `${parleyUrl.origin}/chat/widgets/${encodeURIComponent(widgetKey)}/config?${query}`,
        { credentials: "omit", mode: "cors" },
      );
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      config = await response.json();
    } catch (error) {
      // Unknown or inactive widget, or a site it does not allow: nothing is shown.
      setState("unavailable");
      console.warn("Parley chat is not available on this page:", error.message);
      return;
    }
    if (!config.is_shown) {
      setState("hidden");
      return;
    }
    new Widget(config).mount();
    setState("shown");
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
