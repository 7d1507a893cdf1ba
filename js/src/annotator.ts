/**
 * Annotator: step through representative / contrasting examples, tag them, write a
 * note, save (Python persists) and export. The pieces live in annotator/; the state is the
 * contract's AnnotatorState and the messages are SaveAnnotationMessage / ExportMessage.
 */
import type { AnyWidget } from "@anywidget/types";
import type { AnnotatorState } from "./lib/contract";
import { h, rebuild, type Child } from "./lib/dom";
import { getString, makeRoot, onChanges, type WidgetProps } from "./lib/model";
import { loadDraft, type Editor } from "./annotator/draft";
import { exampleView } from "./annotator/example";
import { annotationForm } from "./annotator/form";
import { header } from "./annotator/header";
import { current, examples } from "./annotator/state";

function build(editor: Editor): Child {
  const { model } = editor;
  const ex = current(model);
  return [
    header(model, examples(model).length),
    ex
      ? [exampleView(ex), annotationForm(editor, ex)]
      : h("div", { class: "rmx-empty", testid: "rmx-empty" }, "No examples to annotate."),
    h(
      "div",
      { class: "rmx-status", testid: "rmx-ann-status", attrs: { role: "status", "aria-live": "polite" } },
      getString(model, "status"),
    ),
  ];
}

function render({ model, el }: WidgetProps<AnnotatorState>): () => void {
  const root = makeRoot(el, "rmx-annotator");
  const editor: Editor = {
    model,
    root,
    draft: { id: "", tags: [], note: "", dirty: false },
    draw: () => rebuild(root, () => build(editor)),
  };

  const reload = () => {
    loadDraft(editor);
    editor.draw();
  };
  const onExamples = () => {
    // Keep an unsaved draft if the current example is still the same one.
    const ex = current(model);
    if (!ex || String(ex.comparison_id ?? "") !== editor.draft.id || !editor.draft.dirty) loadDraft(editor);
    editor.draw();
  };

  const offReload = onChanges(model, ["index", "annotations"], reload);
  const offExamples = onChanges(model, ["examples"], onExamples);
  const offDraw = onChanges(model, ["tag_options", "status"], editor.draw);
  reload();

  return () => {
    offReload();
    offExamples();
    offDraw();
    root.remove();
  };
}

export default { render } satisfies AnyWidget<AnnotatorState>;
