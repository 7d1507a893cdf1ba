/** The page of rewrite rows: one card per row, and the pager Python cuts the pages for. */
import type { Row } from "../lib/contract";
import { h, type Child } from "../lib/dom";
import { clamp, getInt } from "../lib/model";
import { badge, diffColumns, directionLabel, failureReason, outcomeOf, rewardSummary } from "../lib/rows";
import { goToPage, type Model } from "./state";

/** What edit and rescore adds to a card: a button in its head, the open editor (in place of
 * the diff) and what follows the card's own rows (the rescored edit, a re-derived outcome). */
export interface CardEdit {
  button: Child;
  editor: Child;
  after: Child;
}

export function rowCard(row: Partial<Row>, edit?: CardEdit): Child {
  const outcome = outcomeOf(row);
  return h(
    "article",
    {
      class: ["rmx-card", `rmx-card-${outcome.toLowerCase()}`],
      testid: "rmx-row",
      attrs: { "data-row-id": String(row.row_id ?? "") },
    },
    h(
      "div",
      { class: "rmx-card-head" },
      badge(outcome),
      h("span", { class: "rmx-attribute" }, String(row.attribute ?? "")),
      h("span", { class: "rmx-direction" }, directionLabel(row.direction)),
      h("span", { class: "rmx-side" }, `${String(row.side ?? "")} response`),
      edit?.button,
    ),
    edit?.editor ? edit.editor : outcome === "failed" ? failureReason(row) : [diffColumns(row), rewardSummary(row)],
    edit?.after,
  );
}

/** Previous / next page of rows with "rows a–b of n"; nothing when all rows fit on one page. */
export function pager(model: Model): Child {
  const n = getInt(model, "n_rows", 0);
  const size = getInt(model, "page_size", 0);
  if (size <= 0 || n <= size) return null;
  const pages = Math.ceil(n / size);
  const page = clamp(getInt(model, "page", 0), 0, pages - 1);
  const first = page * size + 1;
  const last = Math.min(n, (page + 1) * size);
  return h(
    "div",
    { class: "rmx-pager" },
    h(
      "button",
      {
        class: "rmx-btn",
        testid: "rmx-page-prev",
        attrs: { type: "button", "aria-label": "Previous page of rows" },
        disabled: page <= 0,
        on: { click: () => goToPage(model, getInt(model, "page", 0) - 1) },
      },
      "\u2039 Prev rows",
    ),
    h(
      "span",
      { class: "rmx-page-info", testid: "rmx-page-info" },
      `rows ${first}\u2013${last} of ${n} \u00b7 page ${page + 1} / ${pages}`,
    ),
    h(
      "button",
      {
        class: "rmx-btn",
        testid: "rmx-page-next",
        attrs: { type: "button", "aria-label": "Next page of rows" },
        disabled: page >= pages - 1,
        on: { click: () => goToPage(model, getInt(model, "page", 0) + 1) },
      },
      "Next rows \u203a",
    ),
  );
}
