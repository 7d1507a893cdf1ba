/**
 * ComparisonView: one preference comparison, its two responses and a page of
 * counterfactual / semifactual rewrite rows. Python does all filtering and paging;
 * this module renders what it is given and sends intents back (index, filters, page).
 */
import { h, rebuild, select, type Child } from "./lib/dom";
import { DASH, fmtNum, fmtPosition, fmtSigned, isNum, plural } from "./lib/format";
import { clamp, commit, getArray, getInt, getObject, makeRoot, onChanges, type RenderProps } from "./lib/model";
import { badge, diffColumns, directionLabel, failureReason, outcomeOf, pill, rewardSummary, type Row } from "./lib/rows";

interface Turn {
  role: string;
  content: string;
}

interface Comparison {
  id: string | number;
  index: number;
  total: number;
  prompt_turns: Turn[];
  response_a: string;
  response_b: string;
  reward_a: number | null;
  reward_b: number | null;
  preferred: "a" | "b" | null;
  margin: number | null;
  tie: boolean;
}

interface Filters {
  attribute: string;
  side: "all" | "chosen" | "rejected";
  outcome: "all" | "CF" | "SF" | "failed";
}

const DEFAULT_FILTERS: Filters = { attribute: "", side: "all", outcome: "all" };

const TRAITS = ["comparison", "rows", "attribute_options", "filters", "index", "page", "page_size", "n_rows"];

function isTypingTarget(t: EventTarget | null): boolean {
  if (!(t instanceof HTMLElement)) return false;
  const tag = t.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || t.isContentEditable;
}

function render({ model, el }: RenderProps): () => void {
  const root = makeRoot(el, "rmx-comparison-view");
  root.tabIndex = 0;
  root.setAttribute("role", "region");
  root.setAttribute("aria-label", "Comparison view (ArrowLeft/ArrowRight or k/j to navigate)");

  const comparison = () => getObject<Comparison>(model, "comparison");
  const total = () => {
    const c = comparison();
    return c && isNum(c.total) ? Math.max(0, Math.trunc(c.total)) : 0;
  };
  const currentIndex = () => {
    const c = comparison();
    return getInt(model, "index", c && isNum(c.index) ? c.index : 0);
  };
  const filters = (): Filters => ({ ...DEFAULT_FILTERS, ...(getObject<Partial<Filters>>(model, "filters") ?? {}) });

  function goTo(i: number): void {
    const n = total();
    if (n <= 0) return;
    const next = clamp(i, 0, n - 1);
    if (next === currentIndex()) return;
    commit(model, { index: next });
  }

  function setFilter<K extends keyof Filters>(key: K, value: Filters[K]): void {
    commit(model, { filters: { ...filters(), [key]: value } });
  }

  function goToPage(p: number): void {
    const size = getInt(model, "page_size", 0);
    const n = getInt(model, "n_rows", 0);
    const pages = size > 0 ? Math.max(1, Math.ceil(n / size)) : 1;
    const next = clamp(p, 0, pages - 1);
    if (next === getInt(model, "page", 0)) return;
    commit(model, { page: next });
  }

  function header(c: Comparison | null): Child {
    const i = currentIndex();
    const n = total();
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
          on: { click: () => goTo(currentIndex() - 1) },
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
          on: { click: () => goTo(currentIndex() + 1) },
        },
        "Next \u2192",
      ),
      h(
        "span",
        { class: "rmx-title", testid: "rmx-comparison-id" },
        c ? ["Comparison ", h("code", { class: "rmx-id" }, String(c.id ?? DASH))] : "",
      ),
    );
  }

  function prompt(c: Comparison): Child {
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

  function response(c: Comparison, which: "a" | "b"): Child {
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

  function filterBar(): Child {
    const f = filters();
    const attrs = getArray<unknown>(model, "attribute_options")
      .map((a) => String(a ?? ""))
      .filter((a) => a !== "");
    if (f.attribute && !attrs.includes(f.attribute)) attrs.push(f.attribute);
    return h(
      "div",
      { class: "rmx-filters" },
      h(
        "label",
        { class: "rmx-filter" },
        "Attribute ",
        select(
          {
            testid: "rmx-filter-attribute",
            on: { change: (e) => setFilter("attribute", (e.target as HTMLSelectElement).value) },
          },
          [{ value: "", label: "All attributes" }, ...attrs.map((a) => ({ value: a, label: a }))],
          f.attribute,
        ),
      ),
      h(
        "label",
        { class: "rmx-filter" },
        "Side ",
        select(
          {
            testid: "rmx-filter-side",
            on: { change: (e) => setFilter("side", (e.target as HTMLSelectElement).value as Filters["side"]) },
          },
          [
            { value: "all", label: "Both sides" },
            { value: "chosen", label: "Chosen" },
            { value: "rejected", label: "Rejected" },
          ],
          f.side,
        ),
      ),
      h(
        "label",
        { class: "rmx-filter" },
        "Outcome ",
        select(
          {
            testid: "rmx-filter-outcome",
            on: {
              change: (e) => setFilter("outcome", (e.target as HTMLSelectElement).value as Filters["outcome"]),
            },
          },
          [
            { value: "all", label: "All outcomes" },
            { value: "CF", label: "CF (flipped)" },
            { value: "SF", label: "SF (not flipped)" },
            { value: "failed", label: "Failed" },
          ],
          f.outcome,
        ),
      ),
    );
  }

  function rowCard(row: Partial<Row>): Child {
    const outcome = outcomeOf(row);
    return h(
      "article",
      { class: ["rmx-card", `rmx-card-${outcome.toLowerCase()}`], testid: "rmx-row", attrs: { "data-row-id": String(row.row_id ?? "") } },
      h(
        "div",
        { class: "rmx-card-head" },
        badge(outcome),
        h("span", { class: "rmx-attribute" }, String(row.attribute ?? "")),
        h("span", { class: "rmx-direction" }, directionLabel(row.direction)),
        h("span", { class: "rmx-side" }, `${String(row.side ?? "")} response`),
      ),
      outcome === "failed" ? failureReason(row) : [diffColumns(row), rewardSummary(row)],
    );
  }

  function pager(): Child {
    const n = getInt(model, "n_rows", 0);
    const size = getInt(model, "page_size", 0);
    if (size <= 0 || n <= size) return null;
    const pages = Math.ceil(n / size);
    const page = clamp(getInt(model, "page", 0), 0, pages - 1);
    const first = page * size + 1;
    const last = Math.min(n, (page + 1) * size);
    return h(
      "div",
      { class: "rmx-pager" },
      h(
        "button",
        {
          class: "rmx-btn",
          testid: "rmx-page-prev",
          attrs: { type: "button", "aria-label": "Previous page of rows" },
          disabled: page <= 0,
          on: { click: () => goToPage(getInt(model, "page", 0) - 1) },
        },
        "\u2039 Prev rows",
      ),
      h("span", { class: "rmx-page-info", testid: "rmx-page-info" }, `rows ${first}\u2013${last} of ${n} \u00b7 page ${page + 1} / ${pages}`),
      h(
        "button",
        {
          class: "rmx-btn",
          testid: "rmx-page-next",
          attrs: { type: "button", "aria-label": "Next page of rows" },
          disabled: page >= pages - 1,
          on: { click: () => goToPage(getInt(model, "page", 0) + 1) },
        },
        "Next rows \u203a",
      ),
    );
  }

  function build(): Child {
    const c = comparison();
    if (!c) {
      return [header(null), h("div", { class: "rmx-empty", testid: "rmx-empty" }, "No comparison to show.")];
    }
    const rows = getArray<Partial<Row>>(model, "rows").filter((r) => r && typeof r === "object");
    const n = getInt(model, "n_rows", rows.length);
    return [
      header(c),
      prompt(c),
      h("div", { class: "rmx-cols rmx-responses" }, response(c, "a"), response(c, "b")),
      h(
        "div",
        { class: "rmx-rows-head" },
        h("span", { class: "rmx-section-label" }, `Rewrites (${plural(n, "row")})`),
        filterBar(),
      ),
      rows.length === 0
        ? h("div", { class: "rmx-empty", testid: "rmx-no-rows" }, "No rewrite rows match the filters.")
        : h("div", { class: "rmx-rows" }, rows.map(rowCard)),
      pager(),
    ];
  }

  const draw = () => rebuild(root, build);

  const onKey = (e: KeyboardEvent) => {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || isTypingTarget(e.target)) return;
    if (e.key === "ArrowRight" || e.key === "j") {
      e.preventDefault();
      goTo(currentIndex() + 1);
    } else if (e.key === "ArrowLeft" || e.key === "k") {
      e.preventDefault();
      goTo(currentIndex() - 1);
    }
  };
  root.addEventListener("keydown", onKey);
  const unsubscribe = onChanges(model, TRAITS, draw);
  draw();

  return () => {
    unsubscribe();
    root.removeEventListener("keydown", onKey);
    root.remove();
  };
}

export default { render };
