"""The rows of a run's two tables: the scored originals, the planned rewrites and what each
rewrite became (the explanation table, DESIGN.md §2).

Kept apart from the Explainer because this is the method's arithmetic, not its plumbing: how the
RM's own preference orders a pair, which side is rewritten in which direction, how a margin is
measured and when a rewrite counts as a counterfactual (CF: the RM's preference flips) or a
semifactual (SF: it holds). Everything here is a pure function of typed inputs, so it can be
read and checked by hand without a store, a model or a perturber.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from rmx_widgets.core import metrics
from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.perturbers.base import PerturbationRequest, PerturbationResult

#: The explanation table's columns, in order. ``failure_kind`` (last, added after 0.1) is the
#: ``FailureKind`` value of a failed row, chosen where the failure was created.
TABLE_COLUMNS = [
    "comparison_id",
    "prompt",
    "preferred",
    "side",
    "attribute",
    "direction",
    "original",
    "perturbed",
    "reward_original",
    "reward_perturbed",
    "reward_other",
    "margin_before",
    "margin_after",
    "outcome",
    "failure_reason",
    "syntactic_distance",
    "semantic_distance",
    "perturber",
    "rm",
    "truncated",
    "failure_kind",
]

# ``truncated``: the RM cut (to its maximum length) at least one of the inputs this row's margins
# come from (the original, the rewrite or the other response); see ``last_truncated`` in
# ``reward_models/base.py``.
ORIGINALS_COLUMNS = [
    "comparison_id",
    "reward_a",
    "reward_b",
    "preferred",
    "margin",
    "tie",
    "truncated_a",
    "truncated_b",
]


def originals_table(
    comps: Sequence[Comparison], rewards: Sequence[float], truncated: Sequence[bool], tie_eps: float
) -> pd.DataFrame:
    """One row per comparison, ordered by the RM: ``rewards``/``truncated`` hold the two
    responses of each comparison in turn (a0, b0, a1, b1, ...). A pair closer than ``tie_eps``
    is a tie: it has no preference to explain."""
    rows = []
    for i, c in enumerate(comps):
        ra, rb = rewards[2 * i], rewards[2 * i + 1]
        tie = abs(ra - rb) < tie_eps
        rows.append(
            {
                "comparison_id": c.id,
                "reward_a": ra,
                "reward_b": rb,
                "preferred": None if tie else ("a" if ra > rb else "b"),
                "margin": abs(ra - rb),
                "tie": tie,
                "truncated_a": truncated[2 * i],
                "truncated_b": truncated[2 * i + 1],
            }
        )
    return pd.DataFrame(rows, columns=ORIGINALS_COLUMNS)


@dataclass(frozen=True)
class PlannedRewrite:
    """One rewrite a run needs: one response of a comparison, along one attribute.

    ``side`` is ``"chosen"`` for the response the RM prefers (rewritten ``"worse"``) and
    ``"rejected"`` for the other (rewritten ``"better"``); ``original``/``other`` are the
    rewritten response and the one it is compared against, with their rewards. ``preferred``
    is ``"a"`` or ``"b"``; ``originals_truncated`` says the RM cut either original response.
    """

    comparison: Comparison
    side: str
    attribute: Attribute
    direction: str
    original: str
    other: str
    reward_original: float
    reward_other: float
    preferred: str
    originals_truncated: bool = False

    @property
    def request(self) -> PerturbationRequest:
        """What the perturber is asked for."""
        return PerturbationRequest(
            self.comparison.prompt, self.original, self.attribute, self.direction
        )

    def margin(self, reward: float) -> float:
        """The RM's margin for its original preference if this side scored ``reward``:
        positive while the preference holds, negative once it flips."""
        if self.side == "chosen":
            return reward - self.reward_other
        return self.reward_other - reward


def plan_rewrites(
    comps: Sequence[Comparison], attrs: Sequence[Attribute], originals: pd.DataFrame
) -> list[PlannedRewrite]:
    """Every rewrite the job needs, grouped by comparison (so batches finish comparisons);
    ties (see ``originals_table``) are skipped."""
    by_id = originals.set_index("comparison_id")
    items: list[PlannedRewrite] = []
    for c in comps:
        o = by_id.loc[c.id]
        if o["tie"]:
            continue
        a_wins = o["preferred"] == "a"
        win, lose = (c.response_a, c.response_b) if a_wins else (c.response_b, c.response_a)
        rw, rl = (o["reward_a"], o["reward_b"]) if a_wins else (o["reward_b"], o["reward_a"])
        cut = bool(o.get("truncated_a", False)) or bool(o.get("truncated_b", False))
        for attr in attrs:
            items.append(
                PlannedRewrite(c, "chosen", attr, "worse", win, lose, rw, rl, o["preferred"], cut)
            )
            items.append(
                PlannedRewrite(
                    c, "rejected", attr, "better", lose, win, rl, rw, o["preferred"], cut
                )
            )
    return items


@dataclass(frozen=True)
class Rewritten:
    """What became of one planned rewrite: the perturber's (checked) result and, when it is a
    rewrite, the RM's reward for it and whether the RM cut it to score it."""

    planned: PlannedRewrite
    result: PerturbationResult
    reward: float | None = None
    truncated: bool = False

    def __post_init__(self) -> None:
        if (self.reward is None) != (self.result.text is None):
            raise ValueError(
                "a rewrite has a reward and a failed rewrite has none; got "
                f"reward={self.reward!r} for {self.result!r}"
            )


def explanation_rows(
    rewritten: Sequence[Rewritten], *, embedder: metrics.Embedder, perturber: str, rm: str
) -> pd.DataFrame:
    """The explanation-table rows (``TABLE_COLUMNS``) of a batch, distances included.

    A failed rewrite is a row too (outcome ``"failed"``, its reason and kind, NaN numbers), so
    coverage is measured rather than hidden. Semantic distances are embedded in one call.
    """
    sem = metrics.semantic_distances(
        [r.planned.original for r in rewritten], [r.result.text for r in rewritten], embedder
    )
    rows = []
    for r, distance in zip(rewritten, sem):
        it, text = r.planned, r.result.text
        if text is None or r.reward is None:  # (both or neither, see ``Rewritten``)
            reward = margin_after = syntactic = semantic = math.nan
            outcome = "failed"
        else:
            reward = r.reward
            margin_after = it.margin(reward)
            outcome = "CF" if margin_after < 0 else "SF"
            syntactic = metrics.syntactic_distance(it.original, text)
            semantic = float(distance)
        kind = r.result.kind
        rows.append(
            {
                "comparison_id": it.comparison.id,
                "prompt": it.comparison.prompt_text,
                "preferred": it.preferred,
                "side": it.side,
                "attribute": it.attribute.name,
                "direction": it.direction,
                "original": it.original,
                "perturbed": text,
                "reward_original": it.reward_original,
                "reward_perturbed": reward,
                "reward_other": it.reward_other,
                "margin_before": it.margin(it.reward_original),
                "margin_after": margin_after,
                "outcome": outcome,
                "failure_reason": r.result.failure,
                "syntactic_distance": syntactic,
                "semantic_distance": semantic,
                "perturber": perturber,
                "rm": rm,
                "truncated": bool(it.originals_truncated or r.truncated),
                "failure_kind": kind.value if text is None and kind is not None else None,
            }
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
