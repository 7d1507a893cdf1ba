/** One example as read-only context: prompt, both responses and a compact list of rewrites. */
import type { Example, Row } from "../lib/contract";
import { h, type Child } from "../lib/dom";
import { fmtNum, isNum } from "../lib/format";
import { badge, directionLabel, outcomeOf, perturbedWithInsertions, pill, textBlock } from "../lib/rows";

function compactRow(r: Partial<Row>): Child {
  const outcome = outcomeOf(r);
  return h(
    "li",
    { class: "rmx-compact-row", testid: "rmx-ann-row" },
    h(
      "div",
      { class: "rmx-card-head" },
      badge(outcome),
      h("span", { class: "rmx-attribute" }, String(r.attribute ?? "")),
      h("span", { class: "rmx-direction" }, directionLabel(r.direction)),
      h("span", { class: "rmx-side" }, `${String(r.side ?? "")} response`),
    ),
    outcome === "failed"
      ? h("div", { class: "rmx-failure" }, "Failed: ", r.failure_reason ? String(r.failure_reason) : "no reason given")
      : perturbedWithInsertions(r),
  );
}

export function exampleView(ex: Partial<Example>): Child {
  const rows = Array.isArray(ex.rows) ? ex.rows.filter((r) => r && typeof r === "object") : [];
  const kind = ex.kind === "contrasting" ? "contrasting" : "representative";
  return h(
    "section",
    { class: "rmx-example", testid: "rmx-ann-example" },
    h(
      "div",
      { class: "rmx-example-head" },
      h("span", null, "Comparison ", h("code", { class: "rmx-id" }, String(ex.comparison_id ?? ""))),
      pill(kind, kind),
      isNum(ex.score) ? h("span", { class: "rmx-metric" }, `score ${fmtNum(ex.score)}`) : null,
    ),
    h("div", { class: "rmx-section-label" }, "Prompt"),
    textBlock(ex.prompt, "rmx-ann-prompt"),
    h(
      "div",
      { class: "rmx-cols" },
      h("div", { class: "rmx-col" }, h("div", { class: "rmx-col-label" }, "Chosen"), textBlock(ex.response_chosen, "rmx-ann-chosen")),
      h("div", { class: "rmx-col" }, h("div", { class: "rmx-col-label" }, "Rejected"), textBlock(ex.response_rejected, "rmx-ann-rejected")),
    ),
    h("div", { class: "rmx-section-label" }, `Rewrites (${rows.length})`),
    rows.length === 0
      ? h("div", { class: "rmx-muted" }, "No rewrites.")
      : h("ul", { class: "rmx-compact-rows" }, rows.map(compactRow)),
  );
}
