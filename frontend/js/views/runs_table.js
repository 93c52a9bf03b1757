// The runs of an experiment (RunBrief rows from the event stream), linking to run pages.
import { h } from "/js/dom.js";
import { comboLabel, progressBar, statusBadge } from "/js/format.js";
import { sortableTable } from "/js/views/table.js";

const STATUS_ORDER = { running: 0, queued: 1, failed: 2, diverged: 3, cancelled: 4, succeeded: 5 };

export function runsTable(comboFor, onCancel) {
  const table = sortableTable({
    id: "runs-table",
    filterPlaceholder: "Filter runs (combination, status, error)…",
    emptyText: "No runs.",
    rowProps: (r) => ({ dataset: { testid: "run-row", runId: String(r.id), status: r.status } }),
    columns: [
      { key: "id", label: "Run", numeric: true, value: (r) => r.id, cell: (r) => h("a", { href: `#/runs/${r.id}` }, `#${r.id}`) },
      { key: "combination", label: "Combination", value: (r) => comboLabel(comboFor(r.combo_key) ?? { key: r.combo_key }) },
      { key: "seed", label: "Seed", numeric: true, value: (r) => r.seed },
      { key: "status", label: "Status", value: (r) => r.status, cell: (r) => statusBadge(r.status) },
      { key: "attempt", label: "Attempt", numeric: true, value: (r) => r.attempt },
      {
        key: "progress", label: "Progress", value: (r) => r.progress ?? 0,
        cell: (r) => h("div", { class: "row", style: { minWidth: "120px" } }, progressBar(r.progress),
          h("span", { class: "small muted" }, `${Math.round((r.progress ?? 0) * 100)}%`)),
      },
      { key: "error", label: "Error", value: (r) => r.error ?? "", cell: (r) => h("span", { title: r.error ?? "" }, r.error ?? ""), className: () => "error-cell" },
      {
        key: "actions", label: "", value: (r) => STATUS_ORDER[r.status] ?? 9,
        cell: (r) => (onCancel && ["queued", "running"].includes(r.status)
          ? h("button", { type: "button", class: "small danger", dataset: { testid: "cancel-run" }, onclick: () => onCancel(r.id) }, "Cancel")
          : ""),
      },
    ],
  });
  return table;
}
