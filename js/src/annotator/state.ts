/** What the Annotator reads from its model: the examples, the current one, what is saved. */
import type { Annotation, AnnotatorState, Example } from "../lib/contract";
import { isNum } from "../lib/format";
import { clamp, commit, getArray, getInt, getObject, type AnyModel } from "../lib/model";

export type Model = AnyModel<AnnotatorState>;

export function examples(model: Model): Partial<Example>[] {
  return getArray(model, "examples").filter((e) => e && typeof e === "object");
}

export function currentIndex(model: Model): number {
  return getInt(model, "index", 0);
}

export function current(model: Model): Partial<Example> | null {
  const ex = examples(model);
  if (ex.length === 0) return null;
  return ex[clamp(currentIndex(model), 0, ex.length - 1)] ?? null;
}

/** The saved annotation of comparison `id`, normalised; null when there is none. */
export function savedFor(model: Model, id: string): Annotation | null {
  const all = getObject(model, "annotations");
  const a: Partial<Annotation> | null | undefined =
    all && Object.prototype.hasOwnProperty.call(all, id) ? all[id] : null;
  if (!a || typeof a !== "object") return null;
  return {
    tags: Array.isArray(a.tags) ? a.tags.map((t) => String(t)) : [],
    note: typeof a.note === "string" ? a.note : "",
    updated: isNum(a.updated) ? a.updated : 0,
  };
}

/** Ask Python for example `i` (clamped; nothing is sent when it is already shown). */
export function goTo(model: Model, i: number): void {
  const n = examples(model).length;
  if (n <= 0) return;
  const next = clamp(i, 0, n - 1);
  if (next === currentIndex(model)) return;
  commit(model, { index: next });
}
