import { afterEach, beforeEach, describe, expect, it } from "vitest";
import annotator from "../src/annotator";
import attributePicker from "../src/attribute_picker";
import comparisonView from "../src/comparison_view";
import { click, mount } from "./fake_model";
import { annState, apState, comparison, cvState, example, row } from "./fixtures";

const HOSTILE = [
  `<img src=x onerror="window.__pwned=1">`,
  `<script>window.__pwned=1</script>`,
  `[x](javascript:alert(1))`,
  `**bold** <b>b</b>`,
];
const ALL = HOSTILE.join("\n");

declare global {
  interface Window {
    __pwned?: unknown;
  }
}

let current: ReturnType<typeof mount> | null = null;
beforeEach(() => {
  delete window.__pwned;
});
afterEach(() => {
  current?.cleanup();
  current = null;
});

function expectInert(el: HTMLElement) {
  for (const s of HOSTILE) expect(el.textContent).toContain(s);
  expect(el.querySelectorAll("img, script, a, b, iframe, svg").length).toBe(0);
  for (const node of Array.from(el.querySelectorAll("*"))) {
    for (const attr of Array.from(node.attributes)) {
      expect(attr.name.startsWith("on")).toBe(false);
      expect(attr.name === "href" || attr.name === "src").toBe(false);
    }
  }
  expect(window.__pwned).toBeUndefined();
}

const hostileRow = (over: Record<string, unknown> = {}) =>
  row({ attribute: ALL, original: `ok ${ALL}`, perturbed: `${ALL} changed`, ...over });

describe("hostile model text stays literal text", () => {
  it("ComparisonView", async () => {
    current = mount(
      comparisonView,
      cvState({
        comparison: comparison({
          id: ALL,
          prompt_turns: [{ role: ALL, content: ALL }],
          response_a: ALL,
          response_b: `${ALL}!`,
        }),
        rows: [
          hostileRow(),
          hostileRow({ row_id: ALL, side: ALL, direction: ALL, outcome: "SF" }),
          hostileRow({ outcome: "failed", perturbed: null, failure_reason: ALL }),
        ],
        attribute_options: HOSTILE,
        filters: { attribute: ALL, side: "all", outcome: "all" },
      }),
    );
    await new Promise((r) => setTimeout(r, 10));
    expectInert(current.el);
    const attrSelect = current.q("rmx-filter-attribute") as HTMLSelectElement;
    expect(Array.from(attrSelect.options).map((o) => o.value)).toContain(HOSTILE[0]);
  });

  it("AttributePicker", async () => {
    current = mount(
      attributePicker,
      apState({
        attributes: HOSTILE.map((s, i) => ({ name: s, definition: `${ALL} #${i}`, custom: i % 2 === 0 })),
        selected: [HOSTILE[1]],
        error: ALL,
      }),
    );
    for (const info of current.qa("rmx-chip-info")) info.click();
    await new Promise((r) => setTimeout(r, 10));
    expectInert(current.el);
    expect(current.qa("rmx-definition")).toHaveLength(4);
    expect(current.qa("rmx-chip")[0].title).toContain(HOSTILE[0]);
  });

  it("Annotator", async () => {
    current = mount(
      annotator,
      annState({
        examples: [
          example({
            comparison_id: ALL,
            prompt: ALL,
            response_chosen: ALL,
            response_rejected: ALL,
            rows: [hostileRow(), hostileRow({ outcome: "failed", perturbed: null, failure_reason: ALL })],
          }),
        ],
        annotations: { [ALL]: { tags: HOSTILE, note: ALL, updated: 1 } },
        tag_options: HOSTILE,
        status: ALL,
      }),
    );
    await new Promise((r) => setTimeout(r, 10));
    expectInert(current.el);
    click(current.q("rmx-ann-save"));
    expect(current.model.sent[0]).toEqual({ type: "save", comparison_id: ALL, tags: HOSTILE, note: ALL });
  });
});
