"""The Explainer: comparisons × attributes × directions → perturb → score → CF / SF.

For each comparison the RM's *own* preference is explained: the pair is ordered by the RM's
scores (ties are reported and skipped, never silently dropped), the preferred response is
rewritten to be worse on each attribute and the other to be better, and each rewrite yields a
new comparison labelled counterfactual (CF: the preference flips) or semifactual (SF: it holds).

Work runs in batches of whole comparisons, and nothing computed is computed twice:
- each perturbation is written to the store the moment the perturber reports it (perturbers
  that accept ``on_result`` stream results; others are stored when their batch returns), and
  each RM call's scores right after the call, each in its own transaction. A job killed at any
  point loses only the work in flight, a rerun resumes with no repeated model calls, and a
  widget can redraw after each batch.
- before computing, the keys are claimed in the store, so several processes explaining into one
  store split the work instead of doubling it (see ``Store.claim``); a process waits for results
  another one is computing and takes over claims whose owner died.
"""

from __future__ import annotations

import json
import math
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rmx_widgets.core import metrics
from rmx_widgets.core.attributes import Attribute, resolve_attributes
from rmx_widgets.core.data import Comparison, Prompt, load_comparisons, prompt_key
from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.perturbers.base import (
    PerturbationRequest,
    PerturbationResult,
    Perturber,
    as_perturber,
    check_rewrite,
    failure_kind,
    streams_results,
)
from rmx_widgets.core.reward_models.base import (
    RewardModel,
    as_reward_model,
    checked_scores,
    truncated_indices,
)
from rmx_widgets.core.store import Store, content_key
from rmx_widgets.core.table_io import TableWriter

TABLE_COLUMNS = [
    "comparison_id", "prompt", "preferred", "side", "attribute", "direction", "original",
    "perturbed", "reward_original", "reward_perturbed", "reward_other", "margin_before",
    "margin_after", "outcome", "failure_reason", "syntactic_distance", "semantic_distance",
    "perturber", "rm", "truncated",
]

# ``truncated``: the RM cut (to its maximum length) at least one of the inputs this row's margins
# come from (the original, the rewrite or the other response); see ``last_truncated`` in
# ``reward_models/base.py``.
ORIGINALS_COLUMNS = ["comparison_id", "reward_a", "reward_b", "preferred", "margin", "tie",
                     "truncated_a", "truncated_b"]

_POLL_START, _POLL_MAX = 0.01, 0.2  # seconds between looks at results another process owes us


@dataclass
class RunStats:
    """What a run cost and what it skipped; printed by the CLI, shown by the widgets."""

    comparisons: int = 0
    ties: int = 0
    work_items: int = 0
    work_done: int = 0
    perturbations_computed: int = 0
    perturbations_cached: int = 0
    perturbation_failures: int = 0
    scores_computed: int = 0
    scores_cached: int = 0
    cancelled: bool = False
    #: inputs (original or rewritten responses) the RM reported as truncated, this run
    truncated_inputs: int = 0
    #: results another process computed while this one waited for them (not redone here)
    computed_elsewhere: int = 0
    #: failed rows of this run by kind (see ``perturbers.base.failure_kind``)
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    #: what the perturber's own ``stats`` counters (if any) grew by during this run, e.g.
    #: ``http_requests``, ``retries``, ``failures`` for the OpenAI-compatible backend
    perturber_stats: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: dict(v) if isinstance(v, dict) else v for k, v in self.__dict__.items()}


@dataclass
class _Item:
    """One planned rewrite: a side of a comparison along one attribute."""

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


@dataclass
class ExplanationResult:
    """The outcome of a run; ``table`` is the one interchange format (DESIGN.md §2)."""

    table: pd.DataFrame
    originals: pd.DataFrame
    comparisons: list[Comparison]
    attributes: list[Attribute]
    rm: str
    perturber: str
    stats: RunStats = field(default_factory=RunStats)

    @property
    def ties(self) -> pd.DataFrame:
        return self.originals[self.originals["tie"]]

    def sensitivity(self, **kwargs: Any) -> pd.DataFrame:
        """PFR per attribute and direction with bootstrap CIs (see ``core.sensitivity``)."""
        from rmx_widgets.core.sensitivity import sensitivity

        return sensitivity(self.table, **kwargs)

    def representatives(self, k: int = 5) -> pd.DataFrame:
        from rmx_widgets.core.representatives import representatives

        return representatives(self.table, k=k)

    def coverage(self) -> pd.DataFrame:
        return metrics.coverage(self.table)

    def summary(self) -> dict[str, Any]:
        t = self.table
        return {
            "rm": self.rm, "perturber": self.perturber,
            "attributes": [a.name for a in self.attributes],
            "comparisons": len(self.comparisons), "ties": int(self.originals["tie"].sum()),
            "rows": len(t), "cf": int((t["outcome"] == "CF").sum()),
            "sf": int((t["outcome"] == "SF").sum()),
            "failed": int((t["outcome"] == "failed").sum()),
            "failures_by_reason": failures_by_reason(t),
            "truncated_rows": int(t["truncated"].fillna(False).astype(bool).sum())
            if "truncated" in t else 0, **{
                f"run_{k}": v for k, v in self.stats.as_dict().items()},
        }

    def save(self, out_dir: str | Path, *, report: bool = True) -> dict[str, Path]:
        """Write table (Parquet + JSONL), originals and sensitivity CSVs, summary JSON and the
        HTML report: the same files ``Explainer.explain_to`` streams."""
        writer = TableWriter(out_dir)
        writer.write(self.table)
        writer.close(empty_columns=TABLE_COLUMNS)
        return _write_run_files(writer, self.table, self, report=report,
                                example_rows=None).paths


@dataclass
class SavedRun:
    """A run streamed to disk by ``Explainer.explain_to``: its figures and its files."""

    summary: dict[str, Any]
    sensitivity: pd.DataFrame
    paths: dict[str, Path]
    stats: RunStats


def _write_run_files(writer: TableWriter, table: pd.DataFrame, result: ExplanationResult, *,
                     report: bool, example_rows: Callable[[list], pd.DataFrame] | None
                     ) -> SavedRun:
    """Everything beside the table: originals, sensitivity, summary and the report."""
    from rmx_widgets.core.sensitivity import sensitivity

    out = writer.out_dir
    paths = {"table_parquet": writer.parquet_path, "table_jsonl": writer.jsonl_path,
             "originals": out / "originals.csv", "sensitivity": out / "sensitivity.csv",
             "summary": out / "summary.json"}
    result.originals.to_csv(paths["originals"], index=False)
    sens = sensitivity(table)
    sens.to_csv(paths["sensitivity"], index=False)
    summary = result.summary()
    paths["summary"].write_text(json.dumps(summary, indent=2) + "\n")
    if report:
        from rmx_widgets.core.report import write_report

        paths["report"] = write_report(table, out / "report.html", sens=sens, summary=summary,
                                       title=f"rmx-widgets report — {result.rm}",
                                       example_rows=example_rows)
    return SavedRun(summary=summary, sensitivity=sens, paths=paths, stats=result.stats)


class Explainer:
    """Explain one reward model's preferences with one perturber.

    ``rm`` and ``perturber`` may be objects implementing the protocols or plain callables.
    ``store`` is a path (created if needed), a ``Store`` or ``None`` (in-memory cache only).
    """

    def __init__(self, rm: Any, perturber: Any, attributes: Any = None,
                 store: str | Path | Store | None = None, *, batch_size: int = 32,
                 tie_eps: float = 1e-6, embedder: metrics.Embedder | None = None,
                 progress: bool = True) -> None:
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

    # -- public ----------------------------------------------------------------------------
    def explain(self, comparisons: Any, attributes: Any = None, *,
                cancel: threading.Event | None = None,
                on_batch: Callable[[pd.DataFrame], None] | None = None,
                on_start: Callable[[pd.DataFrame, RunStats], None] | None = None,
                retry_failed: bool = False) -> ExplanationResult:
        """Run the whole job (resuming from the store) and return the result.

        ``on_start`` gets the scored originals and the run's live stats before any rewrite;
        ``on_batch`` gets each landed batch of rows; setting ``cancel`` stops cleanly after
        the current batch, and the result holds what landed.
        """
        frames: list[pd.DataFrame] = []

        def land(frame: pd.DataFrame) -> None:
            frames.append(frame)
            if on_batch is not None:
                on_batch(frame)

        comps, attrs, originals, stats = self._execute(comparisons, attributes, land, cancel,
                                                       on_start, retry_failed)
        table = (pd.concat(frames, ignore_index=True) if frames
                 else pd.DataFrame({c: pd.Series(dtype=object) for c in TABLE_COLUMNS}))
        return ExplanationResult(table=table, originals=originals, comparisons=comps,
                                 attributes=attrs, rm=self.rm.identity,
                                 perturber=self.perturber.identity, stats=stats)

    def explain_to(self, comparisons: Any, out_dir: str | Path, attributes: Any = None, *,
                   report: bool = True, cancel: threading.Event | None = None,
                   on_start: Callable[[pd.DataFrame, RunStats], None] | None = None,
                   retry_failed: bool = False) -> SavedRun:
        """Run the job streaming the table to ``out_dir`` (Parquet + JSONL) batch by batch.

        Memory stays flat in the number of comparisons: only the table's text-free columns are
        kept (all that sensitivity and rankings need) and the report reads its few examples
        back from the Parquet file. Files appear under their final names only when complete.
        """
        writer = TableWriter(out_dir)
        try:
            comps, attrs, originals, stats = self._execute(comparisons, attributes, writer.write,
                                                           cancel, on_start, retry_failed)
            writer.close(empty_columns=TABLE_COLUMNS)
        except BaseException:
            writer.abort()
            raise
        slim = writer.slim_table()
        result = ExplanationResult(table=slim, originals=originals, comparisons=comps,
                                   attributes=attrs, rm=self.rm.identity,
                                   perturber=self.perturber.identity, stats=stats)
        return _write_run_files(writer, slim, result, report=report,
                                example_rows=writer.rows_for)

    def _execute(self, comparisons: Any, attributes: Any,
                 land: Callable[[pd.DataFrame], None], cancel: threading.Event | None,
                 on_start: Callable[[pd.DataFrame, RunStats], None] | None,
                 retry_failed: bool) -> tuple[list[Comparison], list[Attribute], pd.DataFrame,
                                              RunStats]:
        """The one run loop behind ``explain`` and ``explain_to``: originals, then batches
        handed to ``land`` as they are stored."""
        comps = self._comparisons(comparisons)
        attrs = resolve_attributes(attributes) if attributes is not None else self.attributes
        stats = RunStats()
        baseline = _counters(self.perturber)
        originals = self.score_originals(comps, stats)
        if on_start is not None:
            on_start(originals, stats)
        for frame in self.iter_batches(comps, attrs, originals, stats=stats, cancel=cancel,
                                       retry_failed=retry_failed, _baseline=baseline):
            land(frame)
        return comps, attrs, originals, stats

    def score_originals(self, comps: Sequence[Comparison], stats: RunStats | None = None
                        ) -> pd.DataFrame:
        """Score every original response once and order each pair by the RM."""
        stats = stats or RunStats()
        prompts = [c.prompt for c in comps for _ in (0, 1)]
        responses = [r for c in comps for r in (c.response_a, c.response_b)]
        rewards, cut = self._score(prompts, responses, stats)
        rows = []
        for i, c in enumerate(comps):
            ra, rb = rewards[2 * i], rewards[2 * i + 1]
            tie = abs(ra - rb) < self.tie_eps
            rows.append({"comparison_id": c.id, "reward_a": ra, "reward_b": rb,
                         "preferred": None if tie else ("a" if ra > rb else "b"),
                         "margin": abs(ra - rb), "tie": tie, "truncated_a": cut[2 * i],
                         "truncated_b": cut[2 * i + 1]})
        frame = pd.DataFrame(rows, columns=ORIGINALS_COLUMNS)
        stats.comparisons = len(comps)
        stats.ties = int(frame["tie"].sum())
        if stats.ties:
            ids = ", ".join(frame.loc[frame["tie"], "comparison_id"].head(5))
            warnings.warn(f"{stats.ties} comparison(s) are ties for {self.rm.identity} "
                          f"(|margin| < {self.tie_eps}) and are not explained: {ids}"
                          f"{' …' if stats.ties > 5 else ''}. See result.ties.", stacklevel=2)
        return frame

    def plan(self, comps: Sequence[Comparison], attrs: Sequence[Attribute],
             originals: pd.DataFrame) -> list[_Item]:
        """Every rewrite the job needs, grouped by comparison (so batches finish comparisons)."""
        by_id = originals.set_index("comparison_id")
        items: list[_Item] = []
        for c in comps:
            o = by_id.loc[c.id]
            if o["tie"]:
                continue
            a_wins = o["preferred"] == "a"
            win, lose = (c.response_a, c.response_b) if a_wins else (c.response_b, c.response_a)
            rw, rl = ((o["reward_a"], o["reward_b"]) if a_wins else (o["reward_b"], o["reward_a"]))
            cut = bool(o.get("truncated_a", False)) or bool(o.get("truncated_b", False))
            for attr in attrs:
                items.append(_Item(c, "chosen", attr, "worse", win, lose, rw, rl, o["preferred"],
                                   cut))
                items.append(_Item(c, "rejected", attr, "better", lose, win, rl, rw,
                                   o["preferred"], cut))
        return items

    def iter_batches(self, comps: Sequence[Comparison], attrs: Sequence[Attribute],
                     originals: pd.DataFrame, *, stats: RunStats | None = None,
                     cancel: threading.Event | None = None, retry_failed: bool = False,
                     _baseline: dict[str, float] | None = None) -> Iterator[pd.DataFrame]:
        """Yield the explanation table batch by batch, each batch already in the store."""
        stats = stats or RunStats()
        baseline = _baseline if _baseline is not None else _counters(self.perturber)
        if retry_failed:
            self.store.delete_failed_perturbations(self.perturber.identity)
        items = self.plan(comps, attrs, originals)
        stats.work_items = len(items)
        stats.work_done = 0
        self._warn_unsupported(attrs)
        from tqdm.auto import tqdm

        with tqdm(total=len(items), desc="explaining", unit="rewrite",
                  disable=not self.progress) as bar:
            for start in range(0, len(items), self.batch_size * 2):
                if cancel is not None and cancel.is_set():
                    stats.cancelled = True
                    return
                batch = items[start:start + self.batch_size * 2]
                try:
                    frame = self._run_batch(batch, stats)
                finally:
                    stats.perturber_stats = _grown(baseline, _counters(self.perturber))
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
        if isinstance(comparisons, Sequence) and comparisons and all(
                isinstance(c, Comparison) for c in comparisons):
            return list(comparisons)
        return load_comparisons(comparisons)

    def _warn_unsupported(self, attrs: Iterable[Attribute]) -> None:
        supports = getattr(self.perturber, "supports", None)
        if supports is None:
            return
        missing = [a.name for a in attrs if not supports(a)]
        if missing:
            warnings.warn(f"{self.perturber.identity} cannot perturb {', '.join(missing)}; "
                          "those rows are recorded as failed. Use an LLM perturber for them.",
                          stacklevel=3)

    def _perturbation_key(self, item: _Item) -> str:
        return content_key("perturbation", self.perturber.identity, item.attribute.fingerprint,
                           item.direction, prompt_key(item.comparison.prompt), item.original)

    def _perturb(self, batch: Sequence[_Item], stats: RunStats) -> list[PerturbationResult]:
        keys = [self._perturbation_key(it) for it in batch]
        cached = self.store.get_perturbations(keys)
        # identical requests inside one batch (e.g. duplicate responses) are asked once
        pending: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in cached:
                pending.setdefault(k, i)
        computed = 0
        for mine in self._claimed(pending, "perturbations", self.store.get_perturbations,
                                  cached, stats):
            computed += self._perturb_claimed([(k, pending[k]) for k in mine], batch, cached)
        stats.perturbations_computed += computed
        stats.perturbations_cached += len(batch) - computed
        out = [PerturbationResult(*cached[k]) for k in keys]
        stats.perturbation_failures += sum(r.text is None for r in out)
        return out

    def _claimed(self, pending: dict[str, int], table: str,
                 lookup: Callable[[list[str]], dict], found: dict, stats: RunStats
                 ) -> Iterator[list[str]]:
        """Yield the pending keys this process claimed (the caller computes and stores them),
        waiting for the ones another process is computing; ``found`` gets the others' results.

        The caller releases every claim before asking for more (results are stored or, on an
        error, released), so two processes never wait on each other.
        """
        delay = _POLL_START
        while pending:
            claimed = self.store.claim(list(pending), done_in=table)
            mine = [k for k in pending if k in claimed]
            if mine:
                yield mine
                for k in mine:
                    pending.pop(k, None)
                delay = _POLL_START
            if not pending:
                return
            got = lookup(list(pending))  # finished elsewhere, or still claimed by others
            found.update(got)
            stats.computed_elsewhere += len(got)
            for k in got:
                pending.pop(k, None)
            if pending and not mine and not got:
                time.sleep(delay)
                delay = min(_POLL_MAX, delay * 2)

    def _perturb_claimed(self, work: list[tuple[str, int]], batch: Sequence[_Item],
                         cached: dict[str, tuple[str | None, str | None]]) -> int:
        """Perturb the claimed ``(key, batch index)`` pairs, storing each result at once."""
        reqs = [PerturbationRequest(batch[i].comparison.prompt, batch[i].original,
                                    batch[i].attribute, batch[i].direction) for _, i in work]
        stored: set[int] = set()
        lock = threading.Lock()

        def row(j: int, res: Any) -> tuple:
            if not isinstance(res, PerturbationResult):
                res = check_rewrite(reqs[j].response, res)
            elif res.failure is None:  # backends are not trusted to have checked
                res = check_rewrite(reqs[j].response, res.text)
            key, i = work[j]
            cached[key] = (res.text, res.failure)
            return (key, self.perturber.identity, batch[i].attribute.name, batch[i].direction,
                    res.text, res.failure)

        def on_result(j: int, res: Any) -> None:
            if not isinstance(j, int) or not 0 <= j < len(reqs):
                raise PerturberError(f"{self.perturber.identity} reported a result for request "
                                     f"{j!r} of a batch of {len(reqs)}.")
            with lock:
                if j in stored:
                    return
                self.store.put_perturbations([row(j, res)])  # one transaction per result
                stored.add(j)

        try:
            if streams_results(self.perturber):
                results = self.perturber.perturb_batch(reqs, on_result=on_result)
            else:
                results = self.perturber.perturb_batch(reqs)
            if len(results) != len(reqs):
                raise PerturberError(f"{self.perturber.identity} returned {len(results)} "
                                     f"results for {len(reqs)} requests.")
            with lock:
                rest = [row(j, res) for j, res in enumerate(results) if j not in stored]
                self.store.put_perturbations(rest)
                stored.update(range(len(reqs)))
        finally:
            with lock:
                self.store.release([work[j][0] for j in range(len(reqs)) if j not in stored])
        return len(reqs)

    def _score(self, prompts: Sequence[Prompt], responses: Sequence[str], stats: RunStats
               ) -> tuple[list[float], list[bool]]:
        """Score through the cache; each distinct (prompt, response) is scored at most once.

        Returns the rewards and, per input, whether the RM truncated it.
        """
        keys = [content_key("score", self.rm.identity, prompt_key(p), r)
                for p, r in zip(prompts, responses)]
        known = self.store.get_scores(keys)
        pending: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in known:
                pending.setdefault(k, i)
        computed = 0
        for mine in self._claimed(pending, "scores", self.store.get_scores, known, stats):
            idx = [pending[k] for k in mine]
            try:
                rewards = checked_scores(self.rm, [prompts[i] for i in idx],
                                         [responses[i] for i in idx])
                cut = set(truncated_indices(self.rm, len(idx)))
                self.store.put_scores([(k, self.rm.identity, r, j in cut)
                                       for j, (k, r) in enumerate(zip(mine, rewards))])
            except BaseException:
                self.store.release(mine)
                raise
            known.update(zip(mine, rewards))
            computed += len(mine)
            stats.truncated_inputs += len(cut)
        stats.scores_computed += computed
        stats.scores_cached += len(keys) - computed
        truncated = self.store.get_truncated(keys)
        return [known[k] for k in keys], [k in truncated for k in keys]

    def _run_batch(self, batch: Sequence[_Item], stats: RunStats) -> pd.DataFrame:
        results = self._perturb(batch, stats)
        ok = [i for i, r in enumerate(results) if r.text is not None]
        scored, cut = self._score([batch[i].comparison.prompt for i in ok],
                                  [results[i].text for i in ok], stats)
        rewards = dict(zip(ok, scored))
        truncated = dict(zip(ok, cut))
        sem = metrics.semantic_distances([it.original for it in batch],
                                         [r.text for r in results], self.embedder)
        rows = []
        for i, (it, res) in enumerate(zip(batch, results)):
            margin_before = (it.reward_original - it.reward_other if it.side == "chosen"
                             else it.reward_other - it.reward_original)
            if res.text is None:
                rp = ma = syn = math.nan
                outcome = "failed"
            else:
                rp = rewards[i]
                ma = rp - it.reward_other if it.side == "chosen" else it.reward_other - rp
                outcome = "CF" if ma < 0 else "SF"
                syn = metrics.syntactic_distance(it.original, res.text)
            rows.append({
                "comparison_id": it.comparison.id, "prompt": it.comparison.prompt_text,
                "preferred": it.preferred, "side": it.side, "attribute": it.attribute.name,
                "direction": it.direction, "original": it.original, "perturbed": res.text,
                "reward_original": it.reward_original, "reward_perturbed": rp,
                "reward_other": it.reward_other, "margin_before": margin_before,
                "margin_after": ma, "outcome": outcome, "failure_reason": res.failure,
                "syntactic_distance": syn,
                "semantic_distance": float(sem[i]) if res.text is not None else math.nan,
                "perturber": self.perturber.identity, "rm": self.rm.identity,
                "truncated": bool(it.originals_truncated or truncated.get(i, False)),
            })
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def failures_by_reason(table: pd.DataFrame) -> dict[str, int]:
    """Failed rows of an explanation table counted by kind (``perturbers.base.failure_kind``)."""
    if len(table) == 0 or "outcome" not in table:
        return {}
    failed = table.loc[table["outcome"] == "failed", "failure_reason"]
    counts = Counter(failure_kind(r if isinstance(r, str) else None) for r in failed)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _counters(perturber: Any) -> dict[str, float]:
    """A snapshot of a perturber's numeric ``stats`` counters (empty if it keeps none)."""
    stats = getattr(perturber, "stats", None)
    if not isinstance(stats, dict):
        return {}
    return {str(k): v for k, v in stats.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _grown(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    return {k: v - before.get(k, 0) for k, v in after.items()}
