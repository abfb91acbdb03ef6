// The chat panel: the transcript of a visitor's chat, live from the socket's `chat.*`
// frames, and the agent's composer with quick replies (REST: /api/chats/{id}/...).
//
// The workspace redraws the selected panel whenever the work list changes, so each chat
// keeps one view (its DOM, messages and draft) for as long as it is in hand: a redraw
// puts the same element back, and nothing the agent typed is lost.
//
// What the visitor wrote is shown as text only (dom.js `h`); only http(s) addresses in
// it become links, opened in a new tab without a referrer.

import { allItems, api } from "./api.js";
import { clear, fill, h } from "./dom.js";
import { showError } from "./notify.js";
import { config, formatTime, t } from "./strings.js";
import { endButton, registerChannel } from "./workspace.js";
import { ChatToolbar, isGuestOf } from "./chat_tools.js";
import { formatSize } from "./email.js";

const TYPING_EVERY_MS = 3000; // the agent's "typing" is sent at most this often
const VISITOR_TYPING_SHOWN_MS = 6000; // the server's typing timeout: hidden unless renewed
const SEND_CHECK_MS = 1500; // a sent message whose frame is late is read from the server
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?)\]]+$/;

const views = new Map();
const watched = new WeakSet();
let quickReplies = null; // the promise of the list
let knownReplies = []; // the list, once read: Tab expands shortcuts without waiting

// Text with its http(s) addresses made links; everything else stays plain text.
export function linkified(text) {
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
  return parts.filter((part) => part !== "");
}

// A file in the transcript: a thumbnail for an image, and a link that downloads it
// (served with the session's cookie to those who may read the chat).
function fileView(interactionId, file) {
  const url = `/api/chats/${interactionId}/files/${encodeURIComponent(file.id)}`;
  return h("p", { class: "chat-file" },
    file.is_image ? h("a", { href: url, target: "_blank", rel: "noopener" },
      h("img", { class: "chat-thumbnail", src: url, alt: file.name, loading: "lazy" })) : null,
    h("a", { class: "chat-download", href: url, download: file.name, title: t("chat.download", { name: file.name }) }, file.name),
    h("span", { class: "chat-file-size" }, formatSize(file.size)),
  );
}

// The shared and personal quick replies, read once per page (and again after a failure).
function loadQuickReplies() {
  if (!quickReplies) {
    quickReplies = allItems("/api/quick-replies?sort=title");
    quickReplies.then((replies) => { knownReplies = replies; }, () => { quickReplies = null; });
  }
  return quickReplies;
}

function shortcutOf(reply) {
  if (!reply.shortcut) return null;
  return reply.shortcut.startsWith("/") ? reply.shortcut : `/${reply.shortcut}`;
}

class ChatView {
  constructor(interaction, desktop) {
    this.id = interaction.id;
    this.desktop = desktop;
    this.messages = new Map(); // seq -> message
    this.agentReadUpTo = 0;
    this.visitorReadUpTo = 0;
    this.readSent = 0;
    this.isClosed = false;
    this.isSending = false;
    this.typingSentAt = 0;
    this.visitorTypingTimer = null;

    this.list = h("ol", { class: "chat-transcript", "aria-live": "polite", "aria-label": t("chat.transcript") },
      h("li", { class: "chat-note" }, t("chat.loading")));
    this.typing = h("p", { class: "chat-typing", hidden: true }, t("chat.typing"));
    this.input = h("textarea", {
      class: "chat-input",
      id: `chat-input-${this.id}`,
      rows: "3",
      maxlength: "4000",
      placeholder: t("chat.placeholder"),
      onkeydown: (event) => this.keydown(event),
      oninput: () => this.typed(),
    });
    this.error = h("p", { class: "form-error", role: "alert", hidden: true });
    this.sendButton = h("button", { type: "submit", class: "chat-send" }, t("chat.send"));
    this.picker = h("div", { class: "quick-replies", hidden: true, role: "dialog", "aria-label": t("chat.quick_replies") });
    this.pickerButton = h("button", {
      type: "button",
      class: "chat-quick",
      "aria-haspopup": "dialog",
      "aria-expanded": "false",
      onclick: () => this.togglePicker(),
    }, t("chat.quick_replies"));
    this.form = h("form", { class: "chat-composer", onsubmit: (event) => { event.preventDefault(); this.send(); } },
      h("label", { for: this.input.id, class: "visually-hidden" }, t("chat.reply")),
      this.input,
      this.error,
      h("div", { class: "chat-tools" }, this.pickerButton, this.attachButton(), h("span", { class: "spacer" }), this.sendButton),
      this.picker,
    );
    this.tools = new ChatToolbar(this);
    this.closedNote = null; // why the chat ended, from `chat.closed`
    this.rating = null; // the visitor's CSAT, from `chat.rated`
    this.element = h("div", { class: "chat", dataset: { interactionId: this.id } },
      this.list, this.typing, this.form, this.tools.element);
    this.endActions = h("div", { class: "actions" });
    this.watchDrops();
    loadQuickReplies().catch((error) => console.warn("reading quick replies failed", error));
    this.load();
  }

  // Into the panel: the same element each time, and the agent's focus kept.
  mount(container, interaction) {
    const hadFocus = this.input === document.activeElement;
    // An invited guest leaves through the toolbar; the chat's agent ends it.
    this.endActions.replaceChildren(isGuestOf(interaction) ? "" : endButton(interaction, this.desktop));
    this.tools.update(interaction);
    container.append(this.element, this.endActions);
    if (hadFocus) this.input.focus();
    this.scrollToEnd();
    this.markRead();
  }

  async load() {
    try {
      const transcript = await api("GET", `/api/chats/${this.id}/messages`);
      for (const message of transcript.messages) this.messages.set(message.seq, message);
      this.isClosed = transcript.is_closed;
      this.agentReadUpTo = Math.max(this.agentReadUpTo, transcript.agent_read_up_to);
      this.readSent = Math.max(this.readSent, transcript.agent_read_up_to);
      this.visitorReadUpTo = Math.max(this.visitorReadUpTo, transcript.visitor_read_up_to);
      this.draw();
    } catch (error) {
      clear(this.list).append(h("li", { class: "chat-note" }, t("error.generic", { message: error.message })));
    }
  }

  receive(frame) {
    switch (frame.type) {
      case "chat.message":
        this.messages.set(frame.seq, frame);
        if (frame.author.kind === "visitor") this.showVisitorTyping(false);
        this.draw();
        break;
      case "chat.typing":
        if (frame.side === "visitor") this.showVisitorTyping(frame.is_typing);
        break;
      case "chat.closed":
        this.isClosed = true;
        this.closedNote = t(`chat.closed_${frame.reason}`);
        this.draw();
        break;
      case "chat.rated":
        this.rating = frame.rating;
        this.draw();
        break;
      case "chat.read":
        if (frame.side === "visitor") {
          this.visitorReadUpTo = Math.max(this.visitorReadUpTo, frame.up_to);
          this.draw();
        } else {
          this.readSent = Math.max(this.readSent, frame.up_to);
        }
        break;
      default:
        break;
    }
  }

  draw() {
    const messages = [...this.messages.values()].sort((a, b) => a.seq - b.seq);
    const lastSeen = messages.filter((m) => m.author.kind === "agent" && m.seq <= this.visitorReadUpTo).at(-1);
    clear(this.list);
    if (!messages.length) this.list.append(h("li", { class: "chat-note" }, t("chat.empty")));
    for (const message of messages) {
      const kind = message.author.kind;
      const who = message.author.name || (kind === "visitor" ? t("chat.visitor") : kind === "system" ? t("chat.system") : "");
      this.list.append(h("li", { class: `chat-message from-${kind}`, dataset: { seq: message.seq } },
        h("span", { class: "chat-meta" },
          h("span", { class: "chat-author" }, who),
          h("time", { datetime: message.sent_at }, formatTime(new Date(message.sent_at))),
          message === lastSeen ? h("span", { class: "chat-seen" }, t("chat.seen")) : null,
        ),
        message.file ? fileView(this.id, message.file) : h("p", { class: "chat-text" }, linkified(message.text)),
      ));
    }
    for (const name of this.uploads) {
      this.list.append(h("li", { class: "chat-note chat-uploading" }, t("chat.uploading", { name })));
    }
    if (this.isClosed) this.list.append(h("li", { class: "chat-note" }, this.closedNote ?? t("chat.closed")));
    if (this.rating) this.list.append(h("li", { class: "chat-note chat-csat" }, t("chat.csat", { rating: this.rating })));
    this.input.disabled = this.isClosed || this.isSending;
    this.sendButton.disabled = this.isClosed || this.isSending;
    this.scrollToEnd();
    this.markRead();
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  showVisitorTyping(isTyping) {
    clearTimeout(this.visitorTypingTimer);
    this.typing.hidden = !isTyping;
    if (isTyping) {
      this.visitorTypingTimer = setTimeout(() => { this.typing.hidden = true; }, VISITOR_TYPING_SHOWN_MS);
    }
  }

  // Read receipts: what the panel shows, the agent has read (only while it is in view).
  async markRead() {
    if (!this.element.isConnected || document.visibilityState !== "visible") return;
    const last = Math.max(0, ...[...this.messages.values()].filter((m) => m.author.kind === "visitor").map((m) => m.seq));
    if (last <= this.readSent) return;
    this.readSent = last;
    try {
      await api("POST", `/api/chats/${this.id}/read`, { up_to: last });
    } catch (error) {
      this.readSent = 0; // tried again on the next draw
      console.warn("marking the chat read failed", error);
    }
  }

  // --- files (F-CH-6) ----------------------------------------------------------------

  attachButton() {
    this.uploads = []; // names of the files on their way
    this.fileInput = h("input", {
      type: "file",
      class: "chat-file-input",
      hidden: true,
      multiple: true,
      onchange: () => {
        for (const file of this.fileInput.files) this.sendFile(file);
        this.fileInput.value = "";
      },
    });
    return h("span", {}, this.fileInput, h("button", {
      type: "button",
      class: "chat-attach",
      title: t("chat.drop"),
      onclick: () => this.fileInput.click(),
    }, t("chat.attach")));
  }

  // Files dropped on the chat are sent like chosen ones.
  watchDrops() {
    const hasFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");
    this.element.addEventListener("dragover", (event) => {
      if (!hasFiles(event) || this.isClosed) return;
      event.preventDefault();
      this.element.classList.add("chat-dropping");
    });
    this.element.addEventListener("dragleave", (event) => {
      if (!this.element.contains(event.relatedTarget)) this.element.classList.remove("chat-dropping");
    });
    this.element.addEventListener("drop", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      this.element.classList.remove("chat-dropping");
      if (this.isClosed) return;
      for (const file of event.dataTransfer.files) this.sendFile(file);
    });
  }

  // Upload one file as a message (multipart, the session's CSRF token); the server
  // checks its size and type by the widget's limits, and its frame comes on the socket.
  async sendFile(file) {
    this.uploads.push(file.name);
    this.error.hidden = true;
    this.draw();
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const response = await fetch(`/api/chats/${this.id}/files`, {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRF-Token": config.csrf_token },
        body: form,
        credentials: "same-origin",
      });
      const data = await response.json().catch(() => null);
      if (!response.ok) {
        const code = data?.error?.code;
        if (code === "chat_closed") this.isClosed = true;
        const message = {
          file_too_large: t("chat.file_too_large", { name: file.name }),
          file_type_not_allowed: t("chat.file_type", { name: file.name }),
        }[code] ?? t("chat.file_failed", { name: file.name, message: data?.error?.message ?? response.statusText });
        this.error.textContent = message;
        this.error.hidden = false;
      } else {
        setTimeout(() => { if (!this.messages.has(data.seq)) this.load(); }, SEND_CHECK_MS);
      }
    } catch (error) {
      this.error.textContent = t("chat.file_failed", { name: file.name, message: error.message });
      this.error.hidden = false;
    } finally {
      this.uploads.splice(this.uploads.indexOf(file.name), 1);
      this.draw();
    }
  }

  // --- the composer -----------------------------------------------------------------

  keydown(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.send();
    } else if (event.key === "Tab" && !event.shiftKey) {
      this.expandShortcut(event);
    } else if (event.key === "Escape" && !this.picker.hidden) {
      this.togglePicker(false);
    }
  }

  typed() {
    const now = Date.now();
    const hasText = this.input.value.trim() !== "";
    if (hasText && now - this.typingSentAt >= TYPING_EVERY_MS) {
      this.typingSentAt = now;
      this.sendTyping(true);
    } else if (!hasText && this.typingSentAt) {
      this.typingSentAt = 0;
      this.sendTyping(false);
    }
  }

  sendTyping(isTyping) {
    api("POST", `/api/chats/${this.id}/typing`, { is_typing: isTyping }).catch((error) =>
      console.warn("sending typing failed", error));
  }

  async send() {
    const text = this.input.value.trim();
    if (!text || this.isSending || this.isClosed) return;
    this.isSending = true;
    this.error.hidden = true;
    this.draw();
    try {
      const sent = await api("POST", `/api/chats/${this.id}/messages`, { text });
      this.input.value = "";
      this.typingSentAt = 0;
      setTimeout(() => { if (!this.messages.has(sent.seq)) this.load(); }, SEND_CHECK_MS);
    } catch (error) {
      if (error.code === "chat_closed") this.isClosed = true;
      this.error.textContent = t("chat.send_failed", { message: error.message });
      this.error.hidden = false;
    } finally {
      this.isSending = false;
      this.draw();
      if (!this.isClosed) this.input.focus();
    }
  }

  // Insert `text` where the cursor is (replacing `from`..cursor, for a shortcut).
  insert(text, from = this.input.selectionStart) {
    const to = this.input.selectionEnd;
    this.input.setRangeText(text, from, to, "end");
    this.input.focus();
    this.typed();
  }

  // "/hello" then Tab: the quick reply with that shortcut replaces it. Tab moves focus
  // as usual when the word before the cursor is no shortcut.
  expandShortcut(event) {
    const cursor = this.input.selectionStart;
    if (cursor !== this.input.selectionEnd) return;
    const word = this.input.value.slice(0, cursor).match(/(\S+)$/)?.[1];
    const reply = word && knownReplies.find((candidate) => shortcutOf(candidate) === word || candidate.shortcut === word);
    if (!reply) return;
    event.preventDefault();
    this.insert(reply.body, cursor - word.length);
  }

  async togglePicker(show = this.picker.hidden) {
    this.picker.hidden = !show;
    this.pickerButton.setAttribute("aria-expanded", String(show));
    if (!show) return;
    clear(this.picker).append(h("p", { class: "chat-note" }, t("chat.loading")));
    let replies;
    try {
      replies = await loadQuickReplies();
    } catch (error) {
      this.picker.hidden = true;
      showError(error);
      return;
    }
    const group = (title, items) => items.length
      ? h("section", {},
          h("h4", {}, title),
          h("ul", {}, items.map((reply) => h("li", {},
            h("button", {
              type: "button",
              class: "quick-reply",
              title: reply.body,
              onclick: () => {
                this.togglePicker(false);
                this.insert(reply.body);
              },
            },
              h("span", { class: "quick-reply-title" }, reply.folder ? `${reply.folder} / ${reply.title}` : reply.title),
              shortcutOf(reply) ? h("kbd", {}, shortcutOf(reply)) : null,
            ),
          ))),
        )
      : null;
    const byFolder = (a, b) => a.folder.localeCompare(b.folder) || a.title.localeCompare(b.title);
    const shared = replies.filter((reply) => reply.scope === "shared").sort(byFolder);
    const personal = replies.filter((reply) => reply.scope === "personal").sort(byFolder);
    fill(this.picker,
      replies.length ? null : h("p", { class: "chat-note" }, t("chat.no_quick_replies")),
      group(t("chat.quick_replies_shared"), shared),
      group(t("chat.quick_replies_personal"), personal),
    );
  }
}

function render(container, interaction, desktop) {
  if (!watched.has(desktop)) {
    watched.add(desktop);
    desktop.addEventListener("channel", (event) => views.get(event.detail.interaction_id)?.receive(event.detail));
    // Events missed while disconnected are not replayed: read the transcripts again.
    desktop.addEventListener("connection", (event) => {
      if (event.detail.isOnline) for (const view of views.values()) view.load();
    });
    // A chat no longer in hand (wrapped up, taken away) drops its view.
    desktop.addEventListener("change", (event) => {
      if (event.detail.what !== "work") return;
      for (const id of views.keys()) if (!desktop.work.has(id)) views.delete(id);
    });
    document.addEventListener("visibilitychange", () => {
      for (const view of views.values()) view.markRead();
    });
  }
  let view = views.get(interaction.id);
  if (!view) {
    view = new ChatView(interaction, desktop);
    views.set(interaction.id, view);
  }
  view.mount(container, interaction);
}

registerChannel("chat", render);
