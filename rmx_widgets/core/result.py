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
from rmx_widgets.core.csv_io import write_csv
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.failures import legacy_failure_kind
from rmx_widgets.core.hand_edits import hand_edit_rows
from rmx_widgets.core.outputs import OutputLock, atomic_path, claim_outputs, write_text
from rmx_widgets.core.rows import TABLE_COLUMNS
from rmx_widgets.core.table_io import NULL_TABLE_STEM, TableWriter


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
    #: the null perturber's identity (``None``: no null ran) and what its run cost: planned and
    #: finished rewrites, rewrites computed / from the store, failed rewrites, RM scores
    #: computed / from the store (the counters above count the main perturber only, except
    #: ``truncated_inputs`` and ``computed_elsewhere``, which count both)
    null_perturber: str | None = None
    null_work_items: int = 0
    null_work_done: int = 0
    null_perturbations_computed: int = 0
    null_perturbations_cached: int = 0
    null_failures: int = 0
    null_scores_computed: int = 0
    null_scores_cached: int = 0
    #: why no null ran (``None`` when one ran), e.g. "no null perturber"
    null_skipped: str | None = None
    null_perturber_stats: dict[str, int] = field(default_factory=dict)
    #: with ``effects=True`` (``core.effects_run``): the back-rewrites requested (one per
    #: successful rewrite), computed / from the store, failed, and their RM scores computed /
    #: from the store
    effects_work_items: int = 0
    effects_perturbations_computed: int = 0
    effects_perturbations_cached: int = 0
    effects_failures: int = 0
    effects_scores_computed: int = 0
    effects_scores_cached: int = 0
    #: with a rewrite judge (``core.validity_pass``): its identity (``None``: no judge), its
    #: verdicts computed / from the store, and how the judged rewrites came out (valid,
    #: invalid, undecided: the judge could not decide or has no test for the attribute)
    judge: str | None = None
    verdicts_computed: int = 0
    verdicts_cached: int = 0
    judged_valid: int = 0
    judged_invalid: int = 0
    judged_undecided: int = 0
    #: "scalar" (rewards) or "pairwise" (a judge of P(a ≻ b), ``core.pairwise_run``); for a
    #: pairwise judge, the original comparisons judged in both orders and how many of them the
    #: two orders disagreed on (different winners), and the same for the rewrites' comparisons
    #: (0 for a scalar RM, whose rate is not measured)
    rm_kind: str = "scalar"
    position_comparisons: int = 0
    position_disagreements: int = 0
    rewrite_position_comparisons: int = 0
    rewrite_position_disagreements: int = 0

    def count_rewrites(
        self, computed: int, cached: int, elsewhere: int, failures: int, null: bool
    ) -> None:
        """Count one batch's rewrites (into the null's counters if ``null``)."""
        if null:
            self.null_perturbations_computed += computed
            self.null_perturbations_cached += cached
            self.null_failures += failures
        else:
            self.perturbations_computed += computed
            self.perturbations_cached += cached
            self.perturbation_failures += failures
        self.computed_elsewhere += elsewhere

    def count_scores(
        self, computed: int, cached: int, elsewhere: int, truncated: int, null: bool
    ) -> None:
        """Count one call's RM scores (into the null's counters if ``null``)."""
        if null:
            self.null_scores_computed += computed
            self.null_scores_cached += cached
        else:
            self.scores_computed += computed
            self.scores_cached += cached
        self.computed_elsewhere += elsewhere
        self.truncated_inputs += truncated

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
    #: the same comparisons, attributes and directions explained by the attribute-blind null
    #: perturber (``core.null_run``); ``None`` when no null ran
    null_table: pd.DataFrame | None = None
    null_perturber: str | None = None
    #: with ``effects=True``: one row per successful rewrite and its rewrite back
    #: (``core.effects.EFFECT_ROW_COLUMNS``); ``None`` when the run had no effects pass
    effects_table: pd.DataFrame | None = None

    @property
    def ties(self) -> pd.DataFrame:
        return self.originals[self.originals["tie"]]

    @property
    def edits(self) -> pd.DataFrame:
        """The hand edits kept in :attr:`table` (``keep_edits``), empty if none."""
        return self.table[hand_edit_rows(self.table)]

    def keep_edits(self, edits: pd.DataFrame) -> ExplanationResult:
        """Keep hand edits (``ComparisonView.edits()``: rows with perturber ``manual``, made by
        ``core.rescore`` with this result's RM) in :attr:`table`, so the table, ``save`` and
        every export built on the table carry them; they replace the edits kept before
        (calling it again with the view's edits never doubles them). The rows they were made
        from stay: an edit is added beside its row, never over it. Every figure
        (``sensitivity``, the charts, the report) leaves them out, because a person chose each
        edit while reading the results: they are not a sample of the perturber's rewrites, and
        counting them would bias the rates towards what the reader probed."""
        if not isinstance(edits, pd.DataFrame):
            raise RMXError(f"keep_edits takes a table of edits (view.edits()), got {edits!r}.")
        if len(edits) and not bool(hand_edit_rows(edits).all()):
            raise RMXError(
                "keep_edits keeps hand edits only (perturber 'manual'); these rows include a "
                "perturber's rewrites."
            )
        made = set(edits["rm"].dropna()) if "rm" in edits.columns else set()
        if made - {self.rm}:
            raise RMXError(
                f"these edits were scored by {sorted(made - {self.rm})[0]}, not this result's "
                f"RM {self.rm}; rescore them with the result's RM."
            )
        runs = self.table[~hand_edit_rows(self.table)]
        kept = edits.reset_index(drop=True)
        self.table = pd.concat([runs, kept], ignore_index=True) if len(kept) else runs
        return self

    def sensitivity(self, by: str | None = None, **kwargs: Any) -> pd.DataFrame:
        """PFR per attribute and direction with bootstrap CIs (see ``core.sensitivity``),
        tested against the attached null table unless ``null=`` is given (``null=None``: no
        null test). ``by``: a slice (``"slice.domain"`` or ``"domain"``, ``core.slices``):
        the same table once per value of that input field, its first column the value."""
        null = kwargs.pop("null", self.null_table)
        if by is not None:
            from rmx_widgets.core.slices import sensitivity_by

            return sensitivity_by(self.table, null, by, **kwargs)
        return sensitivity_with_null(self.table, null, **kwargs)

    def objective_effects(self) -> pd.DataFrame:
        """A multi-objective RM's mean change of each objective's reward per attribute ×
        direction, with n and failures (``core.objectives``)."""
        from rmx_widgets.core.objectives import objective_effects

        return objective_effects(self.table)

    def effects(self, **kwargs: Any) -> pd.DataFrame:
        """Naive and corrected (RATE) effect per attribute × direction, in units of the RM's
        reward spread (``core.effects.effects``; ``n_boot``, ``seed``, ``confidence``).
        Needs a run with ``effects=True``."""
        return effects_of(self.effects_table, **kwargs)

    def representatives(self, k: int = 5) -> pd.DataFrame:
        from rmx_widgets.core.representatives import representatives

        return representatives(self.table, k=k)

    def coverage(self) -> pd.DataFrame:
        return metrics.coverage(self.table)

    def expectations(self, expectations: Any, **kwargs: Any) -> pd.DataFrame:
        """Pass/fail rates of declared expectations ("prefers correct", "invariant to
        verbosity", or ``Expectation`` objects), one row each (``core.expectations``)."""
        from rmx_widgets.core.expectations import check_expectations

        known = [a.name for a in self.attributes]
        return check_expectations(self.table, expectations, known=known, **kwargs)

    def failing(self, expectation: Any, **kwargs: Any) -> pd.DataFrame:
        """The rows failing ``expectation``, most severe first (``core.expectations``)."""
        from rmx_widgets.core.expectations import failing

        return failing(self.table, expectation, **kwargs)

    def summary(self) -> dict[str, Any]:
        """Counts of the run's rows (hand edits counted apart, in ``hand_edits``)."""
        edited = hand_edit_rows(self.table)
        t = self.table[~edited]
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
            **validity_summary(self.stats.judge, t),
            "failures_by_reason": failures_by_reason(t),
            "truncated_rows": int(t["truncated"].fillna(False).astype(bool).sum())
            if "truncated" in t
            else 0,
            **null_summary(self.null_perturber, self.null_table),
            "hand_edits": int(edited.sum()),
            "position_disagreement_rate": self.stats.position_disagreements
            / self.stats.position_comparisons
            if self.stats.position_comparisons
            else None,
            **{f"run_{k}": v for k, v in self.stats.as_dict().items()},
        }

    def save(
        self, out_dir: str | Path, *, report: bool = True, force: bool = False
    ) -> dict[str, Path]:
        """Write table (Parquet + JSONL), originals and sensitivity CSVs, summary JSON and the
        HTML report: the same files ``Explainer.explain_to`` streams, with the same guarantees
        (the folder locked for the duration, every file atomic, an existing file rmx did not
        write replaced only with ``force``)."""
        with OutputLock(out_dir):
            claim_outputs(out_dir, run_file_names(report), force=force)
            writer = TableWriter(out_dir)
            writer.write(self.table)
            writer.close(empty_columns=TABLE_COLUMNS)
            null_writer = None
            if self.null_table is not None:
                null_writer = TableWriter(out_dir, name=NULL_TABLE_STEM)
                null_writer.write(self.null_table)
                null_writer.close(empty_columns=TABLE_COLUMNS)
            return write_run_files(
                writer, self.table, self, report=report, example_rows=None, null_writer=null_writer
            ).paths


def run_file_names(report: bool, expectations: bool = False, effects: bool = False) -> list[str]:
    """The files a run writes (or, for the null's, may remove) in its output folder;
    ``expectations.csv`` with declared expectations (``rmx explain --expect``), ``effects.csv``
    (``core.effects_run.EFFECTS_FILE``) with ``--effects``."""
    names = [
        f"{stem}{ext}" for stem in ("table", NULL_TABLE_STEM) for ext in (".parquet", ".jsonl")
    ]
    names += ["originals.csv", "sensitivity.csv", "summary.json"]
    names += ["expectations.csv"] if expectations else []
    names += ["effects.csv"] if effects else []
    return names + (["report.html"] if report else [])


@dataclass
class SavedRun:
    """A run streamed to disk by ``Explainer.explain_to``: its figures and its files."""

    summary: dict[str, Any]
    sensitivity: pd.DataFrame
    paths: dict[str, Path]
    stats: RunStats
    #: the null table without its texts (``None``: no null ran) and the null's identity
    null_table: pd.DataFrame | None = None
    null_perturber: str | None = None
    #: the effect rows without texts (``None``: no effects pass); see ``effects()``
    effects_table: pd.DataFrame | None = None

    def effects(self, **kwargs: Any) -> pd.DataFrame:
        """As ``ExplanationResult.effects``."""
        return effects_of(self.effects_table, **kwargs)


def effects_of(rows: pd.DataFrame | None, **kwargs: Any) -> pd.DataFrame:
    """``core.effects.effects(rows)``, or a clear error when the run had no effects pass."""
    if rows is None:
        from rmx_widgets.core.errors import OptionError

        raise OptionError(
            "this run has no effect estimates: run it with Explainer(..., effects=True) "
            "(rmx explain --effects)."
        )
    from rmx_widgets.core.effects import effects

    return effects(rows, **kwargs)


def sensitivity_with_null(
    table: pd.DataFrame, null: pd.DataFrame | None, **kwargs: Any
) -> pd.DataFrame:
    """``sensitivity(table, null=null, ...)``: the one place a run's null table reaches the
    statistics (``result.sensitivity()``, ``sensitivity.csv``, ``rmx report``)."""
    from rmx_widgets.core.sensitivity import sensitivity

    return sensitivity(table, null=null, **kwargs)


def validity_summary(judge: str | None, table: pd.DataFrame) -> dict[str, Any]:
    """The rewrite judge's part of ``summary()``, beside the failed count: its identity, the
    successful rewrites with a True/False verdict (``judged``), the ``valid`` ones and
    ``valid_rate`` = valid / judged (``None``, not measured, when nothing was judged)."""
    from rmx_widgets.core.validity_rates import validity_totals

    totals = validity_totals(table)
    judged = int(totals["judged"])  # type: ignore[call-overload]
    return {
        "judge": judge,
        "judged": judged,
        "valid": totals["valid"],
        "valid_rate": totals["valid_rate"] if judged else None,
    }


def null_summary(perturber: str | None, null: pd.DataFrame | None) -> dict[str, Any]:
    """The null's part of ``summary()``: its identity and outcome counts (``None`` when no null
    ran, never 0)."""
    if null is None:
        return {
            "null_perturber": perturber,
            **dict.fromkeys(("null_rows", "null_cf", "null_sf", "null_failed")),
            "null_failures_by_reason": None,
        }
    outcome = null["outcome"] if "outcome" in null else pd.Series(dtype=object)
    return {
        "null_perturber": perturber,
        "null_rows": len(null),
        "null_cf": int((outcome == "CF").sum()),
        "null_sf": int((outcome == "SF").sum()),
        "null_failed": int((outcome == "failed").sum()),
        "null_failures_by_reason": failures_by_reason(null),
    }


def write_run_files(
    writer: TableWriter,
    table: pd.DataFrame,
    result: ExplanationResult,
    *,
    report: bool,
    example_rows: Callable[[list], pd.DataFrame] | None,
    null_writer: TableWriter | None = None,
    valid_only: bool = False,
) -> SavedRun:
    """Everything beside the tables ``writer`` (and ``null_writer``, for the null table) wrote:
    originals, sensitivity, summary and the report (whose few examples come from
    ``example_rows`` when the table in memory is slim). ``valid_only``: sensitivity (the CSV,
    the summary's ``sensitivity_valid_only`` and the report) on the rewrites judged valid."""
    out = writer.out_dir
    paths = {
        "table_parquet": writer.parquet_path,
        "table_jsonl": writer.jsonl_path,
        "originals": out / "originals.csv",
        "sensitivity": out / "sensitivity.csv",
        "summary": out / "summary.json",
    }
    if null_writer is not None:
        paths["null_table_parquet"] = null_writer.parquet_path
        paths["null_table_jsonl"] = null_writer.jsonl_path
    else:  # an earlier run's null beside this run's table would be read back as its null
        for ext in (".parquet", ".jsonl"):
            (out / f"{NULL_TABLE_STEM}{ext}").unlink(missing_ok=True)
    with atomic_path(paths["originals"]) as tmp:
        write_csv(result.originals, tmp)
    sens = sensitivity_with_null(table, result.null_table, valid_only=valid_only)
    with atomic_path(paths["sensitivity"]) as tmp:
        write_csv(sens, tmp)
    summary = {**result.summary(), "sensitivity_valid_only": bool(valid_only)}
    write_text(paths["summary"], json.dumps(summary, indent=2) + "\n")
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
    return SavedRun(
        summary=summary,
        sensitivity=sens,
        paths=paths,
        stats=result.stats,
        null_table=result.null_table,
        null_perturber=result.null_perturber,
    )
