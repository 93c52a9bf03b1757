// Trick checkboxes for the chosen task, each with its parameter inputs (shown when ticked).
import { h } from "/js/dom.js";
import { paramField } from "/js/form/param_field.js";

/** Tricks whose applicability (task kind and input) fits the task. */
export function applicableTricks(tricks, task) {
  return tricks.filter(
    (t) => (t.applies_to ?? []).includes(task.kind) && (!t.inputs || t.inputs.includes(task.input)),
  );
}

/**
 * Build the picker. Returns {el, selected()} where selected() lists the ticked tricks in
 * catalog order as {name, block, errorSlot, fields: [{name, field}]}.
 */
export function trickPicker(tricks, onChange) {
  const entries = tricks.map((trick) => {
    const checkbox = h("input", { type: "checkbox", id: `trick-${trick.name}`, dataset: { trick: trick.name } });
    const fields = Object.entries(trick.params ?? {}).map(([name, spec]) => ({
      name,
      field: paramField(name, spec, { idPrefix: `trick-${trick.name}` }),
    }));
    const params = h("div", { class: "trick-params", hidden: true }, fields.map((f) => f.field.el));
    const errorSlot = h("div", { class: "field-error" });
    const conflicts = trick.conflicts?.length ? ` Conflicts with ${trick.conflicts.join(", ")}.` : "";
    const block = h(
      "div",
      { class: "trick", dataset: { testid: "trick-option", trick: trick.name } },
      h(
        "label",
        { class: "trick-head", for: checkbox.id },
        checkbox,
        h("div", {},
          h("div", { class: "trick-title" }, trick.title, " ", h("code", { class: "muted" }, trick.name)),
          h("div", { class: "trick-desc", title: trick.paper ?? "" }, `${trick.description}${conflicts}`)),
      ),
      fields.length ? params : null,
      errorSlot,
    );
    checkbox.addEventListener("change", () => {
      params.hidden = !checkbox.checked;
      block.classList.toggle("checked", checkbox.checked);
      onChange();
    });
    return { name: trick.name, checkbox, block, errorSlot, fields };
  });
  const el = h(
    "div",
    { class: "trick-list", id: "trick-list" },
    entries.length ? entries.map((e) => e.block) : h("p", { class: "muted" }, "No tricks apply to this task."),
  );
  return { el, selected: () => entries.filter((e) => e.checkbox.checked) };
}
