/**
 * The search box, the filters (attribute, side, outcome, validity, and a min / max range for
 * margin change, the two distances and the length change, and one per objective change of a
 * multi-objective RM: setExtraRanges), Clear filters and Export. Built
 * once and kept (so typing keeps focus); the bar stays on screen whatever the filters match,
 * so a filter that matches nothing always leaves the way back (Clear filters).
 *
 * Attribute and Side are the linked filters (the `linked_filters` trait): a change the reader
 * makes there (or by Clear filters) is reported to `onLinked`, and `setLinked` shows what the
 * kernel set without reporting it back. An attribute the options do not list (the kernel set
 * it before the run's rows arrived) is shown as an option of its own, so the control always
 * says what the table is filtered by.
 */
import type { LinkedFilters, OutcomeFilter, RangeBound, SideFilter, TableFilters, TableFormat, ValidityFilter } from "../lib/contract";
import { h, select } from "../lib/dom";

export const MAX_SEARCH = 200;
export const RANGE_COLUMNS: ReadonlyArray<[string, string]> = [
  ["margin_change", "Margin change"],
  ["syntactic_distance", "Edit distance"],
  ["semantic_distance", "Semantic distance"],
  ["length_change", "Length change"],
];
const SIDES: SideFilter[] = ["all", "chosen", "rejected"];
const OUTCOMES: OutcomeFilter[] = ["all", "CF", "SF", "failed"];
const VALIDITIES: ValidityFilter[] = ["all", "valid", "invalid", "unjudged"];

/** A linked filters value as the bar can show it: an unknown side reads as "all". */
export function readLinked(raw: Partial<LinkedFilters> | null | undefined): LinkedFilters {
  const attribute = typeof raw?.attribute === "string" ? raw.attribute : "";
  const side = SIDES.includes(raw?.side as SideFilter) ? (raw!.side as SideFilter) : "all";
  return { attribute, side };
}

export function noFilters(): TableFilters {
  return { attribute: "", side: "all", outcome: "all", validity: "all", ranges: [] };
}

/** A typed bound: a finite number, or null when empty; undefined when it is not a number. */
export function parseBound(text: string): number | null | undefined {
  const t = text.trim();
  if (t === "") return null;
  const x = Number(t);
  return Number.isFinite(x) ? x : undefined;
}

export interface FilterBar {
  el: HTMLElement;
  filters(): TableFilters;
  search(): string;
  filtered(): boolean;
  setAttributes(options: string[]): void;
  /** The Attribute and Side on screen (the linked filters). */
  linked(): LinkedFilters;
  /** Show linked filters set elsewhere (not reported to onLinked); whether anything changed. */
  setLinked(f: LinkedFilters): boolean;
  /** The min / max inputs of the table's own number columns ([field, label]); a kept field keeps what was typed. */
  setExtraRanges(columns: ReadonlyArray<[string, string]>): void;
  clear(): void;
}

export function filterBar(
  onChange: () => void,
  onExport: (format: TableFormat) => void,
  onLinked: (f: LinkedFilters) => void = () => {},
): FilterBar {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const later = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange();
    }, 250);
  };
  const search = h("input", {
    class: "rmx-rt-search",
    testid: "rmx-rt-search",
    attrs: { type: "search", maxlength: MAX_SEARCH, placeholder: "Search rewrites, ids, attributes…", "aria-label": "Search" },
    on: { input: later },
  });
  const linkedChange = () => {
    onLinked(bar.linked());
    onChange();
  };
  const pick = (name: string, values: string[], label: string, change: () => void = onChange) =>
    select(
      { testid: `rmx-rt-${name}`, attrs: { "aria-label": label }, on: { change } },
      values.map((v) => ({ value: v, label: v === "all" ? `${label}: all` : v })),
      "all",
    );
  const attribute = select({ testid: "rmx-rt-attribute", attrs: { "aria-label": "Attribute" }, on: { change: linkedChange } }, [], "");
  let attributeOptions: string[] = [];
  /** The options, plus `keep` when they do not list it; `keep` selected. */
  const showAttributes = (keep: string) => {
    const listed = keep === "" || attributeOptions.includes(keep) ? attributeOptions : [...attributeOptions, keep];
    attribute.replaceChildren(
      ...[{ value: "", label: "Attribute: all" }, ...listed.map((o) => ({ value: o, label: o }))].map((o) => {
        const opt = h("option", null, o.label);
        opt.value = o.value;
        return opt;
      }),
    );
    attribute.value = keep;
  };
  const side = pick("side", SIDES, "Side", linkedChange);
  const outcome = pick("outcome", OUTCOMES, "Outcome");
  const validity = pick("validity", VALIDITIES, "Validity");
  const makeBound = (column: string, label: string) => {
    const input = (end: "min" | "max") =>
      h("input", {
        class: "rmx-rt-bound",
        testid: `rmx-rt-${end}-${column}`,
        attrs: { type: "text", inputmode: "decimal", size: 6, placeholder: end, "aria-label": `${label} ${end}` },
        on: { input: later },
      });
    const low = input("min");
    const high = input("max");
    return { column, low, high, el: h("span", { class: "rmx-rt-range" }, h("span", { class: "rmx-muted" }, label), low, "–", high) };
  };
  const bounds = RANGE_COLUMNS.map(([column, label]) => makeBound(column, label));
  let extraBounds: Array<ReturnType<typeof makeBound>> = [];
  const extraRanges = h("span", { class: "rmx-rt-extra-ranges", testid: "rmx-rt-extra-ranges" });
  const clearButton = h("button", { class: "rmx-btn", testid: "rmx-rt-clear", attrs: { type: "button" }, on: { click: () => bar.clear() } }, "Clear filters");
  const exportButton = (format: TableFormat) =>
    h(
      "button",
      { class: "rmx-btn", testid: `rmx-rt-export-${format}`, attrs: { type: "button" }, title: `Write the filtered rows to a ${format} file`, on: { click: () => onExport(format) } },
      `Export ${format.toUpperCase()}`,
    );

  const ranges = (): RangeBound[] => {
    const out: RangeBound[] = [];
    for (const b of [...bounds, ...extraBounds]) {
      const low = parseBound(b.low.value);
      const high = parseBound(b.high.value);
      b.low.setAttribute("aria-invalid", String(low === undefined));
      b.high.setAttribute("aria-invalid", String(high === undefined));
      const lo = low ?? null;
      const hi = high ?? null;
      if (lo === null && hi === null) continue;
      if (lo !== null && hi !== null && lo > hi) continue; // an empty range: not sent, marked below
      out.push({ column: b.column, low: lo, high: hi });
    }
    return out;
  };

  const bar: FilterBar = {
    el: h(
      "div",
      { class: "rmx-rt-filters", testid: "rmx-rt-filters", attrs: { role: "search" } },
      h("div", { class: "rmx-rt-filter-row" }, search, attribute, side, outcome, validity),
      h("div", { class: "rmx-rt-filter-row" }, bounds.map((b) => b.el), extraRanges, clearButton, exportButton("csv"), exportButton("parquet")),
    ),
    filters: () => ({
      attribute: attribute.value,
      side: side.value as SideFilter,
      outcome: outcome.value as OutcomeFilter,
      validity: validity.value as ValidityFilter,
      ranges: ranges(),
    }),
    search: () => search.value.trim().slice(0, MAX_SEARCH),
    filtered: () => JSON.stringify(bar.filters()) !== JSON.stringify(noFilters()) || bar.search() !== "",
    setAttributes(options: string[]) {
      attributeOptions = [...options];
      showAttributes(attribute.value);
    },
    linked: () => ({ attribute: attribute.value, side: side.value as SideFilter }),
    setLinked(f: LinkedFilters) {
      const changed = f.attribute !== attribute.value || f.side !== side.value;
      showAttributes(f.attribute);
      side.value = f.side;
      return changed;
    },
    setExtraRanges(columns: ReadonlyArray<[string, string]>) {
      const old = new Map(extraBounds.map((b) => [b.column, b]));
      extraBounds = columns.map(([column, label]) => old.get(column) ?? makeBound(column, label));
      extraRanges.replaceChildren(...extraBounds.map((b) => b.el));
    },
    clear() {
      const linked = JSON.stringify(bar.linked());
      search.value = "";
      showAttributes("");
      side.value = outcome.value = validity.value = "all";
      for (const b of [...bounds, ...extraBounds]) b.low.value = b.high.value = "";
      if (JSON.stringify(bar.linked()) !== linked) onLinked(bar.linked());
      onChange();
    },
  };
  return bar;
}
