"""Issue 14's layout defects, on the Python side: the Explorer's control row is declared to
wrap, and a chart of 60 attributes keeps readable rows (the browser test measures the boxes)."""

from __future__ import annotations

import pandas as pd
from sens_frames import sens_frame
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.core.charts import LABEL_FONT_SIZE, comparison_chart, sensitivity_chart
from rmx_widgets.widgets import Explorer


def test_explorer_control_row_wraps_and_names_its_parts():
    exp = Explorer(
        rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False), COMPS, redraw_every=0.0
    )
    row = exp.controls
    assert row in exp.children
    assert list(row.children) == [exp.run_button, exp.cancel_button, exp.progress, exp.status]
    assert row.layout.flex_flow == "row wrap"
    assert "rmx-controls" in row._dom_classes
    assert "rmx-status" in exp.status._dom_classes
    # the progress bar may shrink (it was a fixed 320 px that pushed the status out of view)
    assert exp.progress.layout.width == "auto"
    assert exp.progress.layout.flex == "0 1 320px"


def _sixty() -> pd.DataFrame:
    """The hand-built sensitivity table's rows repeated under 60 attribute names."""
    base = sens_frame("absent")
    names = list(dict.fromkeys(base["attribute"]))
    frames = []
    for i in range(60):
        copy = base[base["attribute"] == names[i % len(names)]].copy()
        copy["attribute"] = f"attribute_{i:02d}"
        frames.append(copy)
    return pd.concat(frames, ignore_index=True)


def test_sixty_attributes_keep_40_px_rows_and_11_px_labels():
    sens = _sixty()
    assert sens["attribute"].nunique() == 60
    spec = sensitivity_chart(sens).to_dict()
    # one 40 px row per attribute (two 20 px bars): 60 rows are 2,400 px, scrolled in its box,
    # never squeezed until the labels overlap
    assert spec["height"] == 60 * 40
    y = spec["layer"][0]["encoding"]["y"]
    assert y["axis"]["labelFontSize"] == LABEL_FONT_SIZE == 11
    assert y["axis"]["labelOverlap"] is False
    sizes = [
        layer["mark"]["fontSize"]
        for layer in spec["layer"]
        if isinstance(layer["mark"], dict) and "fontSize" in layer["mark"]
    ]
    assert sizes and min(sizes) >= 11, sizes
    assert sensitivity_chart(sens.head(1)).to_dict()["height"] == 60  # the floor for one row


def test_comparison_chart_labels_are_readable_too():
    sens = _sixty()
    spec = comparison_chart(sens, sens, "rm_a", "rm_b").to_dict()
    y = spec["layer"][0]["encoding"]["y"] if "layer" in spec else spec["encoding"]["y"]
    assert y["axis"]["labelFontSize"] == 11
