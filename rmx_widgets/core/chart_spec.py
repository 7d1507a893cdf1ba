"""How the sensitivity chart's Vega-Lite spec is put together fast, with Altair still
writing it: the rows as named datasets, and a top-level chart whose ``to_dict`` skips the
JSON-schema check.

The Explorer redraws its chart after every landed batch, and a kernel's first draw is part of
the first render a reader waits for. Profiled on a 20,000-row table (bench/widgets.py's), most
of a draw's Python time was Altair's own bookkeeping, not the chart: every ``mark_*`` /
``encode`` / ``properties`` of a layer deep-copied its inline rows, and ``to_dict`` walked the
whole spec through the JSON schema. This module removes both without changing a byte of the
spec: tests/core/test_split_chart.py checks the specs against the schema once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import altair as alt
import pandas as pd


def _json_cells(values: list[Any]) -> list[Any]:
    """A column's cells as JSON values: NaN, None and <NA> as None (null), NumPy scalars as
    Python ones (``tolist`` already made them so)."""
    return [
        None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in values
    ]


class Datasets:
    """The chart's rows, one named dataset per distinct layer's rows (``values``, which the
    chart sets as its top-level ``datasets`` once, after its last ``properties``).

    Inline rows would be deep-copied by Altair with every ``mark_*`` / ``encode`` /
    ``properties`` of their layer, and a DataFrame sanitized per layer: together most of a
    redraw's Python time. A layer gets a ``NamedData`` reference instead, named as Altair
    names a dataset it moves to the top level (the SHA-256 of its JSON), so the spec is the
    one Altair would write for the same rows inline."""

    def __init__(self) -> None:
        self.values: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, frame: pd.DataFrame) -> alt.NamedData:
        """``frame``'s rows as a dataset of the chart (NaN as null), by name."""
        columns = [str(c) for c in frame.columns]
        cells = [_json_cells(frame[c].tolist()) for c in frame.columns]
        values = [dict(zip(columns, row)) for row in zip(*cells)]
        text = json.dumps(values, sort_keys=True, default=str)
        name = (
            "empty" if values == [{}] else "data-" + hashlib.sha256(text.encode()).hexdigest()[:32]
        )
        self.values[name] = values
        return alt.NamedData(name=name)


class SensitivityLayers(alt.LayerChart):
    """The sensitivity chart's layers: an Altair layer chart whose ``to_dict`` does not check
    the spec against the Vega-Lite JSON schema unless asked (``validate=True``).

    The widget redraws the chart after every landed batch and ``JupyterChart`` calls
    ``to_dict()`` each time; the schema walk was a third of a redraw. The spec is checked
    once, in tests/core/test_split_chart.py, for the plain and the split chart."""

    def to_dict(self, validate: bool = False, **kwargs: Any) -> dict[str, Any]:
        return super().to_dict(validate, **kwargs)
