/**
 * A table's own columns: the input's slices (`slice.domain`: text) and a multi-objective RM's
 * changes (`objective.<name>.delta`: numbers) travel in each row's `extra_text` /
 * `extra_numbers`, keyed by their field in the `columns` trait, and the grid reads them beside
 * the fixed fields (with Tabulator's nestedFieldSeparator off, so a dotted field is one key).
 * Only the fields `columns` lists are copied, each with its kind's type (text, or a finite
 * number), and never over a fixed field: whatever arrives cannot add any other key. Each
 * objective change (a number column named `objective.…`) gets a min / max in the filter bar.
 */
import type { TableColumn, TableRow } from "../lib/contract";

const own = (o: unknown, key: string): boolean => !!o && typeof o === "object" && Object.prototype.hasOwnProperty.call(o, key);

/** One extra value as the grid shows it: text or a finite number for its kind, else null. */
function extraValue(row: Partial<TableRow>, column: Partial<TableColumn>): string | number | null {
  const field = String(column.field);
  if (column.kind === "number") {
    const v: unknown = own(row.extra_numbers, field) ? (row.extra_numbers as Record<string, unknown>)[field] : null;
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  }
  const v: unknown = own(row.extra_text, field) ? (row.extra_text as Record<string, unknown>)[field] : null;
  return typeof v === "string" ? v : null;
}

/** The fields of `columns` that are not fixed fields of a row: the table's own columns. */
export function extraFields(columns: Array<Partial<TableColumn>>, row: Partial<TableRow>): Array<Partial<TableColumn>> {
  return columns.filter((c) => typeof c.field === "string" && !own(row, c.field) && c.field !== "extra_text" && c.field !== "extra_numbers");
}

/** `row` with each of the table's own columns as a field of its own (a copy; `row` is kept). */
export function flatRow(row: TableRow, columns: Array<Partial<TableColumn>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...row };
  for (const c of extraFields(columns, row)) {
    // defineProperty, not assignment: a field named "__proto__" stays a plain key
    Object.defineProperty(out, String(c.field), { value: extraValue(row, c), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The [field, label] of each objective-change column: the filter bar's extra ranges. */
export function extraRanges(columns: Array<Partial<TableColumn>>): Array<[string, string]> {
  return columns
    .filter((c) => c.kind === "number" && typeof c.field === "string" && c.field.startsWith("objective.") && typeof c.title === "string")
    .map((c) => [String(c.field), String(c.title)]);
}
