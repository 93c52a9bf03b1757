// Effects views: a forest plot of main effects (sorted by size, significant ones marked)
// and a heatmap of two-way interactions between trick factors.
import { plotlyText } from "/js/dom.js";
import { fmtNumber } from "/js/format.js";
import { baseLayout, react, title } from "/js/plot.js";

function effectColor(effect) {
  if (!effect.estimable || effect.estimate === null) return "#adb5bd";
  if (effect.improves) return "#2f9e44";
  if (effect.p_value !== null && effect.p_value < 0.05) return "#e03131";
  return "#667085";
}

function effectLabel(effect) {
  const significant = effect.p_value !== null && effect.p_value < 0.05;
  const alias = effect.aliased_with?.length ? ` (≡ ${effect.aliased_with.join(", ")})` : "";
  return plotlyText(`${significant ? "★ " : ""}${effect.term}${alias}`);
}

/** Forest plot of `effects` (Effect[]), largest |estimate| on top; non-estimable ones listed at the bottom. */
export function renderForest(el, effects, { metric }) {
  const sorted = [...(effects ?? [])].sort((a, b) => {
    const ea = a.estimate === null ? -1 : Math.abs(a.estimate);
    const eb = b.estimate === null ? -1 : Math.abs(b.estimate);
    return ea - eb; // Plotly draws the first category at the bottom
  });
  const trace = {
    type: "scatter",
    mode: "markers",
    orientation: "h",
    y: sorted.map(effectLabel),
    x: sorted.map((e) => e.estimate),
    error_x: {
      type: "data",
      symmetric: false,
      array: sorted.map((e) => (e.ci_hi !== null && e.estimate !== null ? e.ci_hi - e.estimate : 0)),
      arrayminus: sorted.map((e) => (e.ci_lo !== null && e.estimate !== null ? e.estimate - e.ci_lo : 0)),
      color: "#475467",
      thickness: 1.5,
      width: 5,
    },
    marker: { size: 11, color: sorted.map(effectColor), symbol: sorted.map((e) => (e.estimable ? "diamond" : "x")) },
    customdata: sorted.map((e) => [
      e.ci_lo ?? NaN, e.ci_hi ?? NaN, e.p_value === null ? "n/a" : fmtNumber(e.p_value, 4), e.estimable ? "" : " (not estimable)",
    ]),
    hovertemplate: "%{y}<br>effect %{x:.4f}%{customdata[3]}<br>95% CI [%{customdata[0]:.4f}, %{customdata[1]:.4f}]<br>p = %{customdata[2]}<extra></extra>",
    meta: { role: "effects" },
  };
  react(el, sorted.length ? [trace] : [], baseLayout({
    margin: { l: 180, r: 24, t: 16, b: 48 },
    xaxis: { title: title(`effect on ${metric} (with − without, 95% CI)`), zeroline: true, zerolinecolor: "#344054", zerolinewidth: 1.5, gridcolor: "#eef0f3" },
    yaxis: { type: "category", automargin: true },
    height: Math.max(260, 60 + sorted.length * 34),
    showlegend: false,
  }), { emptyText: "Effects appear once runs have finished." });
}

/** Heatmap of `interactions` (Effect[] of kind interaction) over the trick factors. */
export function renderInteractionHeatmap(el, interactions, factors) {
  const names = factors.filter((f) => (interactions ?? []).some((e) => e.factors.includes(f)));
  const index = new Map(names.map((n, i) => [n, i]));
  const z = names.map(() => names.map(() => null));
  const text = names.map(() => names.map(() => ""));
  for (const e of interactions ?? []) {
    if (e.factors.length !== 2 || !index.has(e.factors[0]) || !index.has(e.factors[1])) continue;
    const [i, j] = [index.get(e.factors[0]), index.get(e.factors[1])];
    const star = e.p_value !== null && e.p_value < 0.05 ? "★" : "";
    const label = e.estimable && e.estimate !== null ? `${fmtNumber(e.estimate, 3)}${star}` : "n/a";
    const hover = e.estimable && e.estimate !== null ? `p=${e.p_value === null ? "n/a" : fmtNumber(e.p_value, 3)}` : "not estimable";
    for (const [a, b] of [[i, j], [j, i]]) {
      z[a][b] = e.estimate;
      text[a][b] = `${label}|${hover}`;
    }
  }
  const labels = names.map(plotlyText);
  const maxAbs = Math.max(1e-9, ...z.flat().filter((v) => v !== null).map(Math.abs));
  const trace = {
    type: "heatmap",
    x: labels,
    y: labels,
    z,
    zmid: 0,
    zmin: -maxAbs,
    zmax: maxAbs,
    colorscale: "RdBu",
    reversescale: false,
    text: text.map((row) => row.map((t) => t.split("|")[0])),
    customdata: text.map((row) => row.map((t) => t.split("|")[1] ?? "")),
    texttemplate: "%{text}",
    hovertemplate: "%{y} × %{x}<br>interaction %{z:.4f}<br>%{customdata}<extra></extra>",
    hoverongaps: false,
    colorbar: { title: { text: "a:b" }, thickness: 12 },
    meta: { role: "interactions" },
  };
  react(el, names.length >= 2 ? [trace] : [], baseLayout({
    margin: { l: 120, r: 16, t: 16, b: 100 },
    xaxis: { type: "category", tickangle: -30, automargin: true },
    yaxis: { type: "category", automargin: true, autorange: "reversed" },
    height: Math.max(300, 120 + names.length * 48),
  }), { emptyText: "Interactions need at least two trick factors and finished runs." });
}
