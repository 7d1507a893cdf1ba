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
import {
  editBar,
  editButton,
  editedResponse,
  editedRewrite,
  editing,
  editOfResponse,
  editOfRow,
  editor,
  newEditor,
  rederived,
  settle,
  writtenEdits,
  type EditorView,
} from "./comparison_view/edit";
import type { Row, ShownComparison } from "./lib/contract";

/** Why no row is shown, as Python says it (no run yet, or no row matches the filters). */
function emptyText(model: Model, fallback: string): string {
  const text = model.get("empty");
  return typeof text === "string" && text !== "" ? text : fallback;
}

/** Response `which` with its Edit button, open editor or rescored edit. */
function editableResponse(model: Model, view: EditorView, c: Partial<ShownComparison>, which: "a" | "b"): Child {
  const cid = String(c.id ?? "");
  const target = { kind: "original", response: which } as const;
  const text = String((which === "a" ? c.response_a : c.response_b) ?? "");
  const edit = editOfResponse(model, which);
  return response(c, which, {
    button: c.tie ? null : editButton(model, view, target, cid, text, `rmx-edit-response-${which}`),
    editor: editing(view, target, cid) ? editor(model, view) : null,
    after: edit ? editedResponse(model, edit) : null,
  });
}

/** A rewrite's card with its Edit button, open editor, rescored edit and re-derived outcome. */
function editableRow(model: Model, view: EditorView, cid: string, row: Partial<Row>): Child {
  const rowId = typeof row.row_id === "number" ? row.row_id : -1;
  const target = { kind: "rewrite", rowId } as const;
  const edit = editOfRow(model, rowId);
  const start = typeof row.perturbed === "string" ? row.perturbed : String(row.original ?? "");
  return rowCard(row, {
    button: editButton(model, view, target, cid, start, "rmx-edit-row"),
    editor: editing(view, target, cid) ? editor(model, view) : null,
    after: [edit ? editedRewrite(model, edit) : null, rederived(model, rowId)],
  });
}

function build(model: Model, promptView: PromptView, view: EditorView): Child {
  const c = shown(model);
  settle(model, view, String(c?.id ?? ""));
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
    h("div", { class: "rmx-cols rmx-responses" }, editableResponse(model, view, c, "a"), editableResponse(model, view, c, "b")),
    humanLabel(c),
    editBar(model, view, String(c.id ?? "")),
    writtenEdits(model).map((e) => editedRewrite(model, e)),
    h(
      "div",
      { class: "rmx-rows-head" },
      h("span", { class: "rmx-section-label" }, `Rewrites (${plural(n, "row")})`),
      filterBar(model),
    ),
    rows.length === 0
      ? h("div", { class: "rmx-empty", testid: "rmx-no-rows" }, emptyText(model, "No rewrite rows to show."))
      : h("div", { class: "rmx-rows" }, rows.map((r) => editableRow(model, view, String(c.id ?? ""), r))),
    pager(model),
  ];
}

function render({ model, el }: WidgetProps<ComparisonViewState>): () => void {
  const root = makeRoot(el, "rmx-comparison-view");
  root.tabIndex = 0;
  root.setAttribute("role", "region");
  root.setAttribute("aria-label", "Comparison view (ArrowLeft/ArrowRight or k/j to navigate)");

  const promptView: PromptView = { expandedId: null, draw: () => draw() };
  const editorView = newEditor(() => draw());
  const draw = () => rebuild(root, () => build(model, promptView, editorView));
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
