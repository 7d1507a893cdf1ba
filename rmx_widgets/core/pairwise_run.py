"""How the Explainer runs a pairwise judge (``core.reward_models.pairwise``).

The method is the one for scalar RMs (``core.rows``), with the judge's probability in place of
a reward difference:

* each original pair is judged in both orders and averaged, P = (P(a≻b) + 1 − P(b≻a)) / 2
  (``debiased``); the judge prefers a when P > 0.5, b when P < 0.5, and |P − 0.5| < tie_eps is
  a tie (reported and skipped, as for scalar RMs);
* the margin is logit(P) oriented towards the preferred response, so margin_before > 0
  (P clipped to [1e-6, 1 − 1e-6] first: ``P_CLIP``);
* a rewrite of either side is judged against the *other*, unchanged response (both orders
  again), and margin_after = logit(P(preferred′ ≻ other)) in the same orientation: for the
  rewritten preferred response logit(q), for the rewritten other response −logit(q), where
  q = P(rewrite ≻ other); CF when margin_after < 0, i.e. P crossed 0.5.

A pairwise judge gives no reward per response, so the table's ``reward_original``,
``reward_perturbed`` and ``reward_other`` (and the originals' ``reward_a`` / ``reward_b``) are
NaN: the statistics that need rewards (the reward spread behind ``mean_margin_change``, the
RATE effects) then say "not measured" instead of mixing logits measured against different
partners. The originals get the judge's own columns, ``PAIRWISE_ORIGINALS_COLUMNS``: the
averaged P, both raw orders and whether they disagreed; ``RunStats`` counts the disagreements
(``position_disagreements`` of ``position_comparisons``; the rewrites' in ``rewrite_…``).
A judge declares no truncation, so its rows are never flagged ``truncated``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import pandas as pd

from rmx_widgets.core.data import Comparison
from rmx_widgets.core.errors import OptionError
from rmx_widgets.core.pair_scores import CachedPairwiseJudge, PairPreferences
from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.result import RunStats
from rmx_widgets.core.reward_models.pairwise import PairwiseJudge, logit
from rmx_widgets.core.rows import (
    ORIGINALS_COLUMNS,
    PlannedRewrite,
    Rewritten,
    human_label,
    rm_agrees,
)
from rmx_widgets.core.store import Store

#: The originals' extra columns for a pairwise judge: P(a ≻ b) averaged over both orders, the
#: judge's answers with a shown first (P(a ≻ b)) and with b shown first (P(b ≻ a)), and
#: whether those two orders named different winners.
PAIRWISE_ORIGINALS_COLUMNS = ["p_a_over_b", "p_a_first", "p_b_first", "position_disagreement"]


R = TypeVar("R")


def refuse_pairwise_effects(rm: R, effects: bool) -> R:
    """``rm``, unless it is a pairwise judge asked for ``effects``: RATE effects are reward
    changes, which a judge does not give (``OptionError``, before any store is opened)."""
    if effects and isinstance(rm, PairwiseJudge):
        raise OptionError(
            f"effects=True measures reward changes, and {rm.identity} is a pairwise judge "
            "(no reward per response); run it without effects."
        )
    return rm


class PairwisePass:
    """The pairwise judge's side of a run: its originals and its rewrites' margins, through
    the store (``CachedPairwiseJudge``)."""

    def __init__(self, judge: PairwiseJudge, store: Store) -> None:
        self.judge = CachedPairwiseJudge(judge, store)

    @classmethod
    def of(cls, rm: Any, store: Store) -> PairwisePass | None:
        """The pass for ``rm`` when it declares ``PairwiseJudge``; ``None`` for a scalar RM."""
        return cls(rm, store) if isinstance(rm, PairwiseJudge) else None

    def _count(self, prefs: PairPreferences, stats: RunStats, null: bool) -> None:
        if null:
            stats.null_scores_computed += prefs.computed
            stats.null_scores_cached += prefs.cached
        else:
            stats.scores_computed += prefs.computed
            stats.scores_cached += prefs.cached
        stats.computed_elsewhere += prefs.elsewhere

    def originals(
        self, comps: Sequence[Comparison], tie_eps: float, stats: RunStats
    ) -> pd.DataFrame:
        """One row per comparison (``ORIGINALS_COLUMNS`` + ``PAIRWISE_ORIGINALS_COLUMNS``),
        ordered by the judge's debiased preference."""
        prefs = self.judge.prefer(
            [c.prompt for c in comps], [c.response_a for c in comps], [c.response_b for c in comps]
        )
        self._count(prefs, stats, null=False)
        stats.rm_kind = "pairwise"
        stats.position_comparisons += len(comps)  # (a run's chunks add up: core.chunks)
        stats.position_disagreements += sum(prefs.disagree)
        rows = []
        for i, c in enumerate(comps):
            p = prefs.p[i]
            tie = abs(p - 0.5) < tie_eps
            preferred = None if tie else ("a" if p > 0.5 else "b")
            rows.append(
                {
                    "comparison_id": c.id,
                    "reward_a": math.nan,
                    "reward_b": math.nan,
                    "preferred": preferred,
                    "margin": abs(logit(p)),
                    "tie": tie,
                    "truncated_a": False,
                    "truncated_b": False,
                    "human_preferred": human_label(c),
                    "rm_agrees_with_human": rm_agrees(preferred, human_label(c)),
                    "p_a_over_b": p,
                    "p_a_first": prefs.p_ab[i],
                    "p_b_first": prefs.p_ba[i],
                    "position_disagreement": prefs.disagree[i],
                }
            )
        frame = pd.DataFrame(rows, columns=ORIGINALS_COLUMNS + PAIRWISE_ORIGINALS_COLUMNS)
        frame["rm_agrees_with_human"] = frame["rm_agrees_with_human"].astype("boolean")
        frame["tie"] = frame["tie"].astype(bool)
        frame["position_disagreement"] = frame["position_disagreement"].astype(bool)
        return frame

    def rewritten(
        self,
        batch: Sequence[PlannedRewrite],
        results: Sequence[PerturbationResult],
        stats: RunStats,
        null: bool = False,
    ) -> list[Rewritten]:
        """What each planned rewrite became: every successful rewrite judged against the
        other, unchanged response (both orders), its margin_after oriented like
        margin_before; failed rewrites stay failed."""
        ok = [i for i, r in enumerate(results) if r.text is not None]
        prefs = self.judge.prefer(
            [batch[i].comparison.prompt for i in ok],
            [results[i].text or "" for i in ok],
            [batch[i].other for i in ok],
        )
        self._count(prefs, stats, null)
        if not null:
            stats.rewrite_position_comparisons += len(ok)
            stats.rewrite_position_disagreements += sum(prefs.disagree)
        after = {
            i: logit(q) if batch[i].side == "chosen" else -logit(q) for i, q in zip(ok, prefs.p)
        }
        return [
            Rewritten(it, res, math.nan if i in after else None, False, after.get(i))
            for i, (it, res) in enumerate(zip(batch, results))
        ]


__all__ = ["PAIRWISE_ORIGINALS_COLUMNS", "PairwisePass"]
