/** The comparison itself: its prompt turns and the two responses with their rewards. */
import type { ShownComparison } from "../lib/contract";
import { h, type Child } from "../lib/dom";
import { fmtNum, fmtSigned, isNum } from "../lib/format";
import { pill } from "../lib/rows";

/** Prompts longer than this many turns start collapsed to their last KEPT_TURNS turns: a
 * 21-turn conversation otherwise pushes the responses 2,000+ px down the page. */
export const COLLAPSE_ABOVE = 6;
export const KEPT_TURNS = 4;

/** Which comparison's prompt the reader expanded (kept across re-renders; another comparison
 * starts collapsed again). */
export interface PromptView {
  expandedId: string | null;
  draw(): void;
}

function turn(t: { role?: unknown; content?: unknown } | null | undefined): Child {
  return h(
    "div",
    { class: ["rmx-turn", `rmx-turn-${String(t?.role ?? "").replace(/[^a-z0-9_-]/gi, "")}`] },
    h("div", { class: "rmx-turn-role" }, String(t?.role ?? "")),
    h("div", { class: "rmx-text" }, String(t?.content ?? "")),
  );
}

export function prompt(c: Partial<ShownComparison>, view?: PromptView): Child {
  const turns = Array.isArray(c.prompt_turns) ? c.prompt_turns : [];
  const id = String(c.id ?? "");
  const long = turns.length > COLLAPSE_ABOVE;
  const expanded = long && !!view && view.expandedId === id;
  const collapsed = long && !expanded;
  const hidden = collapsed ? turns.length - KEPT_TURNS : 0;
  const toggle =
    long && view
      ? h(
          "button",
          {
            class: "rmx-btn rmx-prompt-toggle",
            testid: "rmx-prompt-toggle",
            attrs: { type: "button", "aria-expanded": expanded ? "true" : "false" },
            on: {
              click: () => {
                view.expandedId = expanded ? null : id;
                view.draw();
              },
            },
          },
          expanded ? `Show only the last ${KEPT_TURNS} turns` : `Show all ${turns.length} turns`,
        )
      : null;
  return h(
    "section",
    { class: ["rmx-prompt", collapsed && "rmx-prompt-collapsed"], testid: "rmx-prompt" },
    h(
      "div",
      { class: "rmx-prompt-head" },
      h("span", { class: "rmx-section-label" }, "Prompt"),
      long ? h("span", { class: "rmx-muted", testid: "rmx-prompt-turns" }, `${turns.length} turns`) : null,
      toggle,
    ),
    turns.length === 0
      ? h("div", { class: "rmx-muted" }, "(empty prompt)")
      : [
          hidden > 0
            ? h("div", { class: "rmx-muted rmx-prompt-hidden", testid: "rmx-prompt-hidden" }, `\u2026 ${hidden} earlier turns hidden`)
            : null,
          turns.slice(hidden).map(turn),
        ],
  );
}

/** What edit and rescore adds to a response column (see rows.ts CardEdit). */
export interface ResponseEdit {
  button: Child;
  editor: Child;
  after: Child;
}

export function response(c: Partial<ShownComparison>, which: "a" | "b", edit?: ResponseEdit): Child {
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
      edit?.button,
    ),
    edit?.editor ? edit.editor : h("div", { class: "rmx-text" }, String(textValue ?? "")),
    edit?.after,
  );
}

/** The input's human label next to the RM's preference: "human preferred: A", "… B" or "no
 * human label" (anything else the model sends counts as no label; text only, never markup). */
export function humanLabel(c: Partial<ShownComparison>): Child {
  const label = c.human_preferred;
  const text = label === "a" || label === "b" ? `human preferred: ${label.toUpperCase()}` : "no human label";
  return h("div", { class: "rmx-muted rmx-human-label", testid: "rmx-human-label" }, text);
}
