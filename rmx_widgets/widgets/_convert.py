"""Turn engine records into the JSON-safe payloads the front ends render.

Each builder returns a record of the widget contract (rmx_widgets/widgets/contract), so mypy
checks its keys and tests/widgets/test_contract.py checks its values against the schema the
TypeScript types are generated from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, cast

import pandas as pd

from rmx_widgets.core.data import Comparison
from rmx_widgets.widgets.contract import Preferred, Row, ShownComparison, Turn, fields

ROW_FIELDS = tuple(f for f in fields(Row) if f != "row_id")
"""The explanation-table columns a Row carries as they are (``row_id`` is the table index)."""


def clean(value: Any) -> Any:
    """NaN/None → None and numpy scalars → Python, so traitlets JSON never carries NaN."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return clean(value.item())
    return value


def rows_payload(frame: pd.DataFrame) -> list[Row]:
    """One Row per table row; the fields come from the contract, the cast is checked by tests."""
    return [
        cast(Row, {"row_id": int(i), **{f: clean(r[f]) for f in ROW_FIELDS}})
        for i, r in zip(frame.index, frame.to_dict(orient="records"))
    ]


def prompt_turns(comparison: Comparison) -> list[Turn]:
    p = comparison.prompt
    if isinstance(p, str):
        return [Turn(role="user", content=p)]
    return [Turn(role=m["role"], content=m["content"]) for m in p]


def comparison_payload(
    comparison: Comparison, original: dict[str, Any] | None, index: int, total: int
) -> ShownComparison:
    o = original or {}
    return ShownComparison(
        id=comparison.id,
        index=index,
        total=total,
        prompt_turns=prompt_turns(comparison),
        response_a=comparison.response_a,
        response_b=comparison.response_b,
        reward_a=clean(o.get("reward_a")),
        reward_b=clean(o.get("reward_b")),
        preferred=clean(o.get("preferred")),
        margin=clean(o.get("margin")),
        tie=bool(o.get("tie", False)),
        human_preferred=human_label(comparison),
    )


def human_label(comparison: Comparison) -> Preferred | None:
    """The comparison's human label, "a" or "b"; None when it has none."""
    h = comparison.human_preferred
    return "a" if h == "a" else "b" if h == "b" else None


def originals_by_id(originals: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    if originals is None or originals.empty:
        return {}
    return {r["comparison_id"]: r for r in originals.to_dict(orient="records")}


def ordered_unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
