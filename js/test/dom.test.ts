import { describe, expect, it } from "vitest";
import { h, rebuild, setAttr } from "../src/lib/dom";

describe("dom builder", () => {
  it("puts strings in as text nodes", () => {
    const el = h("div", null, "<b>x</b>", 3, null, false, ["a", h("span", null, "s")]);
    expect(el.textContent).toBe("<b>x</b>3as");
    expect(el.querySelector("b")).toBeNull();
  });
  it("refuses code- and URL-bearing attributes", () => {
    const el = document.createElement("div");
    for (const name of ["onclick", "onerror", "href", "src", "srcdoc", "style", "formaction"]) {
      expect(() => setAttr(el, name, "x")).toThrow();
    }
    setAttr(el, "aria-label", "ok");
    expect(el.getAttribute("aria-label")).toBe("ok");
  });
  it("rebuild keeps focus on the equivalent element", () => {
    const root = document.createElement("div");
    root.tabIndex = 0;
    document.body.appendChild(root);
    const build = () => h("div", null, h("button", { testid: "b", attrs: { "data-name": "x" } }, "x"), h("input", { testid: "i" }));
    rebuild(root, build);
    (root.querySelector('[data-testid="b"]') as HTMLElement).focus();
    rebuild(root, build);
    expect(document.activeElement?.getAttribute("data-testid")).toBe("b");
    expect(document.activeElement?.isConnected).toBe(true);
    root.remove();
  });
});
