"""Pairwise judges: models that compare two responses instead of scoring one.

A pairwise judge answers ``P(a ≻ b)``, the probability that response ``a`` is better than
response ``b`` for the prompt (PairRM, pairwise LLM judges, a user's own comparator). It has no
reward per response, so it declares a different capability from a scalar RM:
``PairwiseJudge.prefer(prompts, responses_a, responses_b) -> list[float]``. The Explainer asks
``isinstance(rm, PairwiseJudge)`` (a declared protocol, never an attribute probe) and then
explains the judge's own preference the same way (``core.pairwise_run``): the preference is
P > 0.5, the margin is logit(P), a counterfactual is a crossing of 0.5.

A judge is a ``BaseRewardModel`` too, so it goes wherever an RM goes (``Explainer``,
``rmx.evaluate``, the widgets) with the same identity, ``stats`` and ``why_unavailable``; its
``score`` refuses with one line, because a pairwise judge has no per-response reward.

Judges often favour the response shown first. ``debiased`` averages both orders,
``P = (P(a≻b) + 1 − P(b≻a)) / 2``, which removes any bias that adds a constant to the first
position's probability exactly, and ``position_disagrees`` says when the two orders name
different winners (reported per comparison and as a rate).

There is no transformers convention for a pairwise *model class* (``AutoModelFor…``) to load
by name: pairwise RMs (PairRM, generative judges) each ship their own code. So a judge is a
function; wrap a model by calling it, e.g. a sequence classifier fed both responses::

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path)  # 1 logit: a beats b

    def prefer(prompts, responses_a, responses_b):
        texts = [f"{p}\\n[A] {a}\\n[B] {b}" for p, a, b in zip(prompts, responses_a, responses_b)]
        batch = tok(texts, return_tensors="pt", padding=True, truncation=True)
        with torch.no_grad():
            return torch.sigmoid(model(**batch).logits[:, 0]).tolist()

    judge = rmx.PairwiseRewardModel(prefer, name="my-pair-rm:v1")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from rmx_widgets.core.code_identity import callable_identity
from rmx_widgets.core.data import Prompt
from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.base import (
    BasePairwiseJudge,
    PairwiseJudge,
    ProtocolPairwiseJudge,
    _real,
    _require_sequence,
    _shown,
    as_reward_model,
    checked_scores,
)

#: P is clipped to [P_CLIP, 1 − P_CLIP] before its logit, so a judge answering exactly 0 or 1
#: gives a finite margin of at most logit(1 − 1e-6) ≈ 13.8 (not ±inf, which no mean survives).
P_CLIP = 1e-6


class PairwiseRewardModel(BasePairwiseJudge):
    """Wraps ``fn(prompts, responses_a, responses_b) -> list[float]`` of P(a ≻ b).

    ``name`` (with a version) is the identity, the cache key of the judgements: change it
    whenever the function changes. Without one, the identity is derived from the function's
    code and what it captures (``core.code_identity``, as for ``CallableRewardModel``); a
    function capturing a model or a client raises ``RewardModelError`` asking for ``name=``.
    """

    def __init__(self, fn: Callable[[list, list, list], Sequence[float]], name: str | None = None):
        if isinstance(fn, str):
            raise RewardModelError(
                f"PairwiseRewardModel({fn!r}): transformers has no pairwise model class to "
                "load by name; pass a function fn(prompts, responses_a, responses_b) -> "
                "P(a beats b) that calls your model (see the docstring's example)."
            )
        if not callable(fn):
            raise RewardModelError(f"{fn!r} is not callable")
        self.fn = fn
        self.identity = name or callable_identity(fn, kind="pairwise judge", error=RewardModelError)

    def __repr__(self) -> str:
        return f"PairwiseRewardModel({self.identity!r})"

    def prefer(
        self,
        prompts: Sequence[Prompt],
        responses_a: Sequence[str],
        responses_b: Sequence[str],
    ) -> list[float]:
        return self.fn(list(prompts), list(responses_a), list(responses_b))  # type: ignore[return-value]


class BradleyTerryJudge(BasePairwiseJudge):
    """The pairwise judge a scalar RM implies under the Bradley–Terry model its training
    assumes: P(a ≻ b) = sigmoid(r(a) − r(b)). Its logit margin is the reward difference (up to
    the clip at ±13.8), so it explains like the RM itself; it is the offline pairwise judge of
    ``pairwise:bt:SPEC`` and a check that the pairwise path measures what the scalar one does.
    """

    def __init__(self, rm: Any) -> None:
        self.rm = as_reward_model(rm)
        if isinstance(self.rm, PairwiseJudge):
            raise RewardModelError(f"{self.rm.identity} is already a pairwise judge.")
        self.identity = f"bt({self.rm.identity})"

    def why_unavailable(self) -> str | None:
        return self.rm.why_unavailable()

    def prefer(
        self,
        prompts: Sequence[Prompt],
        responses_a: Sequence[str],
        responses_b: Sequence[str],
    ) -> list[float]:
        n = len(responses_a)
        rewards = checked_scores(self.rm, [*prompts, *prompts], [*responses_a, *responses_b])
        return [_sigmoid(rewards[i] - rewards[n + i]) for i in range(n)]


def _sigmoid(x: float) -> float:
    """1 / (1 + e^−x), without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def checked_preferences(
    judge: Any,
    prompts: Sequence[Prompt],
    responses_a: Sequence[str],
    responses_b: Sequence[str],
) -> list[float]:
    """``judge.prefer`` with its output checked: a 1-D sequence of one real number in [0, 1]
    per (prompt, a, b), as floats, or ``RewardModelError`` naming the item and what came back
    (wrong length, non-numbers, bools, NaN, values outside [0, 1] such as logits)."""
    n = len(responses_a)
    got = judge.prefer(prompts, responses_a, responses_b)
    _require_sequence(judge, got, n)
    items = got.tolist() if hasattr(got, "tolist") else list(got)
    if len(items) != n:
        raise RewardModelError(
            f"pairwise judge {judge.identity} returned {len(items)} probabilities for {n} "
            "pairs; it must return exactly one P(a beats b) per (prompt, a, b)."
        )
    values = [_real(v) for v in items]
    for i, v in enumerate(values):
        if v is None:
            raise RewardModelError(
                f"pairwise judge {judge.identity} returned a non-numeric probability: item {i} "
                f"of the batch is {_shown(items[i])} ({type(items[i]).__name__}); it must "
                "return one real number in [0, 1] per pair."
            )
        if not (0.0 <= v <= 1.0):  # NaN fails this too
            raise RewardModelError(
                f"pairwise judge {judge.identity} returned {v} for item {i} of the batch "
                f"({responses_a[i][:40]!r} vs {responses_b[i][:40]!r}); it must return "
                "P(a beats b) in [0, 1] (apply a sigmoid to a logit)."
            )
    return [float(v) for v in values if v is not None]


def logit(p: float) -> float:
    """log(p / (1 − p)) of ``p`` clipped to [P_CLIP, 1 − P_CLIP] (finite for 0 and 1)."""
    q = min(max(p, P_CLIP), 1.0 - P_CLIP)
    return math.log(q / (1.0 - q))


def debiased(p_ab: float, p_ba: float) -> float:
    """P(a ≻ b) averaged over both orders: (P(a≻b) + 1 − P(b≻a)) / 2. A judge adding a
    constant c to the first-shown response's probability gives p_ab = p + c and
    p_ba = 1 − p + c, whose average is p exactly."""
    return (p_ab + 1.0 - p_ba) / 2.0


def position_disagrees(p_ab: float, p_ba: float) -> bool:
    """Whether the two orders name different winners: a first says a (p_ab > 0.5) and b first
    says b (p_ba > 0.5), or the reverse. An order answering exactly 0.5 names no winner, so it
    disagrees with nothing."""
    return (p_ab - 0.5) * (0.5 - p_ba) < 0


__all__ = [
    "P_CLIP",
    "BasePairwiseJudge",
    "BradleyTerryJudge",
    "PairwiseJudge",
    "PairwiseRewardModel",
    "ProtocolPairwiseJudge",
    "checked_preferences",
    "debiased",
    "logit",
    "position_disagrees",
]
