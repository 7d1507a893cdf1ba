"""The Explainer: comparisons × attributes × directions → perturb → score → CF / SF.

For each comparison the RM's *own* preference is explained: the pair is ordered by the RM's
scores (ties are reported and skipped, never silently dropped), the preferred response is
rewritten to be worse on each attribute and the other to be better, and each rewrite yields a
new comparison labelled counterfactual (CF: the preference flips) or semifactual (SF: it holds).

This module is the run loop only. What a row is (margins, CF/SF, distances) lives in
``core.rows``; what a run returns in ``core.result``; and caching, in ``core.cached``: the
perturber and the RM are used through ``CachedPerturber``/``CachedRewardModel``, which answer
from the store, claim what they compute (so processes sharing a store split the work) and write
every result the moment it exists. Work runs in batches of whole comparisons, so a job killed at
any point loses only the work in flight, a rerun resumes with no repeated model calls, a widget
can redraw after each batch and Cancel stops between two batches.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rmx_widgets.core import metrics
from rmx_widgets.core.attributes import Attribute, resolve_attributes
from rmx_widgets.core.cached import CachedPerturber, CachedRewardModel, CachedScores
from rmx_widgets.core.data import Comparison, Prompt, load_comparisons
from rmx_widgets.core.perturbers.base import Perturber, as_perturber
from rmx_widgets.core.result import (
    ExplanationResult,
    RunStats,
    SavedRun,
    failures_by_reason,
    write_run_files,
)
from rmx_widgets.core.reward_models.base import RewardModel, as_reward_model
from rmx_widgets.core.rows import (
    ORIGINALS_COLUMNS,
    TABLE_COLUMNS,
    PlannedRewrite,
    Rewritten,
    check_restrict,
    explanation_rows,
    originals_table,
    plan_rewrites,
    skipped_by_restrict,
)
from rmx_widgets.core.store import Store
from rmx_widgets.core.table_io import TableWriter

__all__ = [
    "ORIGINALS_COLUMNS",
    "TABLE_COLUMNS",
    "Explainer",
    "ExplanationResult",
    "PlannedRewrite",
    "RunStats",
    "SavedRun",
    "failures_by_reason",
]


class Explainer:
    """Explain one reward model's preferences with one perturber.

    ``rm`` and ``perturber`` may be objects implementing the protocols or plain callables
    (``as_reward_model``/``as_perturber`` give them their declared capabilities).
    ``store`` is a path (created if needed), a ``Store`` or ``None`` (in-memory cache only).
    ``restrict`` ("all", the default; "agree"; "disagree") is which comparisons ``explain``
    explains by default: every one, or only those where the RM agrees / disagrees with the
    human label (``core.rows.RESTRICT_CHOICES``).
    """

    def __init__(
        self,
        rm: Any,
        perturber: Any,
        attributes: Any = None,
        store: str | Path | Store | None = None,
        *,
        batch_size: int = 32,
        tie_eps: float = 1e-6,
        embedder: metrics.Embedder | None = None,
        progress: bool = True,
        restrict: str = "all",
    ) -> None:
        self.rm: RewardModel = as_reward_model(rm)
        self.perturber: Perturber = as_perturber(perturber)
        self.attributes = resolve_attributes(attributes)
        self.store = store if isinstance(store, Store) else Store(store)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self.tie_eps = tie_eps
        self.embedder = embedder or metrics.HashingEmbedder()
        self.progress = progress
        self.restrict = check_restrict(restrict, [])
        self._rewrites = CachedPerturber(self.perturber, self.store)
        self._scores = CachedRewardModel(self.rm, self.store)

    # -- public ----------------------------------------------------------------------------
    def explain(
        self,
        comparisons: Any,
        attributes: Any = None,
        *,
        cancel: threading.Event | None = None,
        on_batch: Callable[[pd.DataFrame], None] | None = None,
        on_start: Callable[[pd.DataFrame, RunStats], None] | None = None,
        retry_failed: bool = False,
        restrict: str | None = None,
    ) -> ExplanationResult:
        """Run the whole job (resuming from the store) and return the result.

        ``on_start`` gets the scored originals and the run's live stats before any rewrite;
        ``on_batch`` gets each landed batch of rows; setting ``cancel`` stops cleanly after
        the current batch, and the result holds what landed. ``restrict`` ("all", "agree",
        "disagree"; default the Explainer's) explains only the comparisons where the RM
        agrees / disagrees with the human label (``RunStats.skipped_by_restrict`` counts the
        others).
        """
        frames: list[pd.DataFrame] = []

        def land(frame: pd.DataFrame) -> None:
            frames.append(frame)
            if on_batch is not None:
                on_batch(frame)

        comps, attrs, originals, stats = self._execute(
            comparisons, attributes, land, cancel, on_start, retry_failed, restrict
        )
        table = (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame({c: pd.Series(dtype=object) for c in TABLE_COLUMNS})
        )
        return self._result(table, originals, comps, attrs, stats)

    def _result(
        self,
        table: pd.DataFrame,
        originals: pd.DataFrame,
        comps: list[Comparison],
        attrs: list[Attribute],
        stats: RunStats,
    ) -> ExplanationResult:
        return ExplanationResult(
            table=table,
            originals=originals,
            comparisons=comps,
            attributes=attrs,
            rm=self.rm.identity,
            perturber=self.perturber.identity,
            stats=stats,
        )

    def explain_to(
        self,
        comparisons: Any,
        out_dir: str | Path,
        attributes: Any = None,
        *,
        report: bool = True,
        cancel: threading.Event | None = None,
        on_start: Callable[[pd.DataFrame, RunStats], None] | None = None,
        retry_failed: bool = False,
        restrict: str | None = None,
    ) -> SavedRun:
        """Run the job streaming the table to ``out_dir`` (Parquet + JSONL) batch by batch.

        Memory stays flat in the number of comparisons: only the table's text-free columns are
        kept (all that sensitivity and rankings need) and the report reads its few examples
        back from the Parquet file. Files appear under their final names only when complete.
        """
        writer = TableWriter(out_dir)
        try:
            comps, attrs, originals, stats = self._execute(
                comparisons, attributes, writer.write, cancel, on_start, retry_failed, restrict
            )
            writer.close(empty_columns=TABLE_COLUMNS)
        except BaseException:
            writer.abort()
            raise
        slim = writer.slim_table()
        result = self._result(slim, originals, comps, attrs, stats)
        return write_run_files(writer, slim, result, report=report, example_rows=writer.rows_for)

    def _execute(
        self,
        comparisons: Any,
        attributes: Any,
        land: Callable[[pd.DataFrame], None],
        cancel: threading.Event | None,
        on_start: Callable[[pd.DataFrame, RunStats], None] | None,
        retry_failed: bool,
        restrict: str | None = None,
    ) -> tuple[list[Comparison], list[Attribute], pd.DataFrame, RunStats]:
        """The one run loop behind ``explain`` and ``explain_to``: originals, then batches
        handed to ``land`` as they are stored."""
        comps = self._comparisons(comparisons)
        restrict = check_restrict(self.restrict if restrict is None else restrict, comps)
        attrs = resolve_attributes(attributes) if attributes is not None else self.attributes
        stats = RunStats()
        baseline = dict(self.perturber.stats)
        originals = self.score_originals(comps, stats)
        if on_start is not None:
            on_start(originals, stats)
        for frame in self.iter_batches(
            comps,
            attrs,
            originals,
            stats=stats,
            cancel=cancel,
            retry_failed=retry_failed,
            restrict=restrict,
            _baseline=baseline,
        ):
            land(frame)
        return comps, attrs, originals, stats

    def score_originals(
        self, comps: Sequence[Comparison], stats: RunStats | None = None
    ) -> pd.DataFrame:
        """Score every original response once and order each pair by the RM."""
        stats = stats or RunStats()
        scored = self._score(
            [c.prompt for c in comps for _ in (0, 1)],
            [r for c in comps for r in (c.response_a, c.response_b)],
            stats,
        )
        frame = originals_table(comps, scored.values, scored.truncated, self.tie_eps)
        stats.comparisons = len(comps)
        stats.ties = int(frame["tie"].sum())
        if stats.ties:
            ids = ", ".join(frame.loc[frame["tie"], "comparison_id"].head(5))
            warnings.warn(
                f"{stats.ties} comparison(s) are ties for {self.rm.identity} "
                f"(|margin| < {self.tie_eps}) and are not explained: {ids}"
                f"{' …' if stats.ties > 5 else ''}. See result.ties.",
                stacklevel=2,
            )
        return frame

    def plan(
        self,
        comps: Sequence[Comparison],
        attrs: Sequence[Attribute],
        originals: pd.DataFrame,
        restrict: str = "all",
    ) -> list[PlannedRewrite]:
        """Every rewrite the job needs, grouped by comparison (so batches finish comparisons);
        ``restrict`` leaves out the comparisons the RM (dis)agrees with the human on."""
        return plan_rewrites(comps, attrs, originals, restrict)

    def iter_batches(
        self,
        comps: Sequence[Comparison],
        attrs: Sequence[Attribute],
        originals: pd.DataFrame,
        *,
        stats: RunStats | None = None,
        cancel: threading.Event | None = None,
        retry_failed: bool = False,
        restrict: str | None = None,
        _baseline: Mapping[str, int] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Yield the explanation table batch by batch, each batch already in the store."""
        stats = stats or RunStats()
        baseline = dict(_baseline if _baseline is not None else self.perturber.stats)
        if retry_failed:
            self.store.delete_failed_perturbations(self.perturber.identity)
        restrict = check_restrict(self.restrict if restrict is None else restrict, comps)
        items = self.plan(comps, attrs, originals, restrict)
        stats.skipped_by_restrict = skipped_by_restrict(comps, originals, restrict)
        stats.work_items = len(items)
        stats.work_done = 0
        self._warn_unsupported(attrs)
        from tqdm.auto import tqdm

        with tqdm(
            total=len(items), desc="explaining", unit="rewrite", disable=not self.progress
        ) as bar:
            for start in range(0, len(items), self.batch_size * 2):
                if cancel is not None and cancel.is_set():
                    stats.cancelled = True
                    return
                batch = items[start : start + self.batch_size * 2]
                try:
                    frame = self._run_batch(batch, stats)
                finally:
                    stats.perturber_stats = {
                        k: v - baseline.get(k, 0) for k, v in self.perturber.stats.items()
                    }
                stats.work_done += len(batch)
                for kind, n in failures_by_reason(frame).items():
                    stats.failures_by_reason[kind] = stats.failures_by_reason.get(kind, 0) + n
                yield frame
                bar.update(len(batch))
                bar.set_postfix(failed=stats.perturbation_failures, refresh=False)

    # -- internals -------------------------------------------------------------------------
    def _comparisons(self, comparisons: Any) -> list[Comparison]:
        if isinstance(comparisons, Comparison):
            return [comparisons]
        if (
            isinstance(comparisons, Sequence)
            and comparisons
            and all(isinstance(c, Comparison) for c in comparisons)
        ):
            return list(comparisons)
        return load_comparisons(comparisons)

    def _warn_unsupported(self, attrs: Iterable[Attribute]) -> None:
        missing = [a.name for a in attrs if not self.perturber.supports(a)]
        if missing:
            warnings.warn(
                f"{self.perturber.identity} cannot perturb {', '.join(missing)}; "
                "those rows are recorded as failed. Use an LLM perturber for them.",
                stacklevel=3,
            )

    def _score(
        self, prompts: Sequence[Prompt], responses: Sequence[str], stats: RunStats
    ) -> CachedScores:
        """Score through the cache, counting into ``stats``."""
        scored = self._scores.score(prompts, responses)
        stats.scores_computed += scored.computed
        stats.scores_cached += scored.cached
        stats.computed_elsewhere += scored.elsewhere
        stats.truncated_inputs += scored.newly_truncated
        return scored

    def _run_batch(self, batch: Sequence[PlannedRewrite], stats: RunStats) -> pd.DataFrame:
        """Perturb, score and turn one batch into rows (every result already stored)."""
        rewrites = self._rewrites.perturb_batch([it.request for it in batch])
        stats.perturbations_computed += rewrites.computed
        stats.perturbations_cached += rewrites.cached
        stats.computed_elsewhere += rewrites.elsewhere
        stats.perturbation_failures += sum(r.text is None for r in rewrites.values)
        ok = {i: r.text for i, r in enumerate(rewrites.values) if r.text is not None}
        scored = self._score([batch[i].comparison.prompt for i in ok], list(ok.values()), stats)
        reward = dict(zip(ok, scored.values))
        cut = dict(zip(ok, scored.truncated))
        rewritten = [
            Rewritten(it, res, reward.get(i), cut.get(i, False))
            for i, (it, res) in enumerate(zip(batch, rewrites.values))
        ]
        return explanation_rows(
            rewritten,
            embedder=self.embedder,
            perturber=self.perturber.identity,
            rm=self.rm.identity,
        )
