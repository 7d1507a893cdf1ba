/**
 * One example as read-only context. The head (id, kind, score, who preferred what) goes above
 * the annotation form; the body (prompt, both responses, every rewrite with its numbers and
 * diff) below it, so the tags and the note stay at the top however many rewrites there are.
 */
import type { Example, Row } from "../lib/contract";
import { h, type Child } from "../lib/dom";
import { badge, directionLabel, outcomeOf, pill, textBlock } from "../lib/rows";
import { rewriteDiff } from "./diff_view";
import { preferenceLine, responseHeading, rewriteNumbers, scoreLabel, sideLetter } from "./labels";

type Ex = Partial<Example>;

const OUTCOME_TEXT = { CF: "preference flipped", SF: "preference held", failed: "rewrite failed" } as const;

function compactRow(ex: Ex, r: Partial<Row>): Child {
  const outcome = outcomeOf(r);
  const side = r.side === "chosen" || r.side === "rejected" ? r.side : null;
  const which = side ? sideLetter(ex, side) : null;
  return h(
    "li",
    { class: "rmx-compact-row", testid: "rmx-ann-row" },
    h(
      "div",
      { class: "rmx-card-head" },
      badge(outcome),
      h("span", { class: "rmx-outcome-text", testid: "rmx-ann-outcome" }, OUTCOME_TEXT[outcome]),
      h("span", { class: "rmx-attribute" }, String(r.attribute ?? "")),
      h("span", { class: "rmx-direction" }, directionLabel(r.direction)),
      h(
        "span",
        { class: "rmx-side" },
        side ? `RM-${side} response${which ? ` (${which.toUpperCase()})` : ""}` : `${String(r.side ?? "")} response`,
      ),
    ),
    outcome === "failed"
      ? h("div", { class: "rmx-failure" }, "Failed: ", r.failure_reason ? String(r.failure_reason) : "no reason given")
      : [rewriteNumbers(r), rewriteDiff(r.original, r.perturbed)],
  );
}

export function exampleHead(ex: Ex): Child {
  const kind = ex.kind === "contrasting" ? "contrasting" : "representative";
  return h(
    "div",
    { class: "rmx-example-top", testid: "rmx-ann-head" },
    h(
      "div",
      { class: "rmx-example-head" },
      h("span", null, "Comparison ", h("code", { class: "rmx-id" }, String(ex.comparison_id ?? ""))),
      pill(kind, kind),
      scoreLabel(ex),
    ),
    preferenceLine(ex),
  );
}

export function exampleBody(ex: Ex): Child {
  const rows = Array.isArray(ex.rows) ? ex.rows.filter((r) => r && typeof r === "object") : [];
  return h(
    "div",
    { class: "rmx-example-body", testid: "rmx-ann-body" },
    h("div", { class: "rmx-section-label" }, "Prompt"),
    textBlock(ex.prompt, "rmx-ann-prompt"),
    h(
      "div",
      { class: "rmx-cols" },
      h("div", { class: "rmx-col" }, responseHeading(ex, "chosen"), textBlock(ex.response_chosen, "rmx-ann-chosen")),
      h("div", { class: "rmx-col" }, responseHeading(ex, "rejected"), textBlock(ex.response_rejected, "rmx-ann-rejected")),
    ),
    h("div", { class: "rmx-section-label" }, `Rewrites (${rows.length})`),
    rows.length === 0
      ? h("div", { class: "rmx-muted" }, "No rewrites.")
      : h("ul", { class: "rmx-compact-rows" }, rows.map((r) => compactRow(ex, r))),
  );
}
