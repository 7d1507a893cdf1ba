/** RewriteTable model states, typed with the contract (test/contract.test.ts checks their keys). */
import type { RewriteTableState, TableRow } from "../src/lib/contract";

export const TABLE_ROW: TableRow = {
  row_id: 4,
  comparison_id: "c1",
  attribute: "verbosity",
  side: "chosen",
  direction: "worse",
  outcome: "CF",
  margin_before: 1.25,
  margin_after: -0.5,
  margin_change: -1.75,
  syntactic_distance: 0.2,
  semantic_distance: null,
  length_change: 12,
  valid: true,
  perturbed: "a longer answer",
  failure_reason: null,
  perturber: "rules:v1",
  extra_text: {},
  extra_numbers: {},
};

export const RT_STATE: RewriteTableState = {
  columns: [
    { field: "comparison_id", title: "Comparison", kind: "text" },
    { field: "attribute", title: "Attribute", kind: "text" },
    { field: "outcome", title: "Outcome", kind: "text" },
    { field: "margin_change", title: "Margin change", kind: "number" },
    { field: "length_change", title: "Length change (words)", kind: "number" },
    { field: "valid", title: "Valid", kind: "boolean" },
    { field: "perturbed", title: "Rewrite", kind: "text" },
  ],
  attribute_options: ["verbosity", "clarity"],
  n_rows: 120,
  page_size: 50,
  selected_row: -1,
  reselections: 0,
  data_version: 1,
  export_status: "",
  empty: "No rewrites yet: run an explanation to fill the table.",
  linked_filters: { attribute: "", side: "all" },
};

