"""The null test: is an attribute's flip rate real, or would any rewording flip as often?

A reward model whose preference is fragile flips under *any* edit, so a high preference flip
rate (PFR) alone does not show that the RM reacts to the attribute. The null test compares the
attribute's rewrites with edits that ignore the attribute (``RandomWordPerturber`` offline, the
paraphrase baseline with an LLM) on the same comparisons, attributes and directions: the *null
table*, an explanation table of the same RM. These columns of ``sensitivity(table, null=...)``
come from here:

* **Pairing unit**: a (comparison_id, attribute, direction) key present and successful
  (outcome != "failed") in BOTH tables. Pairing on the key compares the two kinds of edit on
  the same response, margin and prompt, so the comparison's own fragility cancels out. A
  direction's row uses its own pairs; the pooled ``both`` row uses both directions' pairs.
* ``null_pfr``: the flip rate (CF share) of the null rewrites paired with the row's successful
  rewrites; ``null_n``: how many pairs. ``excess_pfr`` = pfr_paired − null_pfr, where
  pfr_paired is the attribute's flip rate **on the same paired units** (a rewrite without a
  successful null partner is left out, so the two rates have one denominator). When every
  rewrite has a null partner, pfr_paired is the row's ``pfr`` and excess = pfr − null_pfr.
* ``p_value``: a paired exact test over comparisons. Per comparison c, d_c = #target flips −
  #null flips over its paired units of the row; p is the two-sided exact binomial test
  (p = 0.5) of #(d_c > 0) among #(d_c ≠ 0). For one direction a comparison has one pair, so
  d_c ∈ {−1, 0, 1} and this is exactly the exact McNemar test (b = target-only flips, c =
  null-only flips). For ``both`` it is a sign test on the per-comparison differences: the two
  directions of one comparison share a prompt and a margin, so the comparison, not the
  rewrite, is the independent unit. p = 1 when no comparison differs (nothing speaks against
  the null); NaN when there is no pair ("not measured", never 0 or 1 by default).
* ``p_adjusted``: Holm's step-down correction across ALL attribute × direction rows with a
  p-value (``both`` rows included). Sorted p₍₁₎ ≤ … ≤ p₍ₘ₎, adjusted p₍ᵢ₎ = max over j ≤ i of
  min(1, (m − j + 1)·p₍ⱼ₎). Holm controls the family-wise error rate under any dependence
  between the tests (the three rows of an attribute share rewrites), and a user reads a whole
  table of attributes at once, so one test per row at level α would flag some attribute of an
  RM that reacts to nothing.
* ``significant``: p_adjusted < ``alpha`` (``DEFAULT_ALPHA`` = 0.05); <NA> without a p-value.
* ``excess_ci_low``/``excess_ci_high``: a percentile bootstrap over comparisons (target and
  null counts of a comparison are resampled together, as in ``sensitivity``; same ``seed``,
  ``n_boot`` and ``confidence``), widened to Newcombe's score interval for a paired
  difference of proportions (Newcombe 1998, Stat Med 17:2635, method 10, built from the
  Wilson intervals of both rates and the corrected phi correlation of the pairs; the
  formula is on ``newcombe_paired_interval``) on the row's pooled
  pair counts: low = min(bootstrap, Newcombe), high = max(bootstrap, Newcombe). With one or
  a few comparisons the bootstrap collapses to a point; Newcombe's interval does not (at
  n = 1 it is wide), so the interval is never zero-width. The ``both`` row uses the same
  paired interval on its pooled pairs (its clustering is the bootstrap's job).

Everything is NaN (``significant`` <NA>) without a null table, so the columns always exist.
A null table is refused (``DataError``) when it lacks a needed column, repeats a key (a null
rewrite must pair with one rewrite), shares no comparison with the table, or was explained by
a different RM (column ``rm``): the test compares two kinds of edit under one RM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.intervals import bootstrap_sums, percentile_bounds, wilson_interval
from rmx_widgets.core.intervals import ratio as _ratio
from rmx_widgets.core.intervals import with_pooled as _pooled
from rmx_widgets.core.metrics import require_outcomes

DEFAULT_ALPHA = 0.05
NULL_COLUMNS = [
    "null_pfr",
    "null_n",
    "excess_pfr",
    "excess_ci_low",
    "excess_ci_high",
    "p_value",
    "p_adjusted",
    "significant",
]
DIRECTIONS = ("worse", "better", "both")  # the row order of sensitivity.DIRECTION_ROWS
KEY = ["comparison_id", "attribute", "direction"]
_NULL_NEEDED = [*KEY, "outcome"]


def null_columns(
    table: pd.DataFrame,
    null: pd.DataFrame | None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = DEFAULT_ALPHA,
) -> pd.DataFrame:
    """``attribute``, ``direction`` and ``NULL_COLUMNS`` for every attribute of ``table`` ×
    (worse, better, both), as defined in the module docstring; all NaN / <NA> when ``null`` is
    None. ``table`` and ``null`` are explanation tables of the same RM and comparisons."""
    if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 < alpha < 1):
        raise RMXError(f"alpha must be strictly between 0 and 1 (e.g. 0.05), got {alpha!r}.")
    attributes = list(pd.unique(table["attribute"]))
    n_rows = len(attributes) * 3
    frame = pd.DataFrame(
        {
            "attribute": np.repeat(np.array(attributes, dtype=object), 3),
            "direction": np.array(list(DIRECTIONS) * len(attributes), dtype=object),
        }
    )
    if null is None:
        nan = np.full(n_rows, np.nan)
        for name in NULL_COLUMNS[:-1]:
            frame[name] = nan
        frame["significant"] = pd.array([pd.NA] * n_rows, dtype="boolean")
        return frame
    _check_null(table, null)
    counts = _paired_counts(table, null, attributes)
    t_cf, n_cf, pairs, both_cf, t_only, n_only = (_pooled(x, len(attributes)) for x in counts)
    totals = [x.sum(axis=0) for x in (t_cf, n_cf, pairs, both_cf, t_only, n_only)]
    t_tot, n_tot, pair_tot, a_tot, b_tot, c_tot = totals
    null_pfr = _ratio(n_tot, pair_tot)
    excess = _ratio(t_tot - n_tot, pair_tot)
    low = np.full(n_rows, np.nan)
    high = np.full(n_rows, np.nan)
    if n_boot > 0 and pairs.shape[0] > 0:
        low, high = _bootstrap_interval(counts[0] - counts[1], counts[2], n_boot, seed, confidence)
        d_tot = pair_tot - a_tot - b_tot - c_tot
        n_low, n_high = newcombe_paired_interval(a_tot, b_tot, c_tot, d_tot, confidence)
        low, high = np.fmin(low, n_low), np.fmax(high, n_high)
    p = np.array(
        [
            sign_test(
                (t_cf[:, j] - n_cf[:, j])[pairs[:, j] > 0]
                if pair_tot[j] > 0
                else np.array([], dtype=float)
            )
            for j in range(n_rows)
        ],
        dtype=float,
    )
    p_adj, significant = holm_significance(p, alpha)
    frame["null_pfr"] = null_pfr
    frame["null_n"] = pair_tot.astype(np.int64)
    frame["excess_pfr"] = excess
    frame["excess_ci_low"] = low
    frame["excess_ci_high"] = high
    frame["p_value"] = p
    frame["p_adjusted"] = p_adj
    frame["significant"] = significant
    return frame


def sign_test(differences: np.ndarray) -> float:
    """Two-sided exact sign test of per-comparison differences d_c (target flips − null flips):
    the binomial test (p = 0.5) of #(d_c > 0) among #(d_c ≠ 0). 1.0 when every d_c is 0 (no
    comparison differs); NaN for an empty sample (no pair: not measured)."""
    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        return float("nan")
    k = int((d > 0).sum())
    m = int((d != 0).sum())
    if m == 0:
        return 1.0
    return float(stats.binomtest(k, m, 0.5, alternative="two-sided").pvalue)


def holm_significance(p_values: np.ndarray, alpha: float) -> tuple[np.ndarray, pd.Series]:
    """Holm-adjusted p-values and the significance marker at ``alpha`` (nullable: <NA> where
    there was no test), the one definition of "significant" for a table and for a table split
    by slices (``core.slices``)."""
    p_adj = holm(np.asarray(p_values, dtype=float))
    significant = pd.array(
        [pd.NA if np.isnan(q) else bool(q < alpha) for q in p_adj], dtype="boolean"
    )
    return p_adj, significant


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN entries stay NaN and do not count in m.

    With the m finite p-values sorted, p₍₁₎ ≤ … ≤ p₍ₘ₎, adjusted p₍ᵢ₎ = max over j ≤ i of
    min(1, (m − j + 1)·p₍ⱼ₎) (the running maximum makes the adjustment monotone in p).
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def newcombe_paired_interval(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's (1998, method 10) score interval for p₁ − p₂ from paired binary data,
    elementwise; NaN where n = 0.

    a: both flip; b: target only; c: null only; d: neither; n = a + b + c + d, p₁ = (a + b)/n,
    p₂ = (a + c)/n, θ = (b − c)/n. With (l₁, u₁), (l₂, u₂) the Wilson intervals of p₁ and p₂
    and Newcombe's φ = (ad − bc − n/2)/sqrt((a + b)(c + d)(a + c)(b + d)) if ad − bc > n/2,
    0 if 0 ≤ ad − bc ≤ n/2, (ad − bc)/sqrt(…) if ad − bc < 0 (0 when a margin is 0),
    δ = sqrt((p₁ − l₁)² − 2φ(p₁ − l₁)(u₂ − p₂) + (u₂ − p₂)²),
    ε = sqrt((u₁ − p₁)² − 2φ(u₁ − p₁)(p₂ − l₂) + (p₂ − l₂)²), and the interval is
    [θ − δ, θ + ε] clipped to [−1, 1].
    """
    a, b, c, d = (np.asarray(x, dtype=float) for x in (a, b, c, d))
    n = a + b + c + d
    safe = np.where(n > 0, n, 1.0)
    p1, p2 = (a + b) / safe, (a + c) / safe
    l1, u1 = wilson_interval(a + b, n, confidence)
    l2, u2 = wilson_interval(a + c, n, confidence)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    cross = np.where(cross > n / 2, cross - n / 2, np.where(cross < 0, cross, 0.0))
    phi = np.zeros_like(n)
    np.divide(cross, np.sqrt(margins), out=phi, where=margins > 0)
    delta = np.sqrt(
        np.clip((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0, None)
    )
    eps = np.sqrt(
        np.clip((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0, None)
    )
    theta = p1 - p2
    low = np.where(n > 0, np.clip(theta - delta, -1.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(theta + eps, -1.0, 1.0), np.nan)
    return low, high


def _check_null(table: pd.DataFrame, null: pd.DataFrame) -> None:
    what = (
        "null= must be an explanation table of the same comparisons explained by an "
        "attribute-blind perturber (e.g. RandomWordPerturber)"
    )
    if not isinstance(null, pd.DataFrame):
        raise DataError(f"{what}; got {type(null).__name__}.")
    missing = [col for col in _NULL_NEEDED if col not in null.columns]
    if missing:
        raise DataError(f"{what}; it lacks the column(s) {missing}.")
    require_outcomes(null, "the null table")
    bad = set(null["direction"].dropna().unique()) - {"worse", "better"}
    if bad:
        raise DataError(
            f"the null table's column 'direction' must hold 'worse' or 'better'; "
            f"found {sorted(map(str, bad))}."
        )
    keyed = null[null["direction"].notna()]  # a failed row may lack a direction
    dup = keyed[keyed.duplicated(KEY, keep=False)]
    if len(dup):
        first = tuple(dup.iloc[0][KEY])
        raise DataError(
            f"the null table has {len(dup)} rows whose (comparison_id, attribute, direction) "
            f"repeats, e.g. {first!r}; a null rewrite must pair with exactly one rewrite."
        )
    ok = table[table["outcome"] != "failed"]
    dup = ok[ok.duplicated(KEY, keep=False)]
    if len(dup):
        first = tuple(dup.iloc[0][KEY])
        raise DataError(
            f"the table has {len(dup)} successful rows whose (comparison_id, attribute, "
            f"direction) repeats, e.g. {first!r}; the null test pairs one rewrite per key."
        )
    shared = set(table["comparison_id"]) & set(null["comparison_id"])
    if not shared:
        n_ours, n_theirs = table["comparison_id"].nunique(), null["comparison_id"].nunique()
        raise DataError(
            f"the null table shares no comparison with the table ({n_ours} comparisons in the "
            f"table, {n_theirs} in the null table): explain the same comparisons with the null "
            "perturber."
        )
    if "rm" in table.columns and "rm" in null.columns:
        ours = set(table["rm"].dropna().astype(str))
        theirs = set(null["rm"].dropna().astype(str))
        if ours != theirs:
            raise DataError(
                f"the null table was explained by RM {sorted(theirs)[:3]} but the table by "
                f"{sorted(ours)[:3]}: the null test compares rewrites of the same RM."
            )


def _paired_counts(table: pd.DataFrame, null: pd.DataFrame, attributes: list) -> list[np.ndarray]:
    """Per comparison × cell (attribute × worse/better, (C, A*2)): target flips, null flips,
    pairs, both flip (a), target only (b), null only (c), over the paired units."""
    ok = table.loc[table["outcome"] != "failed", _NULL_NEEDED]
    null_ok = null.loc[null["outcome"] != "failed", _NULL_NEEDED]
    paired = ok.merge(null_ok, on=KEY, suffixes=("", "_null"))
    paired = paired[paired["attribute"].isin(attributes)]
    target = (paired["outcome"] == "CF").to_numpy()
    nullf = (paired["outcome_null"] == "CF").to_numpy()
    attr_idx = pd.Categorical(paired["attribute"], categories=attributes).codes.astype(np.int64)
    cell = attr_idx * 2 + (paired["direction"] == "better").to_numpy().astype(np.int64)
    comp, comp_ids = pd.factorize(paired["comparison_id"])
    n_cells = len(attributes) * 2
    flat = comp.astype(np.int64) * n_cells + cell
    size = len(comp_ids) * n_cells
    values = [target, nullf, np.ones_like(target), target & nullf, target & ~nullf, ~target & nullf]
    return [
        np.bincount(flat, weights=v.astype(float), minlength=size).reshape(-1, n_cells)
        for v in values
    ]


def _bootstrap_interval(
    diff: np.ndarray, pairs: np.ndarray, n_boot: int, seed: int, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bounds of the excess over ``n_boot`` resamples of the comparisons
    (``intervals.bootstrap_sums``); a comparison's target and null flips travel together
    because the per-comparison difference (target − null flips) is resampled as one count."""
    boot = bootstrap_sums(np.concatenate([diff, pairs], axis=1), n_boot, seed)
    n_cells = pairs.shape[1]
    n_attr = n_cells // 2
    excess = _ratio(_pooled(boot[:, :n_cells], n_attr), _pooled(boot[:, n_cells:], n_attr))
    return percentile_bounds(excess, confidence)
