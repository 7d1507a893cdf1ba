"""The back-rewrite pass of ``Explainer(..., effects=True)`` (RATE, see ``core.effects``).

Each landed batch of the explanation table is followed by one batch of back-rewrites: every
successful rewrite is rewritten again, in the opposite direction (worse ↔ better), by the same
perturber, and scored by the same RM, through the run's own ``CachedPerturber`` and
``CachedRewardModel``. So the back-rewrites are cached, resumed and shared between processes
exactly as the rewrites are, and a rerun on the same store computes nothing new. Its counters
are ``RunStats.effects_*`` (the main counters keep counting the rewrites only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.cached import CachedPerturber, CachedRewardModel
from rmx_widgets.core.csv_io import write_csv
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.effects import EFFECT_ROW_COLUMNS, empty_effect_rows, opposite
from rmx_widgets.core.outputs import atomic_path
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.result import RunStats

#: The file ``rmx explain --effects`` writes ``result.effects()`` to.
EFFECTS_FILE = "effects.csv"


class EffectsPass:
    """Back-rewrite and score the successful rows of each landed batch; ``land`` gets the
    batch's effect rows (``EFFECT_ROW_COLUMNS``; without ``back_perturbed`` if ``slim``)."""

    def __init__(
        self,
        rewrites: CachedPerturber,
        scores: CachedRewardModel,
        comps: Sequence[Comparison],
        attrs: Sequence[Attribute],
        stats: RunStats,
        land: Callable[[pd.DataFrame], None],
    ) -> None:
        self.rewrites, self.scores, self.stats, self.land = rewrites, scores, stats, land
        self.comps: Mapping[str, Comparison] = {c.id: c for c in comps}
        self.attrs: Mapping[str, Attribute] = {a.name: a for a in attrs}

    def __call__(self, frame: pd.DataFrame) -> None:
        ok = frame[frame["outcome"] != "failed"]
        if len(ok) == 0:
            return
        requests = [
            PerturbationRequest(
                self.comps[r.comparison_id].prompt,
                r.perturbed,
                self.attrs[r.attribute],
                opposite(r.direction),
            )
            for r in ok.itertuples()
        ]
        got = self.rewrites.perturb_batch(requests)
        st = self.stats
        st.effects_work_items += len(requests)
        st.effects_perturbations_computed += got.computed
        st.effects_perturbations_cached += got.cached
        st.computed_elsewhere += got.elsewhere
        texts = {i: res.text for i, res in enumerate(got.values) if res.text is not None}
        st.effects_failures += len(requests) - len(texts)
        scored = self.scores.score([requests[i].prompt for i in texts], list(texts.values()))
        st.effects_scores_computed += scored.computed
        st.effects_scores_cached += scored.cached
        st.computed_elsewhere += scored.elsewhere
        st.truncated_inputs += scored.newly_truncated
        reward = dict(zip(texts, scored.values))
        rows = pd.DataFrame(
            {
                "comparison_id": ok["comparison_id"].to_numpy(),
                "side": ok["side"].to_numpy(),
                "attribute": ok["attribute"].to_numpy(),
                "direction": ok["direction"].to_numpy(),
                "back_direction": [r.direction for r in requests],
                "outcome": ok["outcome"].to_numpy(),
                "reward_original": ok["reward_original"].astype(float).to_numpy(),
                "reward_other": ok["reward_other"].astype(float).to_numpy(),
                "reward_perturbed": ok["reward_perturbed"].astype(float).to_numpy(),
                "back_reward": [reward.get(i, float("nan")) for i in range(len(requests))],
                "back_failed": [i not in texts for i in range(len(requests))],
                "back_failure_reason": [res.failure for res in got.values],
                "back_failure_kind": [
                    res.kind.value if res.text is None and res.kind is not None else None
                    for res in got.values
                ],
                "back_perturbed": [res.text for res in got.values],
            },
            columns=EFFECT_ROW_COLUMNS,
        )
        self.land(rows)


def concat_effect_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The landed effect rows as one table (an empty one with every column if none landed)."""
    return pd.concat(frames, ignore_index=True) if frames else empty_effect_rows()


def write_effects_csv(out_dir: str | Path, table: pd.DataFrame) -> Path:
    """``table`` (an ``effects()`` table) as ``OUT/effects.csv``, atomically, through the one
    CSV writer."""
    path = Path(out_dir) / EFFECTS_FILE
    with atomic_path(path) as tmp:
        write_csv(table, tmp)
    return path


__all__ = ["EFFECTS_FILE", "EffectsPass", "concat_effect_rows", "write_effects_csv"]
