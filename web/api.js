// The API client and the session. Tokens live in this module's memory only (never in localStorage,
// sessionStorage or cookies): a reload signs out. The access token is refreshed a minute before it
// expires, and once more when a request is answered 401.

const listeners = new Set();
let session = null; // { access, refresh, expiresAt, user, role, org }
let refreshing = null;
let timer = null;

/** An error answer of the API: `status`, `code` and `message` from `{"error":{code,message}}`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Called with the session (or null) whenever one starts or ends. */
export function onSession(listener) {
  listeners.add(listener);
}

export function current() {
  return session;
}

export async function login(email, password) {
  const pair = await send("/api/v1/auth/login", { method: "POST", body: { email, password } }, false);
  adopt(pair);
  const me = await api("/api/v1/auth/me");
  session.role = me.role;
  session.org = me.org_id;
  listeners.forEach((l) => l(session));
  return session;
}

export async function logout() {
  const ending = session;
  end();
  if (ending) {
    await fetch("/api/v1/auth/logout", {
      method: "POST",
      headers: { authorization: `Bearer ${ending.access}` },
    }).catch(() => {});
  }
}

/** The access token, refreshed first when it is about to expire (for EventSource, websockets and the
 *  recording, which take it in the query). */
export async function accessToken() {
  if (!session) throw new ApiError(401, "unauthorized", "signed out");
  if (Date.now() > session.expiresAt - 60_000) await refresh();
  return session.access;
}

/** A JSON request to the API: `api(path, {method, body, query})`. Resolves to the parsed body (null
 *  for 204); rejects with an ApiError. */
export async function api(path, options = {}) {
  return send(path, options, true);
}

async function send(path, { method = "GET", body, query } = {}, authed) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (authed) headers.authorization = `Bearer ${await accessToken()}`;
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && authed && attempt === 0 && session) {
      await refresh();
      continue;
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!response.ok) {
      const error = (parsed && parsed.error) || {};
      if (response.status === 401 && authed) end();
      throw new ApiError(response.status, error.code || "http_error", error.message || `HTTP ${response.status}`);
    }
    return parsed;
  }
}

function adopt(pair) {
  session = Object.assign(session || {}, {
    access: pair.access_token,
    refresh: pair.refresh_token,
    expiresAt: Date.now() + pair.expires_in * 1000,
    user: pair.user,
  });
  clearTimeout(timer);
  timer = setTimeout(() => refresh().catch(() => {}), Math.max(5_000, pair.expires_in * 1000 - 60_000));
}

async function refresh() {
  if (!session) throw new ApiError(401, "unauthorized", "signed out");
  if (!refreshing) {
    refreshing = send("/api/v1/auth/refresh", { method: "POST", body: { refresh_token: session.refresh } }, false)
      .then(adopt)
      .catch((e) => {
        end();
        throw e;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

function end() {
  clearTimeout(timer);
  const had = session !== null;
  session = null;
  if (had) listeners.forEach((l) => l(null));
}
