"""A notebook exported with nbconvert shows the widgets' static rendering instead of nothing.

A tiny notebook displays a SensitivityChart and a ComparisonView on a small offline result
(hostile model text included), is executed in a kernel of this environment (nbclient, as
test_notebooks.py does) without saving the widget state — JupyterLab's default — and exported
with nbconvert's HTMLExporter: nbconvert then falls back from the widget view to text/html,
which must carry the sensitivity table and the comparison, with the model's text escaped.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from summary_cells import HEADERS

ROOT = Path(__file__).resolve().parents[2]
HELPERS = ROOT / "tests" / "helpers"

SETUP = f"""
import sys
sys.path[:0] = [{str(ROOT)!r}, {str(HELPERS)!r}]
import rmx_widgets as rmx
from rmx_widgets.widgets import ComparisonView, SensitivityChart
from widget_inputs import ATTRS, COMPS, perturb, rm
hostile = "<scr" + "ipt>alert(1)</scr" + "ipt>"  # never a raw literal in the cell source
comps = [{{**c, "response_a": c["response_a"] + hostile}} for c in COMPS]
result = rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False).explain(comps)
"""


def test_nbconvert_html_export_shows_the_static_rendering(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell("SensitivityChart(result.table, n_boot=20)"),
        nbformat.v4.new_code_cell("ComparisonView(result, page_size=3)"),
    ]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=120,
        store_widget_state=False,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    chart_out, view_out = (cell.outputs[0] for cell in nb.cells[1:])
    for out in (chart_out, view_out):  # the live view is still there, first for JupyterLab
        assert "application/vnd.jupyter.widget-view+json" in out["data"]
        assert {"text/html", "text/plain"} <= set(out["data"])

    body, _ = HTMLExporter().from_notebook_node(nb)
    for attribute in ("verbosity", "manner", "assertiveness", "clarity"):
        assert f"<td>{attribute}</td>" in body  # the sensitivity table, as a table
    # the Explorer's per-attribute summary (core.summary_table), every column defined under it
    assert "".join(f"<th>{h}</th>" for h in HEADERS) in body
    assert "CF + SF = n" in body and "length-controlled PFR = " in body
    assert "Comparison 1 of 12" in body and "… 5 more rows" in body
    assert "short answer 0&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert" not in body
