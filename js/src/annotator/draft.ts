/**
 * The unsaved edit of an example's annotation. It lives in the browser until Python has stored
 * it, and it is never dropped silently: leaving an example with changes (Next, Prev, or Python
 * moving `index`) saves them, as a careful annotator expects of a form that has no "discard"
 * button, and the draft is kept (marked unsaved) until the saved annotation that comes back
 * matches it. So a save that fails (the status line says why) leaves the text on screen when
 * the annotator returns, and a save that works is in the SQLite store, which a kernel restart
 * keeps.
 */
import type { Annotation, ExportFormat, ExportMessage, SaveAnnotationMessage } from "../lib/contract";
import { current, savedFor, type Model } from "./state";

export interface Draft {
  id: string;
  tags: string[];
  note: string;
  dirty: boolean;
}

/** One Annotator view: its model, its root, the draft on screen, the ones being saved, and how to redraw. */
export interface Editor {
  model: Model;
  root: HTMLElement;
  draft: Draft;
  /** Drafts sent on leaving their example and not yet confirmed by Python, by comparison id. */
  pending: Map<string, Draft>;
  draw(): void;
}

export function currentId(model: Model): string {
  const ex = current(model);
  return ex ? String(ex.comparison_id ?? "") : "";
}

function fromSaved(model: Model, id: string): Draft {
  const saved = id ? savedFor(model, id) : null;
  return { id, tags: saved ? [...saved.tags] : [], note: saved ? saved.note : "", dirty: false };
}

/** Whether what is saved is the draft (tags compared as Python stores them: trimmed, once each). */
function isSaved(saved: Annotation | null, d: Draft): boolean {
  if (!saved) return false;
  const norm = (tags: string[]) => [...new Set(tags.map((t) => t.trim()).filter(Boolean))];
  return saved.note === d.note && JSON.stringify(norm(saved.tags)) === JSON.stringify(norm(d.tags));
}

function send(model: Model, d: Draft): void {
  model.send({ type: "save", comparison_id: d.id, tags: [...d.tags], note: d.note } satisfies SaveAnnotationMessage);
}

/** Reset the draft to what is saved for the current example (or to its unconfirmed draft). */
export function loadDraft(editor: Editor): void {
  const id = currentId(editor.model);
  editor.draft = editor.pending.get(id) ?? fromSaved(editor.model, id);
}

/**
 * The example on screen may have changed (index or examples): a changed draft of the example
 * left behind is saved and kept until confirmed; the new example shows its own draft.
 */
export function followCurrent(editor: Editor): void {
  const id = currentId(editor.model);
  const d = editor.draft;
  if (d.id === id) {
    if (!d.dirty) editor.draft = fromSaved(editor.model, id);
    return;
  }
  if (d.dirty && d.id) {
    editor.pending.set(d.id, d);
    send(editor.model, d);
  }
  loadDraft(editor);
}

/**
 * The view goes away (its cell re-run or cleared) with changes on screen: save them, as
 * leaving the example would. A closed comm cannot send; there is nothing left to tell then.
 */
export function flush(editor: Editor): void {
  const d = editor.draft;
  if (!d.dirty || !d.id) return;
  try {
    send(editor.model, d);
  } catch {
    /* the kernel is gone: the status line cannot report it either */
  }
}

/** New saved annotations arrived: forget the drafts they confirm, keep every other change. */
export function onSaved(editor: Editor): void {
  for (const [id, d] of editor.pending) {
    if (isSaved(savedFor(editor.model, id), d)) editor.pending.delete(id);
  }
  const d = editor.draft;
  if (!d.dirty) {
    editor.draft = fromSaved(editor.model, d.id);
  } else if (isSaved(savedFor(editor.model, d.id), d)) {
    d.dirty = false;
    editor.pending.delete(d.id);
  }
}

export function toggleTag(editor: Editor, tag: string): void {
  const d = editor.draft;
  d.tags = d.tags.includes(tag) ? d.tags.filter((t) => t !== tag) : [...d.tags, tag];
  d.dirty = true;
  editor.draw();
}

export function addFreeTag(editor: Editor, raw: string): void {
  const tag = raw.trim();
  if (!tag) return;
  const d = editor.draft;
  if (!d.tags.includes(tag)) {
    d.tags = [...d.tags, tag];
    d.dirty = true;
  }
  editor.draw();
}

/** The note changed: mark the draft dirty without a redraw (that would steal the caret). */
export function editNote(editor: Editor, note: string): void {
  editor.draft.note = note;
  if (!editor.draft.dirty) {
    editor.draft.dirty = true;
    editor.root.querySelector(".rmx-dirty")?.classList.remove("rmx-hidden");
  }
}

export function save(editor: Editor): void {
  if (!current(editor.model)) return;
  send(editor.model, { ...editor.draft, id: currentId(editor.model) });
}

export function exportAll(editor: Editor, format: ExportFormat): void {
  editor.model.send({ type: "export", format } satisfies ExportMessage);
}
