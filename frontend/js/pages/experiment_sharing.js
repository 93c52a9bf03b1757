// Saved comparisons (named views of this experiment) and the Share dialog (read-only links).
// Everything user-supplied (view names, usernames) goes in as text, never as HTML.
import { api, me } from "/js/api.js";
import { h, replaceChildren } from "/js/dom.js";

function canWrite() {
  const role = me()?.role;
  return role === "member" || role === "admin";
}

function linkState(link) {
  if (link.revoked_at) return "revoked";
  if (link.expires_at && new Date(link.expires_at) <= new Date()) return "expired";
  return link.expires_at ? `expires ${new Date(link.expires_at).toLocaleString()}` : "never expires";
}

/** The "Saved comparisons" card with its Share dialog. */
export function mountSharing({ experimentId, currentConfig, openView, after = Promise.resolve() }) {
  const list = h("ul", { class: "saved-views", id: "saved-views" });
  const notice = h("div", { id: "sharing-notice", class: "small" });
  const name = h("input", { id: "view-name", placeholder: "name of this comparison", maxlength: "200" });
  const save = h("button", { type: "button", id: "save-view" }, "Save current view");
  const share = h("button", { type: "button", id: "open-share" }, "Share…");
  const dialog = buildDialog();
  let views = [];

  function say(text) {
    replaceChildren(notice, text || null);
  }

  async function refresh() {
    try {
      views = (await api.listViews(experimentId)).items;
    } catch (err) {
      say(`Could not load saved comparisons: ${err.message}`);
      return;
    }
    replaceChildren(list, views.length ? views.map(viewItem) : h("li", { class: "muted small" }, "No saved comparisons yet."));
    dialog.refreshTargets();
  }

  function viewItem(view) {
    const open = h("button", { type: "button", class: "link", dataset: { testid: "open-view", viewId: String(view.id) } }, view.name);
    open.addEventListener("click", () => openView(view));
    const by = h("span", { class: "small muted" }, view.created_by ? `by ${view.created_by}` : "");
    const remove = canWrite() ? h("button", { type: "button", class: "small danger" }, "Delete") : null;
    remove?.addEventListener("click", async () => {
      try {
        await api.deleteView(experimentId, view.id);
        await refresh();
      } catch (err) {
        say(`Could not delete: ${err.message}`);
      }
    });
    return h("li", { dataset: { viewId: String(view.id) } }, open, by, remove);
  }

  save.addEventListener("click", async () => {
    const label = name.value.trim();
    if (!label) {
      say("Give the comparison a name first.");
      return;
    }
    try {
      await api.createView(experimentId, { name: label, config: currentConfig() });
      name.value = "";
      say("");
      await refresh();
    } catch (err) {
      say(`Could not save: ${err.message}`);
    }
  });
  share.addEventListener("click", () => dialog.open());

  function buildDialog() {
    const target = h("select", { id: "share-target" });
    const days = h("input", { id: "share-days", type: "number", min: "1", max: "3650", value: "30" });
    const create = h("button", { type: "button", class: "primary", id: "create-share" }, "Create link");
    const result = h("div", { id: "share-result" });
    const links = h("ul", { id: "share-links" });
    const close = h("button", { type: "button", id: "close-share" }, "Close");
    const el = h("dialog", { class: "share-dialog", id: "share-dialog" },
      h("h2", {}, "Share a read-only link"),
      h("p", { class: "small muted" }, "Anyone with the link sees this experiment (or the chosen comparison) and nothing else."),
      h("div", { class: "controls" }, h("label", {}, "show", target), h("label", {}, "expires after (days)", days), create),
      result, h("h3", {}, "Links"), links, close);
    close.addEventListener("click", () => el.close());

    async function drawLinks() {
      try {
        const page = await api.listShares(experimentId);
        replaceChildren(links, page.items.length ? page.items.map(linkItem) : h("li", { class: "muted small" }, "No links yet."));
      } catch (err) {
        replaceChildren(links, h("li", { class: "small" }, `Could not list links: ${err.message}`));
      }
    }

    function linkItem(link) {
      const view = views.find((v) => v.id === link.view_id);
      const revoke = link.revoked_at ? null : h("button", { type: "button", class: "small danger", dataset: { testid: "revoke-share" } }, "Revoke");
      revoke?.addEventListener("click", async () => {
        await api.revokeShare(link.id).catch((err) => replaceChildren(result, `Could not revoke: ${err.message}`));
        await drawLinks();
      });
      return h("li", { dataset: { shareId: String(link.id), state: link.revoked_at ? "revoked" : "active" } },
        h("code", {}, `${link.prefix}…`), " ", view ? `"${view.name}"` : "whole experiment", " · ", linkState(link), " ", revoke);
    }

    create.addEventListener("click", async () => {
      const body = { view_id: target.value ? Number(target.value) : null, expires_in_days: Number(days.value) || null };
      try {
        const made = await api.createShare(experimentId, body);
        const url = `${window.location.origin}/#/shared/${made.token}`;
        replaceChildren(result, h("p", { class: "small" }, "Copy the link now; it is shown only once:"),
          h("input", { class: "share-url", id: "share-url", readonly: true, value: url }));
        await drawLinks();
      } catch (err) {
        replaceChildren(result, `Could not create a link: ${err.message}`);
      }
    });

    return {
      open() {
        replaceChildren(result);
        el.showModal();
        drawLinks();
      },
      refreshTargets() {
        replaceChildren(target, h("option", { value: "" }, "the whole experiment"),
          views.map((v) => h("option", { value: String(v.id) }, `comparison "${v.name}"`)));
      },
      el,
    };
  }

  const writeControls = canWrite() ? [name, save, share] : [];
  const card = h("section", { class: "card", id: "sharing" },
    h("h2", {}, "Saved comparisons"), list, h("div", { class: "controls" }, writeControls), notice, dialog.el);
  after.then(refresh); // the page may want its charts' requests answered first
  return card;
}
