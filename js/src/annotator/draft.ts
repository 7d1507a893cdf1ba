/**
 * The unsaved edit of the current example's annotation. It lives in the browser until Save
 * (Python persists it then), so it is kept across re-renders, and across a new list of
 * examples while the same example is still on screen.
 */
import type { ExportFormat, ExportMessage, SaveAnnotationMessage } from "../lib/contract";
import { current, savedFor, type Model } from "./state";

export interface Draft {
  id: string;
  tags: string[];
  note: string;
  dirty: boolean;
}

/** One Annotator view: its model, its root, the draft, and how to redraw. */
export interface Editor {
  model: Model;
  root: HTMLElement;
  draft: Draft;
  draw(): void;
}

/** Reset the draft to what is saved for the current example. */
export function loadDraft(editor: Editor): void {
  const ex = current(editor.model);
  const id = ex ? String(ex.comparison_id ?? "") : "";
  const saved = id ? savedFor(editor.model, id) : null;
  editor.draft = { id, tags: saved ? [...saved.tags] : [], note: saved ? saved.note : "", dirty: false };
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
  const ex = current(editor.model);
  if (!ex) return;
  const { tags, note } = editor.draft;
  editor.model.send({
    type: "save",
    comparison_id: String(ex.comparison_id ?? ""),
    tags: [...tags],
    note,
  } satisfies SaveAnnotationMessage);
}

export function exportAll(editor: Editor, format: ExportFormat): void {
  editor.model.send({ type: "export", format } satisfies ExportMessage);
}
