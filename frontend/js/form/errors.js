// Maps a 422's `loc` (["factors", 1, "warmup", "epochs"]) to the form field it names.
// The form registers a target per path each time it builds the spec, because a
// factor's index depends on which tricks are ticked at that moment.
import { replaceChildren } from "/js/dom.js";

export class FieldErrors {
  constructor(generalSlot) {
    this.generalSlot = generalSlot;
    this.targets = new Map();
    this.shown = [];
  }

  /** Forget every registered path (call before rebuilding the spec). */
  reset() {
    this.targets.clear();
  }

  register(path, slot, input = null) {
    this.targets.set(path.join("."), { slot, input });
  }

  clear() {
    for (const { slot, input } of this.shown) {
      replaceChildren(slot);
      input?.classList.remove("invalid");
      input?.removeAttribute("aria-invalid");
    }
    this.shown = [];
    replaceChildren(this.generalSlot);
  }

  /** Show each {loc, msg} next to the deepest registered field its loc starts with. */
  show(errors) {
    this.clear();
    const general = [];
    for (const { loc, msg } of errors) {
      let target = null;
      let depth = loc.length;
      for (; depth > 0; depth--) {
        target = this.targets.get(loc.slice(0, depth).join("."));
        if (target) break;
      }
      const rest = loc.slice(depth);
      const text = rest.length ? `${rest.join(".")}: ${msg}` : msg;
      if (!target) {
        general.push(`${loc.join(".") || "spec"}: ${msg}`);
        continue;
      }
      const line = document.createElement("div");
      line.textContent = text;
      target.slot.appendChild(line);
      target.input?.classList.add("invalid");
      target.input?.setAttribute("aria-invalid", "true");
      this.shown.push(target);
    }
    for (const text of general) {
      const line = document.createElement("div");
      line.textContent = text;
      this.generalSlot.appendChild(line);
    }
  }
}
