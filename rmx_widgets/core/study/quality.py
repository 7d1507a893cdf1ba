"""The first half of the study: how good the explanations are, per seed and over seeds.

Each (data set, RM, perturber) is explained once, on the union of the seeds' samples; a seed's
figures average the per-comparison quality rows (``metrics.comparison_quality``) of its own
sample only, so seeds cost nothing beyond their share of the union.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from rmx_widgets.core import metrics
from rmx_widgets.core.study.result import QUALITY_METRICS, SUMMARY_COLUMNS


def quality_by_seed(
    pc: pd.DataFrame, samples: dict[int, list[str]], explained: set[str]
) -> list[dict[str, Any]]:
    """Average one (dataset, rm, perturber)'s per-comparison rows over each seed's sample.

    Ties (comparisons the RM does not order) have nothing to explain and are left out of the
    denominator; comparisons whose rewrites all failed stay in it, as not found. ``coverage``
    is the mean of ``found`` (:func:`metrics.scope_found`), so on the same comparisons it is
    :func:`metrics.coverage`; ``failed_rate`` = n_failed / n_rewrites of the seed's rewrites in
    the scope, beside it (NaN without rewrites).
    """
    records = []
    for seed, ids in samples.items():
        keep = [i for i in ids if i in explained]
        rows = pc[pc["comparison_id"].isin(keep)]
        for (side, kind), group in rows.groupby(["side", "kind"], sort=False):
            rec: dict[str, Any] = {
                "seed": seed,
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
            records.append(rec)
    return records


def summarise(quality: pd.DataFrame) -> pd.DataFrame:
    """The per-seed figures averaged over seeds; ``*_se`` is the standard error of the
    per-seed values (the seed-to-seed spread a paper table reports)."""
    keys = ["dataset", "rm", "perturber", "side", "kind"]
    records = []
    for key, group in quality.groupby(keys, sort=False):
        rec = dict(zip(keys, key))
        rec["n_seeds"] = len(group)
        for m in QUALITY_METRICS:
            rec[m], rec[f"{m}_se"], _ = metrics.mean_and_se(group[m])
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)
