// The REST API from the desktop: JSON both ways, the session cookie, and the session's
// CSRF token on every call that changes something.

import { config } from "./strings.js";

export class ApiError extends Error {
  constructor(status, code, message, fields = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

export async function api(method, path, body = undefined) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = config.csrf_token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (error) {
    throw new ApiError(0, "network", error.message);
  }
  if (response.status === 401) {
    // The session ended (expired, logged out elsewhere): log in again, then come back.
    window.location.assign(config.login_url);
    throw new ApiError(401, "not_authenticated", "Not logged in.");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error ?? {};
    throw new ApiError(
      response.status,
      error.code ?? "http_error",
      error.message ?? response.statusText,
      error.fields ?? [],
    );
  }
  return data;
}

// Every item of a paged list (`{items, total}`), following the pages.
export async function allItems(path, pageSize = 200) {
  const items = [];
  const separator = path.includes("?") ? "&" : "?";
  for (let offset = 0; ; offset += pageSize) {
    const page = await api("GET", `${path}${separator}limit=${pageSize}&offset=${offset}`);
    items.push(...page.items);
    if (page.items.length < pageSize || items.length >= page.total) return items;
  }
}
