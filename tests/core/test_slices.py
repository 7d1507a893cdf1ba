"""Slices (``core.slices``): the input's extra fields as ``slice.<field>`` columns, and the
sensitivity split by one of them, every figure checked against counts made by hand: a slice of
two comparisons, a slice of one, a slice whose rewrites all failed ("not measured") and the
comparisons missing the field."""

from __future__ import annotations

import json
import math
import statistics

import pandas as pd
import pytest
from table_factory import comparison, domain_table, table

import rmx_widgets as rmx
from rmx_widgets.cli import main
from rmx_widgets.core.data import Comparison, comparisons_from_records
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.slices import (
    MAX_VALUE_CHARS,
    check_slice_field,
    sensitivity_by,
    slice_fields,
    slice_value,
    with_slices,
)


def _cell(sens: pd.DataFrame, value, direction: str) -> pd.Series:
    rows = sens[sens["slice.domain"].isna()] if value is None else sens
    if value is not None:
        rows = rows[rows["slice.domain"] == value]
    return rows[rows["direction"] == direction].iloc[0]


def test_sensitivity_by_slice_counts_by_hand():
    t = domain_table()
    sens = sensitivity_by(t, None, "domain", n_boot=0)
    assert list(sens.columns[:3]) == ["slice.domain", "attribute", "direction"]
    # slices sorted, the rows missing the field last
    values = list(dict.fromkeys(sens["slice.domain"].where(sens["slice.domain"].notna(), None)))
    assert values == ["chat", "code", "math", None]
    # whole-table reward spread: the two original rewards of each comparison with a successful
    # rewrite (c4 has none), chosen = margin, rejected = 0
    s = statistics.stdev([2.0, 0.0, 4.0, 0.0, 1.0, 0.0, 2.0, 0.0])
    math_worse = _cell(sens, "math", "worse")
    assert (math_worse["n"], math_worse["n_failed"], math_worse["pfr"]) == (2, 0, 0.5)
    assert math_worse["mean_margin_change"] == pytest.approx(((-1 - 2) + (3 - 4)) / 2 / s)
    math_better = _cell(sens, "math", "better")
    assert (math_better["n"], math_better["n_failed"], math_better["pfr"]) == (1, 1, 0.0)
    math_both = _cell(sens, "math", "both")
    assert (math_both["n"], math_both["n_failed"]) == (3, 1)
    assert math_both["pfr"] == pytest.approx(1 / 3)
    assert math_both["n_comparisons"] == 2
    # one comparison: its own figures, scaled by the whole table's spread (not its own 0.707)
    chat_worse = _cell(sens, "chat", "worse")
    assert (chat_worse["n"], chat_worse["pfr"], chat_worse["n_comparisons"]) == (1, 1.0, 1)
    assert chat_worse["mean_margin_change"] == pytest.approx((-0.5 - 1.0) / s)
    assert _cell(sens, "chat", "both")["pfr"] == 0.5
    # every rewrite failed: n 0, rates not measured (NaN), never 0, failures counted
    for direction, failed in (("worse", 1), ("better", 1), ("both", 2)):
        code = _cell(sens, "code", direction)
        assert (code["n"], code["n_failed"]) == (0, failed)
        assert math.isnan(code["pfr"]) and math.isnan(code["mean_margin_change"])
    missing = _cell(sens, None, "better")
    assert (missing["n"], missing["pfr"]) == (1, 1.0)


def test_slice_intervals_are_the_slice_table_s_own():
    t = domain_table()
    sens = sensitivity_by(t, None, "slice.domain", n_boot=200, seed=3)
    math_rows = t[t["slice.domain"] == "math"]
    alone = rmx.sensitivity(math_rows, n_boot=200, seed=3)
    got = sens[sens["slice.domain"] == "math"].reset_index(drop=True)
    assert got["ci_low"].tolist() == pytest.approx(alone["ci_low"].tolist(), nan_ok=True)
    assert got["ci_high"].tolist() == pytest.approx(alone["ci_high"].tolist(), nan_ok=True)


def test_the_null_of_a_slice_is_its_comparisons_null_rows():
    t = domain_table()
    null = table(
        comparison("c1", 2.0, {"verbosity": (-1.0, -1.0)})  # both flip
        + comparison("c3", 1.0, {"verbosity": (0.5, 0.5)})  # none flips
    )
    sens = sensitivity_by(t, null, "domain", n_boot=0)
    assert _cell(sens, "math", "both")["null_pfr"] == 1.0  # c1's two null rows: 2/2
    assert _cell(sens, "chat", "both")["null_pfr"] == 0.0
    assert math.isnan(_cell(sens, "code", "both")["null_pfr"])  # no null row: not measured


def test_unknown_slice_names_the_table_s_slices():
    with pytest.raises(RMXError, match="no slice 'topic' in this table; its slices are: domain"):
        sensitivity_by(domain_table(), None, "topic")
    with pytest.raises(RMXError, match=r"its slices are: none \(the input had no extra"):
        sensitivity_by(table(comparison("c1", 1.0, {"verbosity": (1.0, 1.0)})), None, "domain")


def test_slice_values_are_bounded_text():
    assert slice_value(3) == "3" and slice_value(True) == "True" and slice_value(0.5) == "0.5"
    assert slice_value(None) is None and slice_value(math.nan) is None
    assert slice_value({"b": 1, "a": [2]}) == '{"a": [2], "b": 1}'
    assert slice_value("x\x1by") == "x\\x1by"  # a control character escaped (data.safe_text)
    assert len(slice_value("w" * 1000) or "") == MAX_VALUE_CHARS


def _comps() -> list[Comparison]:
    return comparisons_from_records(
        [
            {
                "prompt": "How do I boil an egg?",
                "chosen": "Boil water, add the egg and cook it for nine minutes.",
                "rejected": "I'm sorry, but I can't help with that.",
                "domain": "cooking",
                "rating": 4,
            },
            {
                "prompt": "How do I make tea?",
                "chosen": "Boil water and pour it over the leaves.",
                "rejected": "I'm sorry, but I can't help with that.",
                "domain": "cooking",
                "source": "forum",
            },
        ]
    )


def test_the_explainer_carries_every_field_into_every_row(tmp_path):
    comps = _comps()
    assert slice_fields(comps) == ("domain", "rating", "source")
    rm = rmx.reward_model_from_spec("transparent")
    explainer = rmx.Explainer(
        rm, rmx.perturber_from_spec("rules"), ["manner"], progress=False, batch_size=1
    )
    result = explainer.explain(comps)
    t = result.table
    first = t["comparison_id"] == comps[0].id
    assert set(t.loc[first, "slice.rating"]) == {"4"}
    assert t.loc[~first, "slice.rating"].isna().all()  # the second comparison has no rating
    assert t.loc[first, "slice.source"].isna().all()
    assert set(t["slice.domain"]) == {"cooking"}
    # streamed to Parquet batch by batch (one comparison each): the schema holds
    saved = explainer.explain_to(comps, tmp_path / "run", report=False)
    back = pd.read_parquet(tmp_path / "run" / "table.parquet")
    assert saved.summary["rows"] == len(t)
    assert back["slice.rating"].tolist() == t["slice.rating"].tolist()
    sens = result.sensitivity(by="domain", n_boot=0)
    assert set(sens["slice.domain"]) == {"cooking"}
    whole = result.sensitivity(n_boot=0)
    assert sens["n"].tolist() == whole["n"].tolist()  # one slice: the whole table


def test_with_slices_keeps_a_frame_without_fields():
    frame = pd.DataFrame({"comparison_id": ["x"]})
    assert with_slices(frame, _comps()[:1], ()) is frame


def test_check_slice_field_before_any_model():
    assert check_slice_field("slice.domain", _comps()) == "domain"
    with pytest.raises(RMXError, match="its extra fields are: domain, rating, source"):
        check_slice_field("topic", _comps())


def test_cli_by_prints_each_slice_with_n_and_failures(tmp_path, capsys):
    records = [
        {
            "prompt": "How do I boil an egg?",
            "chosen": "Boil water, add the egg and cook it for nine minutes.",
            "rejected": "I'm sorry, but I can't help with that.",
            "domain": "cooking",
        },
        {
            "prompt": "Sort a list?",
            "chosen": "Use sorted(items) in Python.",
            "rejected": "I'm sorry, but I can't help with that.",
            "domain": "code",
        },
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    argv = ["explain", "--data", str(data), "--rm", "transparent", "--perturber", "rules"]
    argv += ["--attributes", "manner", "--no-report", "--null", "none", "--by", "domain"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    t = pd.read_parquet(tmp_path / "o" / "table.parquet")
    for value in ("code", "cooking"):
        assert f"Slice slice.domain = '{value}': 1 comparison(s)" in out
        rows = t[t["slice.domain"] == value]
        ok = int((rows["outcome"] != "failed").sum())
        failed = int((rows["outcome"] == "failed").sum())
        block = out.split(f"Slice slice.domain = '{value}'")[1].split("\n\n")[0]
        line = next(ln for ln in block.splitlines() if ln.startswith("manner"))
        assert line.split()[1] == str(ok)  # n
        assert f"{failed}/{len(rows)}" in line  # failed / attempted
    assert main([*argv[:-1], "topic", "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rmx: error: no field 'topic' in the input to split by")
    assert not (tmp_path / "o2").exists()


def test_holm_corrects_over_every_slice_of_the_split_table():
    # 16 comparisons in two slices of 8: every worse rewrite flips (margin 2 -> -1), its null
    # rewrite never does, every better rewrite fails
    ids = [f"c{i}" for i in range(16)]
    t = table([r for c in ids for r in comparison(c, 2.0, {"verbosity": (-1.0, None)})])
    t["slice.domain"] = ["a" if int(c[1:]) < 8 else "b" for c in t["comparison_id"]]
    null = table([r for c in ids for r in comparison(c, 2.0, {"verbosity": (1.0, None)})])
    sens = sensitivity_by(t, null, "domain", n_boot=0)
    tested = sens[sens["direction"].isin(["worse", "both"])]
    # by hand: per slice, worse and both each have 8 pairs with target − null = +1, so the
    # exact sign test gives p = 2 · 0.5⁸ = 1/128; better has no pair (NaN, not a test)
    assert tested["p_value"].tolist() == pytest.approx([1 / 128] * 4)
    assert sens.loc[sens["direction"] == "better", "p_adjusted"].isna().all()
    # Holm over the 4 tests of the printed table: 4 · 1/128 = 1/32 each (each slice alone
    # would say 2 · 1/128 = 1/64)
    assert tested["p_adjusted"].tolist() == pytest.approx([1 / 32] * 4)
    assert tested["significant"].tolist() == [True] * 4  # 1/32 < 0.05
    strict = sensitivity_by(t, null, "domain", n_boot=0, alpha=0.025)
    # 1/32 = 0.03125 ≥ 0.025: not significant over the table (1/64 per slice would have been)
    assert strict.loc[tested.index, "significant"].tolist() == [False] * 4


def test_a_slice_without_a_verdict_gives_n_0_not_an_error():
    t = domain_table()
    # judged: math's and chat's rewrites; code's failed and c5's rewrites carry no verdict
    judged = {"c1": True, "c2": False, "c3": True}
    t["valid"] = t["comparison_id"].map(judged).astype(object)
    t.loc[t["outcome"] == "failed", "valid"] = None
    sens = sensitivity_by(t, None, "domain", n_boot=0, valid_only=True)
    # math: c1's two rewrites valid (worse CF, better SF), c2's worse SF invalid → left out
    math_worse = _cell(sens, "math", "worse")
    assert (math_worse["n"], math_worse["pfr"], math_worse["n_judged"]) == (1, 1.0, 2)
    # c5 (no domain) has successful rewrites but no verdict: n 0, not measured, no error
    missing = _cell(sens, None, "both")
    assert (missing["n"], missing["n_failed"], missing["n_judged"]) == (0, 0, 0)
    assert math.isnan(missing["pfr"]) and math.isnan(missing["valid_rate"])
    # the whole table without any verdict is still the user's mistake: one clear error
    t["valid"] = None
    with pytest.raises(RMXError, match="needs judged rewrites"):
        sensitivity_by(t, None, "domain", n_boot=0, valid_only=True)


def test_a_missing_field_stays_missing_not_the_text_none():
    comps = [
        Comparison(id="a", prompt="p", response_a="x", response_b="y", metadata={"domain": "math"}),
        Comparison(id="b", prompt="p", response_a="x", response_b="y", metadata={}),
    ]
    frame = with_slices(pd.DataFrame({"comparison_id": ["a", "b"]}), comps, ("domain",))
    assert frame["slice.domain"].iloc[0] == "math"
    assert frame["slice.domain"].isna().tolist() == [False, True]
    assert "None" not in frame["slice.domain"].dropna().tolist()
