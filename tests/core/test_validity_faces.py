"""The valid-rewrite rate in the faces (core.readability's cells, the sensitivity chart): shown
beside the failed rate when the sensitivity table has verdicts, "not measured" for a row
nothing was judged in, absent (faces unchanged) for a table without verdicts, and a table
computed on valid rewrites only says so."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from sens_frames import HOSTILE, sens_frame
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.core.charts import comparison_chart, sensitivity_chart
from rmx_widgets.core.readability import (
    TEXT_COLUMNS,
    VALID_HEADER,
    VALID_ONLY_NOTE,
    face_rows,
    has_judged,
    legend,
    text_columns,
    valid_only_of,
)
from rmx_widgets.core.sensitivity import sensitivity

# (attribute, direction) -> (n_judged, n_valid), by hand: tone's worse rewrites all valid
# (20/20), its better ones 18 of 20, pooled 38/40; length's judge had no test (0 judged, with
# successful rewrites); HOSTILE had no successful rewrite, so nothing to judge.
VERDICTS = {
    ("tone", "worse"): (20, 20),
    ("tone", "better"): (20, 18),
    ("tone", "both"): (40, 38),
    ("length", "worse"): (0, 0),
    ("length", "better"): (0, 0),
    ("length", "both"): (0, 0),
    (HOSTILE, "worse"): (0, 0),
    (HOSTILE, "better"): (0, 0),
    (HOSTILE, "both"): (0, 0),
}


def judged_frame(valid_only: bool = False) -> pd.DataFrame:
    """sens_frame("columns") with the validity columns sensitivity() appends."""
    out = sens_frame("columns")
    keys = list(zip(out["attribute"], out["direction"], strict=True))
    out["n_judged"] = [VERDICTS[k][0] for k in keys]
    out["n_valid"] = [VERDICTS[k][1] for k in keys]
    out["valid_rate"] = [v / j if j else math.nan for j, v in (VERDICTS[k] for k in keys)]
    out.attrs["valid_only"] = valid_only
    return out


def _cells(face: pd.DataFrame, column: str) -> dict[tuple[str, str], object]:
    return {(r["attribute"], r["direction"]): r[column] for r in face.to_dict("records")}


def test_valid_cells_by_hand():
    face = face_rows(judged_frame(), directions=None)
    text = _cells(face, "valid_text")
    assert text[("tone", "worse")] == "20/20 (1.00)"  # all valid
    assert text[("tone", "better")] == "18/20 (0.90)"  # 18 / 20 = 0.90
    assert text[("tone", "both")] == "38/40 (0.95)"  # 38 / 40 = 0.95
    assert text[("length", "both")] == "not measured"  # 0 judged: never "0/0" nor 0.00
    assert text[(HOSTILE, "both")] == "not measured"
    rate = _cells(face, "valid_rate")
    assert rate[("tone", "better")] == pytest.approx(0.9)
    assert math.isnan(rate[("length", "both")])  # NaN = not measured, never 0
    assert _cells(face, "n_judged")[("tone", "both")] == 40
    assert _cells(face, "n_valid")[("tone", "both")] == 38


def test_one_judged_rewrite_and_none_valid():
    sens = judged_frame()
    sens.loc[0, ["n_judged", "n_valid"]] = [1, 0]  # tone worse: n = 1 judged, invalid
    sens.loc[1, ["n_judged", "n_valid"]] = [1, 1]  # tone better: n = 1 judged, valid
    face = face_rows(sens, directions=None)
    assert face["valid_text"].iloc[0] == "0/1 (0.00)"  # a measured 0, from one verdict
    assert face["valid_text"].iloc[1] == "1/1 (1.00)"


@pytest.mark.parametrize("null", ["columns", "na", "absent"])
def test_tables_without_verdicts_keep_their_faces(null):
    sens = sens_frame(null)  # no n_judged / n_valid column (a table saved before them)
    assert not has_judged(sens) and not valid_only_of(sens)
    assert text_columns(sens) == TEXT_COLUMNS
    face = face_rows(sens)
    assert set(face["valid_text"]) == {"not measured"}
    assert (face["n_judged"] == 0).all() and face["valid_rate"].isna().all()
    spec = sensitivity_chart(sens).to_dict()
    assert VALID_HEADER not in [t["title"] for t in spec["encoding"]["tooltip"]]
    counts = _layer_rows(spec, "counts")
    assert {r["count_text"] for r in counts} >= {"n=20 · 5 failed", "not measured · 3 failed"}
    assert not any("valid" in r["count_text"] for r in counts)
    assert spec["layer"][1]["encoding"]["x"]["title"] == "preference flip rate"


def test_a_table_with_columns_but_nothing_judged_shows_no_valid_cell():
    sens = judged_frame()
    sens["n_judged"] = 0
    sens["n_valid"] = 0
    assert not has_judged(sens)
    assert "valid_text" not in text_columns(sens)


def test_text_columns_put_valid_after_failed():
    headers = list(text_columns(judged_frame()).values())
    at = headers.index("failed")
    assert headers[at + 1] == VALID_HEADER
    assert [h for h in headers if h != VALID_HEADER] == list(TEXT_COLUMNS.values())


def _layer_rows(spec: dict, name: str) -> list[dict]:
    layer = next(layer for layer in spec["layer"] if layer["name"] == name)
    return spec["datasets"][layer["data"]["name"]]


def test_chart_tooltip_and_count_labels_carry_the_valid_rate():
    spec = sensitivity_chart(judged_frame()).to_dict()
    titles = [t["title"] for t in spec["encoding"]["tooltip"]]
    assert titles.index(VALID_HEADER) == titles.index("failed (rate)") + 1
    fields = {t["title"]: t["field"] for t in spec["encoding"]["tooltip"]}
    assert fields[VALID_HEADER] == "valid_text"
    counts = {
        (r["attribute"], r["direction"]): r["count_text"] for r in _layer_rows(spec, "counts")
    }
    assert counts[("tone", "worse")] == "n=20 · 5 failed · 20/20 valid"
    assert counts[("tone", "better")] == "n=20 · 5 failed · 18/20 valid"
    assert counts[("length", "worse")] == "n=5 · 1 failed · not judged"  # rewrites, no verdict
    assert counts[(HOSTILE, "worse")] == "not measured · 3 failed"  # nothing to judge
    bars = {
        (r["attribute"], r["direction"]): r["valid_text"]
        for r in _layer_rows(spec, "bars")
        if r["part"] == "bar"
    }
    assert bars[("tone", "better")] == "18/20 (0.90)"  # the tooltip's cell
    assert spec["layer"][1]["encoding"]["x"]["title"] == "preference flip rate"


def test_valid_only_is_stated_on_the_axis_and_in_the_legend():
    sens = judged_frame(valid_only=True)
    assert valid_only_of(sens)
    spec = sensitivity_chart(sens).to_dict()
    assert spec["layer"][1]["encoding"]["x"]["title"] == f"preference flip rate ({VALID_ONLY_NOTE})"
    text = legend(judged=True, valid_only=True)
    assert text.startswith("Figures on rewrites judged valid only.")
    assert "valid (judged) = valid/judged rewrites (rate)" in text
    assert "valid (judged)" not in legend() and VALID_ONLY_NOTE not in legend()


def test_comparison_chart_carries_the_valid_rate_when_either_is_judged():
    spec = comparison_chart(judged_frame(valid_only=True), sens_frame("absent"), "a", "b").to_dict()
    bars = spec["layer"][0]["encoding"]
    assert VALID_HEADER in [t["title"] for t in bars["tooltip"]]
    assert bars["x"]["title"] == f"pooled preference flip rate ({VALID_ONLY_NOTE})"
    plain = comparison_chart(sens_frame("absent"), sens_frame("na"), "a", "b").to_dict()
    assert VALID_HEADER not in [t["title"] for t in plain["layer"][0]["encoding"]["tooltip"]]
    assert plain["layer"][0]["encoding"]["x"]["title"] == "pooled preference flip rate"


@pytest.fixture(scope="module")
def judged_table() -> pd.DataFrame:
    """A real run's table with planted verdicts: verbosity's rewrites all valid, manner's
    "worse" valid and "better" invalid, clarity undecided (<NA>)."""
    result = rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False).explain(COMPS)
    table = result.table.copy()
    ok = table["outcome"] != "failed"
    verdict = pd.Series(pd.NA, index=table.index, dtype="boolean")
    verdict[ok & (table["attribute"] == "verbosity")] = True
    manner = ok & (table["attribute"] == "manner")
    verdict[manner & (table["direction"] == "worse")] = True
    verdict[manner & (table["direction"] == "better")] = False
    table["valid"] = verdict
    return table


def test_faces_of_a_real_sensitivity_table(judged_table):
    """sensitivity() on a judged table: the faces' cells agree with counts made here."""
    sens = sensitivity(judged_table, n_boot=0)
    assert has_judged(sens) and not valid_only_of(sens)
    face = face_rows(sens)  # pooled rows
    by_attr = {r["attribute"]: r for r in face.to_dict("records")}
    ok = judged_table[judged_table["outcome"] != "failed"]
    n_verb = int((ok["attribute"] == "verbosity").sum())
    n_manner = ok[ok["attribute"] == "manner"]
    n_worse = int((n_manner["direction"] == "worse").sum())
    assert by_attr["verbosity"]["valid_text"] == f"{n_verb}/{n_verb} (1.00)"
    expected = f"{n_worse}/{len(n_manner)} ({n_worse / len(n_manner):.2f})"
    assert by_attr["manner"]["valid_text"] == expected
    assert by_attr["clarity"]["valid_text"] == "not measured"  # undecided: not judged
    assert by_attr["assertiveness"]["valid_text"] == "not measured"  # every rewrite failed
    only = sensitivity(judged_table, n_boot=0, valid_only=True)
    assert valid_only_of(only)
    spec = sensitivity_chart(only).to_dict()
    assert VALID_ONLY_NOTE in spec["layer"][1]["encoding"]["x"]["title"]
