/**
 * A table's own columns (slices, objective changes): copied from each row's extra_text /
 * extra_numbers by their field, typed by kind, never over a fixed field; drawn in the grid
 * under their dotted field names (nestedFieldSeparator off) and sorted by them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { PageReply, PageRequestMessage, TableColumn, TableRow } from "../src/lib/contract";
import rewriteTable from "../src/rewrite_table";
import { extraRanges, flatRow } from "../src/rewrite_table/extra_columns";
import { click, mount, typeInto } from "./fake_model";
import { RT_STATE, TABLE_ROW } from "./rewrite_table_fixtures";

const EXTRA: TableColumn[] = [
  { field: "slice.domain", title: "domain", kind: "text" },
  { field: "objective.helpfulness.delta", title: "Δ helpfulness", kind: "number" },
];
const ROW: TableRow = {
  ...TABLE_ROW,
  extra_text: { "slice.domain": "math" },
  extra_numbers: { "objective.helpfulness.delta": 0.5 },
};

describe("flatRow", () => {
  it("puts each listed extra column beside the fixed fields, typed by its kind", () => {
    const flat = flatRow(ROW, [...RT_STATE.columns, ...EXTRA]);
    expect(flat["slice.domain"]).toBe("math");
    expect(flat["objective.helpfulness.delta"]).toBe(0.5);
    expect(flat.row_id).toBe(4);
    expect(ROW).not.toHaveProperty(["slice.domain"]); // a copy: the reply is kept as it came
  });

  it("a missing, mistyped or unlisted value is null or left out; fixed fields stay", () => {
    const odd = {
      ...ROW,
      extra_text: { "slice.domain": 3, "slice.other": "x", row_id: "hijack" },
      extra_numbers: { "objective.helpfulness.delta": "0.5" },
    } as unknown as TableRow;
    const columns: TableColumn[] = [...EXTRA, { field: "row_id", title: "id", kind: "text" }, { field: "__proto__", title: "p", kind: "text" }];
    const flat = flatRow(odd, columns);
    expect(flat["slice.domain"]).toBeNull();
    expect(flat["objective.helpfulness.delta"]).toBeNull();
    expect(flat).not.toHaveProperty(["slice.other"]);
    expect(flat.row_id).toBe(4);
    expect(Object.getPrototypeOf(flat)).toBe(Object.prototype);
    expect(flatRow({ ...ROW, extra_numbers: { "objective.helpfulness.delta": NaN } }, EXTRA)["objective.helpfulness.delta"]).toBeNull();
  });
});

// jsdom lays nothing out; Tabulator draws rows only into a table with a size
const sizes = ["offsetWidth", "offsetHeight"] as const;
const saved = sizes.map((p) => Object.getOwnPropertyDescriptor(HTMLElement.prototype, p));
beforeAll(() => {
  for (const p of sizes) Object.defineProperty(HTMLElement.prototype, p, { configurable: true, get: () => 600 });
});
afterAll(() => {
  sizes.forEach((p, i) => Object.defineProperty(HTMLElement.prototype, p, saved[i]!));
});
let current: ReturnType<typeof mount> | null = null;
afterEach(() => {
  current?.cleanup();
  current = null;
});
const tick = () => new Promise((r) => setTimeout(r, 0));

describe("RewriteTable with a table's own columns", () => {
  it("draws the slice and objective cells under their headers and sorts by them", async () => {
    const m = mount(rewriteTable, { ...structuredClone(RT_STATE), columns: [...RT_STATE.columns, ...EXTRA] });
    current = m;
    const pages = () => m.model.sent.filter((s) => (s as { type?: string }).type === "page") as PageRequestMessage[];
    let answered = 0;
    const pump = async () => {
      for (let i = 0; i < 12; i++) {
        await tick();
        while (answered < pages().length) {
          const req = pages()[answered++];
          const reply: PageReply = { type: "page", request_id: req.request_id, page: 1, page_size: req.page_size, last_page: 1, total: 1, rows: [ROW], error: "" };
          m.model.emit("msg:custom", reply);
        }
      }
    };
    await pump();
    const cell = (field: string) => m.el.querySelector(`.tabulator-row .tabulator-cell[tabulator-field="${field}"]`)?.textContent;
    expect(cell("slice.domain")).toBe("math");
    expect(cell("objective.helpfulness.delta")).toBe("0.500");
    const header = m.el.querySelector('.tabulator-col[tabulator-field="slice.domain"]');
    expect(header?.querySelector(".tabulator-col-title")?.textContent).toBe("domain");
    click(header);
    await pump();
    expect(pages().at(-1)?.sort).toEqual([{ column: "slice.domain", dir: "asc" }]);
  });

  it("an objective change gets a min / max that travels in the next request; a slice does not", async () => {
    expect(extraRanges([...RT_STATE.columns, ...EXTRA])).toEqual([["objective.helpfulness.delta", "Δ helpfulness"]]);
    const m = mount(rewriteTable, { ...structuredClone(RT_STATE), columns: [...RT_STATE.columns, ...EXTRA] });
    current = m;
    const min = m.q("rmx-rt-min-objective.helpfulness.delta");
    expect(m.q("rmx-rt-min-slice.domain")).toBeNull();
    typeInto(min, "0.25");
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 5; i++) await tick();
    const pages = m.model.sent.filter((s) => (s as { type?: string }).type === "page") as PageRequestMessage[];
    expect(pages.at(-1)?.filters.ranges).toEqual([{ column: "objective.helpfulness.delta", low: 0.25, high: null }]);
    m.model.pythonSet("columns", RT_STATE.columns); // a table without objectives: the range goes
    expect(m.q("rmx-rt-min-objective.helpfulness.delta")).toBeNull();
  });
});
