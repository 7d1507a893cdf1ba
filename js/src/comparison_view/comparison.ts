/** The comparison itself: its prompt turns and the two responses with their rewards. */
import type { ShownComparison } from "../lib/contract";
import { h, type Child } from "../lib/dom";
import { fmtNum, fmtSigned, isNum } from "../lib/format";
import { pill } from "../lib/rows";

export function prompt(c: Partial<ShownComparison>): Child {
  const turns = Array.isArray(c.prompt_turns) ? c.prompt_turns : [];
  return h(
    "section",
    { class: "rmx-prompt", testid: "rmx-prompt" },
    h("div", { class: "rmx-section-label" }, "Prompt"),
    turns.length === 0
      ? h("div", { class: "rmx-muted" }, "(empty prompt)")
      : turns.map((t) =>
          h(
            "div",
            { class: ["rmx-turn", `rmx-turn-${String(t?.role ?? "").replace(/[^a-z0-9_-]/gi, "")}`] },
            h("div", { class: "rmx-turn-role" }, String(t?.role ?? "")),
            h("div", { class: "rmx-text" }, String(t?.content ?? "")),
          ),
        ),
  );
}

export function response(c: Partial<ShownComparison>, which: "a" | "b"): Child {
  const reward = which === "a" ? c.reward_a : c.reward_b;
  const textValue = which === "a" ? c.response_a : c.response_b;
  const preferred = !c.tie && c.preferred === which;
  return h(
    "div",
    { class: ["rmx-col", "rmx-response", preferred && "rmx-preferred"], testid: `rmx-response-${which}` },
    h(
      "div",
      { class: "rmx-col-label" },
      `Response ${which.toUpperCase()}`,
      h("span", { class: "rmx-metric" }, `reward ${fmtNum(reward)}`),
      preferred ? pill("preferred", "preferred", "The reward model prefers this response") : null,
      preferred && isNum(c.margin) ? h("span", { class: "rmx-metric" }, `margin ${fmtSigned(c.margin)}`) : null,
      c.tie && which === "a" ? pill("tie", "tie", "The rewards are equal: no preference") : null,
    ),
    h("div", { class: "rmx-text" }, String(textValue ?? "")),
  );
}

/** The input's human label next to the RM's preference: "human preferred: A", "… B" or "no
 * human label" (anything else the model sends counts as no label; text only, never markup). */
export function humanLabel(c: Partial<ShownComparison>): Child {
  const label = c.human_preferred;
  const text = label === "a" || label === "b" ? `human preferred: ${label.toUpperCase()}` : "no human label";
  return h("div", { class: "rmx-muted rmx-human-label", testid: "rmx-human-label" }, text);
}
