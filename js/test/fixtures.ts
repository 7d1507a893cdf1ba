export function row(over: Record<string, unknown> = {}) {
  return {
    row_id: "r1",
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
    ...over,
  };
}

export function comparison(over: Record<string, unknown> = {}) {
  return {
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
    ...over,
  };
}

export function cvState(over: Record<string, unknown> = {}) {
  return {
    comparison: comparison(),
    rows: [
      row(),
      row({ row_id: "r2", side: "rejected", attribute: "length", direction: "better", outcome: "SF", perturbed: "42, definitely." }),
      row({ row_id: "r3", attribute: "tone", outcome: "failed", perturbed: null, reward_perturbed: null, margin_after: null, failure_reason: "rewriter returned empty text" }),
    ],
    attribute_options: ["politeness", "length", "tone"],
    filters: { attribute: "", side: "all", outcome: "all" },
    index: 0,
    page: 0,
    page_size: 20,
    n_rows: 3,
    ...over,
  };
}

export function example(over: Record<string, unknown> = {}) {
  return {
    comparison_id: "c1",
    kind: "representative",
    score: 0.8,
    prompt: "What is the answer?",
    response_chosen: "The answer is 42.",
    response_rejected: "No idea.",
    rows: [row(), row({ row_id: "r2", outcome: "SF", perturbed: "The answer is 42!" })],
    ...over,
  };
}

export function annState(over: Record<string, unknown> = {}) {
  return {
    examples: [example(), example({ comparison_id: "c2", kind: "contrasting", prompt: "Second prompt" })],
    index: 0,
    annotations: {},
    tag_options: ["expected", "surprising", "RM bug"],
    status: "",
    ...over,
  };
}

export function apState(over: Record<string, unknown> = {}) {
  return {
    attributes: [
      { name: "politeness", definition: "Courteous and respectful wording.", custom: false },
      { name: "length", definition: "How long the response is.", custom: false },
      { name: "humor", definition: "Jokes.", custom: true },
    ],
    selected: ["politeness"],
    error: "",
    ...over,
  };
}
