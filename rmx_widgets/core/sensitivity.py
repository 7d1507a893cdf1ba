"""Global sensitivity of an RM to each attribute: preference flip rates (DESIGN §1).

PFR(a) = #perturbations on a that flip the preference / #perturbations on a, per direction
("worse": the chosen response made worse; "better": the rejected one made better) and pooled
("both"). Failed perturbations are excluded: they measure the perturber, not the RM.

Confidence intervals are a cluster bootstrap with a Wilson floor. The percentile bootstrap
resamples *comparisons*, not rows: the rows of one comparison share a prompt and a margin, so
they are not independent, and resampling rows would give intervals that are too narrow. With
one or a few comparisons the bootstrap collapses (one comparison with PFR 1/2 resamples to
1/2 every time), so each bound is widened to the Wilson score interval at the same level on
the pooled counts: ci_low = min(bootstrap low, Wilson low), ci_high = max(bootstrap high,
Wilson high). The bootstrap is vectorised (a comparisons × cells count matrix multiplied by
bootstrap weight matrices) so that it can run after every landed batch in a widget.

The mean margin change, mean((margin_after − margin_before) / s), is the continuous companion
of the PFR: it uses how far the margin moved, not only its sign. The scale s is the RM's reward
spread, the standard deviation of the original rewards of the table's comparisons (see
:func:`reward_spread`), so −1 means the average rewrite cut the margin by one typical reward
difference of this RM. Dividing by each comparison's own margin instead would let one near-tie
(margin 1e-4) outweigh every clear comparison and decide the ranking's tie-breaker.

Comparing two RMs' rankings (Kendall's τ, agreement on the original preference) is
:mod:`rmx_widgets.core.compare`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rmx_widgets.core.confounders import has_length_information, length_controlled
from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.hand_edits import without_hand_edits
from rmx_widgets.core.intervals import bootstrap_sums, percentile_bounds, wilson_interval
from rmx_widgets.core.intervals import ratio as _ratio
from rmx_widgets.core.intervals import with_pooled as _with_pooled
from rmx_widgets.core.metrics import require_columns, require_outcomes
from rmx_widgets.core.null_test import DEFAULT_ALPHA, NULL_COLUMNS, null_columns
from rmx_widgets.core.validity_rates import VALIDITY_COLUMNS, valid_only_rows, validity_columns

SENSITIVITY_COLUMNS = [
    "attribute",
    "direction",
    "pfr",
    "ci_low",
    "ci_high",
    "n",
    "mean_margin_change",
    "n_rewrites",
    "n_comparisons",
    "n_failed",
    "pfr_length_controlled",
    "n_length_controlled",
]
SENSITIVITY_COLUMNS.extend(NULL_COLUMNS)  # the null test's columns (core.null_test)
SENSITIVITY_COLUMNS.extend(VALIDITY_COLUMNS)  # last: valid-rewrite rates (core.validity_rates)
DIRECTION_ROWS = ("worse", "better", "both")
#: The columns computed here, which every face needs; the length-controlled ones come from
#: ``core.confounders``, the null test's from ``core.null_test`` and the valid-rewrite rates
#: from ``core.validity_rates``, and faces read those when present (a sensitivity table saved
#: before they existed still charts and reports).
BASE_SENSITIVITY_COLUMNS = SENSITIVITY_COLUMNS[: SENSITIVITY_COLUMNS.index("n_failed") + 1]
_RECORD_COLUMNS = BASE_SENSITIVITY_COLUMNS
_NEEDED = ["comparison_id", "attribute", "direction", "outcome", "margin_before", "margin_after"]


def relative_margin_change(table: pd.DataFrame) -> pd.Series:
    """(margin_after − margin_before) / margin_before per row; NaN for failed rows or a
    non-positive margin_before (a tie has no preference to move). Meaningful *within* one
    comparison (the local rankings' ``margin_drop``, where every row shares the divisor);
    across comparisons use :func:`margin_change_in_spread`, which near-ties cannot dominate."""
    before = pd.to_numeric(table["margin_before"], errors="coerce").astype(float)
    after = pd.to_numeric(table["margin_after"], errors="coerce").astype(float)
    change = (after - before) / before.where(before > 0)
    return change.where(np.isfinite(change))


def reward_spread(table: pd.DataFrame) -> float:
    """The RM's reward spread over the table's original responses: the sample standard
    deviation (ddof = 1) of the original rewards, each comparison contributing its two
    (``reward_original`` and ``reward_other`` of its first row) once. Only comparisons with a
    successful (non-failed) rewrite count: those are the ones whose margin changes it scales.

    The standard deviation rather than a robust spread (IQR / 1.349, MAD): it is 0 only when
    every original reward is equal, whereas the robust ones are 0 as soon as half of the
    rewards coincide, which RMs with discrete scores (rules, counts, 1–5 ratings) produce
    routinely, and would leave the margin change unmeasured. An outlying reward inflates s,
    but s divides every row of the table alike, so it rescales the column without reordering
    the ranking. NaN ("not measured") when the reward columns are missing, with fewer than two
    finite rewards, or when every original reward is equal (s = 0: no scale).
    """
    if not {"reward_original", "reward_other"} <= set(table.columns):
        return math.nan
    rows = table[table["outcome"] != "failed"] if "outcome" in table.columns else table
    first = rows.groupby("comparison_id", sort=False)[["reward_original", "reward_other"]].first()
    rewards = pd.to_numeric(first.stack(), errors="coerce").to_numpy(float)
    rewards = rewards[np.isfinite(rewards)]
    if len(rewards) < 2:
        return math.nan
    spread = float(np.std(rewards, ddof=1))
    return spread if spread > 0 and math.isfinite(spread) else math.nan


def margin_change_in_spread(table: pd.DataFrame, spread: float | None = None) -> pd.Series:
    """(margin_after − margin_before) / :func:`reward_spread` per row, the unit that
    ``mean_margin_change`` averages; NaN for failed rows, rows without a preference
    (margin_before ≤ 0) and every row when the spread is not measured (never ±inf).
    ``spread``: the scale to use instead of this table's own (a slice of a table is scaled
    by the whole table's spread, so slices share one unit)."""
    before = pd.to_numeric(table["margin_before"], errors="coerce").astype(float)
    after = pd.to_numeric(table["margin_after"], errors="coerce").astype(float)
    spread = reward_spread(table) if spread is None else spread
    change = (after - before).where(before > 0) / spread
    return change.where(np.isfinite(change))


def sensitivity(
    table: pd.DataFrame,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    null: pd.DataFrame | None = None,
    alpha: float = DEFAULT_ALPHA,
    valid_only: bool = False,
    spread: float | None = None,
    require_judged: bool = True,
) -> pd.DataFrame:
    """PFR per attribute and direction with confidence intervals, sorted by pooled PFR.

    Returns columns exactly ``attribute, direction, pfr, ci_low, ci_high, n,
    mean_margin_change, n_rewrites, n_comparisons, n_failed``: three rows per attribute
    (``worse``, ``better``, pooled ``both``). ``n`` and ``n_rewrites`` (the same number) count
    the successful (non-failed) rewrites, the PFR's denominator; ``n_comparisons`` counts the
    comparisons that contribute at least one of them (the bootstrap's sample size);
    ``n_failed`` counts the failed rewrites, which are left out of the PFR. An attribute with
    no successful rewrite keeps its rows with n = 0 and NaN PFR, interval and margin change
    ("not measured", never 0), so a user sees it was tried. ``mean_margin_change`` is the mean
    of (margin_after − margin_before) / s over the successful rewrites, s being the RM's reward
    spread over the original responses (:func:`reward_spread`; NaN when s is 0 or unknown).

    The interval at level ``confidence`` (1 − α): with k flips among n rewrites, p̂ = k/n and
    z = Φ⁻¹(1 − α/2), the Wilson score bounds are (p̂ + z²/2n ± z·sqrt(p̂(1 − p̂)/n +
    z²/4n²)) / (1 + z²/n); the bootstrap bounds are the α/2 and 1 − α/2 percentiles of the PFR
    over ``n_boot`` resamples of the comparisons (seeded by ``seed``); ci_low = min(bootstrap
    low, Wilson low) and ci_high = max(bootstrap high, Wilson high). ``n_boot=0`` skips the
    interval (NaN) for a quick point estimate. Attributes are ordered by pooled PFR
    descending, then pooled mean margin change ascending (bigger drop first), then name.

    ``pfr_length_controlled`` / ``n_length_controlled``: the PFR among the successful rewrites
    that changed length by under 10 % of the original's words (``core.confounders``).

    ``null``: an explanation table of the same comparisons by an attribute-blind perturber;
    it fills the last columns (``null_pfr`` … ``significant``, see ``core.null_test``, at
    level ``alpha``); without it they are NaN / <NA>.

    ``n_judged``, ``n_valid``, ``valid_rate`` (last): the successful rewrites with a True /
    False verdict of a rewrite judge (column ``valid``), how many were True, and their ratio
    (NaN, "not measured", when none was judged); see ``core.validity_rates``. They always
    describe every successful rewrite, also with ``valid_only``.

    ``valid_only``: leave out the successful rewrites whose ``valid`` is not True (invalid,
    undecided or not judged) from every other figure: PFR, interval, n, margin change (and the
    reward spread it is scaled by), the length-controlled PFR and the null test's pairs.
    ``n_failed`` still counts the failed rewrites. A table without any verdict raises
    ``OptionError``; an attribute with no valid rewrite keeps its rows, n = 0, NaN PFR.

    Hand edits (perturber ``manual``, ``core.rescore``: kept in a table by
    ``result.keep_edits``) are left out of every figure: a person chose each of them while
    reading the results, so they are not a sample of the perturber's rewrites, and counting
    them would bias the rates towards whatever the reader was probing.

    ``spread``: the reward spread s to scale the margin change by instead of this table's
    own (``core.slices`` passes the whole table's, so every slice's figure shares one unit).

    ``require_judged``: with ``valid_only``, raise when no rewrite of ``table`` was judged
    (the default: it catches a forgotten ``judge=``). ``core.slices`` checks the whole table
    once and passes False, so a slice without a verdict gets n = 0 rows instead of an error.
    """
    _check_arguments(table, n_boot, confidence)
    table = without_hand_edits(table)
    attributes = list(pd.unique(table["attribute"]))
    validity = validity_columns(table, attributes, DIRECTION_ROWS)
    if valid_only:
        table = valid_only_rows(table, require_judged=require_judged)
    n_attr = len(attributes)
    ok = table[table["outcome"] != "failed"]
    cell, cf_counts, n_counts = _cell_counts(ok, attributes)
    cf_total = _with_pooled(cf_counts.sum(axis=0)[None, :], n_attr)[0]
    n_total = _with_pooled(n_counts.sum(axis=0)[None, :], n_attr)[0]
    pfr = _ratio(cf_total, n_total)
    ci_low, ci_high = _intervals(cf_counts, n_counts, n_attr, n_boot, seed, confidence)
    if n_boot > 0:
        w_low, w_high = wilson_interval(cf_total, n_total, confidence)
        ci_low, ci_high = np.fmin(ci_low, w_low), np.fmax(ci_high, w_high)
    n_comparisons = _with_pooled((n_counts > 0).astype(float), n_attr)
    n_comparisons = (n_comparisons > 0).sum(axis=0)
    n_failed = _failed_counts(table, attributes)
    mean_change = _mean_change(ok, cell, n_attr, spread)
    records = []
    for a, name in enumerate(attributes):
        for d, direction in enumerate(DIRECTION_ROWS):
            j = a * 3 + d
            n_ok = int(n_total[j])
            records.append(
                (name, direction, pfr[j], ci_low[j], ci_high[j], n_ok, mean_change[j], n_ok)
                + (int(n_comparisons[j]), int(n_failed[j]))
            )
    out = _with_length_control(_sorted_frame(records), table, attributes)
    tested = null
    if valid_only and not bool((table["outcome"] != "failed").any()):
        tested = None  # no valid rewrite to pair: every row has 0 pairs (filled below)
    nulls = null_columns(
        table, tested, n_boot=n_boot, seed=seed, confidence=confidence, alpha=alpha
    )
    out = out.merge(nulls, on=["attribute", "direction"], how="left", validate="1:1")
    if valid_only and null is not None:  # an attribute with no valid rewrite had no pair
        out["null_n"] = out["null_n"].fillna(0).astype(np.int64)
    out = out.merge(validity, on=["attribute", "direction"], how="left", validate="1:1")
    out.attrs["alpha"] = alpha  # the faces' legends state the level the markers used
    out.attrs["confidence"] = confidence  # and the level of the intervals they draw
    out.attrs["valid_only"] = bool(valid_only)  # the faces say when only valid rewrites count
    return out


def _with_length_control(out: pd.DataFrame, table: pd.DataFrame, attributes: list) -> pd.DataFrame:
    """Merge in ``pfr_length_controlled``, ``n_length_controlled`` (``core.confounders``).
    An attribute whose rows ``valid_only`` removed has none controlled: n 0 (when the table
    has length information), rate NaN."""
    lengths = length_controlled(table, DIRECTION_ROWS)
    merged = out.merge(lengths, on=["attribute", "direction"], how="left", validate="1:1")
    gone = ~merged["attribute"].isin(set(lengths["attribute"]))
    if gone.any() and has_length_information(table):
        merged.loc[gone, "n_length_controlled"] = 0
    return merged


def _failed_counts(table: pd.DataFrame, attributes: list) -> np.ndarray:
    """Failed rewrites per (attribute, direction) row, (A*3,); a failed row without a
    direction counts only in its attribute's pooled row."""
    failed = table[table["outcome"] == "failed"]
    out = np.zeros(len(attributes) * 3)
    position = {name: i for i, name in enumerate(attributes)}
    for (name, direction), count in (
        failed.groupby([failed["attribute"], failed["direction"].fillna("")], sort=False)
        .size()
        .items()
    ):
        a = position[name]
        out[a * 3 + 2] += count
        if direction in ("worse", "better"):
            out[a * 3 + DIRECTION_ROWS.index(direction)] += count
    return out


def _check_arguments(table: pd.DataFrame, n_boot: int, confidence: float) -> None:
    require_columns(table, _NEEDED, "sensitivity")
    require_outcomes(table, "sensitivity")
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 0:
        raise RMXError(f"n_boot must be a non-negative integer, got {n_boot!r}.")
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise RMXError(
            f"confidence must be strictly between 0 and 1 (e.g. 0.95), got {confidence!r}."
        )
    bad = set(table["direction"].dropna().unique()) - {"worse", "better"}
    if bad:
        raise DataError(f"column 'direction' must hold 'worse' or 'better'; found {sorted(bad)}.")


def _cell_counts(ok: pd.DataFrame, attributes: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's cell (attribute × direction, flattened to one axis) and the CF and row
    counts per comparison and cell, (C, A*2) each: the bootstrap resamples their rows."""
    n_cells = len(attributes) * 2
    attr_idx = pd.Categorical(ok["attribute"], categories=attributes).codes.astype(np.int64)
    dir_idx = (ok["direction"] == "better").to_numpy().astype(np.int64)
    comp_codes, comp_ids = pd.factorize(ok["comparison_id"])
    n_comp = len(comp_ids)
    is_cf = (ok["outcome"] == "CF").to_numpy().astype(float)
    cell = attr_idx * 2 + dir_idx
    flat = comp_codes.astype(np.int64) * n_cells + cell
    size = max(n_comp * n_cells, 0)
    cf_counts = np.bincount(flat, weights=is_cf, minlength=size).reshape(n_comp, n_cells)
    n_counts = np.bincount(flat, minlength=size).astype(float).reshape(n_comp, n_cells)
    return cell, cf_counts, n_counts


def _intervals(
    cf_counts: np.ndarray,
    n_counts: np.ndarray,
    n_attr: int,
    n_boot: int,
    seed: int,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap bounds per (attribute, direction) row; NaN without a bootstrap
    (``n_boot=0``) or without comparisons."""
    if not (n_boot > 0 and cf_counts.shape[0] > 0):
        return np.full(n_attr * 3, np.nan), np.full(n_attr * 3, np.nan)
    return percentile_bounds(_bootstrap_pfr(cf_counts, n_counts, n_attr, n_boot, seed), confidence)


def _mean_change(
    ok: pd.DataFrame, cell: np.ndarray, n_attr: int, spread: float | None = None
) -> np.ndarray:
    """The mean margin change in units of the reward spread (:func:`margin_change_in_spread`)
    per (attribute, direction) row, over the rows where it is defined."""
    change = margin_change_in_spread(ok, spread).to_numpy()
    change_sum = np.zeros(n_attr * 2)
    change_n = np.zeros(n_attr * 2)
    finite = ~np.isnan(change)
    np.add.at(change_sum, cell[finite], change[finite])
    np.add.at(change_n, cell[finite], 1.0)
    return _ratio(
        _with_pooled(change_sum[None, :], n_attr)[0], _with_pooled(change_n[None, :], n_attr)[0]
    )


def _sorted_frame(records: list[tuple]) -> pd.DataFrame:
    """The sensitivity rows as a frame, attributes in ranking order, directions in
    ``DIRECTION_ROWS`` order within each."""
    out = pd.DataFrame.from_records(records, columns=_RECORD_COLUMNS)
    out = out.astype(
        {
            "pfr": float,
            "ci_low": float,
            "ci_high": float,
            "n": np.int64,
            "mean_margin_change": float,
            "n_rewrites": np.int64,
            "n_comparisons": np.int64,
            "n_failed": np.int64,
        }
    )
    order = attribute_order(out)
    out["_a"] = out["attribute"].map({name: i for i, name in enumerate(order)})
    out["_d"] = out["direction"].map({d: i for i, d in enumerate(DIRECTION_ROWS)})
    out = out.sort_values(["_a", "_d"], kind="stable").drop(columns=["_a", "_d"])
    return out.reset_index(drop=True)


def _bootstrap_pfr(
    cf_counts: np.ndarray, n_counts: np.ndarray, n_attr: int, n_boot: int, seed: int
) -> np.ndarray:
    """(n_boot, A*3) PFRs of comparison-level bootstrap resamples (``intervals.bootstrap_sums``
    of the CF and row counts together, so each resample's PFR is its own ratio)."""
    boot = bootstrap_sums(np.concatenate([cf_counts, n_counts], axis=1), n_boot, seed)
    half = cf_counts.shape[1]
    return _ratio(_with_pooled(boot[:, :half], n_attr), _with_pooled(boot[:, half:], n_attr))


def ranking_key(pfr: float, change: float, name: str) -> tuple:
    """Pooled PFR descending, then mean margin change ascending, then name; NaN last."""
    pfr_nan, change_nan = math.isnan(pfr), math.isnan(change)
    return (
        pfr_nan,
        -pfr if not pfr_nan else 0.0,
        change_nan,
        change if not change_nan else 0.0,
        str(name),
    )


def _pooled(sens: pd.DataFrame) -> pd.DataFrame:
    require_columns(
        sens,
        ["attribute", "direction", "pfr", "mean_margin_change"],
        "ranking (a sensitivity() table)",
    )
    return sens[sens["direction"] == "both"]


def attribute_order(sens: pd.DataFrame) -> list[str]:
    """Every attribute of a sensitivity table in ranking order, untried ones (NaN PFR) last;
    charts use it so that an attribute whose rewrites all failed still gets a (empty) row."""
    pooled = _pooled(sens)
    keyed = [
        (ranking_key(float(p), float(c), a), a)
        for a, p, c in zip(pooled["attribute"], pooled["pfr"], pooled["mean_margin_change"])
    ]
    return [a for _, a in sorted(keyed, key=lambda kv: kv[0])]


def ranking(sens: pd.DataFrame) -> list[str]:
    """Attributes from most to least sensitive: pooled PFR descending, ties broken by mean
    margin change ascending (the bigger average drop ranks higher), then name.

    Attributes with no usable perturbation (NaN pooled PFR) are left out: they have no place
    in a ranking, and Kendall's tau should not count them.
    """
    pooled = _pooled(sens)
    usable = set(pooled.loc[pooled["pfr"].notna(), "attribute"])
    return [a for a in attribute_order(sens) if a in usable]
