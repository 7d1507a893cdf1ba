/** Shared pieces for perturbation rows (ComparisonView cards and the Annotator's compact list). */
import { h, type Child } from "./dom";
import { wordDiff, type Segment } from "./diff";
import { DASH, fmtNum, fmtSigned, isNum } from "./format";
import type { Outcome, Row } from "./contract";

const OUTCOME_CLASS: Record<Outcome, string> = { CF: "rmx-cf", SF: "rmx-sf", failed: "rmx-failed" };
const OUTCOME_TITLE: Record<Outcome, string> = {
  CF: "Counterfactual: the rewrite flipped the reward model's preference",
  SF: "Semifactual: the rewrite did not flip the preference",
  failed: "The rewrite could not be produced or scored",
};

export function outcomeOf(row: Partial<Row>): Outcome {
  return row.outcome === "CF" || row.outcome === "SF" ? row.outcome : "failed";
}

export function badge(outcome: Outcome): HTMLSpanElement {
  return h(
    "span",
    { class: ["rmx-badge", OUTCOME_CLASS[outcome]], testid: "rmx-badge", title: OUTCOME_TITLE[outcome] },
    outcome,
  );
}

/** Plain tag-like badge (preferred / tie / kind); `variant` picks the colour class. */
export function pill(label: string, variant: string, title?: string): HTMLSpanElement {
  return h("span", { class: ["rmx-pill", `rmx-pill-${variant}`], title }, label);
}

export function directionLabel(direction: unknown): string {
  return direction === "better" ? "\u2191 better" : direction === "worse" ? "\u2193 worse" : String(direction ?? "");
}

/** Segments rendered as text in <span>/<ins>/<del>; only createTextNode is used. */
export function segmentsToNodes(segments: Segment[]): Node[] {
  return segments.map((s) =>
    s.kind === "insert"
      ? h("ins", { class: "rmx-ins" }, s.text)
      : s.kind === "delete"
        ? h("del", { class: "rmx-del" }, s.text)
        : document.createTextNode(s.text),
  );
}

export function textBlock(value: unknown, testid?: string, extraClass?: string): HTMLDivElement {
  return h("div", { class: ["rmx-text", extraClass], testid }, value === null || value === undefined ? "" : String(value));
}

/** Original and perturbed text side by side, with the word diff marked. */
export function diffColumns(row: Partial<Row>): HTMLDivElement {
  const d = wordDiff(row.original ?? "", row.perturbed ?? "");
  return h(
    "div",
    { class: "rmx-cols" },
    h(
      "div",
      { class: "rmx-col" },
      h("div", { class: "rmx-col-label" }, "Original"),
      h("div", { class: "rmx-text", testid: "rmx-row-original" }, segmentsToNodes(d.original)),
    ),
    h(
      "div",
      { class: "rmx-col" },
      h("div", { class: "rmx-col-label" }, "Perturbed"),
      h("div", { class: "rmx-text", testid: "rmx-row-perturbed" }, segmentsToNodes(d.perturbed)),
    ),
  );
}

/** Perturbed text only, with insertions marked (compact list). */
export function perturbedWithInsertions(row: Partial<Row>): HTMLDivElement {
  const d = wordDiff(row.original ?? "", row.perturbed ?? "");
  return h("div", { class: "rmx-text rmx-text-compact", testid: "rmx-row-perturbed" }, segmentsToNodes(d.perturbed));
}

export function failureReason(row: Partial<Row>): HTMLDivElement {
  return h(
    "div",
    { class: "rmx-failure", testid: "rmx-failure-reason" },
    h("span", { class: "rmx-failure-label" }, "Failed: "),
    row.failure_reason ? String(row.failure_reason) : "no reason given",
  );
}

export function rewardSummary(row: Partial<Row>): Child {
  const delta =
    isNum(row.reward_original) && isNum(row.reward_perturbed) ? row.reward_perturbed - row.reward_original : null;
  return h(
    "div",
    { class: "rmx-metrics" },
    h(
      "span",
      { class: "rmx-metric", title: "Reward of the original response \u2192 reward of the rewrite" },
      "reward of original ",
      fmtNum(row.reward_original),
      " \u2192 rewrite ",
      fmtNum(row.reward_perturbed),
      delta === null ? "" : ` (${fmtSigned(delta)})`,
    ),
    h(
      "span",
      { class: "rmx-metric", title: "Reward of the other response of the pair" },
      "reward of other response ",
      fmtNum(row.reward_other),
    ),
    h(
      "span",
      { class: "rmx-metric", title: "Preference margin before \u2192 after the rewrite" },
      "margin before ",
      fmtSigned(row.margin_before),
      " \u2192 after ",
      isNum(row.margin_after) ? fmtSigned(row.margin_after) : DASH,
    ),
  );
}
