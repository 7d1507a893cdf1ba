"""The first half of the study: how good the explanations are, per seed and over seeds.

Each (data set, RM, perturber) is explained once, on the union of the seeds' samples; a seed's
figures average the per-comparison quality rows (``metrics.comparison_quality``) of its own
sample only, so seeds cost nothing beyond their share of the union.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from rmx_widgets.core import metrics
from rmx_widgets.core.study.result import QUALITY_METRICS, SUMMARY_COLUMNS


def quality_by_seed(
    pc: pd.DataFrame,
    samples: dict[int, list[str]],
    explained: set[str],
    *,
    valid_only: bool = False,
) -> list[dict[str, Any]]:
    """Average one (dataset, rm, perturber)'s per-comparison rows over each seed's sample.

    Ties (comparisons the RM does not order) have nothing to explain and are left out of the
    denominator; comparisons whose rewrites all failed stay in it, as not found. ``coverage``
    is the mean of ``found`` (:func:`metrics.scope_found`), so on the same comparisons it is
    :func:`metrics.coverage`; ``failed_rate`` = n_failed / n_rewrites of the seed's rewrites in
    the scope, beside it (NaN without rewrites); ``n_judged`` / ``n_valid`` / ``valid_rate``
    the rewrite judge's verdicts on those rewrites (:mod:`.validity`; NaN "not measured"
    when none was judged: no judge, a baseline, or no test for the attribute).

    ``valid_only``: ``pc`` was computed on the valid-only rows (``validity.valid_only_outcomes``),
    so ``found`` means "a *valid* CF (SF) was found"; a scope whose successful rewrites have no
    verdict at all then has no coverage to speak of (NaN, "not measured", not 0). A scope
    whose rewrites all failed keeps coverage 0, as without a judge.
    """
    return [
        {"seed": seed, **rec}
        for seed, ids in samples.items()
        for rec in _figures(pc, ids, explained, valid_only)
    ]


def pooled_quality(
    pc: pd.DataFrame, ids: list[str], explained: set[str], *, valid_only: bool = False
) -> list[dict[str, Any]]:
    """The same figures over the distinct comparisons ``ids`` (the union of the seeds'
    samples, each comparison once), each with its standard error over those comparisons;
    ``failed_rate_se`` is the ratio estimator's: with f_i failed of n_i rewrites in comparison
    i (k comparisons with n_i > 0) and r = Σf/Σn, se = sqrt(Σ(f_i − r·n_i)² / (k(k − 1))) / n̄
    (rewrites of one comparison share it and are not independent; NaN for k < 2)."""
    records = _figures(pc, ids, explained, valid_only)
    for rec, (_, group) in zip(records, _groups(pc, ids, explained)):
        rec["failed_rate_se"] = ratio_se(group["n_failed"], group["n_rewrites"])
    return records


def ratio_se(failed: Any, rewrites: Any) -> float:
    """Standard error of Σfailed / Σrewrites over clusters (see :func:`pooled_quality`)."""
    f = pd.to_numeric(pd.Series(failed), errors="coerce").to_numpy(float)
    n = pd.to_numeric(pd.Series(rewrites), errors="coerce").to_numpy(float)
    keep = np.isfinite(f) & np.isfinite(n) & (n > 0)
    f, n = f[keep], n[keep]
    k = len(n)
    if k < 2:
        return math.nan
    r = f.sum() / n.sum()
    return float(math.sqrt(((f - r * n) ** 2).sum() / (k * (k - 1))) / n.mean())


def _groups(pc: pd.DataFrame, ids: list[str], explained: set[str]) -> Any:
    rows = pc[pc["comparison_id"].isin([i for i in ids if i in explained])]
    return rows.groupby(["side", "kind"], sort=False)


def _figures(
    pc: pd.DataFrame, ids: list[str], explained: set[str], valid_only: bool = False
) -> list[dict[str, Any]]:
    keep = [i for i in ids if i in explained]
    records = []
    for (side, kind), group in _groups(pc, ids, explained):
        rec: dict[str, Any] = {
            "side": side,
            "kind": kind,
            "n_comparisons": len(keep),
            "n_ties": len(ids) - len(keep),
        }
        n_rewrites, n_failed = int(group["n_rewrites"].sum()), int(group["n_failed"].sum())
        rec["n_rewrites"], rec["n_failed"] = n_rewrites, n_failed
        rec["failed_rate"] = n_failed / n_rewrites if n_rewrites else math.nan
        rec["coverage"], rec["coverage_se"], rec["coverage_n"] = metrics.mean_and_se(
            group["found"].astype(float)
        )
        found = group[group["found"]]
        for m in ("syntactic", "semantic", "diversity"):
            rec[m], rec[f"{m}_se"], rec[f"{m}_n"] = metrics.mean_and_se(found[m])
        n_judged, n_valid = _sum(group, "n_judged"), _sum(group, "n_valid")
        if valid_only and n_judged == 0 and n_rewrites > n_failed:
            rec["coverage"], rec["coverage_se"], rec["coverage_n"] = math.nan, math.nan, 0
        rec["n_judged"], rec["n_valid"] = n_judged, n_valid
        rec["valid_rate"] = n_valid / n_judged if n_judged else math.nan
        records.append(rec)
    return records


def _sum(group: pd.DataFrame, column: str) -> int:
    """The column's total (0 for rows made before the study had a judge: no such column)."""
    return int(group[column].sum()) if column in group.columns else 0


def summarise(
    quality: pd.DataFrame, pooled: pd.DataFrame, sampling: dict[str, str]
) -> pd.DataFrame:
    """The per-seed figures over seeds, with the standard error the sampling allows.

    With ``"disjoint"`` seeds (no comparison in two of them) each figure — ``failed_rate``
    included — is the mean of the per-seed values and ``*_se`` the standard error of those
    values (the seed-to-seed spread a paper table reports; ``se_over = "seeds"``). When the
    seeds overlap or are one sample, their values are not independent (identical seeds give
    a spread of 0 by construction), so each figure is the mean over the distinct sampled
    comparisons and ``*_se`` its standard error over them (``pooled``, from
    :func:`pooled_quality`; ``se_over = "comparisons"``). ``n_comparisons``, ``n_ties``,
    ``n_rewrites``, ``n_failed`` and ``*_n`` always count the distinct comparisons (rewrites)
    behind the row; so do ``n_judged`` / ``n_valid``, and ``valid_rate`` is their ratio over
    those distinct rewrites (n_valid / n_judged, so "45 of 50 judged" reads 0.900 in every
    sampling mode; NaN when none was judged). ``sampling`` maps each data set to its
    :func:`inputs.sampling_mode`.
    """
    keys = ["dataset", "rm", "perturber", "side", "kind"]
    by_key = {tuple(r[k] for k in keys): r for r in pooled.to_dict("records")}
    records = []
    for key, group in quality.groupby(keys, sort=False):
        rec: dict[str, Any] = dict(zip(keys, key))
        rec["n_seeds"] = len(group)
        union = by_key.get(key, {})
        mode = sampling.get(str(key[0]), "disjoint")
        over_seeds = mode == "disjoint"
        for m in (*QUALITY_METRICS, "failed_rate"):
            if over_seeds:
                rec[m], rec[f"{m}_se"], _ = metrics.mean_and_se(group[m])
            else:
                rec[m], rec[f"{m}_se"] = union.get(m, math.nan), union.get(f"{m}_se", math.nan)
        for c in ("n_comparisons", "n_ties", "n_rewrites", "n_failed"):
            rec[c] = union.get(c, 0)
        for m in QUALITY_METRICS:
            rec[f"{m}_n"] = union.get(f"{m}_n", 0)
        rec["sampling"] = mode
        rec["se_over"] = "seeds" if over_seeds else "comparisons"
        rec["n_judged"], rec["n_valid"] = union.get("n_judged", 0), union.get("n_valid", 0)
        rec["valid_rate"] = union.get("valid_rate", math.nan)
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)
