// Hash router: each page module exports render(container, params) and may return a
// cleanup function (closing its EventSource, timers) that runs when the route changes.
// Pages other than the login page and share links need a session; a 401 anywhere goes to login.
import { api, initSession, me } from "/js/api.js";
import { h, replaceChildren } from "/js/dom.js";
import { errorPanel } from "/js/format.js";
import * as listPage from "/js/pages/list.js";
import * as loginPage from "/js/pages/login.js";
import * as newPage from "/js/pages/new_experiment.js";
import * as experimentPage from "/js/pages/experiment.js";
import * as runPage from "/js/pages/run.js";

const ROUTES = [
  { pattern: /^#?\/?$/, page: listPage, nav: "list", title: "Experiments" },
  { pattern: /^#\/login\/?$/, page: loginPage, nav: "", title: "Log in", public: true },
  { pattern: /^#\/new\/?$/, page: newPage, nav: "new", title: "New experiment" },
  { pattern: /^#\/experiments\/(\d+)\/?$/, page: experimentPage, nav: "list", title: "Experiment", param: "id" },
  { pattern: /^#\/runs\/(\d+)\/?$/, page: runPage, nav: "list", title: "Run", param: "id" },
  { pattern: /^#\/shared\/([A-Za-z0-9_-]+)\/?$/, page: experimentPage, nav: "", title: "Shared experiment",
    param: "shareToken", public: true },
];

let cleanup = null;
const container = document.getElementById("app");

function toLogin() {
  const hash = window.location.hash || "#/";
  if (hash.startsWith("#/login") || hash.startsWith("#/shared/")) return;
  sessionStorage.setItem("tricklab.after-login", hash);
  window.location.hash = "#/login";
}

function drawAccount() {
  const slot = document.getElementById("account");
  const who = me();
  document.body.classList.toggle("signed-out", !who);
  if (!slot) return;
  if (!who) {
    replaceChildren(slot);
    return;
  }
  const logout = h("button", { type: "button", class: "link", id: "logout" }, "Log out");
  logout.addEventListener("click", async () => {
    await api.logout();
    toLogin();
  });
  replaceChildren(slot, h("span", { id: "account-name", class: "small muted" },
    `${who.user.username} · ${who.team.name} (${who.role})`), logout);
}

async function route() {
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  const hash = window.location.hash || "#/";
  const match = ROUTES.map((r) => ({ r, m: hash.match(r.pattern) })).find(({ m }) => m);
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", Boolean(match) && link.dataset.nav === match.r.nav);
  }
  document.body.classList.toggle("shared-view", Boolean(match) && match.r.param === "shareToken");
  if (!match) {
    replaceChildren(container, notFound(hash));
    return;
  }
  if (!match.r.public && !me()) {
    toLogin();
    return;
  }
  document.title = `${match.r.title} · tricklab`;
  const value = match.r.param ? match.m[1] : undefined;
  const params = match.r.param ? { [match.r.param]: match.r.param === "id" ? Number(value) : value } : {};
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

window.addEventListener("tricklab:unauthorized", toLogin);
window.addEventListener("tricklab:session", drawAccount);
window.addEventListener("hashchange", route);
initSession().then(() => {
  drawAccount();
  route();
});
