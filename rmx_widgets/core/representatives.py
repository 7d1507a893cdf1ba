"""Local sensitivity and representative examples (DESIGN §1).

A global PFR ranking is an average; readers trust it more when they can see single comparisons
that behave like it. The *local ranking* of one comparison orders its attributes by how
strongly perturbing them moved that comparison's margin: number of flips first, then the mean
relative margin drop. *Representative* comparisons are those whose local ranking agrees best
with the RM's global ranking (Kendall's tau). The same local rankings, τ and example picking
give the *contrasting* examples of two RMs (:mod:`rmx_widgets.core.compare`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.metrics import require_columns
from rmx_widgets.core.sensitivity import ranking, relative_margin_change, sensitivity

LOCAL_COLUMNS = ["comparison_id", "attribute", "flips", "n", "margin_drop", "rank"]
EXAMPLE_COLUMNS = ["comparison_id", "tau", "p", "n_attributes"]
MIN_ATTRIBUTES = 3
_NEEDED = ["comparison_id", "attribute", "outcome", "margin_before", "margin_after"]


def local_rankings(table: pd.DataFrame) -> pd.DataFrame:
    """Per comparison × attribute: flips, n, margin_drop and the rank within the comparison.

    ``flips`` counts CFs; ``margin_drop`` is mean((margin_before − margin_after) /
    margin_before) over non-failed rows (1 means the margin vanished, > 1 means it flipped).
    ``rank`` is 1 for the most sensitive attribute: more flips first, then a larger drop; equal
    (flips, margin_drop) share the smaller rank. Attributes whose perturbations all failed for a
    comparison are not ranked for it. Rows are sorted by comparison (first appearance), rank.
    """
    require_columns(table, _NEEDED, "local_rankings")
    ok = table[table["outcome"] != "failed"]
    if ok.empty:
        return pd.DataFrame(
            {
                "comparison_id": pd.Series(dtype=object),
                "attribute": pd.Series(dtype=object),
                "flips": pd.Series(dtype=np.int64),
                "n": pd.Series(dtype=np.int64),
                "margin_drop": pd.Series(dtype=float),
                "rank": pd.Series(dtype=np.int64),
            }
        )
    frame = pd.DataFrame(
        {
            "comparison_id": ok["comparison_id"].to_numpy(),
            "attribute": ok["attribute"].to_numpy(),
            "cf": (ok["outcome"] == "CF").to_numpy().astype(np.int64),
            "drop": -relative_margin_change(ok).to_numpy(),
        }
    )
    order = {cid: i for i, cid in enumerate(pd.unique(frame["comparison_id"]))}
    grouped = frame.groupby(["comparison_id", "attribute"], sort=False)
    local = pd.DataFrame(
        {
            "flips": grouped["cf"].sum(),
            "n": grouped["cf"].size(),
            "margin_drop": grouped["drop"].mean(),
        }
    ).reset_index()
    local["_c"] = local["comparison_id"].map(order)
    # NaN drops (no finite change) sort last within equal flips.
    local["_d"] = local["margin_drop"].fillna(-np.inf)
    local = local.sort_values(
        ["_c", "flips", "_d", "attribute"], ascending=[True, False, False, True], kind="stable"
    )
    new_group = local["_c"].ne(local["_c"].shift())
    new_key = (
        new_group | local["flips"].ne(local["flips"].shift()) | local["_d"].ne(local["_d"].shift())
    )
    position = local.groupby("_c").cumcount() + 1
    local["rank"] = position.where(new_key).ffill().astype(np.int64)
    local = local.drop(columns=["_c", "_d"]).reset_index(drop=True)
    local["flips"] = local["flips"].astype(np.int64)
    local["n"] = local["n"].astype(np.int64)
    return local[LOCAL_COLUMNS]


def rank_tau(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Kendall's tau-b (ties allowed) and its p-value between two rank vectors of the same
    items; (nan, nan) for fewer than two items or when either side is constant (no pair is
    ordered on it, so agreement is undefined)."""
    if len(x) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan, math.nan
    result = stats.kendalltau(x, y)
    return float(result.statistic), float(result.pvalue)


def check_k(k: int) -> None:
    """How many examples to return must be a positive integer; say so otherwise."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise RMXError(f"k must be a positive integer (how many examples to return), got {k!r}.")


def top_examples(records: Sequence[tuple], k: int, *, best_first: bool) -> pd.DataFrame:
    """The k best of (comparison_id, tau, p, n_attributes) records as an EXAMPLE_COLUMNS frame:
    highest (``best_first``) or lowest tau first, ties broken by comparison_id so the choice is
    reproducible; undefined taus and comparisons with fewer than MIN_ATTRIBUTES ranked
    attributes (a tau over two items is just ±1) are left out."""
    out = pd.DataFrame.from_records(records, columns=EXAMPLE_COLUMNS)
    out = out[out["tau"].notna() & (out["n_attributes"] >= MIN_ATTRIBUTES)]
    if out.empty:
        return out.reset_index(drop=True).astype(
            {"tau": float, "p": float, "n_attributes": np.int64}
        )
    out = out.assign(
        _key=-out["tau"] if best_first else out["tau"], _id=out["comparison_id"].astype(str)
    )
    out = out.sort_values(["_key", "_id"], kind="stable").drop(columns=["_key", "_id"])
    out = out.head(k).reset_index(drop=True)
    return out.astype({"tau": float, "p": float, "n_attributes": np.int64})


def representatives(
    table: pd.DataFrame, k: int = 5, sens: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The k comparisons whose local ranking agrees most with the global ranking.

    Columns: comparison_id, tau, p, n_attributes (attributes ranked both locally and
    globally). Only comparisons with at least three such attributes count, since a tau over two
    items is just ±1; comparisons whose local ranks are all tied (tau undefined) are skipped.
    Highest tau first; ties broken by comparison_id so the choice is reproducible. ``sens``
    reuses an already computed :func:`sensitivity` table (otherwise one is computed without
    bootstrap, which the ranking does not need).
    """
    check_k(k)
    require_columns(table, _NEEDED, "representatives")
    if sens is None:
        sens = sensitivity(table, n_boot=0)
    global_pos = {a: i for i, a in enumerate(ranking(sens))}
    records = []
    for cid, group in local_rankings(table).groupby("comparison_id", sort=False):
        group = group[group["attribute"].isin(global_pos)]
        x = [float(global_pos[a]) for a in group["attribute"]]
        y = [float(r) for r in group["rank"]]
        tau, p = rank_tau(x, y)
        records.append((cid, tau, p, len(group)))
    return top_examples(records, k, best_first=True)
