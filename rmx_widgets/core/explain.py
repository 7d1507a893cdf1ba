"""The Explainer: comparisons × attributes × directions → perturb → score → CF / SF.

For each comparison the RM's *own* preference is explained: the pair is ordered by the RM's
scores (ties are reported and skipped, never silently dropped), the preferred response is
rewritten to be worse on each attribute and the other to be better, and each rewrite yields a
new comparison labelled counterfactual (CF: the preference flips) or semifactual (SF: it holds).

This module is the run loop only. What a row is (margins, CF/SF, distances) lives in
``core.rows``; what a run returns in ``core.result``; and caching, in ``core.cached``: the
perturber and the RM are used through ``CachedPerturber``/``CachedRewardModel``, which answer
from the store, claim what they compute (so processes sharing a store split the work) and write
every result the moment it exists. Work lands in batches of whole comparisons: a killed job loses
only the work in flight, a rerun repeats no model call, a widget redraws after each batch, and
the rewrites of the next batches stream in while the RM scores (``core.pipeline``). The
comparisons are scored and planned ``chunk`` at a time as the batches need them
(``core.chunks``), so memory and time per comparison stay flat in the number of comparisons.

With a null perturber (``core.null_run``) the same planned rewrites are then run again, batch by
batch, by that attribute-blind perturber, scored by the same RM through the same store: its rows
are the null table (``result.null_table``, ``null_table.parquet``). With ``effects=True`` each
landed batch is followed by its back-rewrites (``core.effects_run``: RATE's rewrite twice),
through the same caches; ``result.effects()`` estimates each attribute's effect from them.
A rewrite ``judge`` judges each main batch before it lands (``core.validity_pass``, cached).
Rows carry the input's extra fields (``core.slices``) and a multi-objective RM's per-objective
changes (``core.objectives``)."""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from rmx_widgets.core import metrics
from rmx_widgets.core.attributes import Attribute, resolve_attributes
from rmx_widgets.core.cached import Cached, CachedPerturber, CachedRewardModel, CachedScores
from rmx_widgets.core.chunks import DEFAULT_CHUNK, BatchPlan, originals_by_chunk, run_plan
from rmx_widgets.core.data import Comparison, Prompt, load_comparisons
from rmx_widgets.core.effects_run import EffectsPass, concat_effect_rows
from rmx_widgets.core.engines import distribute
from rmx_widgets.core.errors import OptionError
from rmx_widgets.core.null_run import null_skip_reason, resolve_null_perturber
from rmx_widgets.core.objectives import with_objective_deltas
from rmx_widgets.core.originals import RunOriginals, score_chunk, warn_ties
from rmx_widgets.core.outputs import OutputLock, claim_outputs
from rmx_widgets.core.pairwise_run import PairwisePass, refuse_pairwise_effects
from rmx_widgets.core.perturbers.base import PerturbationResult, Perturber, as_perturber
from rmx_widgets.core.pipeline import default_ahead, stream_rewrites
from rmx_widgets.core.result import (
    ExplanationResult,
    RunStats,
    SavedRun,
    failures_by_reason,
    run_file_names,
)
from rmx_widgets.core.reward_models.base import RewardModel, as_reward_model
from rmx_widgets.core.rows import (
    ORIGINALS_COLUMNS,
    TABLE_COLUMNS,
    PlannedRewrite,
    Rewritten,
    check_restrict,
    concat_rows,
    explanation_rows,
    plan_rewrites,
    skipped_by_restrict,
)
from rmx_widgets.core.run_files_stream import Executed, Land, stream_run_to
from rmx_widgets.core.slices import slice_fields, with_slices
from rmx_widgets.core.store import Store
from rmx_widgets.core.validity.base import as_judge
from rmx_widgets.core.validity_pass import ValidityPass

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
    (``as_reward_model``/``as_perturber`` give them their declared capabilities); an ``rm``
    declaring ``PairwiseJudge`` (P(a ≻ b)) is run by ``core.pairwise_run``: logit margins.
    ``store`` is a path (created if needed), a ``Store`` or ``None`` (in-memory cache only).
    ``null_perturber`` (default ``None``: none) is an attribute-blind perturber run after the
    main one on the same rewrites (``core.null_run``); its rows are ``result.null_table``.
    ``restrict`` ("all", the default; "agree"; "disagree") is which comparisons ``explain``
    explains by default: every one, or only those where the RM agrees / disagrees with the
    human label (``core.rows.RESTRICT_CHOICES``). ``effects`` (default ``False``: the cost
    of a second rewrite and score per rewrite) rewrites every successful rewrite back in the
    opposite direction for ``result.effects()``, the naive and corrected (RATE) effects.
    ``judge`` (default ``None``: none) is a rewrite judge (``core.validity``: a
    ``RewriteJudge`` or a callable) that gives each successful rewrite a verdict, the table's
    ``valid`` / ``validity_reason``; ``result.sensitivity(valid_only=True)`` then computes
    every figure on the valid rewrites only. ``lookahead`` (default ``None``: automatic) is how
    many batches the perturber works ahead of the RM (``core.pipeline``): by default enough to
    keep a ``ConcurrentBatches`` perturber's requests in flight, none for a local one; 0 is
    the batch-by-batch loop. ``engine="ray"``: the models' calls on Ray (``core.engines``).
    ``chunk`` (default ``DEFAULT_CHUNK``) is how many comparisons are scored and planned at a
    time (``core.chunks``); the table is the same whatever it is.
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
        null_perturber: Any = None,
        restrict: str = "all",
        effects: bool = False,
        judge: Any = None,
        lookahead: int | None = None,
        engine: Any = "local",
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        for name, value, least in (
            ("batch_size", batch_size, 1),
            ("lookahead", lookahead, 0),
            ("chunk", chunk, 1),
        ):
            if name == "lookahead" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise OptionError(  # before the store is opened: a refused run leaves no file
                    f"{name} must be a whole number of at least {least}, got {value!r}."
                )
        judge = as_judge(judge) if judge is not None else None  # a bad one: before the store
        self.rm: RewardModel = refuse_pairwise_effects(as_reward_model(rm), effects)
        self.perturber: Perturber = as_perturber(perturber)
        self.rm, self.perturber, self.engine = distribute(engine, self.rm, self.perturber)
        self.null_perturber: Perturber | None = resolve_null_perturber(null_perturber)
        self.attributes = resolve_attributes(attributes)
        self.store = store if isinstance(store, Store) else Store(store)
        self.batch_size, self.lookahead, self.chunk = batch_size, lookahead, chunk
        self.tie_eps = tie_eps
        self.embedder = embedder or metrics.HashingEmbedder()
        self.progress = progress
        self.restrict = check_restrict(restrict, [])
        self.effects = bool(effects)
        self._rewrites = CachedPerturber(self.perturber, self.store)
        self._null_rewrites = (
            CachedPerturber(self.null_perturber, self.store) if self.null_perturber else None
        )
        self._scores = CachedRewardModel(self.rm, self.store)
        self._pairs = PairwisePass.of(self.rm, self.store)  # a pairwise judge's run
        self._validity = ValidityPass(judge, self.store) if judge is not None else None
        self._slice_fields: tuple[str, ...] = ()  # set per run: core.slices

    def with_null(self, null_perturber: Any) -> Explainer:
        """A copy of this Explainer (same models, store and settings) with another null
        perturber (``None``: none)."""
        clone = copy.copy(self)
        clone.null_perturber = resolve_null_perturber(null_perturber)
        clone._null_rewrites = (
            CachedPerturber(clone.null_perturber, self.store) if clone.null_perturber else None
        )
        return clone

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
        on_null_batch: Callable[[pd.DataFrame], None] | None = None,
        restrict: str | None = None,
    ) -> ExplanationResult:
        """Run the whole job (resuming from the store) and return the result.

        ``on_start`` gets the scored originals and the run's live stats before any rewrite
        lands (a pipeline may have requested some), and again, with every original so far,
        before each later chunk's (``Explainer(chunk=...)``: a run of at most ``chunk``
        comparisons calls it once; ``stats.comparisons`` is the whole run's count,
        ``stats.work_items`` the rewrites of the chunks before); ``on_batch`` gets each landed
        batch of rows; then, with a null perturber, ``on_null_batch`` each landed batch of the
        null table. Setting ``cancel`` stops cleanly after the current batch (of either), and
        the result holds what landed. ``restrict`` ("all", "agree",
        "disagree"; default the Explainer's) explains only the comparisons where the RM
        agrees / disagrees with the human label (``RunStats.skipped_by_restrict`` counts the
        others). A cancelled run's ``originals`` are those of the chunks it reached.
        """
        frames: list[pd.DataFrame] = []
        null_frames: list[pd.DataFrame] = []
        effect_frames: list[pd.DataFrame] = []

        def land(frame: pd.DataFrame) -> None:
            frames.append(frame)
            if on_batch is not None:
                on_batch(frame)

        def land_null(frame: pd.DataFrame) -> None:
            null_frames.append(frame)
            if on_null_batch is not None:
                on_null_batch(frame)

        comps, attrs, originals, stats = self._execute(
            comparisons,
            attributes,
            cancel,
            on_start,
            retry_failed,
            restrict,
            land,
            land_null,
            effect_frames.append,
        )
        null_table = concat_rows(null_frames) if stats.null_perturber is not None else None
        result = self._result(concat_rows(frames), originals, comps, attrs, stats, null_table)
        result.effects_table = concat_effect_rows(effect_frames) if self.effects else None
        return result

    def _result(
        self,
        table: pd.DataFrame,
        originals: pd.DataFrame,
        comps: list[Comparison],
        attrs: list[Attribute],
        stats: RunStats,
        null_table: pd.DataFrame | None = None,
    ) -> ExplanationResult:
        return ExplanationResult(
            table=table,
            originals=originals,
            comparisons=comps,
            attributes=attrs,
            rm=self.rm.identity,
            perturber=self.perturber.identity,
            stats=stats,
            null_table=null_table,
            null_perturber=stats.null_perturber,
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
        force: bool = False,
        valid_only: bool = False,
    ) -> SavedRun:
        """Run the job streaming the table to ``out_dir`` (Parquet + JSONL) batch by batch.

        Memory stays flat in the number of comparisons: only the table's text-free columns are
        kept (all that sensitivity and rankings need) and the report reads its few examples
        back from the Parquet file. Files appear under their final names only when complete.
        The null table (with a null perturber) streams the same way, to ``null_table.parquet``
        and ``null_table.jsonl``.

        ``out_dir`` is locked for the run: another run into it raises ``OutputBusyError``.
        An existing file there that rmx did not write raises ``OutputError`` unless ``force``
        (files of an earlier run are rmx's: rerunning needs no ``force``).
        ``valid_only`` computes sensitivity.csv, the summary and the report on the rewrites
        the judge found valid (``sensitivity(valid_only=True)``); it needs a ``judge``.
        """
        if valid_only and self._validity is None:
            raise OptionError("valid_only=True needs judged rewrites: run with judge=... .")
        with OutputLock(out_dir):
            claim_outputs(out_dir, run_file_names(report), force=force)

            return stream_run_to(
                out_dir,
                partial(
                    self._execute, comparisons, attributes, cancel, on_start, retry_failed, restrict
                ),
                lambda slim, run, null: self._result(slim, run[2], run[0], run[1], run[3], null),
                with_null=self.null_perturber is not None,
                effects=self.effects,
                report=report,
                valid_only=valid_only,
            )

    def _execute(
        self,
        comparisons: Any,
        attributes: Any,
        cancel: threading.Event | None,
        on_start: Callable[[pd.DataFrame, RunStats], None] | None,
        retry_failed: bool,
        restrict: str | None,
        land: Land,
        land_null: Land | None,
        land_effects: Land | None,
    ) -> Executed:
        """The one run loop behind ``explain`` and ``explain_to``: chunk by chunk
        (``core.chunks``), the originals, then batches handed to ``land`` as they are stored
        (each followed, with ``effects``, by its back-rewrites, handed to ``land_effects``);
        then the null's batches to ``land_null``."""
        comps = self._comparisons(comparisons)
        restrict = check_restrict(self.restrict if restrict is None else restrict, comps)
        attrs = resolve_attributes(attributes) if attributes is not None else self.attributes
        stats = RunStats(comparisons=len(comps))
        baseline = dict(self.perturber.stats)
        orig = RunOriginals(partial(self._originals, stats=stats), stats, on_start)
        back = None
        if self.effects and land_effects is not None:
            back = EffectsPass(self._rewrites, self._scores, comps, attrs, stats, land_effects)
        batches = self._main_batches(
            comps, attrs, orig, stats, cancel, retry_failed, restrict, baseline, orig.chunk_whole
        )
        for frame in batches:
            land(frame)
            if back is not None:
                back(frame)
        originals = orig.table()
        self._warn_ties(originals, stats)
        if land_null is not None:
            for frame in self.iter_null_batches(
                comps,
                attrs,
                originals,
                stats=stats,
                cancel=cancel,
                retry_failed=retry_failed,
                restrict=restrict,
                _planned=stats.work_items,  # (the main pass finished: the same plan)
            ):
                land_null(frame)
        else:
            stats.null_skipped = null_skip_reason(self.perturber, None)
        return comps, attrs, originals, stats

    def score_originals(
        self, comps: Sequence[Comparison], stats: RunStats | None = None
    ) -> pd.DataFrame:
        """Score every original response once and order each pair by the RM."""
        stats = stats or RunStats()
        stats.comparisons, stats.ties = len(comps), 0
        frame = self._originals(comps, stats)
        self._warn_ties(frame, stats)
        return frame

    def _originals(self, comps: Sequence[Comparison], stats: RunStats) -> pd.DataFrame:
        return score_chunk(self._scores, self._pairs, comps, self.tie_eps, stats)

    def _warn_ties(self, originals: pd.DataFrame, stats: RunStats) -> None:
        pairwise = self._pairs is not None
        warn_ties(originals, stats, self.rm.identity, self.tie_eps, pairwise=pairwise)

    def plan(
        self,
        comps: Sequence[Comparison],
        attrs: Sequence[Attribute],
        originals: pd.DataFrame,
        restrict: str = "all",
    ) -> list[PlannedRewrite]:
        """Every rewrite the job needs, grouped by comparison (so batches finish comparisons);
        ``restrict`` leaves out the comparisons the RM (dis)agrees with the human on."""
        return plan_rewrites(comps, attrs, originals, restrict, pairwise=self._pairs is not None)

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
    ) -> Iterator[pd.DataFrame]:
        """Yield the explanation table batch by batch, each batch already in the store."""
        stats = stats or RunStats()
        restrict = check_restrict(self.restrict if restrict is None else restrict, comps)
        baseline = dict(self.perturber.stats)
        rows_of = originals_by_chunk(originals)
        yield from self._main_batches(
            comps, attrs, rows_of, stats, cancel, retry_failed, restrict, baseline
        )

    def _main_batches(
        self,
        comps: Sequence[Comparison],
        attrs: Sequence[Attribute],
        originals_of: Callable[[Sequence[Comparison]], pd.DataFrame],
        stats: RunStats,
        cancel: threading.Event | None,
        retry_failed: bool,
        restrict: str,
        baseline: Mapping[str, int],
        chunk_whole: Callable[[], None] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """The main pass: each chunk's originals (``originals_of``: scored, or a table's rows)
        planned when the batches reach it, counted once whole, after ``chunk_whole()``."""
        if retry_failed:
            self.store.delete_failed_perturbations(self.perturber.identity)
        self._slice_fields = slice_fields(comps)  # the same slice columns in every batch
        stats.skipped_by_restrict = stats.work_items = stats.work_done = 0
        stats.judge = self._validity.identity if self._validity is not None else None
        skipped = [0]  # by the chunk being planned (counted once it is whole)

        def plan_piece(piece: Sequence[Comparison]) -> list[PlannedRewrite]:
            rows = originals_of(piece)
            skipped[0] += skipped_by_restrict(piece, rows, restrict)
            return self.plan(piece, attrs, rows, restrict)

        def chunk_planned(items: int) -> None:
            if chunk_whole is not None:
                chunk_whole()
            stats.skipped_by_restrict, skipped[0] = stats.skipped_by_restrict + skipped[0], 0
            stats.work_items += items

        ahead = self._ahead(self.perturber)
        plan = run_plan(comps, plan_piece, self.batch_size, self.chunk, ahead, chunk_planned)
        self._warn_unsupported(attrs)
        yield from self._batches(plan, stats, cancel, baseline, null=False)

    def iter_null_batches(
        self,
        comps: Sequence[Comparison],
        attrs: Sequence[Attribute],
        originals: pd.DataFrame,
        *,
        stats: RunStats | None = None,
        cancel: threading.Event | None = None,
        retry_failed: bool = False,
        restrict: str | None = None,
        _planned: int | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Yield the null table batch by batch: the same planned rewrites (comparisons,
        attributes, directions) as ``iter_batches``, rewritten by the null perturber and scored
        by the same RM through the same store. Nothing is yielded (and ``stats.null_skipped``
        says why) when there is no null, it cannot run or the run is already cancelled."""
        stats = stats or RunStats()
        null, cached = self.null_perturber, self._null_rewrites
        skip = null_skip_reason(self.perturber, null)
        if null is not None and skip is not None:
            warnings.warn(f"the null perturber does not run: {skip}.", stacklevel=2)
        elif stats.cancelled or (cancel is not None and cancel.is_set()):
            stats.cancelled, skip = True, "the run was cancelled"
        if null is None or cached is None or skip is not None:
            stats.null_skipped = skip
            return
        stats.null_perturber, stats.null_skipped = null.identity, None
        baseline = dict(null.stats)
        if retry_failed:
            self.store.delete_failed_perturbations(null.identity)
        restrict = check_restrict(self.restrict if restrict is None else restrict, comps)
        rows_of = originals_by_chunk(originals)
        self._slice_fields = slice_fields(comps)
        # the whole plan's size when the main pass knows it; else as the chunks are planned
        stats.null_work_items, stats.null_work_done = _planned or 0, 0

        def plan_chunk(chunk: Sequence[Comparison]) -> list[PlannedRewrite]:
            items = self.plan(chunk, attrs, rows_of(chunk), restrict)
            if _planned is None:
                stats.null_work_items += len(items)
            return items

        plan = run_plan(comps, plan_chunk, self.batch_size, self.chunk, self._ahead(null))
        yield from self._batches(plan, stats, cancel, baseline, null=True)

    # -- internals -------------------------------------------------------------------------
    def _comparisons(self, comparisons: Any) -> list[Comparison]:
        if isinstance(comparisons, Comparison):
            comparisons = [comparisons]
        return load_comparisons(comparisons)  # Comparison objects get the text checks too

    def _warn_unsupported(self, attrs: Iterable[Attribute]) -> None:
        missing = [a.name for a in attrs if not self.perturber.supports(a)]
        if missing:
            warnings.warn(
                f"{self.perturber.identity} cannot perturb {', '.join(missing)}; "
                "those rows are recorded as failed. Use an LLM perturber for them.",
                stacklevel=3,
            )

    def _ahead(self, perturber: Perturber) -> int:  # batches rewritten ahead (core.pipeline)
        own = self.lookahead
        return default_ahead(perturber, self.batch_size * 2) if own is None else own

    def _batches(
        self,
        plan: BatchPlan,
        stats: RunStats,
        cancel: threading.Event | None,
        baseline: Mapping[str, int],
        *,
        null: bool,
    ) -> Iterator[pd.DataFrame]:
        """The one batch loop of the main run and of the null's: run the ``plan``'s batches
        of whole comparisons, stopping between two batches once ``cancel`` is set, and count
        into ``stats`` (the null's counters if ``null``) what each batch cost. The rewrites
        stream in ahead of scoring (``core.pipeline``; ``lookahead`` batches, 0: none)."""
        from tqdm.auto import tqdm

        perturber = self.null_perturber if null else self.perturber
        cached = self._null_rewrites if null else self._rewrites
        assert perturber is not None and cached is not None  # (the null: only with one)
        ahead = self._ahead(perturber)
        desc = "null rewrites" if null else "explaining"

        def planned() -> int:  # (grows as the chunks are planned)
            return stats.null_work_items if null else stats.work_items

        bar = tqdm(total=planned(), desc=desc, unit="rewrite", disable=not self.progress)
        with bar, closing(stream_rewrites(plan, cached, ahead, cancel)) as stream:
            while True:
                if cancel is not None and cancel.is_set():
                    plan.finish()  # (whole chunks' originals, as the batch loop scores them)
                    stats.cancelled = stats.cancelled or not plan.finished
                    return
                try:
                    rewrites = next(stream)
                except StopIteration:
                    return
                batch = plan.landed()
                try:
                    frame = self._run_batch(batch, rewrites, stats, null)
                finally:
                    grown = {k: v - baseline.get(k, 0) for k, v in perturber.stats.items()}
                    if null:
                        stats.null_perturber_stats = grown
                    else:
                        stats.perturber_stats = grown
                if null:
                    stats.null_work_done += len(batch)
                else:
                    stats.work_done += len(batch)
                    for kind, n in failures_by_reason(frame).items():
                        stats.failures_by_reason[kind] = stats.failures_by_reason.get(kind, 0) + n
                yield frame
                bar.total = max(bar.total or 0, planned())
                bar.update(len(batch))
                failed = stats.null_failures if null else stats.perturbation_failures
                bar.set_postfix(failed=failed, refresh=False)

    def _score(
        self,
        prompts: Sequence[Prompt],
        responses: Sequence[str],
        stats: RunStats,
        null: bool = False,
    ) -> CachedScores:
        """Score through the cache, counting into ``stats`` (the null's counters if ``null``)."""
        got = self._scores.score(prompts, responses)
        stats.count_scores(got.computed, got.cached, got.elsewhere, got.newly_truncated, null)
        return got

    def _run_batch(
        self,
        batch: Sequence[PlannedRewrite],
        rewrites: Cached[PerturbationResult],
        stats: RunStats,
        null: bool = False,
    ) -> pd.DataFrame:
        """Score one batch's ``rewrites`` (the null perturber's if ``null``) and turn it into
        rows, every result already stored (the null's rows are never judged)."""
        who = self.null_perturber if null else self.perturber
        assert who is not None  # (the null's batches run only with a null perturber)
        failed, got = sum(r.text is None for r in rewrites.values), rewrites
        stats.count_rewrites(got.computed, got.cached, got.elsewhere, failed, null)
        ok = {i: r.text for i, r in enumerate(rewrites.values) if r.text is not None}
        if self._pairs is not None:  # judged against the other response (core.pairwise_run)
            rewritten = self._pairs.rewritten(batch, rewrites.values, stats, null)
        else:
            scored = self._score(
                [batch[i].comparison.prompt for i in ok], list(ok.values()), stats, null
            )
            reward = dict(zip(ok, scored.values))
            cut = dict(zip(ok, scored.truncated))
            rewritten = [
                Rewritten(it, res, reward.get(i), cut.get(i, False))
                for i, (it, res) in enumerate(zip(batch, rewrites.values))
            ]
        frame = explanation_rows(
            rewritten, embedder=self.embedder, perturber=who.identity, rm=self.rm.identity
        )
        frame = with_slices(frame, [it.comparison for it in batch], self._slice_fields)
        frame = with_objective_deltas(frame, batch, self._scores)  # a multi-objective RM's
        return frame if null or self._validity is None else self._validity(frame, batch, stats)
