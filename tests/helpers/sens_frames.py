"""Sensitivity tables built by hand for the faces' tests, with and without the null-run columns.

Three attributes, pooled rows ("both") plus the two directions:

* ``tone``: n = 40 successful, 10 failed (failed rate 10/50 = 0.20), PFR 0.50 [0.35, 0.65];
  null PFR 0.10 (n = 40), excess 0.40 [0.20, 0.60], p 0.0004, Holm p 0.0012 -> significant.
* ``length``: n = 9 (too few: 9 < 10), 1 failed (1/10 = 0.10), PFR 1/9 = 0.111 [0.02, 0.43];
  null 0.111 (n = 9), excess 0.00 [-0.30, 0.30], p 1.0, Holm 1.0 -> not significant.
* ``HOSTILE`` (markup in the name): n = 0, 5 failed (5/5 = 1.00) -> not measured; the null
  ran (PFR 0.20, n = 10) but nothing can be tested.

``null="columns"`` fills the null columns, ``null="na"`` has them all <NA> (what sensitivity()
gives without a null table), ``null="absent"`` lacks them (sensitivity() before the merge).
"""

from __future__ import annotations

import math

import pandas as pd

from rmx_widgets.core.sensitivity import BASE_SENSITIVITY_COLUMNS, SENSITIVITY_COLUMNS
from rmx_widgets.core.validity_rates import VALIDITY_COLUMNS

HOSTILE = "<b>x</b>&<script>"
# the columns sensitivity() appends after the base ones: length control, then the null test
# (the valid-rewrite columns after them are left out: the faces read them when present)
NULL_COLUMNS = SENSITIVITY_COLUMNS[len(BASE_SENSITIVITY_COLUMNS) : -len(VALIDITY_COLUMNS)]
NAN = math.nan

# attribute, direction, pfr, ci_low, ci_high, n, mean_margin_change, n_rewrites,
# n_comparisons, n_failed | null_pfr, null_n, excess, ex_low, ex_high, p, p_adj, significant
_ROWS = [
    ("tone", "worse", 0.55, 0.35, 0.75, 20, -0.9, 20, 20, 5)
    + (0.10, 20, 0.45, 0.20, 0.70, 0.001, 0.004, True),
    ("tone", "better", 0.45, 0.25, 0.65, 20, -0.7, 20, 20, 5)
    + (0.10, 20, 0.35, 0.10, 0.60, 0.004, 0.012, True),
    ("tone", "both", 0.50, 0.35, 0.65, 40, -0.8, 40, 20, 10)
    + (0.10, 40, 0.40, 0.20, 0.60, 0.0004, 0.0012, True),
    ("length", "worse", 0.20, 0.04, 0.62, 5, -0.1, 5, 5, 1)
    + (0.20, 5, 0.00, -0.40, 0.40, 1.0, 1.0, False),
    ("length", "better", 0.0, 0.0, 0.49, 4, 0.1, 4, 4, 0)
    + (0.0, 4, 0.00, -0.30, 0.30, 1.0, 1.0, False),
    ("length", "both", 1 / 9, 0.02, 0.43, 9, 0.0, 9, 5, 1)
    + (1 / 9, 9, 0.00, -0.30, 0.30, 1.0, 1.0, False),
    (HOSTILE, "worse", NAN, NAN, NAN, 0, NAN, 0, 0, 3) + (0.20, 5, NAN, NAN, NAN, NAN, NAN, None),
    (HOSTILE, "better", NAN, NAN, NAN, 0, NAN, 0, 0, 2) + (0.20, 5, NAN, NAN, NAN, NAN, NAN, None),
    (HOSTILE, "both", NAN, NAN, NAN, 0, NAN, 0, 0, 5) + (0.20, 10, NAN, NAN, NAN, NAN, NAN, None),
]
BASE = BASE_SENSITIVITY_COLUMNS


def sens_frame(null: str = "columns") -> pd.DataFrame:
    """The hand-built table; ``null`` is "columns", "na" or "absent" (see the module doc)."""
    base = pd.DataFrame([r[:10] for r in _ROWS], columns=BASE)
    if null == "absent":
        return base
    extra = pd.DataFrame(
        [(NAN, pd.NA, r[10], r[11], r[12], r[13], r[14], r[15], r[16], r[17]) for r in _ROWS],
        columns=NULL_COLUMNS,
    )
    out = pd.concat([base, extra], axis=1)
    out = out.astype({"n_length_controlled": "Int64", "null_n": "Int64", "significant": "boolean"})
    if null == "na":
        for c in NULL_COLUMNS:
            out[c] = pd.NA if c in ("n_length_controlled", "null_n", "significant") else NAN
        out = out.astype(
            {"n_length_controlled": "Int64", "null_n": "Int64", "significant": "boolean"}
        )
    return out
