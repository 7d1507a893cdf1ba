"""Altair charts of sensitivity tables, shared by the widgets, the CLI and the HTML report.

Charts are built from the aggregated sensitivity rows only (three per attribute), never from the
explanation table, so the spec stays small enough to send to the browser after every batch.
The sensitivity chart carries a point selection named ``attribute`` on the ``attribute`` and
``direction`` fields: in a notebook, ``altair.JupyterChart(chart).selections.attribute`` tells
Python which bar the user clicked, and the explorer widget shows that attribute's examples on
that side. A chart can be built with a selection already made (``selected=``), so a redraw
keeps it and a filter set elsewhere can highlight its bar. This module imports nothing from
Jupyter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd

from rmx_widgets.core.chart_metrics import (
    DEFAULT_METRIC,
    ChartMetric,
    chart_metric,
    metric_columns,
    metric_domain,
    reading_keys,
)
from rmx_widgets.core.chart_spec import Datasets, SensitivityLayers
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.metrics import require_columns
from rmx_widgets.core.readability import (
    DEFAULT_CONFIDENCE,
    NOT_MEASURED,
    TOO_FEW,
    VALID_HEADER,
    VALID_ONLY_NOTE,
    confidence_of,
    face_rows,
    has_judged,
    level_text,
    valid_only_of,
)
from rmx_widgets.core.sensitivity import BASE_SENSITIVITY_COLUMNS, attribute_order
from rmx_widgets.core.slices import PREFIX, slice_column, slice_label, slice_values

SELECTION_NAME = "attribute"
SELECTION_FIELDS = ["attribute", "direction"]
"""A click selects one (attribute, direction) bar: the Explorer turns the direction into the
examples' Side filter (worse: the chosen response was rewritten; better: the rejected one)."""
SLICE_FIELD = "slice_id"
"""A chart split by a slice (``split=``) selects one (attribute, direction, slice) bar: the
slice by its position in ``core.slices.slice_values`` order (a number, so a value that is
missing, or any text at all, is one plain field for Vega-Lite; the shown text is ``slice``)."""
DIRECTION_LABELS = {
    "worse": "worse (chosen made worse)",
    "better": "better (rejected made better)",
    "both": "pooled",
}
DIRECTIONS = ("worse", "better")
TOO_FEW_OPACITY = 0.35
"""Bars of too-few rows (0 < n < MIN_READABLE_N) are drawn this light, and labelled."""
READING_KEYS = reading_keys(chart_metric(DEFAULT_METRIC))
"""The legend entries of the PFR chart's reading marks (a triangle at a too-few bar's end, a
cross where a bar would be). The threshold is core.readability's MIN_READABLE_N, stated once
there; the other metrics' keys are in core.chart_metrics."""
KEY_WHISKER = "whisker: 95% interval"
"""The PFR whisker's entry at the default level (a table at another level says its own)."""
KEY_NULL = "grey tick: null perturber's PFR"
KEY_POOLED = "black tick: pooled PFR (both sides)"
HIT_PART = "hit"
"""The ``part`` of the bars layer's invisible full-width rows (the visible bars are "bar")."""
_KEY_COLORS = {KEY_NULL: "#777777"}
"""Every other key is a whisker (#333333) or a pooled tick (#000000)."""
_TOOLTIP = [
    alt.Tooltip("attribute:N", title="attribute"),
    alt.Tooltip("direction:N", title="direction"),
    alt.Tooltip("reading:N", title="reading"),
    alt.Tooltip("n_text:N", title="n (successful rewrites)"),
    alt.Tooltip("failed_text:N", title="failed (rate)"),
    alt.Tooltip("pfr_text:N", title="PFR [95% interval]"),
    alt.Tooltip("null_text:N", title="null PFR"),
    alt.Tooltip("excess_text:N", title="excess over null"),
    alt.Tooltip("p_text:N", title="p (Holm)"),
    alt.Tooltip("significance:N", title="significant"),
    alt.Tooltip("mean_margin_change:Q", title="mean margin change", format=".2f"),
]
_VALID_TOOLTIP = alt.Tooltip("valid_text:N", title=VALID_HEADER)
X_TITLE = "preference flip rate"
NOT_JUDGED = "not judged"
"""The count label's tail for a row with no verdict in a table that has some."""


def _tooltip(judged: bool, confidence: float = DEFAULT_CONFIDENCE) -> list[alt.Tooltip]:
    """The shared tooltip, its PFR titled with the table's interval level; with verdicts, the
    valid-rewrite rate after the failed rate (a chart of an unjudged run keeps the tooltip it
    always had)."""
    level = level_text(confidence)
    tips = [
        alt.Tooltip("pfr_text:N", title=f"PFR [{level} interval]")
        if t.shorthand == "pfr_text:N"
        else t
        for t in _TOOLTIP
    ]
    if not judged:
        return tips
    return [*tips[:5], _VALID_TOOLTIP, *tips[5:]]


def x_title(sens: pd.DataFrame, base: str = X_TITLE) -> str:
    """The PFR axis title, saying "on rewrites judged valid only" when ``sens`` was computed
    with ``valid_only=True`` (its ``attrs``): the bars are then not the flip rate of every
    rewrite."""
    return f"{base} ({VALID_ONLY_NOTE})" if valid_only_of(sens) else base


_CHART_FIELDS = [
    "attribute",
    "direction",
    "label",
    "reading",
    "reading_key",
    "n",
    "pfr",
    "ci_low",
    "ci_high",
    "null_pfr",
    "shade",
    "mark",
    "mark_x",
    "count_text",
    "count_x",
    "mark_at",
    "mean_margin_change",
    "value",
    "low",
    "high",
    "base",
    *(t.shorthand.split(":")[0] for t in _TOOLTIP[3:-1]),
    "valid_text",
]
_SPLIT_FIELDS = ["slice", SLICE_FIELD, "group"]
"""What a split chart's rows carry besides :data:`_CHART_FIELDS`: the slice's text, its
position (the selection's field) and the bar's place in its attribute's row (``group``)."""


Selection = list[dict[str, Any]]
"""A point selection's value: one dict per selected bar (attribute, direction[, slice_id])."""


def attribute_selection(value: Selection | None = None, *, split: bool = False) -> alt.Parameter:
    """The click selection widgets observe: one bar (attribute and direction, and in a chart
    ``split`` by a slice the slice's :data:`SLICE_FIELD`) at a time; ``value``, when given, is
    what starts selected (see :func:`selection_value`)."""
    fields = [*SELECTION_FIELDS, SLICE_FIELD] if split else SELECTION_FIELDS
    if value:
        return alt.selection_point(name=SELECTION_NAME, fields=fields, value=value)
    return alt.selection_point(name=SELECTION_NAME, fields=fields)


def selection_value(
    attribute: str, direction: str = "", slice_ids: Sequence[int] | None = None
) -> Selection:
    """The selection's tuples for an attribute's ``direction`` bar ("worse" / "better"), or
    both of its bars when ``direction`` is "" (no side chosen); nothing for no attribute. In a
    split chart (``slice_ids``: the slices whose bars to select, by position) one tuple per
    slice and direction: the bars of one slice, or of every slice when none is chosen."""
    if not attribute:
        return []
    directions = [direction] if direction in DIRECTIONS else list(DIRECTIONS)
    if slice_ids is None:
        return [{"attribute": attribute, "direction": d} for d in directions]
    return [
        {"attribute": attribute, "direction": d, SLICE_FIELD: int(i)}
        for i in slice_ids
        for d in directions
    ]


def _mark_text(row: pd.Series, tests_null: bool = True) -> str:
    """The label beside an attribute's pooled bar: the significance marker when a null was
    run (on the PFR and excess axes only), "too few (n=…)", or "not measured" in place of a
    bar."""
    if row["reading"] == NOT_MEASURED:
        return f"{NOT_MEASURED} ({row['n_failed']} failed)" if row["n_failed"] else NOT_MEASURED
    marked = tests_null and row["significance"] in ("*", "n.s.")
    parts = [row["significance"]] if marked else []
    if row["reading"] == TOO_FEW:
        parts.append(f"{TOO_FEW} (n={row['n']})")
    return " ".join(parts)


def _count_text(row: pd.Series, judged: bool = False, split: bool = False) -> str:
    """The label every direction bar carries, so n and the failures are read without hovering:
    "n=20 · 5 failed", or "not measured · 3 failed" where no rewrite succeeded. When the table
    has verdicts (``judged``) the valid count follows: "n=20 · 5 failed · 18/20 valid", or
    "· not judged" for a row with successful rewrites but no verdict (never "0/0 valid")."""
    head = NOT_MEASURED if row["reading"] == NOT_MEASURED else f"n={row['n']}"
    text = f"{head} · {row['n_failed']} failed"
    if split:  # a split chart's bar says which slice it is: "math: n=20 · 5 failed"
        text = f"{row['slice']}: {text}"
    if not judged:
        return text
    if row["n_judged"] > 0:
        return f"{text} · {row['n_valid']}/{row['n_judged']} valid"
    return f"{text} · {NOT_JUDGED}" if row["n"] > 0 else text


def _chart_data(
    sens: pd.DataFrame, metric: ChartMetric | None = None, by: str = ""
) -> pd.DataFrame:
    """The sensitivity rows with their face cells (core.readability): numbers for the marks,
    text for tooltips and labels, the plotted ``value`` / ``low`` / ``high`` of ``metric``
    (core.chart_metrics; PFR by default) with its reading, the bar opacity and where the
    labels go. ``by``: ``sens`` is split by that slice column (``core.slices.sensitivity_by``)
    and each row also carries its slice (:data:`_SPLIT_FIELDS`)."""
    metric = metric or chart_metric(DEFAULT_METRIC)
    require_columns(sens, BASE_SENSITIVITY_COLUMNS, "the sensitivity chart (a sensitivity() table)")
    face = face_rows(sens, directions=None)
    data = face.drop(columns=["attribute", "direction"])
    data.insert(0, "attribute", sens["attribute"].astype(str).to_numpy())
    data.insert(1, "direction", sens["direction"].to_numpy())
    if by:
        values = slice_values(sens, by)
        position = {v: i for i, v in enumerate(values)}
        cells = [None if pd.isna(v) else str(v) for v in sens[by]]
        data["slice"] = [slice_label(v) for v in cells]
        data[SLICE_FIELD] = [position[v] for v in cells]
        data["group"] = [f"{i}:{d}" for i, d in zip(data[SLICE_FIELD], data["direction"])]
    data["mean_margin_change"] = sens["mean_margin_change"].to_numpy()
    data = metric_columns(data, metric)
    high = metric_domain(data, metric)[1]
    data["base"] = 0.0
    data["label"] = data["direction"].map(DIRECTION_LABELS).fillna(data["direction"])
    data["shade"] = data["reading"].map({TOO_FEW: TOO_FEW_OPACITY}).fillna(1.0)
    data["reading_key"] = data["reading"].map(reading_keys(metric)).fillna("")
    data["mark"] = data.apply(_mark_text, axis=1, tests_null=metric.tests_null) if len(data) else ""
    data["mark_x"] = data[["value", "high"]].max(axis=1).fillna(0.0)
    judged = has_judged(sens)
    data["count_text"] = (
        data.apply(_count_text, axis=1, judged=judged, split=bool(by)) if len(data) else ""
    )
    data["mark_at"] = data["value"].fillna(0.0)  # a reading mark: the bar's end, else 0
    data["count_x"] = high  # right of the plot, never over a bar or the pooled label
    # only what a mark or a tooltip reads travels (the spec is rebuilt after every batch)
    fields = [*_CHART_FIELDS, *_SPLIT_FIELDS] if by else _CHART_FIELDS
    return data[fields].reset_index(drop=True)


LABEL_FONT_SIZE = 11
"""The smallest text in a chart (axis labels, each bar's n / failed): below 11 px it is
unreadable at JupyterLab's default zoom."""


def _height(n_attributes: int, per: int) -> int:
    """A fixed height per attribute row, however many there are: squeezing 60 attributes into
    a fixed plot makes the labels overlap; a tall chart scrolls in its box instead (layout.css
    caps the box's height)."""
    return max(60, per * max(n_attributes, 1))


def _y_axis() -> alt.Axis:
    """Attribute labels at LABEL_FONT_SIZE, every one shown (rows are ``per`` px apart, so
    they cannot overlap), long names cut at 200 px rather than pushing the plot aside."""
    return alt.Axis(labelFontSize=LABEL_FONT_SIZE, labelLimit=200, labelOverlap=False)


def _opacity(selection: alt.Parameter) -> Any:
    """Too-few bars stay light; unselected attributes fade further."""
    # a typed channel: a plain dict would be parsed back through Altair's schema (slow)
    return alt.OpacityValue(
        **alt.condition(selection, alt.Opacity("shade:Q", scale=None, legend=None), alt.value(0.12))
    )


_LEGEND: dict[str, Any] = {"orient": "bottom", "direction": "vertical"}
"""Legends go under the plot: its right side holds every bar's n / failed label."""


def _keyed(chart: alt.Chart, key: str) -> alt.Chart:
    """A layer with the legend key that names its mark (whisker, null tick, ...), computed in
    the browser so the layer shares its rows with the others (one dataset, not a copy)."""
    return chart.transform_calculate(key=json.dumps(key))  # a string literal, quoted


def _key_color(key: str) -> str:
    return _KEY_COLORS.get(key, "#000000" if key.startswith("black tick") else "#333333")


def _key_stroke(keys: list[str]) -> alt.Stroke:
    """One legend for the marks that are not bars: what the whiskers and ticks are."""
    return alt.Stroke(
        "key:N",
        title="marks",
        legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=2, **_LEGEND),
        scale=alt.Scale(domain=keys, range=[_key_color(k) for k in keys]),
    )


def split_slices(split: pd.DataFrame, by: str) -> list[str | None]:
    """The slices of a split sensitivity table in the order a split chart numbers them
    (:data:`SLICE_FIELD`): ``core.slices.slice_values``, missing (None) last."""
    return slice_values(split, slice_column(split, by))


def sensitivity_chart(
    sens: pd.DataFrame,
    *,
    title: str | None = None,
    selected: Selection | None = None,
    metric: str = DEFAULT_METRIC,
    width: int | str = 420,
    split: pd.DataFrame | None = None,
    by: str = "",
) -> alt.LayerChart:
    """Horizontal PFR bars per attribute and direction, with bootstrap CI whiskers.

    "worse" and "better" bars sit side by side within an attribute's row (yOffset, coloured by
    direction) on a faint 0–1 track; a black tick marks the pooled PFR and a grey tick the null
    perturber's PFR of each bar when a null was run; a legend says which is which. Every bar
    is labelled with its n and failed count; a too-few bar (n < MIN_READABLE_N) is drawn light
    with a triangle at its end, a direction with nothing measured gets no bar but a cross and
    "not measured" (legend "reading"). Beside the pooled bar: the significance marker, "too
    few (n=…)" or "not measured". Rows follow the pooled ranking (most sensitive on top).
    Clicking a bar or its track, a PFR of 0 or nothing measured included, selects that
    attribute and direction (param ``attribute``; ``selected`` starts it selected); the other
    bars fade. With verdicts (``valid`` judged by a rewrite judge) the tooltip and the count
    labels carry the valid-rewrite rate; a table computed with ``valid_only=True`` says so in
    the x axis title ("on rewrites judged valid only").

    ``split`` (a ``core.slices.sensitivity_by`` table of the same rows, split by the slice
    column ``by``): the bars follow the split. Each attribute's row holds one worse and one
    better bar per slice (slices in :func:`split_slices` order, each pair under the slice's
    pooled tick), each with that slice's own n, failed count, interval, null tick and
    too-few / not-measured marks, its label naming the slice ("math: n=20 · 5 failed") and
    its tooltip the slice (and the significance marker, which has no room beside the bars
    there); a click selects (attribute, direction, slice), the slice by its
    :data:`SLICE_FIELD`. Rows still follow ``sens``'s pooled ranking (the whole table's).

    ``metric`` (core.chart_metrics: "pfr", "excess", "margin", "failure") is what the bars
    show; the axis title states its definition, whiskers are drawn only for a metric with an
    interval, the null tick and the significance marker only on the PFR and excess axes, and a
    row whose figure is missing is "not measured" in that metric's words.

    ``width``: the plot's width in px, or "container": the whole chart (labels and legends
    included) fits the width of the element it is drawn in, and follows it when it resizes, so
    a chart in a narrow column keeps its 11 px labels instead of being scaled down.
    """
    plotted = chart_metric(metric)
    rows = Datasets()
    column = slice_column(split, by) if split is not None else ""
    shown = split if split is not None else sens
    data = _chart_data(shown, plotted, column)
    order = [str(a) for a in attribute_order(sens)]
    n_slices = len(slice_values(split, column)) if split is not None else 1
    selection = attribute_selection(selected, split=bool(column))
    y = alt.Y("attribute:N", sort=order, title=None, axis=_y_axis())
    low, high = metric_domain(data, plotted)
    x_scale = alt.Scale(domain=[low, high])
    directional = data[data["direction"].isin(DIRECTIONS)]
    by_direction = directional[directional["reading"] != NOT_MEASURED]
    pooled = data[data["direction"] == "both"]
    color = alt.Color(
        "label:N",
        title="perturbation",
        legend=alt.Legend(symbolOpacity=1, **_LEGEND),
        scale=alt.Scale(
            domain=[DIRECTION_LABELS["worse"], DIRECTION_LABELS["better"]],
            range=["#d95f02", "#1b9e77"],
        ),
    )
    if column:
        groups = [f"{i}:{d}" for i in range(n_slices) for d in DIRECTIONS]
        offset = alt.YOffset("group:N", sort=groups, scale=alt.Scale(domain=groups))
        # a slice's pooled tick spans its two bars: one row per direction, in each one's band
        pooled = pd.concat(
            [pooled.assign(group=[f"{i}:{d}" for i in pooled[SLICE_FIELD]]) for d in DIRECTIONS],
            ignore_index=True,
        )
        pooled_offset: alt.YOffset | None = offset
    else:
        offset = alt.YOffset(
            "label:N", sort=[DIRECTION_LABELS["worse"], DIRECTION_LABELS["better"]]
        )
        pooled_offset = None
    null_rows = by_direction[by_direction["null_pfr"].notna()] if plotted.tests_null else None
    if null_rows is None or plotted.name != DEFAULT_METRIC:
        null_rows = by_direction.iloc[0:0]  # the null's PFR belongs on the PFR axis only
    pooled_rows = pooled[pooled["reading"] != NOT_MEASURED]
    whisker = plotted.whisker(confidence_of(sens))
    pooled_key = KEY_POOLED.replace("PFR", plotted.label)
    keys = [whisker] if whisker else []
    keys += [KEY_NULL] * (len(null_rows) > 0) + [pooled_key] * (len(pooled_rows) > 0)
    stroke = _key_stroke(keys)
    # a faint 0-1 track per bar: a PFR of 0 reads as a measured 0, not as a missing bar
    track = (
        alt.Chart(rows(directional))
        .mark_bar(color="#888888", opacity=0.08, aria=False)
        .encode(
            x=alt.XDatum(datum=low, scale=x_scale),
            x2=alt.X2Datum(datum=high),
            y=y,
            yOffset=offset,
        )
        .properties(name="track")
    )
    # the hit area: a full-width, invisible bar under each bar, in the bars' own layer (one
    # selection lives in one layer), so a click anywhere in a bar's band selects that bar, a
    # PFR of 0 or nothing measured included, and a click on the bar itself still hits the bar
    hits = directional.assign(part=HIT_PART, value=high, base=low)
    bar_rows = pd.concat([hits, by_direction.assign(part="bar")], ignore_index=True)
    is_hit = f"datum.part === '{HIT_PART}'"
    bars = (
        alt.Chart(rows(bar_rows))
        .mark_bar(aria=alt.expr(f"!({is_hit})"))
        .encode(
            x=alt.X("value:Q", title=x_title(sens, plotted.title), scale=x_scale, stack=None),
            x2=alt.X2("base:Q"),
            y=y,
            yOffset=offset,
            color=color,
            opacity=_opacity(selection),
            fillOpacity=alt.FillOpacityValue(**alt.condition(is_hit, alt.value(0), alt.value(1))),
        )
        .properties(name="bars")
        .add_params(selection)
    )
    rules = (
        _keyed(alt.Chart(rows(by_direction if whisker else by_direction.iloc[0:0])), whisker or "")
        .mark_rule(strokeWidth=1.5)
        .encode(x=alt.X("low:Q"), x2=alt.X2("high:Q"), y=y, yOffset=offset, stroke=stroke)
        .properties(name="rules")
    )
    null_ticks = (
        _keyed(alt.Chart(rows(null_rows)), KEY_NULL)
        .mark_tick(thickness=2, opacity=0.9)
        .encode(
            x=alt.X("null_pfr:Q"),
            y=y,
            yOffset=offset,
            color=alt.ColorValue("#777777"),
            stroke=stroke,
        )
        .properties(name="null_ticks")
    )
    tick_encoding: dict[str, Any] = {"yOffset": pooled_offset} if pooled_offset else {}
    ticks = (
        _keyed(alt.Chart(rows(pooled_rows)), pooled_key)
        .mark_tick(thickness=2)
        .encode(
            x=alt.X("value:Q"),
            y=y,
            color=alt.ColorValue("black"),
            stroke=stroke,
            **tick_encoding,
        )
        .properties(name="pooled_ticks")
    )
    labelled = pooled[pooled["mark"] != ""]
    if column:  # beside a slice's bars sit their count labels: its marks are in the tooltip
        labelled = labelled.iloc[0:0]
    marks = (
        alt.Chart(rows(labelled))
        .mark_text(align="left", dx=4, fontSize=11, color="#444444")
        .encode(x=alt.X("mark_x:Q"), y=y, text=alt.Text("mark:N"), **tick_encoding)
        .properties(name="marks")
    )
    counts = (
        alt.Chart(rows(directional))
        .mark_text(align="left", dx=8, fontSize=LABEL_FONT_SIZE, color="#444444")
        .encode(
            x=alt.X("count_x:Q", scale=x_scale), y=y, yOffset=offset, text=alt.Text("count_text:N")
        )
        .properties(name="counts")
    )
    flagged = directional[directional["reading_key"] != ""]
    readings = [reading_keys(plotted)[r] for r in (TOO_FEW, NOT_MEASURED)]
    reading_marks = (
        alt.Chart(rows(flagged))
        .mark_point(filled=True, size=45, color="#444444", opacity=1)
        .encode(
            x=alt.X("mark_at:Q", scale=x_scale),
            y=y,
            yOffset=offset,
            shape=alt.Shape(
                "reading_key:N",
                title="reading",
                legend=alt.Legend(**_LEGEND),
                scale=alt.Scale(domain=readings, range=["triangle-left", "cross"]),
            ),
        )
        .properties(name="reading_marks")
    )
    tooltip = _tooltip(has_judged(sens), confidence_of(sens))
    if column:
        tooltip = [alt.Tooltip("slice:N", title=column.removeprefix(PREFIX)), *tooltip]
    chart = (
        SensitivityLayers(
            layer=[track, bars, rules, null_ticks, ticks, marks, counts, reading_marks]
        )
        .encode(tooltip=tooltip)  # one tooltip for every layer
        .properties(width=width, height=_height(len(order), 40 * n_slices))
    )
    if width == "container":
        chart = chart.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
    if title:
        chart = chart.properties(title=title)
    # the layers' rows, set in place: .properties() would check them against the schema
    chart["datasets"] = rows.values
    return chart


def comparison_chart(
    sens_a: pd.DataFrame, sens_b: pd.DataFrame, name_a: str, name_b: str
) -> alt.LayerChart:
    """Grouped horizontal bars of pooled PFR for two RMs, with CI rules, and the same labels
    as :func:`sensitivity_chart` (significance, too few, not measured) beside each bar.

    Attributes are ordered by the first RM's pooled ranking, so disagreements show up as bars of
    the second RM out of order. The tooltip carries the valid-rewrite rate when either table
    has verdicts, and the axis says "on rewrites judged valid only" when either was computed
    so (both are named in the tooltip's model). Equal names get " (1)"/" (2)" suffixes so the
    bars stay apart.
    """
    if str(name_a) == str(name_b):
        name_a, name_b = f"{name_a} (1)", f"{name_b} (2)"
    frames = []
    for sens, name in ((sens_a, name_a), (sens_b, name_b)):
        data = _chart_data(sens)
        data = data[data["direction"] == "both"].copy()
        data["model"] = str(name)
        frames.append(data)
    data = pd.concat(frames, ignore_index=True)
    order = [str(a) for a in attribute_order(sens_a)]
    order += [a for a in pd.unique(data["attribute"]) if a not in order]
    selection = attribute_selection()
    y = alt.Y("attribute:N", sort=order, title=None, axis=_y_axis())
    models = [str(name_a), str(name_b)]
    offset = alt.YOffset("model:N", sort=models)
    judged = has_judged(sens_a) or has_judged(sens_b)
    levels = {confidence_of(sens_a), confidence_of(sens_b)}
    level = levels.pop() if len(levels) == 1 else DEFAULT_CONFIDENCE
    if levels:  # two levels side by side would read as one: refuse rather than mislabel
        raise RMXError(
            "the two sensitivity tables' intervals were computed at different levels "
            f"({level_text(confidence_of(sens_a))} and {level_text(confidence_of(sens_b))}); "
            "compute both at the same confidence."
        )
    tooltip = [alt.Tooltip("model:N", title="reward model"), *_tooltip(judged, level)]
    only = valid_only_of(sens_a) or valid_only_of(sens_b)
    axis_title = f"pooled {X_TITLE}" + (f" ({VALID_ONLY_NOTE})" if only else "")
    base = alt.Chart(data[data["reading"] != NOT_MEASURED])
    bars = base.mark_bar().encode(
        x=alt.X("pfr:Q", title=axis_title, scale=alt.Scale(domain=[0, 1])),
        y=y,
        yOffset=offset,
        color=alt.Color(
            "model:N",
            title="reward model",
            legend=alt.Legend(symbolOpacity=1),
            scale=alt.Scale(domain=models, range=["#7570b3", "#e7298a"]),
        ),
        opacity=_opacity(selection),
        tooltip=tooltip,
    )
    rules = base.mark_rule(color="#333333").encode(
        x="ci_low:Q", x2="ci_high:Q", y=y, yOffset=offset, tooltip=tooltip
    )
    marks = (
        alt.Chart(data[data["mark"] != ""])
        .mark_text(align="left", dx=4, fontSize=11, color="#444444")
        .encode(x="mark_x:Q", y=y, yOffset=offset, text="mark:N", tooltip=tooltip)
    )
    return (
        alt.layer(bars, rules, marks)
        .add_params(selection)
        .properties(width=420, height=_height(len(order), 30))
    )
