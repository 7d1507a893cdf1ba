"""Rewrites whose validity is known by construction, for measuring a judge's agreement.

A judge is only worth its verdicts if they agree with the truth where the truth is known.
``planted_rewrites(comparisons)`` builds, for every comparison and every attribute the rule
perturber supports (``worse`` on the chosen response, ``better`` on the rejected one; without
a human preference, response a counts as chosen), up to four judge requests:

- ``rule``: the rule perturber's rewrite for that attribute and direction. Truth: valid (the
  rule changes exactly its documented feature).
- ``opposite``: the rule perturber's rewrite for the *opposite* direction, presented as the
  asked one. Truth: invalid (the attribute moved the wrong way).
- ``one-word``: the original with one word replaced (its longest word that belongs to no phrase
  list, the first of the longest, by ``ONE_WORD_REPLACEMENT``). Truth: invalid (nothing moved).
- ``random``: a ``RandomWordPerturber`` edit (15 % of the words, seed 0). Truth: invalid (an
  attribute-blind edit).

A rule or random perturbation that fails (nothing to act on) contributes no request; the
``one-word`` edit needs a word of four or more letters. Everything is deterministic.

``agreement(planted, verdicts)`` tallies a judge's verdicts against the truth per attribute
(or per kind) and overall: ``n`` requests, ``undecided`` (verdict None, never counted as
right or wrong), ``judged``, ``agreement`` = matches / judged (NaN when nothing was judged:
not measured), ``false_valid`` (judged valid, truly invalid) and ``false_invalid``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.errors import OptionError
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.random_words import RandomWordPerturber
from rmx_widgets.core.perturbers.rules import SUPPORTED_ATTRIBUTES, RulePerturber
from rmx_widgets.core.text.wordlists import FOLLOW_UPS, HEDGES, PLEASANTRIES, REFUSALS
from rmx_widgets.core.validity.base import JudgeRequest, Verdict

KINDS = ("rule", "opposite", "one-word", "random")
ONE_WORD_REPLACEMENT = "example"
_PHRASE_WORDS = frozenset(
    w for p in (*HEDGES, *REFUSALS, *PLEASANTRIES, *FOLLOW_UPS) for w in re.findall(r"[a-z']+", p)
)
_WORD = re.compile(r"(?<![\w'’`-])[A-Za-z]{4,}(?![\w'’`-])")


@dataclass(frozen=True)
class PlantedRewrite:
    """One request to judge, the truth about it and how it was made (one of ``KINDS``)."""

    request: JudgeRequest
    truth: bool
    kind: str
    comparison_id: str


def one_word_edit(text: str) -> str | None:
    """``text`` with its longest plain word (four letters or more, in no phrase list, outside
    inline code) replaced by ``ONE_WORD_REPLACEMENT``; None when it has no such word."""
    best = None
    for m in _WORD.finditer(text):
        w = m.group(0)
        if w.lower() in _PHRASE_WORDS or w.lower() == ONE_WORD_REPLACEMENT:
            continue
        if "`" in text[: m.start()].rsplit("\n", 1)[-1]:
            continue  # maybe inside inline code: leave it
        if best is None or len(w) > len(best.group(0)):
            best = m
    if best is None:
        return None
    return text[: best.start()] + ONE_WORD_REPLACEMENT + text[best.end() :]


def planted_rewrites(
    comparisons: Iterable[Comparison], attributes: Sequence[str] = SUPPORTED_ATTRIBUTES
) -> list[PlantedRewrite]:
    """The planted requests for ``comparisons`` (see the module docstring), in data order."""
    rules = RulePerturber()
    random_words = RandomWordPerturber(fraction=0.15, seed=0)
    out: list[PlantedRewrite] = []
    for comp in comparisons:
        for name in attributes:
            attr = get_attribute(name)
            chosen, rejected = comp.response_a, comp.response_b
            if comp.human_preferred == "b":
                chosen, rejected = rejected, chosen
            for direction, original in (("worse", chosen), ("better", rejected)):
                opposite = "better" if direction == "worse" else "worse"
                ask = PerturbationRequest(comp.prompt, original, attr, direction)
                made = {
                    "rule": rules.perturb(ask).text,
                    "opposite": rules.perturb(
                        PerturbationRequest(comp.prompt, original, attr, opposite)
                    ).text,
                    "one-word": one_word_edit(original),
                    "random": random_words.perturb(ask).text,
                }
                for kind in KINDS:
                    text = made[kind]
                    if text is None or text == original:
                        continue
                    req = JudgeRequest(comp.prompt, original, text, attr, direction)
                    out.append(PlantedRewrite(req, kind == "rule", kind, comp.id))
    return out


AGREEMENT_COLUMNS = (
    "group",
    "n",
    "undecided",
    "judged",
    "agreement",
    "false_valid",
    "false_invalid",
)


def agreement(
    planted: Sequence[PlantedRewrite], verdicts: Sequence[Verdict], by: str = "attribute"
) -> list[dict[str, Any]]:
    """One row per attribute (``by="attribute"``) or kind (``by="kind"``), in order of first
    appearance, then ``"all"``; columns ``AGREEMENT_COLUMNS`` (see the module docstring)."""
    if by not in ("attribute", "kind"):
        raise OptionError(f"by must be 'attribute' or 'kind', got {by!r}.")
    if len(planted) != len(verdicts):
        raise OptionError(f"{len(verdicts)} verdicts for {len(planted)} planted rewrites.")
    groups: dict[str, list[tuple[PlantedRewrite, Verdict]]] = {}
    for p, v in zip(planted, verdicts):
        key = p.request.attribute.name if by == "attribute" else p.kind
        groups.setdefault(key, []).append((p, v))
    groups["all"] = list(zip(planted, verdicts))
    rows = []
    for key, pairs in groups.items():
        judged = [(p, v) for p, v in pairs if v.valid is not None]
        matches = sum(v.valid is p.truth for p, v in judged)
        rows.append(
            {
                "group": key,
                "n": len(pairs),
                "undecided": len(pairs) - len(judged),
                "judged": len(judged),
                "agreement": matches / len(judged) if judged else math.nan,
                "false_valid": sum(v.valid is True and not p.truth for p, v in judged),
                "false_invalid": sum(v.valid is False and p.truth for p, v in judged),
            }
        )
    return rows


__all__ = [
    "AGREEMENT_COLUMNS",
    "KINDS",
    "ONE_WORD_REPLACEMENT",
    "PlantedRewrite",
    "agreement",
    "one_word_edit",
    "planted_rewrites",
]
