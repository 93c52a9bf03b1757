// The experiment page's static skeleton: header, progress, and one card per view with
// the stable ids tests and users rely on. Drawing happens in experiment.js.
import { h, replaceChildren } from "/js/dom.js";
import { fmtDate, fmtNumber, progressBar, statusBadge, TERMINAL_STATUSES } from "/js/format.js";
import { countChips } from "/js/pages/list.js";

function card(id, heading, ...children) {
  return h("section", { class: "card", id }, h("h2", {}, heading), ...children);
}

const chart = (id, extra = "") => h("div", { class: `chart ${extra}`.trim(), id, dataset: { testid: id } });

/** Build the page; returns the element handles the live renderer fills. */
export function buildLayout(experiment, { onCancel }) {
  const el = {
    name: h("h1", { id: "experiment-name", dataset: { testid: "experiment-name" } }),
    status: h("span", { id: "experiment-status" }),
    meta: h("div", { class: "small muted", id: "experiment-meta" }),
    cancel: h("button", { type: "button", class: "danger", id: "cancel-experiment", onclick: onCancel }, "Cancel experiment"),
    progress: h("div", { id: "experiment-progress-wrap" }),
    progressText: h("div", { class: "small muted", id: "experiment-progress-text" }),
    counts: h("div", { id: "experiment-counts" }),
    curveControls: h("div", { class: "controls", id: "curve-controls" }),
    trainLoss: chart("curves-train_loss"),
    valAccuracy: chart("curves-val_accuracy"),
    diffControls: h("div", { class: "controls", id: "diff-controls" }),
    diff: chart("diff-chart"),
    metricControls: h("div", { class: "controls", id: "metric-controls" }),
    accuracy: chart("accuracy-chart"),
    designInfo: h("div", { id: "design-info", class: "small" }),
    effects: chart("effects-chart"),
    interactions: chart("interactions-chart"),
    comboTable: h("div", { id: "combo-table-wrap" }),
    oat: h("div", { id: "oat-wrap" }),
    parallel: chart("parallel-chart"),
    runsTable: h("div", { id: "runs-table-wrap" }),
    notice: h("div", { id: "experiment-notice" }),
  };
  el.root = h("div", { id: "experiment-page", dataset: { experimentId: String(experiment.id) } },
    h("div", { class: "page-head" },
      h("div", { class: "titles" }, h("div", { class: "row" }, el.name, el.status), el.meta),
      el.cancel),
    h("section", { class: "card", id: "progress-card" },
      h("div", { class: "row" }, h("div", { class: "spacer" }, el.progress), el.progressText),
      h("div", { style: { marginTop: "8px" } }, el.counts)),
    el.notice,
    h("nav", { class: "section-nav" }, [["curves", "Curves"], ["results", "Results"], ["effects", "Effects"],
      ["combinations", "Combinations"], ["one-at-a-time", "One at a time"], ["parallel", "Parallel coordinates"], ["runs", "Runs"]]
      .map(([id, text]) => h("a", { href: `#/experiments/${experiment.id}`, onclick: (e) => {
        e.preventDefault(); // hash routing owns the fragment, so scroll instead of navigating
        document.getElementById(`section-${id}`)?.scrollIntoView({ behavior: "smooth" });
      } }, text))),
    card("section-curves", "Learning curves (seed mean, 95% band)", el.curveControls,
      h("div", { class: "grid-2" }, el.trainLoss, el.valAccuracy),
      h("h3", { style: { marginTop: "16px" } }, "Paired difference curve"), el.diffControls, el.diff),
    card("section-results", "Final metric per combination", el.metricControls, el.accuracy),
    card("section-effects", "Effects", el.designInfo,
      h("div", { class: "grid-2" },
        h("div", {}, h("h3", {}, "Main effects (★ p < 0.05; green helps, red hurts)"), el.effects),
        h("div", {}, h("h3", {}, "Two-way interactions"), el.interactions))),
    card("section-combinations", "Combinations", el.comboTable),
    card("section-one-at-a-time", "One at a time (paper-style)", el.oat),
    card("section-parallel", "Parallel coordinates: tricks → primary metric", el.parallel),
    card("section-runs", "Runs", el.runsTable));
  return el;
}

/** Header, progress and counts: cheap, redrawn on every event. */
export function drawHeader(el, experiment, runs) {
  el.name.textContent = experiment.name;
  replaceChildren(el.status, statusBadge(experiment.status));
  el.meta.textContent = [
    `#${experiment.id}`, `task ${experiment.task}`, `design ${experiment.spec?.design ?? "full"}`,
    `metric ${experiment.metric} (${experiment.direction ?? "maximize"})`, `created ${fmtDate(experiment.created_at)}`,
    experiment.finished_at ? `finished ${fmtDate(experiment.finished_at)}` : null,
  ].filter(Boolean).join(" · ");
  const list = [...runs.values()];
  const counts = {};
  for (const run of list) counts[run.status] = (counts[run.status] ?? 0) + 1;
  const total = list.length || experiment.n_runs || 0;
  const done = list.filter((r) => TERMINAL_STATUSES.includes(r.status)).length;
  // Progress counts partial progress of running runs, so it moves before the first run ends.
  const fraction = list.length ? list.reduce((a, r) => a + (TERMINAL_STATUSES.includes(r.status) ? 1 : r.progress ?? 0), 0) / total
    : experiment.progress ?? 0;
  replaceChildren(el.progress, progressBar(fraction, { testid: "experiment-progress" }));
  el.progress.firstChild.classList.add("big");
  el.progress.firstChild.id = "experiment-progress";
  el.progressText.textContent = `${done} of ${total} runs finished · ${Math.round(fraction * 100)}%`;
  replaceChildren(el.counts, countChips(list.length ? counts : experiment.counts ?? {}));
  el.cancel.hidden = !["queued", "running"].includes(experiment.status);
}

/** Design facts: resolution and aliases of fractional designs, exclusions, model fit, warnings. */
export function drawDesignInfo(el, analysis) {
  const d = analysis?.design;
  if (!d) return;
  const lines = [`${d.design.replace(/_/g, " ")} design · ${d.n_combinations} combinations · ${d.n_runs} runs`];
  if (d.resolution_label) lines.push(`Resolution ${d.resolution_label}; generators: ${d.generators.join("; ") || "–"}`);
  if (d.aliases?.length) lines.push(`Aliases: ${d.aliases.map((a) => `${a.effect} = ${a.aliased_with.join(" = ")}`).join("; ")}`);
  if (d.excluded?.length) lines.push(`Excluded (conflicting): ${d.excluded.join(", ")}`);
  if (d.reference) lines.push(`Reference combination: ${d.reference}`);
  if (analysis.model) {
    lines.push(`Model: ${analysis.model.formula}; n=${analysis.model.n_obs}, R² = ${fmtNumber(analysis.model.r_squared, 3)}`);
  }
  if (!analysis.complete) lines.push(`Partial results: ${analysis.n_with_metric} of ${analysis.n_runs} runs have ${analysis.metric}.`);
  replaceChildren(el.designInfo, lines.map((t) => h("div", { class: "muted" }, t)),
    (analysis.warnings ?? []).map((w) => h("div", { class: "notice" }, w)));
}
