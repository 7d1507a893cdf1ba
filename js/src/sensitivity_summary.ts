/**
 * SensitivitySummary: the per-attribute table under the sensitivity chart. Python makes every
 * cell (core.summary_table: n with its "too few" mark, failed rate with counts, CF, SF, PFR [interval]
 * or "not measured", null PFR, excess, Holm p, significance, length-controlled PFR, the valid-rewrite rate
 * "18/20 (0.90)" when a rewrite judge ran; the headers say which cells came); this view only lays them out,
 * as text (lib/dom's h() puts strings in text nodes, never markup). The row's reading becomes
 * a class, so too-few rows are drawn light and not-measured rows grey. Split by a slice
 * (`split_by`, the Explorer's "Split by"), each row starts with its slice's value; the rows
 * missing the field read MISSING.
 */
import type { AnyWidget } from "@anywidget/types";
import type { SensitivitySummaryState, SummaryRow } from "./lib/contract";
import { announceWidthChanges } from "./lib/container_width";
import { h, rebuild, type Child } from "./lib/dom";
import { getArray, getString, makeRoot, onChanges, type Loose, type WidgetProps } from "./lib/model";

export const MISSING = "(missing)";

const READING_CLASS: Record<string, string> = {
  "too few": "rmx-too-few",
  "not measured": "rmx-not-measured",
};

/** The cells of one row as strings; anything else that arrives is shown as its text. */
function cells(row: Loose<SummaryRow>): string[] {
  const raw: unknown = row.cells;
  return Array.isArray(raw) ? raw.map((c) => (c === null || c === undefined ? "" : String(c))) : [];
}

function line(row: Loose<SummaryRow>, split: boolean): Child {
  const reading = typeof row.reading === "string" ? row.reading : "";
  const value = typeof row.split_value === "string" ? row.split_value : MISSING;
  return h(
    "tr",
    { class: ["rmx-summary-row", READING_CLASS[reading]], testid: "rmx-summary-row", attrs: { "data-reading": reading } },
    split ? h("th", { class: "rmx-summary-slice", attrs: { scope: "row" } }, value) : null,
    h("th", { attrs: { scope: "row" } }, String(row.attribute ?? "")),
    cells(row).map((c) => h("td", null, c)),
  );
}

function build(model: WidgetProps<SensitivitySummaryState>["model"]): Child {
  const rows = getArray(model, "rows");
  const headers = getArray(model, "headers").map((x) => String(x ?? ""));
  const legend = getString(model, "legend");
  const split = getString(model, "split_by");
  if (rows.length === 0) {
    return h("div", { class: "rmx-empty", testid: "rmx-summary-empty" }, getString(model, "empty"));
  }
  return [
    h(
      "table",
      { class: "rmx-summary-table", testid: "rmx-summary-table" },
      h("thead", null, h("tr", null, (split ? [split, ...headers] : headers).map((t) => h("th", { attrs: { scope: "col" } }, t)))),
      h("tbody", null, rows.map((r) => line(r, split !== ""))),
    ),
    h("div", { class: "rmx-muted rmx-summary-legend", testid: "rmx-summary-legend" }, legend),
  ];
}

function render({ model, el }: WidgetProps<SensitivitySummaryState>): () => void {
  const root = makeRoot(el, "rmx-sensitivity-summary");
  const draw = () => rebuild(root, () => build(model));
  const off = onChanges(model, ["rows", "headers", "legend", "empty", "split_by"], draw);
  draw();
  // the chart above shares this column: when the column gets its width, Vega must hear it
  const stopWatching = announceWidthChanges(el);
  return () => {
    stopWatching();
    off();
    root.remove();
  };
}

export default { render } satisfies AnyWidget<SensitivitySummaryState>;
