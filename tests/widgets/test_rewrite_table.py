"""RewriteTable as widget state (no browser): pages answered from the kernel, strict request
validation answered with an error line, the Explorer's table following its run, a selected row
opening in the ComparisonView, and exports that never overwrite."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.widgets import Explorer, RewriteTable
from rmx_widgets.widgets.rewrite_table import MAX_CELL_CHARS, NO_ROWS_TEXT

NO_FILTERS = {"attribute": "", "side": "all", "outcome": "all", "validity": "all", "ranges": []}


def _ask(table: RewriteTable, **over) -> dict:
    msg = {"type": "page", "request_id": 7, "page": 1, "page_size": 5, "sort": [], "search": ""}
    msg["filters"] = dict(NO_FILTERS)
    msg.update(over)
    reply = table.answer(msg)
    json.dumps(reply, allow_nan=False)  # what the comm sends must be strict JSON
    return dict(reply)


@pytest.fixture(scope="module")
def result():
    return rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False).explain(COMPS)


def test_page_reply_counts_and_cuts(result):
    table = RewriteTable(result.table)
    assert table.n_rows == len(result.table) and table.attribute_options == ATTRS
    reply = _ask(table, page=2)
    assert reply["request_id"] == 7 and reply["error"] == ""
    assert reply["total"] == len(result.table)
    assert reply["last_page"] == -(-len(result.table) // 5)
    assert [r["row_id"] for r in reply["rows"]] == list(result.table.index[5:10])


def test_sorted_filtered_searched_page(result):
    table = RewriteTable(result.table)
    t = result.table
    reply = _ask(
        table,
        sort=[{"column": "margin_before", "dir": "desc"}],
        filters={**NO_FILTERS, "attribute": "verbosity", "side": "chosen"},
    )
    keep = t[(t["attribute"] == "verbosity") & (t["side"] == "chosen")]
    assert reply["total"] == len(keep)
    befores = [r["margin_before"] for r in reply["rows"]]
    assert befores == sorted(befores, reverse=True)
    failed = _ask(table, filters={**NO_FILTERS, "outcome": "failed"})
    assert failed["total"] == int((t["outcome"] == "failed").sum()) > 0
    assert all(r["perturbed"] is None and r["margin_change"] is None for r in failed["rows"])
    found = _ask(table, search="C3")  # ids are searched, case-insensitively
    assert found["total"] == int((t["comparison_id"] == "c3").sum())


def test_a_filter_matching_nothing_answers_zero_rows_and_keeps_working(result):
    table = RewriteTable(result.table)
    none = _ask(table, filters={**NO_FILTERS, "attribute": "no such attribute"})
    assert (none["total"], none["rows"], none["last_page"], none["error"]) == (0, [], 1, "")
    assert _ask(table)["total"] == len(result.table)  # cleared: every row again


@pytest.mark.parametrize(
    "over",
    [
        {"page_size": 10**6},
        {"page_size": "50"},
        {"page": -1},
        {"sort": [{"column": "__class__", "dir": "asc"}]},
        {"search": "x" * 10_000},
        {"filters": {**NO_FILTERS, "side": "<img src=x>"}},
        {"filters": {**NO_FILTERS, "ranges": [{"column": "margin_change", "low": "a"}]}},
        {"filters": "all"},
    ],
)
def test_bad_requests_get_an_error_reply_not_an_exception(result, over):
    table = RewriteTable(result.table)
    _ask(table, sort=[{"column": "outcome", "dir": "asc"}])
    before = table.query
    reply = _ask(table, **over)
    assert reply["rows"] == [] and reply["total"] == 0
    assert reply["error"].startswith("Request refused: ") and "\n" not in reply["error"]
    assert table.query == before  # the refused request does not change the export's slice


def test_non_object_message_and_missing_request_id():
    table = RewriteTable(pd.DataFrame())
    assert table.answer("page")["error"] == "Request refused: the request must be an object."
    assert table.answer({"type": "page", "page": 1, "page_size": 1})["request_id"] == -1


def test_comm_handler_sends_the_reply(result, monkeypatch):
    table = RewriteTable(result.table)
    sent: list = []
    monkeypatch.setattr(table, "send", lambda content, buffers=None: sent.append(content))
    table._on_msg(table, {"type": "page", "request_id": 3, "page": 1, "page_size": 2}, [])
    table._on_msg(table, {"type": "page", "request_id": 4, "page": "x", "page_size": 2}, [])
    assert [m["request_id"] for m in sent] == [3, 4]
    assert len(sent[0]["rows"]) == 2 and sent[1]["error"]


def test_long_and_hostile_cells_are_cut_not_touched():
    hostile = "<img src=x onerror=alert(1)>" + "y" * 500
    t = pd.DataFrame(
        {
            "comparison_id": ["<b>c</b>"],
            "attribute": ["a"],
            "side": ["chosen"],
            "direction": ["worse"],
            "outcome": ["CF"],
            "margin_before": [1.0],
            "margin_after": [-1.0],
            "perturbed": [hostile],
        }
    )
    row = _ask(RewriteTable(t))["rows"][0]
    assert row["comparison_id"] == "<b>c</b>"  # escaping is the browser's job (textContent)
    assert len(row["perturbed"]) == MAX_CELL_CHARS and row["perturbed"].endswith("…")
    assert row["perturbed"].startswith("<img src=x onerror=alert(1)>")
    assert row["valid"] is None and row["length_change"] is None


def test_export_filtered_slice_and_button_never_overwrites(result, tmp_path):
    table = RewriteTable(result.table, export_dir=tmp_path)
    _ask(table, filters={**NO_FILTERS, "outcome": "CF"})
    n_cf = int((result.table["outcome"] == "CF").sum())
    path = table.export(tmp_path / "cf.parquet")
    assert len(pd.read_parquet(path)) == n_cf
    with pytest.raises(rmx.errors.OutputError):
        table.export(path)
    table._on_msg(table, {"type": "export", "format": "csv"}, [])
    table._on_msg(table, {"type": "export", "format": "csv"}, [])
    assert (tmp_path / "rewrites.csv").exists() and (tmp_path / "rewrites-2.csv").exists()
    assert table.export_status == f"exported {n_cf} rows to {tmp_path / 'rewrites-2.csv'}"
    assert len(pd.read_csv(tmp_path / "rewrites.csv")) == n_cf
    table._on_msg(table, {"type": "export", "format": "xlsx"}, [])
    assert (
        table.export_status.startswith("Export failed: ")
        and "csv or parquet" in table.export_status
    )


def test_explorer_table_follows_the_result_and_a_selected_row_opens_in_the_view(result):
    exp = Explorer(rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False), COMPS)
    assert exp.rewrite_table.n_rows == 0 and exp.rewrite_table.empty == NO_ROWS_TEXT
    _, detail = exp.split.children  # under the ComparisonView, in the detail column
    assert detail.children == (exp.slice_bar, exp.view, exp.table_slot)
    assert exp.table_slot.children == (exp.rewrite_table,)
    version = exp.rewrite_table.data_version
    exp.show_result(result)
    assert exp.rewrite_table.n_rows == len(result.table)
    assert exp.rewrite_table.data_version > version
    # a filter that hides the row is cleared; the row's comparison and page come on screen
    exp.view.page_size = 2
    exp.view.filters = {"attribute": "clarity", "side": "all", "outcome": "all"}
    t = result.table
    target = t[(t["attribute"] == "verbosity") & (t["comparison_id"] == "c5")].index[-1]
    exp.rewrite_table.selected_row = int(target)
    assert exp.view.comparison["id"] == "c5"
    assert exp.view.filters["attribute"] == ""
    assert int(target) in [r["row_id"] for r in exp.view.rows]
    # a row the filters keep leaves them as they are
    exp.view.filters = {"attribute": "verbosity", "side": "all", "outcome": "all"}
    other = t[(t["attribute"] == "verbosity") & (t["comparison_id"] == "c2")].index[0]
    exp.rewrite_table.selected_row = int(other)
    assert exp.view.filters["attribute"] == "verbosity" and exp.view.comparison["id"] == "c2"
    assert int(other) in [r["row_id"] for r in exp.view.rows]
    # the reader browses away, then picks the same row again: selected_row cannot change, the
    # browser bumps reselections and the view comes back to that rewrite
    exp.view.index = exp.view.visible_ids.index("c5")
    assert exp.view.comparison["id"] == "c5"
    exp.rewrite_table.reselections += 1
    assert exp.view.comparison["id"] == "c2" and exp.rewrite_table.selected_row == int(other)
    assert exp.view.show_row(10**9) is False


def test_static_rendering_shows_the_first_rows_escaped(result):
    hostile = "<scr" + "ipt>alert(1)</scr" + "ipt>"
    t = result.table.copy()
    t.loc[t.index[0], "perturbed"] = hostile
    table = RewriteTable(t)
    data, _ = table._repr_mimebundle_()
    page = data["text/html"]
    assert f"{len(t):,} of {len(t):,} rewrites" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and hostile not in page
    assert len(t) > 50 and f"… {len(t) - 50:,} more rows" in page
    assert data["text/plain"].startswith(f"RewriteTable: {len(t):,} rewrite(s)")
    empty, _ = RewriteTable()._repr_mimebundle_()
    assert NO_ROWS_TEXT in empty["text/html"]
