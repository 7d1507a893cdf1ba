/** The row filters (attribute, side, outcome); each change is sent to Python, which filters. */
import type { OutcomeFilter, SideFilter } from "../lib/contract";
import { h, select, type Child } from "../lib/dom";
import { getArray } from "../lib/model";
import { DEFAULT_FILTERS, filters, isFiltered, setFilter, type Model } from "./state";
import { commit } from "../lib/model";

const SIDES: Array<{ value: SideFilter; label: string }> = [
  { value: "all", label: "Both sides" },
  { value: "chosen", label: "Chosen" },
  { value: "rejected", label: "Rejected" },
];

const OUTCOMES: Array<{ value: OutcomeFilter; label: string }> = [
  { value: "all", label: "All outcomes" },
  { value: "CF", label: "CF (flipped)" },
  { value: "SF", label: "SF (not flipped)" },
  { value: "failed", label: "Failed" },
];

const selected = (e: Event) => (e.target as HTMLSelectElement).value;

export function filterBar(model: Model): Child {
  const f = filters(model);
  const attrs = getArray(model, "attribute_options")
    .map((a) => String(a ?? ""))
    .filter((a) => a !== "");
  if (f.attribute && !attrs.includes(f.attribute)) attrs.push(f.attribute);
  return h(
    "div",
    { class: "rmx-filters" },
    h(
      "label",
      { class: "rmx-filter" },
      "Attribute ",
      select(
        { testid: "rmx-filter-attribute", on: { change: (e) => setFilter(model, "attribute", selected(e)) } },
        [{ value: "", label: "All attributes" }, ...attrs.map((a) => ({ value: a, label: a }))],
        f.attribute,
      ),
    ),
    h(
      "label",
      { class: "rmx-filter" },
      "Side ",
      select(
        { testid: "rmx-filter-side", on: { change: (e) => setFilter(model, "side", selected(e) as SideFilter) } },
        SIDES,
        f.side,
      ),
    ),
    h(
      "label",
      { class: "rmx-filter" },
      "Outcome ",
      select(
        {
          testid: "rmx-filter-outcome",
          on: { change: (e) => setFilter(model, "outcome", selected(e) as OutcomeFilter) },
        },
        OUTCOMES,
        f.outcome,
      ),
    ),
    isFiltered(model)
      ? h(
          "button",
          {
            class: "rmx-btn",
            testid: "rmx-clear-filters",
            title: "Show every attribute, side and outcome again",
            attrs: { type: "button" },
            on: { click: () => commit(model, { filters: { ...DEFAULT_FILTERS } }) },
          },
          "Clear filters",
        )
      : null,
  );
}
