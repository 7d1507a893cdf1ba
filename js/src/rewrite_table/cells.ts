/**
 * What a cell shows. Cell text is untrusted (model rewrites, failure reasons, ids): every
 * formatter returns an element whose textContent is the value (Tabulator appends a returned
 * element; a returned string would be parsed as markup), and the full value goes to the title
 * attribute, which is never parsed as markup.
 */
import type { CellComponent } from "tabulator-tables";
import { DASH, fmtNum, fmtSigned } from "../lib/format";
import type { ColumnKind } from "../lib/contract";

/** The text of one value of a column of `kind`. */
export function cellText(value: unknown, kind: ColumnKind | string, field = ""): string {
  if (value === null || value === undefined || value === "") return kind === "text" ? "" : DASH;
  if (kind === "number") {
    if (typeof value !== "number" || !Number.isFinite(value)) return DASH;
    if (field === "length_change") return fmtSigned(value, 0);
    return field.startsWith("margin_") ? fmtSigned(value) : fmtNum(value); // margins: signed, as the ComparisonView shows them
  }
  if (kind === "boolean") return value === true ? "yes" : value === false ? "no" : DASH;
  return String(value);
}

/** A Tabulator formatter for a column: the value as text, the whole value as the cell's tooltip. */
function span(text: string): HTMLElement {
  const el = document.createElement("span");
  el.textContent = text;
  return el;
}

export function textFormatter(kind: ColumnKind | string, field: string): (cell: CellComponent) => HTMLElement {
  return (cell: CellComponent) => {
    const value: unknown = cell.getValue();
    const shown = cellText(value, kind, field);
    if (kind === "text" && shown) cell.getElement().title = shown;
    if (field === "outcome") cell.getElement().setAttribute("data-outcome", shown);
    return span(shown);
  };
}

/** A header title as text (Tabulator parses a returned string as markup). */
export function titleNode(title: string): () => HTMLElement {
  return () => span(title);
}
