import { afterEach, describe, expect, it } from "vitest";
import widget from "../src/comparison_view";
import type { ShownEdit } from "../src/lib/contract";
import { changeSelect, click, key, mount, typeInto } from "./fake_model";
import { cvState, ROW } from "./fixtures";

let current: ReturnType<typeof mount> | null = null;
const setup = (over: Record<string, unknown> = {}) => (current = mount(widget, cvState(over)));
afterEach(() => {
  current?.cleanup();
  current = null;
});

const EDIT: ShownEdit = {
  edit_id: 4,
  kind: "rewrite",
  target_row: 1,
  response: null,
  row: { ...ROW, row_id: 1, perturbed: "Thank you. The answer is 41.", reward_perturbed: 1.0, margin_after: 0.9, outcome: "SF" },
  rederived: [],
  note: "the rewrite keeps it (SF): margin +1.150 → +0.900.",
};

describe("ComparisonView edit and rescore", () => {
  it("edits a rewrite: the textarea starts from its text and Rescore sends one message", () => {
    const { q, qa, model } = setup();
    expect(qa("rmx-edit-row")).toHaveLength(3);
    click(qa("rmx-edit-row")[0]);
    const area = q("rmx-edit-text") as HTMLTextAreaElement;
    expect(area.value).toBe("Ugh. The answer is 42.");
    expect(area.getAttribute("maxlength")).toBe("20000");
    typeInto(area, "Ugh. It is 42.");
    model.pythonSet("edit_status", "something else"); // a redraw keeps the draft
    expect((q("rmx-edit-text") as HTMLTextAreaElement).value).toBe("Ugh. It is 42.");
    click(q("rmx-rescore"));
    expect(model.sent).toEqual([
      { type: "rescore", kind: "rewrite", comparison_id: "c1", row_id: 1, response: "", attribute: "", side: "", text: "Ugh. It is 42." },
    ]);
  });

  it("shows a spinner while busy, then the edit in place and closes the editor", () => {
    const { q, qa, model } = setup();
    click(qa("rmx-edit-row")[0]);
    click(q("rmx-rescore"));
    model.pythonSet("edit_busy", true);
    model.pythonSet("edit_status", "rescoring with rm…");
    expect(q("rmx-edit-spinner")).not.toBeNull();
    expect((q("rmx-rescore") as HTMLButtonElement).disabled).toBe(true);
    model.pythonSet("edits_shown", [EDIT]);
    model.pythonSet("n_edits", 1);
    model.pythonSet("edit_busy", false);
    expect(q("rmx-edit-spinner")).toBeNull();
    expect(q("rmx-editor")).toBeNull();
    const edited = q("rmx-edited")!;
    expect(edited.closest('[data-row-id="1"]')).not.toBeNull(); // inside the card it edits
    expect(edited.textContent).toContain("edited");
    expect(edited.querySelector('[data-testid="rmx-badge"]')!.textContent).toBe("SF");
    expect(edited.textContent).toContain("+0.900");
    expect(edited.querySelector("ins")!.textContent).toContain("41");
    expect(q("rmx-edit-count")!.textContent).toContain("1 edit");
    click(edited.querySelector('[data-testid="rmx-undo-edit"]'));
    expect(model.sent.at(-1)).toEqual({ type: "undo", edit_id: 4 });
  });

  it("keeps the editor and draft open and shows the error as text when the rescore fails", () => {
    const { q, qa, model } = setup();
    click(qa("rmx-edit-row")[0]);
    typeInto(q("rmx-edit-text"), "");
    click(q("rmx-rescore"));
    model.pythonSet("edit_error", "the edited text is empty: <b>type</b> a response.");
    expect(q("rmx-editor")).not.toBeNull();
    const err = q("rmx-edit-error")!;
    expect(err.textContent).toBe("Rescore failed: the edited text is empty: <b>type</b> a response.");
    expect(err.querySelector("b")).toBeNull();
    expect(err.getAttribute("role")).toBe("alert");
  });

  it("writes a rewrite for a picked attribute and side", () => {
    const { q, model } = setup();
    click(q("rmx-write-rewrite"));
    changeSelect(q("rmx-edit-attribute"), "length");
    changeSelect(q("rmx-edit-side"), "rejected");
    typeInto(q("rmx-edit-text"), "Forty-two, for sure.");
    click(q("rmx-rescore"));
    expect(model.sent).toEqual([
      { type: "rescore", kind: "write", comparison_id: "c1", row_id: -1, response: "", attribute: "length", side: "rejected", text: "Forty-two, for sure." },
    ]);
    model.pythonSet("edits_shown", [{ ...EDIT, edit_id: 5, kind: "write", target_row: -1, row: { ...EDIT.row, row_id: -1, side: "rejected", attribute: "length", direction: "better", outcome: "CF" } }]);
    const written = q("rmx-written")!;
    expect(written.textContent).toContain("hand-written");
    expect(written.textContent).toContain("length");
    expect(written.textContent).toContain("\u2191 better");
  });

  it("edits an original response and shows the re-derived outcome in each card", () => {
    const { q, model } = setup();
    click(q("rmx-edit-response-b"));
    expect((q("rmx-edit-text") as HTMLTextAreaElement).value).toBe("42");
    typeInto(q("rmx-edit-text"), "42, I think");
    click(q("rmx-rescore"));
    expect(model.sent[0]).toMatchObject({ kind: "original", response: "b", row_id: -1, text: "42, I think" });
    const orig: ShownEdit = {
      ...EDIT,
      edit_id: 6,
      kind: "original",
      target_row: -1,
      response: "b",
      row: { ...ROW, row_id: -1, side: "rejected", attribute: "hand-edit", original: "42", perturbed: "42, I think", outcome: "SF" },
      rederived: [{ ...ROW, row_id: 2, side: "rejected", outcome: "CF", margin_before: 0.5, margin_after: -0.25 }],
    };
    model.pythonSet("edits_shown", [orig]);
    const resp = q("rmx-response-b")!;
    expect(resp.querySelector('[data-testid="rmx-edited-response"]')!.textContent).toContain("edited");
    expect(resp.querySelector('[data-testid="rmx-edited-text"] ins')!.textContent).toContain("I think");
    const line = q("rmx-rederived")!;
    expect(line.closest('[data-row-id="2"]')).not.toBeNull();
    expect(line.textContent).toContain("With edited response B");
    expect(line.textContent).toContain("CF");
    expect(line.textContent).toContain("\u22120.250");
  });

  it("typing j / k in the textarea does not navigate; another comparison closes the editor", () => {
    const { q, qa, model } = setup();
    click(qa("rmx-edit-row")[0]);
    key(q("rmx-edit-text")!, "j");
    key(q("rmx-edit-text")!, "k");
    expect(model.saves).toBe(0);
    model.pythonSet("comparison", { ...(model.get("comparison") as object), id: "c2", index: 1 });
    expect(q("rmx-editor")).toBeNull();
    expect(model.sent).toEqual([]);
  });

  it("hides the Edit controls without an RM and says why in a tooltip", () => {
    const { q, qa } = setup({ can_edit: false, edit_unavailable: "Edit and rescore needs the reward model: build the view with rm=..." });
    expect(qa("rmx-edit-row")).toHaveLength(0);
    expect(q("rmx-edit-response-a")).toBeNull();
    expect(q("rmx-write-rewrite")).toBeNull();
    expect(q("rmx-edit-unavailable")!.title).toContain("rm=");
  });

  it("survives hostile edit records", () => {
    const { q } = setup({ edits_shown: [null, 3, { kind: "rewrite" }, { ...EDIT, row: { ...EDIT.row, perturbed: "<img src=x onerror=alert(1)>" } }] });
    const edited = q("rmx-edited")!;
    expect(edited.querySelector("img")).toBeNull();
    expect(edited.textContent).toContain("<img src=x");
  });
});
