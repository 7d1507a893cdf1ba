/**
 * ComparisonView: one preference comparison, its two responses and a page of
 * counterfactual / semifactual rewrite rows. Python does all filtering and paging;
 * this module renders what it is given and sends intents back (index, filters, page).
 * The pieces live in comparison_view/; the state is the contract's ComparisonViewState.
 */
import type { AnyWidget } from "@anywidget/types";
import { TRAITS, type ComparisonViewState } from "./lib/contract";
import { h, rebuild, type Child } from "./lib/dom";
import { plural } from "./lib/format";
import { getArray, getInt, makeRoot, onChanges, type WidgetProps } from "./lib/model";
import { humanLabel, prompt, response, type PromptView } from "./comparison_view/comparison";
import { filterBar } from "./comparison_view/filter_bar";
import { header } from "./comparison_view/header";
import { navigationKeys } from "./comparison_view/keys";
import { pager, rowCard } from "./comparison_view/rows";
import { shown, type Model } from "./comparison_view/state";

/** Why no row is shown, as Python says it (no run yet, or no row matches the filters). */
function emptyText(model: Model, fallback: string): string {
  const text = model.get("empty");
  return typeof text === "string" && text !== "" ? text : fallback;
}

function build(model: Model, promptView: PromptView): Child {
  const c = shown(model);
  if (!c) {
    // the filter bar stays, with its Clear button: a filter that matches nothing is undone here
    return [
      header(model, null),
      h("div", { class: "rmx-rows-head" }, h("span", { class: "rmx-section-label" }, "Rewrites (0 rows)"), filterBar(model)),
      h("div", { class: "rmx-empty", testid: "rmx-empty" }, emptyText(model, "No comparison to show.")),
    ];
  }
  const rows = getArray(model, "rows").filter((r) => r && typeof r === "object");
  const n = getInt(model, "n_rows", rows.length);
  return [
    header(model, c),
    prompt(c, promptView),
    h("div", { class: "rmx-cols rmx-responses" }, response(c, "a"), response(c, "b")),
    humanLabel(c),
    h(
      "div",
      { class: "rmx-rows-head" },
      h("span", { class: "rmx-section-label" }, `Rewrites (${plural(n, "row")})`),
      filterBar(model),
    ),
    rows.length === 0
      ? h("div", { class: "rmx-empty", testid: "rmx-no-rows" }, emptyText(model, "No rewrite rows to show."))
      : h("div", { class: "rmx-rows" }, rows.map(rowCard)),
    pager(model),
  ];
}

function render({ model, el }: WidgetProps<ComparisonViewState>): () => void {
  const root = makeRoot(el, "rmx-comparison-view");
  root.tabIndex = 0;
  root.setAttribute("role", "region");
  root.setAttribute("aria-label", "Comparison view (ArrowLeft/ArrowRight or k/j to navigate)");

  const promptView: PromptView = { expandedId: null, draw: () => draw() };
  const draw = () => rebuild(root, () => build(model, promptView));
  const onKey = navigationKeys(model);
  root.addEventListener("keydown", onKey);
  const unsubscribe = onChanges(model, TRAITS.ComparisonView, draw);
  draw();

  return () => {
    unsubscribe();
    root.removeEventListener("keydown", onKey);
    root.remove();
  };
}

export default { render } satisfies AnyWidget<ComparisonViewState>;
