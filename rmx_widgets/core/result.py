"""What a run hands back: its table and figures (``ExplanationResult``), what it cost
(``RunStats``) and, for a run streamed to disk, its files (``SavedRun``).

These are records, not machinery: the widgets, the CLI and studies read them, and
``ExplanationResult.save`` writes the same files ``Explainer.explain_to`` streams. (They are also
importable from ``rmx_widgets.core.explain``, where they were first defined.)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rmx_widgets.core import metrics
from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.failures import legacy_failure_kind
from rmx_widgets.core.rows import TABLE_COLUMNS
from rmx_widgets.core.table_io import TableWriter


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
    #: comparisons (not ties) left unexplained by ``restrict`` ("agree"/"disagree"): no
    #: rewrite of them is requested
    skipped_by_restrict: int = 0
    #: failed rows of this run by kind (``FailureKind`` values, see ``failures_by_reason``)
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    #: what the perturber's own ``stats`` counters grew by during this run, e.g.
    #: ``http_requests``, ``retries``, ``failures`` for the OpenAI-compatible backend
    perturber_stats: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: dict(v) if isinstance(v, dict) else v for k, v in self.__dict__.items()}


def failures_by_reason(table: pd.DataFrame) -> dict[str, int]:
    """Failed rows of an explanation table counted by kind, most frequent first.

    The kind is read from the ``failure_kind`` column, where the code that saw the failure
    recorded it. Only rows without one (tables written before the column existed, e.g. an old
    Parquet file) are classified from their reason text by ``legacy_failure_kind``.
    """
    if len(table) == 0 or "outcome" not in table:
        return {}
    failed = table.loc[table["outcome"] == "failed"]
    kinds = failed["failure_kind"] if "failure_kind" in failed else [None] * len(failed)
    counts = Counter(
        k
        if isinstance(k, str) and k
        else legacy_failure_kind(r if isinstance(r, str) else None).value
        for k, r in zip(kinds, failed["failure_reason"])
    )
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


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
            "rm": self.rm,
            "perturber": self.perturber,
            "attributes": [a.name for a in self.attributes],
            "comparisons": len(self.comparisons),
            "ties": int(self.originals["tie"].sum()),
            "rows": len(t),
            "cf": int((t["outcome"] == "CF").sum()),
            "sf": int((t["outcome"] == "SF").sum()),
            "failed": int((t["outcome"] == "failed").sum()),
            "failures_by_reason": failures_by_reason(t),
            "truncated_rows": int(t["truncated"].fillna(False).astype(bool).sum())
            if "truncated" in t
            else 0,
            **{f"run_{k}": v for k, v in self.stats.as_dict().items()},
        }

    def save(self, out_dir: str | Path, *, report: bool = True) -> dict[str, Path]:
        """Write table (Parquet + JSONL), originals and sensitivity CSVs, summary JSON and the
        HTML report: the same files ``Explainer.explain_to`` streams."""
        writer = TableWriter(out_dir)
        writer.write(self.table)
        writer.close(empty_columns=TABLE_COLUMNS)
        return write_run_files(writer, self.table, self, report=report, example_rows=None).paths


@dataclass
class SavedRun:
    """A run streamed to disk by ``Explainer.explain_to``: its figures and its files."""

    summary: dict[str, Any]
    sensitivity: pd.DataFrame
    paths: dict[str, Path]
    stats: RunStats


def write_run_files(
    writer: TableWriter,
    table: pd.DataFrame,
    result: ExplanationResult,
    *,
    report: bool,
    example_rows: Callable[[list], pd.DataFrame] | None,
) -> SavedRun:
    """Everything beside the table ``writer`` wrote: originals, sensitivity, summary and the
    report (whose few examples come from ``example_rows`` when the table in memory is slim)."""
    from rmx_widgets.core.sensitivity import sensitivity

    out = writer.out_dir
    paths = {
        "table_parquet": writer.parquet_path,
        "table_jsonl": writer.jsonl_path,
        "originals": out / "originals.csv",
        "sensitivity": out / "sensitivity.csv",
        "summary": out / "summary.json",
    }
    result.originals.to_csv(paths["originals"], index=False)
    sens = sensitivity(table)
    sens.to_csv(paths["sensitivity"], index=False)
    summary = result.summary()
    paths["summary"].write_text(json.dumps(summary, indent=2) + "\n")
    if report:
        from rmx_widgets.core.report import write_report

        paths["report"] = write_report(
            table,
            out / "report.html",
            sens=sens,
            summary=summary,
            title=f"rmx-widgets report — {result.rm}",
            example_rows=example_rows,
        )
    return SavedRun(summary=summary, sensitivity=sens, paths=paths, stats=result.stats)
