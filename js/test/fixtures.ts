/**
 * Model states for the widget tests. Each base record is typed with the contract's types
 * (src/lib/contract.ts), so a fixture that leaves the contract fails the typecheck, and
 * test/contract.test.ts compares their keys with src/contract.json. The builders take loose
 * overrides on purpose: the hostile tests send what the contract forbids.
 */
import type {
  AnnotatorState,
  AttributePickerState,
  ComparisonViewState,
  Example,
  Row,
  SensitivitySummaryState,
  ShownComparison,
  SummaryRow,
} from "../src/lib/contract";

type Over = Record<string, unknown>;

export const ROW: Row = {
  row_id: 1,
  side: "chosen",
  attribute: "politeness",
  direction: "worse",
  original: "Thank you for asking. The answer is 42.",
  perturbed: "Ugh. The answer is 42.",
  reward_original: 1.25,
  reward_perturbed: -0.5,
  reward_other: 0.1,
  margin_before: 1.15,
  margin_after: -0.6,
  outcome: "CF",
  failure_reason: null,
};

export const COMPARISON: ShownComparison = {
  id: "c1",
  index: 0,
  total: 3,
  prompt_turns: [
    { role: "user", content: "What is the answer?" },
    { role: "assistant", content: "Which one?" },
    { role: "user", content: "The big one." },
  ],
  response_a: "Thank you for asking. The answer is 42.",
  response_b: "42",
  reward_a: 1.25,
  reward_b: 0.1,
  preferred: "a",
  margin: 1.15,
  tie: false,
  human_preferred: "b",
};

export const CV_STATE: ComparisonViewState = {
  comparison: COMPARISON,
  rows: [
    ROW,
    { ...ROW, row_id: 2, side: "rejected", attribute: "length", direction: "better", outcome: "SF", perturbed: "42, definitely." },
    {
      ...ROW,
      row_id: 3,
      attribute: "tone",
      outcome: "failed",
      perturbed: null,
      reward_perturbed: null,
      margin_after: null,
      failure_reason: "rewriter returned empty text",
    },
  ],
  attribute_options: ["politeness", "length", "tone"],
  filters: { attribute: "", side: "all", outcome: "all" },
  index: 0,
  page: 0,
  page_size: 20,
  n_rows: 3,
  empty: "",
  edits_shown: [],
  edit_attributes: ["politeness", "length", "tone"],
  can_edit: true,
  edit_unavailable: "",
  edit_busy: false,
  edit_status: "",
  edit_error: "",
  n_edits: 0,
};

export const EXAMPLE: Example = {
  comparison_id: "c1",
  kind: "representative",
  score: 0.8,
  prompt: "What is the answer?",
  response_chosen: "The answer is 42.",
  response_rejected: "No idea.",
  rows: [ROW, { ...ROW, row_id: 2, outcome: "SF", perturbed: "The answer is 42!" }],
  rm_preferred: "a",
  human_preferred: "b",
  rm_agrees_with_human: false,
  reward_chosen: 1.25,
  reward_rejected: 0.1,
  margin: 1.15,
};

export const ANN_STATE: AnnotatorState = {
  examples: [EXAMPLE, { ...EXAMPLE, comparison_id: "c2", kind: "contrasting", prompt: "Second prompt" }],
  index: 0,
  annotations: {},
  tag_options: ["expected", "surprising", "RM bug"],
  status: "",
};

export const AP_STATE: AttributePickerState = {
  attributes: [
    { name: "politeness", definition: "Courteous and respectful wording.", custom: false },
    { name: "length", definition: "How long the response is.", custom: false },
    { name: "humor", definition: "Jokes.", custom: true },
  ],
  selected: ["politeness"],
  error: "",
};

/** What Python's SensitivitySummary sends for tests/helpers/sens_frames.py (with a null run). */
export const SUMMARY_ROW: SummaryRow = {
  attribute: "tone",
  reading: "ok",
  split_value: null,
  cells: [
    "40",
    "10/50 (0.20)",
    "20",
    "20",
    "0.50 [0.35, 0.65]",
    "0.10 (n=40)",
    "+0.40 [+0.20, +0.60]",
    "0.001",
    "*",
    "no length data",
  ],
};

export const SS_STATE: SensitivitySummaryState = {
  rows: [
    SUMMARY_ROW,
    {
      attribute: "length",
      reading: "too few",
      split_value: null,
      cells: [
        "9 (too few)",
        "1/10 (0.10)",
        "1",
        "8",
        "0.11 [0.02, 0.43]",
        "0.11 (n=9)",
        "0.00 [-0.30, +0.30]",
        "1.000",
        "n.s.",
        "no length data",
      ],
    },
    {
      attribute: "<b>x</b>&<script>",
      reading: "not measured",
      split_value: null,
      cells: ["0", "5/5 (1.00)", "0", "0", "not measured", "0.20 (n=10)", "–", "–", "not tested", "no length data"],
    },
  ],
  headers: [
    "attribute",
    "n",
    "failed",
    "CF",
    "SF",
    "PFR [interval]",
    "null PFR",
    "excess [interval]",
    "p (Holm)",
    "significant",
    "length-controlled PFR",
  ],
  legend: "n = successful rewrites; … * = significant at α = 0.05 after Holm …",
  empty: "No results yet: press Run.",
  split_by: "",
};

export const row = (over: Over = {}) => ({ ...structuredClone(ROW), ...over });
export const comparison = (over: Over = {}) => ({ ...structuredClone(COMPARISON), ...over });
export const cvState = (over: Over = {}) => ({ ...structuredClone(CV_STATE), ...over });
export const example = (over: Over = {}) => ({ ...structuredClone(EXAMPLE), ...over });
export const annState = (over: Over = {}) => ({ ...structuredClone(ANN_STATE), ...over });
export const apState = (over: Over = {}) => ({ ...structuredClone(AP_STATE), ...over });
export const ssState = (over: Over = {}) => ({ ...structuredClone(SS_STATE), ...over });
