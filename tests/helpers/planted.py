"""The planted ground truth shared by the study's tests: transparent RMs whose weights we set.

Each rule attribute below moves one transparent feature: pleasantries (manner), follow-up
invitations (engagement), hedges (assertiveness), off-topic sentences (relevance). PLANTED
weights them a factor of three apart in that order, REVERSED flips the order, and a little
length weight gives every comparison a margin to overcome. On the sample data with the rule
perturber the study must recover the planted order (tests/core/study/test_evaluate.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from rmx_widgets.core.data import Comparison, Prompt, render_prompt
from rmx_widgets.core.reward_models.base import BaseRewardModel
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel
from rmx_widgets.core.text.phrases import is_refusal

PLANTED_ORDER = ["manner", "engagement", "assertiveness", "relevance"]
PLANTED_WEIGHTS = [13.5, 4.5, 1.5, 0.5]  # |weight| of each attribute's feature, in that order
PLANTED = {
    "pleasantries": 13.5,
    "follow_up": 4.5,
    "hedging": -1.5,
    "off_topic": -0.5,
    "length": 0.4,
}
REVERSED = {
    "pleasantries": 0.5,
    "follow_up": 1.5,
    "hedging": -4.5,
    "off_topic": -13.5,
    "length": 0.4,
}


def planted_rms(copy_name: str = "copy") -> dict[str, TransparentRewardModel]:
    """planted, a same-weights copy (τ with planted must be 1) and reversed (τ negative)."""
    return {
        "planted": TransparentRewardModel(PLANTED, only=True),
        copy_name: TransparentRewardModel(PLANTED, only=True, name="planted-copy"),
        "reversed": TransparentRewardModel(REVERSED, only=True),
    }


# -- null-test ground truth (tests/core/test_null_test.py, bench/null_calibration.py) ---------


def _unit(*parts: str) -> float:
    """A pseudo-random number in [0, 1) from a SHA-256 of ``parts``: fixed per text, unrelated
    between texts."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class AnyChangeRM(BaseRewardModel):
    """An RM that reacts to *any* edit and to no attribute: the null test's true negative.

    An original response of ``comparisons`` scores u(salt, prompt, text), uniform in [0, 1).
    Every other text (a rewrite, targeted or random) scores u(salt, "edit", prompt, text) − 0.25:
    a fresh pseudo-random draw from a hash of the text, 0.25 lower on average. Within one
    comparison and direction every edit therefore flips the preference with the same
    probability (worse: P(u − 0.25 < reward of the rejected one); better: P(u − 0.25 > reward
    of the chosen one)), whatever attribute it targets. The prompt is hashed with the text so
    that a stock sentence reused across comparisons gets unrelated rewards in each.
    """

    def __init__(self, comparisons: Iterable[Comparison], salt: int = 0) -> None:
        self.salt = str(salt)
        self.identity = f"planted-any-change:v1:s{salt}"
        self.originals = {
            (c.prompt_text, text) for c in comparisons for text in (c.response_a, c.response_b)
        }

    def reward(self, prompt: str, text: str) -> float:
        if (prompt, text) in self.originals:
            return _unit(self.salt, prompt, text)
        return _unit(self.salt, "edit", prompt, text) - 0.25

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        return [self.reward(render_prompt(p), r) for p, r in zip(prompts, responses)]


class RefusalPenaltyRM(AnyChangeRM):
    """``AnyChangeRM`` plus a planted effect: a response with a refusal phrase (what the
    avoid-to-answer rule's "worse" rewrite inserts) loses ``penalty``. Only avoid-to-answer's
    rows should come out significant against a random-word null."""

    def __init__(self, comparisons: Iterable[Comparison], salt: int = 0, penalty: float = 2.0):
        super().__init__(comparisons, salt)
        self.penalty = penalty
        self.identity = f"planted-refusal-penalty:v1:s{salt}:p{penalty:g}"

    def reward(self, prompt: str, text: str) -> float:
        return super().reward(prompt, text) - (self.penalty if is_refusal(text) else 0.0)
