// One typed input built from a catalog ParamSpec (backend/tricklab/catalog/params.py):
// int/float → number inputs with the catalog's bounds, choice → select, bool → checkbox,
// float_list → comma-separated text. The server stays the validator: a value that does
// not parse is sent as typed so the 422 names the field and says why.
import { h } from "/js/dom.js";

/** Parse one text token as the param's type (numbers for int/float, raw text otherwise). */
export function parseScalar(spec, text) {
  const trimmed = String(text).trim();
  if (spec.type === "int" || spec.type === "float") {
    if (trimmed === "") return null;
    const number = Number(trimmed);
    return Number.isFinite(number) ? number : trimmed;
  }
  if (spec.type === "bool") {
    if (/^(true|on|yes|1)$/i.test(trimmed)) return true;
    if (/^(false|off|no|0)$/i.test(trimmed)) return false;
    return trimmed;
  }
  return trimmed;
}

function boundsHint(spec) {
  const parts = [];
  if (spec.min !== null && spec.min !== undefined) parts.push(`${spec.min_exclusive ? ">" : "≥"} ${spec.min}`);
  if (spec.max !== null && spec.max !== undefined) parts.push(`≤ ${spec.max}`);
  return parts.join(", ");
}

function sameValue(a, b) {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/**
 * Build a labelled input for `spec`. Returns {el, input, errorSlot, value(), changed()}:
 * value() is the typed value, changed() says whether it differs from the default
 * (only changed values go into the spec, so it stays as short as a hand-written one).
 */
export function paramField(name, spec, { idPrefix, initial } = {}) {
  const id = `${idPrefix}-${name}`;
  const start = initial !== undefined ? initial : spec.default;
  let input;
  if (spec.type === "choice") {
    input = h("select", { id, name }, (spec.choices ?? []).map((c) => h("option", { value: c }, c)));
    input.value = start ?? "";
  } else if (spec.type === "bool") {
    input = h("input", { id, name, type: "checkbox" });
    input.checked = Boolean(start);
  } else if (spec.type === "int" || spec.type === "float") {
    input = h("input", {
      id,
      name,
      type: "number",
      step: spec.type === "int" ? "1" : "any",
      min: spec.min ?? undefined,
      max: spec.max ?? undefined,
      placeholder: spec.nullable ? "none" : "",
    });
    input.value = start === null || start === undefined ? "" : String(start);
  } else {
    input = h("input", { id, name, type: "text", placeholder: spec.type === "float_list" ? "e.g. 0.25, 0.75" : "" });
    input.value = Array.isArray(start) ? start.join(", ") : start ?? "";
  }

  function value() {
    if (spec.type === "bool") return input.checked;
    if (spec.type === "choice") return input.value;
    if (spec.type === "float_list") {
      if (input.value.trim() === "") return null;
      return input.value.split(",").map((t) => parseScalar({ type: "float" }, t));
    }
    const parsed = parseScalar(spec, input.value);
    return parsed === null && !spec.nullable ? spec.default : parsed;
  }

  const errorSlot = h("div", { class: "field-error", dataset: { errorFor: id } });
  const hint = [spec.description, boundsHint(spec)].filter(Boolean).join(" · ");
  const el = h(
    "div",
    { class: "field", dataset: { param: name } },
    spec.type === "bool"
      ? h("label", { for: id, class: "row" }, input, name)
      : [h("label", { for: id }, name), input],
    hint ? h("div", { class: "hint", title: hint }, hint) : null,
    errorSlot,
  );
  return { el, input, errorSlot, value, changed: () => !sameValue(value(), spec.default) };
}
