"""Altair charts of sensitivity tables, shared by the widgets, the CLI and the HTML report.

Charts are built from the aggregated sensitivity rows only (three per attribute), never from the
explanation table, so the spec stays small enough to send to the browser after every batch.
The sensitivity chart carries a point selection named ``attribute`` on the ``attribute`` field:
in a notebook, ``altair.JupyterChart(chart).selections.attribute`` tells Python which bar the
user clicked, and the explorer widget shows that attribute's examples. This module imports
nothing from Jupyter.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from rmx_widgets.core.metrics import require_columns
from rmx_widgets.core.readability import NOT_MEASURED, TOO_FEW, face_rows
from rmx_widgets.core.sensitivity import BASE_SENSITIVITY_COLUMNS, attribute_order

SELECTION_NAME = "attribute"
DIRECTION_LABELS = {
    "worse": "worse (chosen made worse)",
    "better": "better (rejected made better)",
    "both": "pooled",
}
TOO_FEW_OPACITY = 0.35
"""Bars of too-few rows (0 < n < MIN_READABLE_N) are drawn this light, and labelled."""
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


_CHART_FIELDS = [
    "attribute",
    "direction",
    "label",
    "reading",
    "pfr",
    "ci_low",
    "ci_high",
    "null_pfr",
    "shade",
    "mark",
    "mark_x",
    "mean_margin_change",
    *(t.shorthand.split(":")[0] for t in _TOOLTIP[3:-1]),
]


def attribute_selection() -> alt.Parameter:
    """The click selection widgets observe: one attribute at a time, by field."""
    return alt.selection_point(name=SELECTION_NAME, fields=["attribute"])


def _mark_text(row: pd.Series) -> str:
    """The label beside an attribute's pooled bar: the significance marker when a null was
    run, "too few (n=…)", or "not measured" in place of a bar."""
    if row["reading"] == NOT_MEASURED:
        return f"{NOT_MEASURED} ({row['n_failed']} failed)" if row["n_failed"] else NOT_MEASURED
    parts = [row["significance"]] if row["significance"] in ("*", "n.s.") else []
    if row["reading"] == TOO_FEW:
        parts.append(f"{TOO_FEW} (n={row['n']})")
    return " ".join(parts)


def _chart_data(sens: pd.DataFrame) -> pd.DataFrame:
    """The sensitivity rows with their face cells (core.readability): numbers for the marks,
    text for tooltips and labels, the reading, the bar opacity and where the label goes."""
    require_columns(sens, BASE_SENSITIVITY_COLUMNS, "the sensitivity chart (a sensitivity() table)")
    face = face_rows(sens, directions=None)
    data = face.drop(columns=["attribute", "direction"])
    data.insert(0, "attribute", sens["attribute"].astype(str).to_numpy())
    data.insert(1, "direction", sens["direction"].to_numpy())
    data["mean_margin_change"] = sens["mean_margin_change"].to_numpy()
    data["label"] = data["direction"].map(DIRECTION_LABELS).fillna(data["direction"])
    data["shade"] = data["reading"].map({TOO_FEW: TOO_FEW_OPACITY}).fillna(1.0)
    data["mark"] = data.apply(_mark_text, axis=1)
    data["mark_x"] = data[["pfr", "ci_high"]].max(axis=1).fillna(0.0)
    # only what a mark or a tooltip reads travels (the spec is rebuilt after every batch)
    return data[_CHART_FIELDS].reset_index(drop=True)


def _height(n_attributes: int, per: int) -> int:
    return max(60, per * max(n_attributes, 1))


def _opacity(selection: alt.Parameter) -> Any:
    """Too-few bars stay light; unselected attributes fade further."""
    return alt.condition(
        selection, alt.Opacity("shade:Q", scale=None, legend=None), alt.value(0.12)
    )


def sensitivity_chart(sens: pd.DataFrame, *, title: str | None = None) -> alt.LayerChart:
    """Horizontal PFR bars per attribute and direction, with bootstrap CI rules.

    "worse" and "better" bars sit side by side within an attribute's row (yOffset, coloured by
    direction); a black tick marks the pooled PFR and a grey tick the null perturber's PFR of
    each bar when a null was run. Beside the pooled bar: the significance marker ("*" /
    "n.s."), "too few (n=…)" (those bars are also drawn light), or "not measured" in place of
    any bar. Rows follow the pooled ranking (most sensitive on top). Clicking a bar selects its
    attribute (param ``attribute``); the other attributes fade.
    """
    data = _chart_data(sens)
    order = [str(a) for a in attribute_order(sens)]
    selection = attribute_selection()
    y = alt.Y("attribute:N", sort=order, title=None)
    x_scale = alt.Scale(domain=[0, 1])
    measured = data[data["reading"] != NOT_MEASURED]
    by_direction = measured[measured["direction"].isin(["worse", "better"])]
    pooled = data[data["direction"] == "both"]
    color = alt.Color(
        "label:N",
        title="perturbation",
        legend=alt.Legend(symbolOpacity=1),
        scale=alt.Scale(
            domain=[DIRECTION_LABELS["worse"], DIRECTION_LABELS["better"]],
            range=["#d95f02", "#1b9e77"],
        ),
    )
    offset = alt.YOffset("label:N", sort=[DIRECTION_LABELS["worse"], DIRECTION_LABELS["better"]])
    base = alt.Chart(by_direction)
    bars = base.mark_bar().encode(
        x=alt.X("pfr:Q", title="preference flip rate", scale=x_scale),
        y=y,
        yOffset=offset,
        color=color,
        opacity=_opacity(selection),
    )
    rules = base.mark_rule(color="#333333").encode(
        x="ci_low:Q", x2="ci_high:Q", y=y, yOffset=offset
    )
    null_ticks = (
        alt.Chart(by_direction[by_direction["null_pfr"].notna()])
        .mark_tick(color="#777777", thickness=2, opacity=0.9)
        .encode(x="null_pfr:Q", y=y, yOffset=offset)
    )
    ticks = (
        alt.Chart(pooled[pooled["reading"] != NOT_MEASURED])
        .mark_tick(color="black", thickness=2)
        .encode(x="pfr:Q", y=y)
    )
    marks = (
        alt.Chart(pooled[pooled["mark"] != ""])
        .mark_text(align="left", dx=4, fontSize=11, color="#444444")
        .encode(x="mark_x:Q", y=y, text="mark:N")
    )
    chart = (
        alt.layer(bars, rules, null_ticks, ticks, marks)
        .encode(tooltip=_TOOLTIP)  # one tooltip for every layer, validated once
        .add_params(selection)
        .properties(width=420, height=_height(len(order), 34))
    )
    if title:
        chart = chart.properties(title=title)
    return chart


def comparison_chart(
    sens_a: pd.DataFrame, sens_b: pd.DataFrame, name_a: str, name_b: str
) -> alt.LayerChart:
    """Grouped horizontal bars of pooled PFR for two RMs, with CI rules, and the same labels
    as :func:`sensitivity_chart` (significance, too few, not measured) beside each bar.

    Attributes are ordered by the first RM's pooled ranking, so disagreements show up as bars of
    the second RM out of order. Equal names get " (1)"/" (2)" suffixes so the bars stay apart.
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
    y = alt.Y("attribute:N", sort=order, title=None)
    models = [str(name_a), str(name_b)]
    offset = alt.YOffset("model:N", sort=models)
    tooltip = [alt.Tooltip("model:N", title="reward model")] + _TOOLTIP
    base = alt.Chart(data[data["reading"] != NOT_MEASURED])
    bars = base.mark_bar().encode(
        x=alt.X("pfr:Q", title="pooled preference flip rate", scale=alt.Scale(domain=[0, 1])),
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
