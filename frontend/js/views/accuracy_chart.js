// Final metric per combination: seed mean with its 95% CI as error bars. Every
// combination gets a category, including those with no finished run yet.
import { plotlyText } from "/js/dom.js";
import { comboLabel, fmtNumber } from "/js/format.js";
import { baseLayout, colorAt, react, title } from "/js/plot.js";

export function renderAccuracyChart(el, analysis, { colorIndex }) {
  const rows = analysis?.summary ?? [];
  const labels = rows.map((r) => plotlyText(comboLabel(r)));
  const means = rows.map((r) => r.mean);
  const up = rows.map((r) => (r.ci_hi !== null && r.mean !== null ? r.ci_hi - r.mean : 0));
  const down = rows.map((r) => (r.ci_lo !== null && r.mean !== null ? r.mean - r.ci_lo : 0));
  const text = rows.map((r) => (r.mean === null ? "pending" : `${fmtNumber(r.mean, 3)} (n=${r.n})`));
  const trace = {
    type: "bar",
    x: labels,
    y: means,
    text,
    textposition: "outside",
    cliponaxis: false,
    marker: { color: rows.map((r) => colorAt(colorIndex(r.key))) },
    error_y: { type: "data", symmetric: false, array: up, arrayminus: down, color: "#344054", thickness: 1.5, width: 6 },
    customdata: rows.map((r) => [r.ci_lo ?? NaN, r.ci_hi ?? NaN, r.n, r.n_runs]),
    hovertemplate: "%{x}<br>mean %{y:.4f}<br>95% CI [%{customdata[0]:.4f}, %{customdata[1]:.4f}]<br>n=%{customdata[2]} of %{customdata[3]} runs<extra></extra>",
    meta: { role: "summary" },
  };
  const finite = rows.flatMap((r) => [r.ci_lo, r.ci_hi, r.mean]).filter((v) => v !== null && Number.isFinite(v));
  // Zoom the y-axis onto the results: accuracies near 0.95 differ by tenths of a point.
  let range;
  if (finite.length) {
    const lo = Math.min(...finite);
    const hi = Math.max(...finite);
    const pad = Math.max((hi - lo) * 0.35, 0.01);
    range = [Math.max(lo - pad, analysis.metric?.includes("accuracy") ? 0 : -Infinity), hi + pad];
    if (!Number.isFinite(range[0])) range[0] = lo - pad;
  }
  react(el, rows.length ? [trace] : [], baseLayout({
    margin: { l: 56, r: 16, t: 24, b: 110 },
    xaxis: { type: "category", tickangle: -25, automargin: true },
    yaxis: { title: title(`${analysis?.metric ?? "metric"} (mean ± 95% CI)`), range, gridcolor: "#eef0f3" },
    showlegend: false,
  }), { emptyText: "No combinations yet." });
}
