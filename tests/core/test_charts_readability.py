"""The sensitivity chart shows the readability marks: no 0 bar for an attribute with nothing
measured, too-few bars light and labelled, the null PFR as a tick, the significance marker."""

from __future__ import annotations

import json

import pytest
from sens_frames import HOSTILE, sens_frame

from rmx_widgets.core.charts import (
    HIT_PART,
    KEY_NULL,
    KEY_POOLED,
    KEY_WHISKER,
    READING_KEYS,
    TOO_FEW_OPACITY,
    comparison_chart,
    selection_value,
    sensitivity_chart,
)
from rmx_widgets.core.readability import MIN_READABLE_N


def _layers(spec: dict) -> dict[str, tuple[dict, list[dict]]]:
    """Each layer by its name, with the rows of its dataset."""
    names = ["track", "bars", "rules", "null_ticks", "pooled_ticks", "marks", "counts"]
    names += ["reading_marks"]
    assert [layer["name"] for layer in spec["layer"]] == names
    return {
        layer["name"]: (layer, spec["datasets"][layer["data"]["name"]]) for layer in spec["layer"]
    }


@pytest.fixture(params=["columns", "na", "absent"])
def spec(request) -> tuple[str, dict]:
    return request.param, sensitivity_chart(sens_frame(request.param), title="PFR").to_dict()


def test_not_measured_gets_a_label_not_a_zero_bar(spec):
    _, spec = spec
    layers = _layers(spec)
    bars = [r for r in layers["bars"][1] if r["part"] == "bar"]
    assert HOSTILE not in {r["attribute"] for r in bars}  # no bar at all, not a 0 bar
    assert HOSTILE not in {r["attribute"] for r in layers["pooled_ticks"][1]}
    label = {r["attribute"]: r["mark"] for r in layers["marks"][1]}
    assert label[HOSTILE] == "not measured (5 failed)"
    row = next(r for r in layers["marks"][1] if r["attribute"] == HOSTILE)
    assert row["mark_x"] == 0.0 and row["pfr"] is None  # NaN travels as null, drawn at 0
    # the attribute keeps its place on the axis, last (untried)
    assert layers["bars"][0]["encoding"]["y"]["sort"] == ["tone", "length", HOSTILE]
    # each of its directions: no bar, but a cross (legend "reading") and a "not measured" label
    # with its own failed count (3 + 2 = the pooled 5)
    crosses = {
        r["direction"]: (r["reading_key"], r["mark_at"])
        for r in layers["reading_marks"][1]
        if r["attribute"] == HOSTILE
    }
    assert crosses == dict.fromkeys(("worse", "better"), (READING_KEYS["not measured"], 0.0))
    counts = {
        r["direction"]: r["count_text"] for r in layers["counts"][1] if r["attribute"] == HOSTILE
    }
    assert counts == {"worse": "not measured · 3 failed", "better": "not measured · 2 failed"}


def test_too_few_bars_are_light_and_labelled(spec):
    null, spec = spec
    layers = _layers(spec)
    bar_layer, bars = layers["bars"]
    bars = [r for r in bars if r["part"] == "bar"]
    shade = {(r["attribute"], r["direction"]): r["shade"] for r in bars}
    # length: 5 and 4 successful rewrites (< 10) -> light; tone: 20 each -> full
    assert shade[("length", "worse")] == shade[("length", "better")] == TOO_FEW_OPACITY
    assert shade[("tone", "worse")] == shade[("tone", "better")] == 1.0
    opacity = bar_layer["encoding"]["opacity"]
    assert opacity["condition"]["field"] == "shade" and opacity["condition"]["scale"] is None
    label = {r["attribute"]: r["mark"] for r in layers["marks"][1]}
    expected = "n.s. too few (n=9)" if null == "columns" else "too few (n=9)"
    assert label["length"] == expected
    # a distinct mark too: a triangle at the end of each too-few bar, and its legend entry
    layer, flagged = layers["reading_marks"]
    tips = {(r["attribute"], r["direction"]): (r["reading_key"], r["mark_at"]) for r in flagged}
    key = READING_KEYS["too few"]
    assert key == f"too few: n < {MIN_READABLE_N} (light bar)" and MIN_READABLE_N == 10
    assert tips[("length", "worse")] == (key, 0.20) and tips[("length", "better")] == (key, 0.0)
    assert ("tone", "worse") not in tips  # n = 20: readable, no mark
    shape = layer["encoding"]["shape"]
    assert shape["title"] == "reading" and shape["scale"]["domain"][0] == key
    assert shape["scale"]["range"] == ["triangle-left", "cross"]


def test_every_direction_bar_is_labelled_with_its_n_and_failed_count(spec):
    _, spec = spec
    layer, rows = _layers(spec)["counts"]
    counts = {(r["attribute"], r["direction"]): (r["count_text"], r["count_x"]) for r in rows}
    # tone: 20 successful, 5 failed each way; length: 5 with 1 failed, 4 with 0 failed
    assert counts[("tone", "worse")] == counts[("tone", "better")] == ("n=20 · 5 failed", 1.0)
    assert counts[("length", "worse")] == ("n=5 · 1 failed", 1.0)
    assert counts[("length", "better")] == ("n=4 · 0 failed", 1.0)  # a PFR of 0 keeps its label
    assert {d for _, d in counts} == {"worse", "better"}  # one per bar, not per pooled row
    assert layer["encoding"]["text"]["field"] == "count_text"


def test_the_legend_says_what_the_whiskers_and_ticks_are(spec):
    null, spec = spec
    layers = _layers(spec)
    keys = {KEY_WHISKER: "rules", KEY_POOLED: "pooled_ticks"}
    if null == "columns":
        keys[KEY_NULL] = "null_ticks"
    stroke = layers["rules"][0]["encoding"]["stroke"]
    assert stroke["title"] == "marks" and stroke["legend"]["symbolType"] == "stroke"
    assert stroke["scale"]["domain"] == [
        k for k in (KEY_WHISKER, KEY_NULL, KEY_POOLED) if k in keys
    ]
    assert KEY_WHISKER == "whisker: 95% interval" and "null" in KEY_NULL and "pooled" in KEY_POOLED
    for key, name in keys.items():
        layer = layers[name][0]
        assert layer["encoding"]["stroke"]["field"] == "key"
        assert layer["transform"] == [{"calculate": json.dumps(key), "as": "key"}]


def test_every_bar_has_a_full_width_hit_area_that_carries_the_selection(spec):
    _, spec = spec
    layer, rows = _layers(spec)["bars"]
    hits = [r for r in rows if r["part"] == HIT_PART]
    # the zero bar (length, better: PFR 0) and the unmeasured ones are clickable too
    assert {(r["attribute"], r["direction"]) for r in hits} == {
        (a, d) for a in ("tone", "length", HOSTILE) for d in ("worse", "better")
    }
    # the whole 0-1 width of the band
    assert {(r["value"], r["base"]) for r in hits} == {(1.0, 0.0)}
    assert rows[: len(hits)] == hits  # drawn first: under the bars they belong to
    assert all(r["part"] == "bar" for r in rows[len(hits) :])
    enc = layer["encoding"]
    assert enc["x"]["stack"] is None  # not stacked on the bar: both start at 0
    assert (enc["x"]["field"], enc["x2"]["field"]) == ("value", "base")
    is_hit = f"datum.part === '{HIT_PART}'"
    assert enc["fillOpacity"] == {"condition": {"test": is_hit, "value": 0}, "value": 1}
    assert layer["mark"]["aria"] == {"expr": f"!({is_hit})"}  # screen readers read the bars
    assert spec["params"] == [
        {
            "name": "attribute",
            "select": {"type": "point", "fields": ["attribute", "direction"]},
            "views": ["bars"],
        }
    ]


def test_a_chart_can_start_with_a_bar_selected():
    value = selection_value("tone", "better")
    assert value == [{"attribute": "tone", "direction": "better"}]
    assert selection_value("tone") == [
        {"attribute": "tone", "direction": "worse"},
        {"attribute": "tone", "direction": "better"},
    ]
    assert selection_value("") == []
    spec = sensitivity_chart(sens_frame("columns"), selected=value).to_dict()
    assert spec["params"][0]["value"] == value
    assert (
        "value" not in sensitivity_chart(sens_frame("columns"), selected=[]).to_dict()["params"][0]
    )


def test_tooltip_has_n_failed_interval_null_p_and_significance(spec):
    null, spec = spec
    bars = [r for r in _layers(spec)["bars"][1] if r["part"] == "bar"]
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


def test_every_face_states_the_level_the_intervals_were_computed_at():
    import table_factory as tf

    from rmx_widgets.core.errors import RMXError
    from rmx_widgets.core.sensitivity import sensitivity
    from rmx_widgets.core.summary_table import summary_legend
    from rmx_widgets.widgets.sensitivity_chart import caption_text

    rows = tf.comparison("c1", 1.0, {"verbosity": (-1.0, 2.0)}) + tf.comparison(
        "c2", 1.0, {"verbosity": (0.5, -0.5)}
    )
    at_90 = sensitivity(tf.table(rows), n_boot=50, confidence=0.9)
    at_95 = sensitivity(tf.table(rows), n_boot=50)
    assert (at_90.attrs["confidence"], at_95.attrs["confidence"]) == (0.9, 0.95)
    legend = summary_legend(at_90)
    assert "PFR with its 90% interval" in legend and "95%" not in legend
    assert "excess = PFR − null PFR on the rewrites paired with a null rewrite" in legend
    assert "PFR with its 95% interval" in summary_legend(at_95)
    text = json.dumps(sensitivity_chart(at_90).to_dict())
    assert "whisker: 90% interval" in text and "PFR [90% interval]" in text
    assert "95%" not in text
    assert "90% CIs" in caption_text("pfr", 4, 0.9)
    assert "Whiskers: 99.5% interval (bootstrap" in caption_text("excess", 4, 0.995)
    # two RMs at different levels side by side would read as one level: refused
    with pytest.raises(RMXError, match="different levels.*90%.*95%"):
        comparison_chart(at_90, at_95, "a", "b")
    assert "PFR [90% interval]" in json.dumps(comparison_chart(at_90, at_90, "a", "b").to_dict())
