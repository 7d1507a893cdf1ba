"""The sensitivity chart shows the readability marks: no 0 bar for an attribute with nothing
measured, too-few bars light and labelled, the null PFR as a tick, the significance marker."""

from __future__ import annotations

import pytest
from sens_frames import HOSTILE, sens_frame

from rmx_widgets.core.charts import TOO_FEW_OPACITY, comparison_chart, sensitivity_chart


def _layers(spec: dict) -> dict[str, tuple[dict, list[dict]]]:
    """Each layer by a short name, with the rows of its dataset."""
    names = ["bars", "rules", "null_ticks", "pooled_ticks", "marks"]
    assert len(spec["layer"]) == len(names)
    return {
        name: (layer, spec["datasets"][layer["data"]["name"]])
        for name, layer in zip(names, spec["layer"])
    }


@pytest.fixture(params=["columns", "na", "absent"])
def spec(request) -> tuple[str, dict]:
    return request.param, sensitivity_chart(sens_frame(request.param), title="PFR").to_dict()


def test_not_measured_gets_a_label_not_a_zero_bar(spec):
    _, spec = spec
    layers = _layers(spec)
    bars = layers["bars"][1]
    assert HOSTILE not in {r["attribute"] for r in bars}  # no bar at all, not a 0 bar
    assert HOSTILE not in {r["attribute"] for r in layers["pooled_ticks"][1]}
    label = {r["attribute"]: r["mark"] for r in layers["marks"][1]}
    assert label[HOSTILE] == "not measured (5 failed)"
    row = next(r for r in layers["marks"][1] if r["attribute"] == HOSTILE)
    assert row["mark_x"] == 0.0 and row["pfr"] is None  # NaN travels as null, drawn at 0
    # the attribute keeps its place on the axis, last (untried)
    assert layers["bars"][0]["encoding"]["y"]["sort"] == ["tone", "length", HOSTILE]


def test_too_few_bars_are_light_and_labelled(spec):
    null, spec = spec
    layers = _layers(spec)
    bar_layer, bars = layers["bars"]
    shade = {(r["attribute"], r["direction"]): r["shade"] for r in bars}
    # length: 5 and 4 successful rewrites (< 10) -> light; tone: 20 each -> full
    assert shade[("length", "worse")] == shade[("length", "better")] == TOO_FEW_OPACITY
    assert shade[("tone", "worse")] == shade[("tone", "better")] == 1.0
    opacity = bar_layer["encoding"]["opacity"]
    assert opacity["condition"]["field"] == "shade" and opacity["condition"]["scale"] is None
    label = {r["attribute"]: r["mark"] for r in layers["marks"][1]}
    expected = "n.s. too few (n=9)" if null == "columns" else "too few (n=9)"
    assert label["length"] == expected


def test_tooltip_has_n_failed_interval_null_p_and_significance(spec):
    null, spec = spec
    bars = _layers(spec)["bars"][1]
    titles = [t["title"] for t in spec["encoding"]["tooltip"]]  # shared by every layer
    for title in (
        "n (successful rewrites)",
        "failed (rate)",
        "PFR [95% interval]",
        "null PFR",
        "excess over null",
        "p (Holm)",
        "significant",
    ):
        assert title in titles
    tone = next(r for r in bars if (r["attribute"], r["direction"]) == ("tone", "worse"))
    assert tone["failed_text"] == "5/25 (0.20)"  # 5 failed of 20 + 5
    assert tone["pfr_text"] == "0.55 [0.35, 0.75]"
    if null == "columns":
        assert (tone["null_text"], tone["p_text"], tone["significance"]) == (
            "0.10 (n=20)",
            "0.004",
            "*",
        )
    else:
        assert tone["null_text"] == tone["significance"] == "no null run"


def test_null_ticks_and_significance_marker_only_with_a_null_run(spec):
    null, spec = spec
    layers = _layers(spec)
    null_layer, null_rows = layers["null_ticks"]
    label = {r["attribute"]: r["mark"] for r in layers["marks"][1]}
    if null == "columns":
        assert null_layer["encoding"]["x"]["field"] == "null_pfr"
        ticks = {(r["attribute"], r["direction"]): r["null_pfr"] for r in null_rows}
        assert ticks == {
            ("tone", "worse"): 0.10,
            ("tone", "better"): 0.10,
            ("length", "worse"): 0.20,
            ("length", "better"): 0.0,
        }
        assert label["tone"] == "*"  # Holm p 0.0012 < 0.05
        tone = next(r for r in layers["marks"][1] if r["attribute"] == "tone")
        assert tone["mark_x"] == 0.65  # beside the interval's end, not on the bar
    else:
        assert null_rows == []  # no tick drawn at 0
        assert "tone" not in label  # a measured, readable attribute without a null: no label


def test_comparison_chart_marks_the_same_rows():
    spec = comparison_chart(sens_frame("columns"), sens_frame("absent"), "a", "b").to_dict()
    bars = spec["datasets"][spec["layer"][0]["data"]["name"]]
    assert {r["attribute"] for r in bars} == {"tone", "length"}  # no 0 bar for HOSTILE
    marks = spec["datasets"][spec["layer"][2]["data"]["name"]]
    label = {(r["model"], r["attribute"]): r["mark"] for r in marks}
    assert label[("a", HOSTILE)] == label[("b", HOSTILE)] == "not measured (5 failed)"
    assert label[("a", "tone")] == "*" and ("b", "tone") not in label
    assert label[("b", "length")] == "too few (n=9)"
