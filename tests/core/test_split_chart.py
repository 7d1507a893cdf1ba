"""The sensitivity chart split by a slice ("Split by"): one bar per attribute, direction and
slice, each with its slice's own n, failed count, PFR and interval, the too-few and
not-measured marks kept per slice, and a click selection that names the slice. Every figure is
checked against counts made by hand from a table built by hand (tests/helpers/table_factory)."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd
import pytest
from table_factory import domain_table

from rmx_widgets.core.charts import (
    SLICE_FIELD,
    selection_value,
    sensitivity_chart,
    split_slices,
)
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.readability import NOT_MEASURED, TOO_FEW
from rmx_widgets.core.sensitivity import sensitivity
from rmx_widgets.core.slices import MISSING_LABEL, sensitivity_by

Z = 1.959963984540054  # the standard normal's 97.5% point


def _table() -> pd.DataFrame:
    t = domain_table()
    t.loc[t["comparison_id"] == "c5", "slice.domain"] = None
    return t


def _wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson score interval written out: the interval's floor, and the whole interval
    of a slice of one comparison (every bootstrap resample of it is the same)."""
    p = k / n
    denom = 1 + Z * Z / n
    centre = (p + Z * Z / (2 * n)) / denom
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@pytest.fixture(scope="module")
def charts():
    t = _table()
    sens = sensitivity(t, n_boot=200)
    split = sensitivity_by(t, None, "domain", n_boot=200)
    return sens, split, sensitivity_chart(sens, split=split, by="domain").to_dict()


def _layer(spec: dict, name: str) -> dict:
    return next(layer for layer in spec["layer"] if layer["name"] == name)


def _rows(spec: dict, name: str) -> list[dict]:
    return spec["datasets"][_layer(spec, name)["data"]["name"]]


def _bar(spec: dict, slice_id: int, direction: str) -> dict | None:
    bars = [
        r
        for r in _rows(spec, "bars")
        if r["part"] == "bar" and r[SLICE_FIELD] == slice_id and r["direction"] == direction
    ]
    assert len(bars) <= 1
    return bars[0] if bars else None


def test_the_slices_are_numbered_sorted_with_the_missing_one_last(charts):
    _, split, spec = charts
    assert split_slices(split, "domain") == ["chat", "code", "math", None]
    counts = _rows(spec, "counts")
    assert {(r["slice"], r[SLICE_FIELD]) for r in counts} == {
        ("chat", 0),
        ("code", 1),
        ("math", 2),
        (MISSING_LABEL, 3),
    }
    # one attribute, 4 slices x 2 directions, 20 px per bar: 40 px per slice
    assert spec["height"] == 4 * 40
    groups = ["0:worse", "0:better", "1:worse", "1:better", "2:worse", "2:better"]
    assert _layer(spec, "bars")["encoding"]["yOffset"]["sort"] == [*groups, "3:worse", "3:better"]


def test_each_slice_bar_has_its_own_n_pfr_and_interval(charts):
    _, _, spec = charts
    # math, worse: c1 flipped (2 -> -1), c2 did not (4 -> 3): 1 of 2
    math_worse = _bar(spec, 2, "worse")
    assert math_worse is not None
    assert (math_worse["n"], math_worse["value"]) == (2, 0.5)
    # resampling its two comparisons draws (c2, c2) a quarter of the time (PFR 0) and (c1,
    # c1) a quarter (PFR 1): the 2.5% and 97.5% points are 0 and 1, wider than Wilson's
    assert (math_worse["low"], math_worse["high"]) == (0.0, 1.0)
    assert math_worse["group"] == "2:worse" and math_worse["slice"] == "math"
    # math, better: c1's rejected made better did not flip (margin 2 -> 1); c2's failed
    math_better = _bar(spec, 2, "better")
    assert math_better is not None
    assert (math_better["n"], math_better["value"]) == (1, 0.0)
    # every resample with c1 has PFR 0: the interval is Wilson's for 0 of 1
    assert (math_better["low"], math_better["high"]) == pytest.approx(_wilson(0, 1))
    assert math_better["high"] == pytest.approx(0.793451, abs=1e-6)
    # chat: one comparison, its worse rewrite flipped (1 -> -0.5)
    chat_worse = _bar(spec, 0, "worse")
    assert chat_worse is not None and (chat_worse["n"], chat_worse["value"]) == (1, 1.0)
    assert (chat_worse["low"], chat_worse["high"]) == pytest.approx(_wilson(1, 1))
    # the rows missing the field: c5's better rewrite flipped (2 -> -1), its worse did not
    missing_better = _bar(spec, 3, "better")
    assert missing_better is not None and missing_better["value"] == 1.0
    assert (missing_better["low"], missing_better["high"]) == pytest.approx(_wilson(1, 1))
    assert missing_better["slice"] == MISSING_LABEL
    # every rewrite of code failed: no bar in either direction (never a bar at 0)
    assert _bar(spec, 1, "worse") is None and _bar(spec, 1, "better") is None


def test_labels_name_the_slice_and_keep_not_measured_and_too_few(charts):
    _, _, spec = charts
    text = {(r[SLICE_FIELD], r["direction"]): r["count_text"] for r in _rows(spec, "counts")}
    assert text[(2, "worse")] == "math: n=2 · 0 failed"
    assert text[(2, "better")] == "math: n=1 · 1 failed"
    assert text[(1, "worse")] == f"code: {NOT_MEASURED} · 1 failed"
    assert text[(3, "worse")] == f"{MISSING_LABEL}: n=1 · 0 failed"
    reading = {(r[SLICE_FIELD], r["direction"]): r["reading"] for r in _rows(spec, "reading_marks")}
    # code's two bars are not measured (a cross), every other bar rests on < 10 rewrites
    assert reading[(1, "worse")] == reading[(1, "better")] == NOT_MEASURED
    assert {reading[k] for k in reading if k[0] != 1} == {TOO_FEW}
    assert len(reading) == 8
    shades = {(r[SLICE_FIELD], r["direction"]): r["shade"] for r in _rows(spec, "bars")}
    assert shades[(2, "worse")] == 0.35  # a too-few bar is drawn light


def test_each_slice_pooled_tick_spans_its_two_bars(charts):
    _, _, spec = charts
    ticks = _rows(spec, "pooled_ticks")
    by_group = {r["group"]: r["value"] for r in ticks}
    # math pooled: 1 flip among 3 successful rewrites (c1 worse CF; c1 better, c2 worse SF)
    assert by_group["2:worse"] == by_group["2:better"] == pytest.approx(1 / 3)
    assert by_group["0:worse"] == by_group["0:better"] == 0.5  # chat: 1 of 2
    assert "1:worse" not in by_group  # code: not measured, no tick
    assert _layer(spec, "pooled_ticks")["encoding"]["yOffset"]["field"] == "group"
    assert _rows(spec, "marks") == []  # the pooled marks are in the tooltip of a split


def test_a_click_selects_attribute_direction_and_slice(charts):
    sens, split, spec = charts
    (param,) = [p for p in spec["params"] if "select" in p]
    assert param["select"]["fields"] == ["attribute", "direction", SLICE_FIELD]
    assert "value" not in param
    value = selection_value("verbosity", "better", [2])
    assert value == [{"attribute": "verbosity", "direction": "better", SLICE_FIELD: 2}]
    every = selection_value("verbosity", "", [0, 1])
    assert [(v["direction"], v[SLICE_FIELD]) for v in every] == [
        ("worse", 0),
        ("better", 0),
        ("worse", 1),
        ("better", 1),
    ]
    chosen = sensitivity_chart(sens, split=split, by="slice.domain", selected=value).to_dict()
    assert next(p for p in chosen["params"] if "select" in p)["value"] == value
    tips = _layer(spec, "bars")["encoding"].get("tooltip") or spec["encoding"]["tooltip"]
    assert tips[0] == {"field": "slice", "title": "domain", "type": "nominal"}


def test_without_a_split_the_chart_has_no_slice_and_a_bad_column_is_refused(charts):
    sens, split, _ = charts
    plain = sensitivity_chart(sens).to_dict()
    (param,) = [p for p in plain["params"] if "select" in p]
    assert param["select"]["fields"] == ["attribute", "direction"]
    assert all("slice" not in r for r in _rows(plain, "bars"))
    assert plain["height"] == 60  # one attribute row: the minimum height
    with pytest.raises(RMXError, match="no slice 'topic'"):
        sensitivity_chart(sens, split=split, by="topic")


def test_the_specs_are_valid_vega_lite_though_draws_skip_the_check(charts, monkeypatch):
    """The widgets' draws skip Altair's JSON-schema check (SensitivityLayers.to_dict): the
    plain and the split chart are checked against the Vega-Lite schema once, here."""
    sens, split, _ = charts
    chosen = selection_value("verbosity", "worse")
    for chart in (
        sensitivity_chart(sens, split=split, by="domain", width="container"),
        sensitivity_chart(sens, selected=chosen, metric="excess", title="t"),
        sensitivity_chart(sens.iloc[0:0]),
    ):
        spec = chart.to_dict(validate=True)
        alt.LayerChart.from_dict(spec, validate=True)
        assert "datasets" in spec and all(
            layer["data"]["name"] in spec["datasets"] for layer in spec["layer"]
        )
    checked: list[bool] = []
    real = alt.LayerChart.to_dict

    def spy(self, validate=True, **kwargs):
        checked.append(validate)
        return real(self, validate, **kwargs)

    monkeypatch.setattr(alt.LayerChart, "to_dict", spy)
    sensitivity_chart(sens).to_dict()  # what JupyterChart calls after every batch
    assert checked == [False]
