"""A run's originals: each comparison's two responses scored once and ordered by the RM.

Scored a chunk at a time (``core.chunks``) through the store, so a resumed run scores nothing
stored; the run's ties (no preference to explain) are counted per chunk and warned about once,
for the whole run, when its originals are all scored.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd

from rmx_widgets.core.cached import CachedRewardModel
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.pairwise_run import PairwisePass
from rmx_widgets.core.result import RunStats
from rmx_widgets.core.rows import originals_table


def score_chunk(
    scores: CachedRewardModel,
    pairs: PairwisePass | None,
    comps: Sequence[Comparison],
    tie_eps: float,
    stats: RunStats,
) -> pd.DataFrame:
    """One chunk's originals (``pairs``: a pairwise judge's, both orders, P(a ≻ b), logit
    margins), counted into ``stats``: its scores and its ties."""
    if pairs is not None:
        frame = pairs.originals(comps, tie_eps, stats)
    else:
        got = scores.score(
            [c.prompt for c in comps for _ in (0, 1)],
            [r for c in comps for r in (c.response_a, c.response_b)],
        )
        stats.count_scores(got.computed, got.cached, got.elsewhere, got.newly_truncated, False)
        frame = originals_table(comps, got.values, got.truncated, tie_eps)
    stats.ties += int(frame["tie"].sum())
    return frame


def warn_ties(
    originals: pd.DataFrame, stats: RunStats, rm: str, tie_eps: float, *, pairwise: bool
) -> None:
    """One warning for the run's ties (``stats.ties``, all its chunks'): not explained."""
    if stats.ties:
        ids = ", ".join(originals.loc[originals["tie"], "comparison_id"].head(5))
        test = "|P(a ≻ b) − 0.5|" if pairwise else "|margin|"
        warnings.warn(
            f"{stats.ties} comparison(s) are ties for {rm} ({test} < {tie_eps}) and are not "
            f"explained: {ids}{' …' if stats.ties > 5 else ''}. See result.ties.",
            stacklevel=4,
        )
