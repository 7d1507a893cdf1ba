"""The chart metric switch (core.chart_metrics): the sensitivity chart plots PFR, the excess
over the null, the margin change or the failure rate; each with its definition as the axis
title, an interval only where one is computed, and "not measured" distinct from 0. Expected
values are read off tests/helpers/sens_frames.py's hand-made rows."""

from __future__ import annotations

import math

import pytest
from sens_frames import HOSTILE, sens_frame

from rmx_widgets.core.chart_metrics import METRICS, chart_metric, metric_domain
from rmx_widgets.core.charts import _chart_data, sensitivity_chart


def layers(spec: dict) -> dict[str, tuple[dict, list[dict]]]:
    return {
        layer["name"]: (layer, spec["datasets"][layer["data"]["name"]]) for layer in spec["layer"]
    }


def bars(spec: dict) -> dict[tuple[str, str], dict]:
    return {
        (r["attribute"], r["direction"]): r for r in layers(spec)["bars"][1] if r["part"] == "bar"
    }


def keys(spec: dict) -> list[str]:
    return layers(spec)["pooled_ticks"][0]["encoding"]["stroke"]["scale"]["domain"]


def test_every_metric_states_its_definition_on_the_axis():
    assert list(METRICS) == ["pfr", "excess", "margin", "failure"]
    titles = {}
    for name in METRICS:
        spec = sensitivity_chart(sens_frame("columns"), metric=name).to_dict()
        titles[name] = layers(spec)["bars"][0]["encoding"]["x"]["title"]
    assert titles["pfr"] == "preference flip rate"
    assert titles["excess"].startswith("excess over the null = PFR − null")
    assert titles["margin"].startswith("mean margin change = mean(margin after − margin before)")
    assert titles["failure"] == "failure rate = failed / attempted rewrites"
    with pytest.raises(ValueError, match="choose one of"):
        chart_metric("accuracy")


def test_excess_bars_whiskers_and_not_measured():
    spec = sensitivity_chart(sens_frame("columns"), metric="excess").to_dict()
    drawn = bars(spec)
    # tone worse: excess 0.45 [0.20, 0.70]; length better: a measured 0.00, drawn as a bar
    tone = drawn[("tone", "worse")]
    assert (tone["value"], tone["low"], tone["high"]) == (0.45, 0.20, 0.70)
    assert drawn[("length", "better")]["value"] == 0.0
    assert (HOSTILE, "worse") not in drawn  # no pair: a cross, not a 0 bar
    crosses = {(r["attribute"], r["direction"]) for r in layers(spec)["reading_marks"][1]}
    assert (HOSTILE, "worse") in crosses
    assert layers(spec)["null_ticks"][1] == []  # the null's PFR is not on the excess axis
    assert layers(spec)["bars"][0]["encoding"]["x"]["scale"]["domain"] == [-1.0, 1.0]
    assert keys(spec) == [
        "whisker: 95% interval (bootstrap, Newcombe floor)",
        "black tick: pooled excess over the null (both sides)",
    ]
    marks = {r["attribute"]: r["mark"] for r in layers(spec)["marks"][1]}
    assert marks["tone"] == "*"  # the Holm marker belongs beside the excess


def test_excess_without_a_null_run_is_not_measured_everywhere():
    spec = sensitivity_chart(sens_frame("na"), metric="excess").to_dict()
    assert bars(spec) == {}
    readings = {r["reading_key"] for r in layers(spec)["reading_marks"][1]}
    assert readings == {"not measured: no null run or no paired rewrite (no bar)"}


def test_margin_change_has_no_whisker_and_a_symmetric_domain():
    spec = sensitivity_chart(sens_frame("columns"), metric="margin").to_dict()
    drawn = bars(spec)
    assert drawn[("tone", "worse")]["value"] == -0.9 and drawn[("length", "better")]["value"] == 0.1
    assert drawn[("tone", "worse")]["low"] is None  # no interval computed: NaN travels as null
    assert layers(spec)["rules"][1] == []
    # the largest |value| is 0.9 (tone worse): the domain is ±0.9 · 1.1 = ±0.99
    domain = layers(spec)["bars"][0]["encoding"]["x"]["scale"]["domain"]
    assert domain == [pytest.approx(-0.99), pytest.approx(0.99)]
    hits = [r for r in layers(spec)["bars"][1] if r["part"] == "hit"]
    assert {(r["base"], r["value"]) for r in hits} == {(domain[0], domain[1])}
    assert keys(spec) == ["black tick: pooled margin change (both sides)"]
    assert all("*" not in r["mark"] for r in layers(spec)["marks"][1])  # no Holm marker here


def test_failure_rate_measures_where_every_rewrite_failed():
    sens = sens_frame("columns")
    sens.loc[(sens["attribute"] == HOSTILE) & (sens["direction"] == "better"), "n_failed"] = 0
    spec = sensitivity_chart(sens, metric="failure").to_dict()
    drawn = bars(spec)
    assert drawn[("tone", "worse")]["value"] == pytest.approx(5 / 25)
    assert drawn[("length", "better")]["value"] == 0.0  # 0 failed of 4: a measured 0
    # HOSTILE worse: 3 of 3 failed is a rate of 1.0 (too few attempted: 3 < 10), not "not
    # measured"; HOSTILE better: nothing attempted (0 + 0) is
    assert drawn[(HOSTILE, "worse")]["value"] == 1.0
    assert drawn[(HOSTILE, "worse")]["reading"] == "too few"
    assert (HOSTILE, "better") not in drawn
    crosses = {
        (r["attribute"], r["direction"]): r["reading_key"] for r in layers(spec)["reading_marks"][1]
    }
    assert crosses[(HOSTILE, "better")] == "not measured: nothing attempted (no bar)"
    assert crosses[(HOSTILE, "worse")] == "too few: attempted < 10 (light bar)"


def test_pfr_domain_and_default():
    data = _chart_data(sens_frame("columns"))
    assert metric_domain(data, chart_metric("pfr")) == (0.0, 1.0)
    assert data["value"].equals(data["pfr"])
    nothing = data.assign(value=math.nan, low=math.nan, high=math.nan)
    assert metric_domain(nothing, chart_metric("margin")) == (-1.0, 1.0)


def test_the_excess_is_too_few_by_its_pairs_not_by_the_pfr_s_n():
    from rmx_widgets.core.chart_metrics import metric_columns

    sens = sens_frame("columns")
    worse = (sens["attribute"] == "tone") & (sens["direction"] == "worse")
    sens.loc[worse, "null_n"] = 3  # 20 successful rewrites, only 3 of them paired with a null
    rows = {
        m: metric_columns(sens, chart_metric(m)).loc[worse, "reading"].item()
        for m in ("pfr", "excess")
    }
    # the PFR rests on n = 20 (readable); the excess on 3 pairs, fewer than 10: too few
    assert rows["pfr"] == "ok" and rows["excess"] == "too few"
