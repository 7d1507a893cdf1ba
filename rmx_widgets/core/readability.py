"""How much a sensitivity row can be read: the marks and text cells every face shows.

Five faces show the same sensitivity numbers (the chart, the Explorer's summary, the run
report, ``rmx explain``'s terminal table, the study report). A PFR of 0 from no rewrite at all,
or a PFR of 1.0 from one rewrite, looks like a finding when it is not; and a PFR without the
rate the null perturber reaches says nothing about the attribute. So each face shows, per
attribute, ``n`` (successful rewrites), the failed rate beside its counts, the PFR with its
interval, the null PFR, the excess over the null with its interval, the Holm-adjusted p and a
significance marker, the valid-rewrite rate beside its counts when a rewrite judge ran
(``core.validity_rates``: "not measured" for a row nothing was judged in, and for a table made
before the validity columns existed), and a *reading* mark: ``"not measured"`` when no
rewrite succeeded (never PFR 0) and ``"too few"`` when fewer than :data:`MIN_READABLE_N` did.

These rules, and the text they produce, live here once so that the faces cannot disagree:
every face builds its cells with :func:`face_rows` (or the helpers under it; the tables, the
Explorer's summary, the reports and the static view, through ``core.summary_table``, which adds
CF, SF and the length-controlled PFR) and only lays them out. The null and significance
columns (``null_pfr``, ``excess_pfr``, ``p_adjusted``, ``significant`` ...) are read when a
sensitivity table has them; a table without them, or with them <NA> (no null run was made),
shows ``"no null run"`` in those cells, never 0.

Only plain text comes out (no markup): the HTML faces escape it, the widget puts it in
``textContent``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import pandas as pd

from rmx_widgets.core.validity_rates import valid_text

Reading = Literal["not measured", "too few", "ok"]

MIN_READABLE_N = 10
"""Fewer successful rewrites than this and a PFR is marked "too few" to read: with n = 9 the
95 % Wilson interval of a PFR of 0.5 is [0.21, 0.79], too wide to rank attributes by."""

DEFAULT_ALPHA = 0.05
"""The significance level the faces state by default (the null test's default alpha)."""

NOT_MEASURED: Reading = "not measured"
TOO_FEW: Reading = "too few"
NO_NULL = "no null run"
NOT_TESTED = "not tested"
DASH = "–"

FACE_NUMBER_COLUMNS = [
    "attribute",
    "direction",
    "reading",
    "n",
    "n_failed",
    "failed_rate",
    "pfr",
    "ci_low",
    "ci_high",
    "null_pfr",
    "null_n",
    "excess_pfr",
    "excess_ci_low",
    "excess_ci_high",
    "p_adjusted",
    "significant",
    "n_judged",
    "n_valid",
    "valid_rate",
]
"""The numbers of a face row (NaN / None when absent), before its text cells. The one base
list: :data:`FACE_COLUMNS` and ``core.summary_table.SUMMARY_COLUMNS`` both start with it, so
the faces and the summary cannot drift apart in what a row holds."""

TEXT_COLUMNS = {
    "n_text": "n",
    "failed_text": "failed",
    "pfr_text": "PFR [interval]",
    "null_text": "null PFR",
    "excess_text": "excess [interval]",
    "p_text": "p (Holm)",
    "significance": "significant",
}
"""The text cells in display order, with the header every face gives them."""

VALID_HEADER = "valid (judged)"
"""The header of the ``valid_text`` cell: valid / judged rewrites (rate). It is shown only
beside a table that has verdicts (:func:`has_judged`), so faces of unjudged runs are unchanged."""

FACE_COLUMNS = [
    *FACE_NUMBER_COLUMNS,
    "n_text",
    "failed_text",
    "valid_text",
    *(c for c in TEXT_COLUMNS if c not in ("n_text", "failed_text")),
]
"""What :func:`face_rows` returns: :data:`FACE_NUMBER_COLUMNS`, then the text cells of
:data:`TEXT_COLUMNS` with the valid cell after the failed one."""

VALID_ONLY_NOTE = "on rewrites judged valid only"
"""What a face says when its sensitivity was computed with ``valid_only=True``."""


def _missing(value: object) -> bool:
    """None, NaN and pandas' <NA> are all "not there"."""
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _count(value: object) -> int:
    """A count; a missing one is 0."""
    return 0 if _missing(value) else int(value)  # type: ignore[call-overload]


def _float(value: object) -> float:
    return math.nan if _missing(value) else float(value)  # type: ignore[arg-type]


def reading(n: object) -> Reading:
    """``"not measured"`` when no rewrite succeeded (n = 0, or n missing), ``"too few"`` when
    0 < n < :data:`MIN_READABLE_N`, else ``"ok"``."""
    count = _count(n)
    if count <= 0:
        return NOT_MEASURED
    return TOO_FEW if count < MIN_READABLE_N else "ok"


def failed_rate(n: object, n_failed: object) -> float:
    """n_failed / (n + n_failed): the share of attempted rewrites that failed; NaN when nothing
    was attempted (both 0)."""
    ok, failed = _count(n), _count(n_failed)
    attempted = ok + failed
    return failed / attempted if attempted else math.nan


def failed_text(n: object, n_failed: object, digits: int = 2) -> str:
    """The failed rate with its counts, "3/12 (0.25)"; "0/0" when nothing was attempted."""
    ok, failed = _count(n), _count(n_failed)
    rate = failed_rate(ok, failed)
    counts = f"{failed}/{ok + failed}"
    return counts if math.isnan(rate) else f"{counts} ({rate:.{digits}f})"


def number(value: object, digits: int = 2, *, signed: bool = False) -> str:
    """A rate as text, "0.42" ("+0.42" when ``signed``); an en dash when missing."""
    x = _float(value)
    if math.isnan(x):
        return DASH
    text = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return f"{0.0:.{digits}f}" if float(text) == 0 else text  # no "-0.00"


def interval_text(
    value: object, low: object, high: object, digits: int = 2, *, signed: bool = False
) -> str:
    """One text cell, "0.42 [0.30, 0.55]"; the value alone when the interval is missing
    (``n_boot=0``); "not measured" when the value itself is missing."""
    if math.isnan(_float(value)):
        return NOT_MEASURED
    head = number(value, digits, signed=signed)
    if math.isnan(_float(low)) or math.isnan(_float(high)):
        return head
    return f"{head} [{number(low, digits, signed=signed)}, {number(high, digits, signed=signed)}]"


def p_text(p: object) -> str:
    """A p-value as text: three decimals, "<0.001" below that, an en dash when missing."""
    x = _float(p)
    if math.isnan(x):
        return DASH
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def significance_marker(significant: object, has_null: bool = True) -> str:
    """ "*" when the excess over the null is significant (Holm-adjusted p < alpha), "n.s." when
    it is not, "no null run" without a null run, "not tested" when a null run was made but this
    row has no test (e.g. nothing measured)."""
    if not has_null:
        return NO_NULL
    if _missing(significant):
        return NOT_TESTED
    return "*" if bool(significant) else "n.s."


def null_text(null_pfr: object, null_n: object, has_null: bool, digits: int = 2) -> str:
    """The null perturber's PFR with its n, "0.10 (n=40)"; "no null run" without one; "not
    measured" when the null's rewrites of this row all failed."""
    if not has_null:
        return NO_NULL
    if math.isnan(_float(null_pfr)):
        return NOT_MEASURED
    count = "" if _missing(null_n) else f" (n={_count(null_n)})"
    return number(null_pfr, digits) + count


def _has_null(null_pfr: object, null_n: object) -> bool:
    """Whether a null run reached this row: a null n (0 counts: the null ran and failed) or a
    null PFR is there."""
    return not _missing(null_n) or not _missing(null_pfr)


def face_rows(
    sens: pd.DataFrame, directions: tuple[str, ...] | None = ("both",), digits: int = 2
) -> pd.DataFrame:
    """The rows of a sensitivity table (only ``directions``; all with ``None``), in its order,
    as :data:`FACE_COLUMNS`: numbers for charts and tooltips, text cells for tables.

    Reads the null-run columns when present; missing columns or <NA> values give "no null
    run" in the null and significance cells and NaN in their numbers.
    """
    rows = sens if directions is None else sens[sens["direction"].isin(directions)]
    records = [_face_record(row, digits) for row in rows.to_dict("records")]
    return pd.DataFrame.from_records(records, columns=FACE_COLUMNS)


def _face_record(row: dict, digits: int) -> dict:
    """One sensitivity row (a dict; the null columns may be absent) as a face row."""
    get = row.get
    null_pfr, null_n = get("null_pfr"), get("null_n")
    has_null = _has_null(null_pfr, null_n)
    n, n_failed = _count(get("n")), _count(get("n_failed"))
    n_judged, n_valid = _count(get("n_judged")), _count(get("n_valid"))
    mark = reading(n)
    significant = get("significant")
    excess = get("excess_pfr")
    if not has_null:
        excess_cell = NO_NULL
    elif math.isnan(_float(excess)):
        excess_cell = DASH
    else:
        excess_cell = interval_text(
            excess, get("excess_ci_low"), get("excess_ci_high"), digits, signed=True
        )
    return {
        "attribute": str(get("attribute")),
        "direction": str(get("direction")),
        "reading": mark,
        "n": n,
        "n_failed": n_failed,
        "failed_rate": failed_rate(n, n_failed),
        "pfr": _float(get("pfr")) if n > 0 else math.nan,
        "ci_low": _float(get("ci_low")) if n > 0 else math.nan,
        "ci_high": _float(get("ci_high")) if n > 0 else math.nan,
        "null_pfr": _float(null_pfr),
        "null_n": None if _missing(null_n) else _count(null_n),
        "excess_pfr": _float(excess),
        "excess_ci_low": _float(get("excess_ci_low")),
        "excess_ci_high": _float(get("excess_ci_high")),
        "p_adjusted": _float(get("p_adjusted")),
        "significant": None if _missing(significant) else bool(significant),
        "n_judged": n_judged,
        "n_valid": n_valid,
        "valid_rate": n_valid / n_judged if n_judged else math.nan,
        "n_text": f"{n} ({TOO_FEW})" if mark == TOO_FEW else str(n),
        "failed_text": failed_text(n, n_failed, digits),
        "valid_text": valid_text(n_valid, n_judged, digits),
        "pfr_text": interval_text(get("pfr"), get("ci_low"), get("ci_high"), digits)
        if n > 0
        else NOT_MEASURED,
        "null_text": null_text(null_pfr, null_n, has_null, digits),
        "excess_text": excess_cell,
        "p_text": p_text(get("p_adjusted")) if has_null else NO_NULL,
        "significance": significance_marker(significant, has_null),
    }


def has_judged(sens: pd.DataFrame) -> bool:
    """Whether a sensitivity table carries verdicts: its ``n_judged`` column is there and some
    row has a judged rewrite. Tables from runs without a judge (or saved before the column
    existed) say no, and their faces show no valid cell."""
    if "n_judged" not in sens.columns:
        return False
    return bool((pd.to_numeric(sens["n_judged"], errors="coerce").fillna(0) > 0).any())


def valid_only_of(sens: pd.DataFrame) -> bool:
    """Whether a sensitivity table was computed on valid rewrites only: ``sens.attrs
    ["valid_only"]``, which ``sensitivity()`` records."""
    value = sens.attrs.get("valid_only", False)
    return False if _missing(value) else bool(value)


def text_columns(sens: pd.DataFrame, columns: Mapping[str, str] = TEXT_COLUMNS) -> dict[str, str]:
    """The text cells a face shows for ``sens``, with their headers: ``columns`` (the faces'
    :data:`TEXT_COLUMNS`, or the summary's), and the valid cell after the failed one when the
    table has verdicts (:func:`has_judged`)."""
    if not has_judged(sens):
        return dict(columns)
    out: dict[str, str] = {}
    for key, header in columns.items():
        out[key] = header
        if key == "failed_text":
            out["valid_text"] = VALID_HEADER
    return out


DEFAULT_CONFIDENCE = 0.95
"""The interval level ``sensitivity()`` uses unless told otherwise."""


def confidence_of(sens: pd.DataFrame) -> float:
    """The level a sensitivity table's intervals were computed at: ``sens.attrs
    ["confidence"]`` when ``sensitivity()`` recorded it, else :data:`DEFAULT_CONFIDENCE`; the
    faces state it, so an interval computed at 90 % is never labelled 95 %."""
    value = sens.attrs.get("confidence", DEFAULT_CONFIDENCE)
    return DEFAULT_CONFIDENCE if _missing(value) else float(value)


def level_text(confidence: float) -> str:
    """``0.95`` → ``"95%"``, ``0.995`` → ``"99.5%"``: an interval's level as the faces print it."""
    return f"{confidence * 100:.4g}%"


def alpha_of(sens: pd.DataFrame) -> float:
    """The significance level a sensitivity table was tested at: ``sens.attrs["alpha"]`` when
    its maker recorded one, else :data:`DEFAULT_ALPHA`."""
    value = sens.attrs.get("alpha", DEFAULT_ALPHA)
    return DEFAULT_ALPHA if _missing(value) else float(value)


def legend(
    alpha: float = DEFAULT_ALPHA,
    min_n: int = MIN_READABLE_N,
    *,
    judged: bool = False,
    valid_only: bool = False,
    confidence: float = DEFAULT_CONFIDENCE,
) -> str:
    """The one-line key every face prints beside its table; ``judged`` adds the valid cell's
    key, ``valid_only`` says the figures count only rewrites judged valid (a PFR of valid
    rewrites is not the PFR of all rewrites, so the reader must be told)."""
    valid = "valid (judged) = valid/judged rewrites (rate); " if judged else ""
    only = f"Figures {VALID_ONLY_NOTE}. " if valid_only else ""
    head = "n = successful rewrites; failed = failed/attempted rewrites (rate); "
    return (
        only
        + head
        + valid
        + (
            f"PFR with its {level_text(confidence)} interval; null PFR = the attribute-blind "
            "null perturber's PFR; excess = PFR − null PFR on the rewrites paired with a null "
            f"rewrite; p (Holm) = Holm-adjusted p-value; * = significant at α = {alpha:g} after "
            "Holm, "
            f'n.s. = not; "too few" = fewer than {min_n} successful rewrites, too few to read; '
            f'"not measured" = no successful rewrite (never PFR 0).'
        )
    )
