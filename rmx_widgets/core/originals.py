"""A run's originals: each comparison's two responses scored once and ordered by the RM.

Scored a chunk, or a piece of one, at a time (``core.chunks``) through the store, so a resumed
run scores nothing stored; the run's ties (no preference to explain) are counted per piece and
warned about once, for the whole run, when its originals are all scored.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import pandas as pd

from rmx_widgets.core.cached import CachedRewardModel
from rmx_widgets.core.chunks import concat_originals
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


class RunOriginals:
    """A run's originals as its pieces are scored (``score``: one piece's table); call it on
    a piece. ``chunk_whole()`` shows ``on_start`` every original so far (with the run's live
    ``stats``) once a chunk's pieces are all scored; ``table()`` is every one scored."""

    def __init__(
        self,
        score: Callable[[Sequence[Comparison]], pd.DataFrame],
        stats: RunStats,
        on_start: Callable[[pd.DataFrame, RunStats], None] | None,
    ) -> None:
        self._score, self._stats, self._on_start = score, stats, on_start
        self._frames: list[pd.DataFrame] = []

    def __call__(self, piece: Sequence[Comparison]) -> pd.DataFrame:
        frame = self._score(piece)
        self._frames.append(frame)
        return frame

    def table(self) -> pd.DataFrame:
        """Every original scored so far, in comparison order (kept as one table)."""
        self._frames[:] = [concat_originals(self._frames)]
        return self._frames[0]

    def chunk_whole(self) -> None:
        if self._on_start is not None:
            self._on_start(self.table(), self._stats)


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
