// Experiments list: one request for the page of experiments, refreshed every few
// seconds while any experiment is still active (one list request, never per run).
import { api } from "/js/api.js";
import { h, replaceChildren } from "/js/dom.js";
import { fmtDate, progressBar, statusBadge } from "/js/format.js";

const REFRESH_MS = 3000;
const COUNT_ORDER = ["succeeded", "running", "queued", "failed", "diverged", "cancelled"];

export async function render(container) {
  const body = h("div", { id: "experiments-body" }, h("p", { class: "muted" }, "Loading experiments…"));
  container.append(
    h(
      "div",
      { class: "page-head" },
      h("div", { class: "titles" }, h("h1", {}, "Experiments"),
        h("p", { class: "muted" }, "Ablation studies of training tricks: every combination × seeds, compared with confidence intervals.")),
    ),
    h("section", { class: "card" }, body),
  );

  let timer = null;
  let stopped = false;
  async function refresh() {
    try {
      const page = await api.listExperiments({ limit: 200 });
      if (stopped) return;
      replaceChildren(body, page.items.length ? experimentsTable(page) : emptyState());
      const active = page.items.some((e) => e.status === "queued" || e.status === "running");
      timer = setTimeout(refresh, active ? REFRESH_MS : REFRESH_MS * 3);
    } catch (err) {
      if (stopped) return;
      replaceChildren(body, h("p", { class: "form-errors" }, `Could not load experiments: ${err.message}`));
      timer = setTimeout(refresh, REFRESH_MS * 3);
    }
  }
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function emptyState() {
  return h("div", { class: "empty" },
    h("p", {}, "No experiments yet."),
    h("a", { class: "button primary", href: "#/new" }, "Create the first one"));
}

function experimentsTable(page) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "data", id: "experiments-table" },
      h("thead", {}, h("tr", {}, ["#", "Name", "Task", "Status", "Progress", "Runs", "Created"].map((t) => h("th", {}, t)))),
      h("tbody", {}, page.items.map(experimentRow)),
    ),
    page.total > page.items.length
      ? h("p", { class: "muted small" }, `Showing the ${page.items.length} most recent of ${page.total} experiments.`)
      : null,
  );
}

function experimentRow(exp) {
  const counts = exp.counts ?? {};
  const done = COUNT_ORDER.filter((s) => !["running", "queued"].includes(s)).reduce((n, s) => n + (counts[s] ?? 0), 0);
  return h(
    "tr",
    { dataset: { testid: "experiment-row", id: String(exp.id) } },
    h("td", { class: "muted" }, String(exp.id)),
    h("td", {}, h("a", { class: "list-link", href: `#/experiments/${exp.id}`, dataset: { testid: "experiment-link" } }, exp.name)),
    h("td", {}, exp.task),
    h("td", {}, statusBadge(exp.status)),
    h("td", { style: { minWidth: "160px" } },
      h("div", { class: "row" }, progressBar(exp.progress, { testid: "experiment-progress" }),
        h("span", { class: "small muted" }, `${done}/${exp.n_runs}`))),
    h("td", {}, countChips(counts)),
    h("td", { class: "muted small" }, fmtDate(exp.created_at)),
  );
}

/** Compact "● 3 succeeded ● 1 failed" chips, skipping zeros. */
export function countChips(counts) {
  return h(
    "div",
    { class: "counts" },
    COUNT_ORDER.filter((s) => (counts[s] ?? 0) > 0).map((s) =>
      h("span", { class: "count-chip", dataset: { status: s } },
        h("span", { class: "dot", style: { background: `var(--${s})` } }), `${counts[s]} ${s}`)),
  );
}
