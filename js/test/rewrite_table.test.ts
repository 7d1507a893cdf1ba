/**
 * RewriteTable in jsdom: Tabulator asks the (fake) kernel for pages through PageRequestMessages,
 * replies fill the grid as text, sort / search / filters travel in the next request, a filter
 * that matches nothing keeps the filter bar and Clear filters, selecting a row syncs
 * selected_row, Export sends ExportTableMessage, hostile cell text stays text, and the
 * Attribute and Side controls are the linked_filters trait both ways.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { PageReply, PageRequestMessage, TableRow } from "../src/lib/contract";
import rewriteTable, { columnDefinitions } from "../src/rewrite_table";
import { cellText } from "../src/rewrite_table/cells";
import { parseBound } from "../src/rewrite_table/filter_bar";
import { clampPageSize, pageSizeChoices } from "../src/rewrite_table/page_sizes";
import { readReply } from "../src/rewrite_table/pager";
import { changeSelect, click, mount, typeInto } from "./fake_model";
import { RT_STATE, TABLE_ROW } from "./rewrite_table_fixtures";

const HOSTILE = '<img src=x onerror="globalThis.pwned=1"><script>globalThis.pwned=2</script>';

const tick = () => new Promise((r) => setTimeout(r, 0));
async function settle(times = 5): Promise<void> {
  for (let i = 0; i < times; i++) await tick();
}

function reply(request: PageRequestMessage, rows: TableRow[], total = rows.length, error = ""): PageReply {
  return {
    type: "page",
    request_id: request.request_id,
    page: request.page,
    page_size: request.page_size,
    last_page: Math.max(1, Math.ceil(total / request.page_size)),
    total,
    rows,
    error,
  };
}

// jsdom lays nothing out (every offsetWidth is 0) and Tabulator renders rows only into a
// visible table: give elements a size for these tests, as a browser would.
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

/** Mount, and answer every page request with `answer` (after the view has sent it). */
async function mountAnswering(answer: (req: PageRequestMessage) => PageReply, state: object = RT_STATE) {
  const m = mount(rewriteTable, { ...structuredClone(state) });
  current = m;
  let answered = 0;
  const pump = async () => {
    for (let i = 0; i < 10; i++) {
      await settle(2);
      const pages = m.model.sent.filter((s) => (s as { type?: string }).type === "page") as PageRequestMessage[];
      while (answered < pages.length) m.model.emit("msg:custom", answer(pages[answered++]));
    }
    await settle(3);
  };
  await pump();
  return { ...m, pump, requests: () => m.model.sent.filter((s) => (s as { type?: string }).type === "page") as PageRequestMessage[] };
}

const cells = (el: HTMLElement, field: string) =>
  Array.from(el.querySelectorAll<HTMLElement>(`.tabulator-row .tabulator-cell[tabulator-field="${field}"]`)).map((c) => c.textContent);

describe("RewriteTable", () => {
  it("asks for page 1 and draws the reply's rows as text", async () => {
    const t = await mountAnswering((req) => reply(req, [TABLE_ROW, { ...TABLE_ROW, row_id: 5, outcome: "SF", margin_change: 0.5 }], 120));
    const first = t.requests()[0];
    expect(first).toMatchObject({ type: "page", page: 1, page_size: 50, sort: [], search: "" });
    expect(first.filters).toEqual({ attribute: "", side: "all", outcome: "all", validity: "all", ranges: [] });
    expect(cells(t.el, "outcome")).toEqual(["CF", "SF"]);
    expect(cells(t.el, "margin_change")).toEqual(["\u22121.750", "+0.500"]);
    expect(cells(t.el, "valid")).toEqual(["yes", "yes"]);
    expect(t.q("rmx-rt-count")!.textContent).toBe("Rows 1–2 of 120 matching (120 in the table)");
  });

  it("hostile cell text and titles stay text, never markup", async () => {
    const state = { ...RT_STATE, columns: [...RT_STATE.columns, { field: "failure_reason", title: HOSTILE, kind: "text" }] };
    const t = await mountAnswering((req) => reply(req, [{ ...TABLE_ROW, comparison_id: HOSTILE, perturbed: HOSTILE, failure_reason: HOSTILE }]), state);
    expect(cells(t.el, "perturbed")).toEqual([HOSTILE]);
    expect(cells(t.el, "comparison_id")).toEqual([HOSTILE]);
    expect(t.el.querySelector("img, script")).toBeNull();
    expect((globalThis as { pwned?: number }).pwned).toBeUndefined();
    const header = t.el.querySelector('.tabulator-col[tabulator-field="failure_reason"] .tabulator-col-title');
    expect(header!.textContent).toBe(HOSTILE);
  });

  it("search, filters and ranges travel in the next request (page 1 again)", async () => {
    const t = await mountAnswering((req) => reply(req, [TABLE_ROW], 1));
    changeSelect(t.q("rmx-rt-attribute"), "clarity");
    changeSelect(t.q("rmx-rt-side"), "rejected");
    changeSelect(t.q("rmx-rt-outcome"), "SF");
    changeSelect(t.q("rmx-rt-validity"), "unjudged");
    typeInto(t.q("rmx-rt-min-margin_change"), "-1.5");
    typeInto(t.q("rmx-rt-max-length_change"), "abc"); // not a number: marked, not sent
    typeInto(t.q("rmx-rt-search"), "  longer ");
    await new Promise((r) => setTimeout(r, 300));
    await t.pump();
    const last = t.requests().at(-1)!;
    expect(last.page).toBe(1);
    expect(last.search).toBe("longer");
    expect(last.filters).toEqual({
      attribute: "clarity",
      side: "rejected",
      outcome: "SF",
      validity: "unjudged",
      ranges: [{ column: "margin_change", low: -1.5, high: null }],
    });
    expect(t.q("rmx-rt-max-length_change")!.getAttribute("aria-invalid")).toBe("true");
  });

  it("a header click asks for the sorted page", async () => {
    const t = await mountAnswering((req) => reply(req, [TABLE_ROW], 1));
    const before = t.requests().length;
    click(t.el.querySelector('.tabulator-col[tabulator-field="margin_change"]'));
    await t.pump();
    expect(t.requests().length).toBeGreaterThan(before);
    expect(t.requests().at(-1)!.sort).toEqual([{ column: "margin_change", dir: "desc" }]);
  });

  it("a filter that matches nothing keeps the filter bar and Clear filters brings every row back", async () => {
    const t = await mountAnswering((req) => (req.filters.outcome === "failed" ? reply(req, [], 0) : reply(req, [TABLE_ROW], 120)));
    changeSelect(t.q("rmx-rt-outcome"), "failed");
    await t.pump();
    expect(t.q("rmx-rt-count")!.textContent).toContain("No rewrite matches these filters (120 in the table)");
    expect(t.q("rmx-rt-filters")).not.toBeNull();
    expect(cells(t.el, "outcome")).toEqual([]);
    click(t.q("rmx-rt-clear"));
    await t.pump();
    expect((t.q("rmx-rt-outcome") as HTMLSelectElement).value).toBe("all");
    expect(t.requests().at(-1)!.filters.outcome).toBe("all");
    expect(cells(t.el, "outcome")).toEqual(["CF"]);
  });

  it("an error reply is shown in one line, the bar stays", async () => {
    const t = await mountAnswering((req) => reply(req, [], 0, "Request refused: search is 9000 characters"));
    expect(t.q("rmx-rt-error")!.textContent).toBe("Request refused: search is 9000 characters");
    expect(t.q("rmx-rt-search")).not.toBeNull();
  });

  it("clicking or pressing Enter on a row selects it; the selection is marked", async () => {
    const t = await mountAnswering((req) => reply(req, [TABLE_ROW, { ...TABLE_ROW, row_id: 9 }], 2));
    const rows = t.el.querySelectorAll<HTMLElement>(".tabulator-row");
    rows[1].dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(t.model.get("selected_row")).toBe(9);
    t.model.pythonSet("selected_row", 9);
    expect(rows[1].classList.contains("rmx-rt-selected")).toBe(true);
    rows[0].dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(t.model.get("selected_row")).toBe(4);
    expect(t.model.get("reselections")).toBe(0);
  });

  it("picking the row already selected bumps reselections (selected_row cannot change)", async () => {
    const t = await mountAnswering((req) => reply(req, [TABLE_ROW, { ...TABLE_ROW, row_id: 9 }], 2));
    const rows = t.el.querySelectorAll<HTMLElement>(".tabulator-row");
    rows[1].dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect([t.model.get("selected_row"), t.model.get("reselections")]).toEqual([9, 0]);
    rows[1].dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect([t.model.get("selected_row"), t.model.get("reselections")]).toEqual([9, 1]);
    rows[1].dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect([t.model.get("selected_row"), t.model.get("reselections")]).toEqual([9, 2]);
  });

  it("a new data_version asks for the page again; Export sends ExportTableMessage", async () => {
    const t = await mountAnswering((req) => reply(req, [TABLE_ROW], 1));
    const before = t.requests().length;
    t.model.pythonSet("data_version", 2);
    await t.pump();
    expect(t.requests().length).toBe(before + 1);
    click(t.q("rmx-rt-export-parquet"));
    expect(t.model.sent.at(-1)).toEqual({ type: "export", format: "parquet" });
    t.model.pythonSet("export_status", "exported 1 rows to rewrites.parquet");
    expect(t.q("rmx-rt-export-status")!.textContent).toBe("exported 1 rows to rewrites.parquet");
  });

  it("data_version bumps while a page is on its way reload once, after it", async () => {
    const t = await mountAnswering((req) => reply(req, [TABLE_ROW], 1));
    const before = t.requests().length;
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    t.model.pythonSet("data_version", 2); // asks for the page ...
    await settle(2);
    expect(t.requests().length).toBe(before + 1);
    for (const version of [3, 4, 5]) t.model.pythonSet("data_version", version); // ... unanswered yet
    await settle(2);
    expect(t.requests().length).toBe(before + 1); // the three wait for it
    await t.pump(); // it is answered: one more page, for all three
    expect(t.requests().length).toBe(before + 2);
    expect(warn.mock.calls.filter((c) => String(c[0]).includes("Blocked"))).toEqual([]);
    warn.mockRestore();
  });

  it("an empty table says why", async () => {
    const t = await mountAnswering((req) => reply(req, [], 0), { ...RT_STATE, n_rows: 0 });
    expect(t.q("rmx-rt-count")!.textContent).toBe(RT_STATE.empty);
  });
});

describe("RewriteTable linked filters (Attribute and Side)", () => {
  const attribute = (t: { q: (id: string) => HTMLElement | null }) => t.q("rmx-rt-attribute") as HTMLSelectElement;
  const side = (t: { q: (id: string) => HTMLElement | null }) => t.q("rmx-rt-side") as HTMLSelectElement;
  const linkedSaves = (t: { model: { saved: Array<Record<string, unknown>> } }) => t.model.saved.filter((s) => "linked_filters" in s);

  it("the kernel's value is on the controls and in the first request", async () => {
    const t = await mountAnswering((req) => reply(req, [TABLE_ROW], 1), { ...RT_STATE, linked_filters: { attribute: "clarity", side: "rejected" } });
    expect([attribute(t).value, side(t).value]).toEqual(["clarity", "rejected"]);
    expect(t.requests()[0].filters).toMatchObject({ attribute: "clarity", side: "rejected" });
    expect(linkedSaves(t)).toEqual([]); // shown, not written back
  });

  it("a kernel change sets the controls and asks for page 1 of what it keeps, once", async () => {
    const t = await mountAnswering((req) => reply(req, [TABLE_ROW], 120));
    click(t.el.querySelector('.tabulator-page[data-page="next"]'));
    await t.pump();
    expect(t.requests().at(-1)!.page).toBe(2);
    const before = t.requests().length;
    t.model.pythonSet("linked_filters", { attribute: "verbosity", side: "chosen" });
    await t.pump();
    expect([attribute(t).value, side(t).value]).toEqual(["verbosity", "chosen"]);
    expect(t.requests().length).toBe(before + 1);
    expect(t.requests().at(-1)).toMatchObject({ page: 1, filters: { attribute: "verbosity", side: "chosen", outcome: "all" } });
    expect(linkedSaves(t)).toEqual([]);
    // the same value again (an echo) changes nothing and asks for nothing
    t.model.pythonSet("linked_filters", { attribute: "verbosity", side: "chosen" });
    await t.pump();
    expect(t.requests().length).toBe(before + 1);
  });

  it("an attribute the options do not list yet is shown as its own option, then kept", async () => {
    const t = await mountAnswering((req) => reply(req, [], 0), { ...RT_STATE, attribute_options: [] });
    t.model.pythonSet("linked_filters", { attribute: "tone", side: "all" });
    await t.pump();
    expect(attribute(t).value).toBe("tone");
    expect(Array.from(attribute(t).options).map((o) => o.value)).toEqual(["", "tone"]);
    t.model.pythonSet("attribute_options", ["verbosity", "tone"]);
    expect(Array.from(attribute(t).options).map((o) => o.value)).toEqual(["", "verbosity", "tone"]);
    expect(attribute(t).value).toBe("tone");
    t.model.pythonSet("linked_filters", { attribute: "<b>x</b>", side: "sideways" }); // hostile: text, "all"
    await t.pump();
    expect(attribute(t).value).toBe("<b>x</b>");
    expect(side(t).value).toBe("all");
    expect(attribute(t).querySelector("b")).toBeNull();
  });

  it("the reader's change is written to the trait in one save; Clear filters writes the cleared value", async () => {
    const t = await mountAnswering((req) => reply(req, [TABLE_ROW], 1));
    changeSelect(attribute(t), "clarity");
    expect(t.model.get("linked_filters")).toEqual({ attribute: "clarity", side: "all" });
    changeSelect(side(t), "rejected");
    expect(t.model.get("linked_filters")).toEqual({ attribute: "clarity", side: "rejected" });
    await t.pump();
    expect(t.requests().at(-1)!.filters).toMatchObject({ attribute: "clarity", side: "rejected" });
    changeSelect(t.q("rmx-rt-outcome"), "SF"); // not linked: travels only in the request
    expect(linkedSaves(t)).toHaveLength(2);
    click(t.q("rmx-rt-clear"));
    expect(t.model.get("linked_filters")).toEqual({ attribute: "", side: "all" });
    expect(linkedSaves(t)).toHaveLength(3);
    click(t.q("rmx-rt-clear")); // nothing linked to clear: nothing written
    expect(linkedSaves(t)).toHaveLength(3);
  });
});

describe("rewrite table helpers", () => {
  it("cellText formats by kind", () => {
    expect(cellText(null, "number")).toBe("\u2014");
    expect(cellText(Number.NaN, "number")).toBe("\u2014");
    expect(cellText(3, "number", "length_change")).toBe("+3");
    expect(cellText(false, "boolean")).toBe("no");
    expect(cellText(null, "boolean")).toBe("\u2014");
    expect(cellText(null, "text")).toBe("");
  });

  it("parseBound and readReply refuse what is not a number or a reply", () => {
    expect(parseBound(" 2.5 ")).toBe(2.5);
    expect(parseBound("")).toBeNull();
    expect(parseBound("1e999")).toBeUndefined();
    expect(readReply({ rows: "x", total: "9", last_page: -3 })).toEqual({ rows: [], page: 1, lastPage: 1, total: 0, error: "" });
  });

  it("columnDefinitions drops malformed columns", () => {
    expect(columnDefinitions([{ field: "a", title: "A", kind: "text" }, { field: 3 as unknown as string }]).map((c) => c.field)).toEqual(["a"]);
  });
});

describe("RewriteTable page sizes", () => {
  it("offers page sizes up to the kernel's bound and asks for the one picked", async () => {
    const rows = Array.from({ length: 3 }, (_, i) => ({ ...TABLE_ROW, row_id: i }));
    const t = await mountAnswering((req) => reply(req, rows, 1000), { ...RT_STATE, page_size: 40 });
    const select = t.el.querySelector<HTMLSelectElement>("select.tabulator-page-size");
    expect(select).not.toBeNull();
    expect(Array.from(select!.options).map((o) => o.value)).toEqual(["25", "40", "50", "100", "250", "500"]);
    expect(t.requests()[0].page_size).toBe(40);
    select!.value = "100";
    select!.dispatchEvent(new Event("change", { bubbles: true }));
    await t.pump();
    const last = t.requests().at(-1)!;
    expect(last.page_size).toBe(100);
    expect(t.q("rmx-rt-count")!.textContent).toBe("Rows 1–3 of 1,000 matching (120 in the table)");
  });

  it("pageSizeChoices and clampPageSize keep every size within 1..500", () => {
    expect(pageSizeChoices(50)).toEqual([25, 50, 100, 250, 500]);
    expect(pageSizeChoices(9999)).toEqual([25, 50, 100, 250, 500]);
    expect(pageSizeChoices(1)).toEqual([1, 25, 50, 100, 250, 500]);
    expect(clampPageSize(1e9, 50)).toBe(500);
    expect(clampPageSize(-3, 50)).toBe(1);
    expect(clampPageSize("100", 50)).toBe(50);
    expect(clampPageSize(Number.NaN, 40)).toBe(40);
  });
});
