// Thin client for the REST API in docs/API.md. Errors become ApiError carrying the
// server's `detail` (a string, or FastAPI's list of {loc, msg} for 422s).

const BASE = "/api/v1";
// The dashboard authenticates with an HTTP-only session cookie (EventSource sends it too).
// Cookie writes carry the session's CSRF token, learnt from GET /auth/me or the login answer.
let csrfToken = null;
let currentUser = null;

/** The signed-in user ({user, team, role, auth}) or null. */
export function me() {
  return currentUser;
}

function remember(payload) {
  currentUser = payload;
  csrfToken = payload?.csrf_token ?? null;
  window.dispatchEvent(new CustomEvent("tricklab:session", { detail: payload }));
  return payload;
}

/**
 * Start-up: a token handed over in the URL (`/?token=...`, like Jupyter's token URL) is
 * removed from the address bar at once and swapped for a session cookie; then ask who we are.
 */
export async function initSession() {
  const params = new URLSearchParams(window.location.search);
  const token = params.get("token");
  if (token) {
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", `${window.location.pathname}${rest ? `?${rest}` : ""}${window.location.hash}`);
    try {
      return remember(await request("POST", "/auth/token-login", { token }, { quiet401: true }));
    } catch {
      // fall through: maybe a session cookie still works
    }
  }
  try {
    return remember(await request("GET", "/auth/me", undefined, { quiet401: true }));
  } catch {
    return remember(null);
  }
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }

  /** FastAPI-style validation errors as [{loc: [...], msg}], without the leading "body". */
  get fieldErrors() {
    if (!Array.isArray(this.detail)) return [];
    return this.detail.map((err) => ({
      loc: (err.loc ?? []).filter((part, i) => !(i === 0 && part === "body")),
      msg: err.msg ?? String(err),
    }));
  }
}

async function request(method, path, body, { signal, quiet401 = false } = {}) {
  const init = { method, headers: { Accept: "application/json" }, signal, credentials: "same-origin" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  if (method !== "GET" && csrfToken) init.headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(BASE + path, init);
  if (response.status === 204) return null;
  let payload = null;
  const text = await response.text();
  try {
    payload = text ? JSON.parse(text) : null;
  } catch {
    payload = text;
  }
  if (response.status === 401 && !quiet401) window.dispatchEvent(new CustomEvent("tricklab:unauthorized"));
  if (!response.ok) throw new ApiError(response.status, payload?.detail ?? payload ?? response.statusText);
  return payload;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const api = {
  tasks: () => request("GET", "/tasks"),
  tricks: () => request("GET", "/tricks"),
  listExperiments: (params = {}) => request("GET", `/experiments${query({ limit: 100, ...params })}`),
  getExperiment: (id) => request("GET", `/experiments/${id}`),
  previewExperiment: (spec, opts) => request("POST", "/experiments/preview", spec, opts),
  createExperiment: (spec) => request("POST", "/experiments", spec),
  cancelExperiment: (id) => request("POST", `/experiments/${id}/cancel`),
  experimentRuns: (id, params = {}) => request("GET", `/experiments/${id}/runs${query({ limit: 500, ...params })}`),
  experimentCurves: (id, key, points = 200, diff) => request("GET", `/experiments/${id}/curves${query({ key, points, diff })}`),
  experimentAnalysis: (id, metric) => request("GET", `/experiments/${id}/analysis${query({ metric })}`),
  getRun: (id) => request("GET", `/runs/${id}`),
  cancelRun: (id) => request("POST", `/runs/${id}/cancel`),
  runMetricKeys: (id) => request("GET", `/runs/${id}/metrics`),
  runMetric: (id, key, params = {}) =>
    request("GET", `/runs/${id}/metrics/${encodeURIComponent(key)}${query({ max_points: 1000, ...params })}`),
  /** Every run of an experiment, following pagination (runs carry final_metrics). */
  async allExperimentRuns(id) {
    const runs = [];
    for (let offset = 0; ; ) {
      const page = await this.experimentRuns(id, { offset, limit: 500 });
      runs.push(...page.items);
      offset += page.items.length;
      if (!page.items.length || offset >= page.total) return runs;
    }
  },
  eventsUrl: (id) => `${BASE}/experiments/${id}/events`,
  // accounts
  async login(username, password) {
    return remember(await request("POST", "/auth/login", { username, password }, { quiet401: true }));
  },
  async logout() {
    await request("POST", "/auth/logout").catch(() => null);
    remember(null);
  },
  // saved comparisons and share links
  listViews: (id) => request("GET", `/experiments/${id}/views?limit=500`),
  createView: (id, view) => request("POST", `/experiments/${id}/views`, view),
  deleteView: (id, viewId) => request("DELETE", `/experiments/${id}/views/${viewId}`),
  listShares: (id) => request("GET", `/experiments/${id}/shares?limit=500`),
  createShare: (id, body) => request("POST", `/experiments/${id}/shares`, body),
  revokeShare: (shareId) => request("DELETE", `/shares/${shareId}`),
};

/** Read-only access through a share link: the same calls the experiment page makes, scoped to the link. */
export function sharedApi(token) {
  const base = `/shared/${encodeURIComponent(token)}`;
  const opts = { quiet401: true };
  return {
    shared: () => request("GET", base, undefined, opts),
    experimentCurves: (_id, key, points = 200, diff) => request("GET", `${base}/curves${query({ key, points, diff })}`, undefined, opts),
    experimentAnalysis: (_id, metric) => request("GET", `${base}/analysis${query({ metric })}`, undefined, opts),
    async allExperimentRuns() {
      const runs = [];
      for (let offset = 0; ; ) {
        const page = await request("GET", `${base}/runs${query({ offset, limit: 500 })}`, undefined, opts);
        runs.push(...page.items);
        offset += page.items.length;
        if (!page.items.length || offset >= page.total) return runs;
      }
    },
  };
}
