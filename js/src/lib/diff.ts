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
