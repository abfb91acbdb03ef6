// The supervisor's monitoring page (F-SU-2): the live calls and the raised hands, polled
// from the REST API every few seconds, with listen / whisper / barge on each connected
// call (the supervisor's own phone is rung into it) and clearing a raised hand.

const config = JSON.parse(document.getElementById("monitor-config").textContent);
const strings = JSON.parse(document.getElementById("monitor-strings").textContent);

function t(key, params = {}) {
  const template = strings[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    name in params ? String(params[name]) : whole,
  );
}

// 75 -> "1:15", 3725 -> "1:02:05".
function duration(totalSeconds) {
  const seconds = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

async function api(method, path, body = undefined) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = config.csrf_token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.status === 401) {
    window.location.assign(config.login_url);
    return null;
  }
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(data?.error?.message ?? String(response.status));
  return data;
}

const status = document.getElementById("monitor-status");

function say(text) {
  status.textContent = text;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function button(text, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.addEventListener("click", onClick);
  return element;
}

async function spy(interactionId, mode) {
  try {
    await api("POST", `/api/calls/${interactionId}/spy`, { mode });
    say(t("spy.sent", { mode: t(`spy.${mode}`), id: interactionId }));
  } catch (error) {
    say(t("error.generic", { message: error.message }));
  }
}

function renderCalls(calls) {
  const body = document.querySelector("#live-calls tbody");
  body.replaceChildren(
    ...calls.map((call) => {
      const row = document.createElement("tr");
      row.dataset.interactionId = String(call.interaction_id);
      row.append(
        cell(call.queue_name),
        cell(call.agent_name),
        cell(call.caller_number),
        cell(duration(call.duration_seconds)),
        cell(t(`state.${call.state}`)),
      );
      const actions = document.createElement("td");
      actions.className = "actions";
      if (call.help_request_id !== null) {
        const hand = document.createElement("span");
        hand.className = "hand";
        hand.textContent = t("hand.raised");
        actions.append(hand);
      }
      if (call.state === "talking" || call.state === "held") {
        for (const mode of ["listen", "whisper", "barge"]) {
          actions.append(button(t(`spy.${mode}`), () => spy(call.interaction_id, mode)));
        }
      }
      row.append(actions);
      return row;
    }),
  );
  const none = document.getElementById("no-calls");
  none.textContent = t("calls.none");
  none.hidden = calls.length > 0;
}

function renderHands(hands) {
  const list = document.getElementById("raised-hands");
  list.replaceChildren(
    ...hands.map((hand) => {
      const item = document.createElement("li");
      item.dataset.helpRequestId = String(hand.id);
      const call =
        hand.interaction_id === null ? t("hand.no_call") : t("hand.call", { id: hand.interaction_id });
      const text = document.createElement("span");
      text.textContent = [hand.agent_name, call, hand.note].filter(Boolean).join(" · ");
      item.append(
        text,
        button(t("hand.clear"), async () => {
          try {
            await api("POST", `/api/help-requests/${hand.id}/clear`);
            await refresh();
          } catch (error) {
            say(t("error.generic", { message: error.message }));
          }
        }),
      );
      return item;
    }),
  );
  const none = document.getElementById("no-hands");
  none.textContent = t("hands.none");
  none.hidden = hands.length > 0;
}

async function refresh() {
  try {
    const [calls, hands] = await Promise.all([
      api("GET", "/api/supervision/calls"),
      api("GET", "/api/help-requests"),
    ]);
    if (calls !== null) renderCalls(calls);
    if (hands !== null) renderHands(hands);
    document.body.dataset.refreshed = String(Date.now());
  } catch (error) {
    say(t("error.generic", { message: error.message }));
  }
}

refresh();
setInterval(refresh, config.poll_seconds * 1000);
