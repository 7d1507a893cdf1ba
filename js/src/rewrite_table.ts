/**
 * RewriteTable: every rewrite of a run in a Tabulator grid, paged from the kernel.
 *
 * Tabulator runs in its remote mode (pagination, sort and filter all "remote") with no URL:
 * its ajaxRequestFunc asks the kernel for the page through an anywidget custom message
 * (rewrite_table/pager.ts), so only one page of rows is ever in the browser. The filter bar
 * (rewrite_table/filter_bar.ts) sits outside the grid and never disappears; its Attribute and
 * Side are the `linked_filters` trait both ways (the reader's change is committed, the kernel's
 * is shown and page 1 asked for again: the Explorer links them to the chart and the detail view). Repaint cost is kept
 * flat: fixed column widths and row height (no measuring of cell text), the basic renderer for
 * a page of at most a few hundred rows, and a new page replaces the rows in place
 * (Tabulator's setPage, not a rebuilt table).
 * Every cell is a text node (rewrite_table/cells.ts): model text never becomes markup.
 */
import type { AnyWidget } from "@anywidget/types";
import {
  AjaxModule,
  FormatModule,
  InteractionModule,
  PageModule,
  ResizeColumnsModule,
  SelectRowModule,
  SortModule,
  Tabulator,
  type ColumnDefinition,
  type RowComponent,
} from "tabulator-tables";
import type { RewriteTableState, TableColumn, TableFormat } from "./lib/contract";
import { h } from "./lib/dom";
import { getArray, getInt, getObject, getString, makeRoot, onChanges, commit, type WidgetProps } from "./lib/model";
import { textFormatter, titleNode } from "./rewrite_table/cells";
import { extraRanges, flatRow } from "./rewrite_table/extra_columns";
import { filterBar, readLinked } from "./rewrite_table/filter_bar";
import { clampPageSize, pageSizeChoices } from "./rewrite_table/page_sizes";
import { Pager, type PageResult } from "./rewrite_table/pager";

Tabulator.registerModule([AjaxModule, FormatModule, InteractionModule, PageModule, ResizeColumnsModule, SelectRowModule, SortModule]);

const ROW_HEIGHT = 30;
const WIDTHS: Record<string, number> = {
  comparison_id: 130,
  attribute: 130,
  side: 84,
  direction: 116,
  outcome: 112,
  semantic_distance: 110,
  length_change: 120,
  valid: 64,
  perturbed: 360,
  failure_reason: 200,
};

export function columnDefinitions(columns: Array<Partial<TableColumn>>): ColumnDefinition[] {
  return columns
    .filter((c): c is TableColumn => typeof c.field === "string" && typeof c.title === "string")
    .map((c) => ({
      field: c.field,
      title: "",
      titleFormatter: titleNode(c.title),
      formatter: textFormatter(c.kind, c.field),
      width: WIDTHS[c.field] ?? 104,
      hozAlign: c.kind === "number" ? "right" : "left",
      headerSort: true,
      headerSortStartingDir: c.kind === "number" ? "desc" : "asc",
      cssClass: `rmx-rt-col-${c.field}`,
    }));
}

const fmtCount = (n: number) => n.toLocaleString("en-US");

function render({ model, el }: WidgetProps<RewriteTableState>): () => void {
  const root = makeRoot(el, "rmx-rewrite-table");
  root.dataset.loads = "0";
  const pager = new Pager(model);
  const count = h("div", { class: "rmx-rt-count", testid: "rmx-rt-count", attrs: { "aria-live": "polite" } });
  const error = h("div", { class: "rmx-error rmx-rt-error", testid: "rmx-rt-error", attrs: { role: "alert" } });
  const status = h("div", { class: "rmx-muted rmx-rt-export-status", testid: "rmx-rt-export-status" });
  const gridEl = h("div", { class: "rmx-rt-grid", testid: "rmx-rt-grid" });
  const bar = filterBar(
    () => table && table.setPage(1),
    (format: TableFormat) => model.send({ type: "export", format }),
    (linked) => commit(model, { linked_filters: linked }),
  );
  // the first page request reads the bar: the kernel's options and linked filters first
  const attributeOptions = () => getArray(model, "attribute_options").map((x) => String(x ?? ""));
  const kernelLinked = () => readLinked(getObject(model, "linked_filters"));
  bar.setAttributes(attributeOptions());
  bar.setLinked(kernelLinked());
  root.append(bar.el, count, error, gridEl, status);
  const pageSize = clampPageSize(getInt(model, "page_size", 50), 50);
  let shownSize = pageSize; // the size of the page on screen (the user may pick another)

  const showCount = (r: PageResult) => {
    const all = getInt(model, "n_rows");
    error.textContent = r.error;
    if (all === 0) count.textContent = getString(model, "empty");
    else if (r.total === 0) count.textContent = `No rewrite matches these filters (${fmtCount(all)} in the table): Clear filters shows them all.`;
    else {
      const first = (r.page - 1) * shownSize + 1;
      const last = Math.min(r.total, first + r.rows.length - 1);
      count.textContent = `Rows ${fmtCount(first)}–${fmtCount(last)} of ${fmtCount(r.total)} matching (${fmtCount(all)} in the table)`;
    }
    root.dataset.total = String(r.total);
  };

  const markSelected = (row: RowComponent) => {
    const selected = row.getData().row_id === getInt(model, "selected_row", -1);
    row.getElement().classList.toggle("rmx-rt-selected", selected);
    row.getElement().setAttribute("aria-selected", String(selected));
  };
  // picking the row already selected changes no selected_row: bump reselections instead,
  // so the kernel hears it and the Explorer reopens that rewrite
  const select = (id: number) => {
    if (id === getInt(model, "selected_row", -1)) commit(model, { reselections: getInt(model, "reselections") + 1 });
    else commit(model, { selected_row: id });
  };
  const choose = (row: RowComponent) => {
    const id: unknown = row.getData().row_id;
    if (typeof id === "number") select(id);
  };

  let painting = false;
  const table = new Tabulator(gridEl, {
    index: "row_id",
    nestedFieldSeparator: false, // "slice.domain" is one field (rewrite_table/extra_columns.ts)
    layout: "fitData", // explicit widths; the grid keeps its box and scrolls sideways
    height: Math.min(pageSize, 14) * ROW_HEIGHT + 80,
    rowHeight: ROW_HEIGHT,
    renderVertical: "basic",
    columns: columnDefinitions(getArray(model, "columns")),
    pagination: true,
    paginationMode: "remote",
    paginationSize: pageSize,
    paginationSizeSelector: pageSizeChoices(pageSize),
    paginationButtonCount: 5,
    sortMode: "remote",
    filterMode: "remote",
    columnHeaderSortMulti: true,
    headerSortClickElement: "header",
    ajaxURL: "rmx:rewrite-table",
    ajaxRequestFunc: async (_url: string, _config: unknown, params: { page?: number; size?: number; sort?: Array<{ field: string; dir: string }> }) => {
      const asked = performance.now();
      const size = clampPageSize(params.size, pageSize);
      const r = await pager.ask({
        page: Math.max(1, Math.trunc(params.page ?? 1)),
        pageSize: size,
        sort: (params.sort ?? []).map((s) => ({ column: s.field, dir: s.dir === "desc" ? "desc" : "asc" })),
        search: bar.search(),
        filters: bar.filters(),
      });
      root.dataset.replyMs = (performance.now() - asked).toFixed(1); // for bench/widgets_table.py
      shownSize = size;
      showCount(r);
      painting = true;
      const columns = getArray(model, "columns");
      return { last_page: r.lastPage, last_row: r.total, data: r.rows.map((row) => flatRow(row, columns)) };
    },
    placeholder: h("div", { class: "rmx-empty", testid: "rmx-rt-empty" }, "No rows on this page."),
    rowFormatter: (row: RowComponent) => {
      const el = row.getElement();
      el.tabIndex = 0;
      el.dataset.rowId = String(row.getData().row_id);
      markSelected(row);
    },
  });
  // data-loads counts pages painted (the reply's rows are in the DOM): what tests wait for
  table.on("renderComplete", () => {
    if (!painting) return;
    painting = false;
    root.dataset.loads = String(Number(root.dataset.loads) + 1);
  });
  // the header scrolls itself when a header cell is focused or scrolled into view (Tab, a
  // click on a half-visible header): the rows follow, or the columns would not line up
  table.on("tableBuilt", () => {
    const header = gridEl.querySelector<HTMLElement>(".tabulator-header");
    const holder = gridEl.querySelector<HTMLElement>(".tabulator-tableholder");
    header?.addEventListener("scroll", () => {
      if (holder && holder.scrollLeft !== header.scrollLeft) holder.scrollLeft = header.scrollLeft;
    });
  });
  table.on("rowClick", (_e: UIEvent, row: RowComponent) => choose(row));
  gridEl.addEventListener("keydown", (ev: KeyboardEvent) => {
    if (ev.key !== "Enter" && ev.key !== " ") return;
    const rowEl = (ev.target as HTMLElement).closest?.(".tabulator-row") as HTMLElement | null;
    const id = Number(rowEl?.dataset.rowId);
    if (rowEl && Number.isInteger(id)) {
      ev.preventDefault();
      select(id);
    }
  });

  // mid-run the kernel bumps data_version after every landed batch. While one reload's page is
  // on its way, later bumps wait for it and then reload once: otherwise each bump superseded
  // the page before it (Tabulator drops a superseded reply, warning "Data Load Response
  // Blocked" on the console) and the kernel paged rows nobody saw. The pager always settles
  // (a timeout is an error reply), so a reload never waits for ever.
  let reloading = false;
  let reloadAgain = false;
  const reload = () => {
    if (reloading) {
      reloadAgain = true;
      return;
    }
    reloading = true;
    void Promise.resolve(table.setPage(table.getPage() || 1))
      .catch(() => undefined)
      .finally(() => {
        reloading = false;
        if (reloadAgain) {
          reloadAgain = false;
          reload();
        }
      });
  };

  bar.setExtraRanges(extraRanges(getArray(model, "columns")));
  status.textContent = getString(model, "export_status");
  const offs = [
    onChanges(model, ["attribute_options"], () => bar.setAttributes(attributeOptions())),
    // set by the kernel (the Explorer: a clicked bar, the detail view's filters): shown, and
    // page 1 of what it keeps asked for; the reader's own change arrives here unchanged
    onChanges(model, ["linked_filters"], () => {
      if (bar.setLinked(kernelLinked())) table.setPage(1);
    }),
    onChanges(model, ["data_version", "n_rows", "empty"], reload),
    onChanges(model, ["selected_row", "reselections"], () => table.getRows().forEach(markSelected)),
    onChanges(model, ["export_status"], () => (status.textContent = getString(model, "export_status"))),
    onChanges(model, ["columns", "page_size"], () => table.setColumns(columnDefinitions(getArray(model, "columns")))),
    onChanges(model, ["columns"], () => bar.setExtraRanges(extraRanges(getArray(model, "columns")))),
  ];
  return () => {
    for (const off of offs) off();
    pager.dispose();
    table.destroy();
    root.remove();
  };
}

export default { render } satisfies AnyWidget<RewriteTableState>;
