"""Turn engine records into the JSON-safe dicts the front ends render (see js/src)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from rmx_widgets.core.data import Comparison

ROW_FIELDS = ("side", "attribute", "direction", "original", "perturbed", "reward_original",
              "reward_perturbed", "reward_other", "margin_before", "margin_after", "outcome",
              "failure_reason")


def clean(value: Any) -> Any:
    """NaN/None → None and numpy scalars → Python, so traitlets JSON never carries NaN."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return clean(value.item())
    return value


def rows_payload(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"row_id": int(i), **{f: clean(r[f]) for f in ROW_FIELDS}}
            for i, r in zip(frame.index, frame.to_dict(orient="records"))]


def prompt_turns(comparison: Comparison) -> list[dict[str, str]]:
    p = comparison.prompt
    return [{"role": "user", "content": p}] if isinstance(p, str) else [dict(m) for m in p]


def comparison_payload(comparison: Comparison, original: dict[str, Any] | None, index: int,
                       total: int) -> dict[str, Any]:
    o = original or {}
    return {"id": comparison.id, "index": index, "total": total,
            "prompt_turns": prompt_turns(comparison), "response_a": comparison.response_a,
            "response_b": comparison.response_b, "reward_a": clean(o.get("reward_a")),
            "reward_b": clean(o.get("reward_b")), "preferred": clean(o.get("preferred")),
            "margin": clean(o.get("margin")), "tie": bool(o.get("tie", False))}


def originals_by_id(originals: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    if originals is None or originals.empty:
        return {}
    return {r["comparison_id"]: r for r in originals.to_dict(orient="records")}


def ordered_unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
