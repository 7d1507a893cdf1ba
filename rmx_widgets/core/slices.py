"""Slices: the input's extra columns carried into the explanation table, and figures per slice.

An input file often says more about each comparison than its prompt and responses: the
domain, the benchmark subset, the source, an annotator's label. Every such field (what the
loader keeps in ``Comparison.metadata``) becomes a ``slice.<field>`` column of every row of
that comparison, so a figure can be split by it: ``result.sensitivity(by="slice.domain")``
(or ``by="domain"``) computes the sensitivity table once per value of the field, and
``rmx explain --by domain`` prints it with each slice's n and failures.

A slice value is text: a number or a boolean as Python writes it (``3``, ``True``), a list or
an object as compact JSON; a missing or null field is missing (NaN), its own slice. Values are
untrusted input: control characters are escaped (``data.safe_text``) and a value is cut to
:data:`MAX_VALUE_CHARS` characters; at most :data:`MAX_FIELDS` fields are carried (the first
seen), so a file with a free-text column per row cannot blow up the table.

Each slice's figures are those of the slice's rows as a table of their own (its own bootstrap
over its own comparisons, its n and failed counts), except the mean margin change, which is
scaled by the *whole* table's reward spread so that the slices' figures share one unit. A
slice whose rewrites all failed keeps its rows with n = 0 and NaN rates ("not measured").
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from rmx_widgets.core.data import Comparison, safe_text
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.hand_edits import without_hand_edits
from rmx_widgets.core.validity_rates import valid_only_rows

PREFIX = "slice."
MAX_FIELDS = 32
MAX_VALUE_CHARS = 200
MISSING_LABEL = "(missing)"
"""How a face names the slice of the rows missing the field (the summary widget's word too)."""


def slice_fields(comps: Sequence[Comparison]) -> tuple[str, ...]:
    """The metadata fields of ``comps`` (first seen first, at most :data:`MAX_FIELDS`): the
    slice columns of a run over them, the same for every batch."""
    fields: dict[str, None] = {}
    for c in comps:
        for key in c.metadata:
            if isinstance(key, str) and key.strip() and len(fields) < MAX_FIELDS:
                fields.setdefault(safe_text(key)[:MAX_VALUE_CHARS], None)
    return tuple(fields)


def slice_value(value: Any) -> str | None:
    """A metadata value as slice text (see the module docstring); None when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bool, int, float)):
        text = str(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        except (TypeError, ValueError):
            text = type(value).__name__
    return safe_text(text)[:MAX_VALUE_CHARS]


def _metadata_value(metadata: Mapping[str, Any], field: str) -> str | None:
    for key, value in metadata.items():
        if isinstance(key, str) and safe_text(key)[:MAX_VALUE_CHARS] == field:
            return slice_value(value)
    return None


def with_slices(
    frame: pd.DataFrame, comps: Sequence[Comparison], fields: Sequence[str]
) -> pd.DataFrame:
    """``frame`` with a ``slice.<field>`` text column per field, row i from ``comps[i]``'s
    metadata (missing where it has no such field)."""
    if not fields:
        return frame
    out = frame.copy()
    for field in fields:
        values = [_metadata_value(c.metadata, field) for c in comps]
        column = pd.Series(values, index=frame.index, dtype=object)
        # astype("str") alone writes a missing value as the text "None" under pandas 2.x
        out[PREFIX + field] = column.astype("str").where(column.notna(), None)
    return out


def check_slice_field(by: str, comps: Sequence[Comparison]) -> str:
    """The field ``by`` names (``"domain"`` or ``"slice.domain"``) when ``comps`` carry it,
    else ``RMXError`` listing the fields they do carry: checked before any model loads."""
    fields = slice_fields(comps)
    field = by.removeprefix(PREFIX) if isinstance(by, str) else by
    if field in fields:
        return field
    listed = ", ".join(fields) if fields else "none (only prompt, responses and id)"
    raise RMXError(f"no field {by!r} in the input to split by; its extra fields are: {listed}.")


def slice_column(table: pd.DataFrame, by: str) -> str:
    """The table column ``by`` names: ``"slice.domain"`` or ``"domain"``; ``RMXError``
    naming the table's slices when it has no such column."""
    if not isinstance(by, str) or not by.strip():
        raise RMXError(f"by= must name a slice (e.g. by='domain'), got {by!r}.")
    for name in (by, PREFIX + by):
        if name.startswith(PREFIX) and name in table.columns:
            return name
    have = [str(c)[len(PREFIX) :] for c in table.columns if str(c).startswith(PREFIX)]
    listed = ", ".join(have) if have else "none (the input had no extra columns)"
    raise RMXError(f"no slice {by!r} in this table; its slices are: {listed}.")


def slice_values(table: pd.DataFrame, column: str) -> list[str | None]:
    """The values of ``column``, sorted, missing (None) last."""
    values = table[column]
    present = sorted({str(v) for v in values.dropna()})
    return present + ([None] if values.isna().any() else [])


def slice_label(value: str | None) -> str:
    """A slice value as a face shows it: the text, or :data:`MISSING_LABEL` for None."""
    return MISSING_LABEL if value is None else value


def slice_rows(table: pd.DataFrame, column: str, value: str | None) -> pd.DataFrame:
    """The rows of ``table`` in one slice (``value`` None: the rows missing the field)."""
    return table[table[column].isna()] if value is None else table[table[column] == value]


def sensitivity_by(
    table: pd.DataFrame, null: pd.DataFrame | None, by: str, **kwargs: Any
) -> pd.DataFrame:
    """``sensitivity`` once per slice of ``by``: the sensitivity columns after a first column
    named like the slice (``slice.domain``) holding its value. The null test of a slice uses
    the null rows of the slice's comparisons (none: its null columns are not measured, as
    without a null run); the margin change is scaled by the whole table's
    reward spread (see the module docstring). The Holm correction is over every row of the
    split table, all slices together (:func:`_holm_over_slices`)."""
    from rmx_widgets.core.sensitivity import reward_spread, sensitivity

    column = slice_column(table, by)
    kwargs.setdefault("spread", reward_spread(table))
    if kwargs.get("valid_only"):
        valid_only_rows(without_hand_edits(table))  # no verdict anywhere: one OptionError
        kwargs["require_judged"] = False  # a slice without a verdict: n = 0, not an error
    parts = []
    for value in slice_values(table, column):
        rows = slice_rows(table, column, value)
        ids = set(rows["comparison_id"])
        sub_null = None if null is None else null[null["comparison_id"].isin(ids)]
        if sub_null is not None and sub_null.empty:
            sub_null = None  # no null rewrite of this slice: its null test is not measured
        part = sensitivity(rows, null=sub_null, **kwargs)
        part.insert(0, column, value)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[column])
    out = pd.concat(parts, ignore_index=True)
    out.attrs.update(parts[0].attrs)
    return _holm_over_slices(out)


def _holm_over_slices(out: pd.DataFrame) -> pd.DataFrame:
    """Holm over every row of the split table: each slice's ``sensitivity()`` corrected over
    its own attribute × direction rows, but the split table is read (and printed, with its
    markers) as one family of S × that many tests, whose family-wise error would be up to
    S · α if each slice kept its own correction."""
    from rmx_widgets.core.null_test import holm_significance
    from rmx_widgets.core.readability import alpha_of

    if "p_value" not in out.columns:
        return out
    p_values = pd.to_numeric(out["p_value"], errors="coerce").to_numpy(float)
    out["p_adjusted"], out["significant"] = holm_significance(p_values, alpha_of(out))
    return out
