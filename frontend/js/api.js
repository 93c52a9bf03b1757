// Thin client for the REST API in docs/API.md. Errors become ApiError carrying the
// server's `detail` (a string, or FastAPI's list of {loc, msg} for 422s).

const BASE = "/api/v1";
const TOKEN_KEY = "tricklab.token";

// A token handed over in the URL (`/?token=...`, like Jupyter's token URL) is
// remembered and removed from the address bar so it does not leak into history.
(function adoptTokenFromUrl() {
  const params = new URLSearchParams(window.location.search);
  const token = params.get("token");
  if (!token) return;
  localStorage.setItem(TOKEN_KEY, token);
  params.delete("token");
  const query = params.toString();
  history.replaceState(null, "", `${window.location.pathname}${query ? `?${query}` : ""}${window.location.hash}`);
})();

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

function headers(extra = {}) {
  const out = { Accept: "application/json", ...extra };
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) out.Authorization = `Bearer ${token}`;
  return out;
}

async function request(method, path, body, { signal } = {}) {
  const init = { method, headers: headers(), signal, credentials: "same-origin" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(BASE + path, init);
  if (response.status === 204) return null;
  let payload = null;
  const text = await response.text();
  try {
    payload = text ? JSON.parse(text) : null;
  } catch {
    payload = text;
  }
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
};
