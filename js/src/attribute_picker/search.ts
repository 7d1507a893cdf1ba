/**
 * The picker's search box: with dozens of attributes (60 in a large study) a row of chips is
 * too long to scan, so typing filters the chips by name or definition. The query is the view's
 * own state (never sent to Python); the selection is untouched by filtering.
 */
import type { PickerAttribute } from "../lib/contract";
import { h, type Child } from "../lib/dom";

/** Attributes whose name or definition contains every word of `query` (case-insensitive). */
export function matching(attrs: PickerAttribute[], query: string): PickerAttribute[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return attrs;
  return attrs.filter((a) => {
    const hay = `${a.name} ${a.definition}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

export function searchBox(query: string, shown: number, total: number, onQuery: (q: string) => void): Child {
  return h(
    "div",
    { class: "rmx-attr-search" },
    h("input", {
      class: "rmx-input",
      testid: "rmx-attr-search",
      value: query,
      attrs: { type: "text", role: "searchbox", placeholder: "Search attributes", "aria-label": "Search attributes", autocomplete: "off" },
      on: { input: (e) => onQuery((e.target as HTMLInputElement).value) },
    }),
    query.trim()
      ? h("span", { class: "rmx-muted", testid: "rmx-attr-search-count" }, `${shown} of ${total} shown`)
      : null,
  );
}
