"""Local sensitivity and representative examples (DESIGN §1).

A global PFR ranking is an average; readers trust it more when they can see single comparisons
that behave like it. The *local ranking* of one comparison orders its attributes the way the
global ranking orders them, on that comparison alone: flip rate (CFs / successful rewrites)
first, then the mean relative margin drop (within one comparison every rewrite shares the
divisor, its margin, so this orders the attributes as the global key's margin change in reward
spread units does), then name. *Representative* comparisons are those
whose local ranking agrees best with the RM's global ranking (Kendall's tau). The same local
rankings, τ and example picking give the *contrasting* examples of two RMs
(:mod:`rmx_widgets.core.compare`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.hand_edits import without_hand_edits
from rmx_widgets.core.metrics import require_columns
from rmx_widgets.core.sensitivity import ranking, ranking_key, relative_margin_change, sensitivity

LOCAL_COLUMNS = ["comparison_id", "attribute", "flips", "n", "flip_rate", "margin_drop", "rank"]
EXAMPLE_COLUMNS = ["comparison_id", "tau", "p", "n_attributes"]
MIN_ATTRIBUTES = 3
_NEEDED = ["comparison_id", "attribute", "outcome", "margin_before", "margin_after"]


def local_rankings(table: pd.DataFrame) -> pd.DataFrame:
    """Per comparison × attribute: flips, n, flip_rate, margin_drop and the rank within it.

    ``flips`` counts CFs and ``n`` the successful (non-failed) rewrites of the attribute in the
    comparison; ``flip_rate`` = flips / n, the local PFR, so an attribute whose rewrite failed
    on one side is not demoted against one with more rewrites. ``margin_drop`` is
    mean((margin_before − margin_after) / margin_before) over non-failed rows (1 means the
    margin vanished, > 1 means it flipped). ``rank`` is 1 for the most sensitive attribute and
    follows the global ranking's sort key (``sensitivity.ranking_key``): higher flip rate first,
    then a larger drop (NaN last), then name; attributes equal on (flip_rate, margin_drop)
    share the smaller rank. Attributes with no successful rewrite in a comparison are not
    ranked for it, as the global ranking leaves out untried attributes. Rows are sorted by
    comparison (first appearance), rank.
    """
    require_columns(table, _NEEDED, "local_rankings")
    table = without_hand_edits(table)  # as sensitivity() does: the global ranking's rows
    ok = table[table["outcome"] != "failed"]
    frame = pd.DataFrame(
        {
            "comparison_id": ok["comparison_id"].to_numpy(),
            "attribute": ok["attribute"].to_numpy(),
            "cf": (ok["outcome"] == "CF").to_numpy().astype(np.int64),
            "drop": -relative_margin_change(ok).to_numpy(),
        }
    )
    grouped = frame.groupby(["comparison_id", "attribute"], sort=False)
    local = pd.DataFrame(
        {
            "flips": grouped["cf"].sum(),
            "n": grouped["cf"].size(),
            "margin_drop": grouped["drop"].mean(),
        }
    ).reset_index()
    local["flip_rate"] = local["flips"] / local["n"]
    return _ranked(local)[LOCAL_COLUMNS].astype(
        {
            "flips": np.int64,
            "n": np.int64,
            "flip_rate": float,
            "margin_drop": float,
            "rank": np.int64,
        }
    )


def _ranked(local: pd.DataFrame) -> pd.DataFrame:
    """The rows sorted by comparison (first appearance), then the global ranking's sort key on
    the local flip rate and mean margin change (= −margin_drop); a rank shared by the rows of a
    comparison that are equal on (rate, change), i.e. on the key without the name. One sort
    over all rows, so a large table costs no per-comparison frames."""
    order = {cid: i for i, cid in enumerate(pd.unique(local["comparison_id"]))}
    keys = [
        (order[cid], ranking_key(float(rate), -float(drop), str(name)))
        for cid, rate, drop, name in zip(
            local["comparison_id"], local["flip_rate"], local["margin_drop"], local["attribute"]
        )
    ]
    rows = sorted(range(len(keys)), key=lambda i: keys[i])
    ranks: list[int] = []
    position = 0
    for j, i in enumerate(rows):
        previous = keys[rows[j - 1]] if j else None
        same_comparison = previous is not None and previous[0] == keys[i][0]
        position = position + 1 if same_comparison else 1
        tied = same_comparison and previous is not None and previous[1][:-1] == keys[i][1][:-1]
        ranks.append(ranks[-1] if tied else position)
    out = local.iloc[rows].reset_index(drop=True)
    out["rank"] = np.asarray(ranks, dtype=np.int64)
    return out


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
