import { afterEach, describe, expect, it } from "vitest";
import widget from "../src/annotator";
import { click, key, mount, typeInto } from "./fake_model";
import { annState } from "./fixtures";

let current: ReturnType<typeof mount> | null = null;
const setup = (over: Record<string, unknown> = {}) => (current = mount(widget, annState(over)));
afterEach(() => {
  current?.cleanup();
  current = null;
});

const tag = (qa: (id: string) => HTMLElement[], name: string) => qa("rmx-ann-tag").find((t) => t.dataset.tag === name);

describe("Annotator", () => {
  it("renders the example, its rows and i / n", () => {
    const { q, qa } = setup();
    expect(q("rmx-ann-position")!.textContent).toBe("1 / 2");
    expect(q("rmx-ann-prompt")!.textContent).toBe("What is the answer?");
    expect(q("rmx-ann-chosen")!.textContent).toBe("The answer is 42.");
    expect(q("rmx-ann-rejected")!.textContent).toBe("No idea.");
    const rows = qa("rmx-ann-row");
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => r.querySelector('[data-testid="rmx-badge"]')!.textContent)).toEqual(["CF", "SF"]);
    expect(rows[0].textContent).toContain("politeness");
    expect(qa("rmx-ann-tag").map((t) => t.dataset.tag)).toEqual(["expected", "surprising", "RM bug"]);
  });

  it("prev/next change index via set + save_changes, clamped", () => {
    const { q, model } = setup();
    click(q("rmx-ann-prev"));
    expect(model.saves).toBe(0);
    click(q("rmx-ann-next"));
    expect(model.get("index")).toBe(1);
    expect(model.saved).toEqual([{ index: 1 }]);
    expect(q("rmx-ann-prompt")!.textContent).toBe("Second prompt");
    click(q("rmx-ann-next"));
    expect(model.get("index")).toBe(1);
    click(q("rmx-ann-prev"));
    expect(model.get("index")).toBe(0);
  });

  it("tag toggling + note + Save sends {type: 'save', comparison_id, tags, note}", () => {
    const { q, qa, model } = setup();
    click(tag(qa, "surprising")!);
    expect(tag(qa, "surprising")!.getAttribute("aria-pressed")).toBe("true");
    click(tag(qa, "RM bug")!);
    click(tag(qa, "surprising")!);
    expect(tag(qa, "surprising")!.getAttribute("aria-pressed")).toBe("false");
    typeInto(q("rmx-ann-note"), "length dominates");
    click(q("rmx-ann-save"));
    expect(model.sent).toEqual([{ type: "save", comparison_id: "c1", tags: ["RM bug"], note: "length dominates" }]);
  });

  it("adds a free tag on Enter", () => {
    const { q, qa, model } = setup();
    const input = q("rmx-ann-free-tag") as HTMLInputElement;
    input.focus();
    input.value = "  verbosity ";
    key(input, "Enter");
    expect(tag(qa, "verbosity")!.getAttribute("aria-pressed")).toBe("true");
    expect((q("rmx-ann-free-tag") as HTMLInputElement).value).toBe("");
    expect(document.activeElement).toBe(q("rmx-ann-free-tag"));
    (q("rmx-ann-free-tag") as HTMLInputElement).value = "   ";
    key(q("rmx-ann-free-tag")!, "Enter");
    expect(qa("rmx-ann-tag")).toHaveLength(4);
    click(q("rmx-ann-save"));
    expect(model.sent).toEqual([{ type: "save", comparison_id: "c1", tags: ["verbosity"], note: "" }]);
  });

  it("export buttons send export messages", () => {
    const { q, model } = setup();
    click(q("rmx-ann-export-csv"));
    click(q("rmx-ann-export-jsonl"));
    expect(model.sent).toEqual([
      { type: "export", format: "csv" },
      { type: "export", format: "jsonl" },
    ]);
  });

  it("shows saved annotations for the current example and the status line", () => {
    const { q, qa, model } = setup({
      annotations: { c2: { tags: ["expected", "custom-tag"], note: "fine", updated: 1_700_000_000 } },
    });
    expect(q("rmx-ann-saved")!.textContent).toContain("Not annotated yet");
    model.pythonSet("index", 1);
    expect(q("rmx-ann-saved")!.textContent).toContain("expected");
    expect(q("rmx-ann-saved")!.textContent).toContain("fine");
    expect(tag(qa, "expected")!.getAttribute("aria-pressed")).toBe("true");
    expect(tag(qa, "custom-tag")!.getAttribute("aria-pressed")).toBe("true");
    expect((q("rmx-ann-note") as HTMLTextAreaElement).value).toBe("fine");

    model.pythonSet("annotations", {
      c2: { tags: ["surprising"], note: "changed my mind", updated: 1_700_000_100 },
    });
    model.pythonSet("status", "saved c2 at 12:01:03");
    expect(tag(qa, "surprising")!.getAttribute("aria-pressed")).toBe("true");
    expect(tag(qa, "expected")!.getAttribute("aria-pressed")).toBe("false");
    expect((q("rmx-ann-note") as HTMLTextAreaElement).value).toBe("changed my mind");
    expect(q("rmx-ann-saved")!.textContent).toContain("changed my mind");
    expect(q("rmx-ann-status")!.textContent).toBe("saved c2 at 12:01:03");
  });

  it("keeps the unsaved note across status updates", () => {
    const { q, model } = setup();
    typeInto(q("rmx-ann-note"), "draft");
    model.pythonSet("status", "working");
    expect((q("rmx-ann-note") as HTMLTextAreaElement).value).toBe("draft");
  });

  it("renders an empty state with no examples", () => {
    const { q, model } = setup({ examples: [] });
    expect(q("rmx-empty")).not.toBeNull();
    expect(q("rmx-ann-position")!.textContent).toBe("0 / 0");
    click(q("rmx-ann-next"));
    expect(model.saves).toBe(0);
  });

  it("cleanup removes every model listener", () => {
    const { model, cleanup } = setup();
    cleanup();
    current = null;
    expect(model.listenerCount()).toBe(0);
  });
});
