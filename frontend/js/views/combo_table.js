// Per-combination table: tricks as on/off columns, level values, metric mean ± CI,
// n and failures (failed/diverged runs are counted, never silently dropped).
import { h } from "/js/dom.js";
import { comboLabel, fmtNumber } from "/js/format.js";
import { colorAt } from "/js/plot.js";
import { sortableTable } from "/js/views/table.js";

function ciText(row) {
  if (row.mean === null) return "–";
  if (row.ci_lo === null || row.ci_hi === null) return fmtNumber(row.mean);
  return `${fmtNumber(row.mean)} ± ${fmtNumber((row.ci_hi - row.ci_lo) / 2, 4)}`;
}

function columnsFor(analysis, colorIndex) {
  const design = analysis?.design ?? {};
  const tricks = design.trick_factors ?? [];
  const levels = Object.keys(design.level_factors ?? {});
  const failures = (row) => (row.counts?.failed ?? 0) + (row.counts?.diverged ?? 0);
  return [
    {
      key: "combination", label: "Combination", value: (r) => comboLabel(r),
      cell: (r) => h("span", {}, h("span", { class: "swatch", style: { background: colorAt(colorIndex(r.key)) } }), comboLabel(r)),
    },
    ...tricks.map((t) => ({
      key: `trick:${t}`, label: t, value: (r) => (r.tricks.includes(t) ? 1 : 0),
      cell: (r) => (r.tricks.includes(t) ? "✓" : "–"), className: (r) => (r.tricks.includes(t) ? "on" : "off"),
    })),
    ...levels.map((l) => ({ key: `level:${l}`, label: l, value: (r) => r.levels?.[l] ?? null })),
    { key: "mean", label: `${analysis?.metric ?? "metric"} (mean ± 95% CI)`, numeric: true, value: (r) => r.mean, cell: ciText },
    { key: "std", label: "std", numeric: true, value: (r) => r.std, cell: (r) => fmtNumber(r.std) },
    { key: "n", label: "n", numeric: true, value: (r) => r.n, cell: (r) => `${r.n}/${r.n_runs}` },
    { key: "failures", label: "failures", numeric: true, value: failures, cell: (r) => String(failures(r)),
      className: (r) => (failures(r) ? "error-cell" : "") },
    { key: "pending", label: "pending", numeric: true, value: (r) => (r.counts?.queued ?? 0) + (r.counts?.running ?? 0) },
  ];
}

export function comboTable(colorIndex) {
  let best = null;
  const table = sortableTable({
    id: "combo-table",
    columns: [],
    filterPlaceholder: "Filter combinations…",
    emptyText: "No combinations yet.",
    rowProps: (r) => ({ class: r.key === best ? "best" : null, dataset: { testid: "combo-row", key: r.key } }),
  });
  return {
    el: table.el,
    update(analysis) {
      const rows = analysis?.summary ?? [];
      const scored = rows.filter((r) => r.mean !== null);
      const sign = analysis?.direction === "minimize" ? -1 : 1;
      best = scored.length ? scored.reduce((a, b) => (sign * b.mean > sign * a.mean ? b : a)).key : null;
      table.update(rows, columnsFor(analysis, colorIndex));
    },
  };
}
