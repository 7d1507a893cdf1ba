/**
 * The form proposing a custom attribute. Python validates it (the engine's own rules) and
 * either appends it to `attributes` or sets `error`; the draft survives a failed add.
 */
import type { AddAttributeMessage } from "../lib/contract";
import { h, type Child } from "../lib/dom";
import type { Model } from "./state";

export interface AddDraft {
  name: string;
  definition: string;
}

export function addForm(model: Model, draft: AddDraft): Child {
  const submit = (e: Event) => {
    e.preventDefault();
    model.send({
      type: "add",
      name: draft.name.trim(),
      definition: draft.definition.trim(),
    } satisfies AddAttributeMessage);
  };
  return h(
    "form",
    { class: "rmx-add-form", on: { submit } },
    h("div", { class: "rmx-section-label" }, "Add an attribute"),
    h(
      "label",
      { class: "rmx-field" },
      "Name",
      h("input", {
        testid: "rmx-add-name",
        attrs: { type: "text", placeholder: "e.g. politeness", autocomplete: "off", spellcheck: false },
        value: draft.name,
        on: { input: (e) => (draft.name = (e.target as HTMLInputElement).value) },
      }),
    ),
    h(
      "label",
      { class: "rmx-field rmx-field-wide" },
      "Definition",
      h("textarea", {
        testid: "rmx-add-definition",
        attrs: { rows: 2, placeholder: "What a response that has more of this attribute looks like" },
        value: draft.definition,
        on: { input: (e) => (draft.definition = (e.target as HTMLTextAreaElement).value) },
      }),
    ),
    h("button", { class: "rmx-btn rmx-btn-primary", testid: "rmx-add", attrs: { type: "submit" } }, "Add"),
  );
}
