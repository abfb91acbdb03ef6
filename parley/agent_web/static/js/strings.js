// The desktop's translated strings (rendered by the server into the page) and the
// formatting of times and durations in the page's language.

const strings = JSON.parse(document.getElementById("desktop-strings").textContent);
export const config = JSON.parse(document.getElementById("desktop-config").textContent);
const language = config.language || document.documentElement.lang || "en";

// `t("offer.title", {channel: "Chat"})`: the string of `key` with its {name}s filled.
// (Braces, not gettext's %(name)s: the template's gettext would fill those itself.)
export function t(key, params = {}) {
  const template = strings[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    name in params ? String(params[name]) : whole,
  );
}

// A state, reason or channel code in words; unknown codes are shown as they are.
export function label(prefix, code) {
  const key = `${prefix}.${code}`;
  return key in strings ? strings[key] : code;
}

// 75 -> "1:15", 3725 -> "1:02:05".
export function duration(totalSeconds) {
  const seconds = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

const timeFormat = new Intl.DateTimeFormat(language, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(language, {
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
});
const dayFormat = new Intl.DateTimeFormat(language, {
  weekday: "short",
  day: "numeric",
  month: "long",
});

export const formatTime = (date) => timeFormat.format(date);
export const formatDateTime = (date) => dateTimeFormat.format(date);
export const formatDay = (date) => dayFormat.format(date);
