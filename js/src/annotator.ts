/**
 * Annotator: step through representative / contrasting examples, tag them, write a
 * note, save (Python persists) and export. The pieces live in annotator/; the state is the
 * contract's AnnotatorState and the messages are SaveAnnotationMessage / ExportMessage.
 * The order on screen is what an annotator works with: Prev / Next, who preferred what, the
 * tags and the note (at the top, however many rewrites follow), then the texts and rewrites.
 */
import type { AnyWidget } from "@anywidget/types";
import type { AnnotatorState } from "./lib/contract";
import { h, rebuild, type Child } from "./lib/dom";
import { getString, makeRoot, onChanges, type WidgetProps } from "./lib/model";
import { flush, followCurrent, loadDraft, onSaved, type Editor } from "./annotator/draft";
import { exampleBody, exampleHead } from "./annotator/example";
import { annotationForm } from "./annotator/form";
import { header } from "./annotator/header";
import { current, examples, type Model } from "./annotator/state";

function statusLine(model: Model): Child {
  return h(
    "div",
    { class: "rmx-status", testid: "rmx-ann-status", attrs: { role: "status", "aria-live": "polite" } },
    getString(model, "status"),
  );
}

function build(editor: Editor): Child {
  const { model } = editor;
  const ex = current(model);
  return [
    header(model, examples(model).length),
    ex
      ? h(
          "section",
          { class: "rmx-example", testid: "rmx-ann-example" },
          exampleHead(ex),
          annotationForm(editor, ex),
          statusLine(model),
          exampleBody(ex),
        )
      : [h("div", { class: "rmx-empty", testid: "rmx-empty" }, "No examples to annotate."), statusLine(model)],
  ];
}

function render({ model, el }: WidgetProps<AnnotatorState>): () => void {
  const root = makeRoot(el, "rmx-annotator");
  const editor: Editor = {
    model,
    root,
    draft: { id: "", tags: [], note: "", dirty: false },
    pending: new Map(),
    draw: () => rebuild(root, () => build(editor)),
  };

  const onMove = () => {
    followCurrent(editor);
    editor.draw();
  };
  const onAnnotations = () => {
    onSaved(editor);
    editor.draw();
  };

  const offMove = onChanges(model, ["index", "examples"], onMove);
  const offSaved = onChanges(model, ["annotations"], onAnnotations);
  const offDraw = onChanges(model, ["tag_options", "status"], editor.draw);
  loadDraft(editor);
  editor.draw();

  return () => {
    flush(editor);
    offMove();
    offSaved();
    offDraw();
    root.remove();
  };
}

export default { render } satisfies AnyWidget<AnnotatorState>;
