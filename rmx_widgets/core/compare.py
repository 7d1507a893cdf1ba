"""RM vs RM: which comparisons reward models agree on, how alike their attribute rankings are,
and where they agree for the most different reasons (DESIGN §1, "RM vs RM").

Every path that compares RMs uses this module, so each term means one thing everywhere
(``rmx.compare``, the RMCompare widget, the study):

* A comparison is **agreed** by a set of RMs when it is a tie for none of them and every one
  prefers the same original response (:func:`agreement`). Elsewhere the rewrites explain
  different preferences, or none, so their flips are not comparable. "Both RMs agree" is this
  with two RMs, the study's "all RMs agree" with all of them; with one RM every comparison it
  does not score as a tie is agreed.
* **Kendall's τ between two RMs** is τ-b between their pooled flip-rate (PFR) vectors over the
  attributes both measured (at least one successful rewrite), on the agreed comparisons: tied
  PFRs count as ties, not as an order a tie-break invented (:func:`pfr_tau`). When either
  vector is constant τ is undefined: NaN, with the reason in ``tau_note``. Its 95% interval is
  a percentile bootstrap over the agreed comparisons (:func:`pfr_tau_interval`);
  :func:`pairwise_tau` is the matrix of both for several RMs. :func:`kendall_tau` compares
  two strict rankings (lists), which cannot hold ties.
* **Contrasting examples** of two RMs: agreed comparisons whose local rankings (one per RM, see
  :mod:`rmx_widgets.core.representatives`) disagree most (:func:`contrasting_examples`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.hand_edits import without_hand_edits
from rmx_widgets.core.metrics import require_columns
from rmx_widgets.core.representatives import (
    check_k,
    local_rankings,
    rank_tau,
    top_examples,
)
from rmx_widgets.core.result import ExplanationResult
from rmx_widgets.core.sensitivity import ranking, sensitivity

TAU_COLUMNS = [
    "rm_a",
    "rm_b",
    "tau",
    "p_value",
    "n_attributes",
    "tau_low",
    "tau_high",
    "tau_note",
    "n_boot_undefined",
]
TAU_CONFIDENCE = 0.95
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
    """Kendall's tau (and its p-value) between two strict rankings, on their common attributes.

    Each ranking lists attributes from most to least sensitive; a list cannot say that two
    attributes tie, so RM vs RM uses :func:`pfr_tau` on the flip rates instead. Attributes in
    only one ranking are ignored. Fewer than two common attributes give (nan, nan): there is
    no pair to order.
    """
    pos_b = {a: i for i, a in enumerate(rank_b)}
    common = [a for a in rank_a if a in pos_b]
    return rank_tau([float(i) for i in range(len(common))], [float(pos_b[a]) for a in common])


@dataclass
class PFRCounts:
    """One RM's flips and successful rewrites per comparison (rows, in ``ids`` order) and
    attribute (columns), pooled over both directions: what the τ bootstrap resamples."""

    attributes: list
    flips: np.ndarray
    rewrites: np.ndarray

    @property
    def pfr(self) -> pd.Series:
        """Pooled PFR per attribute; NaN where no rewrite succeeded (not measured)."""
        flips, rewrites = self.flips.sum(axis=0), self.rewrites.sum(axis=0)
        out = np.full(len(self.attributes), np.nan)
        np.divide(flips, rewrites, out=out, where=rewrites > 0)
        return pd.Series(out, index=pd.Index(self.attributes, name="attribute"), name="pfr")


def pfr_counts(table: pd.DataFrame, ids: Sequence) -> PFRCounts:
    """:class:`PFRCounts` of an explanation table on the comparisons ``ids`` (rows of other
    comparisons, failed rewrites and hand edits are left out, as ``sensitivity()`` leaves
    them out, so τ is computed on the rows the rankings beside it rank)."""
    require_columns(table, ["comparison_id", "attribute", "outcome"], "pfr_counts")
    table = without_hand_edits(table)
    attributes = list(pd.unique(table["attribute"].dropna()))
    ok = table[(table["outcome"] != "failed") & table["attribute"].notna()]
    comp = pd.Index(list(ids)).get_indexer(ok["comparison_id"])
    keep = comp >= 0
    attr = pd.Categorical(ok["attribute"], categories=attributes).codes.astype(np.int64)
    flat = comp[keep].astype(np.int64) * len(attributes) + attr[keep]
    size = len(ids) * len(attributes)
    is_cf = (ok["outcome"] == "CF").to_numpy()[keep].astype(float)
    flips = np.bincount(flat, weights=is_cf, minlength=size).astype(float)
    rewrites = np.bincount(flat, minlength=size).astype(float)
    shape = (len(ids), len(attributes))
    return PFRCounts(attributes, flips.reshape(shape), rewrites.reshape(shape))


def pfr_tau(
    pfr_a: pd.Series, pfr_b: pd.Series, name_a: str = "rm_a", name_b: str = "rm_b"
) -> tuple[float, float, int, str]:
    """Kendall's τ-b (``scipy.stats.kendalltau``, variant 'b') between two PFR vectors
    indexed by attribute, over the attributes both measured (finite PFR in both).

    τ-b = (concordant − discordant) / sqrt((n0 − n1)(n0 − n2)), n0 the pairs of attributes,
    n1 and n2 the pairs tied in each vector: equal PFRs are ties, never an order. Returns
    (tau, p_value, n_attributes, note); when fewer than two attributes are shared or either
    vector is constant, τ is undefined: (nan, nan, n, reason).
    """
    common = [a for a in pfr_a.index if a in pfr_b.index]
    x = pfr_a.reindex(common).to_numpy(dtype=float)
    y = pfr_b.reindex(common).to_numpy(dtype=float)
    both = np.isfinite(x) & np.isfinite(y)
    x, y = x[both], y[both]
    n = len(x)
    if n < 2:
        note = f"undefined: fewer than two attributes measured by both {name_a} and {name_b}"
        return math.nan, math.nan, n, note
    flat = [name for name, values in ((name_a, x), (name_b, y)) if np.all(values == values[0])]
    if flat:
        who = flat[0] if len(flat) == 1 or flat[0] == flat[1] else f"{flat[0]}'s and {flat[1]}"
        return math.nan, math.nan, n, f"undefined: {who}'s flip rates are all equal"
    result = stats.kendalltau(x, y, variant="b")
    return float(result.statistic), float(result.pvalue), n, ""


def tau_b_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """τ-b of each row pair of two (B, n) arrays over the columns finite in both (NaN where
    a row has fewer than two such columns or is constant on them): the vectorised
    (concordant − discordant) / sqrt((n0 − n1)(n0 − n2)) of :func:`pfr_tau`."""
    i, j = np.triu_indices(x.shape[1], k=1)
    with np.errstate(invalid="ignore"):
        sx, sy = np.sign(x[:, i] - x[:, j]), np.sign(y[:, i] - y[:, j])
    valid = np.isfinite(sx) & np.isfinite(sy)
    sx, sy = np.where(valid, sx, 0.0), np.where(valid, sy, 0.0)
    untied_x, untied_y = np.abs(sx).sum(axis=1), np.abs(sy).sum(axis=1)
    out = np.full(x.shape[0], np.nan)
    den = np.sqrt(untied_x * untied_y)
    np.divide((sx * sy).sum(axis=1), den, out=out, where=den > 0)
    return out


def pfr_tau_interval(
    counts_a: PFRCounts,
    counts_b: PFRCounts,
    tau: float,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = TAU_CONFIDENCE,
) -> tuple[float, float, int]:
    """Percentile bootstrap interval of :func:`pfr_tau` over the comparisons.

    Each of ``n_boot`` resamples draws the comparisons (the rows of both counts, the same
    ids) with replacement, recomputes both PFR vectors and their τ-b over the attributes both
    measure; resamples whose τ is undefined are dropped and counted. Returns (low, high,
    n_undefined): the (1 − confidence)/2 and (1 + confidence)/2 percentiles of the rest; NaN
    when τ itself is undefined, ``n_boot`` is 0, or every resample was undefined.
    """
    n_comp = counts_a.flips.shape[0]
    if n_boot <= 0 or math.isnan(tau) or n_comp == 0:
        return math.nan, math.nan, 0
    common = [a for a in counts_a.attributes if a in set(counts_b.attributes)]
    cols_a = [counts_a.attributes.index(a) for a in common]
    cols_b = [counts_b.attributes.index(a) for a in common]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_comp, size=(n_boot, n_comp), dtype=np.int64)
    draws += (np.arange(n_boot, dtype=np.int64) * n_comp)[:, None]
    weights = np.bincount(draws.ravel(), minlength=n_boot * n_comp).reshape(n_boot, n_comp)
    weights = weights.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (weights @ counts_a.flips[:, cols_a]) / (weights @ counts_a.rewrites[:, cols_a])
        y = (weights @ counts_b.flips[:, cols_b]) / (weights @ counts_b.rewrites[:, cols_b])
    taus = tau_b_rows(x, y)
    defined = taus[~np.isnan(taus)]
    n_undefined = int(len(taus) - len(defined))
    if len(defined) == 0:
        return math.nan, math.nan, n_undefined
    alpha = (1 - confidence) / 2
    low, high = np.percentile(defined, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high), n_undefined


def pairwise_tau(
    tables: Mapping[str, pd.DataFrame],
    ids: Sequence | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """τ-b between the PFR vectors of every ordered pair of named explanation tables (an RM
    with itself included, so the rows pivot to a full matrix), with its bootstrap interval.

    ``tables`` should already be restricted to the comparisons all RMs agree on; ``ids`` are
    the comparisons the bootstrap resamples (default: every comparison_id in the tables, in
    first-seen order), the same draws for every pair. Columns: rm_a, rm_b, tau, p_value,
    n_attributes (attributes both measured), tau_low, tau_high (percentile 95% bootstrap
    interval), tau_note (why τ is undefined, empty otherwise), n_boot_undefined (resamples
    whose τ was undefined, dropped from the interval).
    """
    if not tables:
        return pd.DataFrame(columns=TAU_COLUMNS)
    if ids is None:
        ids = list(pd.unique(pd.concat([t["comparison_id"] for t in tables.values()])))
    counts = {rm: pfr_counts(t, ids) for rm, t in tables.items()}
    rows = []
    for a, b in itertools.product(tables, repeat=2):
        tau, p_value, n_attr, note = pfr_tau(counts[a].pfr, counts[b].pfr, a, b)
        low, high, n_bad = pfr_tau_interval(counts[a], counts[b], tau, n_boot=n_boot, seed=seed)
        rows.append((a, b, tau, p_value, n_attr, low, high, note, n_bad))
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

    ``tau``/``p_value`` are Kendall's τ-b between the two RMs' pooled PFR vectors (over the
    attributes both measured), computed only on the ``n_agree`` comparisons both RMs agree on
    (of the ``n_common`` both explained): where they disagree, the perturbations explain
    different preferences and are not comparable. ``tau_low``/``tau_high`` are its percentile
    95% interval from resampling those comparisons (``n_boot_undefined`` resamples had an
    undefined τ and were dropped); ``tau_note`` says why τ is NaN (empty when it is defined).
    ``ranking_a``/``ranking_b`` are the rankings on the agreed comparisons; ``sens_a`` and
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
    tau_low: float = float("nan")
    tau_high: float = float("nan")
    tau_note: str = ""
    n_boot_undefined: int = 0


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
    name_a, name_b = _rm_name(table_a, "rm-a"), _rm_name(table_b, "rm-b")
    counts_a, counts_b = pfr_counts(sub_a, agree), pfr_counts(sub_b, agree)
    tau, p_value, _, note = pfr_tau(counts_a.pfr, counts_b.pfr, name_a, name_b)
    low, high, n_bad = pfr_tau_interval(counts_a, counts_b, tau, n_boot=n_boot, seed=seed)
    return RMComparison(
        sens_a=sens_a,
        sens_b=sens_b,
        tau=tau,
        p_value=p_value,
        n_agree=len(agree),
        contrasting=contrasting_examples(table_a, table_b, k=k),
        name_a=name_a,
        name_b=name_b,
        n_common=n_common,
        ranking_a=rank_a,
        ranking_b=rank_b,
        tau_low=low,
        tau_high=high,
        tau_note=note,
        n_boot_undefined=n_bad,
    )


def compare(
    result_a: ExplanationResult, result_b: ExplanationResult, *, k: int = 5
) -> RMComparison:
    """``rmx.compare``: two RMs explained on the same comparisons, compared (Kendall's τ-b of
    their PFR vectors over the comparisons both agree on, with a bootstrap interval;
    contrasting examples)."""
    return compare_tables(result_a.table, result_b.table, k=k)
