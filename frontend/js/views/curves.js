// Overlaid learning curves: per combination the seed mean (one line trace, tagged
// meta.role = "mean") and its 95% band (a filled polygon behind it), plus the paired
// difference curve of one trick. Smoothing, log scale and focus are view options.
// Above BAND_LIMIT combinations (256 give 512 SVG traces and a legend of 256 entries, ~1 s
// per chart) the lines are drawn compactly instead: see compactTraces.
import { plotlyText } from "/js/dom.js";
import { comboLabel } from "/js/format.js";
import { baseLayout, colorAt, react, title, withAlpha } from "/js/plot.js";

/** TensorBoard-style debiased EMA; `weight` 0 leaves the series untouched, nulls stay null. */
export function ema(values, weight) {
  if (!weight) return values;
  let last = 0;
  let count = 0;
  return values.map((v) => {
    if (v === null || v === undefined || !Number.isFinite(v)) return null;
    last = last * weight + (1 - weight) * v;
    count += 1;
    return last / (1 - weight ** count);
  });
}

function bandTrace(x, lo, hi, color, group) {
  const keep = x.map((_, i) => i).filter((i) => lo[i] !== null && hi[i] !== null);
  return {
    type: "scatter",
    mode: "lines",
    // Upper edge left to right, then the lower edge back: one closed polygon.
    x: [...keep.map((i) => x[i]), ...[...keep].reverse().map((i) => x[i])],
    y: [...keep.map((i) => hi[i]), ...[...keep].reverse().map((i) => lo[i])],
    fill: "toself",
    fillcolor: withAlpha(color, 0.15),
    line: { width: 0, color: withAlpha(color, 0) },
    hoverinfo: "skip",
    showlegend: false,
    legendgroup: group,
    meta: { role: "band", combo: group },
  };
}

const BAND_LIMIT = 32;

/**
 * Many combinations: one line trace per colour (and focus state), the combinations of that
 * colour joined with null gaps, tagged meta.role = "means" with their keys in meta.combos. No
 * band polygons and no legend; each point's hover names its combination and gives the 95% band
 * and n, so the numbers stay at hand. A saved view of at most BAND_LIMIT combinations brings the
 * bands and the legend back.
 */
function compactTraces(combos, { colorIndex, smoothing, focusTrick }) {
  const groups = new Map();
  for (const combo of combos) {
    const color = colorAt(colorIndex(combo.key));
    const dimmed = Boolean(focusTrick) && !combo.tricks.includes(focusTrick);
    const id = `${dimmed ? "d" : "f"}${color}`;
    if (!groups.has(id)) groups.set(id, { color, dimmed, combos: [], x: [], y: [], customdata: [], sizes: [], single: false });
    const group = groups.get(id);
    const label = plotlyText(comboLabel(combo));
    const [mean, lo, hi] = [combo.mean, combo.lo, combo.hi].map((values) => ema(values, smoothing));
    group.combos.push(combo.key);
    // A combination with a single point gets a marker, which a line alone would not show.
    const size = combo.steps.length === 1 ? 6 : 0;
    group.single ||= size > 0;
    combo.steps.forEach((step, i) => {
      group.x.push(step);
      group.y.push(mean[i]);
      group.customdata.push([label, combo.n[i], lo[i] ?? NaN, hi[i] ?? NaN]);
      group.sizes.push(size);
    });
    group.x.push(null);
    group.y.push(null);
    group.customdata.push(null);
    group.sizes.push(0);
  }
  // Dimmed lines first, so the focused ones are drawn over them.
  return [...groups.values()].sort((a, b) => Number(b.dimmed) - Number(a.dimmed)).map((g) => ({
    type: "scatter",
    mode: g.single ? "lines+markers" : "lines",
    x: g.x,
    y: g.y,
    customdata: g.customdata,
    marker: { color: g.dimmed ? withAlpha(g.color, 0.18) : g.color, size: g.single ? g.sizes : 0 },
    line: { color: g.dimmed ? withAlpha(g.color, 0.18) : g.color, width: g.dimmed ? 1 : 1.5 },
    connectgaps: false,
    showlegend: false,
    hovertemplate: "%{customdata[0]}<br>step %{x}<br>%{y:.4g} (n=%{customdata[1]})"
      + "<br>95% band [%{customdata[2]:.4g}, %{customdata[3]:.4g}]<extra></extra>",
    meta: { role: "means", combos: g.combos },
  }));
}

/**
 * Draw every combination's curve of `curves` (a CurvesOut) into `el`.
 * options: {colorIndex(key), smoothing, logY, focusTrick, yTitle}
 */
export function renderCurves(el, curves, options) {
  const { colorIndex, smoothing = 0, logY = false, focusTrick = "", yTitle } = options;
  const combos = (curves?.combinations ?? []).filter((combo) => combo.steps.length);
  const layout = baseLayout({
    xaxis: { title: title("step"), gridcolor: "#eef0f3", zeroline: false },
    yaxis: { title: title(yTitle ?? curves?.key ?? ""), type: logY ? "log" : "linear", gridcolor: "#eef0f3", zeroline: false },
    uirevision: `${curves?.key}-${logY}`,
  });
  const emptyText = `No ${yTitle ?? "curve"} points recorded yet.`;
  if (combos.length > BAND_LIMIT) {
    layout.title = { text: `${combos.length} combinations: hover a line for its band; bands and legend up to ${BAND_LIMIT}`,
      font: { size: 11, color: "#667085" } };
    return react(el, compactTraces(combos, { colorIndex, smoothing, focusTrick }), layout, { emptyText });
  }
  const data = [];
  const bands = [];
  for (const combo of combos) {
    const color = colorAt(colorIndex(combo.key));
    const dimmed = focusTrick && !combo.tricks.includes(focusTrick);
    const lineColor = dimmed ? withAlpha(color, 0.18) : color;
    const label = plotlyText(comboLabel(combo));
    if (!dimmed) bands.push(bandTrace(combo.steps, ema(combo.lo, smoothing), ema(combo.hi, smoothing), color, combo.key));
    data.push({
      type: "scatter",
      mode: combo.steps.length === 1 ? "markers" : "lines",
      name: label,
      x: combo.steps,
      y: ema(combo.mean, smoothing),
      customdata: combo.n,
      line: { color: lineColor, width: dimmed ? 1 : 2 },
      marker: { color: lineColor },
      legendgroup: combo.key,
      hovertemplate: `${label}<br>step %{x}<br>%{y:.4g} (n=%{customdata})<extra></extra>`,
      meta: { role: "mean", combo: combo.key },
    });
  }
  return react(el, [...bands, ...data], layout, { emptyText });
}

/** The paired with-minus-without curve of one trick (DiffCurve), with its band and a zero line. */
export function renderDiffCurve(el, diff, { smoothing = 0, keyLabel }) {
  if (!diff || !diff.steps?.length) {
    react(el, [], {}, { emptyText: diff ? `No paired runs with and without ${diff.trick} yet.` : "Choose a trick to compare." });
    return;
  }
  const color = "#c2255c";
  const band = bandTrace(diff.steps, ema(diff.lo, smoothing), ema(diff.hi, smoothing), color, "diff");
  const trick = plotlyText(diff.trick);
  const line = {
    type: "scatter",
    mode: "lines",
    name: `with − without ${trick}`,
    x: diff.steps,
    y: ema(diff.mean, smoothing),
    customdata: diff.n,
    line: { color, width: 2 },
    hovertemplate: `step %{x}<br>Δ %{y:.4g} (pairs=%{customdata})<extra></extra>`,
    meta: { role: "diff" },
  };
  react(el, [band, line], baseLayout({
    title: title(`${keyLabel}: with ${diff.trick} minus without (paired by seed, ${diff.n_pairs} pairs)`),
    xaxis: { title: title("step"), gridcolor: "#eef0f3", zeroline: false },
    yaxis: { title: title(`Δ ${keyLabel}`), gridcolor: "#eef0f3", zeroline: true, zerolinecolor: "#adb5bd" },
    showlegend: false,
  }));
}
