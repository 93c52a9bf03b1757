// Plotly plumbing shared by every chart: one colour per combination (stable across
// charts), a common layout, and Plotly.react so live refreshes update in place.
// Plotly.js is loaded on first need instead of by index.html: a blocking or deferred script
// would hold back the app's modules, and so its data requests, while it parses. Pages ask for
// it once their requests are out. Every chart but one needs only the cartesian bundle
// (scatter, bar, heatmap: 1.5 MB, ~0.5 s to run in a cold tab), vendored in /vendor with its
// MIT licence; parallel coordinates need the full bundle (4.8 MB, ~1.2 s) that the installed
// plotly package ships and the API serves, loaded only for that view as a second instance.
import { h, plotlyText, replaceChildren } from "/js/dom.js";

const BUNDLES = { cartesian: "/vendor/plotly-cartesian-4.1.1.min.js", full: "/static/vendor/plotly.min.js" };
const instances = { cartesian: null, full: null };
const loading = {};

/** The Plotly `bundle` ("cartesian" or "full"), once loaded (null if it cannot be); starts loading it. */
export function loadPlotly(bundle = "cartesian") {
  if (instances[bundle]) return Promise.resolve(instances[bundle]);
  loading[bundle] ??= new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = BUNDLES[bundle];
    // Runs in the same task as the bundle, which has just set window.Plotly to itself.
    script.onload = () => {
      instances[bundle] = window.Plotly ?? null;
      // window.Plotly stays the cartesian instance (a console user's, or a test's, Plotly).
      if (bundle !== "cartesian") window.Plotly = instances.cartesian ?? undefined;
      resolve(instances[bundle]);
    };
    script.onerror = () => resolve(null);
    document.head.append(script);
  });
  return loading[bundle];
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
  // A hidden tab paints nothing, never runs requestAnimationFrame and throttles timers to a
  // second or a minute: there, carry on at once.
  if (document.hidden) return Promise.resolve();
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
 * options: {emptyText, bundle ("cartesian", or "full" for trace types it lacks)}.
 * Draws at once when that Plotly is loaded; before that, only the latest call per element is
 * kept and drawn when it arrives. Resolves once drawn.
 */
export function react(el, data, layout, options = {}) {
  const bundle = options.bundle ?? "cartesian";
  if (!el.pendingDraw && (instances[bundle] || (!data.length && options.emptyText))) {
    draw(instances[bundle], el, data, layout, options);
    return Promise.resolve();
  }
  const first = !el.pendingDraw;
  el.pendingDraw = [data, layout, options];
  if (!first) return el.pendingDrawn;
  el.pendingDrawn = loadPlotly(bundle).then((plotly) => {
    const latest = el.pendingDraw;
    el.pendingDraw = null;
    draw(plotly, el, ...latest);
  });
  return el.pendingDrawn;
}

function draw(plotly, el, data, layout, { emptyText } = {}) {
  const placeholder = el.querySelector(":scope > .chart-empty");
  if (!data.length && emptyText) {
    if (el.data) plotly?.purge(el);
    if (placeholder) placeholder.textContent = emptyText;
    else replaceChildren(el, h("div", { class: "chart-empty" }, emptyText));
    el.dataset.traces = "0";
    return;
  }
  if (!plotly) {
    replaceChildren(el, h("div", { class: "chart-empty" }, "Plotly.js did not load."));
    return;
  }
  placeholder?.remove();
  plotly.react(el, data, layout, CONFIG);
  el.dataset.traces = String(data.length);
}
