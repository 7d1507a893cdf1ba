/** One attribute chip: toggles the selection; its "?" shows the definition. */
import type { PickerAttribute } from "../lib/contract";
import { h, type Child } from "../lib/dom";
import { toggle, type Model } from "./state";

/** The view's own state: which definitions are open (kept across re-renders). */
export interface ChipView {
  model: Model;
  expanded: Set<string>;
  /** The search box's text: only matching chips are shown. */
  query: string;
  draw(): void;
}

function toggleDefinition(view: ChipView, name: string): void {
  if (view.expanded.has(name)) view.expanded.delete(name);
  else view.expanded.add(name);
  view.draw();
}

export function chip(view: ChipView, a: PickerAttribute, isSelected: boolean): Child {
  const open = view.expanded.has(a.name);
  return h(
    "div",
    { class: ["rmx-chip-wrap", open && "rmx-open"] },
    h(
      "button",
      {
        class: ["rmx-chip", isSelected && "rmx-selected", a.custom && "rmx-custom"],
        testid: "rmx-chip",
        title: a.definition || a.name,
        attrs: { type: "button", "aria-pressed": isSelected ? "true" : "false", "data-name": a.name },
        on: { click: () => toggle(view.model, a.name) },
      },
      h("span", { class: "rmx-chip-check", attrs: { "aria-hidden": "true" } }, isSelected ? "\u2713" : "+"),
      a.name,
      a.custom ? h("span", { class: "rmx-chip-custom" }, "custom") : null,
    ),
    h(
      "button",
      {
        class: "rmx-chip-info",
        testid: "rmx-chip-info",
        title: open ? "Hide definition" : "Show definition",
        attrs: {
          type: "button",
          "aria-expanded": open ? "true" : "false",
          "aria-label": `Definition of ${a.name}`,
          "data-name": a.name,
        },
        on: { click: () => toggleDefinition(view, a.name) },
      },
      "?",
    ),
    open ? h("div", { class: "rmx-definition", testid: "rmx-definition" }, a.definition || "(no definition)") : null,
  );
}
