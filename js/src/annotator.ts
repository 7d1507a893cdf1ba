/**
 * Annotator: step through representative / contrasting examples, tag them, write a
 * note, save (Python persists) and export.
 */
import { h, rebuild, type Child } from "./lib/dom";
import { fmtNum, fmtPosition, fmtTime, isNum } from "./lib/format";
import { clamp, commit, getArray, getInt, getObject, getString, makeRoot, onChanges, type RenderProps } from "./lib/model";
import { badge, directionLabel, outcomeOf, perturbedWithInsertions, pill, textBlock, type Row } from "./lib/rows";

interface Example {
  comparison_id: string | number;
  kind: "representative" | "contrasting";
  score: number | null;
  prompt: string;
  response_chosen: string;
  response_rejected: string;
  rows: Partial<Row>[];
}

interface Annotation {
  tags: string[];
  note: string;
  updated: number;
}

function render({ model, el }: RenderProps): () => void {
  const root = makeRoot(el, "rmx-annotator");
  /** The unsaved edit of the current example's annotation. */
  let draft: { id: string; tags: string[]; note: string; dirty: boolean } = { id: "", tags: [], note: "", dirty: false };

  const examples = (): Partial<Example>[] =>
    getArray<Partial<Example>>(model, "examples").filter((e) => e && typeof e === "object");
  const currentIndex = () => getInt(model, "index", 0);
  const current = (): Partial<Example> | null => {
    const ex = examples();
    if (ex.length === 0) return null;
    return ex[clamp(currentIndex(), 0, ex.length - 1)] ?? null;
  };
  const savedFor = (id: string): Annotation | null => {
    const all = getObject<Record<string, Partial<Annotation>>>(model, "annotations");
    const a = all && Object.prototype.hasOwnProperty.call(all, id) ? all[id] : null;
    if (!a || typeof a !== "object") return null;
    return {
      tags: Array.isArray(a.tags) ? a.tags.map((t) => String(t)) : [],
      note: typeof a.note === "string" ? a.note : "",
      updated: isNum(a.updated) ? a.updated : 0,
    };
  };

  /** Reset the draft to what is saved for the current example. */
  function loadDraft(): void {
    const ex = current();
    const id = ex ? String(ex.comparison_id ?? "") : "";
    const saved = id ? savedFor(id) : null;
    draft = { id, tags: saved ? [...saved.tags] : [], note: saved ? saved.note : "", dirty: false };
  }

  function goTo(i: number): void {
    const n = examples().length;
    if (n <= 0) return;
    const next = clamp(i, 0, n - 1);
    if (next === currentIndex()) return;
    commit(model, { index: next });
  }

  function toggleTag(tag: string): void {
    draft.tags = draft.tags.includes(tag) ? draft.tags.filter((t) => t !== tag) : [...draft.tags, tag];
    draft.dirty = true;
    draw();
  }

  function addFreeTag(raw: string): void {
    const tag = raw.trim();
    if (!tag) return;
    if (!draft.tags.includes(tag)) {
      draft.tags = [...draft.tags, tag];
      draft.dirty = true;
    }
    draw();
  }

  function save(): void {
    const ex = current();
    if (!ex) return;
    model.send({ type: "save", comparison_id: ex.comparison_id, tags: [...draft.tags], note: draft.note });
  }

  function header(n: number): Child {
    const i = clamp(currentIndex(), 0, Math.max(0, n - 1));
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
          on: { click: () => goTo(currentIndex() - 1) },
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
          on: { click: () => goTo(currentIndex() + 1) },
        },
        "Next \u2192",
      ),
      h("span", { class: "rmx-title" }, "Annotate examples"),
    );
  }

  function exampleView(ex: Partial<Example>): Child {
    const rows = Array.isArray(ex.rows) ? ex.rows.filter((r) => r && typeof r === "object") : [];
    const kind = ex.kind === "contrasting" ? "contrasting" : "representative";
    return h(
      "section",
      { class: "rmx-example", testid: "rmx-ann-example" },
      h(
        "div",
        { class: "rmx-example-head" },
        h("span", null, "Comparison ", h("code", { class: "rmx-id" }, String(ex.comparison_id ?? ""))),
        pill(kind, kind),
        isNum(ex.score) ? h("span", { class: "rmx-metric" }, `score ${fmtNum(ex.score)}`) : null,
      ),
      h("div", { class: "rmx-section-label" }, "Prompt"),
      textBlock(ex.prompt, "rmx-ann-prompt"),
      h(
        "div",
        { class: "rmx-cols" },
        h("div", { class: "rmx-col" }, h("div", { class: "rmx-col-label" }, "Chosen"), textBlock(ex.response_chosen, "rmx-ann-chosen")),
        h("div", { class: "rmx-col" }, h("div", { class: "rmx-col-label" }, "Rejected"), textBlock(ex.response_rejected, "rmx-ann-rejected")),
      ),
      h("div", { class: "rmx-section-label" }, `Rewrites (${rows.length})`),
      rows.length === 0
        ? h("div", { class: "rmx-muted" }, "No rewrites.")
        : h(
            "ul",
            { class: "rmx-compact-rows" },
            rows.map((r) => {
              const outcome = outcomeOf(r);
              return h(
                "li",
                { class: "rmx-compact-row", testid: "rmx-ann-row" },
                h(
                  "div",
                  { class: "rmx-card-head" },
                  badge(outcome),
                  h("span", { class: "rmx-attribute" }, String(r.attribute ?? "")),
                  h("span", { class: "rmx-direction" }, directionLabel(r.direction)),
                  h("span", { class: "rmx-side" }, `${String(r.side ?? "")} response`),
                ),
                outcome === "failed"
                  ? h("div", { class: "rmx-failure" }, "Failed: ", r.failure_reason ? String(r.failure_reason) : "no reason given")
                  : perturbedWithInsertions(r),
              );
            }),
          ),
    );
  }

  function annotationForm(ex: Partial<Example>): Child {
    const options = getArray<unknown>(model, "tag_options").map((t) => String(t));
    const allTags = [...options, ...draft.tags.filter((t) => !options.includes(t))];
    const saved = savedFor(String(ex.comparison_id ?? ""));
    return h(
      "section",
      { class: "rmx-annotation" },
      h("div", { class: "rmx-section-label" }, "Your annotation"),
      h(
        "div",
        { class: "rmx-chips", attrs: { role: "group", "aria-label": "Tags" } },
        allTags.map((tag) => {
          const on = draft.tags.includes(tag);
          return h(
            "button",
            {
              class: ["rmx-chip", on && "rmx-selected"],
              testid: "rmx-ann-tag",
              attrs: { type: "button", "aria-pressed": on ? "true" : "false", "data-tag": tag },
              on: { click: () => toggleTag(tag) },
            },
            h("span", { class: "rmx-chip-check", attrs: { "aria-hidden": "true" } }, on ? "\u2713" : "+"),
            tag,
          );
        }),
        h("input", {
          class: "rmx-free-tag",
          testid: "rmx-ann-free-tag",
          attrs: { type: "text", placeholder: "new tag + Enter", "aria-label": "Add a tag", autocomplete: "off" },
          on: {
            keydown: (e) => {
              if (e.key === "Enter" && !e.isComposing) {
                e.preventDefault();
                addFreeTag((e.target as HTMLInputElement).value);
              }
            },
          },
        }),
      ),
      h("textarea", {
        class: "rmx-note",
        testid: "rmx-ann-note",
        attrs: { rows: 3, placeholder: "Note (why is this expected / surprising?)", "aria-label": "Note" },
        value: draft.note,
        on: {
          input: (e) => {
            draft.note = (e.target as HTMLTextAreaElement).value;
            if (!draft.dirty) {
              draft.dirty = true;
              root.querySelector(".rmx-dirty")?.classList.remove("rmx-hidden");
            }
          },
        },
      }),
      h(
        "div",
        { class: "rmx-actions" },
        h("button", { class: "rmx-btn rmx-btn-primary", testid: "rmx-ann-save", attrs: { type: "button" }, on: { click: save } }, "Save"),
        h("span", { class: ["rmx-dirty", "rmx-muted", !draft.dirty && "rmx-hidden"] }, "unsaved changes"),
        h("span", { class: "rmx-spacer" }),
        h(
          "button",
          {
            class: "rmx-btn",
            testid: "rmx-ann-export-csv",
            attrs: { type: "button" },
            on: { click: () => model.send({ type: "export", format: "csv" }) },
          },
          "Export CSV",
        ),
        h(
          "button",
          {
            class: "rmx-btn",
            testid: "rmx-ann-export-jsonl",
            attrs: { type: "button" },
            on: { click: () => model.send({ type: "export", format: "jsonl" }) },
          },
          "Export JSONL",
        ),
      ),
      h(
        "div",
        { class: "rmx-saved", testid: "rmx-ann-saved" },
        saved
          ? [
              h("span", { class: "rmx-muted" }, `Saved${saved.updated ? ` ${fmtTime(saved.updated)}` : ""}: `),
              saved.tags.length ? saved.tags.map((t) => pill(t, "tag")) : h("span", { class: "rmx-muted" }, "no tags"),
              saved.note ? h("span", { class: "rmx-saved-note" }, ` \u2014 ${saved.note}`) : null,
            ]
          : h("span", { class: "rmx-muted" }, "Not annotated yet."),
      ),
    );
  }

  function build(): Child {
    const ex = current();
    const n = examples().length;
    return [
      header(n),
      ex
        ? [exampleView(ex), annotationForm(ex)]
        : h("div", { class: "rmx-empty", testid: "rmx-empty" }, "No examples to annotate."),
      h("div", { class: "rmx-status", testid: "rmx-ann-status", attrs: { role: "status", "aria-live": "polite" } }, getString(model, "status")),
    ];
  }

  const draw = () => rebuild(root, build);
  const reload = () => {
    loadDraft();
    draw();
  };
  const onExamples = () => {
    // Keep an unsaved draft if the current example is still the same one.
    const ex = current();
    if (!ex || String(ex.comparison_id ?? "") !== draft.id || !draft.dirty) loadDraft();
    draw();
  };

  const offReload = onChanges(model, ["index", "annotations"], reload);
  const offExamples = onChanges(model, ["examples"], onExamples);
  const offDraw = onChanges(model, ["tag_options", "status"], draw);
  reload();

  return () => {
    offReload();
    offExamples();
    offDraw();
    root.remove();
  };
}

export default { render };
