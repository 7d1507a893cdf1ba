"""``rmx explain --expect``: declared expectations end to end (transparent RM, rule perturber)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rmx_widgets.cli import main
from rmx_widgets.core.expectations import EXPECTATION_COLUMNS, check_expectations, failing

PAIRS = [
    {
        "prompt": "How do I boil an egg?",
        "chosen": "Put the egg in boiling water for nine minutes, then cool it in cold water.",
        "rejected": "I think you might perhaps boil it, maybe, I'm not sure.",
    },
    {"prompt": "What is 12 * 4?", "chosen": "12 * 4 = 48.", "rejected": "12 * 4 = 46."},
    {
        "prompt": "Name a primary colour.",
        "chosen": "Red is a primary colour.",
        "rejected": "Hello! Thanks so much for asking. Red is a primary colour. Have a nice day!",
    },
]


def _data(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    return data


def _argv(data, out, *extra):
    return [
        "explain",
        "--data",
        str(data),
        "--rm",
        "transparent",
        "--perturber",
        "rules",
        "--attributes",
        "correctness,verbosity,manner",
        "--null",
        "none",
        "--out",
        str(out),
        *extra,
    ]


def test_explain_with_expectations_prints_writes_csv_and_report(tmp_path, capsys):
    data, out = _data(tmp_path), tmp_path / "run"
    expects = ["--expect", "prefers correct", "--expect", "invariant to verbosity"]
    assert main(_argv(data, out, *expects, "--expect", "prefers worse manner")) == 0
    printed = capsys.readouterr().out
    assert "Declared expectations" in printed
    csv = pd.read_csv(out / "expectations.csv")
    assert list(csv.columns) == EXPECTATION_COLUMNS
    assert list(csv["expectation"]) == [
        "prefers correctness",
        "invariant to verbosity",
        "prefers worse manner",
    ]
    # the file holds what the API computes on the run's own table
    table = pd.read_parquet(out / "table.parquet")
    again = check_expectations(
        table, ["prefers correct", "invariant to verbosity", "prefers worse manner"]
    )
    pd.testing.assert_frame_equal(
        csv[["n", "n_pass", "n_fail", "n_excluded"]],
        again[["n", "n_pass", "n_fail", "n_excluded"]],
    )
    by = again.set_index("expectation")
    # the transparent RM rewards the rule perturber's correctness fixes and warm manner
    assert by.loc["prefers correctness", "n"] > 0 == by.loc["prefers correctness", "n_fail"]
    assert by.loc["prefers worse manner", "n_fail"] > 0
    for r in again.itertuples():
        assert r.n + r.n_excluded == int((table["attribute"] == r.attribute).sum())
        assert f"  {r.expectation}: " in printed
        if r.n:
            assert f"{r.n_pass}/{r.n} pass" in printed
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<h2>Declared expectations</h2>" in html
    for r in again.itertuples():
        if r.n_fail:
            assert f"Failing: {r.expectation} ({r.n_fail}, most severe first)" in html
            assert len(failing(table, r.expectation)) == r.n_fail
    assert str(out / "expectations.csv") in printed

    # a rerun without --expect removes the stale file and the report's section
    assert main(_argv(data, out)) == 0
    assert not (out / "expectations.csv").exists()
    assert "Declared expectations" not in (out / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "expect, needle",
    [
        ("prefers\x1b[31m correct", "cannot read the expectation 'prefers\\x1b[31m correct'"),
        ("invariant to helpfulness", "unknown attribute 'helpfulness'"),
    ],
)
def test_bad_expectation_exits_2_before_writing(tmp_path, capsys, expect, needle):
    data, out = _data(tmp_path), tmp_path / "run"
    assert main(_argv(data, out, "--expect", expect)) == 2
    err = capsys.readouterr().err
    assert err.startswith("rmx: error: ") and needle in err and "\x1b" not in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_expectations_csv_from_another_tool_is_not_removed(tmp_path):
    data, out = _data(tmp_path), tmp_path / "run"
    out.mkdir()
    (out / "expectations.csv").write_text("mine\n")
    assert main(_argv(data, out, "--no-report")) == 0
    assert (out / "expectations.csv").read_text() == "mine\n"
