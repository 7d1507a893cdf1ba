"""The rewrite judge in the study: valid-rewrite counts per scope, and the valid-only rows.

``evaluate(..., judge=...)`` hands the judge to the Explainer of every *attribute-aware*
perturber, so each of its successful rewrites gets a verdict (``valid`` / ``validity_reason``,
``core.validity_pass``; cached in the study's one store). The attribute-blind baselines
(random words, paraphrase, Polyjuice) are not judged: the study does give each of their
rewrites an attribute and a direction (the same budget as the attribute perturbers), but the
baseline never reads them, so "did the attribute move the asked way?" asks about an
instruction that was never given. Their successful rows keep ``valid`` <NA> with the reason
:data:`BASELINE_REASON`, and their valid-rewrite rate is "not measured".

Two things are read from the verdicts here:

* **per scope** (chosen, rejected, either, both; ``metrics.SCOPES``), beside ``n_rewrites`` /
  ``n_failed``: ``n_judged`` (successful rewrites with a True/False verdict) and ``n_valid``
  (True) — like the failed rate, they describe the scope's rewrites, so the CF and SF rows of
  one scope carry the same counts. Undecided verdicts count neither way
  (``core.validity_rates``).
* **valid only**: the rewrites whose verdict is not True are not explanations. For the quality
  tables they are relabelled (``outcome`` → :data:`NOT_VALID`) before
  ``metrics.comparison_quality`` reads the rows: still counted in ``n_rewrites`` (so the
  failed rate is unchanged), never *found*, so coverage asks "was a valid CF (SF) found?" and
  the distances and diversity describe valid explanations only. For the RM-vs-RM half they are
  dropped (failed rows kept for ``n_failed``), as ``sensitivity(valid_only=True)`` does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rmx_widgets.core.metrics import SCOPES
from rmx_widgets.core.sensitivity import DIRECTION_ROWS, sensitivity
from rmx_widgets.core.validity_rates import (
    VALIDITY_COLUMNS,
    has_verdicts,
    valid_flags,
    validity_columns,
)

#: ``validity_reason`` of a baseline's successful rewrite when the study has a judge
BASELINE_REASON = "not judged: baseline"
#: the ``outcome`` a successful rewrite without a True verdict gets in the valid-only quality
#: rows (neither CF, SF nor failed: counted as a rewrite, never found)
NOT_VALID = "not valid"
#: appended to ``metrics.comparison_quality``'s columns in the study's ``per_comparison``
COUNT_COLUMNS = ["n_judged", "n_valid"]


def mark_baseline(table: pd.DataFrame) -> pd.DataFrame:
    """A baseline's table with ``valid`` <NA> and :data:`BASELINE_REASON` on every successful
    row (failed rows have nothing to judge and keep no reason)."""
    ok = (table["outcome"] != "failed").to_numpy()
    reasons = pd.Series([BASELINE_REASON if o else None for o in ok], index=table.index)
    return table.assign(
        valid=pd.array([pd.NA] * len(table), dtype="boolean"),
        validity_reason=reasons.astype("str").where(ok, None),
    )


def valid_only_outcomes(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with each successful rewrite whose verdict is not True relabelled
    :data:`NOT_VALID` (see the module docstring), for ``metrics.comparison_quality``."""
    flags = valid_flags(table).fillna(False).astype(bool).to_numpy()
    ok = (table["outcome"] != "failed").to_numpy()
    outcome = table["outcome"].to_numpy(dtype=object).copy()
    outcome[ok & ~flags] = NOT_VALID
    return table.assign(outcome=outcome)


def scope_counts(table: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """Per comparison in ``ids`` × scope: ``n_judged`` and ``n_valid`` of its rewrites (one
    side for chosen / rejected, both sides for either / both, as ``n_rewrites`` counts them).
    Columns: comparison_id, side, n_judged, n_valid."""
    flags = valid_flags(table)
    frame = pd.DataFrame(
        {
            "comparison_id": table["comparison_id"].to_numpy(),
            "side": table["side"].to_numpy(),
            "judged": flags.notna().to_numpy().astype(np.int64),
            "valid": flags.fillna(False).astype(bool).to_numpy().astype(np.int64),
        }
    )
    per = frame.groupby(["comparison_id", "side"], sort=False)[["judged", "valid"]].sum()
    counts = {key: (int(j), int(v)) for key, j, v in per.itertuples(name=None)}
    records = []
    for cid in ids:
        sides = {s: counts.get((cid, s), (0, 0)) for s in ("chosen", "rejected")}
        for scope in SCOPES:
            parts = [sides[scope]] if scope in sides else list(sides.values())
            records.append((cid, scope, sum(p[0] for p in parts), sum(p[1] for p in parts)))
    out = pd.DataFrame.from_records(records, columns=["comparison_id", "side", *COUNT_COLUMNS])
    return out.astype(dict.fromkeys(COUNT_COLUMNS, np.int64))


def with_counts(pc: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``metrics.comparison_quality`` rows with :data:`COUNT_COLUMNS` appended (per
    comparison × scope, the same for its CF and SF rows)."""
    counts = scope_counts(table, list(pd.unique(pc["comparison_id"])))
    out = pc.merge(counts, on=["comparison_id", "side"], how="left", validate="m:1")
    return out.astype(dict.fromkeys(COUNT_COLUMNS, np.int64))


def valid_rows(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without its successful rewrites whose verdict is not True (failed rows
    kept); unlike ``validity_rates.valid_only_rows`` it accepts a table with no verdict (an
    attribute the judge has no test for): every successful rewrite is then left out."""
    keep = valid_flags(table).fillna(False).astype(bool) | (table["outcome"] == "failed")
    return table[keep.to_numpy()]


def valid_only_sensitivity(
    table: pd.DataFrame, *, n_boot: int, null: pd.DataFrame | None
) -> pd.DataFrame:
    """``sensitivity(table, valid_only=True)``, also for a table with no verdict at all
    (where it refuses): then no rewrite is valid, so every PFR is "not measured" (n = 0),
    and ``n_judged`` / ``n_valid`` / ``valid_rate`` still say nothing was judged."""
    if has_verdicts(table):
        return sensitivity(table, n_boot=n_boot, null=null, valid_only=True)
    ok = (table["outcome"] != "failed").to_numpy()
    forced = table.assign(valid=pd.array(np.where(ok, False, pd.NA), dtype="boolean"))
    if not ok.any():  # nothing but failures: nothing to leave out
        out = sensitivity(table, n_boot=n_boot, null=null)
        out.attrs["valid_only"] = True
        return out
    sens = sensitivity(forced, n_boot=n_boot, null=null, valid_only=True)
    attrs = list(pd.unique(table["attribute"]))
    truth = validity_columns(table, attrs, DIRECTION_ROWS)
    out = sens.drop(columns=VALIDITY_COLUMNS).merge(
        truth, on=["attribute", "direction"], how="left", validate="1:1"
    )
    out.attrs.update(sens.attrs)
    return out


__all__ = [
    "BASELINE_REASON",
    "COUNT_COLUMNS",
    "NOT_VALID",
    "mark_baseline",
    "scope_counts",
    "valid_only_outcomes",
    "valid_only_sensitivity",
    "valid_rows",
    "with_counts",
]
