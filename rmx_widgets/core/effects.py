"""An attribute's effect on the reward, naive and corrected for imperfect rewrites (RATE).

A rewrite asked to make a response worse (or better) on an attribute rarely changes only that
attribute: an LLM also rephrases, lengthens, adds its own turns of phrase. The naive effect,
the mean of r(rewrite) − r(original), credits the attribute with all of that. RATE (Reber et
al., 2024, "RATE: Causal Explainability of Reward Models with Imperfect Counterfactuals")
rewrites each rewrite *back* in the opposite direction with the same rewriter: the rewrite and
its rewrite share the rewriter's artefacts and differ (ideally) only in the attribute, so the
mean of r(rewrite) − r(rewrite of the rewrite) cancels what every rewrite adds.

Both are in units of the RM's reward spread (``core.sensitivity.reward_spread``: the sample
s.d. of the original rewards, each comparison's two counted once), the scale of the
sensitivity table's ``mean_margin_change``. Both are measured on the same rewrites: those
whose back-rewrite succeeded (the failed ones are left out of both and counted in
``n_failed``), so the two columns differ by the artefact only, never by the sample. Intervals
are a percentile bootstrap over *comparisons* (``core.intervals``), seeded.

This module is arithmetic on a table (the per-rewrite rows ``core.effects_run`` builds,
``EFFECT_ROW_COLUMNS``); it runs no model.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.intervals import bootstrap_sums, percentile_bounds, ratio
from rmx_widgets.core.metrics import require_columns
from rmx_widgets.core.sensitivity import reward_spread

#: One row per successful rewrite of a run with ``effects=True``: the rewrite, its rewrite back
#: in the opposite direction (``back_direction``) and their rewards. ``outcome`` is the
#: rewrite's (CF/SF); ``back_failed`` says the back-rewrite failed (``back_failure_reason``,
#: ``back_failure_kind``; ``back_reward`` NaN). ``back_perturbed`` (the back-rewrite's text)
#: is left out of tables streamed to disk.
EFFECT_ROW_COLUMNS = [
    "comparison_id",
    "side",
    "attribute",
    "direction",
    "back_direction",
    "outcome",
    "reward_original",
    "reward_other",
    "reward_perturbed",
    "back_reward",
    "back_failed",
    "back_failure_reason",
    "back_failure_kind",
    "back_perturbed",
]

#: ``effects()``'s columns, in order.
EFFECTS_COLUMNS = [
    "attribute",
    "direction",
    "n",
    "naive_effect",
    "naive_ci_low",
    "naive_ci_high",
    "corrected_effect",
    "corrected_ci_low",
    "corrected_ci_high",
    "n_failed",
    "n_comparisons",
    "note",
]
EFFECT_DIRECTIONS = ("worse", "better")
NOT_MEASURED = "not measured"
NO_SPREAD = "not measured (the original rewards have no spread)"
ONE_COMPARISON = "one comparison: no interval (resampling one comparison has no spread)"
_NEEDED = [
    "comparison_id",
    "attribute",
    "direction",
    "reward_original",
    "reward_perturbed",
    "back_reward",
]


def opposite(direction: str) -> str:
    """The direction a rewrite is rewritten back in: worse ↔ better."""
    if direction not in EFFECT_DIRECTIONS:
        raise RMXError(f"direction must be 'worse' or 'better', got {direction!r}.")
    return "better" if direction == "worse" else "worse"


def empty_effect_rows() -> pd.DataFrame:
    """An effect-row table with every column and no row."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in EFFECT_ROW_COLUMNS})


def effects(
    rows: pd.DataFrame,
    *,
    spread: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Naive and corrected (RATE) effect per attribute × direction (``EFFECTS_COLUMNS``).

    For the ``n`` rewrites of a cell whose back-rewrite succeeded, with s the reward spread:
    naive_effect = mean(reward_perturbed − reward_original) / s and corrected_effect =
    mean(reward_perturbed − back_reward) / s. ``n_failed`` counts the cell's failed
    back-rewrites and those without a back reward (left out of both). ``spread`` is s (default:
    ``reward_spread(rows)``, which equals the run table's, as the rows are its successful
    rewrites). The intervals at level ``confidence`` are the percentiles of each mean over
    ``n_boot`` resamples of the comparisons (seed ``seed``; ``n_boot=0``: no interval). A cell
    with n = 0, or every cell when s is 0 or unknown, has NaN figures and says so in ``note``
    (never 0 or ±inf).
    Attributes keep their order of first appearance; directions are worse, then better.
    """
    require_columns(rows, _NEEDED, "effects")
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 0:
        raise RMXError(f"n_boot must be a non-negative integer, got {n_boot!r}.")
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise RMXError(f"confidence must be strictly between 0 and 1, got {confidence!r}.")
    s = reward_spread(rows) if spread is None else float(spread)
    if not (math.isfinite(s) and s > 0):
        s = math.nan
    attributes = list(pd.unique(rows["attribute"]))
    n_cells = len(attributes) * 2
    back = pd.to_numeric(rows["back_reward"], errors="coerce").astype(float)
    # a back-rewrite without a reward is as unusable as a failed one: counted, not dropped
    failed = _back_failed(rows) | back.isna().to_numpy()
    ok = rows[~failed]
    cell = _cells(ok, attributes)
    comp_codes, comp_ids = pd.factorize(ok["comparison_id"])
    n_comp = len(comp_ids)
    perturbed = ok["reward_perturbed"].astype(float).to_numpy()
    naive = perturbed - ok["reward_original"].astype(float).to_numpy()
    corrected = perturbed - ok["back_reward"].astype(float).to_numpy()
    flat = comp_codes.astype(np.int64) * n_cells + cell
    size = n_comp * n_cells

    def per_comp(weights: np.ndarray | None) -> np.ndarray:
        return (
            np.bincount(flat, weights=weights, minlength=size)
            .astype(float)
            .reshape(n_comp, n_cells)
        )

    sums = np.concatenate([per_comp(naive), per_comp(corrected), per_comp(None)], axis=1)
    total = sums.sum(axis=0)
    n = total[2 * n_cells :]
    point_naive = ratio(total[:n_cells], n) / s
    point_corrected = ratio(total[n_cells : 2 * n_cells], n) / s
    nan = np.full(n_cells, np.nan)
    lows, highs = (nan, nan), (nan, nan)
    if n_boot > 0 and n_comp > 0 and not math.isnan(s):
        boot = bootstrap_sums(sums, n_boot, seed)
        den = boot[:, 2 * n_cells :]
        nl, nh = percentile_bounds(ratio(boot[:, :n_cells], den) / s, confidence)
        cl, ch = percentile_bounds(ratio(boot[:, n_cells : 2 * n_cells], den) / s, confidence)
        lows, highs = (nl, cl), (nh, ch)
    n_failed = np.bincount(_cells(rows[failed], attributes), minlength=n_cells)
    n_comparisons = (per_comp(None) > 0).sum(axis=0) if n_comp else np.zeros(n_cells, int)
    # resampling one comparison gives a zero-width interval: claim no precision, say why
    single = n_comparisons < 2
    lows = (np.where(single, np.nan, lows[0]), np.where(single, np.nan, lows[1]))
    highs = (np.where(single, np.nan, highs[0]), np.where(single, np.nan, highs[1]))
    records = []
    for a, name in enumerate(attributes):
        for d, direction in enumerate(EFFECT_DIRECTIONS):
            j = a * 2 + d
            note = NOT_MEASURED if n[j] == 0 else (NO_SPREAD if math.isnan(s) else "")
            if not note and n_comparisons[j] == 1:
                note = ONE_COMPARISON
            records.append(
                (name, direction, int(n[j]), point_naive[j], lows[0][j], highs[0][j])
                + (point_corrected[j], lows[1][j], highs[1][j], int(n_failed[j]))
                + (int(n_comparisons[j]), note)
            )
    out = pd.DataFrame.from_records(records, columns=EFFECTS_COLUMNS)
    floats = [c for c in EFFECTS_COLUMNS if "effect" in c or "_ci_" in c]
    out = out.astype({**dict.fromkeys(floats, float), "n": np.int64, "n_failed": np.int64})
    out.attrs["spread"] = s
    return out.astype({"n_comparisons": np.int64})


def _back_failed(rows: pd.DataFrame) -> np.ndarray:
    if "back_failed" in rows:
        return rows["back_failed"].fillna(True).astype(bool).to_numpy()
    return np.zeros(len(rows), dtype=bool)


def _cells(rows: pd.DataFrame, attributes: list) -> np.ndarray:
    """Each row's attribute × direction cell, flattened (attribute a, worse → 2a, better →
    2a + 1); a direction other than worse/better is refused."""
    bad = set(rows["direction"].dropna().unique()) - set(EFFECT_DIRECTIONS)
    if bad or rows["direction"].isna().any():
        raise RMXError(f"column 'direction' must hold 'worse' or 'better'; found {sorted(bad)}.")
    attr = pd.Categorical(rows["attribute"], categories=attributes).codes.astype(np.int64)
    return attr * 2 + (rows["direction"] == "better").to_numpy().astype(np.int64)


def format_effects(table: pd.DataFrame) -> list[str]:
    """``effects()`` as aligned text lines (the CLI's summary): attribute, direction, n,
    naive and corrected effect with their intervals, failed back-rewrites."""

    def fig(v: float, lo: float, hi: float) -> str:
        if math.isnan(v):
            return NOT_MEASURED
        bounds = "" if math.isnan(lo) else f" [{lo:+.2f}, {hi:+.2f}]"
        return f"{v:+.2f}{bounds}"

    header = ["attribute", "direction", "n", "naive effect", "corrected (RATE)", "failed back"]
    lines = [
        [
            str(r.attribute),
            str(r.direction),
            str(r.n),
            fig(r.naive_effect, r.naive_ci_low, r.naive_ci_high),
            fig(r.corrected_effect, r.corrected_ci_low, r.corrected_ci_high),
            str(r.n_failed),
        ]
        for r in table.itertuples()
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *lines]
    ]


__all__ = [
    "EFFECTS_COLUMNS",
    "EFFECT_ROW_COLUMNS",
    "effects",
    "empty_effect_rows",
    "format_effects",
    "opposite",
]
