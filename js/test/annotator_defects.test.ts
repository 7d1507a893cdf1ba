/**
 * The Annotator's defects of issue 14: an unsaved note lost on Next, deletions invisible,
 * whole rewrites as confetti, unlabelled numbers, the RM's "Chosen" mistaken for the human's,
 * and the tag controls below every rewrite.
 */
import { afterEach, describe, expect, it } from "vitest";
import widget from "../src/annotator";
import { changedShare, isReplacement, REPLACED_ABOVE, wordDiff } from "../src/lib/diff";
import { click, mount, typeInto } from "./fake_model";
import { annState, EXAMPLE, ROW } from "./fixtures";

let current: ReturnType<typeof mount> | null = null;
const setup = (over: Record<string, unknown> = {}) => (current = mount(widget, annState(over)));
afterEach(() => {
  current?.cleanup();
  current = null;
});

const note = (q: (id: string) => HTMLElement | null) => (q("rmx-ann-note") as HTMLTextAreaElement).value;
const visibleText = (el: Element) => {
  const copy = el.cloneNode(true) as Element;
  copy.querySelectorAll(".rmx-sr-only").forEach((s) => s.remove());
  return copy.textContent ?? "";
};

/** Record sends and state syncs in one list, in the order the kernel would receive them. */
function journal(model: ReturnType<typeof mount>["model"]): unknown[] {
  const log: unknown[] = [];
  const send = model.send.bind(model);
  const saveChanges = model.save_changes.bind(model);
  model.send = (c: unknown) => {
    log.push(c);
    send(c);
  };
  model.save_changes = () => {
    log.push({ sync: { index: model.get("index") } });
    saveChanges();
  };
  return log;
}

describe("an unsaved note is never lost on Next / Prev", () => {
  it("Next saves the changed note and tags of the example left, before moving", () => {
    const { q, qa, model } = setup();
    const log = journal(model);
    typeInto(q("rmx-ann-note"), "half a thought");
    click(qa("rmx-ann-tag").find((t) => t.dataset.tag === "surprising")!);
    click(q("rmx-ann-next"));
    expect(log).toEqual([
      { type: "save", comparison_id: "c1", tags: ["surprising"], note: "half a thought" },
      { sync: { index: 1 } },
    ]);
    expect(note(q)).toBe(""); // c2 has its own (empty) annotation
    expect(q("rmx-ann-prompt")!.textContent).toBe("Second prompt");
  });

  it("moving without a change sends no save", () => {
    const { q, model } = setup();
    click(q("rmx-ann-next"));
    click(q("rmx-ann-prev"));
    expect(model.sent).toEqual([]);
  });

  it("keeps the draft, marked unsaved, until Python confirms it; a failed save loses nothing", () => {
    const { q, model } = setup();
    typeInto(q("rmx-ann-note"), "keep me");
    click(q("rmx-ann-next"));
    model.pythonSet("status", "error: the annotation holds a NUL byte; nothing was saved.");
    click(q("rmx-ann-prev")); // back on c1: the save did not land
    expect(note(q)).toBe("keep me");
    expect(q("rmx-ann-saved")!.textContent).toContain("Not annotated yet");
    expect(current!.el.querySelector(".rmx-dirty")!.classList.contains("rmx-hidden")).toBe(false);
    expect(model.sent).toHaveLength(1); // nothing new to save: c1 is shown, not left

    click(q("rmx-ann-next")); // leaving again saves again
    expect(model.sent).toHaveLength(2);
    model.pythonSet("annotations", { c1: { tags: [], note: "keep me", updated: 1_700_000_000 } });
    click(q("rmx-ann-prev"));
    expect(note(q)).toBe("keep me");
    expect(current!.el.querySelector(".rmx-dirty")!.classList.contains("rmx-hidden")).toBe(true);
    expect(q("rmx-ann-saved")!.textContent).toContain("keep me");
  });

  it("the confirmation of the example left does not reset what is typed on the next one", () => {
    const { q, model } = setup();
    typeInto(q("rmx-ann-note"), "first");
    click(q("rmx-ann-next"));
    typeInto(q("rmx-ann-note"), "typing on c2");
    model.pythonSet("annotations", { c1: { tags: [], note: "first", updated: 1_700_000_000 } });
    expect(note(q)).toBe("typing on c2");
    expect(current!.el.querySelector(".rmx-dirty")!.classList.contains("rmx-hidden")).toBe(false);
  });

  it("a view removed with changes on screen saves them", () => {
    const { q, model, cleanup } = setup();
    typeInto(q("rmx-ann-note"), "cell re-run");
    cleanup();
    current = null;
    expect(model.sent).toEqual([{ type: "save", comparison_id: "c1", tags: [], note: "cell re-run" }]);
  });

  it("Python moving the index saves the draft too", () => {
    const { q, model } = setup();
    typeInto(q("rmx-ann-note"), "moved from Python");
    model.pythonSet("index", 1);
    expect(model.sent).toEqual([{ type: "save", comparison_id: "c1", tags: [], note: "moved from Python" }]);
  });
});

describe("the diff shows deletions, and whole replacements as one block", () => {
  it("deletions are struck through with a label a screen reader reads; insertions too", () => {
    const original = "Well, I am very sorry, but the answer is 42.";
    const perturbed = "Well, I am sorry, but the answer is surely 42.";
    const { qa } = setup({ examples: [{ ...EXAMPLE, rows: [{ ...ROW, original, perturbed }] }] });
    const row = qa("rmx-ann-row")[0];
    const dels = Array.from(row.querySelectorAll("del.rmx-del"));
    const ins = Array.from(row.querySelectorAll("ins.rmx-ins"));
    expect(dels.map(visibleText).map((t) => t.trim())).toEqual(["very"]);
    expect(ins.map(visibleText).map((t) => t.trim())).toEqual(["surely"]);
    for (const d of dels) expect(d.querySelector(".rmx-sr-only")!.textContent).toBe("[deleted: ");
    for (const i of ins) expect(i.querySelector(".rmx-sr-only")!.textContent).toBe("[inserted: ");
    expect(row.querySelector('[data-testid="rmx-ann-replaced"]')).toBeNull();
    // the inline diff still reads as the rewrite once the deletions are taken out
    const diff = row.querySelector('[data-testid="rmx-row-perturbed"]')!.cloneNode(true) as Element;
    diff.querySelectorAll("del").forEach((d) => d.remove());
    expect(visibleText(diff)).toBe(perturbed);
  });

  it("a rewrite that keeps little of the original is one old / new block", () => {
    const original = "The capital of France is Paris, a city on the Seine.";
    const perturbed = "I cannot help with geography questions today, sorry.";
    const { qa } = setup({ examples: [{ ...EXAMPLE, rows: [{ ...ROW, original, perturbed }] }] });
    const row = qa("rmx-ann-row")[0];
    const block = row.querySelector('[data-testid="rmx-ann-replaced"]')!;
    expect(block).not.toBeNull();
    expect(visibleText(block.querySelector('[data-testid="rmx-ann-old"]')!)).toBe(original);
    expect(visibleText(block.querySelector('[data-testid="rmx-ann-new"]')!)).toBe(perturbed);
    expect(row.querySelectorAll("del").length).toBe(1); // not word confetti
    expect(block.textContent).toMatch(/Whole response replaced \(\d+% of the original's text changed\)/);
  });

  it("the threshold is one constant over the original's non-space characters", () => {
    expect(REPLACED_ABOVE).toBe(0.5);
    // "aa bb cc dd" → "aa bb XX YY": 4 of 8 non-space characters deleted = 0.5, not above
    const half = wordDiff("aa bb cc dd", "aa bb XX YY");
    expect(changedShare(half)).toBe(0.5);
    expect(isReplacement(half)).toBe(false);
    const more = wordDiff("aa bb cc dd", "aa XX YY ZZ"); // 6 / 8
    expect(changedShare(more)).toBe(0.75);
    expect(isReplacement(more)).toBe(true);
    expect(changedShare(wordDiff("", "all new"))).toBe(0); // nothing to delete
    expect(changedShare(wordDiff("gone", ""))).toBe(1);
    expect(changedShare(wordDiff("same", "same"))).toBe(0);
  });
});

describe("rewards, margins and outcomes are shown, each labelled", () => {
  it("every rewrite names the reward of the original, the rewrite, the other response, and the margin", () => {
    const { qa } = setup();
    const numbers = qa("rmx-ann-numbers")[0].textContent!;
    expect(numbers).toContain("reward of original 1.250");
    expect(numbers).toContain("reward of rewrite -0.500 (\u22121.750)");
    expect(numbers).toContain("reward of other response 0.100");
    expect(numbers).toContain("margin +1.150 \u2192 \u22120.600");
    expect(qa("rmx-ann-outcome").map((o) => o.textContent)).toEqual(["preference flipped", "preference held"]);
  });

  it("the example's score says what it is, and no number stands alone", () => {
    const { q } = setup();
    expect(q("rmx-ann-score")!.textContent).toBe("\u03c4 with the RM's global attribute ranking (high: typical): 0.800");
    expect(current!.el.textContent).not.toMatch(/score \d/);
    expect(current!.el.textContent).not.toMatch(/(^|\s)other \d/);
    expect(q("rmx-ann-rm-label")!.textContent).toBe("RM prefers response A (margin +1.150)");
  });
});

describe("the RM's choice and the human label are both shown", () => {
  it("a pair the human labelled the other way says so, on the line and on each response", () => {
    const { q } = setup();
    expect(q("rmx-ann-human-label")!.textContent).toBe("Human label: response B");
    expect(q("rmx-ann-agreement")!.textContent).toBe("RM and human disagree");
    expect(q("rmx-ann-chosen-label")!.textContent).toBe(
      "Chosen by the RM \u00b7 response A \u00b7 reward 1.250the human rejected it",
    );
    expect(q("rmx-ann-rejected-label")!.textContent).toBe(
      "Rejected by the RM \u00b7 response B \u00b7 reward 0.100the human preferred it",
    );
    expect(q("rmx-ann-rejected-label")!.textContent).not.toMatch(/^Rejected$/);
  });

  it("agreement, no human label, and the RM preferring B", () => {
    const agree = { ...EXAMPLE, human_preferred: "a", rm_agrees_with_human: true };
    const none = { ...EXAMPLE, comparison_id: "c2", human_preferred: null, rm_agrees_with_human: null };
    const b = { ...EXAMPLE, comparison_id: "c3", rm_preferred: "b", human_preferred: "b", rm_agrees_with_human: true };
    const { q, model } = setup({ examples: [agree, none, b] });
    expect(q("rmx-ann-agreement")!.textContent).toBe("RM and human agree");
    model.pythonSet("index", 1);
    expect(q("rmx-ann-human-label")!.textContent).toBe("No human label");
    expect(q("rmx-ann-agreement")!.textContent).toBe("agreement not known");
    expect(q("rmx-ann-chosen-label")!.textContent).toBe("Chosen by the RM \u00b7 response A \u00b7 reward 1.250");
    model.pythonSet("index", 2);
    expect(q("rmx-ann-rm-label")!.textContent).toContain("RM prefers response B");
    expect(q("rmx-ann-chosen-label")!.textContent).toContain("response B");
    expect(q("rmx-ann-agreement")!.textContent).toBe("RM and human agree");
    expect(qa_sides()).toEqual(["RM-chosen response (B)", "RM-chosen response (B)"]);
  });
});

function qa_sides(): string[] {
  return current!.qa("rmx-ann-row").map((r) => r.querySelector(".rmx-side")!.textContent!);
}

describe("the tag controls come before the rewrites", () => {
  it("the form precedes the prompt, the responses and every rewrite, however many", () => {
    const rows = Array.from({ length: 60 }, (_, i) => ({ ...ROW, row_id: i + 1 }));
    const { q, qa } = setup({ examples: [{ ...EXAMPLE, rows }] });
    expect(qa("rmx-ann-row")).toHaveLength(60);
    const form = q("rmx-ann-tag")!;
    for (const later of [q("rmx-ann-prompt")!, q("rmx-ann-chosen")!, qa("rmx-ann-row")[0]]) {
      expect(form.compareDocumentPosition(later) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    }
    const status = q("rmx-ann-status")!;
    expect(status.compareDocumentPosition(qa("rmx-ann-row")[0]) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
  });
});
