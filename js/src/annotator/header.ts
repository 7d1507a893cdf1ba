/** The Annotator's header: previous / next example and the position. */
import { h, type Child } from "../lib/dom";
import { fmtPosition } from "../lib/format";
import { clamp } from "../lib/model";
import { currentIndex, goTo, type Model } from "./state";

export function header(model: Model, n: number): Child {
  const i = clamp(currentIndex(model), 0, Math.max(0, n - 1));
  return h(
    "div",
    { class: "rmx-header" },
    h(
      "button",
      {
        class: "rmx-btn",
        testid: "rmx-ann-prev",
        attrs: { type: "button", "aria-label": "Previous example" },
        disabled: n <= 0 || i <= 0,
        on: { click: () => goTo(model, currentIndex(model) - 1) },
      },
      "\u2190 Prev",
    ),
    h("span", { class: "rmx-position", testid: "rmx-ann-position" }, fmtPosition(i, n)),
    h(
      "button",
      {
        class: "rmx-btn",
        testid: "rmx-ann-next",
        attrs: { type: "button", "aria-label": "Next example" },
        disabled: n <= 0 || i >= n - 1,
        on: { click: () => goTo(model, currentIndex(model) + 1) },
      },
      "Next \u2192",
    ),
    h("span", { class: "rmx-title" }, "Annotate examples"),
  );
}
