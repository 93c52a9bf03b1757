// Experiment page: live over the SSE stream (snapshot/update/end, never polling runs).
// Cheap parts (header, progress, runs table) redraw on each event, throttled; the
// aggregated views (curves, analysis) refetch at most every REFRESH_MS while it runs.
// An experiment already settled when the page opens is loaded once, at once, without
// waiting for the stream, and its stream's snapshot and end reload nothing.
import { api, ApiError, sharedApi } from "/js/api.js";
import { fallbackAnalysis } from "/js/analysis_fallback.js";
import { h, replaceChildren, throttle } from "/js/dom.js";
import { buildLayout, drawDesignInfo, drawHeader } from "/js/pages/experiment_layout.js";
import { mountSharing } from "/js/pages/experiment_sharing.js";
import { drawWhenNear, loadPlotly, yieldToBrowser } from "/js/plot.js";
import { renderAccuracyChart } from "/js/views/accuracy_chart.js";
import { comboTable } from "/js/views/combo_table.js";
import { renderCurves, renderDiffCurve } from "/js/views/curves.js";
import { renderForest, renderInteractionHeatmap } from "/js/views/effects.js";
import { renderOneAtATime } from "/js/views/oat_table.js";
import { renderParallel } from "/js/views/parallel.js";
import { runsTable } from "/js/views/runs_table.js";

const LIVE_MS = 400;
const REFRESH_MS = 1500;
const CURVE_KEYS = [["train_loss", "training loss"], ["val_accuracy", "validation accuracy"]];

// With `shareToken` the page is the read-only view of a share link: data comes from
// /shared/<token>/..., nothing can be changed, and the link's saved view (if any) applies.
export async function render(container, { id: pageId, shareToken }) {
  const reader = shareToken ? sharedApi(shareToken) : api;
  const shared = shareToken ? await reader.shared() : null;
  const [experiment, tasks] = shared
    ? [shared.experiment, []]
    : await Promise.all([api.getExperiment(pageId), api.tasks().catch(() => [])]);
  const id = experiment.id;
  const task = tasks.find((t) => t.name === experiment.task);
  const state = {
    experiment,
    runs: new Map(),
    analysis: null,
    curves: {},
    controls: { smoothing: 0, logY: false, focusTrick: "", diffTrick: "", diffKey: "val_accuracy", metric: experiment.metric,
      combos: [] },
    stopped: false,
  };
  applyView(shared?.view?.config);
  const comboIndex = new Map((experiment.combinations ?? []).map((c, i) => [c.key, i]));
  const colorIndex = (key) => comboIndex.get(key) ?? comboIndex.size;
  const comboFor = (key) => (state.experiment.combinations ?? []).find((c) => c.key === key);

  // A settled experiment's first chart is requested before anything else (the stream's
  // snapshot of every run, the saved views): they would share the server with its curves.
  const isSettled = settled(experiment);
  let firstChartDrawn;
  const firstChart = isSettled ? new Promise((resolve) => { firstChartDrawn = resolve; }) : Promise.resolve();
  const el = buildLayout(experiment, { onCancel: cancelExperiment });
  const runs = runsTable(comboFor, shared ? null : cancelRun);
  const combos = comboTable(colorIndex);
  el.runsTable.append(runs.el);
  el.comboTable.append(combos.el);
  container.append(el.root);
  buildControls();
  if (shared) {
    el.cancel.remove();
    el.notice.before(h("div", { class: "notice", id: "shared-banner" },
      `Read-only shared view${shared.view ? ` "${shared.view.name}"` : ""}`,
      shared.expires_at ? ` · link expires ${new Date(shared.expires_at).toLocaleString()}` : ""));
  } else {
    el.notice.after(mountSharing({ experimentId: id, currentConfig, openView, after: firstChart }));
  }

  /** A saved comparison's settings: chosen combinations, metric, smoothing, curve key. */
  function applyView(config) {
    if (!config) return;
    const c = state.controls;
    c.combos = config.combinations ?? [];
    c.smoothing = Number(config.smoothing ?? 0);
    if (config.metric) c.metric = config.metric;
    if (config.curve_key) c.diffKey = config.curve_key;
  }

  function currentConfig() {
    const c = state.controls;
    return { combinations: c.combos, metric: c.metric, smoothing: c.smoothing, curve_key: c.diffKey };
  }

  function openView(view) {
    applyView(view.config);
    buildControls();
    loadData();
  }

  // Two clicks instead of window.confirm: no modal, and a stray click cannot cancel.
  let armedUntil = 0;
  async function cancelExperiment() {
    if (Date.now() > armedUntil) {
      armedUntil = Date.now() + 4000;
      el.cancel.textContent = "Click again to cancel every unfinished run";
      el.cancel.dataset.armed = "1";
      setTimeout(() => {
        el.cancel.textContent = "Cancel experiment";
        delete el.cancel.dataset.armed;
      }, 4000);
      return;
    }
    armedUntil = 0;
    try {
      state.experiment = await api.cancelExperiment(id);
      drawLive();
    } catch (err) {
      showNotice(`Could not cancel: ${err.message}`);
    }
  }

  async function cancelRun(runId) {
    try {
      const run = await api.cancelRun(runId);
      state.runs.set(run.id, { ...state.runs.get(run.id), ...pickBrief(run) });
      drawLive();
    } catch (err) {
      showNotice(`Could not cancel run #${runId}: ${err.message}`);
    }
  }

  function showNotice(text) {
    replaceChildren(el.notice, text ? h("div", { class: "notice" }, text) : null);
  }

  function drawLive() {
    drawHeader(el, state.experiment, state.runs);
    runs.update([...state.runs.values()]);
  }
  const drawLiveThrottled = throttle(drawLive, LIVE_MS);

  function drawCurves() {
    for (const [key] of CURVE_KEYS) drawCurve(key);
    drawDiff();
  }

  function drawCurve(key) {
    const c = state.controls;
    const target = key === "train_loss" ? el.trainLoss : el.valAccuracy;
    const label = CURVE_KEYS.find(([k]) => k === key)[1];
    const data = onlyChosen(state.curves[key]);
    if (data?.error) react404(target, data.error);
    else renderCurves(target, data, { colorIndex, smoothing: c.smoothing, logY: c.logY, focusTrick: c.focusTrick, yTitle: label });
  }

  function drawDiff() {
    const c = state.controls;
    const diffSource = state.curves[c.diffKey];
    renderDiffCurve(el.diff, c.diffTrick ? diffSource?.diff ?? { trick: c.diffTrick, steps: [] } : null, {
      smoothing: c.smoothing, keyLabel: c.diffKey,
    });
  }

  function onlyChosen(data) {
    const chosen = state.controls.combos;
    if (!chosen?.length || !data?.combinations) return data;
    return { ...data, combinations: data.combinations.filter((co) => chosen.includes(co.key)) };
  }

  function react404(target, message) {
    replaceChildren(target, h("div", { class: "chart-empty" }, message));
  }

  // In steps with a paint between them: on a large experiment each chart holds the main thread.
  async function drawAnalysis() {
    const a = state.analysis;
    if (!a) return;
    drawDesignInfo(el, a);
    combos.update(a);
    renderOneAtATime(el.oat, a);
    // Parallel coordinates (WebGL) take over a second for 256 combinations: only when scrolled near.
    drawWhenNear(el.parallel, () => renderParallel(el.parallel, a));
    const steps = [
      () => renderForest(el.effects, a.effects, { metric: a.metric }),
      () => renderInteractionHeatmap(el.interactions, a.interactions, a.design?.trick_factors ?? []),
      // Last: once the accuracy chart shows an analysis, so do the views above.
      () => renderAccuracyChart(el.accuracy, a, { colorIndex }),
    ];
    for (const step of steps) {
      await yieldToBrowser();
      if (state.stopped) return;
      step();
    }
  }

  function loadCurve(key) {
    const diff = state.controls.diffTrick;
    return reader.experimentCurves(id, key, 200, diff || undefined)
      .catch((err) => ({ error: `Curves are not available: ${err.message}` }));
  }

  async function loadAnalysis() {
    try {
      state.analysis = await reader.experimentAnalysis(id, state.controls.metric);
    } catch (err) {
      // 404 here means the server has no analysis route yet (the experiment exists):
      // compute what we can from the runs' final metrics instead.
      if (!(err instanceof ApiError) || ![404, 405, 501].includes(err.status)) throw err;
      const allRuns = await reader.allExperimentRuns(id);
      state.analysis = fallbackAnalysis(state.experiment, allRuns, state.controls.metric);
    }
  }

  // One load at a time; a request during a load queues exactly one more.
  let loading = null;
  let again = false;
  async function loadData() {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        try {
          // The first curves alone first: the server answers the page's requests mostly one
          // at a time, so they would otherwise wait behind the analysis and the other key.
          // Plotly parses meanwhile; each view is drawn as soon as it can be, the first first.
          const [[firstKey], ...otherKeys] = CURVE_KEYS;
          const first = loadCurve(firstKey);
          const plotly = loadPlotly();
          state.curves[firstKey] = await first;
          const others = Promise.all(otherKeys.map(async ([key]) => { state.curves[key] = await loadCurve(key); }));
          const analysis = loadAnalysis();
          analysis.catch(() => {}); // awaited below; this only keeps it from counting as unhandled meanwhile
          await plotly;
          if (state.stopped) return;
          drawCurve(firstKey);
          await yieldToBrowser();
          firstChartDrawn?.();
          await others;
          if (state.stopped) return;
          for (const [key] of otherKeys) drawCurve(key);
          drawDiff();
          await yieldToBrowser();
          await analysis;
          if (state.stopped) return;
          await drawAnalysis();
        } catch (err) {
          showNotice(`Could not load results: ${err.message}`);
        } finally {
          firstChartDrawn?.();
        }
      } while (again && !state.stopped);
    })();
    try {
      await loading;
    } finally {
      loading = null;
    }
  }
  const loadDataThrottled = throttle(loadData, REFRESH_MS);

  function buildControls() {
    const c = state.controls;
    const tricks = (experiment.factors ?? []).filter((f) => (experiment.combinations ?? []).some((co) => f in (co.tricks ?? {})));
    const trickOptions = (none) => [h("option", { value: "" }, none), ...tricks.map((t) => h("option", { value: t }, t))];
    const smoothing = h("input", { type: "range", id: "smoothing", min: "0", max: "0.99", step: "0.01", value: String(c.smoothing) });
    const smoothingValue = h("span", { class: "mono" }, c.smoothing.toFixed(2));
    smoothing.addEventListener("input", () => {
      c.smoothing = Number(smoothing.value);
      smoothingValue.textContent = c.smoothing.toFixed(2);
      drawCurves();
    });
    const logY = h("input", { type: "checkbox", id: "log-scale" });
    logY.addEventListener("change", () => { c.logY = logY.checked; drawCurves(); });
    const focus = h("select", { id: "focus-trick" }, trickOptions("all combinations"));
    focus.addEventListener("change", () => { c.focusTrick = focus.value; drawCurves(); });
    replaceChildren(el.curveControls,
      h("label", {}, "EMA smoothing", smoothing, smoothingValue),
      h("label", {}, logY, "log scale (y)"),
      h("label", {}, "focus on combinations with", focus));

    const diffTrick = h("select", { id: "diff-trick" }, trickOptions("choose a trick"));
    diffTrick.addEventListener("change", () => { c.diffTrick = diffTrick.value; loadData(); });
    const diffKey = h("select", { id: "diff-key" }, CURVE_KEYS.map(([k, label]) => h("option", { value: k }, label)));
    diffKey.value = c.diffKey;
    diffKey.addEventListener("change", () => { c.diffKey = diffKey.value; drawCurves(); });
    replaceChildren(el.diffControls, h("label", {}, "trick", diffTrick), h("label", {}, "curve", diffKey));

    const metrics = [...new Set([experiment.metric, ...(task?.metrics ?? []), "val_accuracy", "val_loss"])];
    const metric = h("select", { id: "analysis-metric" }, metrics.map((m) => h("option", { value: m }, m)));
    metric.value = c.metric;
    metric.addEventListener("change", () => { c.metric = metric.value; loadData(); });
    replaceChildren(el.metricControls, h("label", {}, "metric", metric),
      h("span", { class: "small muted" }, "mean over seeds with a 95% CI; effects, tables and parallel coordinates follow this metric"));
  }

  // --- live stream ---------------------------------------------------------
  let source = null;
  let gotSnapshot = false;
  // True while the views were loaded after the experiment had settled: nothing to reload.
  let loadedSettled = false;
  function applyPayload(payload) {
    if (payload.experiment) state.experiment = { ...state.experiment, ...payload.experiment };
    for (const run of payload.runs ?? []) state.runs.set(run.id, { ...state.runs.get(run.id), ...run });
  }
  function openStream() {
    source = new EventSource(api.eventsUrl(id));
    source.addEventListener("snapshot", (event) => {
      gotSnapshot = true;
      state.runs.clear();
      applyPayload(JSON.parse(event.data));
      drawLive();
      if (loadedSettled && settled(state.experiment)) return;
      loadedSettled = false;
      loadData();
    });
    source.addEventListener("update", (event) => {
      applyPayload(JSON.parse(event.data));
      drawLiveThrottled();
      loadDataThrottled();
    });
    source.addEventListener("end", (event) => {
      if (event.data) applyPayload(JSON.parse(event.data));
      source.close();
      if (loadedSettled) {
        drawLive();
        return;
      }
      // The final state: fetch the experiment (finished_at, status) and every view once more.
      api.getExperiment(id).then((exp) => { state.experiment = exp; drawLive(); }).catch(() => {});
      loadData();
    });
    source.addEventListener("error", () => {
      if (gotSnapshot || state.stopped) return; // EventSource reconnects by itself and sends a new snapshot
      source.close();
      loadRunsWithoutStream();
    });
  }

  async function loadRunsWithoutStream() {
    if (!shared) showNotice("Live updates are unavailable; showing the state at page load. Reload to refresh.");
    const all = await reader.allExperimentRuns(id).catch(() => []);
    for (const run of all) state.runs.set(run.id, pickBrief(run));
    drawLive();
    if (!loadedSettled) loadData();
  }

  drawLive();
  if (isSettled) {
    loadedSettled = true;
    loadData();
  }
  // A link reads a snapshot; the live stream is for signed-in users.
  firstChart.then(() => {
    if (state.stopped) return;
    if (shared) loadRunsWithoutStream();
    else openStream();
  });
  return () => {
    state.stopped = true;
    source?.close();
  };
}

/** Finished or cancelled with no run left to end: its results will not change. */
function settled(experiment) {
  const counts = experiment.counts ?? {};
  return ["finished", "cancelled"].includes(experiment.status) && !counts.queued && !counts.running;
}

function pickBrief(run) {
  const { id, combo_key, seed, status, progress, attempt, error } = run;
  return { id, combo_key, seed, status, progress, attempt, error };
}
