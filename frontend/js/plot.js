// Plotly plumbing shared by every chart: one colour per combination (stable across
// charts), a common layout, and Plotly.react so live refreshes update in place.
import { h, plotlyText, replaceChildren } from "/js/dom.js";

const PALETTE = [
  "#3b5bdb", "#e8590c", "#2f9e44", "#c2255c", "#7048e8", "#1098ad", "#f08c00", "#5c940d",
  "#d6336c", "#0b7285", "#862e9c", "#a61e4d", "#364fc7", "#087f5b", "#e67700", "#495057",
];

export function colorAt(index) {
  return PALETTE[((index % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/** rgba() of a palette hex colour, for bands and dimmed traces. */
export function withAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

export function baseLayout(overrides = {}) {
  return {
    margin: { l: 56, r: 16, t: 36, b: 48 },
    font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#1d2330" },
    paper_bgcolor: "#fff",
    plot_bgcolor: "#fff",
    hovermode: "closest",
    legend: { orientation: "h", y: -0.2, font: { size: 11 } },
    xaxis: { gridcolor: "#eef0f3", zeroline: false },
    yaxis: { gridcolor: "#eef0f3", zeroline: false },
    ...overrides,
  };
}

/** A Plotly axis/chart title object with the (escaped) text. */
export function title(text) {
  return { text: plotlyText(text) };
}

const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

/** Draw or update a chart in place; show `emptyText` instead when there is nothing to draw. */
export function react(el, data, layout, { emptyText } = {}) {
  if (!window.Plotly) {
    replaceChildren(el, h("div", { class: "chart-empty" }, "Plotly.js did not load."));
    return;
  }
  const placeholder = el.querySelector(":scope > .chart-empty");
  if (!data.length && emptyText) {
    if (el.data) window.Plotly.purge(el);
    if (placeholder) placeholder.textContent = emptyText;
    else replaceChildren(el, h("div", { class: "chart-empty" }, emptyText));
    el.dataset.traces = "0";
    return;
  }
  placeholder?.remove();
  window.Plotly.react(el, data, layout, CONFIG);
  el.dataset.traces = String(data.length);
}
