// Formatting shared by every page: numbers, times, status badges, progress bars,
// and the human label of a trick combination.
import { h } from "/js/dom.js";

export const TERMINAL_STATUSES = ["succeeded", "failed", "diverged", "cancelled"];
export const RUN_STATUSES = ["queued", "running", ...TERMINAL_STATUSES];

export function fmtNumber(value, digits = 4) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return value.toExponential(2);
  return value.toFixed(digits).replace(/\.?0+$/, "") || "0";
}

export function fmtDate(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A coloured status pill; the class drives the colour (see app.css). */
export function statusBadge(status) {
  return h("span", { class: `badge status-${status}`, dataset: { status } }, status);
}

/** A progress bar for a fraction in [0, 1]. */
export function progressBar(fraction, { testid, label } = {}) {
  const pct = Math.max(0, Math.min(1, Number(fraction) || 0)) * 100;
  return h(
    "div",
    {
      class: "progress",
      role: "progressbar",
      "aria-valuemin": "0",
      "aria-valuemax": "100",
      "aria-valuenow": pct.toFixed(0),
      dataset: testid ? { testid } : undefined,
      title: label ?? `${pct.toFixed(0)}%`,
    },
    h("div", { class: "progress-fill", style: { width: `${pct}%` } }),
  );
}

/** The on-tricks of a combination, whether given as {name: params} or [names]. */
export function onTricks(combination) {
  const tricks = combination?.tricks ?? {};
  return Array.isArray(tricks) ? tricks : Object.keys(tricks);
}

/** "warmup + relu · lr=0.1", or "base" when nothing is switched on. */
export function comboLabel(combination) {
  if (!combination) return "?";
  const parts = onTricks(combination);
  const levels = Object.entries(combination.levels ?? {}).map(([k, v]) => `${k}=${v}`);
  return [parts.join(" + ") || "base", levels.join(", ")].filter(Boolean).join(" · ");
}

/** Labelled key/value list (a <dl>) for config and metadata panels. */
export function keyValueList(entries, testid) {
  return h(
    "dl",
    { class: "kv", dataset: testid ? { testid } : undefined },
    entries.map(([key, value]) => [h("dt", {}, key), h("dd", {}, value instanceof Node ? value : String(value ?? "–"))]),
  );
}

/** A page-level error card (404s and unexpected failures). */
export function errorPanel(err) {
  return h(
    "section",
    { class: "card error-panel", dataset: { testid: "page-error" } },
    h("h1", {}, err?.status === 404 ? "Not found" : "Something went wrong"),
    h("p", {}, err?.message ?? String(err)),
    h("a", { href: "#/" }, "Back to experiments"),
  );
}
