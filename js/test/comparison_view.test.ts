import { afterEach, describe, expect, it } from "vitest";
import widget from "../src/comparison_view";
import { changeSelect, click, key, mount } from "./fake_model";
import { comparison, cvState, row } from "./fixtures";

let current: ReturnType<typeof mount> | null = null;
const setup = (over: Record<string, unknown> = {}) => (current = mount(widget, cvState(over)));
afterEach(() => {
  current?.cleanup();
  current = null;
});

describe("ComparisonView", () => {
  it("renders the header, prompt turns and both responses", () => {
    const { el, q } = setup();
    const root = el.querySelector(".rmx-root")!;
    expect(root.getAttribute("tabindex")).toBe("0");
    expect(q("rmx-comparison-id")!.textContent).toContain("c1");
    expect(q("rmx-position")!.textContent).toBe("1 / 3");
    expect(q("rmx-prompt")!.querySelectorAll(".rmx-turn")).toHaveLength(3);
    expect(q("rmx-prompt")!.textContent).toContain("assistant");
    expect(q("rmx-response-a")!.textContent).toContain("Thank you for asking");
    expect(q("rmx-response-a")!.textContent).toContain("preferred");
    expect(q("rmx-response-a")!.textContent).toContain("+1.150");
    expect(q("rmx-response-b")!.textContent).not.toContain("preferred");
  });

  it("shows the human label next to the RM's preference, as text", () => {
    const { q } = setup(); // the RM prefers A, the human B (fixtures)
    expect(q("rmx-human-label")!.textContent).toBe("human preferred: B");
    expect(q("rmx-response-a")!.textContent).toContain("preferred");
    current?.cleanup();
    const a = setup({ comparison: comparison({ human_preferred: "a" }) });
    expect(a.q("rmx-human-label")!.textContent).toBe("human preferred: A");
    current?.cleanup();
    const none = setup({ comparison: comparison({ human_preferred: null }) });
    expect(none.q("rmx-human-label")!.textContent).toBe("no human label");
    current?.cleanup();
    const hostile = setup({ comparison: comparison({ human_preferred: "<img src=x onerror=alert(1)>" }) });
    expect(hostile.q("rmx-human-label")!.textContent).toBe("no human label");
    expect(hostile.el.querySelector("img")).toBeNull();
  });

  it("shows a tie badge instead of a preference", () => {
    const { el } = setup({ comparison: comparison({ tie: true, preferred: null, reward_b: 1.25 }) });
    expect(el.querySelector(".rmx-pill-tie")?.textContent).toBe("tie");
    expect(el.querySelector(".rmx-pill-preferred")).toBeNull();
  });

  it("renders one card per row with the right badges", () => {
    const { qa } = setup();
    const rows = qa("rmx-row");
    expect(rows).toHaveLength(3);
    const badges = rows.map((r) => r.querySelector('[data-testid="rmx-badge"]')!);
    expect(badges.map((b) => b.textContent)).toEqual(["CF", "SF", "failed"]);
    expect(badges[0].className).toBe("rmx-badge rmx-cf");
    expect(badges[1].className).toBe("rmx-badge rmx-sf");
    expect(badges[2].className).toBe("rmx-badge rmx-failed");
    expect(rows[0].textContent).toContain("politeness");
    expect(rows[0].textContent).toContain("worse");
    expect(rows[1].textContent).toContain("better");
  });

  it("marks the word diff with <del> in the original and <ins> in the perturbed text", () => {
    const { qa } = setup();
    const card = qa("rmx-row")[0];
    const orig = card.querySelector('[data-testid="rmx-row-original"]')!;
    const pert = card.querySelector('[data-testid="rmx-row-perturbed"]')!;
    expect(orig.textContent).toBe(row().original);
    expect(pert.textContent).toBe(row().perturbed);
    expect(orig.querySelectorAll("del.rmx-del").length).toBeGreaterThan(0);
    expect(orig.querySelector("ins")).toBeNull();
    expect(pert.querySelectorAll("ins.rmx-ins").length).toBeGreaterThan(0);
    expect(pert.querySelector("del")).toBeNull();
    expect(card.textContent).toContain("reward of original 1.250 \u2192 rewrite -0.500 (\u22121.750)");
    expect(card.textContent).toContain("margin before +1.150 \u2192 after \u22120.600");
  });

  it("shows the failure reason for failed rows instead of a diff", () => {
    const { qa } = setup();
    const failed = qa("rmx-row")[2];
    expect(failed.querySelector('[data-testid="rmx-failure-reason"]')!.textContent).toContain("rewriter returned empty text");
    expect(failed.querySelector("ins, del")).toBeNull();
    expect(failed.querySelector('[data-testid="rmx-row-perturbed"]')).toBeNull();
  });

  it("prev/next buttons change index via set + save_changes, clamped", () => {
    const { q, model } = setup();
    expect((q("rmx-prev") as HTMLButtonElement).disabled).toBe(true);
    click(q("rmx-next"));
    expect(model.get("index")).toBe(1);
    expect(model.saves).toBe(1);
    expect(model.saved[0]).toEqual({ index: 1 });
    expect(q("rmx-position")!.textContent).toBe("2 / 3");
    click(q("rmx-next"));
    expect(model.get("index")).toBe(2);
    expect((q("rmx-next") as HTMLButtonElement).disabled).toBe(true);
    click(q("rmx-next")); // disabled: no-op
    expect(model.get("index")).toBe(2);
    expect(model.saves).toBe(2);
    click(q("rmx-prev"));
    expect(model.get("index")).toBe(1);
  });

  it("ArrowRight/ArrowLeft and j/k navigate when the widget has focus, clamped", () => {
    const { el, model } = setup();
    const root = el.querySelector<HTMLElement>(".rmx-root")!;
    root.focus();
    key(root, "ArrowLeft");
    expect(model.get("index")).toBe(0);
    expect(model.saves).toBe(0);
    key(root, "ArrowRight");
    expect(model.get("index")).toBe(1);
    key(root, "j");
    expect(model.get("index")).toBe(2);
    key(root, "ArrowRight");
    expect(model.get("index")).toBe(2);
    key(root, "k");
    expect(model.get("index")).toBe(1);
    key(root, "ArrowLeft");
    expect(model.get("index")).toBe(0);
    expect(model.saves).toBe(4);
    expect(document.activeElement).toBe(root);
  });

  it("keeps focus after clicking next so the keyboard keeps working", () => {
    const { el, q, model } = setup();
    const next = q("rmx-next")!;
    next.focus();
    click(next);
    const active = document.activeElement!;
    expect(el.contains(active)).toBe(true);
    key(active, "ArrowRight");
    expect(model.get("index")).toBe(2);
  });

  it("ignores arrow keys typed inside a select", () => {
    const { q, model } = setup();
    key(q("rmx-filter-side")!, "ArrowRight");
    expect(model.get("index")).toBe(0);
  });

  it("filter selects update `filters`", () => {
    const { q, model } = setup();
    const attr = q("rmx-filter-attribute") as HTMLSelectElement;
    expect(Array.from(attr.options).map((o) => o.value)).toEqual(["", "politeness", "length", "tone"]);
    changeSelect(attr, "length");
    expect(model.get("filters")).toEqual({ attribute: "length", side: "all", outcome: "all" });
    changeSelect(q("rmx-filter-side"), "rejected");
    expect(model.get("filters")).toEqual({ attribute: "length", side: "rejected", outcome: "all" });
    changeSelect(q("rmx-filter-outcome"), "CF");
    expect(model.get("filters")).toEqual({ attribute: "length", side: "rejected", outcome: "CF" });
    expect(model.saves).toBe(3);
    expect((q("rmx-filter-outcome") as HTMLSelectElement).value).toBe("CF");
    expect((q("rmx-filter-attribute") as HTMLSelectElement).value).toBe("length");
  });

  it("re-renders when Python changes rows and comparison", () => {
    const { qa, q, model } = setup();
    model.pythonSet("rows", [row({ row_id: "x", outcome: "SF" })]);
    expect(qa("rmx-row")).toHaveLength(1);
    model.pythonSet("comparison", comparison({ id: "c9", index: 2 }));
    model.pythonSet("index", 2);
    expect(q("rmx-comparison-id")!.textContent).toContain("c9");
    expect(q("rmx-position")!.textContent).toBe("3 / 3");
    model.pythonSet("rows", []);
    expect(q("rmx-no-rows")).not.toBeNull();
  });

  it("shows a pager only when n_rows > page_size and pages via `page`", () => {
    const { q, model } = setup();
    expect(q("rmx-page-next")).toBeNull();
    model.pythonSet("page_size", 2);
    model.pythonSet("n_rows", 5);
    expect(q("rmx-page-info")!.textContent).toContain("rows 1\u20132 of 5");
    expect((q("rmx-page-prev") as HTMLButtonElement).disabled).toBe(true);
    click(q("rmx-page-next"));
    expect(model.get("page")).toBe(1);
    click(q("rmx-page-next"));
    expect(model.get("page")).toBe(2);
    expect((q("rmx-page-next") as HTMLButtonElement).disabled).toBe(true);
    expect(q("rmx-page-info")!.textContent).toContain("rows 5\u20135 of 5");
    click(q("rmx-page-prev"));
    expect(model.get("page")).toBe(1);
    expect(model.saves).toBe(3);
  });

  it("renders an empty state when comparison is null", () => {
    const { q, model } = setup({ comparison: null, rows: [] });
    expect(q("rmx-empty")).not.toBeNull();
    click(q("rmx-next"));
    expect(model.saves).toBe(0);
  });

  it("keeps the filter bar and a working Clear button when a filter matches nothing", () => {
    const filters = { attribute: "tone", side: "rejected", outcome: "CF" };
    const empty = "No rewrite rows match these filters. Clear filters to see them all.";
    const { q, model } = setup({ comparison: null, rows: [], n_rows: 0, filters, empty });
    expect(q("rmx-empty")!.textContent).toBe(empty);
    expect((q("rmx-filter-attribute") as HTMLSelectElement).value).toBe("tone");
    expect((q("rmx-filter-side") as HTMLSelectElement).value).toBe("rejected");
    click(q("rmx-clear-filters"));
    expect(model.get("filters")).toEqual({ attribute: "", side: "all", outcome: "all" });
    expect(model.saves).toBe(1);
    expect(q("rmx-clear-filters")).toBeNull(); // nothing left to clear
  });

  it("says what Python says when no row is shown (no run yet), as text", () => {
    const { q, model } = setup({ rows: [], n_rows: 0, empty: "No run yet: <b>press Run</b>" });
    expect(q("rmx-no-rows")!.textContent).toBe("No run yet: <b>press Run</b>");
    expect(q("rmx-no-rows")!.querySelector("b")).toBeNull();
    expect(q("rmx-clear-filters")).toBeNull();
    model.pythonSet("empty", "");
    expect(q("rmx-no-rows")!.textContent).toBe("No rewrite rows to show.");
  });

  it("cleanup removes every model listener and the DOM", () => {
    const { el, model, cleanup } = setup();
    expect(model.listenerCount()).toBeGreaterThan(0);
    cleanup();
    current = null;
    expect(model.listenerCount()).toBe(0);
    expect(el.querySelector(".rmx-root")).toBeNull();
  });
});
