import { diffWordsWithSpace } from "diff";

export type SegmentKind = "equal" | "insert" | "delete";

export interface Segment {
  kind: SegmentKind;
  text: string;
}

export interface WordDiff {
  /** All segments in order (deletions before insertions at a change point). */
  segments: Segment[];
  /** The original text as equal + delete segments (concatenation === original). */
  original: Segment[];
  /** The perturbed text as equal + insert segments (concatenation === perturbed). */
  perturbed: Segment[];
}

/** Give up on a fine-grained diff after this many ms and show a whole-text replacement. */
const DIFF_TIMEOUT_MS = 250;

function push(out: Segment[], kind: SegmentKind, value: string): void {
  if (value === "") return;
  const last = out[out.length - 1];
  if (last && last.kind === kind) {
    last.text += value;
  } else {
    out.push({ kind, text: value });
  }
}

/**
 * Word-level diff (words, punctuation, newlines and whitespace runs are tokens), so
 * whitespace is preserved exactly: joining original segments gives `a` back, joining
 * perturbed segments gives `b` back. Identical texts give one equal segment; two empty
 * texts give no segments.
 */
export function wordDiff(a: string | null | undefined, b: string | null | undefined): WordDiff {
  const oldStr = a ?? "";
  const newStr = b ?? "";
  const segments: Segment[] = [];
  if (oldStr === newStr) {
    push(segments, "equal", oldStr);
  } else if (oldStr === "" || newStr === "") {
    push(segments, "delete", oldStr);
    push(segments, "insert", newStr);
  } else {
    const changes = diffWordsWithSpace(oldStr, newStr, { timeout: DIFF_TIMEOUT_MS });
    if (!changes) {
      push(segments, "delete", oldStr);
      push(segments, "insert", newStr);
    } else {
      for (const c of changes) {
        push(segments, c.added ? "insert" : c.removed ? "delete" : "equal", c.value);
      }
    }
  }
  const original: Segment[] = [];
  const perturbed: Segment[] = [];
  for (const s of segments) {
    if (s.kind !== "insert") push(original, s.kind, s.text);
    if (s.kind !== "delete") push(perturbed, s.kind, s.text);
  }
  return { segments, original, perturbed };
}

/**
 * Above this share of the original's text changed, a rewrite is shown as one replaced block
 * (old / new) instead of word-level marks: a rewrite that keeps little of the original reads
 * as confetti of strike-through otherwise. The one threshold every diff view uses.
 */
export const REPLACED_ABOVE = 0.5;

const nonSpace = (s: string) => s.replace(/\s+/g, "").length;

/**
 * The share of the original's non-space characters that the diff deletes (0: all kept, 1: none
 * kept); 0 for an empty original (a pure insertion deletes nothing).
 */
export function changedShare(d: WordDiff): number {
  const total = d.original.reduce((n, s) => n + nonSpace(s.text), 0);
  if (total === 0) return 0;
  const deleted = d.original.reduce((n, s) => n + (s.kind === "delete" ? nonSpace(s.text) : 0), 0);
  return deleted / total;
}

/** Whether a diff is shown as a whole-response replacement (see REPLACED_ABOVE). */
export function isReplacement(d: WordDiff): boolean {
  return changedShare(d) > REPLACED_ABOVE;
}
