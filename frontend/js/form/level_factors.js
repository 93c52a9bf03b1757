// Level factors: a base hyperparameter taking several values ("lr" at 0.01, 0.1, 0.5).
import { h } from "/js/dom.js";
import { parseScalar } from "/js/form/param_field.js";

/** Returns {el, rows()} where rows() gives {key, levels, block, errorSlot, input} per filled row. */
export function levelFactors(taskParams, onChange) {
  const rowsEl = h("div", { id: "level-rows" });
  const rows = [];

  function addRow() {
    const keys = Object.keys(taskParams);
    const key = h("select", { dataset: { testid: "level-key" } }, keys.map((k) => h("option", { value: k }, k)));
    key.value = keys.includes("lr") ? "lr" : keys[0];
    const values = h("input", { type: "text", placeholder: "comma-separated levels, e.g. 0.01, 0.1, 0.5", dataset: { testid: "level-values" } });
    const errorSlot = h("div", { class: "field-error" });
    const row = { key, values, errorSlot };
    const remove = h("button", {
      type: "button",
      class: "small",
      title: "Remove this factor",
      onclick: () => {
        rows.splice(rows.indexOf(row), 1);
        row.block.remove();
        onChange();
      },
    }, "Remove");
    row.block = h("div", { class: "level-row", dataset: { testid: "level-row" } },
      key, h("div", { class: "field" }, values, errorSlot), remove);
    key.addEventListener("change", onChange);
    values.addEventListener("input", onChange);
    rows.push(row);
    rowsEl.append(row.block);
    onChange();
  }

  const el = h("div", {}, rowsEl,
    h("button", { type: "button", id: "add-level-factor", onclick: addRow }, "+ Add a base hyperparameter with levels"));

  return {
    el,
    rows: () =>
      rows
        .filter((r) => r.values.value.trim() !== "")
        .map((r) => {
          const spec = taskParams[r.key.value];
          const levels = r.values.value.split(",").filter((t) => t.trim() !== "").map((t) => parseScalar(spec, t));
          return { key: r.key.value, levels, block: r.block, errorSlot: r.errorSlot, input: r.values };
        }),
  };
}
