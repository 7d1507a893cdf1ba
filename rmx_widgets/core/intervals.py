"""The interval machinery the flip-rate statistics share: Wilson bounds, per-direction pooling
and the comparison-level bootstrap.

``core.sensitivity`` (PFR intervals) and ``core.null_test`` (excess intervals, Newcombe's
interval is built from Wilson bounds) both resample *comparisons*, never rows — the rows of one
comparison share a prompt and a margin — and both need the same arithmetic; keeping it in one
module means one definition to check by hand and no import cycle between the two.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

# Bootstrap weight matrices are built in chunks of at most this many cells, which bounds memory
# for tables with very many comparisons while keeping each chunk one matrix product.
CHUNK_CELLS = 1_000_000  # ~25 MB of bootstrap scratch at a time, whatever the table size


def wilson_interval(
    successes: np.ndarray, n: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score bounds for k successes among n trials at level ``confidence``, elementwise:
    (p̂ + z²/2n ± z·sqrt(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n) with p̂ = k/n and
    z = Φ⁻¹((1 + confidence)/2), clipped to [0, 1]; NaN where n = 0 (nothing measured)."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = float(stats.norm.ppf((1 + confidence) / 2))
    safe_n = np.where(n > 0, n, 1.0)
    p = k / safe_n
    denom = 1 + z * z / safe_n
    centre = (p + z * z / (2 * safe_n)) / denom
    half = z * np.sqrt(np.clip(p * (1 - p) / safe_n + z * z / (4 * safe_n * safe_n), 0, None))
    half = half / denom
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def with_pooled(counts: np.ndarray, n_attr: int) -> np.ndarray:
    """(B, A*2) worse/better counts -> (B, A*3) worse/better/both counts."""
    by_dir = counts.reshape(counts.shape[0], n_attr, 2)
    pooled = by_dir.sum(axis=2, keepdims=True)
    return np.concatenate([by_dir, pooled], axis=2).reshape(counts.shape[0], n_attr * 3)


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, NaN where den is 0 ("not measured", never 0 or inf)."""
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def bootstrap_sums(counts: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, K) column sums of ``counts`` (C comparisons × K) over resamples of its rows.

    Resample b draws C comparisons with replacement; its sums are w_b @ counts where w_b[c] is
    how often comparison c was drawn. Stacking the w_b turns the whole bootstrap into a few
    matrix products, chunked so the weights never exceed ``CHUNK_CELLS`` cells. Integer counts
    below 2**24 sum exactly in float32, whose products are several times faster; anything else
    is summed in float64.
    """
    rng = np.random.default_rng(seed)
    n_comp = counts.shape[0]
    exact32 = np.all(counts == np.round(counts)) and np.abs(counts).sum() < 2**24
    dtype = np.float32 if exact32 else np.float64
    work = counts.astype(dtype)
    chunk = max(1, CHUNK_CELLS // max(n_comp, 1))
    parts = []
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        draws = rng.integers(0, n_comp, size=(b, n_comp), dtype=np.int64)
        draws += (np.arange(b, dtype=np.int64) * n_comp)[:, None]
        weights = np.bincount(draws.ravel(), minlength=b * n_comp).reshape(b, n_comp)
        parts.append((weights.astype(dtype) @ work).astype(np.float64))
    return np.concatenate(parts, axis=0)


def percentile_bounds(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """The (1 − confidence)/2 and (1 + confidence)/2 percentiles of each column of ``boot``,
    ignoring resamples where the statistic is undefined; NaN for a column that always is."""
    tail = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        low, high = np.nanpercentile(boot, [100 * tail, 100 * (1 - tail)], axis=0)
    return low, high
