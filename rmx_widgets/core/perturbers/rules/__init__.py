"""Offline, deterministic rule perturbations: explanations without an LLM.

``RulePerturber`` rewrites a response along one attribute with hand-written, inspectable rules.
It needs no network, no GPU and no API key, so the demo, the tutorials and the test suite can
run the whole pipeline anywhere, and every rewrite can be explained by reading its rule. The
price is coverage: a rule only fires when the response has something it can act on, and when it
has nothing it says so with a specific failure reason instead of returning the text unchanged.

Rules (``worse`` rewrites a chosen response, ``better`` a rejected one):

- **verbosity** — worse: add a generic padding sentence at the start and restate one content
  sentence right after itself ("To restate the key point: ..."). better: cut filler sentences,
  restatements whose content words already appear elsewhere, and near-duplicate sentences.
- **assertiveness** — worse: hedge every other plain sentence (up to three): "probably",
  "perhaps" or "possibly" after its first auxiliary ("is" → "is probably"), else a trailing
  ", I think" / ", I believe". better: remove hedges ("I
  think", "perhaps", "probably", "it seems", "I'm not sure, but", ...), turn "might be" /
  "may be" / "could be" into "is"/"are" and "might" into "will".
- **avoid-to-answer** — worse: replace the response with a refusal ("I'm sorry, but I can't
  help with that."). better: delete refusal sentences, keep the clause after a "but" in a
  refusal sentence, drop a dangling "However,"/"That said," and fail if no answer remains.
- **manner** — worse: delete greetings, thanks and pleasantry sentences ("Great question!",
  "I hope this helps!") and pleasantry prefixes ("Thanks for asking, ..."). Stock praise of the
  question is treated as a pleasantry because the manner definition covers it (warmth, social
  register); there is no separate sycophancy rule, since no default attribute defines one.
  better: add a greeting and a courteous close where missing.
- **coherence** — worse: a seeded, non-identity permutation of the sentences (among sentence
  slots) and of the items of each list (markers stay in place). better: reorder sentences that
  start with discourse markers (First, Second, Next/Then, Finally) into marker order; fails
  when there are fewer than two such sentences or they are already in order.
- **relevance** — worse: splice a true but off-topic sentence ("On an unrelated note, ...")
  into the middle of the response, chosen so it shares no content word with prompt or
  response. better: remove sentences that open with a digression marker ("By the way",
  "Incidentally", "Fun fact", ...) and share no content word with the prompt (word overlap
  alone is too weak: short on-topic steps often share no word with the question).
- **correctness** — worse: make one claim false, in this order of preference: change the result
  of an "a op b = c" statement, swap a fact from a small table (Paris → Lyon, 100 degrees → 90
  degrees, ...), or change a number. better: recompute wrong "a op b = c" statements and fix
  wrong capital cities and boiling/freezing points of water.
- **engagement** — worse: remove follow-up invitations ("Let me know if ...", "Would you like
  ...") and questions to the user. better: append "Would you like me to go into more detail?"
  unless the response already invites follow-up.
- **clarity** — worse: flatten a markdown list into one run-on sentence. better: turn sentences
  enumerated with First/Then/Finally into a numbered list, or an inline "x: a, b, and c"
  enumeration into a bulleted list.

Other attributes (helpfulness, complexity, informativeness, harmlessness, sensitivity,
neutrality and user-defined ones) are not supported: there is no honest surface rule for them.

Every rule leaves fenced code blocks and inline code untouched. Randomness (which sentence,
which permutation, which stock phrase) comes from a ``random.Random`` seeded with a SHA-256 of
the response, the attribute and the direction, so the same request always gives the same text.

Layout: ``perturber`` holds ``RulePerturber`` and its registry; each attribute's two rules live
in a module of that name (``verbosity``, ``assertiveness``, ``avoid_to_answer``, ``manner``,
``coherence``, ``relevance``, ``correctness``, ``engagement``, ``clarity``); ``stock`` loads
the sentences they insert and the facts they know (``stock.json``). The phrase lists
(``HEDGES``, ``REFUSALS``, ``PLEASANTRIES``, ``FOLLOW_UPS``) and the markdown parser live in
``rmx_widgets.core.text``, shared with the transparent reward model, so that it counts exactly
what these rules add and remove. The names below are re-exported for callers of this package.
"""

from rmx_widgets.core.perturbers.rules.common import Rule
from rmx_widgets.core.perturbers.rules.perturber import SUPPORTED_ATTRIBUTES, RulePerturber
from rmx_widgets.core.perturbers.rules.stock import (
    CAPITALS,
    CLOSINGS,
    DISCOURSE_MARKERS,
    FACT_SWAPS,
    FOLLOW_UP_QUESTION,
    GREETINGS,
    OFF_TOPIC_SENTENCES,
    PADDING_SENTENCES,
    REFUSAL_RESPONSES,
    RESTATEMENT_PREFIX,
)
from rmx_widgets.core.text.arithmetic import ArithmeticStatement, find_arithmetic
from rmx_widgets.core.text.markdown import split_sentences
from rmx_widgets.core.text.phrases import count_phrases
from rmx_widgets.core.text.wordlists import (
    FOLLOW_UPS,
    HEDGES,
    PLEASANTRIES,
    PLEASANTRY_INTERJECTIONS,
    REFUSALS,
    STOPWORDS,
)

__all__ = [
    "CAPITALS",
    "CLOSINGS",
    "DISCOURSE_MARKERS",
    "FACT_SWAPS",
    "FOLLOW_UPS",
    "FOLLOW_UP_QUESTION",
    "GREETINGS",
    "HEDGES",
    "OFF_TOPIC_SENTENCES",
    "PADDING_SENTENCES",
    "PLEASANTRIES",
    "PLEASANTRY_INTERJECTIONS",
    "REFUSALS",
    "REFUSAL_RESPONSES",
    "RESTATEMENT_PREFIX",
    "STOPWORDS",
    "SUPPORTED_ATTRIBUTES",
    "ArithmeticStatement",
    "Rule",
    "RulePerturber",
    "count_phrases",
    "find_arithmetic",
    "split_sentences",
]
