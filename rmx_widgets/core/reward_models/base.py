"""The reward-model protocol: score a batch of (prompt, response) pairs.

Every RM is used through ``checked_scores`` so that a model or user function returning the
wrong number of scores, NaN or infinity fails loudly with a typed error before a bad number can
be mistaken for a preference.

An RM also says which inputs it had to truncate to fit its maximum length: ``last_truncated``,
the indices, within its last ``score`` call, of the inputs it cut (``HFRewardModel`` fills it;
models that never truncate leave it empty). A truncated input's reward is the reward of *part*
of the text, so the Explainer flags every row that used one (``truncated`` column) instead of
hiding it.

``as_reward_model`` turns whatever the user passes (a ``BaseRewardModel``, a bare function, or a
foreign object with just ``identity`` and ``score``) into an object with the whole declared
surface of ``RewardModel``, so no caller has to probe for a capability.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from rmx_widgets.core.data import Prompt
from rmx_widgets.core.errors import RewardModelError


@runtime_checkable
class RewardModel(Protocol):
    """What every reward model the engine uses declares (``BaseRewardModel`` has it all).

    ``identity`` is part of every cache key (name it with a version); ``last_truncated``,
    ``why_unavailable()`` and ``stats`` are described on ``BaseRewardModel``.
    """

    identity: str

    @property
    def last_truncated(self) -> Sequence[int]: ...

    @property
    def stats(self) -> Mapping[str, int]: ...

    def why_unavailable(self) -> str | None: ...

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]: ...


@runtime_checkable
class BareRewardModel(Protocol):
    """The least an object must have to be used as a reward model: ``identity`` and ``score``
    (``as_reward_model`` declares the rest for it, see ``ProtocolRewardModel``)."""

    identity: str

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]: ...


class BaseRewardModel:
    """Reward models subclass this and implement ``score``.

    Declared capabilities (typed, so callers ask instead of probing):

    * ``last_truncated``: indices, within the last ``score`` call, of the inputs the model cut
      to its maximum length (empty for models that never truncate); the Explainer flags every
      row whose reward used one.
    * ``why_unavailable()``: ``None`` when the model can score here now, else the reason.
    * ``stats``: cumulative counters (forward passes, tokens …) for benchmarks and summaries.
    """

    identity: str = "base"
    #: a fresh list is assigned by models that truncate; the shared default is never mutated
    last_truncated: Sequence[int] = ()
    stats: Mapping[str, int] = MappingProxyType({})

    def why_unavailable(self) -> str | None:
        return None

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
        self.identity = (
            name
            or f"callable:{getattr(fn, '__module__', '?')}."
            f"{getattr(fn, '__qualname__', type(fn).__name__)}"
        )

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        scores = self.fn(list(prompts), list(responses))
        _require_sequence(self, scores, len(responses))
        return list(scores)


class ProtocolRewardModel(BaseRewardModel):
    """A foreign object with only ``identity`` and ``score`` (``BareRewardModel``), given the
    defaults of everything else: always available, no counters, nothing truncated (it cannot
    say, so its rows are never flagged)."""

    def __init__(self, model: BareRewardModel) -> None:
        self.model = model
        self.identity = model.identity

    def __repr__(self) -> str:
        return f"ProtocolRewardModel({self.model!r})"

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        return self.model.score(prompts, responses)


def as_reward_model(obj: Any) -> RewardModel:
    """``obj`` as a ``RewardModel`` with every capability declared: a reward model as it is, a
    ``BareRewardModel`` wrapped in ``ProtocolRewardModel``, a callable in ``CallableRewardModel``.
    """
    if isinstance(obj, RewardModel):
        return obj
    if isinstance(obj, BareRewardModel):
        return ProtocolRewardModel(obj)
    if callable(obj):
        return CallableRewardModel(obj)
    raise RewardModelError(
        f"{obj!r} is neither a reward model (identity + score) nor a "
        "callable fn(prompts, responses) -> list[float]."
    )


def _require_sequence(rm: RewardModel, scores: Any, n: int) -> None:
    if (
        scores is None
        or isinstance(scores, (str, bytes, int, float))
        or not hasattr(scores, "__iter__")
    ):
        raise RewardModelError(
            f"reward model {rm.identity} returned {type(scores).__name__} "
            f"({str(scores)[:40]!r}), not a list of scores; it must return one float per "
            f"(prompt, response), here {n}."
        )


def checked_scores(
    rm: RewardModel, prompts: Sequence[Prompt], responses: Sequence[str]
) -> list[float]:
    """``rm.score`` with its output checked: one finite float per input, or ``RewardModelError``."""
    scores = rm.score(prompts, responses)
    _require_sequence(rm, scores, len(responses))
    try:
        scores = [float(s) for s in scores]
    except (TypeError, ValueError) as e:
        raise RewardModelError(
            f"reward model {rm.identity} returned non-numeric scores: {e}"
        ) from None
    if len(scores) != len(responses):
        raise RewardModelError(
            f"reward model {rm.identity} returned {len(scores)} scores for {len(responses)} "
            "responses; it must return exactly one score per (prompt, response)."
        )
    bad = [i for i, s in enumerate(scores) if not math.isfinite(s)]
    if bad:
        raise RewardModelError(
            f"reward model {rm.identity} returned a non-finite score ({scores[bad[0]]}) for "
            f"response {bad[0]} of the batch ({responses[bad[0]][:60]!r}); check the model's "
            "dtype (fp16 overflow?) and its input."
        )
    return scores


def truncated_indices(rm: RewardModel, n: int) -> list[int]:
    """The distinct indices (within the last call of ``n`` inputs) that ``rm`` declared as
    truncated, sorted; indices outside the call are dropped, because a wrong report must never
    break scoring."""
    return sorted({int(i) for i in rm.last_truncated if 0 <= int(i) < n})
