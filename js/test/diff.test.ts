import { describe, expect, it } from "vitest";
import { wordDiff, type Segment } from "../src/lib/diff";

const join = (segs: Segment[]) => segs.map((s) => s.text).join("");

describe("wordDiff", () => {
  it("identical texts give one equal segment", () => {
    const d = wordDiff("The answer is 42.", "The answer is 42.");
    expect(d.segments).toEqual([{ kind: "equal", text: "The answer is 42." }]);
    expect(d.original).toEqual(d.segments);
    expect(d.perturbed).toEqual(d.segments);
  });

  it("marks word-level insertions, deletions and equal runs", () => {
    const d = wordDiff("the quick brown fox", "the slow brown fox jumps");
    const kinds = d.segments.map((s) => s.kind);
    expect(kinds).toContain("equal");
    expect(kinds).toContain("insert");
    expect(kinds).toContain("delete");
    expect(d.segments.filter((s) => s.kind === "delete").map((s) => s.text.trim())).toEqual(["quick"]);
    expect(d.segments.filter((s) => s.kind === "insert").map((s) => s.text.trim()).join(" ")).toContain("slow");
    expect(d.segments.filter((s) => s.kind === "insert").map((s) => s.text).join("")).toContain("jumps");
    // Words, not characters: "quick" is deleted whole even though it shares no prefix with "slow".
    for (const s of d.segments) if (s.kind !== "equal") expect(s.text.trim()).toMatch(/^(quick|slow|jumps|\s*)$/);
  });

  it("preserves whitespace exactly on both sides", () => {
    const a = "line one\n\n  indented   text\twith tab\nend";
    const b = "line one\n\n  indented   words\twith tab\n\nend  ";
    const d = wordDiff(a, b);
    expect(join(d.original)).toBe(a);
    expect(join(d.perturbed)).toBe(b);
    expect(d.original.every((s) => s.kind !== "insert")).toBe(true);
    expect(d.perturbed.every((s) => s.kind !== "delete")).toBe(true);
  });

  it("merges adjacent segments of the same kind", () => {
    const d = wordDiff("a b c d e", "v w x y z");
    for (let i = 1; i < d.segments.length; i++) expect(d.segments[i].kind).not.toBe(d.segments[i - 1].kind);
  });

  it("handles empty inputs", () => {
    expect(wordDiff("", "").segments).toEqual([]);
    expect(wordDiff("", "new text").segments).toEqual([{ kind: "insert", text: "new text" }]);
    expect(wordDiff("old text", "").segments).toEqual([{ kind: "delete", text: "old text" }]);
    expect(wordDiff("old", null).perturbed).toEqual([]);
    expect(wordDiff(undefined, "x").original).toEqual([]);
  });

  it("deletion-only and insertion-only edits", () => {
    const del = wordDiff("I am very sorry.", "I am sorry.");
    expect(del.segments.some((s) => s.kind === "insert")).toBe(false);
    expect(del.segments.filter((s) => s.kind === "delete").map((s) => s.text.trim())).toEqual(["very"]);
    const ins = wordDiff("I am sorry.", "I am truly sorry.");
    expect(ins.segments.some((s) => s.kind === "delete")).toBe(false);
    expect(ins.segments.filter((s) => s.kind === "insert").map((s) => s.text.trim())).toEqual(["truly"]);
  });
});
