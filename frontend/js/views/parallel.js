// Parallel coordinates: one line per combination across its tricks (off/on) and level
// values into the primary metric's mean, coloured by that metric.
import { plotlyText } from "/js/dom.js";
import { baseLayout, react } from "/js/plot.js";

export function renderParallel(el, analysis) {
  const rows = (analysis?.summary ?? []).filter((r) => r.mean !== null);
  const tricks = analysis?.design?.trick_factors ?? [];
  const levels = analysis?.design?.level_factors ?? {};
  const dimensions = tricks.map((t) => ({
    label: plotlyText(t),
    values: rows.map((r) => (r.tricks.includes(t) ? 1 : 0)),
    tickvals: [0, 1],
    ticktext: ["off", "on"],
    range: [0, 1],
  }));
  for (const [name, values] of Object.entries(levels)) {
    const numeric = values.every((v) => typeof v === "number");
    dimensions.push({
      label: plotlyText(name),
      values: rows.map((r) => (numeric ? r.levels?.[name] : values.indexOf(r.levels?.[name]))),
      ...(numeric ? {} : { tickvals: values.map((_, i) => i), ticktext: values.map((v) => plotlyText(v)) }),
    });
  }
  const metric = rows.map((r) => r.mean);
  dimensions.push({ label: plotlyText(analysis?.metric ?? "metric"), values: metric });
  const trace = {
    type: "parcoords",
    line: {
      color: metric,
      colorscale: "Viridis",
      reversescale: analysis?.direction === "minimize",
      showscale: true,
      colorbar: { thickness: 12 },
    },
    dimensions,
    meta: { role: "parcoords" },
  };
  react(el, rows.length && dimensions.length > 1 ? [trace] : [], baseLayout({ margin: { l: 60, r: 60, t: 48, b: 24 } }),
    { emptyText: "Appears once combinations have results.", bundle: "full" });
}
