/**
 * AttributePicker: chips toggling which attributes are selected, with their
 * definitions, and a form to propose a custom attribute (validated in Python).
 * The pieces live in attribute_picker/; the state is the contract's AttributePickerState.
 */
import type { AnyWidget } from "@anywidget/types";
import type { AttributePickerState, PickerAttribute } from "./lib/contract";
import { h, rebuild, type Child } from "./lib/dom";
import { getString, makeRoot, onChanges, type WidgetProps } from "./lib/model";
import { addForm, type AddDraft } from "./attribute_picker/add_form";
import { chip, type ChipView } from "./attribute_picker/chip";
import { matching, searchBox } from "./attribute_picker/search";
import { attributes, selected, setSelected, type Model } from "./attribute_picker/state";

function header(model: Model, attrs: PickerAttribute[], nSelected: number): Child {
  return h(
    "div",
    { class: "rmx-header" },
    h("span", { class: "rmx-title" }, "Attributes"),
    h("span", { class: "rmx-muted", testid: "rmx-selected-count" }, `${nSelected} of ${attrs.length} selected`),
    h(
      "button",
      {
        class: "rmx-btn",
        testid: "rmx-all",
        attrs: { type: "button" },
        on: { click: () => setSelected(model, new Set(attrs.map((a) => a.name))) },
      },
      "All",
    ),
    h(
      "button",
      { class: "rmx-btn", testid: "rmx-none", attrs: { type: "button" }, on: { click: () => setSelected(model, new Set()) } },
      "None",
    ),
  );
}

function build(view: ChipView, draft: AddDraft): Child {
  const { model } = view;
  const attrs = attributes(model);
  const sel = new Set(selected(model));
  const error = getString(model, "error");
  const shown = matching(attrs, view.query);
  return [
    header(model, attrs, attrs.filter((a) => sel.has(a.name)).length),
    attrs.length > 0
      ? searchBox(view.query, shown.length, attrs.length, (q) => {
          view.query = q;
          view.draw();
        })
      : null,
    attrs.length === 0
      ? h("div", { class: "rmx-empty" }, "No attributes yet.")
      : shown.length === 0
        ? h("div", { class: "rmx-empty", testid: "rmx-attr-no-match" }, "No attribute matches the search.")
        : h(
            "div",
            { class: "rmx-chips", attrs: { role: "group", "aria-label": "Attributes" } },
            shown.map((a) => chip(view, a, sel.has(a.name))),
          ),
    addForm(model, draft),
    h("div", { class: ["rmx-error", !error && "rmx-hidden"], testid: "rmx-error", attrs: { role: "alert" } }, error),
  ];
}

function render({ model, el }: WidgetProps<AttributePickerState>): () => void {
  const root = makeRoot(el, "rmx-attribute-picker");
  /** The add form's draft; kept across re-renders so a failed add loses nothing. */
  const draft: AddDraft = { name: "", definition: "" };
  const view: ChipView = { model, expanded: new Set<string>(), query: "", draw: () => rebuild(root, () => build(view, draft)) };

  const onAttributes = () => {
    // A successful add appends the attribute: clear the form's draft.
    const name = draft.name.trim();
    if (name && attributes(model).some((a) => a.name === name)) {
      draft.name = "";
      draft.definition = "";
    }
    view.draw();
  };
  const offAttributes = onChanges(model, ["attributes"], onAttributes);
  const offDraw = onChanges(model, ["selected", "error"], view.draw);
  view.draw();

  return () => {
    offAttributes();
    offDraw();
    root.remove();
  };
}

export default { render } satisfies AnyWidget<AttributePickerState>;
