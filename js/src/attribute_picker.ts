/**
 * AttributePicker: chips toggling which attributes are selected, with their
 * definitions, and a form to propose a custom attribute (validated in Python).
 */
import { h, rebuild, type Child } from "./lib/dom";
import { commit, getArray, getString, makeRoot, onChanges, type RenderProps } from "./lib/model";

interface Attribute {
  name: string;
  definition: string;
  custom: boolean;
}

function render({ model, el }: RenderProps): () => void {
  const root = makeRoot(el, "rmx-attribute-picker");
  /** Names whose definition is expanded; survives re-renders. */
  const expanded = new Set<string>();
  /** The add form's draft; kept across re-renders so a failed add loses nothing. */
  const draft = { name: "", definition: "" };

  const attributes = (): Attribute[] =>
    getArray<Partial<Attribute>>(model, "attributes")
      .filter((a) => a && typeof a === "object")
      .map((a) => ({ name: String(a.name ?? ""), definition: String(a.definition ?? ""), custom: !!a.custom }));
  const selected = (): string[] => getArray<unknown>(model, "selected").map((s) => String(s));

  function setSelected(names: Set<string>): void {
    const order = attributes().map((a) => a.name);
    const next = order.filter((n) => names.has(n));
    for (const n of names) if (!order.includes(n)) next.push(n);
    commit(model, { selected: next });
  }

  function toggle(name: string): void {
    const s = new Set(selected());
    if (s.has(name)) s.delete(name);
    else s.add(name);
    setSelected(s);
  }

  function chip(a: Attribute, isSelected: boolean): Child {
    const open = expanded.has(a.name);
    return h(
      "div",
      { class: ["rmx-chip-wrap", open && "rmx-open"] },
      h(
        "button",
        {
          class: ["rmx-chip", isSelected && "rmx-selected", a.custom && "rmx-custom"],
          testid: "rmx-chip",
          title: a.definition || a.name,
          attrs: { type: "button", "aria-pressed": isSelected ? "true" : "false", "data-name": a.name },
          on: { click: () => toggle(a.name) },
        },
        h("span", { class: "rmx-chip-check", attrs: { "aria-hidden": "true" } }, isSelected ? "\u2713" : "+"),
        a.name,
        a.custom ? h("span", { class: "rmx-chip-custom" }, "custom") : null,
      ),
      h(
        "button",
        {
          class: "rmx-chip-info",
          testid: "rmx-chip-info",
          title: open ? "Hide definition" : "Show definition",
          attrs: {
            type: "button",
            "aria-expanded": open ? "true" : "false",
            "aria-label": `Definition of ${a.name}`,
            "data-name": a.name,
          },
          on: {
            click: () => {
              if (expanded.has(a.name)) expanded.delete(a.name);
              else expanded.add(a.name);
              draw();
            },
          },
        },
        "?",
      ),
      open
        ? h("div", { class: "rmx-definition", testid: "rmx-definition" }, a.definition || "(no definition)")
        : null,
    );
  }

  function addForm(): Child {
    const submit = (e: Event) => {
      e.preventDefault();
      model.send({ type: "add", name: draft.name.trim(), definition: draft.definition.trim() });
    };
    return h(
      "form",
      { class: "rmx-add-form", on: { submit } },
      h("div", { class: "rmx-section-label" }, "Add an attribute"),
      h(
        "label",
        { class: "rmx-field" },
        "Name",
        h("input", {
          testid: "rmx-add-name",
          attrs: { type: "text", placeholder: "e.g. politeness", autocomplete: "off", spellcheck: false },
          value: draft.name,
          on: { input: (e) => (draft.name = (e.target as HTMLInputElement).value) },
        }),
      ),
      h(
        "label",
        { class: "rmx-field rmx-field-wide" },
        "Definition",
        h("textarea", {
          testid: "rmx-add-definition",
          attrs: { rows: 2, placeholder: "What a response that has more of this attribute looks like" },
          value: draft.definition,
          on: { input: (e) => (draft.definition = (e.target as HTMLTextAreaElement).value) },
        }),
      ),
      h("button", { class: "rmx-btn rmx-btn-primary", testid: "rmx-add", attrs: { type: "submit" } }, "Add"),
    );
  }

  function build(): Child {
    const attrs = attributes();
    const sel = new Set(selected());
    const nSel = attrs.filter((a) => sel.has(a.name)).length;
    const error = getString(model, "error");
    return [
      h(
        "div",
        { class: "rmx-header" },
        h("span", { class: "rmx-title" }, "Attributes"),
        h("span", { class: "rmx-muted", testid: "rmx-selected-count" }, `${nSel} of ${attrs.length} selected`),
        h(
          "button",
          {
            class: "rmx-btn",
            testid: "rmx-all",
            attrs: { type: "button" },
            on: { click: () => setSelected(new Set(attrs.map((a) => a.name))) },
          },
          "All",
        ),
        h(
          "button",
          { class: "rmx-btn", testid: "rmx-none", attrs: { type: "button" }, on: { click: () => setSelected(new Set()) } },
          "None",
        ),
      ),
      attrs.length === 0
        ? h("div", { class: "rmx-empty" }, "No attributes yet.")
        : h("div", { class: "rmx-chips", attrs: { role: "group", "aria-label": "Attributes" } }, attrs.map((a) => chip(a, sel.has(a.name)))),
      addForm(),
      h(
        "div",
        { class: ["rmx-error", !error && "rmx-hidden"], testid: "rmx-error", attrs: { role: "alert" } },
        error,
      ),
    ];
  }

  const draw = () => rebuild(root, build);

  const onAttributes = () => {
    // A successful add appends the attribute: clear the form's draft.
    const name = draft.name.trim();
    if (name && attributes().some((a) => a.name === name)) {
      draft.name = "";
      draft.definition = "";
    }
    draw();
  };
  model.on("change:attributes", onAttributes);
  const unsubscribe = onChanges(model, ["selected", "error"], draw);
  draw();

  return () => {
    model.off("change:attributes", onAttributes);
    unsubscribe();
    root.remove();
  };
}

export default { render };
