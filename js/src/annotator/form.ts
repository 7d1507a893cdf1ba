/** The annotation form: tag chips (+ a free tag), the note, Save / Export and what is saved. */
import type { Annotation, Example } from "../lib/contract";
import { h, type Child } from "../lib/dom";
import { fmtTime } from "../lib/format";
import { getArray } from "../lib/model";
import { pill } from "../lib/rows";
import { addFreeTag, editNote, exportAll, save, toggleTag, type Editor } from "./draft";
import { savedFor } from "./state";

function tagChips(editor: Editor): Child {
  const { draft } = editor;
  const options = getArray(editor.model, "tag_options").map((t) => String(t));
  const allTags = [...options, ...draft.tags.filter((t) => !options.includes(t))];
  return h(
    "div",
    { class: "rmx-chips", attrs: { role: "group", "aria-label": "Tags" } },
    allTags.map((tag) => {
      const on = draft.tags.includes(tag);
      return h(
        "button",
        {
          class: ["rmx-chip", on && "rmx-selected"],
          testid: "rmx-ann-tag",
          attrs: { type: "button", "aria-pressed": on ? "true" : "false", "data-tag": tag },
          on: { click: () => toggleTag(editor, tag) },
        },
        h("span", { class: "rmx-chip-check", attrs: { "aria-hidden": "true" } }, on ? "\u2713" : "+"),
        tag,
      );
    }),
    h("input", {
      class: "rmx-free-tag",
      testid: "rmx-ann-free-tag",
      attrs: { type: "text", placeholder: "new tag + Enter", "aria-label": "Add a tag", autocomplete: "off" },
      on: {
        keydown: (e) => {
          if (e.key === "Enter" && !e.isComposing) {
            e.preventDefault();
            addFreeTag(editor, (e.target as HTMLInputElement).value);
          }
        },
      },
    }),
  );
}

function noteField(editor: Editor): Child {
  return h("textarea", {
    class: "rmx-note",
    testid: "rmx-ann-note",
    attrs: { rows: 3, placeholder: "Note (why is this expected / surprising?)", "aria-label": "Note" },
    value: editor.draft.note,
    on: { input: (e) => editNote(editor, (e.target as HTMLTextAreaElement).value) },
  });
}

function actions(editor: Editor): Child {
  return h(
    "div",
    { class: "rmx-actions" },
    h(
      "button",
      { class: "rmx-btn rmx-btn-primary", testid: "rmx-ann-save", attrs: { type: "button" }, on: { click: () => save(editor) } },
      "Save",
    ),
    h("span", { class: ["rmx-dirty", "rmx-muted", !editor.draft.dirty && "rmx-hidden"] }, "unsaved changes"),
    h("span", { class: "rmx-spacer" }),
    h(
      "button",
      {
        class: "rmx-btn",
        testid: "rmx-ann-export-csv",
        attrs: { type: "button" },
        on: { click: () => exportAll(editor, "csv") },
      },
      "Export CSV",
    ),
    h(
      "button",
      {
        class: "rmx-btn",
        testid: "rmx-ann-export-jsonl",
        attrs: { type: "button" },
        on: { click: () => exportAll(editor, "jsonl") },
      },
      "Export JSONL",
    ),
  );
}

function savedSummary(saved: Annotation | null): Child {
  return h(
    "div",
    { class: "rmx-saved", testid: "rmx-ann-saved" },
    saved
      ? [
          h("span", { class: "rmx-muted" }, `Saved${saved.updated ? ` ${fmtTime(saved.updated)}` : ""}: `),
          saved.tags.length ? saved.tags.map((t) => pill(t, "tag")) : h("span", { class: "rmx-muted" }, "no tags"),
          saved.note ? h("span", { class: "rmx-saved-note" }, ` \u2014 ${saved.note}`) : null,
        ]
      : h("span", { class: "rmx-muted" }, "Not annotated yet."),
  );
}

export function annotationForm(editor: Editor, ex: Partial<Example>): Child {
  return h(
    "section",
    { class: "rmx-annotation" },
    h("div", { class: "rmx-section-label" }, "Your annotation"),
    tagChips(editor),
    noteField(editor),
    actions(editor),
    savedSummary(savedFor(editor.model, String(ex.comparison_id ?? ""))),
  );
}
