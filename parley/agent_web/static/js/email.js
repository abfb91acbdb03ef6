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

import { allItems, api } from "./api.js";
import { fill, h } from "./dom.js";
import { showError, toast } from "./notify.js";
import { config, formatDateTime, t } from "./strings.js";
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
    this.body = h("textarea", { id: `email-body-${this.id}`, name: "body", rows: "8", maxlength: "200000" });
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
      h("label", { for: this.body.id, class: "visually-hidden" }, t("email.body")),
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
    this.element = h("div", { class: "email", dataset: { interactionId: this.id } },
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
    for (const button of [this.sendButton, this.saveButton, this.discardButton, this.closeButton]) button.disabled = true;
    try {
      await action();
    } catch (error) {
      if (this.form.hidden) showError(error);
      else this.fail(error.message);
    } finally {
      this.isBusy = false;
      for (const button of [this.sendButton, this.saveButton, this.discardButton, this.closeButton]) button.disabled = false;
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

  // --- the composer -----------------------------------------------------------------

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
      this.body.value = draft.text;
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
      const text = this.body.value;
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
      const draft = await api("POST", `/api/emails/${this.id}/drafts`, { mode, text });
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
      const at = this.body.selectionStart ?? this.body.value.length;
      this.body.setRangeText(rendered.text, at, this.body.selectionEnd ?? at, "end");
      this.body.focus();
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
      this.stored.map((file) => item(file.filename, file.size, () => { this.stored = this.stored.filter((f) => f !== file); })),
      this.files.map((file) => item(file.name, file.size, () => { this.files = this.files.filter((f) => f !== file); })),
    );
  }

  // Save what the composer shows into the draft (made now for a forward).
  async save(isOwnAction = false) {
    const attachments = await Promise.all(this.files.map(async (file) => ({
      filename: file.name,
      content_type: file.type || "application/octet-stream",
      content_base64: await readBase64(file),
    })));
    const fields = {
      to: splitAddresses(this.to.value),
      cc: splitAddresses(this.cc.value),
      subject: this.subject.value.trim() || null,
      text: this.body.value,
      attachments,
    };
    const draft = this.draft
      ? await api("PATCH", `/api/email-drafts/${this.draft.id}`, {
          ...fields, keep_attachments: this.stored.map((file) => file.index),
        })
      : await api("POST", `/api/emails/${this.id}/drafts`, {
          mode: this.mode, parent_message_id: this.parent()?.id ?? null, ...fields,
        });
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
    for (const input of [this.to, this.cc, this.subject, this.body]) input.value = "";
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
