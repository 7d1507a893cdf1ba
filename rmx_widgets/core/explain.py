"""The Explainer: comparisons × attributes × directions → perturb → score → CF / SF.

For each comparison the RM's *own* preference is explained: the pair is ordered by the RM's
scores (ties are reported and skipped, never silently dropped), the preferred response is
rewritten to be worse on each attribute and the other to be better, and each rewrite yields a
new comparison labelled counterfactual (CF: the preference flips) or semifactual (SF: it holds).

Work runs in batches of whole comparisons. Every batch's perturbations and scores are written
to the store before the batch's rows are yielded, so a killed job loses at most one batch, a
rerun costs no model calls, and a widget can redraw after each batch.
"""

from __future__ import annotations

import json
import math
import threading
import warnings
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
)
from rmx_widgets.core.reward_models.base import RewardModel, as_reward_model, checked_scores
from rmx_widgets.core.store import Store, content_key

TABLE_COLUMNS = [
    "comparison_id", "prompt", "preferred", "side", "attribute", "direction", "original",
    "perturbed", "reward_original", "reward_perturbed", "reward_other", "margin_before",
    "margin_after", "outcome", "failure_reason", "syntactic_distance", "semantic_distance",
    "perturber", "rm",
]

ORIGINALS_COLUMNS = ["comparison_id", "reward_a", "reward_b", "preferred", "margin", "tie"]


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

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
            "failed": int((t["outcome"] == "failed").sum()), **{
                f"run_{k}": v for k, v in self.stats.as_dict().items()},
        }

    def save(self, out_dir: str | Path, *, report: bool = True) -> dict[str, Path]:
        """Write table (Parquet + JSONL), sensitivity CSV, summary JSON and the HTML report."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"table_parquet": out / "table.parquet", "table_jsonl": out / "table.jsonl",
                 "originals": out / "originals.csv", "sensitivity": out / "sensitivity.csv",
                 "summary": out / "summary.json"}
        self.table.to_parquet(paths["table_parquet"], index=False)
        self.table.to_json(paths["table_jsonl"], orient="records", lines=True,
                           force_ascii=False)
        self.originals.to_csv(paths["originals"], index=False)
        sens = self.sensitivity()
        sens.to_csv(paths["sensitivity"], index=False)
        paths["summary"].write_text(json.dumps(self.summary(), indent=2) + "\n")
        if report:
            from rmx_widgets.core.report import write_report

            paths["report"] = write_report(self.table, out / "report.html", sens=sens,
                                           summary=self.summary(),
                                           title=f"rmx-widgets report — {self.rm}")
        return paths


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
        comps = self._comparisons(comparisons)
        attrs = resolve_attributes(attributes) if attributes is not None else self.attributes
        stats = RunStats()
        originals = self.score_originals(comps, stats)
        if on_start is not None:
            on_start(originals, stats)
        frames = []
        for frame in self.iter_batches(comps, attrs, originals, stats=stats, cancel=cancel,
                                       retry_failed=retry_failed):
            frames.append(frame)
            if on_batch is not None:
                on_batch(frame)
        table = (pd.concat(frames, ignore_index=True) if frames
                 else pd.DataFrame({c: pd.Series(dtype=object) for c in TABLE_COLUMNS}))
        return ExplanationResult(table=table, originals=originals, comparisons=comps,
                                 attributes=attrs, rm=self.rm.identity,
                                 perturber=self.perturber.identity, stats=stats)

    def score_originals(self, comps: Sequence[Comparison], stats: RunStats | None = None
                        ) -> pd.DataFrame:
        """Score every original response once and order each pair by the RM."""
        stats = stats or RunStats()
        prompts = [c.prompt for c in comps for _ in (0, 1)]
        responses = [r for c in comps for r in (c.response_a, c.response_b)]
        rewards = self._score(prompts, responses, stats)
        rows = []
        for i, c in enumerate(comps):
            ra, rb = rewards[2 * i], rewards[2 * i + 1]
            tie = abs(ra - rb) < self.tie_eps
            rows.append({"comparison_id": c.id, "reward_a": ra, "reward_b": rb,
                         "preferred": None if tie else ("a" if ra > rb else "b"),
                         "margin": abs(ra - rb), "tie": tie})
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
            for attr in attrs:
                items.append(_Item(c, "chosen", attr, "worse", win, lose, rw, rl, o["preferred"]))
                items.append(_Item(c, "rejected", attr, "better", lose, win, rl, rw,
                                   o["preferred"]))
        return items

    def iter_batches(self, comps: Sequence[Comparison], attrs: Sequence[Attribute],
                     originals: pd.DataFrame, *, stats: RunStats | None = None,
                     cancel: threading.Event | None = None, retry_failed: bool = False
                     ) -> Iterator[pd.DataFrame]:
        """Yield the explanation table batch by batch, each batch already in the store."""
        stats = stats or RunStats()
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
                frame = self._run_batch(batch, stats)
                stats.work_done += len(batch)
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
        todo = [i for i, k in enumerate(keys) if k not in cached]
        # identical requests inside one batch (e.g. duplicate responses) are asked once
        unique: dict[str, int] = {}
        for i in todo:
            unique.setdefault(keys[i], i)
        if unique:
            reqs = [PerturbationRequest(batch[i].comparison.prompt, batch[i].original,
                                        batch[i].attribute, batch[i].direction)
                    for i in unique.values()]
            results = self.perturber.perturb_batch(reqs)
            if len(results) != len(reqs):
                raise PerturberError(f"{self.perturber.identity} returned {len(results)} "
                                     f"results for {len(reqs)} requests.")
            rows = []
            for (key, i), res, req in zip(unique.items(), results, reqs):
                if not isinstance(res, PerturbationResult):
                    res = check_rewrite(req.response, res)
                elif res.failure is None:  # backends are not trusted to have checked
                    res = check_rewrite(req.response, res.text)
                cached[key] = (res.text, res.failure)
                rows.append((key, self.perturber.identity, batch[i].attribute.name,
                             batch[i].direction, *cached[key]))
            self.store.put_perturbations(rows)
            stats.perturbations_computed += len(rows)
        stats.perturbations_cached += len(batch) - len(unique)
        out = [PerturbationResult(*cached[k]) for k in keys]
        stats.perturbation_failures += sum(r.text is None for r in out)
        return out

    def _score(self, prompts: Sequence[Prompt], responses: Sequence[str], stats: RunStats
               ) -> list[float]:
        """Score through the cache; each distinct (prompt, response) is scored at most once."""
        keys = [content_key("score", self.rm.identity, prompt_key(p), r)
                for p, r in zip(prompts, responses)]
        known = self.store.get_scores(keys)
        todo: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in known:
                todo.setdefault(k, i)
        if todo:
            idx = list(todo.values())
            rewards = checked_scores(self.rm, [prompts[i] for i in idx],
                                     [responses[i] for i in idx])
            self.store.put_scores([(k, self.rm.identity, r) for k, r in zip(todo, rewards)])
            known.update(zip(todo, rewards))
            stats.scores_computed += len(todo)
        stats.scores_cached += len(keys) - len(todo)
        return [known[k] for k in keys]

    def _run_batch(self, batch: Sequence[_Item], stats: RunStats) -> pd.DataFrame:
        results = self._perturb(batch, stats)
        ok = [i for i, r in enumerate(results) if r.text is not None]
        rewards = dict(zip(ok, self._score([batch[i].comparison.prompt for i in ok],
                                           [results[i].text for i in ok], stats)))
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
            })
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def compare(result_a: ExplanationResult, result_b: ExplanationResult, *, k: int = 5) -> Any:
    """Compare two RMs explained on the same comparisons (Kendall's τ of their global
    rankings, restricted to comparisons where both agree on the original preference)."""
    from rmx_widgets.core.sensitivity import compare_tables

    return compare_tables(result_a.table, result_b.table, k=k)
