/** The ComparisonView's header: previous / next, position and the comparison's id. */
import type { ShownComparison } from "../lib/contract";
import { h, type Child } from "../lib/dom";
import { DASH, fmtPosition } from "../lib/format";
import { currentIndex, goTo, total, type Model } from "./state";

export function header(model: Model, c: Partial<ShownComparison> | null): Child {
  const i = currentIndex(model);
  const n = total(model);
  return h(
    "div",
    { class: "rmx-header" },
    h(
      "button",
      {
        class: "rmx-btn",
        testid: "rmx-prev",
        title: "Previous comparison (ArrowLeft / k)",
        attrs: { type: "button", "aria-label": "Previous comparison" },
        disabled: n <= 0 || i <= 0,
        on: { click: () => goTo(model, currentIndex(model) - 1) },
      },
      "\u2190 Prev",
    ),
    h("span", { class: "rmx-position", testid: "rmx-position" }, fmtPosition(i, n)),
    h(
      "button",
      {
        class: "rmx-btn",
        testid: "rmx-next",
        title: "Next comparison (ArrowRight / j)",
        attrs: { type: "button", "aria-label": "Next comparison" },
        disabled: n <= 0 || i >= n - 1,
        on: { click: () => goTo(model, currentIndex(model) + 1) },
      },
      "Next \u2192",
    ),
    h(
      "span",
      { class: "rmx-title", testid: "rmx-comparison-id" },
      // the full id in a title: a long id is ellipsised (layout.css), never overflows the view
      c ? ["Comparison ", h("code", { class: "rmx-id", title: String(c.id ?? DASH) }, String(c.id ?? DASH))] : "",
    ),
  );
}
