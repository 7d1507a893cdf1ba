"""The judging pass of ``Explainer(..., judge=...)``: did each rewrite do what it was asked?

Each batch of the main explanation table is judged before it lands (before ``on_batch``, the
Parquet writer and the effects pass see it), so ``valid`` / ``validity_reason`` are in every
streamed file and every redraw. Only the successful rewrites of the main perturber are judged:
a failed row has nothing to judge, the null table's rewrites were never asked to move an
attribute, and the effects pass's back-rewrites are not rows of the table.

Verdicts go through ``CachedJudge`` (``core.validity.cached``), so they are cached, resumed and
shared between processes like the rewrites; its counters are ``RunStats.verdicts_*`` and
``judged_*``. The judge is in no rewrite or score key: adding one to a finished run judges its
cached rewrites without recomputing any of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from rmx_widgets.core.result import RunStats
from rmx_widgets.core.rows import PlannedRewrite
from rmx_widgets.core.store import Store
from rmx_widgets.core.validity.base import JudgeRequest
from rmx_widgets.core.validity.cached import CachedJudge


class ValidityPass:
    """Fill ``valid`` / ``validity_reason`` of a batch's rows (``frame``, in the order of the
    planned rewrites ``batch`` it was built from), counting into ``stats``."""

    def __init__(self, judge: object, store: Store) -> None:
        self.cached = CachedJudge(judge, store)

    @property
    def identity(self) -> str:
        return self.cached.identity

    def __call__(
        self, frame: pd.DataFrame, batch: Sequence[PlannedRewrite], stats: RunStats
    ) -> pd.DataFrame:
        stats.judge = self.identity
        ok = [i for i, outcome in enumerate(frame["outcome"]) if outcome != "failed"]
        if not ok:
            return frame
        texts = frame["perturbed"].to_numpy()
        requests = [
            JudgeRequest(
                batch[i].comparison.prompt,
                batch[i].original,
                str(texts[i]),
                batch[i].attribute,
                batch[i].direction,
            )
            for i in ok
        ]
        got = self.cached.judge_batch(requests)
        stats.verdicts_computed += got.computed
        stats.verdicts_cached += got.cached
        stats.computed_elsewhere += got.elsewhere
        valid: list[bool | None] = [None] * len(frame)
        reasons: list[str | None] = [None] * len(frame)
        for i, verdict in zip(ok, got.values):
            valid[i], reasons[i] = verdict.valid, verdict.reason
            if verdict.valid is True:
                stats.judged_valid += 1
            elif verdict.valid is False:
                stats.judged_invalid += 1
            else:
                stats.judged_undecided += 1
        frame = frame.copy()
        frame["valid"] = pd.array(valid, dtype="boolean")
        frame["validity_reason"] = pd.Series(reasons, index=frame.index, dtype="str")
        return frame


__all__ = ["ValidityPass"]
