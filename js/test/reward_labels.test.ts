import { describe, expect, it } from "vitest";
import { rewardSummary } from "../src/lib/rows";
import { row } from "./fixtures";

// Issue 14: the comparison view read "reward 0.100 → 0.200 · other 0.861 · margin +0.3 → -0.1",
// numbers a reader had to guess from a tooltip. Every number now says what it is.
describe("rewardSummary", () => {
  it("labels each reward and both margins in visible text", () => {
    const el = rewardSummary(
      row({ reward_original: 1, reward_perturbed: 0.5, reward_other: 0.861, margin_before: 0.139, margin_after: -0.361 }),
    ) as HTMLElement;
    const parts = [...el.querySelectorAll(".rmx-metric")].map((s) => s.textContent);
    expect(parts).toEqual([
      "reward of original 1.000 \u2192 rewrite 0.500 (\u22120.500)",
      "reward of other response 0.861",
      "margin before +0.139 \u2192 after \u22120.361",
    ]);
  });
});
