"""The shared interval machinery (``core.intervals``), checked by hand."""

import numpy as np
import pytest

from rmx_widgets.core.intervals import (
    bootstrap_sums,
    percentile_bounds,
    ratio,
    wilson_interval,
    with_pooled,
)
from rmx_widgets.core.sensitivity import wilson_interval as exported


def test_sensitivity_exports_the_one_wilson_interval():
    assert exported is wilson_interval


def test_one_comparison_resamples_to_itself():
    # C = 1: every resample draws that comparison once, so every sum is its row
    counts = np.array([[2.0, -1.0, 5.0]])
    boot = bootstrap_sums(counts, n_boot=7, seed=3)
    assert boot.shape == (7, 3) and (boot == counts).all()


def test_resample_sums_keep_the_total_count_and_are_seeded():
    # two comparisons with 1 and 3 rows: a resample holds 2 draws, so its row count is 2, 4
    # (one of each) or 6 — never anything else; the same seed gives the same resamples
    counts = np.array([[1.0], [3.0]])
    boot = bootstrap_sums(counts, n_boot=200, seed=0)
    assert set(boot[:, 0]) <= {2.0, 4.0, 6.0} and len(set(boot[:, 0])) == 3
    assert (boot == bootstrap_sums(counts, n_boot=200, seed=0)).all()


def test_non_integer_counts_are_summed_in_float64():
    counts = np.array([[0.1], [0.2]])
    boot = bootstrap_sums(counts, n_boot=50, seed=1)
    assert set(np.round(boot[:, 0], 12)) <= {0.2, 0.3, 0.4}


def test_percentile_bounds_ignore_undefined_resamples():
    # column 0: 0..100, so the 2.5 / 97.5 percentiles are 2.5 and 97.5; column 1: always NaN
    boot = np.column_stack([np.arange(101.0), np.full(101, np.nan)])
    low, high = percentile_bounds(boot, 0.95)
    assert low[0] == pytest.approx(2.5) and high[0] == pytest.approx(97.5)
    assert np.isnan(low[1]) and np.isnan(high[1])


def test_pooling_and_ratio_by_hand():
    # one attribute: worse 1, better 3 -> both 4; a second: 0, 0 -> 0
    assert with_pooled(np.array([[1.0, 3.0, 0.0, 0.0]]), 2).tolist() == [[1, 3, 4, 0, 0, 0]]
    out = ratio(np.array([1.0, 0.0]), np.array([4.0, 0.0]))
    assert out[0] == 0.25 and np.isnan(out[1])  # 0/0 is not measured, never 0
