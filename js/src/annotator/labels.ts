/**
 * Who preferred what, in words: "chosen" / "rejected" are the reward model's preference, and
 * the data's human label can say the opposite (a wrong answer the human rejected is the RM's
 * "chosen"). So every example says which response the RM chose, which one the human chose,
 * and whether they agree; and every number is labelled (reward of what, margin of what).
 */
import type { Example, Preferred, Row } from "../lib/contract";
import { h, type Child } from "../lib/dom";
import { DASH, fmtNum, fmtSigned, isNum } from "../lib/format";

type Ex = Partial<Example>;

function label(x: unknown): Preferred | null {
  return x === "a" || x === "b" ? x : null;
}

const letter = (p: Preferred | null) => (p ? p.toUpperCase() : "?");

/** The response letter the RM gave each of its sides ("chosen" → A or B). */
export function sideLetter(ex: Ex, side: "chosen" | "rejected"): Preferred | null {
  const rm = label(ex.rm_preferred);
  if (!rm) return null;
  return side === "chosen" ? rm : rm === "a" ? "b" : "a";
}

/** "agree" / "disagree" / "unknown" (either label missing), from the two labels. */
export function agreement(ex: Ex): "agree" | "disagree" | "unknown" {
  const rm = label(ex.rm_preferred);
  const human = label(ex.human_preferred);
  if (!rm || !human) return "unknown";
  return rm === human ? "agree" : "disagree";
}

const AGREEMENT_TEXT = {
  agree: "RM and human agree",
  disagree: "RM and human disagree",
  unknown: "agreement not known",
} as const;
const AGREEMENT_TITLE = {
  agree: "The RM prefers the response the human chose",
  disagree: "The RM prefers the response the human rejected",
  unknown: "Needs both an RM preference and a human label",
} as const;

/** The example's preference line: the RM's choice, the human label and the agreement. */
export function preferenceLine(ex: Ex): Child {
  const rm = label(ex.rm_preferred);
  const human = label(ex.human_preferred);
  const agree = agreement(ex);
  return h(
    "div",
    { class: "rmx-pref-line", testid: "rmx-ann-labels" },
    h(
      "span",
      { class: "rmx-pref", testid: "rmx-ann-rm-label" },
      rm ? `RM prefers response ${letter(rm)}` : "RM: no preference (tie)",
      isNum(ex.margin) ? ` (margin ${fmtSigned(ex.margin)})` : "",
    ),
    h(
      "span",
      { class: "rmx-pref", testid: "rmx-ann-human-label" },
      human ? `Human label: response ${letter(human)}` : "No human label",
    ),
    h(
      "span",
      { class: ["rmx-pill", `rmx-pill-${agree}`], testid: "rmx-ann-agreement", title: AGREEMENT_TITLE[agree] },
      AGREEMENT_TEXT[agree],
    ),
  );
}

/** Column heading of one original: "Chosen by the RM · response A · reward 1.250 · human: preferred". */
export function responseHeading(ex: Ex, side: "chosen" | "rejected"): Child {
  const which = sideLetter(ex, side);
  const human = label(ex.human_preferred);
  const reward = side === "chosen" ? ex.reward_chosen : ex.reward_rejected;
  const humanSays = !human || !which ? null : human === which ? "the human preferred it" : "the human rejected it";
  return h(
    "div",
    { class: "rmx-col-label", testid: `rmx-ann-${side}-label` },
    side === "chosen" ? "Chosen by the RM" : "Rejected by the RM",
    which ? ` \u00b7 response ${letter(which)}` : "",
    ` \u00b7 reward ${fmtNum(reward)}`,
    humanSays
      ? h("span", { class: ["rmx-pill", human === which ? "rmx-pill-agree" : "rmx-pill-disagree"] }, humanSays)
      : null,
  );
}

/** What the example's score is: Kendall's tau, of what against what. */
export function scoreLabel(ex: Ex): Child {
  if (!isNum(ex.score)) return null;
  const what =
    ex.kind === "contrasting"
      ? "\u03c4 between the two RMs' attribute rankings (low: they differ)"
      : "\u03c4 with the RM's global attribute ranking (high: typical)";
  return h("span", { class: "rmx-metric", testid: "rmx-ann-score" }, `${what}: ${fmtNum(ex.score)}`);
}

/**
 * A rewrite's numbers, each with its name: the RM's reward of the original, of the rewrite
 * (and the change), of the other response, the margin before → after, and the outcome.
 */
export function rewriteNumbers(r: Partial<Row>): Child {
  const delta =
    isNum(r.reward_original) && isNum(r.reward_perturbed) ? r.reward_perturbed - r.reward_original : null;
  const item = (name: string, value: Child, title: string) =>
    h("span", { class: "rmx-metric", title }, h("span", { class: "rmx-metric-name" }, `${name} `), value);
  return h(
    "div",
    { class: "rmx-metrics", testid: "rmx-ann-numbers" },
    item("reward of original", fmtNum(r.reward_original), "The RM's reward of the response before the rewrite"),
    item(
      "reward of rewrite",
      [fmtNum(r.reward_perturbed), delta === null ? "" : ` (${fmtSigned(delta)})`],
      "The RM's reward of the rewrite (its change from the original)",
    ),
    item("reward of other response", fmtNum(r.reward_other), "The RM's reward of the other response of the pair"),
    item(
      "margin",
      [fmtSigned(r.margin_before), " \u2192 ", isNum(r.margin_after) ? fmtSigned(r.margin_after) : DASH],
      "The RM's preference margin before \u2192 after the rewrite (negative: the preference flipped)",
    ),
  );
}
