"""What the rules insert and the facts they know, as data (``stock.json``).

Which stock sentence a rule picks comes from the request's seeded ``random.Random``, by index,
so reordering or editing these lists changes cached rewrites: bump ``RulePerturber.identity``.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

_DATA: dict[str, Any] = json.loads(
    files("rmx_widgets.core.perturbers.rules").joinpath("stock.json").read_text(encoding="utf-8")
)

#: engagement (better) appends this to a response that invites no follow-up.
FOLLOW_UP_QUESTION: str = _DATA["follow_up_question"]
#: avoid-to-answer (worse) replaces the response with one of these.
REFUSAL_RESPONSES: tuple[str, ...] = tuple(_DATA["refusal_responses"])
#: manner (better) opens with one of these and closes with one of ``CLOSINGS``.
GREETINGS: tuple[str, ...] = tuple(_DATA["greetings"])
CLOSINGS: tuple[str, ...] = tuple(_DATA["closings"])
#: verbosity (worse) adds one of these at the start and restates a sentence after this prefix.
PADDING_SENTENCES: tuple[str, ...] = tuple(_DATA["padding_sentences"])
RESTATEMENT_PREFIX: str = _DATA["restatement_prefix"]
#: relevance (worse) splices in one that shares no content word with prompt or response.
OFF_TOPIC_SENTENCES: tuple[str, ...] = tuple(_DATA["off_topic_sentences"])
#: Discourse markers that announce a position in a sequence, with their rank.
DISCOURSE_MARKERS: dict[str, int] = dict(_DATA["discourse_markers"])
#: Named facts the correctness rule may falsify: (correct, wrong), matched as whole words.
FACT_SWAPS: tuple[tuple[str, str], ...] = tuple((a, b) for a, b in _DATA["fact_swaps"])
#: Capital cities the correctness rule can check ("The capital of X is Y", "Y is the capital of X").
CAPITALS: dict[str, str] = dict(_DATA["capitals"])
#: Other spellings of a capital that count as right ("Brasilia" for "Brasília").
CAPITAL_ALIASES: dict[str, str] = dict(_DATA["capital_aliases"])
