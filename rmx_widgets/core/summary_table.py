"""The per-attribute summary table: every figure of one attribute (and direction) on one row.

A reader who puts an attribute's flip rate in a paper needs, beside it, how many rewrites it
rests on, how many failed, how the successful ones split into flips and non-flips, how often an
attribute-blind edit flips the same comparisons, whether the excess over that survives the
multiple-testing correction, and how much of the rate is a change of length. This module puts
those figures side by side; it computes none of the statistics itself. It reads a
``sensitivity()`` table (``core.sensitivity``), whose columns come from their own modules:

* ``n`` / ``n_failed``: successful and failed rewrites (``core.sensitivity``).
* ``n_cf`` / ``n_sf``: the successful rewrites that flipped the preference (CF) and those that
  did not (SF). PFR = CF / n, so CF = round(PFR · n) recovers the integer count exactly (n is
  far below 2⁵³) and SF = n − CF, every successful rewrite being CF or SF. 0 and 0 when n = 0:
  counts of nothing are 0, whereas the *rates* of nothing stay NaN, "not measured".
* ``pfr`` with ``ci_low`` / ``ci_high``: the cluster-bootstrap interval with a Wilson floor
  (``core.sensitivity``, ``core.intervals``).
* ``null_pfr`` / ``null_n``, ``excess_pfr`` with its interval, ``p_adjusted`` (Holm) and
  ``significant``: the null test (``core.null_test``).
* ``pfr_length_controlled`` / ``n_length_controlled``: the PFR among the successful rewrites
  that changed length by under 10 % of the original's words (``core.confounders``).

The text cells follow ``core.readability`` (the same "not measured", "too few", "no null run"
words as every other face); :data:`SUMMARY_TEXT_COLUMNS` lists them with their headers.
Only plain text comes out; the widget puts it in ``textContent``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rmx_widgets.core.metrics import require_columns
from rmx_widgets.core.readability import (
    FACE_NUMBER_COLUMNS,
    NOT_MEASURED,
    TEXT_COLUMNS,
    alpha_of,
    confidence_of,
    face_rows,
    has_judged,
    legend,
    number,
    text_columns,
    valid_only_of,
)
from rmx_widgets.core.sensitivity import BASE_SENSITIVITY_COLUMNS

NO_LENGTH = "no length data"
"""The length-controlled cell of a table that cannot tell how long its rewrites are (no texts,
no ``length_change``): not measurable, which is not the same as none qualifying."""

SUMMARY_TEXT_COLUMNS: dict[str, str] = {
    "n_text": TEXT_COLUMNS["n_text"],
    "failed_text": TEXT_COLUMNS["failed_text"],
    "cf_text": "CF",
    "sf_text": "SF",
    **{k: v for k, v in TEXT_COLUMNS.items() if k not in ("n_text", "failed_text")},
    "length_text": "length-controlled PFR",
}
"""The summary's text cells in display order, with their headers: the faces' cells
(``core.readability.TEXT_COLUMNS``, so their words and headers are the same everywhere) with
CF and SF after "failed" and the length-controlled PFR last."""

SUMMARY_KEY = (
    "CF = rewrites that flipped the preference, SF = successful rewrites that did not "
    "(CF + SF = n); length-controlled PFR = the PFR among the successful rewrites whose length "
    'changed by under 10% of the original\'s words, with their n ("no length data" = the '
    "table cannot tell the rewrites' lengths)."
)
"""The legend's sentence for the columns this module adds to the faces' cells."""

SUMMARY_NUMBER_COLUMNS = ["n_cf", "n_sf", "pfr_length_controlled", "n_length_controlled"]
"""The numbers the summary adds to a face row's (``core.readability.FACE_NUMBER_COLUMNS``)."""

SUMMARY_COLUMNS = [
    *FACE_NUMBER_COLUMNS,
    *SUMMARY_NUMBER_COLUMNS,
    *SUMMARY_TEXT_COLUMNS,
    "valid_text",
]
"""What :func:`summary_table` returns: a face row's numbers, the summary's, then the text
cells (the valid cell last: it is shown only beside verdicts, :func:`summary_text_columns`)."""


def flip_counts(pfr: pd.Series, n: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(CF, SF) counts per row from PFR = CF / n: CF = round(PFR · n), SF = n − CF; 0 and 0
    where n = 0 (PFR NaN). A PFR that is not k/n for an integer k (a hand-edited table) is
    refused rather than rounded into a count nobody observed."""
    counts = pd.to_numeric(n, errors="coerce").fillna(0).to_numpy(float)
    rate = pd.to_numeric(pfr, errors="coerce").to_numpy(float)
    product = np.where(counts > 0, np.nan_to_num(rate) * counts, 0.0)
    cf = np.round(product)
    if np.any(np.abs(product - cf) > 1e-6 * np.maximum(counts, 1)):
        raise ValueError("pfr × n is not a whole number of flips: not a sensitivity() table")
    return cf.astype(np.int64), (counts - cf).astype(np.int64)


def length_text(rate: object, n: object, digits: int = 2) -> str:
    """The length-controlled PFR with its n, "0.40 (n=12)"; "not measured (n=0)" when no
    successful rewrite kept its length; :data:`NO_LENGTH` when length cannot be told."""
    if n is None or n is pd.NA or (isinstance(n, float) and math.isnan(n)):
        return NO_LENGTH
    count = int(n)  # type: ignore[call-overload]
    value = float(rate) if rate is not None and rate is not pd.NA else math.nan  # type: ignore[arg-type]
    if count <= 0 or math.isnan(value):
        return f"{NOT_MEASURED} (n={count})"
    return f"{number(value, digits)} (n={count})"


def summary_table(
    sens: pd.DataFrame, directions: tuple[str, ...] | None = ("both",), digits: int = 2
) -> pd.DataFrame:
    """The summary rows of a ``sensitivity()`` table (only ``directions``; every row with
    ``None``), in its ranking order, as :data:`SUMMARY_COLUMNS`.

    Numbers are NaN (``significant`` None) where the table has no figure, so a face never
    shows a 0 that was not measured; the null and length columns may be absent (a table saved
    before they existed): their cells then read "no null run" and :data:`NO_LENGTH`.
    """
    require_columns(sens, BASE_SENSITIVITY_COLUMNS, "the summary table (a sensitivity() table)")
    rows = sens if directions is None else sens[sens["direction"].isin(directions)]
    rows = rows.reset_index(drop=True)
    face = face_rows(rows, directions=None, digits=digits)
    out = face.copy()
    out["n_cf"], out["n_sf"] = flip_counts(rows["pfr"], face["n"])
    out["cf_text"] = out["n_cf"].astype(str)  # 0 when n = 0: a count of nothing is 0
    out["sf_text"] = out["n_sf"].astype(str)
    lc_rate = (
        pd.to_numeric(rows["pfr_length_controlled"], errors="coerce").astype(float)
        if "pfr_length_controlled" in rows
        else pd.Series(math.nan, index=rows.index)
    )
    lc_n = (
        rows["n_length_controlled"].astype("Int64")
        if "n_length_controlled" in rows
        else pd.Series(pd.NA, index=rows.index, dtype="Int64")
    )
    out["pfr_length_controlled"] = lc_rate.to_numpy()
    out["n_length_controlled"] = lc_n.to_numpy()
    out["length_text"] = [
        length_text(r, None if pd.isna(k) else int(k), digits) for r, k in zip(lc_rate, lc_n)
    ]
    return out[SUMMARY_COLUMNS]


def summary_text_columns(sens: pd.DataFrame) -> dict[str, str]:
    """The text cells a summary of ``sens`` shows, with their headers: the valid-rewrite cell
    (``core.validity_rates``) after "failed" only when the table has verdicts."""
    return text_columns(sens, SUMMARY_TEXT_COLUMNS)


def summary_legend(sens: pd.DataFrame | None = None) -> str:
    """The definitions line under every summary table (the Explorer's, the report's, the
    static view's): the faces' key (``core.readability.legend``, at the table's alpha, with
    the valid cell's key when it has verdicts and a note when its figures count only valid
    rewrites) and :data:`SUMMARY_KEY` for CF, SF and the length-controlled PFR. One function,
    so no face can define a column differently from another."""
    if sens is None:
        return f"{legend()} {SUMMARY_KEY}"
    key = legend(
        alpha_of(sens),
        judged=has_judged(sens),
        valid_only=valid_only_of(sens),
        confidence=confidence_of(sens),
    )
    return f"{key} {SUMMARY_KEY}"
