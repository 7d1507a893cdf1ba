import { afterEach, describe, expect, it } from "vitest";
import widget from "../src/attribute_picker";
import { matching } from "../src/attribute_picker/search";
import { click, mount, typeInto } from "./fake_model";
import { apState } from "./fixtures";

let current: ReturnType<typeof mount> | null = null;
const setup = (over: Record<string, unknown> = {}) => (current = mount(widget, apState(over)));
afterEach(() => {
  current?.cleanup();
  current = null;
});

const SIXTY = Array.from({ length: 60 }, (_, i) => ({
  name: `attr_${String(i).padStart(2, "0")}`,
  definition: i % 10 === 7 ? "Mentions the weather." : `Definition number ${i}.`,
  custom: false,
}));
const names = (qa: (id: string) => HTMLElement[]) => qa("rmx-chip").map((c) => c.dataset.name);

describe("AttributePicker search", () => {
  it("filters 60 chips by name, keeping focus and the selection", () => {
    const { q, qa, model } = setup({ attributes: SIXTY, selected: ["attr_00", "attr_45"] });
    expect(qa("rmx-chip")).toHaveLength(60);
    const box = q("rmx-attr-search") as HTMLInputElement;
    expect(box.getAttribute("aria-label")).toBe("Search attributes");
    box.focus();
    typeInto(box, "attr_4");
    expect(names(qa)).toEqual(Array.from({ length: 10 }, (_, i) => `attr_4${i}`));
    expect(q("rmx-attr-search-count")!.textContent).toBe("10 of 60 shown");
    // the box is rebuilt with its text and keeps the focus; filtering sends nothing to Python
    expect((q("rmx-attr-search") as HTMLInputElement).value).toBe("attr_4");
    expect(document.activeElement).toBe(q("rmx-attr-search"));
    expect(model.saves).toBe(0);
    expect(q("rmx-selected-count")!.textContent).toBe("2 of 60 selected");
    // a chip toggled while filtered joins the selection beside the hidden selected one
    click(qa("rmx-chip").find((c) => c.dataset.name === "attr_41")!);
    expect(model.get("selected")).toEqual(["attr_00", "attr_41", "attr_45"]);
    expect(names(qa)).toHaveLength(10); // the filter survives the re-render
  });

  it("matches definitions and every word, case-insensitively; clearing shows all", () => {
    const { q, qa } = setup({ attributes: SIXTY });
    typeInto(q("rmx-attr-search"), "WEATHER");
    expect(names(qa)).toEqual(["attr_07", "attr_17", "attr_27", "attr_37", "attr_47", "attr_57"]);
    typeInto(q("rmx-attr-search"), "weather attr_2");
    expect(names(qa)).toEqual(["attr_27"]);
    typeInto(q("rmx-attr-search"), "");
    expect(qa("rmx-chip")).toHaveLength(60);
    expect(q("rmx-attr-search-count")).toBeNull();
  });

  it("says so when nothing matches, and a hostile query stays text", () => {
    const { q, qa, el } = setup();
    typeInto(q("rmx-attr-search"), "<img src=x onerror=alert(1)>");
    expect(qa("rmx-chip")).toHaveLength(0);
    expect(q("rmx-attr-no-match")!.textContent).toBe("No attribute matches the search.");
    expect(el.querySelector("img")).toBeNull();
    expect(q("rmx-attr-search-count")!.textContent).toBe("0 of 3 shown");
  });

  it("matching() with an empty or blank query returns every attribute", () => {
    const attrs = apState().attributes as typeof SIXTY;
    expect(matching(attrs, "")).toEqual(attrs);
    expect(matching(attrs, "   ")).toEqual(attrs);
    expect(matching(attrs, "jokes").map((a) => a.name)).toEqual(["humor"]);
  });

  it("no search box when there are no attributes", () => {
    const { q } = setup({ attributes: [], selected: [] });
    expect(q("rmx-attr-search")).toBeNull();
  });
});
