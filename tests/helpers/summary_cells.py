"""The per-attribute summary's cells (core.summary_table), worked out by hand once for every
face that shows them: the Explorer's SensitivitySummary, the run report, the study report and
the static view nbconvert / GitHub show. Each face's test compares its cells with these, so the
faces are checked against the same hand-computed numbers, not against each other.

* :data:`SENS_FRAME_CELLS`: the cells of ``sens_frames.sens_frame("columns")``, every row.
* :func:`outcomes`: a run built from outcomes ("CF", "SF", "tie", "failed"), for real
  ``sensitivity()`` tables; :data:`DEGENERATE` and :data:`DEGENERATE_CELLS`: n = 1, every
  rewrite failed and no null run, with their cells.
"""

from __future__ import annotations

import pandas as pd
import table_factory as tf
from scipy import stats
from sens_frames import HOSTILE

SUMMARY_HEADERS = [
    "n",
    "failed",
    "CF",
    "SF",
    "PFR [interval]",
    "null PFR",
    "excess [interval]",
    "p (Holm)",
    "significant",
    "length-controlled PFR",
]
"""The summary's ten text cells' headers, in display order (no verdicts: no valid cell)."""

HEADERS = ["attribute", *SUMMARY_HEADERS]
NULL_CELLS = slice(5, 9)
"""Where the null run's four cells (null PFR, excess, Holm p, significance) sit in a row."""
NO_LENGTH = "no length data"  # sens_frame's length columns are NaN / <NA>

# (attribute, direction) -> (reading, cells) for sens_frame("columns"), in its row order.
# failed = n_failed / (n + n_failed); CF = PFR x n; SF = n - CF; p (Holm) to 3 decimals.
SENS_FRAME_CELLS: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("tone", "worse"): (
        "ok",
        ["20", "5/25 (0.20)", "11", "9", "0.55 [0.35, 0.75]", "0.10 (n=20)"]
        + ["+0.45 [+0.20, +0.70]", "0.004", "*", NO_LENGTH],  # 0.55 x 20 = 11 CF
    ),
    ("tone", "better"): (
        "ok",
        ["20", "5/25 (0.20)", "9", "11", "0.45 [0.25, 0.65]", "0.10 (n=20)"]
        + ["+0.35 [+0.10, +0.60]", "0.012", "*", NO_LENGTH],  # 0.45 x 20 = 9 CF
    ),
    ("tone", "both"): (
        "ok",
        ["40", "10/50 (0.20)", "20", "20", "0.50 [0.35, 0.65]", "0.10 (n=40)"]
        + ["+0.40 [+0.20, +0.60]", "0.001", "*", NO_LENGTH],  # Holm p 0.0012 -> 0.001
    ),
    ("length", "worse"): (
        "too few",  # n = 5 < 10
        ["5 (too few)", "1/6 (0.17)", "1", "4", "0.20 [0.04, 0.62]", "0.20 (n=5)"]
        + ["0.00 [-0.40, +0.40]", "1.000", "n.s.", NO_LENGTH],
    ),
    ("length", "better"): (
        "too few",  # PFR 0 from 4 rewrites: a measured 0, not "not measured"
        ["4 (too few)", "0/4 (0.00)", "0", "4", "0.00 [0.00, 0.49]", "0.00 (n=4)"]
        + ["0.00 [-0.30, +0.30]", "1.000", "n.s.", NO_LENGTH],
    ),
    ("length", "both"): (
        "too few",  # n = 9 < 10
        ["9 (too few)", "1/10 (0.10)", "1", "8", "0.11 [0.02, 0.43]", "0.11 (n=9)"]
        + ["0.00 [-0.30, +0.30]", "1.000", "n.s.", NO_LENGTH],  # CF = 1/9 x 9
    ),
    # no successful rewrite: 0 CF and 0 SF (counts of nothing), every rate "not measured";
    # the null ran (0.20) but there is nothing to test
    (HOSTILE, "worse"): (
        "not measured",
        ["0", "3/3 (1.00)", "0", "0", "not measured", "0.20 (n=5)", "–", "–", "not tested"]
        + [NO_LENGTH],
    ),
    (HOSTILE, "better"): (
        "not measured",
        ["0", "2/2 (1.00)", "0", "0", "not measured", "0.20 (n=5)", "–", "–", "not tested"]
        + [NO_LENGTH],
    ),
    (HOSTILE, "both"): (
        "not measured",
        ["0", "5/5 (1.00)", "0", "0", "not measured", "0.20 (n=10)", "–", "–", "not tested"]
        + [NO_LENGTH],
    ),
}
POOLED_CELLS = {a: v for (a, d), v in SENS_FRAME_CELLS.items() if d == "both"}
"""sens_frame's pooled rows: attribute -> (reading, cells)."""


def without_null(cells: list[str]) -> list[str]:
    """The cells of a table without a null run (``sens_frame("na")`` / ``"absent"``): the four
    null cells read "no null run", the others are unchanged."""
    out = list(cells)
    out[NULL_CELLS] = ["no null run"] * 4
    return out


ORIGINAL = "one two three four five six seven eight nine ten"  # 10 words
Z2 = float(stats.norm.ppf(0.975)) ** 2  # 3.841459


def outcomes(spec: dict, *, perturber: str = "hand", same_length: bool = False) -> pd.DataFrame:
    """spec[(comparison, attribute)] = (worse, better), each "CF", "SF", "tie", "failed" or
    None (no row). Margin 1 before; CF: −1 after, SF: +1, tie: 0 (an SF: no flip). With
    ``same_length`` every rewrite swaps one word of a 10-word original (length change 0)."""
    after = {"CF": -1.0, "SF": 1.0, "tie": 0.0, "failed": None}
    rows = []
    for (cid, attribute), pair in spec.items():
        for side, outcome in zip(("chosen", "rejected"), pair):
            if outcome is None:
                continue
            texts = {"original": ORIGINAL, "perturbed": "uno" + ORIGINAL[3:]} if same_length else {}
            rows.append(
                tf.row(cid, attribute, side, 1.0, after[outcome], perturber=perturber, **texts)
            )
    return tf.table(rows)


DEGENERATE = {
    ("c1", "one"): ("CF", None),  # one rewrite, of the chosen side: n = 1 (worse and pooled)
    ("c1", "broken"): ("failed", "failed"),
    ("c2", "broken"): ("failed", None),  # every rewrite of "broken" failed
}
"""Degenerate rows for ``outcomes(DEGENERATE, same_length=True)``, run without a null."""

# Wilson's lower bound at k = n = 1: centre (1 + z²/2)/(1 + z²) minus half-width (z²/2)/(1 + z²)
# = 1/(1 + z²) = 0.2065 (the one-cluster bootstrap gives [1, 1]; Wilson floors it)
ONE_LOW = 1 / (1 + Z2)
_NO_NULL = ["no null run"] * 4
DEGENERATE_CELLS: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("one", "worse"): (
        "too few",
        ["1 (too few)", "0/1 (0.00)", "1", "0", f"1.00 [{ONE_LOW:.2f}, 1.00]", *_NO_NULL]
        + ["1.00 (n=1)"],  # one word swapped in ten: length change 0 < 10 %: controlled
    ),
    ("one", "better"): (
        "not measured",  # no rewrite of the rejected side at all: 0/0 attempted
        ["0", "0/0", "0", "0", "not measured", *_NO_NULL, "not measured (n=0)"],
    ),
    ("one", "both"): (
        "too few",
        ["1 (too few)", "0/1 (0.00)", "1", "0", f"1.00 [{ONE_LOW:.2f}, 1.00]", *_NO_NULL]
        + ["1.00 (n=1)"],
    ),
    ("broken", "worse"): (
        "not measured",
        ["0", "2/2 (1.00)", "0", "0", "not measured", *_NO_NULL, "not measured (n=0)"],
    ),
    ("broken", "better"): (
        "not measured",
        ["0", "1/1 (1.00)", "0", "0", "not measured", *_NO_NULL, "not measured (n=0)"],
    ),
    ("broken", "both"): (
        "not measured",
        ["0", "3/3 (1.00)", "0", "0", "not measured", *_NO_NULL, "not measured (n=0)"],
    ),
}
