// Hash router: each page module exports render(container, params) and may return a
// cleanup function (closing its EventSource, timers) that runs when the route changes.
import { h, replaceChildren } from "/js/dom.js";
import { errorPanel } from "/js/format.js";
import * as listPage from "/js/pages/list.js";
import * as newPage from "/js/pages/new_experiment.js";
import * as experimentPage from "/js/pages/experiment.js";
import * as runPage from "/js/pages/run.js";

const ROUTES = [
  { pattern: /^#?\/?$/, page: listPage, nav: "list", title: "Experiments" },
  { pattern: /^#\/new\/?$/, page: newPage, nav: "new", title: "New experiment" },
  { pattern: /^#\/experiments\/(\d+)\/?$/, page: experimentPage, nav: "list", title: "Experiment", param: "id" },
  { pattern: /^#\/runs\/(\d+)\/?$/, page: runPage, nav: "list", title: "Run", param: "id" },
];

let cleanup = null;
const container = document.getElementById("app");

async function route() {
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  const hash = window.location.hash || "#/";
  const match = ROUTES.map((r) => ({ r, m: hash.match(r.pattern) })).find(({ m }) => m);
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", Boolean(match) && link.dataset.nav === match.r.nav);
  }
  if (!match) {
    replaceChildren(container, notFound(hash));
    return;
  }
  document.title = `${match.r.title} · tricklab`;
  const params = match.r.param ? { [match.r.param]: Number(match.m[1]) } : {};
  replaceChildren(container);
  try {
    cleanup = await match.r.page.render(container, params);
  } catch (err) {
    console.error(err);
    replaceChildren(container, errorPanel(err));
  }
}

function notFound(hash) {
  return h("section", { class: "card empty" }, h("h1", {}, "Page not found"), h("p", {}, `Nothing lives at ${hash}.`),
    h("a", { href: "#/" }, "Back to experiments"));
}

window.addEventListener("hashchange", route);
route();
