/**
 * The front end keeps to the one widget contract, src/contract.json (generated from
 * rmx_widgets/widgets/contract; tests/widgets/test_contract.py holds the Python side to it):
 * the generated types are current, the typed fixtures have exactly the contract's fields,
 * every view listens to all of its state's traits, and what it sends is a contract message.
 */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { renderTypes, TYPES_PATH } from "../scripts/contract_types.mjs";
import annotator from "../src/annotator";
import attributePicker from "../src/attribute_picker";
import comparisonView from "../src/comparison_view";
import sensitivitySummary from "../src/sensitivity_summary";
import rewriteTable from "../src/rewrite_table";
import contract from "../src/contract.json";
import { TRAITS } from "../src/lib/contract";
import type { State } from "../src/lib/model";
import { click, mount, typeInto, type Widget } from "./fake_model";
import { RT_STATE, TABLE_ROW } from "./rewrite_table_fixtures";
import { ANN_STATE, AP_STATE, COMPARISON, CV_STATE, EXAMPLE, ROW, SS_STATE, SUMMARY_ROW } from "./fixtures";

interface RecordDef {
  properties: Record<string, { const?: unknown }>;
}
const defs = contract.$defs as unknown as Record<string, RecordDef>;
const fieldsOf = (name: string) => Object.keys(defs[name].properties).sort();
const stateOf = (widget: keyof typeof contract.widgets) => contract.widgets[widget].state.$ref.replace("#/$defs/", "");

let current: ReturnType<typeof mount> | null = null;
afterEach(() => {
  current?.cleanup();
  current = null;
});

describe("the front end keeps to src/contract.json", () => {
  it("src/lib/contract.ts is what scripts/contract_types.mjs makes of it (else: npm run contract)", () => {
    expect(readFileSync(TYPES_PATH, "utf8")).toBe(renderTypes(contract));
  });

  it("TRAITS lists each widget's state fields, for every widget of the contract", () => {
    expect(Object.keys(TRAITS).sort()).toEqual(Object.keys(contract.widgets).sort());
    for (const [widget, traits] of Object.entries(TRAITS)) {
      expect([...traits].sort(), widget).toEqual(fieldsOf(stateOf(widget as keyof typeof contract.widgets)));
    }
  });

  it.each([
    ["Row", ROW],
    ["ShownComparison", COMPARISON],
    ["Turn", COMPARISON.prompt_turns[0]],
    ["Filters", CV_STATE.filters],
    ["ComparisonViewState", CV_STATE],
    ["Example", EXAMPLE],
    ["AnnotatorState", ANN_STATE],
    ["PickerAttribute", AP_STATE.attributes[0]],
    ["AttributePickerState", AP_STATE],
    ["SummaryRow", SUMMARY_ROW],
    ["SensitivitySummaryState", SS_STATE],
    ["RewriteTableState", RT_STATE],
    ["TableRow", TABLE_ROW],
  ])("the typed %s fixture has exactly the contract's fields", (name, value) => {
    expect(Object.keys(value).sort()).toEqual(fieldsOf(name));
  });

  it.each<[keyof typeof contract.widgets, Widget<State>, object]>([
    ["ComparisonView", comparisonView, CV_STATE],
    ["AttributePicker", attributePicker, AP_STATE],
    ["Annotator", annotator, ANN_STATE],
    ["SensitivitySummary", sensitivitySummary, SS_STATE],
    ["RewriteTable", rewriteTable, RT_STATE],
  ])("%s redraws on every trait of its state", (widget, view, state) => {
    current = mount(view, { ...state });
    const events = [...current.model.listeners.entries()]
      .filter(([ev, cbs]) => cbs.size > 0 && ev.startsWith("change:")) // msg:custom: the RewriteTable's replies
      .map(([ev]) => ev);
    expect(events.sort()).toEqual(fieldsOf(stateOf(widget)).map((t) => `change:${t}`));
  });

  /** A sent message must be one of the widget's contract messages, field for field. */
  function expectContractMessage(widget: keyof typeof contract.widgets, sent: unknown): void {
    const msg = sent as Record<string, unknown>;
    const names = contract.widgets[widget].messages.map((m) => m.$ref.replace("#/$defs/", ""));
    const match = names.find((n) => defs[n].properties.type.const === msg.type);
    expect(match, `${widget} sent ${JSON.stringify(msg)}`).toBeDefined();
    expect(Object.keys(msg).sort()).toEqual(fieldsOf(match!));
  }

  it("AttributePicker sends AddAttributeMessage", () => {
    current = mount(attributePicker, { ...AP_STATE });
    typeInto(current.q("rmx-add-name"), "humour");
    typeInto(current.q("rmx-add-definition"), "How funny the response is.");
    click(current.q("rmx-add"));
    expect(current.model.sent).toHaveLength(1);
    expectContractMessage("AttributePicker", current.model.sent[0]);
  });

  it("Annotator sends SaveAnnotationMessage and ExportMessage", () => {
    current = mount(annotator, { ...ANN_STATE });
    click(current.q("rmx-ann-save"));
    click(current.q("rmx-ann-export-csv"));
    click(current.q("rmx-ann-export-jsonl"));
    expect(current.model.sent).toHaveLength(3);
    for (const msg of current.model.sent) expectContractMessage("Annotator", msg);
  });
});
