import { afterEach, describe, expect, it } from "vitest";
import widget from "../src/attribute_picker";
import { click, mount, typeInto } from "./fake_model";
import { apState } from "./fixtures";

let current: ReturnType<typeof mount> | null = null;
const setup = (over: Record<string, unknown> = {}) => (current = mount(widget, apState(over)));
afterEach(() => {
  current?.cleanup();
  current = null;
});

const chip = (qa: (id: string) => HTMLElement[], name: string) => qa("rmx-chip").find((c) => c.dataset.name === name)!;

describe("AttributePicker", () => {
  it("renders one chip per attribute with aria-pressed and a definition tooltip", () => {
    const { qa } = setup();
    const chips = qa("rmx-chip");
    expect(chips.map((c) => c.dataset.name)).toEqual(["politeness", "length", "humor"]);
    expect(chips.map((c) => c.getAttribute("aria-pressed"))).toEqual(["true", "false", "false"]);
    expect(chips[0].title).toBe("Courteous and respectful wording.");
    expect(chips[2].textContent).toContain("custom");
  });

  it("chip click toggles membership in `selected`", () => {
    const { qa, model } = setup();
    click(chip(qa, "length"));
    expect(model.get("selected")).toEqual(["politeness", "length"]);
    expect(model.saves).toBe(1);
    expect(chip(qa, "length").getAttribute("aria-pressed")).toBe("true");
    click(chip(qa, "politeness"));
    expect(model.get("selected")).toEqual(["length"]);
    expect(chip(qa, "politeness").getAttribute("aria-pressed")).toBe("false");
  });

  it("All / None", () => {
    const { q, model, qa } = setup();
    click(q("rmx-all"));
    expect(model.get("selected")).toEqual(["politeness", "length", "humor"]);
    expect(qa("rmx-chip").every((c) => c.getAttribute("aria-pressed") === "true")).toBe(true);
    click(q("rmx-none"));
    expect(model.get("selected")).toEqual([]);
    expect(q("rmx-selected-count")!.textContent).toBe("0 of 3 selected");
  });

  it("the ? toggle reveals the definition text", () => {
    const { qa, q } = setup();
    expect(q("rmx-definition")).toBeNull();
    const info = qa("rmx-chip-info")[1];
    expect(info.getAttribute("aria-expanded")).toBe("false");
    click(info);
    expect(q("rmx-definition")!.textContent).toBe("How long the response is.");
    expect(qa("rmx-chip-info")[1].getAttribute("aria-expanded")).toBe("true");
    click(qa("rmx-chip-info")[1]);
    expect(q("rmx-definition")).toBeNull();
  });

  it("Add sends {type: 'add', name, definition}", () => {
    const { q, model } = setup();
    typeInto(q("rmx-add-name"), "  formality ");
    typeInto(q("rmx-add-definition"), "Formal register.");
    click(q("rmx-add"));
    expect(model.sent).toEqual([{ type: "add", name: "formality", definition: "Formal register." }]);
  });

  it("shows the `error` trait and keeps the draft after a failed add", () => {
    const { q, model } = setup();
    expect(q("rmx-error")!.textContent).toBe("");
    typeInto(q("rmx-add-name"), "politeness");
    click(q("rmx-add"));
    model.pythonSet("error", "attribute 'politeness' already exists");
    expect(q("rmx-error")!.textContent).toBe("attribute 'politeness' already exists");
    expect((q("rmx-add-name") as HTMLInputElement).value).toBe("politeness");
    model.pythonSet("error", "");
    expect(q("rmx-error")!.textContent).toBe("");
  });

  it("clears the form when Python appends the new attribute", () => {
    const { q, qa, model } = setup();
    typeInto(q("rmx-add-name"), "formality");
    typeInto(q("rmx-add-definition"), "Formal register.");
    click(q("rmx-add"));
    model.pythonSet("attributes", [...apState().attributes, { name: "formality", definition: "Formal register.", custom: true }]);
    model.pythonSet("selected", ["politeness", "formality"]);
    expect(chip(qa, "formality").getAttribute("aria-pressed")).toBe("true");
    expect((q("rmx-add-name") as HTMLInputElement).value).toBe("");
    expect((q("rmx-add-definition") as HTMLTextAreaElement).value).toBe("");
  });

  it("cleanup removes every model listener", () => {
    const { model, cleanup } = setup();
    cleanup();
    current = null;
    expect(model.listenerCount()).toBe(0);
  });
});
