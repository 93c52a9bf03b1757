// Paper-style one-at-a-time table: "−trick" (leave one out from all-on) or "+trick"
// (add one to the base). From the analysis' paired rows when the design is one of
// those; otherwise read off the per-combination summary of a full factorial (unpaired).
import { h, replaceChildren } from "/js/dom.js";
import { fmtNumber } from "/js/format.js";

function sameLevels(a, b) {
  return JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});
}

/** Derive +trick and −trick rows from a summary that contains the needed combinations. */
export function deriveOneAtATime(analysis) {
  const summary = analysis?.summary ?? [];
  const tricks = analysis?.design?.trick_factors ?? [];
  const find = (on, levels) =>
    summary.find((r) => r.tricks.length === on.length && on.every((t) => r.tricks.includes(t)) && sameLevels(r.levels, levels));
  const cells = [...new Map(summary.map((r) => [JSON.stringify(r.levels ?? {}), r.levels ?? {}])).values()];
  const rows = [];
  for (const levels of cells) {
    for (const trick of tricks) {
      const base = find([], levels);
      const added = find([trick], levels);
      if (base && added) rows.push({ kind: "+", trick, levels, with: added, without: base });
      const all = find(tricks, levels);
      const dropped = find(tricks.filter((t) => t !== trick), levels);
      if (all && dropped && tricks.length > 1) rows.push({ kind: "−", trick, levels, with: all, without: dropped });
    }
  }
  return rows.map((r) => ({
    trick: r.trick, kind: r.kind, levels: r.levels, with_key: r.with.key, without_key: r.without.key,
    n_pairs: Math.min(r.with.n, r.without.n), with_mean: r.with.mean, without_mean: r.without.mean,
    mean_diff: r.with.mean !== null && r.without.mean !== null ? r.with.mean - r.without.mean : null,
    ci_lo: null, ci_hi: null, p_improve: null,
  }));
}

export function renderOneAtATime(el, analysis) {
  const paired = analysis?.one_at_a_time;
  const design = analysis?.design?.design;
  const rows = paired ?? deriveOneAtATime(analysis);
  const kindOf = (r) => r.kind ?? (design === "leave_one_out" ? "−" : "+");
  const note = paired
    ? "Paired by seed against the reference; CI is a 95% bootstrap of the mean paired difference."
    : "Read off the full design's combination means (unpaired; no CI). Leave-one-out and add-one-in designs give paired rows.";
  const sign = analysis?.direction === "minimize" ? -1 : 1;
  const table = h("table", { class: "data", id: "oat-table" },
    h("thead", {}, h("tr", {}, ["Change", "Levels", "with", "without", "Δ (with − without)", "95% CI", "P(better)", "pairs"]
      .map((t, i) => h("th", { class: i >= 2 ? "num" : null }, t)))),
    h("tbody", {}, rows.length ? rows.map((r) => h("tr", { dataset: { testid: "oat-row", trick: r.trick } },
      h("td", {}, h("strong", {}, `${kindOf(r)}${r.trick}`)),
      h("td", { class: "muted" }, Object.entries(r.levels ?? {}).map(([k, v]) => `${k}=${v}`).join(", ") || "–"),
      h("td", { class: "num" }, fmtNumber(r.with_mean)),
      h("td", { class: "num" }, fmtNumber(r.without_mean)),
      h("td", { class: "num", style: { color: r.mean_diff === null ? null : sign * r.mean_diff > 0 ? "var(--succeeded)" : "var(--failed)", fontWeight: "600" } },
        r.mean_diff === null ? "–" : `${r.mean_diff > 0 ? "+" : ""}${fmtNumber(r.mean_diff)}`),
      h("td", { class: "num" }, r.ci_lo === null ? "–" : `[${fmtNumber(r.ci_lo)}, ${fmtNumber(r.ci_hi)}]`),
      h("td", { class: "num" }, r.p_improve === null ? "–" : `${Math.round(r.p_improve * 100)}%`),
      h("td", { class: "num" }, String(r.n_pairs)),
    )) : h("tr", {}, h("td", { colSpan: 8, class: "muted" }, "Needs the base, single-trick or all-but-one combinations with results."))));
  replaceChildren(el, h("p", { class: "small muted" }, note), h("div", { class: "table-wrap" }, table));
}
