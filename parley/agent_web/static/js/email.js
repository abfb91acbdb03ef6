// The email panel: the case's thread, oldest first, and the agent's composer (REST:
// /api/emails/{id}/..., /api/email-drafts/..., see parley/email_channel/api.py).
//
// Each email keeps one view for as long as it is in hand, as the chat panel does: the
// workspace redraws the selected panel often, and a redraw puts the same element back,
// so nothing the agent typed is lost.
//
// The composer works on a server draft. Reply and Reply all start one at once, so the
// recipients and the subject shown are the server's own (reply-to, our mailboxes left
// out, the case token); a forward has no recipient yet, so its draft is made on the
// first save. Saving again changes the draft, Send saves and then sends it, and a draft
// left behind is put back in the composer when the email is opened again.
//
// A customer's HTML (sanitized by the server) is shown in an iframe sandboxed without
// scripts and with a policy that loads nothing from elsewhere (no tracking pixels);
// everything else is built as text with dom.js `h`.
//
// The agent writes in a small rich-text editor (contenteditable: bold, italic, lists,
// links, inline images). What it makes goes to the server as HTML only, which sanitizes
// it and writes the plain-text alternative; an inline image goes along as an inline
// attachment that the HTML names by `cid:`.
//
// Above the thread: change queue, transfer to a colleague, pin to oneself, and mask
// what is selected in the thread (or every card or account number) for good. The side
// panel has the agent's personal queue, a search and the group queue they take from.

import { allItems, api } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { showError, toast } from "./notify.js";
import { config, formatDateTime, label, t } from "./strings.js";
import { endButton, registerChannel } from "./workspace.js";

// The server's limits (parley/email_channel/agent_service.py), checked here first so an
// agent hears of a too-large file before it is read and sent.
const MAX_FILE_BYTES = 10 * 1024 * 1024;
const MAX_TOTAL_BYTES = 25 * 1024 * 1024;
const REFRESH_MS = 20000; // the thread is read again this often while it is shown
// What the email's own document may load: its inline images (served by Parley) and
// inline styles; no scripts (the sandbox has no allow-scripts either), nothing remote.
const FRAME_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'";
// Without allow-scripts nothing in the frame runs, so allow-same-origin only lets the
// frame load its inline images with the agent's session and lets us measure its
// height; links open in a new tab, outside the sandbox.
const FRAME_SANDBOX = "allow-same-origin allow-popups allow-popups-to-escape-sandbox";

const views = new Map();
const watched = new WeakSet();
let templates = null; // the promise of the active templates, read once per page
let emailQueues = null; // the promise of the queues an email may move to
let inlineCount = 0;

function loadQueues() {
  if (!emailQueues) {
    emailQueues = api("GET", "/api/email-queues");
    emailQueues.catch(() => { emailQueues = null; });
  }
  return emailQueues;
}

// The text selected in the thread: on the page itself or inside one email's frame,
// with the email it is in.
function threadSelection(thread) {
  const own = window.getSelection();
  if (own && !own.isCollapsed && thread.contains(own.anchorNode)) {
    const item = own.anchorNode.parentElement?.closest("[data-message-id]");
    return { text: own.toString(), messageId: item ? Number(item.dataset.messageId) : null };
  }
  for (const frame of thread.querySelectorAll("iframe")) {
    const selected = frame.contentWindow?.getSelection();
    if (selected && !selected.isCollapsed && selected.toString().trim()) {
      const item = frame.closest("[data-message-id]");
      return { text: selected.toString(), messageId: item ? Number(item.dataset.messageId) : null };
    }
  }
  return null;
}

function textAsHtml(text) {
  const holder = document.createElement("div");
  holder.textContent = text;
  return holder.innerHTML.replace(/\n/g, "<br>");
}

function loadTemplates() {
  if (!templates) {
    templates = allItems("/api/email-templates?is_active=true&sort=name");
    templates.catch(() => { templates = null; });
  }
  return templates;
}

const sizeFormats = new Map();
export function formatSize(bytes) {
  const [unit, value] = bytes >= 1024 * 1024
    ? ["megabyte", bytes / (1024 * 1024)]
    : bytes >= 1024 ? ["kilobyte", bytes / 1024] : ["byte", bytes];
  if (!sizeFormats.has(unit)) {
    sizeFormats.set(unit, new Intl.NumberFormat(config.language || "en", {
      style: "unit", unit, unitDisplay: unit === "byte" ? "narrow" : "short", maximumFractionDigits: 1,
    }));
  }
  return sizeFormats.get(unit).format(value);
}

function person(p) {
  return p.name ? `${p.name} <${p.address}>` : p.address;
}

// "Ann <a@x>, \"Doe, J\" <j@y>" -> the two addresses: commas inside quotes or angle
// brackets do not separate.
export function splitAddresses(text) {
  const parts = [];
  let current = "";
  let quoted = false;
  let angled = false;
  for (const char of text) {
    if (char === '"') quoted = !quoted;
    else if (char === "<" && !quoted) angled = true;
    else if (char === ">" && !quoted) angled = false;
    if ((char === "," || char === ";") && !quoted && !angled) {
      parts.push(current);
      current = "";
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts.map((part) => part.trim()).filter(Boolean);
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function when(message) {
  const parsed = Date.parse(message.date ?? "");
  return formatDateTime(new Date(Number.isNaN(parsed) ? message.created_at : parsed));
}

// The email's sanitized HTML as a document of its own.
function frameDocument(html) {
  return [
    "<!doctype html><html><head><meta charset=\"utf-8\">",
    `<meta http-equiv="Content-Security-Policy" content="${FRAME_POLICY}">`,
    "<meta name=\"referrer\" content=\"no-referrer\"><base target=\"_blank\">",
    "<style>body{display:flow-root;margin:0;font:14px/1.45 system-ui,sans-serif;overflow-wrap:anywhere}",
    "img{max-width:100%;height:auto}blockquote{margin:0 0 0 .5rem;padding-left:.5rem;",
    "border-left:3px solid #ccc}</style></head><body>",
    html,
    "</body></html>",
  ].join("");
}

function bodyFrame(message) {
  const frame = h("iframe", {
    class: "email-body-frame",
    sandbox: FRAME_SANDBOX,
    referrerpolicy: "no-referrer",
    title: t("email.body_frame", { from: message.from ? person(message.from) : message.subject }),
  });
  frame.srcdoc = frameDocument(message.html);
  // As tall as its content, so the thread scrolls as one; again as images arrive.
  const fit = () => {
    const body = frame.contentDocument?.body;
    if (body) frame.style.height = `${Math.ceil(body.getBoundingClientRect().height) + 4}px`;
  };
  frame.addEventListener("load", () => {
    fit();
    for (const image of frame.contentDocument?.images ?? []) image.addEventListener("load", fit);
  });
  return frame;
}

class EmailView {
  constructor(interaction, desktop) {
    this.id = interaction.id;
    this.desktop = desktop;
    this.messages = [];
    this.shown = ""; // what the thread shows, so an unchanged thread is not redrawn
    this.mode = null; // "reply", "reply_all" or "forward" once the agent chose
    this.draft = null; // the server's draft being edited
    this.stored = []; // the draft's attachments, kept unless removed
    this.files = []; // files picked, not yet saved
    this.inline = new Map(); // content id -> image file put into the editor, not yet saved
    this.pinnedAgentId = null;
    this.isBusy = false;

    this.thread = h("ol", { class: "email-thread", "aria-label": t("email.thread") },
      h("li", { class: "email-note" }, t("email.loading")));

    this.modeButtons = Object.fromEntries(["reply", "reply_all", "forward"].map((mode) => [
      mode,
      h("button", {
        type: "button",
        class: `email-mode email-${mode.replace("_", "-")}`,
        "aria-pressed": "false",
        onclick: () => this.choose(mode),
      }, t(`email.${mode}`)),
    ]));
    const field = (name, attributes) => h("input", {
      id: `email-${name}-${this.id}`, name, autocomplete: "off", ...attributes,
    });
    this.to = field("to", { placeholder: t("email.addresses_hint") });
    this.cc = field("cc", { placeholder: t("email.addresses_hint") });
    this.subject = field("subject", { maxlength: "900" });
    this.body = h("div", {
      id: `email-body-${this.id}`,
      class: "email-editor",
      contenteditable: "true",
      role: "textbox",
      "aria-multiline": "true",
      "aria-label": t("email.body"),
    });
    this.imagePicker = h("input", {
      type: "file",
      accept: "image/png,image/jpeg,image/gif,image/webp",
      hidden: true,
      onchange: () => this.insertImage(),
    });
    const format = (name, command, hint, short = hint) => h("button", {
      type: "button",
      class: `email-format email-format-${name}`,
      title: hint,
      "aria-label": hint,
      onmousedown: (event) => event.preventDefault(), // keep the editor's selection
      onclick: () => this.format(command),
    }, short);
    this.formatBar = h("div", { class: "email-format-bar", role: "toolbar", "aria-label": t("email.formatting") },
      format("bold", "bold", t("email.format_bold"), t("email.format_bold_short")),
      format("italic", "italic", t("email.format_italic"), t("email.format_italic_short")),
      format("bullets", "insertUnorderedList", t("email.format_bullets"), "•"),
      format("numbers", "insertOrderedList", t("email.format_numbers"), "1."),
      format("link", "createLink", t("email.format_link")),
      format("image", "insertImage", t("email.format_image")),
      this.imagePicker,
    );
    this.template = h("select", {
      id: `email-template-${this.id}`,
      onchange: () => this.useTemplate(),
    }, h("option", { value: "" }, t("email.template_none")));
    this.picker = h("input", {
      type: "file",
      multiple: true,
      id: `email-files-${this.id}`,
      onchange: () => this.pick(),
    });
    this.fileList = h("ul", { class: "email-files" });
    this.forwarded = h("p", { class: "email-hint", hidden: true });
    this.status = h("p", { class: "email-hint email-draft-status", "aria-live": "polite" });
    this.error = h("p", { class: "form-error", role: "alert", hidden: true });
    this.sendButton = h("button", { type: "submit", class: "email-send" }, t("email.send"));
    this.saveButton = h("button", { type: "button", class: "email-save", onclick: () => this.run(() => this.save(true)) }, t("email.save_draft"));
    this.discardButton = h("button", { type: "button", class: "email-discard", onclick: () => this.run(() => this.discard()) }, t("email.discard_draft"));
    const row = (label, control) => [h("label", { for: control.id }, label), control];
    this.form = h("form", {
      class: "email-form",
      hidden: true,
      "aria-label": t("email.compose"),
      onsubmit: (event) => {
        event.preventDefault();
        this.run(() => this.send());
      },
    },
      h("div", { class: "email-fields" },
        row(t("email.to"), this.to),
        row(t("email.cc"), this.cc),
        row(t("email.subject"), this.subject),
        row(t("email.template"), this.template),
      ),
      this.formatBar,
      this.body,
      h("div", { class: "email-attach" },
        h("label", { for: this.picker.id }, t("email.attach")),
        this.picker,
        h("span", { class: "email-hint" }, t("email.limits", {
          file: formatSize(MAX_FILE_BYTES), total: formatSize(MAX_TOTAL_BYTES),
        })),
      ),
      this.fileList,
      this.forwarded,
      this.error,
      h("div", { class: "email-tools" },
        this.sendButton, this.saveButton, this.discardButton, h("span", { class: "spacer" }), this.status),
    );
    this.resolveCase = h("input", { type: "checkbox", checked: true, id: `email-resolve-${this.id}` });
    this.closeButton = h("button", { type: "button", class: "email-close", onclick: () => this.run(() => this.close()) }, t("email.close"));
    this.endActions = h("div", { class: "actions email-actions" });
    this.queueSelect = h("select", { id: `email-queue-${this.id}` }, h("option", { value: "" }, t("email.queue_choose")));
    this.agentSelect = h("select", { id: `email-agent-${this.id}` }, h("option", { value: "" }, t("email.agent_choose")));
    this.pinButton = h("button", { type: "button", class: "email-pin", "aria-pressed": "false", onclick: () => this.run(() => this.togglePin()) }, t("email.pin"));
    this.deskButtons = [
      h("button", { type: "button", class: "email-move", onclick: () => this.run(() => this.moveTo()) }, t("email.move")),
      h("button", { type: "button", class: "email-transfer", onclick: () => this.run(() => this.transfer()) }, t("email.transfer")),
      this.pinButton,
      h("button", { type: "button", class: "email-mask", title: t("email.mask_hint"), onmousedown: (event) => event.preventDefault(), onclick: () => this.run(() => this.mask()) }, t("email.mask_selection")),
      h("button", { type: "button", class: "email-mask-numbers", onclick: () => this.run(() => this.mask({ numbers: true })) }, t("email.mask_numbers")),
    ];
    this.caseId = interaction.case_id ?? null;
    this.deskTools = h("div", { class: "email-desk-tools", role: "group", "aria-label": t("email.handling") },
      h("label", { for: this.queueSelect.id }, t("email.queue")), this.queueSelect, this.deskButtons[0],
      h("label", { for: this.agentSelect.id }, t("email.agent")), this.agentSelect, this.deskButtons[1],
      this.deskButtons.slice(2),
      h("button", {
        type: "button",
        class: "link email-show-case",
        onclick: () => {
          if (this.caseId !== null) document.dispatchEvent(new CustomEvent("parley:open-case", { detail: { caseId: this.caseId } }));
        },
      }, t("email.show_case")),
    );
    this.element = h("div", { class: "email", dataset: { interactionId: this.id } },
      this.deskTools,
      this.thread,
      h("section", { class: "email-composer" },
        h("div", { class: "email-modes" }, Object.values(this.modeButtons)),
        this.form,
      ),
    );

    loadTemplates().then((list) => {
      for (const template of list) this.template.append(h("option", { value: String(template.id) }, template.name));
      if (!list.length) this.template.append(h("option", { value: "", disabled: true }, t("email.no_templates")));
    }, showError);
    loadQueues().then((list) => {
      for (const queue of list) this.queueSelect.append(h("option", { value: String(queue.id) }, queue.name));
    }, showError);
    api("GET", "/api/directory").then((people) => {
      for (const person of people.filter((p) => !p.is_me && p.role !== "admin")) {
        this.agentSelect.append(h("option", { value: String(person.id) }, person.display_name));
      }
    }, showError);
    this.timer = setInterval(() => { if (this.element.isConnected) this.load(); }, REFRESH_MS);
    this.load().then(() => this.restoreDraft());
  }

  mount(container, interaction) {
    const focused = this.element.contains(document.activeElement) ? document.activeElement : null;
    this.endActions.replaceChildren(
      h("label", { class: "email-resolve", for: this.resolveCase.id }, this.resolveCase, t("email.resolve_case")),
      this.closeButton,
      h("span", { class: "spacer" }),
      endButton(interaction, this.desktop),
    );
    container.append(this.element, this.endActions);
    focused?.focus();
  }

  stop() {
    clearInterval(this.timer);
  }

  // One action at a time; its failure is shown under the composer (or as a toast).
  async run(action) {
    if (this.isBusy) return;
    this.isBusy = true;
    this.error.hidden = true;
    for (const button of [this.sendButton, this.saveButton, this.discardButton, this.closeButton, ...this.deskButtons]) button.disabled = true;
    try {
      await action();
    } catch (error) {
      if (this.form.hidden) showError(error);
      else this.fail(error.message);
    } finally {
      this.isBusy = false;
      for (const button of [this.sendButton, this.saveButton, this.discardButton, this.closeButton, ...this.deskButtons]) button.disabled = false;
    }
  }

  fail(text) {
    this.error.textContent = text;
    this.error.hidden = false;
  }

  // --- the thread -------------------------------------------------------------------

  async load() {
    let thread;
    try {
      thread = await api("GET", `/api/emails/${this.id}`);
    } catch (error) {
      if (!this.messages.length) fill(this.thread, h("li", { class: "email-note" }, t("error.generic", { message: error.message })));
      return;
    }
    this.messages = thread.messages;
    this.caseId = thread.case_id;
    this.showPin(thread.pinned_agent_id);
    const shown = JSON.stringify(this.messages.map((m) => [m.id, m.delivery?.status, m.delivery?.attempts]));
    if (shown !== this.shown) {
      this.shown = shown;
      this.draw();
    }
  }

  draw() {
    fill(this.thread, this.messages.length
      ? this.messages.map((message) => this.message(message))
      : h("li", { class: "email-note" }, t("email.empty")));
    this.showForwarded();
  }

  message(message) {
    if (message.kind === "note") {
      return h("li", { class: "email-message is-note" },
        h("p", { class: "email-meta" }, t("email.note"), " · ", when(message)),
        h("p", { class: "email-text" }, message.text));
    }
    const people = (list) => list.map(person).join(", ");
    const facts = [
      [t("email.from"), message.from ? person(message.from) : ""],
      [t("email.to"), people(message.to)],
      [t("email.cc"), people(message.cc)],
      [t("email.date"), when(message)],
      [t("email.subject"), message.subject],
    ].filter(([, value]) => value);
    const files = message.attachments.filter((file) => !file.is_inline || !file.url);
    return h("li", {
      class: `email-message from-${message.direction}`,
      dataset: { messageId: message.id },
    },
      h("dl", { class: "facts email-headers" }, facts.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
      message.problems.map((problem) => h("p", { class: "email-problem" }, t("email.problem", { problem }))),
      this.delivery(message),
      message.html
        ? bodyFrame(message)
        : h("p", { class: "email-text" }, message.text),
      files.length
        ? h("ul", { class: "email-attachments", "aria-label": t("email.attachments") }, files.map((file) => h("li", {},
            file.url
              ? h("a", { href: file.url, download: file.filename, rel: "noopener" }, file.filename)
              : h("span", { class: "email-hint" }, t("email.attachment_not_kept", { name: file.filename })),
            " ",
            h("span", { class: "email-size" }, formatSize(file.size)),
          )))
        : null,
    );
  }

  delivery(message) {
    const delivery = message.delivery;
    if (!delivery || delivery.status === "sent") return null;
    if (delivery.status !== "failed") return h("p", { class: "email-hint" }, t("email.sending"));
    return h("p", { class: "email-problem email-failed" },
      t("email.not_delivered", { error: delivery.error ?? "" }), " ",
      h("button", {
        type: "button",
        class: "email-retry",
        onclick: (event) => {
          event.currentTarget.disabled = true;
          this.retry(message);
        },
      }, t("email.retry")));
  }

  async retry(message) {
    try {
      await api("POST", `/api/email-messages/${message.id}/retry`);
      toast(t("email.sent"));
    } catch (error) {
      showError(error);
    }
    await this.load();
  }

  // The latest email received, which a reply answers and a forward passes on.
  parent() {
    const emails = this.messages.filter((m) => m.kind === "email");
    return emails.filter((m) => m.direction === "inbound").at(-1) ?? emails.at(-1) ?? null;
  }

  showForwarded() {
    const names = this.mode === "forward" && !this.draft
      ? (this.parent()?.attachments ?? []).filter((file) => file.url).map((file) => file.filename)
      : [];
    this.forwarded.hidden = !names.length;
    this.forwarded.textContent = names.length ? t("email.forwarded_with", { names: names.join(", ") }) : "";
  }

  // --- handling: queue, transfer, pin, mask ----------------------------------------

  showPin(agentId) {
    this.pinnedAgentId = agentId ?? null;
    const isMine = this.pinnedAgentId !== null && this.pinnedAgentId === config.me?.id;
    this.pinButton.setAttribute("aria-pressed", String(isMine));
    this.pinButton.textContent = isMine ? t("email.unpin") : t("email.pin");
  }

  async togglePin() {
    const isMine = this.pinButton.getAttribute("aria-pressed") === "true";
    await api(isMine ? "DELETE" : "PUT", `/api/emails/${this.id}/pin`, isMine ? undefined : {});
    this.showPin(isMine ? null : config.me?.id);
    toast(isMine ? t("email.unpinned") : t("email.pinned"));
  }

  // The email leaves this agent: it is routed again (the desktop's work list drops it).
  async moveTo() {
    const queueId = Number(this.queueSelect.value);
    if (!queueId) throw new Error(t("email.queue_needed"));
    await api("POST", `/api/emails/${this.id}/queue`, { queue_id: queueId });
    toast(t("email.moved", { queue: this.queueSelect.selectedOptions[0].textContent }));
  }

  async transfer() {
    const agentId = Number(this.agentSelect.value);
    if (!agentId) throw new Error(t("email.agent_needed"));
    await api("POST", `/api/emails/${this.id}/transfer`, { agent_id: agentId });
    toast(t("email.transferred", { agent: this.agentSelect.selectedOptions[0].textContent }));
  }

  async mask({ numbers = false } = {}) {
    const body = { selections: [], patterns: [] };
    if (numbers) {
      body.patterns = ["card", "account"];
    } else {
      const selected = threadSelection(this.thread);
      if (!selected) throw new Error(t("email.mask_select_first"));
      body.selections = [selected.text.trim()];
      body.message_id = selected.messageId;
    }
    if (!window.confirm(t("email.mask_confirm"))) return;
    const result = await api("POST", `/api/emails/${this.id}/mask`, body);
    toast(t("email.masked", { count: result.message_ids.length }));
    this.shown = ""; // same messages, new text: draw them again
    await this.load();
  }

  // --- the composer -----------------------------------------------------------------

  format(command) {
    this.body.focus();
    if (command === "createLink") {
      const url = window.prompt(t("email.link_prompt"), "https://");
      if (url && /^(https?:|mailto:)/i.test(url.trim())) document.execCommand("createLink", false, url.trim());
      return;
    }
    if (command === "insertImage") {
      this.imagePicker.click();
      return;
    }
    document.execCommand(command, false);
  }

  // An image picked goes into the editor where the caret is, shown from the file
  // itself; it is sent as an inline part the HTML names by cid.
  insertImage() {
    const [file] = this.imagePicker.files;
    this.imagePicker.value = "";
    if (!file) return;
    if (file.size > MAX_FILE_BYTES) {
      toast(t("email.file_too_large", { name: file.name, limit: formatSize(MAX_FILE_BYTES) }), { kind: "error" });
      return;
    }
    inlineCount += 1;
    const cid = `inline-${Date.now().toString(36)}-${inlineCount}@parley`;
    this.inline.set(cid, file);
    this.body.focus();
    const image = h("img", { src: URL.createObjectURL(file), alt: file.name, dataset: { cid } });
    const selection = window.getSelection();
    if (selection?.rangeCount && this.body.contains(selection.anchorNode)) {
      const range = selection.getRangeAt(0);
      range.deleteContents();
      range.insertNode(image);
      range.setStartAfter(image);
    } else {
      this.body.append(image);
    }
  }

  setEditor(draft) {
    this.body.innerHTML = draft.html || textAsHtml(draft.text || "");
  }

  // What the editor holds, as the HTML sent: images named by their cid.
  editorHtml() {
    const copy = this.body.cloneNode(true);
    for (const image of copy.querySelectorAll("img")) {
      if (image.dataset.cid) {
        image.setAttribute("src", `cid:${image.dataset.cid}`);
        image.removeAttribute("data-cid");
      }
    }
    const isEmpty = !copy.textContent.trim() && !copy.querySelector("img");
    return isEmpty ? "" : copy.innerHTML;
  }

  async restoreDraft() {
    try {
      const drafts = await api("GET", `/api/emails/${this.id}/drafts`);
      const mine = drafts.filter((d) => d.author_user_id === config.me?.id);
      const latest = (mine.length ? mine : drafts).at(-1);
      if (latest && !this.mode) this.show(latest, { all: true });
    } catch (error) {
      showError(error);
    }
  }

  // The composer shows `draft` (all its fields, or what the server may have changed).
  show(draft, { all = false } = {}) {
    this.draft = draft;
    this.setMode(draft.mode);
    if (all) {
      this.to.value = draft.to.join(", ");
      this.cc.value = draft.cc.join(", ");
      this.setEditor(draft);
    }
    this.subject.value = draft.subject;
    this.stored = [...draft.attachments];
    this.files = [];
    this.drawFiles();
    this.status.textContent = t("email.draft_status", { time: formatDateTime(new Date(draft.updated_at)) });
  }

  setMode(mode) {
    this.mode = mode;
    this.form.hidden = mode === null;
    for (const [name, button] of Object.entries(this.modeButtons)) {
      button.setAttribute("aria-pressed", String(name === mode));
    }
    this.showForwarded();
  }

  // Reply and Reply all start a draft with the server's recipients and subject; what
  // was typed goes along. A forward starts empty but for that text.
  async choose(mode) {
    if (this.isBusy || mode === this.mode) return;
    await this.run(async () => {
      const html = this.editorHtml();
      if (this.draft) {
        await api("DELETE", `/api/email-drafts/${this.draft.id}`);
        this.draft = null;
        this.stored = [];
      }
      if (mode === "forward") {
        this.to.value = "";
        this.cc.value = "";
        this.subject.value = "";
        this.subject.placeholder = t("email.subject_auto");
        this.status.textContent = "";
        this.setMode(mode);
        this.drawFiles();
        this.to.focus();
        return;
      }
      const draft = await api("POST", `/api/emails/${this.id}/drafts`, { mode, html });
      this.show(draft, { all: true });
      this.body.focus();
    });
  }

  async useTemplate() {
    const templateId = Number(this.template.value);
    this.template.value = "";
    if (!templateId) return;
    try {
      const rendered = await api("POST", `/api/emails/${this.id}/render-template`, { template_id: templateId });
      if (rendered.subject) this.subject.value = rendered.subject;
      this.body.focus();
      // As escaped text with line breaks: the template's own HTML never runs here.
      document.execCommand("insertHTML", false, textAsHtml(rendered.text));
    } catch (error) {
      this.fail(error.message);
    }
  }

  pick() {
    const total = () => [...this.stored.map((f) => f.size), ...this.files.map((f) => f.size)].reduce((a, b) => a + b, 0);
    for (const file of this.picker.files) {
      if (file.size > MAX_FILE_BYTES) {
        toast(t("email.file_too_large", { name: file.name, limit: formatSize(MAX_FILE_BYTES) }), { kind: "error" });
      } else if (total() + file.size > MAX_TOTAL_BYTES) {
        toast(t("email.total_too_large", { limit: formatSize(MAX_TOTAL_BYTES) }), { kind: "error" });
      } else {
        this.files.push(file);
      }
    }
    this.picker.value = "";
    this.drawFiles();
  }

  drawFiles() {
    const item = (name, size, remove) => h("li", {},
      h("span", {}, name), " ", h("span", { class: "email-size" }, formatSize(size)), " ",
      h("button", { type: "button", class: "link", "aria-label": t("email.remove_file", { name }), onclick: () => { remove(); this.drawFiles(); } }, "×"));
    fill(this.fileList,
      // Inline images are in the editor, not in this list (they stay while the draft does).
      this.stored.filter((file) => !file.is_inline).map((file) => item(file.filename, file.size, () => { this.stored = this.stored.filter((f) => f !== file); })),
      this.files.map((file) => item(file.name, file.size, () => { this.files = this.files.filter((f) => f !== file); })),
    );
  }

  // Save what the composer shows into the draft (made now for a forward).
  async save(isOwnAction = false) {
    const html = this.editorHtml();
    const inline = [...this.inline].filter(([cid]) => html.includes(`cid:${cid}`));
    const attachments = await Promise.all([
      ...this.files.map(async (file) => ({
        filename: file.name,
        content_type: file.type || "application/octet-stream",
        content_base64: await readBase64(file),
      })),
      ...inline.map(async ([cid, file]) => ({
        filename: file.name,
        content_type: file.type || "image/png",
        content_base64: await readBase64(file),
        content_id: cid,
        is_inline: true,
      })),
    ]);
    const fields = {
      to: splitAddresses(this.to.value),
      cc: splitAddresses(this.cc.value),
      subject: this.subject.value.trim() || null,
      text: "", // the server writes it from the HTML
      html,
      attachments,
    };
    const draft = this.draft
      ? await api("PATCH", `/api/email-drafts/${this.draft.id}`, {
          ...fields, keep_attachments: this.stored.map((file) => file.index),
        })
      : await api("POST", `/api/emails/${this.id}/drafts`, {
          mode: this.mode, parent_message_id: this.parent()?.id ?? null, ...fields,
        });
    this.inline.clear(); // saved: the draft keeps them now
    this.show(draft);
    if (isOwnAction) toast(t("email.draft_saved"));
  }

  async send() {
    await this.save();
    try {
      await api("POST", `/api/email-drafts/${this.draft.id}/send`);
      toast(t("email.sent"));
    } catch (error) {
      // Past the server's checks the email is kept (and the draft gone): it shows in
      // the thread as not delivered, with Send again.
      if (error.code !== "email_not_sent") throw error;
      toast(t("email.not_sent", { message: error.message }), { kind: "error" });
    }
    this.reset();
    await this.load();
  }

  async discard() {
    if (this.draft) await api("DELETE", `/api/email-drafts/${this.draft.id}`);
    this.reset();
  }

  reset() {
    this.draft = null;
    this.stored = [];
    this.files = [];
    for (const input of [this.to, this.cc, this.subject]) input.value = "";
    this.body.replaceChildren();
    this.inline.clear();
    this.subject.placeholder = "";
    this.status.textContent = "";
    this.drawFiles();
    this.setMode(null);
  }

  async close() {
    await api("POST", `/api/emails/${this.id}/close`, { resolve_case: this.resolveCase.checked });
    toast(t("email.closed"));
  }
}

// The side panel "Email": the agent's personal queue (in hand, and pinned until the
// case is resolved) and a search of the email they may see. An email in hand opens in
// the workspace; any other opens its case (the desktop's "parley:open-case" event).
export class EmailFinder {
  constructor(desktop) {
    this.desktop = desktop;
    this.element = byId("side-email");
    this.search = h("input", {
      type: "search",
      id: "email-search",
      maxlength: "200",
      placeholder: t("email.search_hint"),
      "aria-label": t("email.search"),
    });
    this.results = h("ul", { class: "email-results", "aria-label": t("email.search_results") });
    this.personal = h("ul", { class: "email-personal", "aria-label": t("email.personal_queue") });
    this.group = new GroupQueue(desktop);
    this.element.append(
      h("form", { class: "email-search", role: "search", onsubmit: (event) => { event.preventDefault(); this.find(); } },
        this.search, h("button", { type: "submit" }, t("email.search_button"))),
      this.results,
      h("h3", {}, t("email.personal_queue")),
      this.personal,
      this.group.element,
    );
    this.search.addEventListener("search", () => { if (!this.search.value.trim()) fill(this.results); });
    // Colleagues take from the group queue too: read it again while it is shown.
    setInterval(() => { if (!this.element.hidden) this.group.refresh(); }, REFRESH_MS);
  }

  async refresh() {
    this.group.refresh();
    try {
      const items = await api("GET", "/api/email-personal");
      fill(this.personal, items.length ? items.map((item) => this.item(item)) : h("li", { class: "empty" }, t("email.personal_empty")));
    } catch (error) {
      showError(error);
    }
  }

  async find() {
    const query = this.search.value.trim();
    if (!query) return;
    try {
      const found = await api("GET", `/api/email-search?${new URLSearchParams({ q: query })}`);
      fill(this.results, found.length ? found.map((item) => this.item(item)) : h("li", { class: "empty" }, t("email.search_none")));
    } catch (error) {
      showError(error);
    }
  }

  item(item) {
    const open = () => {
      const inHand = item.interaction_id === null ? null : this.desktop.work.get(item.interaction_id);
      if (inHand && inHand.state !== "wrap_up") {
        this.desktop.select(item.interaction_id);
      } else {
        document.dispatchEvent(new CustomEvent("parley:open-case", { detail: { caseId: item.case_id } }));
      }
    };
    return h("li", { class: "email-found", dataset: { messageId: item.message_id, caseId: item.case_id } },
      h("button", { type: "button", class: "link", onclick: open },
        item.subject || t("email.no_subject")),
      item.is_pinned ? h("span", { class: "badge email-pinned" }, t("email.pinned_mark")) : null,
      h("p", { class: "email-found-meta" },
        [t("info.case_number", { id: item.case_id }), label("case", item.case_status), item.from ? person(item.from) : "", formatDateTime(new Date(item.created_at))]
          .filter(Boolean).join(" · ")),
      item.snippet ? h("p", { class: "email-found-snippet" }, item.snippet) : null,
    );
  }
}

// The group queue (F-EM-4, F-RT-6): email waiting in the manual-pick queues the agent
// serves, sorted and filtered by the server (/api/email-group), each with its SLA colour
// (red overdue, amber due within the hour, green) and a Take button. Of two agents
// taking the same email one wins; the other hears so and sees the list again.
const GROUP_SORTS = ["age", "sla", "priority", "sender"];
const PRIORITIES = ["urgent", "high", "normal", "low"];

class GroupQueue {
  constructor(desktop) {
    this.desktop = desktop;
    this.reading = 0;
    const choice = (name, options) => h("select", { "aria-label": name, onchange: () => this.refresh() },
      options.map(([value, text]) => h("option", { value }, text)));
    this.sort = choice(t("email.group_sort"), GROUP_SORTS.map((key) => [key, t(`email.group_sort_${key}`)]));
    this.queue = choice(t("email.group_queue_filter"), [["", t("email.group_all_queues")]]);
    this.priority = choice(t("email.group_priority_filter"),
      [["", t("email.group_any_priority")], ...PRIORITIES.map((key) => [key, label("priority", key)])]);
    this.text = h("input", {
      type: "search",
      maxlength: "200",
      placeholder: t("email.group_text_hint"),
      "aria-label": t("email.group_text_filter"),
    });
    this.text.addEventListener("input", () => {
      clearTimeout(this.typing);
      this.typing = setTimeout(() => this.refresh(), 300);
    });
    this.list = h("ul", { class: "email-group", "aria-label": t("email.group_queue") });
    this.element = h("section", { class: "email-group-queue" },
      h("h3", {}, t("email.group_queue")),
      h("div", { class: "email-group-filters" }, this.sort, this.queue, this.priority, this.text),
      this.list);
    this.queuesShown = false;
  }

  async showQueues() {
    if (this.queuesShown) return;
    const queues = await loadQueues();
    this.queue.append(...queues.map((queue) => h("option", { value: String(queue.id) }, queue.name)));
    this.queuesShown = true;
  }

  async refresh() {
    const reading = ++this.reading;
    const params = new URLSearchParams({ sort: this.sort.value });
    if (this.queue.value) params.set("queue_id", this.queue.value);
    if (this.priority.value) params.set("priority", this.priority.value);
    if (this.text.value.trim()) params.set("q", this.text.value.trim());
    try {
      await this.showQueues();
      const items = await api("GET", `/api/email-group?${params}`);
      if (reading !== this.reading) return; // a newer read is on its way
      fill(this.list, items.length ? items.map((item) => this.item(item)) : h("li", { class: "empty" }, t("email.group_empty")));
    } catch (error) {
      showError(error);
    }
  }

  item(item) {
    const take = h("button", { type: "button", onclick: () => this.take(item, take) }, t("email.take"));
    const sla = item.sla ? t(`email.sla_${item.sla}`) : "";
    return h("li", { class: `email-waiting${item.sla ? ` sla-${item.sla}` : ""}`, dataset: { interactionId: item.interaction_id } },
      h("span", { class: "email-waiting-subject" }, item.subject || t("email.no_subject")),
      take,
      h("p", { class: "email-found-meta" },
        [item.from ? person(item.from) : "", item.queue_name, label("priority", item.priority),
          formatDateTime(new Date(item.queued_at))].filter(Boolean).join(" · ")),
      item.sla_due_at
        ? h("p", { class: "email-sla" }, t("email.sla_due", { state: sla, when: formatDateTime(new Date(item.sla_due_at)) }))
        : null,
    );
  }

  async take(item, button) {
    button.disabled = true;
    try {
      await api("POST", `/api/emails/${item.interaction_id}/take`);
      toast(t("email.taken"));
      await this.desktop.readWork();
      this.desktop.select(item.interaction_id);
    } catch (error) {
      if (error?.code === "not_waiting") toast(t("email.taken_by_other"), { kind: "error" });
      else if (error?.code === "channel_full") toast(t("email.take_full"), { kind: "error" });
      else showError(error);
    }
    this.refresh();
  }
}

function render(container, interaction, desktop) {
  if (!watched.has(desktop)) {
    watched.add(desktop);
    // An email no longer in hand (wrapped up, taken away) drops its view.
    desktop.addEventListener("change", (event) => {
      if (event.detail.what !== "work") return;
      for (const [id, view] of views) {
        if (!desktop.work.has(id)) {
          view.stop();
          views.delete(id);
        }
      }
    });
    desktop.addEventListener("connection", (event) => {
      if (event.detail.isOnline) for (const view of views.values()) view.load();
    });
  }
  let view = views.get(interaction.id);
  if (!view) {
    view = new EmailView(interaction, desktop);
    views.set(interaction.id, view);
  }
  view.mount(container, interaction);
}

registerChannel("email", render);
