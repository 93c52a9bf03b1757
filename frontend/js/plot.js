// Plotly plumbing shared by every chart: one colour per combination (stable across
// charts), a common layout, and Plotly.react so live refreshes update in place.
// Plotly.js (3.5 MB) is loaded on first need instead of by index.html: a blocking or
// deferred script would hold back the app's modules, and so its data requests, for the
// second or more that parsing it takes. Pages ask for it once their requests are out.
import { h, plotlyText, replaceChildren } from "/js/dom.js";

const PLOTLY_URL = "/static/vendor/plotly.min.js";
let plotlyLoading = null;

/** Plotly, once loaded (null if it cannot be): starts loading it on the first call. */
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  plotlyLoading ??= new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = PLOTLY_URL;
    script.onload = () => resolve(window.Plotly ?? null);
    script.onerror = () => resolve(null);
    document.head.append(script);
  });
  return plotlyLoading;
}

/**
 * Call `draw` once `el` comes within a screen's height of the viewport (at once if it is
 * already). Until then only the latest `draw` is kept: a view nobody scrolls to costs nothing.
 */
export function drawWhenNear(el, draw) {
  el.nearDraw = draw;
  if (el.nearObserver) return;
  el.nearObserver = new IntersectionObserver((entries) => {
    if (!entries.some((entry) => entry.isIntersecting)) return;
    el.nearObserver.disconnect();
    el.nearObserver = null;
    const latest = el.nearDraw;
    el.nearDraw = null;
    latest();
  }, { rootMargin: "100% 0px" });
  el.nearObserver.observe(el);
}

/** Let the browser paint (and handle input) before the next long drawing. */
export function yieldToBrowser() {
  // requestAnimationFrame never fires in a hidden tab, so only wait for a frame when one will come.
  if (document.hidden) return new Promise((resolve) => setTimeout(resolve, 0));
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

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

/**
 * Draw or update a chart in place; show `emptyText` instead when there is nothing to draw.
 * Draws at once when Plotly is loaded; before that, only the latest call per element is kept
 * and drawn when it arrives. Resolves once drawn.
 */
export function react(el, data, layout, options = {}) {
  if (!el.pendingDraw && (window.Plotly || (!data.length && options.emptyText))) {
    draw(el, data, layout, options);
    return Promise.resolve();
  }
  const first = !el.pendingDraw;
  el.pendingDraw = [data, layout, options];
  if (!first) return el.pendingDrawn;
  el.pendingDrawn = loadPlotly().then(() => {
    const latest = el.pendingDraw;
    el.pendingDraw = null;
    draw(el, ...latest);
  });
  return el.pendingDrawn;
}

function draw(el, data, layout, { emptyText } = {}) {
  const placeholder = el.querySelector(":scope > .chart-empty");
  if (!data.length && emptyText) {
    if (el.data) window.Plotly.purge(el);
    if (placeholder) placeholder.textContent = emptyText;
    else replaceChildren(el, h("div", { class: "chart-empty" }, emptyText));
    el.dataset.traces = "0";
    return;
  }
  if (!window.Plotly) {
    replaceChildren(el, h("div", { class: "chart-empty" }, "Plotly.js did not load."));
    return;
  }
  placeholder?.remove();
  window.Plotly.react(el, data, layout, CONFIG);
  el.dataset.traces = String(data.length);
}
