"""Altair charts of sensitivity tables, shared by the widgets, the CLI and the HTML report.

Charts are built from the aggregated sensitivity rows only (three per attribute), never from the
explanation table, so the spec stays small enough to send to the browser after every batch.
The sensitivity chart carries a point selection named ``attribute`` on the ``attribute`` field:
in a notebook, ``altair.JupyterChart(chart).selections.attribute`` tells Python which bar the
user clicked, and the explorer widget shows that attribute's examples. This module imports
nothing from Jupyter.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from rmx_widgets.core.metrics import require_columns
from rmx_widgets.core.sensitivity import SENSITIVITY_COLUMNS, attribute_order

SELECTION_NAME = "attribute"
DIRECTION_LABELS = {
    "worse": "worse (chosen made worse)",
    "better": "better (rejected made better)",
    "both": "pooled",
}
_TOOLTIP = [
    alt.Tooltip("attribute:N", title="attribute"),
    alt.Tooltip("direction:N", title="direction"),
    alt.Tooltip("pfr:Q", title="PFR", format=".2f"),
    alt.Tooltip("ci_low:Q", title="CI low", format=".2f"),
    alt.Tooltip("ci_high:Q", title="CI high", format=".2f"),
    alt.Tooltip("n:Q", title="n"),
    alt.Tooltip("mean_margin_change:Q", title="mean margin change", format=".2f"),
]


def attribute_selection() -> alt.Parameter:
    """The click selection widgets observe: one attribute at a time, by field."""
    return alt.selection_point(name=SELECTION_NAME, fields=["attribute"])


def _chart_data(sens: pd.DataFrame) -> pd.DataFrame:
    require_columns(sens, SENSITIVITY_COLUMNS, "the sensitivity chart (a sensitivity() table)")
    data = sens[SENSITIVITY_COLUMNS].copy()
    data["attribute"] = data["attribute"].astype(str)
    data["label"] = data["direction"].map(DIRECTION_LABELS).fillna(data["direction"])
    return data


def _height(n_attributes: int, per: int) -> int:
    return max(60, per * max(n_attributes, 1))


def sensitivity_chart(sens: pd.DataFrame, *, title: str | None = None) -> alt.LayerChart:
    """Horizontal PFR bars per attribute and direction, with bootstrap CI rules.

    "worse" and "better" bars sit side by side within an attribute's row (yOffset, coloured by
    direction); a black tick marks the pooled PFR. Rows follow the pooled ranking (most
    sensitive on top). Clicking a bar selects its attribute (param ``attribute``); the other
    attributes fade.
    """
    data = _chart_data(sens)
    order = [str(a) for a in attribute_order(sens)]
    selection = attribute_selection()
    y = alt.Y("attribute:N", sort=order, title=None)
    x_scale = alt.Scale(domain=[0, 1])
    by_direction = data[data["direction"].isin(["worse", "better"])]
    pooled = data[data["direction"] == "both"]
    color = alt.Color(
        "label:N",
        title="perturbation",
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
        opacity=alt.condition(selection, alt.value(1.0), alt.value(0.3)),
        tooltip=_TOOLTIP,
    )
    rules = base.mark_rule(color="#333333").encode(
        x="ci_low:Q", x2="ci_high:Q", y=y, yOffset=offset, tooltip=_TOOLTIP
    )
    ticks = (
        alt.Chart(pooled)
        .mark_tick(color="black", thickness=2)
        .encode(x="pfr:Q", y=y, tooltip=_TOOLTIP)
    )
    chart = (
        alt.layer(bars, rules, ticks)
        .add_params(selection)
        .properties(width=420, height=_height(len(order), 34))
    )
    if title:
        chart = chart.properties(title=title)
    return chart


def comparison_chart(
    sens_a: pd.DataFrame, sens_b: pd.DataFrame, name_a: str, name_b: str
) -> alt.LayerChart:
    """Grouped horizontal bars of pooled PFR for two RMs, with CI rules.

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
    base = alt.Chart(data)
    bars = base.mark_bar().encode(
        x=alt.X("pfr:Q", title="pooled preference flip rate", scale=alt.Scale(domain=[0, 1])),
        y=y,
        yOffset=offset,
        color=alt.Color(
            "model:N",
            title="reward model",
            scale=alt.Scale(domain=models, range=["#7570b3", "#e7298a"]),
        ),
        opacity=alt.condition(selection, alt.value(1.0), alt.value(0.3)),
        tooltip=tooltip,
    )
    rules = base.mark_rule(color="#333333").encode(
        x="ci_low:Q", x2="ci_high:Q", y=y, yOffset=offset, tooltip=tooltip
    )
    return (
        alt.layer(bars, rules)
        .add_params(selection)
        .properties(width=420, height=_height(len(order), 30))
    )
