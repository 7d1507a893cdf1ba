"""The reward-model protocol: score a batch of (prompt, response) pairs.

Every RM is used through ``checked_scores`` so that a model or user function returning the
wrong number of scores, NaN or infinity fails loudly with a typed error before a bad number can
be mistaken for a preference.

An RM also says which inputs it had to truncate to fit its maximum length: ``last_truncated``,
the indices, within its last ``score`` call, of the inputs it cut (``HFRewardModel`` fills it;
models that never truncate leave it empty). A truncated input's reward is the reward of *part*
of the text, so the Explainer flags every row that used one (``truncated`` column) instead of
hiding it.

A pairwise judge (``PairwiseJudge``: ``prefer(prompts, a, b)`` -> P(a beats b)) declares a
comparison instead of a score; its protocol lives here beside the scalar one so that
``as_reward_model`` can give a foreign judge its surface, and the judge itself, its checks and
its arithmetic are in ``reward_models.pairwise``.

``as_reward_model`` turns whatever the user passes (a ``BaseRewardModel``, a bare function, or a
foreign object with just ``identity`` and ``score``) into an object with the whole declared
surface of ``RewardModel``, so no caller has to probe for a capability.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from rmx_widgets.core.code_identity import callable_identity
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
    """Wraps ``fn(prompts, responses) -> list[float]``.

    ``name`` (with a version) is the identity, the cache key of the scores: change it whenever
    the function changes. Without one, the identity is ``callable:<module>.<qualname>:<digest>``
    of the function's code, defaults, closure and the globals it names
    (``core.code_identity``), so two lambdas or two closures with different weights never
    share cached scores; a function capturing something that cannot be fingerprinted (a torch
    module, a client) raises ``RewardModelError`` asking for ``name=``.
    """

    def __init__(self, fn: Callable[[list, list], Sequence[float]], name: str | None = None):
        if not callable(fn):
            raise RewardModelError(f"{fn!r} is not callable")
        self.fn = fn
        self.identity = name or callable_identity(fn, kind="reward model", error=RewardModelError)

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        scores = self.fn(list(prompts), list(responses))
        _require_sequence(self, scores, len(responses))
        return scores.tolist() if hasattr(scores, "tolist") else list(scores)


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


@dataclass(frozen=True)
class ObjectiveScores:
    """What a multi-objective RM returns for a batch: ``combined``, the one reward the
    preference is explained with, and ``objectives``, each objective's own reward, by name, in
    objective order (one list per objective, one float per input)."""

    combined: list[float]
    objectives: dict[str, list[float]]


@runtime_checkable
class MultiObjectiveRewardModel(Protocol):
    """A reward model with several objective heads (ArmoRM-style): ``objectives`` names them,
    ``score_objectives`` returns every objective's reward beside the combined one in one pass,
    so the Explainer can say which objectives an attribute moves without scoring twice.
    ``score`` returns the combined reward (the model is a ``RewardModel`` too)."""

    identity: str

    @property
    def objectives(self) -> Sequence[str]: ...

    def score_objectives(
        self, prompts: Sequence[Prompt], responses: Sequence[str]
    ) -> ObjectiveScores: ...


def objective_identity(identity: str, objective: str) -> str:
    """The cache identity of one objective's reward of the RM ``identity``: its scores are
    stored and keyed like the RM's own (``core.cached``), under this identity."""
    return f"{identity}#objective={objective}"


@runtime_checkable
class PairwiseJudge(Protocol):
    """What a pairwise judge declares: an ``identity`` (part of every cache key: name it with
    a version) and ``prefer``, one P(a ≻ b) in [0, 1] per (prompt, a, b)."""

    identity: str

    def prefer(
        self,
        prompts: Sequence[Prompt],
        responses_a: Sequence[str],
        responses_b: Sequence[str],
    ) -> list[float]: ...


class BasePairwiseJudge(BaseRewardModel):
    """Pairwise judges subclass this and implement ``prefer``; ``score`` refuses (a judge that
    compares has no reward for one response)."""

    identity: str = "pairwise"

    def prefer(
        self,
        prompts: Sequence[Prompt],
        responses_a: Sequence[str],
        responses_b: Sequence[str],
    ) -> list[float]:
        raise RewardModelError(f"{type(self).__name__} must implement prefer")

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        raise RewardModelError(
            f"{self.identity} is a pairwise judge: it compares two responses (prefer) and has "
            "no reward for one response; use it through the Explainer or rmx.evaluate."
        )


class ProtocolPairwiseJudge(BasePairwiseJudge):
    """A foreign object declaring only ``PairwiseJudge`` (``identity`` and ``prefer``), given
    the rest of a reward model's surface: always available, no counters, nothing truncated."""

    def __init__(self, judge: PairwiseJudge) -> None:
        self.judge = judge
        self.identity = judge.identity

    def __repr__(self) -> str:
        return f"ProtocolPairwiseJudge({self.judge!r})"

    def prefer(
        self,
        prompts: Sequence[Prompt],
        responses_a: Sequence[str],
        responses_b: Sequence[str],
    ) -> list[float]:
        return self.judge.prefer(prompts, responses_a, responses_b)


def as_reward_model(obj: Any) -> RewardModel:
    """``obj`` as a ``RewardModel`` with every capability declared: a reward model as it is, a
    foreign pairwise judge (``PairwiseJudge``) in ``ProtocolPairwiseJudge``, a
    ``BareRewardModel`` in ``ProtocolRewardModel``, a callable in ``CallableRewardModel``.
    """
    if isinstance(obj, RewardModel):
        return obj
    if isinstance(obj, PairwiseJudge):  # identity + prefer only: a foreign pairwise judge
        return ProtocolPairwiseJudge(obj)
    if isinstance(obj, BareRewardModel):
        return ProtocolRewardModel(obj)
    if callable(obj):
        return CallableRewardModel(obj)
    raise RewardModelError(
        f"{obj!r} is neither a reward model (identity + score) nor a "
        "callable fn(prompts, responses) -> list[float]."
    )


def _shown(value: Any, n: int = 80) -> str:
    """A bounded repr of something an RM returned, for an error message."""
    try:
        text = repr(value)
    except Exception:  # a foreign object whose repr is broken
        text = f"<{type(value).__name__}>"
    return text if len(text) <= n else text[: n - 1] + "…"


def _require_sequence(rm: _Identified, scores: Any, n: int) -> None:
    """``scores`` must be a 1-D, ordered sequence (list, tuple, 1-D array or tensor): not a
    scalar, text, a mapping (iterating a dict gives its keys) or a set (no order)."""
    if (
        scores is None
        or isinstance(scores, (str, bytes, int, float, Mapping, set, frozenset))
        or not hasattr(scores, "__iter__")
        or getattr(scores, "ndim", 1) == 0
    ):
        raise RewardModelError(
            f"reward model {rm.identity} returned {type(scores).__name__} "
            f"({_shown(scores, 40)}), not a list of scores; it must return one float per "
            f"(prompt, response), here {n}."
        )
    ndim = getattr(scores, "ndim", 1)
    if ndim != 1:
        raise RewardModelError(
            f"reward model {rm.identity} returned a {ndim}-dimensional {type(scores).__name__} "
            f"of shape {tuple(getattr(scores, 'shape', ()))}; it must return a 1-D sequence of "
            f"one float per (prompt, response), here {n} (squeeze the extra dimensions)."
        )


def _real(value: Any) -> float | None:
    """``value`` as a float when it is a real number: an int or float, a numpy real scalar, or
    a 0-d array or tensor holding one; ``None`` for anything else (bools, text, containers,
    complex numbers), which would otherwise be coerced silently (``float(True)``, ``"1.5"``)."""
    if isinstance(value, numbers.Real):  # numpy's real scalars are registered, np.bool_ is not
        return None if isinstance(value, bool) else float(value)
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        item = value.item()  # a 0-d array or tensor: its Python scalar (a bool stays a bool)
        if isinstance(item, numbers.Real) and not isinstance(item, bool):
            return float(item)
    return None


def checked_scores(
    rm: RewardModel, prompts: Sequence[Prompt], responses: Sequence[str]
) -> list[float]:
    """``rm.score`` with its output checked: a 1-D sequence of one finite real number per
    input (ints, floats, numpy or torch reals; never bools, text or dicts), as floats, or
    ``RewardModelError`` naming the item and what came back."""
    return checked_values(rm, rm.score(prompts, responses), responses)


def checked_objective_scores(
    rm: MultiObjectiveRewardModel, prompts: Sequence[Prompt], responses: Sequence[str]
) -> ObjectiveScores:
    """``rm.score_objectives`` with every list checked as ``checked_scores`` checks scores
    (one finite real per input), and exactly the objectives ``rm.objectives`` declares."""
    got = rm.score_objectives(prompts, responses)
    names = list(rm.objectives)
    if not isinstance(got, ObjectiveScores) or list(got.objectives) != names:
        found = list(got.objectives) if isinstance(got, ObjectiveScores) else type(got).__name__
        raise RewardModelError(
            f"reward model {rm.identity} returned objective scores {_shown(found)}; it must "
            f"return ObjectiveScores with the objectives {names} in that order."
        )
    combined = checked_values(rm, got.combined, responses)
    per = {n: checked_values(rm, got.objectives[n], responses) for n in names}
    return ObjectiveScores(combined, per)


class _Identified(Protocol):
    identity: str


def checked_values(rm: _Identified, scores: Any, responses: Sequence[str]) -> list[float]:
    """``scores`` (what ``rm`` returned for ``responses``) as checked floats: see
    ``checked_scores``."""
    _require_sequence(rm, scores, len(responses))
    items = scores.tolist() if hasattr(scores, "tolist") else list(scores)
    if len(items) != len(responses):
        raise RewardModelError(
            f"reward model {rm.identity} returned {len(items)} scores for {len(responses)} "
            "responses; it must return exactly one score per (prompt, response)."
        )
    values = [_real(s) for s in items]
    bad = next((i for i, v in enumerate(values) if v is None), None)
    if bad is not None:
        raise RewardModelError(
            f"reward model {rm.identity} returned non-numeric scores: item {bad} of the batch "
            f"is {_shown(items[bad])} ({type(items[bad]).__name__}); it must return one real "
            "number (an int or float, not a bool or text) per (prompt, response)."
        )
    reals = [v for v in values if v is not None]
    nonfinite = [i for i, s in enumerate(reals) if not math.isfinite(s)]
    if nonfinite:
        i = nonfinite[0]
        raise RewardModelError(
            f"reward model {rm.identity} returned a non-finite score ({reals[i]}) for "
            f"response {i} of the batch ({responses[i][:60]!r}); check the model's "
            "dtype (fp16 overflow?) and its input."
        )
    return reals


def truncated_indices(rm: RewardModel, n: int) -> list[int]:
    """The distinct indices (within the last call of ``n`` inputs) that ``rm`` declared as
    truncated, sorted; indices outside the call are dropped, because a wrong report must never
    break scoring."""
    return sorted({int(i) for i in rm.last_truncated if 0 <= int(i) < n})
