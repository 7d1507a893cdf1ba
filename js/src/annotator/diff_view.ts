/**
 * A rewrite against its original, compact: deletions (struck through) and insertions inline,
 * or, when most of the original changed (lib/diff REPLACED_ABOVE), one replaced block, old
 * then new. Each mark carries its meaning in text a screen reader reads ("deleted:",
 * "inserted:"), hidden from sight: the deletion role cannot be named with aria-label, and a
 * colour or a line alone says nothing to someone who cannot see it. Text only, never markup.
 */
import { changedShare, isReplacement, wordDiff, type Segment } from "../lib/diff";
import { h, type Child } from "../lib/dom";

function srOnly(label: string): HTMLSpanElement {
  return h("span", { class: "rmx-sr-only" }, label);
}

/** `<del>` / `<ins>` holding `text`, with its meaning spelled out for a screen reader. */
function marked(kind: "delete" | "insert", text: string, testid: string, extraClass?: string): HTMLElement {
  const [tag, cls, word] = kind === "delete" ? (["del", "rmx-del", "deleted"] as const) : (["ins", "rmx-ins", "inserted"] as const);
  return h(tag, { class: [cls, extraClass], testid, title: word }, srOnly(`[${word}: `), text, srOnly("]"));
}

function mark(s: Segment): Child {
  if (s.kind === "insert") return marked("insert", s.text, "rmx-ann-ins");
  if (s.kind === "delete") return marked("delete", s.text, "rmx-ann-del");
  return document.createTextNode(s.text);
}

function half(label: string, body: Child): HTMLDivElement {
  return h(
    "div",
    { class: "rmx-col" },
    h("div", { class: "rmx-col-label" }, label),
    h("div", { class: "rmx-text rmx-text-compact" }, body),
  );
}

function replacedBlock(original: string, perturbed: string, share: number): HTMLDivElement {
  const pct = Math.round(share * 100);
  return h(
    "div",
    { class: "rmx-replaced", testid: "rmx-ann-replaced" },
    h("div", { class: "rmx-muted" }, `Whole response replaced (${pct}% of the original's text changed)`),
    h(
      "div",
      { class: "rmx-cols" },
      half("Before", original === "" ? "" : marked("delete", original, "rmx-ann-old", "rmx-del-block")),
      half(
        "After",
        perturbed === "" ? h("span", { class: "rmx-muted" }, "(empty)") : marked("insert", perturbed, "rmx-ann-new"),
      ),
    ),
  );
}

/** The rewrite `perturbed` of `original`, with both its deletions and its insertions visible. */
export function rewriteDiff(original: unknown, perturbed: unknown): HTMLDivElement {
  const a = typeof original === "string" ? original : original == null ? "" : String(original);
  const b = typeof perturbed === "string" ? perturbed : perturbed == null ? "" : String(perturbed);
  const d = wordDiff(a, b);
  if (isReplacement(d)) {
    return h("div", { class: "rmx-rewrite-diff", testid: "rmx-row-perturbed" }, replacedBlock(a, b, changedShare(d)));
  }
  return h(
    "div",
    { class: "rmx-rewrite-diff rmx-text rmx-text-compact", testid: "rmx-row-perturbed" },
    d.segments.map(mark),
  );
}
