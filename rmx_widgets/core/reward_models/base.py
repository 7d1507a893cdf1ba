"""The reward-model protocol: score a batch of (prompt, response) pairs.

Every RM is used through ``checked_scores`` so that a model or user function returning the
wrong number of scores, NaN or infinity fails loudly with a typed error before a bad number can
be mistaken for a preference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from rmx_widgets.core.data import Prompt
from rmx_widgets.core.errors import RewardModelError


@runtime_checkable
class RewardModel(Protocol):
    identity: str

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]: ...


class BaseRewardModel:
    identity: str = "base"

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        raise RewardModelError(f"{type(self).__name__} must implement score")

    def __call__(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        return self.score(prompts, responses)


class CallableRewardModel(BaseRewardModel):
    """Wraps ``fn(prompts, responses) -> list[float]``; name it (with a version) so caches of
    different functions do not mix."""

    def __init__(self, fn: Callable[[list, list], Sequence[float]], name: str | None = None):
        if not callable(fn):
            raise RewardModelError(f"{fn!r} is not callable")
        self.fn = fn
        self.identity = name or f"callable:{getattr(fn, '__module__', '?')}." \
                                f"{getattr(fn, '__qualname__', type(fn).__name__)}"

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        return list(self.fn(list(prompts), list(responses)))


def as_reward_model(obj: Any) -> RewardModel:
    if isinstance(obj, RewardModel):
        return obj
    if callable(obj):
        return CallableRewardModel(obj)
    raise RewardModelError(f"{obj!r} is neither a reward model nor a callable "
                           "fn(prompts, responses) -> list[float].")


def checked_scores(rm: RewardModel, prompts: Sequence[Prompt], responses: Sequence[str]
                   ) -> list[float]:
    scores = rm.score(prompts, responses)
    try:
        scores = [float(s) for s in scores]
    except (TypeError, ValueError) as e:
        raise RewardModelError(f"reward model {rm.identity} returned non-numeric scores: {e}"
                               ) from None
    if len(scores) != len(responses):
        raise RewardModelError(
            f"reward model {rm.identity} returned {len(scores)} scores for {len(responses)} "
            "responses; it must return exactly one score per (prompt, response).")
    bad = [i for i, s in enumerate(scores) if not math.isfinite(s)]
    if bad:
        raise RewardModelError(
            f"reward model {rm.identity} returned a non-finite score ({scores[bad[0]]}) for "
            f"response {bad[0]} of the batch ({responses[bad[0]][:60]!r}); check the model's "
            "dtype (fp16 overflow?) and its input.")
    return scores
