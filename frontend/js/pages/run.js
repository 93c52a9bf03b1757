// Run page: config, status, attempts, timings, error, final metrics and every recorded
// curve. Curves are fetched downsampled and refetched at full resolution for the
// visible step range on zoom. Live through its experiment's event stream.
import { api } from "/js/api.js";
import { h, plotlyText, replaceChildren, throttle } from "/js/dom.js";
import { comboLabel, fmtDate, fmtDuration, fmtNumber, keyValueList, progressBar, statusBadge, TERMINAL_STATUSES } from "/js/format.js";
import { baseLayout, react, title, withAlpha } from "/js/plot.js";

const MAX_POINTS = 500;

function card(id, heading, ...children) {
  return h("section", { class: "card", id }, h("h2", {}, heading), ...children);
}

export async function render(container, { id }) {
  let run = await api.getRun(id);
  const el = {
    title: h("h1", { id: "run-title" }),
    status: h("span", { id: "run-status" }),
    meta: h("div", { class: "small muted" }),
    cancel: h("button", { type: "button", class: "danger", id: "cancel-run", onclick: cancel }, "Cancel run"),
    progress: h("div", { id: "run-progress" }),
    timings: h("div", { id: "run-timings" }),
    error: h("div", { id: "run-error" }),
    finals: h("div", { id: "run-final-metrics" }),
    config: h("div", { id: "run-config" }),
    attempts: h("div", { id: "run-attempts" }),
    curves: h("div", { class: "grid-2", id: "run-curves" }),
  };
  container.append(
    h("div", { class: "page-head" },
      h("div", { class: "titles" }, h("div", { class: "row" }, el.title, el.status), el.meta), el.cancel),
    h("div", { class: "grid-2" },
      card("run-status-card", "Status and timings", el.progress, el.timings, el.error),
      card("run-finals-card", "Final metrics", el.finals)),
    card("run-curves-card", "Curves", h("p", { class: "small muted" }, "Drag to zoom: the zoomed range is refetched at full resolution. Double-click to reset."), el.curves),
    h("div", { class: "grid-2" }, card("run-config-card", "Config", el.config), card("run-attempts-card", "Attempts", el.attempts)));

  const charts = new Map(); // key → {div, range}

  async function cancel() {
    try {
      run = await api.cancelRun(id);
      drawRun();
    } catch (err) {
      replaceChildren(el.error, h("div", { class: "notice" }, `Could not cancel: ${err.message}`));
    }
  }

  function drawRun() {
    el.title.textContent = `Run #${run.id} · ${comboLabel({ tricks: run.tricks, levels: run.levels })} · seed ${run.seed}`;
    replaceChildren(el.status, statusBadge(run.status));
    replaceChildren(el.meta, h("a", { href: `#/experiments/${run.experiment_id}` }, `← experiment #${run.experiment_id}`),
      ` · combination ${run.combo_key} · attempt ${run.attempt} · worker ${run.worker_id ?? "–"}`);
    el.cancel.hidden = TERMINAL_STATUSES.includes(run.status);
    replaceChildren(el.progress, progressBar(TERMINAL_STATUSES.includes(run.status) && run.status === "succeeded" ? 1 : run.progress));
    replaceChildren(el.timings, keyValueList([
      ["status", statusBadge(run.status)],
      ["progress", `${Math.round((run.progress ?? 0) * 100)}%`],
      ["queued", fmtDate(run.queued_at)],
      ["started", fmtDate(run.started_at)],
      ["finished", fmtDate(run.finished_at)],
      ["duration", fmtDuration(run.duration_seconds)],
      ["last heartbeat", fmtDate(run.heartbeat_at)],
    ], "run-timings"));
    replaceChildren(el.error, run.error ? h("pre", { class: "notice mono", id: "run-error-text", style: { whiteSpace: "pre-wrap" } }, run.error) : null);
    const finals = Object.entries(run.final_metrics ?? {}).sort(([a], [b]) => a.localeCompare(b));
    replaceChildren(el.finals, finals.length
      ? h("table", { class: "data" }, h("tbody", {}, finals.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", { class: "num" }, fmtNumber(v, 5))))))
      : h("p", { class: "muted" }, "No final metrics yet."));
    const tricks = Object.entries(run.tricks ?? {});
    replaceChildren(el.config,
      h("h3", {}, "Tricks on"),
      tricks.length ? h("ul", {}, tricks.map(([name, params]) => h("li", {}, h("strong", {}, name), " ",
        h("span", { class: "mono muted" }, JSON.stringify(params ?? {}))))) : h("p", { class: "muted" }, "none (base config)"),
      Object.keys(run.levels ?? {}).length ? [h("h3", {}, "Levels"), h("p", { class: "mono" }, JSON.stringify(run.levels))] : null,
      h("h3", {}, "Resolved config"),
      h("pre", { class: "mono", style: { whiteSpace: "pre-wrap", maxHeight: "360px", overflow: "auto" } }, JSON.stringify(run.config ?? {}, null, 2)));
    const attempts = run.attempts ?? [];
    replaceChildren(el.attempts, attempts.length
      ? h("table", { class: "data" },
        h("thead", {}, h("tr", {}, ["#", "worker", "started", "ended", "outcome", "reason"].map((t) => h("th", {}, t)))),
        h("tbody", {}, attempts.map((a) => h("tr", {}, h("td", {}, String(a.attempt)), h("td", {}, a.worker_id ?? "–"),
          h("td", { class: "small" }, fmtDate(a.started_at)), h("td", { class: "small" }, fmtDate(a.ended_at)),
          h("td", {}, a.outcome ? statusBadge(a.outcome) : "–"), h("td", { class: "error-cell", title: a.reason ?? "" }, a.reason ?? "")))))
      : h("p", { class: "muted" }, "Not started yet."));
  }

  function chartFor(key) {
    if (!charts.has(key)) {
      const div = h("div", { class: "chart", id: `run-curve-${key}`, dataset: { testid: "run-curve", key } });
      const entry = { div, range: null };
      charts.set(key, entry);
      el.curves.append(div);
    }
    return charts.get(key);
  }

  async function drawCurve(key, range) {
    const entry = chartFor(key);
    const params = { max_points: MAX_POINTS };
    if (range) Object.assign(params, { start_step: Math.floor(range[0]), end_step: Math.ceil(range[1]) });
    const series = await api.runMetric(id, key, params);
    const color = "#3b5bdb";
    const data = [];
    if (series.downsampled) {
      // Bucket min/max as a band so spikes stay visible after downsampling.
      data.push({ type: "scatter", mode: "lines", x: [...series.steps, ...[...series.steps].reverse()],
        y: [...series.maxs, ...[...series.mins].reverse()], fill: "toself", fillcolor: withAlpha(color, 0.15),
        line: { width: 0 }, hoverinfo: "skip", showlegend: false, name: "min/max" });
    }
    data.push({ type: "scatter", mode: series.steps.length === 1 ? "markers" : "lines", name: plotlyText(key), x: series.steps,
      y: series.values, line: { color, width: 1.8 }, hovertemplate: "step %{x}<br>%{y:.5g}<extra></extra>", meta: { role: "series" } });
    await react(entry.div, data, baseLayout({
      title: title(`${key} · ${series.total_points} points${series.downsampled ? `, ${series.steps.length} drawn` : ""}`),
      xaxis: { title: title("step"), gridcolor: "#eef0f3", ...(range ? { range, autorange: false } : {}) },
      yaxis: { gridcolor: "#eef0f3" },
      uirevision: key,
      showlegend: false,
    }), { emptyText: `No ${key} points.` });
    if (!entry.bound && entry.div.on) {
      entry.bound = true;
      entry.div.on("plotly_relayout", (ev) => {
        if (ev["xaxis.autorange"]) {
          entry.range = null;
          drawCurve(key, null);
        } else {
          // A drag zoom reports "xaxis.range[0]"/"[1]"; Plotly.relayout callers may pass "xaxis.range".
          const range = ev["xaxis.range"] ?? (ev["xaxis.range[0]"] !== undefined ? [ev["xaxis.range[0]"], ev["xaxis.range[1]"]] : null);
          if (!range) return;
          entry.range = range;
          drawCurve(key, range);
        }
      });
    }
  }

  async function drawCurves() {
    const { keys } = await api.runMetricKeys(id);
    const ordered = [...keys].sort((a, b) => a.key.localeCompare(b.key));
    if (!ordered.length) replaceChildren(el.curves, h("p", { class: "muted" }, "No metrics recorded yet."));
    else el.curves.querySelector(":scope > p")?.remove();
    await Promise.all(ordered.map((k) => drawCurve(k.key, charts.get(k.key)?.range ?? null)));
  }

  drawRun();
  await drawCurves();

  // Live: this run's rows arrive on its experiment's stream; refetch on change.
  let source = null;
  const refresh = throttle(async () => {
    try {
      run = await api.getRun(id);
      drawRun();
      await drawCurves();
    } catch { /* a transient failure: the next event retries */ }
  }, 1500);
  if (!TERMINAL_STATUSES.includes(run.status)) {
    source = new EventSource(api.eventsUrl(run.experiment_id));
    const onEvent = (event) => {
      const payload = event.data ? JSON.parse(event.data) : {};
      if ((payload.runs ?? []).some((r) => r.id === id)) refresh();
    };
    source.addEventListener("update", onEvent);
    source.addEventListener("end", () => { source.close(); refresh(); });
  }
  return () => source?.close();
}
