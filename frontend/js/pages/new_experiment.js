// New-experiment form, built from the task and trick catalogs. It assembles the same
// ExperimentSpec the CLI and API accept, previews its cost (debounced) before launch,
// and shows each 422 next to the field its `loc` names.
import { api, ApiError } from "/js/api.js";
import { debounce, h, replaceChildren } from "/js/dom.js";
import { comboLabel } from "/js/format.js";
import { FieldErrors } from "/js/form/errors.js";
import { levelFactors } from "/js/form/level_factors.js";
import { paramField } from "/js/form/param_field.js";
import { applicableTricks, trickPicker } from "/js/form/trick_picker.js";

// Base keys a user nearly always touches; the rest sit under "Advanced".
const COMMON_BASE_KEYS = ["epochs", "batch_size", "lr", "optimizer", "activation", "model", "depth", "width", "max_steps", "generator_steps"];
const EXTRA_METRICS = ["val_accuracy", "val_loss", "train_loss"];
const DESIGNS = [
  ["full", "Full factorial"],
  ["fractional", "Fractional factorial"],
  ["leave_one_out", "Leave one out (all on, drop each)"],
  ["add_one_in", "Add one in (base, add each)"],
  ["custom", "Custom combinations"],
];

function field(label, input, { hint, errorSlot, id } = {}) {
  return h("div", { class: "field" }, h("label", { for: id ?? input.id }, label), input,
    hint ? h("div", { class: "hint" }, hint) : null, errorSlot ?? null);
}

export async function render(container) {
  const [tasks, tricks] = await Promise.all([api.tasks(), api.tricks()]);
  const generalErrors = h("div", { class: "form-errors", id: "form-errors", role: "alert" });
  const errors = new FieldErrors(generalErrors);
  const slots = {};
  const slot = (name) => (slots[name] = h("div", { class: "field-error", dataset: { errorFor: name } }));

  const nameInput = h("input", { type: "text", id: "exp-name", value: "", placeholder: "e.g. digits core tricks", maxlength: "200" });
  const taskSelect = h("select", { id: "task-select" }, tasks.map((t) => h("option", { value: t.name }, `${t.title} (${t.name})`)));
  const designSelect = h("select", { id: "design-select" }, DESIGNS.map(([v, t]) => h("option", { value: v }, t)));
  const resolutionSelect = h("select", { id: "resolution-select" },
    [[3, "III"], [4, "IV"], [5, "V"]].map(([v, t]) => h("option", { value: String(v) }, `Resolution ${t}`)));
  resolutionSelect.value = "4";
  const customInput = h("textarea", { id: "custom-combinations", rows: 4,
    placeholder: "one combination per line: the factors switched on, comma-separated; 'base' for none" });
  const seedsInput = h("input", { type: "number", id: "seeds", min: "1", max: "100", step: "1", value: "3" });
  const metricSelect = h("select", { id: "metric-select" });
  const directionSelect = h("select", { id: "direction-select" },
    [["", "auto"], ["maximize", "higher is better"], ["minimize", "lower is better"]].map(([v, t]) => h("option", { value: v }, t)));
  const descriptionInput = h("textarea", { id: "exp-description", rows: 2, placeholder: "optional notes" });

  const baseHolder = h("div", { id: "base-fields" });
  const trickHolder = h("div");
  const levelHolder = h("div");
  const previewCount = h("div", { class: "preview-count", id: "preview-count", dataset: { testid: "preview-count" } }, "…");
  const previewCombos = h("div", { class: "small muted", id: "preview-combinations" });
  const submitButton = h("button", { type: "submit", class: "primary", id: "submit-experiment" }, "Launch experiment");

  let baseFields = {};
  let picker = null;
  let levels = null;
  const changed = debounce(() => preview(), 350);

  function buildForTask() {
    const task = tasks.find((t) => t.name === taskSelect.value) ?? tasks[0];
    baseFields = Object.fromEntries(
      Object.entries(task.params).map(([name, spec]) => [name, paramField(name, spec, { idPrefix: "base" })]),
    );
    const common = Object.keys(baseFields).filter((k) => COMMON_BASE_KEYS.includes(k));
    const advanced = Object.keys(baseFields).filter((k) => !COMMON_BASE_KEYS.includes(k));
    replaceChildren(baseHolder,
      h("div", { class: "fields-grid" }, common.map((k) => baseFields[k].el)),
      advanced.length
        ? h("details", { style: { marginTop: "12px" } }, h("summary", {}, `Advanced (${advanced.length})`),
          h("div", { class: "fields-grid", style: { marginTop: "10px" } }, advanced.map((k) => baseFields[k].el)))
        : null);
    picker = trickPicker(applicableTricks(tricks, task), changed);
    replaceChildren(trickHolder, picker.el);
    levels = levelFactors(task.params, changed);
    replaceChildren(levelHolder, levels.el);
    const metrics = [...task.metrics, ...EXTRA_METRICS.filter((m) => !task.metrics.includes(m))];
    replaceChildren(metricSelect, metrics.map((m) => h("option", { value: m }, m)));
    metricSelect.value = metrics[0];
    if (!nameInput.value || nameInput.dataset.auto === "1") {
      nameInput.value = `${task.name} ablation`;
      nameInput.dataset.auto = "1";
    }
  }

  /** Build the spec and register where each of its paths shows errors. */
  function buildSpec() {
    errors.reset();
    errors.register(["name"], slots.name, nameInput);
    errors.register(["task"], slots.task, taskSelect);
    errors.register(["seeds"], slots.seeds, seedsInput);
    errors.register(["metric"], slots.metric, metricSelect);
    errors.register(["direction"], slots.metric, directionSelect);
    errors.register(["design"], slots.design, designSelect);
    errors.register(["resolution"], slots.design, resolutionSelect);
    errors.register(["combinations"], slots.custom, customInput);
    errors.register(["factors"], slots.factors);
    errors.register(["base"], slots.base);
    const base = {};
    for (const [name, f] of Object.entries(baseFields)) {
      errors.register(["base", name], f.errorSlot, f.input);
      if (f.changed()) base[name] = f.value();
    }
    const factors = [];
    for (const trick of picker.selected()) {
      const index = factors.length;
      errors.register(["factors", index], trick.errorSlot);
      errors.register(["factors", index, trick.name], trick.errorSlot);
      const params = {};
      for (const { name, field: f } of trick.fields) {
        errors.register(["factors", index, trick.name, name], f.errorSlot, f.input);
        if (f.changed()) params[name] = f.value();
      }
      factors.push(Object.keys(params).length ? { [trick.name]: params } : trick.name);
    }
    for (const row of levels.rows()) {
      const index = factors.length;
      errors.register(["factors", index], row.errorSlot, row.input);
      errors.register(["factors", index, row.key], row.errorSlot, row.input);
      factors.push({ [row.key]: row.levels });
    }
    const spec = {
      name: nameInput.value.trim(),
      task: taskSelect.value,
      base,
      factors,
      design: designSelect.value,
      seeds: Number(seedsInput.value),
      metric: metricSelect.value,
    };
    if (directionSelect.value) spec.direction = directionSelect.value;
    if (spec.design === "fractional") spec.resolution = Number(resolutionSelect.value);
    if (spec.design === "custom") {
      spec.combinations = customInput.value.split("\n").map((line) => line.trim()).filter(Boolean)
        .map((line) => (line.toLowerCase() === "base" ? [] : line.split(",").map((t) => t.trim()).filter(Boolean)));
    }
    if (descriptionInput.value.trim()) spec.description = descriptionInput.value.trim();
    return spec;
  }

  let previewAbort = null;
  async function preview() {
    resolutionSelect.closest(".field").hidden = designSelect.value !== "fractional";
    customInput.closest(".field").hidden = designSelect.value !== "custom";
    const spec = buildSpec();
    previewAbort?.abort();
    previewAbort = new AbortController();
    try {
      const result = await api.previewExperiment(spec, { signal: previewAbort.signal });
      errors.clear();
      previewCount.textContent = `${result.n_combinations} combination${result.n_combinations === 1 ? "" : "s"} × ${spec.seeds} seed${spec.seeds === 1 ? "" : "s"} = ${result.n_runs} runs`;
      previewCount.dataset.runs = String(result.n_runs);
      previewCount.dataset.combinations = String(result.n_combinations);
      const labels = (result.combinations ?? []).map(comboLabel);
      previewCombos.textContent = labels.length
        ? `${labels.slice(0, 24).join(" | ")}${labels.length > 24 ? ` | … ${labels.length - 24} more` : ""}`
        : "";
      submitButton.disabled = false;
    } catch (err) {
      if (err.name === "AbortError") return;
      previewCount.textContent = "Fix the highlighted fields to see the cost";
      delete previewCount.dataset.runs;
      previewCombos.textContent = "";
      if (err instanceof ApiError && err.status === 422) errors.show(err.fieldErrors.length ? err.fieldErrors : [{ loc: [], msg: err.message }]);
      else errors.show([{ loc: [], msg: err.message }]);
    }
  }

  async function submit(event) {
    event.preventDefault();
    submitButton.disabled = true;
    try {
      const created = await api.createExperiment(buildSpec());
      window.location.hash = `#/experiments/${created.id}`;
    } catch (err) {
      submitButton.disabled = false;
      if (err instanceof ApiError && err.status === 422) errors.show(err.fieldErrors.length ? err.fieldErrors : [{ loc: [], msg: err.message }]);
      else errors.show([{ loc: [], msg: err.message }]);
    }
  }

  const form = h("form", { class: "spec-form", id: "experiment-form", novalidate: true, onsubmit: submit },
    h("fieldset", {}, h("legend", {}, "Experiment"),
      h("div", { class: "fields-grid" },
        field("Name", nameInput, { errorSlot: slot("name") }),
        field("Task", taskSelect, { errorSlot: slot("task") })),
      h("div", { style: { marginTop: "12px" } }, field("Description", descriptionInput))),
    h("fieldset", {}, h("legend", {}, "Base training config"), slot("base"), baseHolder),
    h("fieldset", {}, h("legend", {}, "Tricks to ablate (each is a factor: off = base config, on = trick)"),
      slot("factors"), trickHolder),
    h("fieldset", {}, h("legend", {}, "Hyperparameter levels (optional)"), levelHolder),
    h("fieldset", {}, h("legend", {}, "Design"),
      h("div", { class: "fields-grid" },
        field("Design", designSelect, { errorSlot: slot("design") }),
        field("Resolution", resolutionSelect, { hint: "which effects may be aliased" }),
        field("Seeds (replicates per combination)", seedsInput, { errorSlot: slot("seeds") }),
        field("Primary metric", metricSelect, { errorSlot: slot("metric") }),
        field("Direction", directionSelect)),
      h("div", { style: { marginTop: "12px" } }, field("Combinations", customInput, { errorSlot: slot("custom") }))),
    h("div", { class: "preview-bar" },
      h("div", { class: "spacer" }, previewCount, previewCombos, generalErrors),
      submitButton));

  taskSelect.addEventListener("change", () => {
    buildForTask();
    preview();
  });
  nameInput.addEventListener("input", () => (nameInput.dataset.auto = "0"));
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);

  container.append(
    h("div", { class: "page-head" }, h("div", { class: "titles" }, h("h1", {}, "New experiment"),
      h("p", { class: "muted" }, "Pick a task and the tricks to ablate; every combination runs with each seed."))),
    form);
  buildForTask();
  await preview();
}
