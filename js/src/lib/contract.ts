// Generated from src/contract.json by scripts/contract_types.mjs (`npm run contract`); do not edit.

export type Side = "chosen" | "rejected";

export type Direction = "worse" | "better";

export type Outcome = "CF" | "SF" | "failed";

export type SideFilter = "all" | "chosen" | "rejected";

export type OutcomeFilter = "all" | "CF" | "SF" | "failed";

export type Preferred = "a" | "b";

export type ExampleKind = "representative" | "contrasting";

export type ExportFormat = "csv" | "jsonl";

export type Reading = "not measured" | "too few" | "ok";

export type EditKind = "original" | "rewrite" | "write";

export type ValidityFilter = "all" | "valid" | "invalid" | "unjudged";

export type SortDirection = "asc" | "desc";

export type TableFormat = "csv" | "parquet";

export type ColumnKind = "text" | "number" | "boolean";

/** ComparisonView's traits: Python filters and pages, the browser shows one page; `empty` is what to say when no row is shown (no run yet, or no row matches the filters). The `edit_*` traits are edit and rescore: the edits of the comparison on screen, the attributes a rewrite can be written for, whether editing is possible (else `edit_unavailable` says why), a rescore in flight, its status line and its error (one line), and how many edits the view holds. */
export interface ComparisonViewState {
  comparison: ShownComparison | null;
  rows: Row[];
  attribute_options: string[];
  filters: Filters;
  index: number;
  page: number;
  page_size: number;
  n_rows: number;
  empty: string;
  edits_shown: ShownEdit[];
  edit_attributes: string[];
  can_edit: boolean;
  edit_unavailable: string;
  edit_busy: boolean;
  edit_status: string;
  edit_error: string;
  n_edits: number;
}

/** The comparison on screen, with its position among the visible ones and its rewards; `human_preferred` is the input's human label (None: the data has none). */
export interface ShownComparison {
  id: string;
  index: number;
  total: number;
  prompt_turns: Turn[];
  response_a: string;
  response_b: string;
  reward_a: number | null;
  reward_b: number | null;
  preferred: Preferred | null;
  margin: number | null;
  tie: boolean;
  human_preferred: Preferred | null;
}

/** One message of a (possibly multi-turn) prompt. */
export interface Turn {
  role: string;
  content: string;
}

/** One rewrite of one response: a row of the explanation table (NaN sent as null). */
export interface Row {
  row_id: number;
  side: Side;
  attribute: string;
  direction: Direction;
  original: string;
  perturbed: string | null;
  reward_original: number | null;
  reward_perturbed: number | null;
  reward_other: number | null;
  margin_before: number | null;
  margin_after: number | null;
  outcome: Outcome;
  failure_reason: string | null;
}

/** The ComparisonView's row filters; an empty attribute means every attribute. */
export interface Filters {
  attribute: string;
  side: SideFilter;
  outcome: OutcomeFilter;
}

/** A hand edit of the comparison on screen, rescored by the RM (core.rescore). `row` is its explanation-table row (an edited original as a rewrite of its side, attribute "hand-edit"); `target_row` the table row an edited rewrite replaces (-1: none); `response` the edited original response (None for a rewrite); `rederived` the comparison's rewrites re-derived against an edited pair (each `row_id` the table row it re-derives); `note` one line saying what happened. */
export interface ShownEdit {
  edit_id: number;
  kind: EditKind;
  target_row: number;
  response: Preferred | null;
  row: Row;
  rederived: Row[];
  note: string;
}

/** ComparisonView: rescore an edit in the background. `kind` "original": response `response` ("a"/"b") edited; "rewrite": table row `row_id` edited; "write": a rewrite typed for `attribute` and `side`. Unused fields are "" (`row_id` -1). */
export interface RescoreMessage {
  type: "rescore";
  kind: EditKind;
  comparison_id: string;
  row_id: number;
  response: string;
  attribute: string;
  side: string;
  text: string;
}

/** ComparisonView: drop one edit (its id). */
export interface UndoEditMessage {
  type: "undo";
  edit_id: number;
}

/** AttributePicker's traits; `error` is the last rejected custom attribute's reason. */
export interface AttributePickerState {
  attributes: PickerAttribute[];
  selected: string[];
  error: string;
}

/** An attribute the AttributePicker offers; `custom` when the user added it. */
export interface PickerAttribute {
  name: string;
  definition: string;
  custom: boolean;
}

/** AttributePicker: validate and add a custom attribute. */
export interface AddAttributeMessage {
  type: "add";
  name: string;
  definition: string;
}

/** Annotator's traits; `annotations` is keyed by comparison id. */
export interface AnnotatorState {
  examples: Example[];
  index: number;
  annotations: Record<string, Annotation>;
  tag_options: string[];
  status: string;
}

/** A representative or contrasting comparison to annotate, with its texts and rewrites. `response_chosen` is the response the RM prefers (`rm_preferred`, "a"/"b"), not necessarily the human's: `human_preferred` is the input's label (None: none) and `rm_agrees_with_human` None when either is missing; the rewards are the RM's of the two originals and `margin` their difference. */
export interface Example {
  comparison_id: string;
  kind: ExampleKind;
  score: number | null;
  prompt: string;
  response_chosen: string;
  response_rejected: string;
  rows: Row[];
  rm_preferred: Preferred | null;
  human_preferred: Preferred | null;
  rm_agrees_with_human: boolean | null;
  reward_chosen: number | null;
  reward_rejected: number | null;
  margin: number | null;
}

/** What is saved for one example; `updated` is epoch seconds. */
export interface Annotation {
  tags: string[];
  note: string;
  updated: number;
}

/** Annotator: save the tags and note of one example. */
export interface SaveAnnotationMessage {
  type: "save";
  comparison_id: string;
  tags: string[];
  note: string;
}

/** Annotator: write every annotation to the export directory. */
export interface ExportMessage {
  type: "export";
  format: ExportFormat;
}

/** SensitivitySummary's traits: the pooled rows, the cells' headers, the legend line (min n, alpha, Holm), what to say when there are no rows yet, and the slice field the rows are split by ("" when not split: one row per attribute). */
export interface SensitivitySummaryState {
  rows: SummaryRow[];
  headers: string[];
  legend: string;
  empty: string;
  split_by: string;
}

/** One attribute's pooled sensitivity row as every face shows it: its reading mark and the text cells core.readability made (n, failed rate, PFR [interval], null PFR, excess, Holm p, significance), in the order of `headers`. */
export interface SummaryRow {
  attribute: string;
  reading: Reading;
  cells: string[];
  split_value: string | null;
}

/** RewriteTable's traits: the columns (the fixed ones, then this table's slices and objective changes), the attributes to filter by, how many rows the table holds (before filters), the page size, the selected row (-1: none; the Explorer opens it in the ComparisonView), `reselections` (bumped when the selected row is picked again, so the Explorer reopens it), `data_version` (bumped when the table changes: the browser asks for its page again), the last export's status line, what to say when the table has no rows, and `linked_filters`: the filter bar's Attribute and Side, synced both ways (the bar shows what the kernel sets and asks for page 1 again; a change made in the bar is written here, where the Explorer hears it). */
export interface RewriteTableState {
  columns: TableColumn[];
  attribute_options: string[];
  n_rows: number;
  page_size: number;
  selected_row: number;
  reselections: number;
  data_version: number;
  export_status: string;
  empty: string;
  linked_filters: LinkedFilters;
}

/** A column of the RewriteTable: its field in `TableRow`, its header and its kind (what it sorts and filters as). */
export interface TableColumn {
  field: string;
  title: string;
  kind: ColumnKind;
}

/** The RewriteTable's Attribute and Side filters, the ones it shares with the chart and the ComparisonView (the Explorer links them); an empty attribute means every attribute. */
export interface LinkedFilters {
  attribute: string;
  side: SideFilter;
}

/** RewriteTable: ask for page `page` (1-based) of the rows the sort, search (at most 200 characters) and filters leave; the kernel answers with a `PageReply` carrying the same `request_id`. */
export interface PageRequestMessage {
  type: "page";
  request_id: number;
  page: number;
  page_size: number;
  sort: SortKey[];
  search: string;
  filters: TableFilters;
}

/** One sort key of a page request, the first the most significant. */
export interface SortKey {
  column: string;
  dir: SortDirection;
}

/** The RewriteTable's filters (ANDed); an empty attribute means every attribute. */
export interface TableFilters {
  attribute: string;
  side: SideFilter;
  outcome: OutcomeFilter;
  validity: ValidityFilter;
  ranges: RangeBound[];
}

/** Keep rows whose numeric `column` lies in [low, high]; a null bound is open. */
export interface RangeBound {
  column: string;
  low: number | null;
  high: number | null;
}

/** RewriteTable: write the filtered slice to the export folder (next free name). */
export interface ExportTableMessage {
  type: "export";
  format: TableFormat;
}

/** RewriteTable: the answer to a `PageRequestMessage`: one page of rows, the number of matching rows (`total`) and pages; `error` is one line when the request was refused (then no rows). */
export interface PageReply {
  type: "page";
  request_id: number;
  page: number;
  page_size: number;
  last_page: number;
  total: number;
  rows: TableRow[];
  error: string;
}

/** One rewrite as a RewriteTable row (core.table_query.COLUMNS, then the table's own slice and objective columns in `extra_text` / `extra_numbers`; NaN sent as null); `margin_change` is margin_after - margin_before, `perturbed` is cut to `MAX_CELL_CHARS` with an ellipsis (the detail view shows it whole). */
export interface TableRow {
  row_id: number;
  comparison_id: string;
  attribute: string;
  side: Side;
  direction: Direction;
  outcome: Outcome;
  margin_before: number | null;
  margin_after: number | null;
  margin_change: number | null;
  syntactic_distance: number | null;
  semantic_distance: number | null;
  length_change: number | null;
  valid: boolean | null;
  perturbed: string | null;
  failure_reason: string | null;
  perturber: string | null;
  extra_text: Record<string, string | null>;
  extra_numbers: Record<string, number | null>;
}

/** Each widget's synced traits (its model's state). */
export interface WidgetStates {
  ComparisonView: ComparisonViewState;
  AttributePicker: AttributePickerState;
  Annotator: AnnotatorState;
  SensitivitySummary: SensitivitySummaryState;
  RewriteTable: RewriteTableState;
}

/** Each widget's synced trait names, in the contract's order: what its view listens to. */
export const TRAITS = {
  ComparisonView: ["comparison", "rows", "attribute_options", "filters", "index", "page", "page_size", "n_rows", "empty", "edits_shown", "edit_attributes", "can_edit", "edit_unavailable", "edit_busy", "edit_status", "edit_error", "n_edits"],
  AttributePicker: ["attributes", "selected", "error"],
  Annotator: ["examples", "index", "annotations", "tag_options", "status"],
  SensitivitySummary: ["rows", "headers", "legend", "empty", "split_by"],
  RewriteTable: ["columns", "attribute_options", "n_rows", "page_size", "selected_row", "reselections", "data_version", "export_status", "empty", "linked_filters"],
} as const satisfies { [W in keyof WidgetStates]: ReadonlyArray<keyof WidgetStates[W]> };
