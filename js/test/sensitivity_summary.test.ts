import { afterEach, describe, expect, it } from "vitest";
import widget, { MISSING } from "../src/sensitivity_summary";
import { mount } from "./fake_model";
import { ssState } from "./fixtures";

let current: ReturnType<typeof mount> | null = null;
const setup = (over: Record<string, unknown> = {}) => (current = mount(widget, ssState(over)));
afterEach(() => {
  current?.cleanup();
  current = null;
});

const texts = (els: Element[]) => els.map((e) => e.textContent);

describe("SensitivitySummary", () => {
  it("shows the headers and every cell Python made, in order", () => {
    const { q, qa } = setup();
    const table = q("rmx-summary-table")!;
    expect(texts(Array.from(table.querySelectorAll("thead th")))).toEqual([
      "attribute",
      "n",
      "failed",
      "CF",
      "SF",
      "PFR [interval]",
      "null PFR",
      "excess [interval]",
      "p (Holm)",
      "significant",
      "length-controlled PFR",
    ]);
    const rows = qa("rmx-summary-row");
    expect(rows).toHaveLength(3);
    expect(texts(Array.from(rows[0].children))).toEqual([
      "tone",
      "40",
      "10/50 (0.20)",
      "20",
      "20",
      "0.50 [0.35, 0.65]",
      "0.10 (n=40)",
      "+0.40 [+0.20, +0.60]",
      "0.001",
      "*",
      "no length data",
    ]);
    expect(q("rmx-summary-legend")!.textContent).toContain("α = 0.05 after Holm");
  });

  it("marks too-few and not-measured rows by class and text, never a PFR of 0", () => {
    const { qa } = setup();
    const [tone, length, hostile] = qa("rmx-summary-row");
    expect(tone.className).toBe("rmx-summary-row");
    expect(length.classList.contains("rmx-too-few")).toBe(true);
    expect(length.dataset.reading).toBe("too few");
    expect(length.children[1].textContent).toBe("9 (too few)");
    expect(hostile.classList.contains("rmx-not-measured")).toBe(true);
    expect(hostile.children[5].textContent).toBe("not measured");
    expect([hostile.children[3].textContent, hostile.children[4].textContent]).toEqual(["0", "0"]);
    expect(hostile.textContent).not.toContain("0.00 [");
  });

  it("puts names and cells in as text, never as markup", () => {
    const { qa, el } = setup();
    const hostile = qa("rmx-summary-row")[2];
    expect(hostile.children[0].textContent).toBe("<b>x</b>&<script>");
    expect(el.querySelectorAll("b, script").length).toBe(0);
    current!.model.pythonSet("rows", [
      { attribute: `<img src=x onerror="window.__pwned=1">`, reading: "ok", cells: ["<i>1</i>", null, 3] },
    ]);
    const row = qa("rmx-summary-row")[0];
    expect(texts(Array.from(row.children))).toEqual([`<img src=x onerror="window.__pwned=1">`, "<i>1</i>", "", "3"]);
    expect(el.querySelectorAll("img, i").length).toBe(0);
  });

  it("shows the valid-rewrite cell and the valid-only legend of a judged run, as text", () => {
    // the literals of tests/widgets/test_validity_widgets.py (SensitivitySummary.show of a
    // judged table computed with valid_only=True)
    const headers = ["attribute", "n", "failed", "valid (judged)", "PFR [interval]", "null PFR"];
    const { q, qa } = setup({
      headers,
      rows: [
        { attribute: "tone", reading: "ok", cells: ["40", "10/50 (0.20)", "38/40 (0.95)", "0.50 [0.35, 0.65]", "0.10 (n=40)"] },
        { attribute: "length", reading: "too few", cells: ["9 (too few)", "1/10 (0.10)", "not measured", "0.11 [0.02, 0.43]", "0.11 (n=9)"] },
        { attribute: "x", reading: "ok", cells: ["12", "0/12 (0.00)", "<b>1/1</b>", "0.10", "–"] },
      ],
      legend: "Figures on rewrites judged valid only. n = successful rewrites; valid (judged) = valid/judged rewrites (rate)",
    });
    const table = q("rmx-summary-table")!;
    expect(texts(Array.from(table.querySelectorAll("thead th")))).toEqual(headers);
    const [tone, length, x] = qa("rmx-summary-row");
    expect(tone.children[3].textContent).toBe("38/40 (0.95)");
    expect(length.children[3].textContent).toBe("not measured");
    expect(x.children[3].textContent).toBe("<b>1/1</b>");
    expect(table.querySelectorAll("b").length).toBe(0);
    expect(q("rmx-summary-legend")!.textContent).toMatch(/^Figures on rewrites judged valid only\./);
  });

  it("shows the waiting line without rows and redraws when rows arrive", () => {
    const { q, model } = setup({ rows: [] });
    expect(q("rmx-summary-table")).toBeNull();
    expect(q("rmx-summary-empty")!.textContent).toBe("No results yet: press Run.");
    model.pythonSet("rows", ssState().rows.slice(0, 1));
    expect(q("rmx-summary-empty")).toBeNull();
    expect(q("rmx-summary-table")!.querySelectorAll("tbody tr")).toHaveLength(1);
  });

  it("survives what the contract forbids", () => {
    const { q, model } = setup({ rows: "nope", headers: null });
    expect(q("rmx-summary-empty")).not.toBeNull();
    model.pythonSet("rows", [{ attribute: 5 }, null, { cells: "x" }].filter(Boolean));
    expect(q("rmx-summary-table")!.querySelectorAll("tbody tr")).toHaveLength(2);
    expect(q("rmx-summary-table")!.querySelectorAll("thead th")).toHaveLength(0);
  });

  it("split by a slice, each row starts with its slice's value; missing reads (missing)", () => {
    const [a, b] = ssState().rows;
    const { q, qa, model } = setup({ split_by: "domain", rows: [{ ...a, split_value: "math" }, { ...b, split_value: null }] });
    const head = Array.from(q("rmx-summary-table")!.querySelectorAll("thead th")).map((e) => e.textContent);
    expect(head.slice(0, 3)).toEqual(["domain", "attribute", "n"]);
    expect(qa("rmx-summary-row").map((r) => [r.children[0].textContent, r.children[1].textContent])).toEqual([
      ["math", "tone"],
      [MISSING, "length"],
    ]);
    model.pythonSet("split_by", "");
    expect(q("rmx-summary-table")!.querySelector("thead th")!.textContent).toBe("attribute");
    expect(qa("rmx-summary-row")[0].children[0].textContent).toBe("tone");
  });
});
