"""RM vs RM: which comparisons reward models agree on, how alike their attribute rankings are,
and where they agree for the most different reasons (DESIGN §1, "RM vs RM").

Every path that compares RMs uses this module, so each term means one thing everywhere
(``rmx.compare``, the RMCompare widget, the study):

* A comparison is **agreed** by a set of RMs when it is a tie for none of them and every one
  prefers the same original response (:func:`agreement`). Elsewhere the rewrites explain
  different preferences, or none, so their flips are not comparable. "Both RMs agree" is this
  with two RMs, the study's "all RMs agree" with all of them; with one RM every comparison it
  does not score as a tie is agreed.
* **Kendall's τ** between two attribute rankings (most to least sensitive), over the attributes
  both rank (:func:`kendall_tau`); :func:`pairwise_tau` is the matrix of it for several RMs.
* **Contrasting examples** of two RMs: agreed comparisons whose local rankings (one per RM, see
  :mod:`rmx_widgets.core.representatives`) disagree most (:func:`contrasting_examples`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.metrics import require_columns
from rmx_widgets.core.representatives import (
    check_k,
    local_rankings,
    rank_tau,
    top_examples,
)
from rmx_widgets.core.result import ExplanationResult
from rmx_widgets.core.sensitivity import ranking, sensitivity

TAU_COLUMNS = ["rm_a", "rm_b", "tau", "p_value", "n_attributes"]
PAIR_COLUMNS = ["rm_a", "rm_b", "rank", "comparison_id", "tau", "p", "n_attributes"]
_LOCAL_NEEDED = [
    "comparison_id",
    "attribute",
    "outcome",
    "margin_before",
    "margin_after",
    "preferred",
]


def preferences(frame: pd.DataFrame) -> pd.Series:
    """An RM's original preference per comparison_id: 'a', 'b', or missing for a tie.

    ``frame`` is an explanation table (one preference per row, the same on all rows of a
    comparison) or an ``originals`` frame (one row per comparison, ``preferred`` empty for a
    tie): both carry ``comparison_id`` and ``preferred``.
    """
    require_columns(frame, ["comparison_id", "preferred"], "preferences")
    return frame.groupby("comparison_id", sort=False)["preferred"].first()


def agreement(prefs: Sequence[pd.Series], ids: Sequence | None = None) -> pd.Series:
    """Whether each comparison is agreed by every RM: a tie for none, the same preference.

    ``prefs`` holds one :func:`preferences` series per RM; a comparison missing from one of
    them counts as a tie for that RM (it has no preference there). ``ids`` are the comparisons
    to judge, in the order of the result (default: the first RM's). Returns a boolean series
    indexed by comparison_id.
    """
    if not prefs:
        raise RMXError("agreement needs the preferences of at least one reward model.")
    index = pd.Index(list(prefs[0].index) if ids is None else list(ids), name="comparison_id")
    stacked = pd.concat([p.reindex(index) for p in prefs], axis=1, ignore_index=True)
    agreed = stacked.notna().all(axis=1) & stacked.nunique(axis=1).eq(1)
    return agreed.astype(bool).rename("agreed")


def _shared_ids(prefs: Sequence[pd.Series]) -> pd.Index:
    common = prefs[0].index
    for p in prefs[1:]:
        common = common.intersection(p.index, sort=False)
    return common


def agreeing_comparisons(*tables: pd.DataFrame) -> list:
    """Ids of the comparisons that the RMs of all these explanation tables agree on (see
    :func:`agreement`), in the first table's order.

    Tables that share no comparison_id were not run on the same comparisons, and comparing
    them is a mistake: that raises :class:`DataError`.
    """
    if not tables:
        raise RMXError("agreeing_comparisons needs at least one explanation table.")
    prefs = [preferences(t) for t in tables]
    if len(_shared_ids(prefs)) == 0:
        raise DataError(
            "the explanation tables share no comparison_id; run the reward models "
            "on the same comparisons before comparing them."
        )
    agreed = agreement(prefs)
    return list(agreed.index[agreed.to_numpy()])


def kendall_tau(rank_a: Sequence[str], rank_b: Sequence[str]) -> tuple[float, float]:
    """Kendall's tau (and its p-value) between two rankings, on their common attributes.

    Each ranking lists attributes from most to least sensitive. Attributes in only one ranking
    are ignored. Fewer than two common attributes give (nan, nan): there is no pair to order.
    """
    pos_b = {a: i for i, a in enumerate(rank_b)}
    common = [a for a in rank_a if a in pos_b]
    return rank_tau([float(i) for i in range(len(common))], [float(pos_b[a]) for a in common])


def pairwise_tau(rankings: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Kendall's τ for every ordered pair of named rankings (an RM with itself included, so
    the rows pivot to a full matrix): columns rm_a, rm_b, tau, p_value, n_attributes (the
    attributes both rank)."""
    rows = []
    for a, b in itertools.product(rankings, repeat=2):
        tau, p_value = kendall_tau(rankings[a], rankings[b])
        rows.append((a, b, tau, p_value, len(set(rankings[a]) & set(rankings[b]))))
    return pd.DataFrame.from_records(rows, columns=TAU_COLUMNS)


def contrasting_examples(table_a: pd.DataFrame, table_b: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """The k comparisons where two RMs prefer the same response for the most different reasons.

    Restricted to the comparisons both RMs agree on; for each, Kendall's tau between the two
    local rankings over the attributes ranked by both (at least three). Lowest tau first, ties
    broken by comparison_id. Columns: comparison_id, tau, p, n_attributes.
    """
    check_k(k)
    require_columns(table_a, _LOCAL_NEEDED, "contrasting_examples (first table)")
    require_columns(table_b, _LOCAL_NEEDED, "contrasting_examples (second table)")
    agree = set(agreeing_comparisons(table_a, table_b))
    local_a = local_rankings(table_a[table_a["comparison_id"].isin(agree)])
    local_b = local_rankings(table_b[table_b["comparison_id"].isin(agree)])
    merged = local_a.merge(
        local_b, on=["comparison_id", "attribute"], suffixes=("_a", "_b"), sort=False
    )
    records = []
    for cid, group in merged.groupby("comparison_id", sort=False):
        tau, p = rank_tau([float(r) for r in group["rank_a"]], [float(r) for r in group["rank_b"]])
        records.append((cid, tau, p, len(group)))
    return top_examples(records, k, best_first=False)


def contrasting_pairs(tables: Mapping[str, pd.DataFrame], k: int = 5) -> pd.DataFrame:
    """:func:`contrasting_examples` for every pair of named RMs (each pair once, in order):
    columns rm_a, rm_b, rank (1 = most contrasting), comparison_id, tau, p, n_attributes."""
    frames = []
    for a, b in itertools.combinations(tables, 2):
        con = contrasting_examples(tables[a], tables[b], k=k)
        frames.append(con.assign(rm_a=a, rm_b=b, rank=np.arange(1, len(con) + 1)))
    if not frames:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    return pd.concat(frames, ignore_index=True)[PAIR_COLUMNS]


@dataclass
class RMComparison:
    """Two RMs' sensitivities side by side and how well their rankings agree.

    ``tau``/``p_value`` compare the two global rankings computed only on the ``n_agree``
    comparisons both RMs agree on (of the ``n_common`` both explained): where they disagree,
    the perturbations explain different preferences and are not comparable. ``sens_a`` and
    ``sens_b`` describe each full table.
    """

    sens_a: pd.DataFrame
    sens_b: pd.DataFrame
    tau: float
    p_value: float
    n_agree: int
    contrasting: pd.DataFrame
    name_a: str = "rm-a"
    name_b: str = "rm-b"
    n_common: int = 0
    ranking_a: list[str] = field(default_factory=list)
    ranking_b: list[str] = field(default_factory=list)


def _rm_name(table: pd.DataFrame, default: str) -> str:
    if "rm" in table.columns and table["rm"].notna().any():
        names = list(pd.unique(table["rm"].dropna()))
        return str(names[0]) if len(names) == 1 else ", ".join(map(str, names))
    return default


def compare_tables(
    table_a: pd.DataFrame, table_b: pd.DataFrame, *, k: int = 5, n_boot: int = 1000, seed: int = 0
) -> RMComparison:
    """Compare two RMs explained on the same comparisons (see :class:`RMComparison`);
    ``contrasting`` holds the k agreed comparisons whose local rankings differ most."""
    agree = agreeing_comparisons(table_a, table_b)
    n_common = len(_shared_ids([preferences(table_a), preferences(table_b)]))
    sens_a = sensitivity(table_a, n_boot=n_boot, seed=seed)
    sens_b = sensitivity(table_b, n_boot=n_boot, seed=seed)
    sub_a = table_a[table_a["comparison_id"].isin(agree)]
    sub_b = table_b[table_b["comparison_id"].isin(agree)]
    rank_a = ranking(sensitivity(sub_a, n_boot=0)) if agree else []
    rank_b = ranking(sensitivity(sub_b, n_boot=0)) if agree else []
    tau, p_value = kendall_tau(rank_a, rank_b)
    return RMComparison(
        sens_a=sens_a,
        sens_b=sens_b,
        tau=tau,
        p_value=p_value,
        n_agree=len(agree),
        contrasting=contrasting_examples(table_a, table_b, k=k),
        name_a=_rm_name(table_a, "rm-a"),
        name_b=_rm_name(table_b, "rm-b"),
        n_common=n_common,
        ranking_a=rank_a,
        ranking_b=rank_b,
    )


def compare(
    result_a: ExplanationResult, result_b: ExplanationResult, *, k: int = 5
) -> RMComparison:
    """``rmx.compare``: two RMs explained on the same comparisons, compared (Kendall's τ of
    their global rankings over the comparisons both agree on, contrasting examples)."""
    return compare_tables(result_a.table, result_b.table, k=k)
