import { afterEach, describe, expect, it } from "vitest";
import widget from "../src/comparison_view";
import { COLLAPSE_ABOVE, KEPT_TURNS } from "../src/comparison_view/comparison";
import { click, mount } from "./fake_model";
import { comparison, cvState } from "./fixtures";

let current: ReturnType<typeof mount> | null = null;
const setup = (over: Record<string, unknown> = {}) => (current = mount(widget, cvState(over)));
afterEach(() => {
  current?.cleanup();
  current = null;
});

const turns = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `turn ${i + 1}` }));
const shownTurns = (q: (id: string) => HTMLElement | null) =>
  Array.from(q("rmx-prompt")!.querySelectorAll(".rmx-turn .rmx-text")).map((t) => t.textContent);

describe("ComparisonView long prompts", () => {
  it("a 21-turn prompt shows its last turns and a 'show all 21 turns' toggle", () => {
    const { q } = setup({ comparison: comparison({ prompt_turns: turns(21) }) });
    expect(KEPT_TURNS).toBe(4);
    expect(shownTurns(q)).toEqual(["turn 18", "turn 19", "turn 20", "turn 21"]);
    expect(q("rmx-prompt-hidden")!.textContent).toBe("\u2026 17 earlier turns hidden");
    const toggle = q("rmx-prompt-toggle")!;
    expect(toggle.textContent).toBe("Show all 21 turns");
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    expect(q("rmx-prompt")!.classList.contains("rmx-prompt-collapsed")).toBe(true);

    click(toggle);
    expect(shownTurns(q)).toHaveLength(21);
    expect(q("rmx-prompt-hidden")).toBeNull();
    expect(q("rmx-prompt-toggle")!.textContent).toBe("Show only the last 4 turns");
    expect(q("rmx-prompt-toggle")!.getAttribute("aria-expanded")).toBe("true");
    click(q("rmx-prompt-toggle"));
    expect(shownTurns(q)).toHaveLength(KEPT_TURNS);
  });

  it("stays expanded across a redraw of the same comparison, collapses for another", () => {
    const { q, model } = setup({ comparison: comparison({ prompt_turns: turns(21) }) });
    click(q("rmx-prompt-toggle"));
    model.set("n_rows", 7); // any trait change redraws the view
    expect(shownTurns(q)).toHaveLength(21);
    model.set("comparison", comparison({ id: "c2", prompt_turns: turns(9) }));
    expect(shownTurns(q)).toHaveLength(KEPT_TURNS);
    expect(q("rmx-prompt-toggle")!.textContent).toBe("Show all 9 turns");
  });

  it(`prompts of up to ${COLLAPSE_ABOVE} turns are shown whole, with no toggle`, () => {
    const { q } = setup({ comparison: comparison({ prompt_turns: turns(COLLAPSE_ABOVE) }) });
    expect(shownTurns(q)).toHaveLength(COLLAPSE_ABOVE);
    expect(q("rmx-prompt-toggle")).toBeNull();
    expect(q("rmx-prompt-hidden")).toBeNull();
  });

  it("hostile turn text stays text; the full comparison id is in a title", () => {
    const long = "x".repeat(300);
    const hostile = turns(8).map((t) => ({ ...t, content: "<img src=x onerror=alert(1)>" }));
    const { q, el } = setup({ comparison: comparison({ id: long, prompt_turns: hostile }) });
    expect(el.querySelector("img")).toBeNull();
    expect(shownTurns(q)[0]).toBe("<img src=x onerror=alert(1)>");
    const id = q("rmx-comparison-id")!.querySelector("code")!;
    expect(id.title).toBe(long);
    expect(id.textContent).toBe(long);
  });
});
