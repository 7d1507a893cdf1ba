/** What the ComparisonView reads from its model, and the intents it sends back to Python. */
import type { ComparisonViewState, Filters, ShownComparison } from "../lib/contract";
import { isNum } from "../lib/format";
import { clamp, commit, getInt, getObject, type AnyModel } from "../lib/model";

export type Model = AnyModel<ComparisonViewState>;

export const DEFAULT_FILTERS: Filters = { attribute: "", side: "all", outcome: "all" };

export function shown(model: Model): Partial<ShownComparison> | null {
  return getObject(model, "comparison");
}

/** How many comparisons the filters leave (Python's count, sent with the comparison). */
export function total(model: Model): number {
  const c = shown(model);
  return c && isNum(c.total) ? Math.max(0, Math.trunc(c.total)) : 0;
}

export function currentIndex(model: Model): number {
  const c = shown(model);
  return getInt(model, "index", c && isNum(c.index) ? c.index : 0);
}

export function filters(model: Model): Filters {
  return { ...DEFAULT_FILTERS, ...(getObject(model, "filters") ?? {}) };
}

/** Whether any filter is set (the filter bar then offers Clear filters). */
export function isFiltered(model: Model): boolean {
  const f = filters(model);
  return f.attribute !== DEFAULT_FILTERS.attribute || f.side !== DEFAULT_FILTERS.side || f.outcome !== DEFAULT_FILTERS.outcome;
}

export function pageCount(model: Model): number {
  const size = getInt(model, "page_size", 0);
  const n = getInt(model, "n_rows", 0);
  return size > 0 ? Math.max(1, Math.ceil(n / size)) : 1;
}

/** Ask Python for comparison `i` (clamped; nothing is sent when it is already shown). */
export function goTo(model: Model, i: number): void {
  const n = total(model);
  if (n <= 0) return;
  const next = clamp(i, 0, n - 1);
  if (next === currentIndex(model)) return;
  commit(model, { index: next });
}

export function setFilter<K extends keyof Filters>(model: Model, key: K, value: Filters[K]): void {
  commit(model, { filters: { ...filters(model), [key]: value } });
}

/** Ask Python for page `p` of the current comparison's rows (clamped). */
export function goToPage(model: Model, p: number): void {
  const next = clamp(p, 0, pageCount(model) - 1);
  if (next === getInt(model, "page", 0)) return;
  commit(model, { page: next });
}
