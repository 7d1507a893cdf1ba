"""The transparent demo reward model: a weighted sum of named, documented text features.

This is **not a learned model**. It exists so that the toolkit runs offline (``rmx demo``, the
tutorials, CI) and so that tests have a ground truth: because every weight is inspectable and
settable, we know exactly which attribute *should* drive its preferences, and can check that the
explanations recover it. Its phrase lists and arithmetic check come from
``rmx_widgets.core.text``, which the rule perturber uses too, so a rule that adds a hedge is seen
by the hedging feature.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

from rmx_widgets.core.data import Prompt, render_prompt
from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.base import BaseRewardModel
from rmx_widgets.core.text.arithmetic import find_arithmetic
from rmx_widgets.core.text.phrases import count_phrases
from rmx_widgets.core.text.wordlists import FOLLOW_UPS, HEDGES, PLEASANTRIES, REFUSALS

_WORD = re.compile(r"[A-Za-z0-9']+")
_SENT = re.compile(r"(?<=[.!?])\s+|\n+")
# Counted with len(findall): "[^\S\n]*" rather than "\s*" finds as many matches (a blank line
# before a marker line never changes the count) without re-scanning every blank line of a long
# run of them from each line start.
_STRUCTURE = re.compile(r"^[^\S\n]*(?:[-*+]\s|\d+[.)]\s|#{1,6}\s|```)", re.M)
_STOP = frozenset(
    {
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "about",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "me",
        "my",
        "your",
        "our",
        "their",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "why",
        "when",
        "where",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "have",
        "has",
        "had",
        "not",
        "no",
        "yes",
        "there",
        "here",
        "than",
        "too",
        "very",
        "just",
        "also",
        "into",
        "over",
        "under",
        "more",
        "most",
        "some",
        "any",
        "all",
        "each",
        "other",
        "such",
        "only",
        "own",
        "same",
        "few",
    }
)


def _has_any(text: str, phrases: Sequence[str]) -> int:
    """Whole-word, case-insensitive matches outside code, exactly as the rules match them."""
    return count_phrases(text, phrases)


def _content_words(text: str) -> set[str]:
    return {w for w in (t.lower() for t in _WORD.findall(text)) if len(w) > 3 and w not in _STOP}


#: Distinct prompts whose content words are kept (``_prompt_words``): a run scores ~18 rewrites
#: per prompt, batch by batch, so a few hundred cover every prompt in flight; 1,024 bound the
#: memory (~1,024 small word sets) however many prompts a study has.
PROMPT_WORDS_CACHE = 1024


@lru_cache(maxsize=PROMPT_WORDS_CACHE)
def _prompt_words(prompt: str) -> frozenset[str]:
    """``_content_words(prompt)``, computed once per prompt: every rewrite of a comparison is
    scored against the same prompt, and recomputing its words was ~10 % of an offline run.
    Frozen, because the cached set is shared by every caller."""
    return frozenset(_content_words(prompt))


def _sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENT.split(text)) if s]


def length(prompt: str, response: str) -> float:
    """log(1 + number of words): longer answers score higher, with diminishing returns."""
    return math.log1p(len(_WORD.findall(response)))


def hedging(prompt: str, response: str) -> float:
    """Hedge phrases ('might', 'perhaps', 'I think', …) per sentence."""
    return _has_any(response, HEDGES) / max(1, len(_sentences(response)))


def refusal(prompt: str, response: str) -> float:
    """1 if the response contains a refusal phrase ('I can't help with that', …), else 0."""
    return float(_has_any(response, REFUSALS) > 0)


def pleasantries(prompt: str, response: str) -> float:
    """Number of pleasantries ('Great question!', 'I hope this helps', …), capped at 3."""
    return float(min(3, _has_any(response, PLEASANTRIES)))


def prompt_overlap(prompt: str, response: str) -> float:
    """Fraction of the prompt's content words that the response uses (a relevance proxy)."""
    want = _prompt_words(prompt)
    return len(want & _content_words(response)) / len(want) if want else 0.0


def off_topic(prompt: str, response: str) -> float:
    """Fraction of sentences sharing no content word with the prompt (digressions)."""
    want = _prompt_words(prompt)
    sents = _sentences(response)
    if not sents or not want:
        return 0.0
    return sum(1 for s in sents if not (_content_words(s) & want)) / len(sents)


def arithmetic_errors(prompt: str, response: str) -> float:
    """Number of false 'a op b = c' statements in the response (outside code)."""
    return float(sum(not st.correct for st in find_arithmetic(response)))


def formatting(prompt: str, response: str) -> float:
    """Markdown structure (list items, headers, code fences), 0 to 1 (saturates at 5 lines)."""
    return min(5, len(_STRUCTURE.findall(response))) / 5


def follow_up(prompt: str, response: str) -> float:
    """1 if the response invites a follow-up ('Would you like me to…', 'Let me know…')."""
    return float(_has_any(response, FOLLOW_UPS) > 0)


FEATURES: dict[str, Callable[[str, str], float]] = {
    f.__name__: f
    for f in (
        length,
        hedging,
        refusal,
        pleasantries,
        prompt_overlap,
        off_topic,
        arithmetic_errors,
        formatting,
        follow_up,
    )
}

DEFAULT_WEIGHTS: dict[str, float] = {
    "length": 0.4,
    "hedging": -1.0,
    "refusal": -2.5,
    "pleasantries": 0.3,
    "prompt_overlap": 1.0,
    "off_topic": -1.0,
    "arithmetic_errors": -1.5,
    "formatting": 0.5,
    "follow_up": 0.3,
}


class TransparentRewardModel(BaseRewardModel):
    """reward = Σ weight[f] · feature_f(prompt, response); see ``FEATURES`` for each feature.

    ``weights`` may name any subset of the features (the others keep their default unless
    ``only=True``, which zeroes them — handy for ground-truth tests).

    ``identity`` (the cache key of its scores) is ``transparent:v1:<digest of the weights>``;
    with a ``name``, it is the name for the default weights and ``<name>:w<digest>`` for any
    other, so a named model whose weights change never reuses the old scores.
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        *,
        only: bool = False,
        name: str | None = None,
    ) -> None:
        base = dict.fromkeys(FEATURES, 0.0) if only else dict(DEFAULT_WEIGHTS)
        self._name = name
        self.weights = {**base, **(weights or {})}

    @property
    def weights(self) -> dict[str, float]:
        return dict(self._weights)

    @weights.setter
    def weights(self, value: Mapping[str, float]) -> None:
        unknown = set(value) - set(FEATURES)
        if unknown:
            raise RewardModelError(
                f"unknown feature(s) {sorted(unknown)}; the transparent RM "
                f"has: {', '.join(FEATURES)}."
            )
        clean = {}
        for k, v in value.items():
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise RewardModelError(f"weight for {k!r} must be a finite number, got {v!r}.")
            clean[k] = float(v)
        self._weights = {k: clean.get(k, 0.0) for k in FEATURES}
        # The weights are part of the cache key, so the identity follows every change to them:
        # a name alone is the identity only for the default weights (the keys it always had).
        digest = hashlib.sha256(json.dumps(self._weights, sort_keys=True).encode()).hexdigest()
        if self._name is None:
            self.identity = f"transparent:v1:{digest[:10]}"
        elif self._weights == DEFAULT_WEIGHTS:
            self.identity = self._name
        else:
            self.identity = f"{self._name}:w{digest[:10]}"

    def features(self, prompt: Prompt, response: str) -> dict[str, float]:
        text = render_prompt(prompt)
        return {k: f(text, response) for k, f in FEATURES.items()}

    def contributions(self, prompt: Prompt, response: str) -> dict[str, float]:
        """Each feature's share of the reward, for showing *why* a score is what it is."""
        return {k: self._weights[k] * v for k, v in self.features(prompt, response).items()}

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        if len(prompts) != len(responses):
            raise RewardModelError(f"got {len(prompts)} prompts for {len(responses)} responses.")
        return [sum(self.contributions(p, r).values()) for p, r in zip(prompts, responses)]

    def __repr__(self) -> str:
        nz = {k: v for k, v in self._weights.items() if v}
        return f"TransparentRewardModel(weights={nz})"
