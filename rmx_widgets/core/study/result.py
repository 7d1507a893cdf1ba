"""What a study produced (:class:`StudyResult`): tidy frames, one concept per frame, and the
files they are saved as.

The result knows nothing about HTML: :func:`~rmx_widgets.core.study.run.evaluate` hands it the
renderer of its report (``render_report``), so ``save`` can write ``report.html`` beside the
frames while this module stays free of the report's imports (and the report may import it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rmx_widgets.core.csv_io import write_csv
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.outputs import OutputLock, atomic_path, claim_outputs, write_text
from rmx_widgets.core.study import paper_tables

#: the frames :meth:`StudyResult.save` writes as ``NAME.csv``
STUDY_CSVS = (
    "quality",
    "quality_summary",
    "sensitivity",
    "tau",
    "representatives",
    "contrasting",
    "agreement",
    "paper_table1",
    "paper_table2",
)

QUALITY_METRICS = ("coverage", "syntactic", "semantic", "diversity")
QUALITY_COLUMNS = [
    "dataset",
    "rm",
    "perturber",
    "seed",
    "side",
    "kind",
    "n_comparisons",
    "n_ties",
    "n_rewrites",
    "n_failed",
    "failed_rate",
    *[c for m in QUALITY_METRICS for c in (m, f"{m}_se", f"{m}_n")],
    # appended (issue 13): the rewrite judge's verdicts on the rewrites (study.validity)
    "n_judged",
    "n_valid",
    "valid_rate",
]
SUMMARY_COLUMNS = [
    "dataset",
    "rm",
    "perturber",
    "side",
    "kind",
    "n_seeds",
    *[c for m in QUALITY_METRICS for c in (m, f"{m}_se")],
    # appended (issue 11): the sampling, which standard error the row uses, and its counts
    "failed_rate",
    "failed_rate_se",
    "n_comparisons",
    "n_ties",
    "n_rewrites",
    "n_failed",
    *[f"{m}_n" for m in QUALITY_METRICS],
    "sampling",
    "se_over",
    # appended (issue 13): the rewrite judge's verdicts on the row's rewrites
    "n_judged",
    "n_valid",
    "valid_rate",
]
#: the pooled figures over the distinct sampled comparisons (``quality.pooled_quality``)
POOLED_COLUMNS = [
    "dataset",
    "rm",
    "perturber",
    "side",
    "kind",
    "n_comparisons",
    "n_ties",
    "n_rewrites",
    "n_failed",
    "failed_rate",
    "failed_rate_se",
    *[c for m in QUALITY_METRICS for c in (m, f"{m}_se", f"{m}_n")],
    "n_judged",
    "n_valid",
    "valid_rate",
]
EXAMPLE_COLUMNS = ["dataset", "rm", "rank", "comparison_id", "tau", "p", "n_attributes"]
CONTRAST_COLUMNS = ["dataset", "rm_a", "rm_b", "rank", "comparison_id", "tau", "p", "n_attributes"]
TAU_COLUMNS = [
    "dataset",
    "rm_a",
    "rm_b",
    "tau",
    "p_value",
    "n_attributes",
    "n_agree",
    "tau_low",
    "tau_high",
    "tau_note",
    "n_boot_undefined",
]

ReportRenderer = Callable[["StudyResult", Path], Path]


@dataclass
class StudyResult:
    """Everything the study produced, as tidy DataFrames (one concept per frame).

    - ``quality``: per dataset × RM × perturber × seed × side × kind (CF/SF): coverage,
      syntactic and semantic distance and diversity, each with its standard error over the
      seed's comparisons and the number of comparisons it averages (``*_n``); ``n_ties``
      counts the sampled comparisons the RM scores as ties, left out (nothing to explain);
      ``n_failed`` of ``n_rewrites`` (``failed_rate``) the seed's failed rewrites in the scope,
      which count as not found. Last, ``n_judged`` / ``n_valid`` / ``valid_rate``: the rewrite
      judge's verdicts on those rewrites (NaN "not measured" without a judge and for the
      baselines, which are not judged; :mod:`.validity`). With ``valid_only`` the coverage,
      distances and diversity of the judged perturbers count only valid CFs (SFs) as found.
    - ``quality_summary``: the same over seeds (``failed_rate`` too). When the seeds are
      disjoint samples (``sampling == "disjoint"``: the data holds seeds × per_seed
      comparisons) each figure is the mean of the per-seed values and ``*_se`` their standard
      error (seed-to-seed spread, as a paper table reports it; ``se_over == "seeds"``). When
      they overlap (``"overlapping"``) or are one sample (``"single sample"``: one seed, or no
      more comparisons than per_seed) the seed spread is meaningless (0 by construction for
      identical seeds), so the figures are the mean and standard error over the distinct
      sampled comparisons (``se_over == "comparisons"``). ``n_comparisons``, ``n_rewrites``,
      ``n_failed`` and ``*_n`` count the distinct comparisons (rewrites) behind each row.
    - ``per_comparison``: the unit behind ``quality`` (``metrics.comparison_quality`` rows with
      dataset, rm, perturber): recompute or re-slice any figure from it.
    - ``sensitivity``: PFR per dataset × RM × perturber × attribute × direction, on the
      comparisons all RMs agree on (``agreement``: each RM's preference per comparison and
      ``all_agree``, see :func:`rmx_widgets.core.compare.agreement`); ``tau``: Kendall's τ-b
      between the PFR vectors of every ordered pair of RMs (the matrix: :meth:`tau_matrix`),
      with ``tau_low``/``tau_high`` (percentile 95% bootstrap over the agreed comparisons),
      ``tau_note`` (why τ is NaN: e.g. an RM's flip rates are all equal) and
      ``n_boot_undefined`` (resamples dropped); ``representatives`` per RM;
      ``contrasting`` per pair.
    - ``tables``: the explanation tables, keyed by (dataset, rm, perturber), with the study's
      names in the ``rm`` and ``perturber`` columns; ``skipped``: perturbers that could not
      run, with the reason; ``config``: what was asked for (names → identities, seeds, ...).
    - ``paper_table1`` / ``paper_table2``: the paper's Table 1 (CF/SF coverage on the chosen,
      rejected and both sides, with n and the failed rewrites) and Table 2 (syntactic and
      semantic distance and diversity, side "either"), tidy and numeric, every data set in one
      frame (:mod:`.paper_tables`); built from ``quality_summary`` unless given. Formatted
      per data set: :meth:`paper_table`.
    """

    quality: pd.DataFrame
    quality_summary: pd.DataFrame
    per_comparison: pd.DataFrame
    sensitivity: pd.DataFrame
    tau: pd.DataFrame
    representatives: pd.DataFrame
    contrasting: pd.DataFrame
    agreement: pd.DataFrame
    tables: dict[tuple[str, str, str], pd.DataFrame]
    skipped: dict[str, str]
    config: dict[str, Any]
    samples: dict[str, dict[int, list[str]]] = field(default_factory=dict)
    #: the RM-ordered originals per (dataset, rm) and the comparisons per dataset, so that
    #: views can show any example beside its originals
    originals: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    comparisons: dict[str, list[Comparison]] = field(default_factory=dict)
    #: writes the HTML report of this result to a path (``evaluate`` gives
    #: ``rmx_widgets.core.study.report.write_study_report``); ``save(report=True)`` uses it
    render_report: ReportRenderer | None = field(default=None, repr=False, compare=False)
    #: derived from ``quality_summary`` in ``__post_init__`` when not given (a loaded or
    #: hand-built result may pass its own)
    paper_table1: pd.DataFrame = field(default=None, repr=False)
    paper_table2: pd.DataFrame = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.paper_table1 is None:
            self.paper_table1 = paper_tables.table1(self.quality_summary, self.config)
        if self.paper_table2 is None:
            self.paper_table2 = paper_tables.table2(self.quality_summary, self.config)

    @property
    def datasets(self) -> list[str]:
        return list(self.config["datasets"])

    @property
    def rms(self) -> list[str]:
        return list(self.config["rms"])

    @property
    def primary(self) -> str | None:
        return self.config.get("primary")

    @property
    def judge(self) -> str | None:
        """The rewrite judge's identity (None: the study had none)."""
        return self.config.get("judge")

    @property
    def valid_only(self) -> bool:
        """Whether the figures count only the rewrites the judge found valid."""
        return bool(self.config.get("valid_only", False))

    @property
    def sampling(self) -> dict[str, str]:
        """Per data set: ``"disjoint"``, ``"overlapping"`` or ``"single sample"`` (see
        ``quality_summary``)."""
        return dict(self.config.get("sampling", {}))

    def se_note(self, dataset: str | None = None) -> str:
        """What the ± of ``dataset``'s quality table is, in words (reports, widget, CLI)."""
        dataset = self._dataset(dataset)
        mode = self.sampling.get(dataset, "disjoint")
        seeds, per_seed = len(self.config.get("seeds", [])), self.config.get("per_seed")
        n = self.config.get("datasets", {}).get(dataset, "?")
        if mode == "disjoint":
            return (
                f"mean over {seeds} disjoint seeded samples of {per_seed} comparisons "
                "± the standard error of the per-seed means"
            )
        why = (
            "one seed"
            if seeds == 1
            else f"the data set has {n} comparisons, fewer than {seeds} seeds × {per_seed}"
        )
        return (
            f"mean ± standard error over the distinct sampled comparisons ({mode}: {why}, "
            "so the seeds are not independent samples)"
        )

    def tau_matrix(self, dataset: str | None = None, *, values: str = "tau") -> pd.DataFrame:
        """Kendall's τ (or ``values="p_value"``) as an RM × RM matrix for one data set."""
        dataset = self._dataset(dataset)
        rows = self.tau[self.tau["dataset"] == dataset]
        matrix = rows.pivot(index="rm_a", columns="rm_b", values=values)
        return matrix.reindex(index=self.rms, columns=self.rms)

    def main_table(self, dataset: str | None = None, side: str = "both") -> pd.DataFrame:
        """The paper's main table for one data set and side: one row per (RM, perturber),
        CF and SF coverage, distances and diversity as "mean ± se" strings, and which standard
        error the ± is (``± s.e. over``: "seeds" or "comparisons", see ``quality_summary``)."""
        dataset = self._dataset(dataset)
        s = self.quality_summary
        s = s[(s["dataset"] == dataset) & (s["side"] == side)]
        rows = []
        for (rm, pert), group in s.groupby(["rm", "perturber"], sort=False):
            row: dict[str, Any] = {"rm": rm, "perturber": pert}
            for kind in ("CF", "SF"):
                k = group[group["kind"] == kind]
                for m in QUALITY_METRICS:
                    row[f"{kind} {m}"] = _pm(k[m].iloc[0], k[f"{m}_se"].iloc[0]) if len(k) else ""
            row["± s.e. over"] = str(group["se_over"].iloc[0])
            rows.append(row)
        return pd.DataFrame(rows)

    def paper_table(
        self, number: int, dataset: str | None = None, *, formatted: bool = False
    ) -> pd.DataFrame:
        """The paper's Table ``number`` (1: coverage, 2: distances and diversity) of one data
        set (default: the first): the numeric rows of ``paper_table1``/``paper_table2``, or
        with ``formatted`` the table as printed ("0.533 ± 0.041" cells, "not measured" where
        nothing was found; the ± is :meth:`se_note`'s, the caption
        :meth:`paper_table_caption`'s)."""
        if number not in (1, 2):
            raise RMXError(f"the paper has tables 1 and 2, not {number!r}.")
        dataset = self._dataset(dataset)
        frame = self.paper_table1 if number == 1 else self.paper_table2
        rows = frame[frame["dataset"] == dataset].reset_index(drop=True)
        if not formatted:
            return rows
        if number == 1:
            return paper_tables.format_table1(rows, judged=self.judge is not None)
        return paper_tables.format_table2(rows)

    def paper_table_caption(self, number: int, dataset: str | None = None) -> str:
        """What each cell of :meth:`paper_table` ``(number, dataset)`` is, in words."""
        dataset = self._dataset(dataset)
        return paper_tables.caption(
            number, dataset, self.se_note(dataset), self.judge, self.valid_only
        )

    def primary_table(self, dataset: str, rm: str) -> pd.DataFrame | None:
        """The explanation table of ``rm`` by the primary perturber (the one the RM-vs-RM
        half and the examples use), or None when it did not run."""
        if self.primary is None:
            return None
        return self.tables.get((dataset, rm, self.primary))

    def save(
        self, out_dir: str | Path, *, report: bool = True, force: bool = False
    ) -> dict[str, Path]:
        """Write every frame (CSV, plus Parquet for the large ones), ``study.json`` and, with
        ``report``, the HTML report; returns the paths by name. The folder is locked while
        writing, every file appears atomically, and an existing file rmx did not write is
        replaced only with ``force``."""
        if report and self.render_report is None:
            raise RMXError(
                "this StudyResult has no report renderer; save it with "
                "report=False, or write the report with rmx_widgets.core.study."
                "report.write_study_report(result, path)."
            )
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RMXError(f"cannot create the output folder {out}: {e.strerror}.") from None
        with OutputLock(out):
            claim_outputs(out, self.file_names(report), force=force)
            return self._save(out, report)

    @staticmethod
    def file_names(report: bool) -> list[str]:
        """The files :meth:`save` writes in its folder."""
        names = [f"{n}.csv" for n in STUDY_CSVS] + ["per_comparison.parquet", "tables.parquet"]
        return names + ["study.json"] + (["report.html"] if report else [])

    def _save(self, out: Path, report: bool) -> dict[str, Path]:
        paths: dict[str, Path] = {}
        for name in STUDY_CSVS:
            frame = getattr(self, name)
            paths[name] = out / f"{name}.csv"
            with atomic_path(paths[name]) as tmp:
                write_csv(frame, tmp)
        paths["per_comparison"] = out / "per_comparison.parquet"
        with atomic_path(paths["per_comparison"]) as tmp:
            self.per_comparison.to_parquet(tmp, index=False)
        paths["tables"] = out / "tables.parquet"
        tables = [t for t in self.tables.values() if len(t)]
        with atomic_path(paths["tables"]) as tmp:
            (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()).to_parquet(
                tmp, index=False
            )
        paths["study"] = out / "study.json"
        write_text(
            paths["study"],
            json.dumps({**self.config, "skipped": self.skipped, "samples": self.samples}, indent=2)
            + "\n",
        )
        if report and self.render_report is not None:
            paths["report"] = self.render_report(self, out / "report.html")
        return paths

    def _dataset(self, dataset: str | None) -> str:
        if dataset is None:
            return self.datasets[0]
        if dataset not in self.datasets:
            raise RMXError(f"unknown data set {dataset!r}; the study has {self.datasets}.")
        return dataset


def _pm(mean: float, se: float) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    return f"{mean:.3f}" if se is None or math.isnan(se) else f"{mean:.3f} ± {se:.3f}"
