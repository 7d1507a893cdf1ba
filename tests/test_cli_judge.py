"""``rmx explain --judge features|llm`` and ``--valid-only``: flags, errors, files, output."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fake_chat_server import FakeChatServer, say

import rmx_widgets
from rmx_widgets.cli import build_parser, main
from rmx_widgets.core.sensitivity import sensitivity
from rmx_widgets.core.table_io import read_table
from rmx_widgets.core.validity.features import FeatureJudge

SAMPLES = str(Path(rmx_widgets.__file__).parent / "data" / "sample_comparisons.jsonl")


def argv(out: Path, *extra: str) -> list[str]:
    return [
        "explain",
        "--data",
        SAMPLES,
        "--limit",
        "6",
        "--rm",
        "transparent",
        "--attributes",
        "verbosity,manner,helpfulness",
        "--null",
        "none",
        "--out",
        str(out),
        *extra,
    ]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("rmx: error: ")
    return err[0]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--valid-only"], "--valid-only needs --judge"),
        (["--judge", "llm"], "--judge llm needs an LLM: give --model"),
        (["--judge", "llm", "--valid-only"], "--judge llm needs an LLM"),
        (
            ["--judge", "llm", "--model", "m", "--backend", "hf"],
            "--judge llm asks an OpenAI-compatible server",
        ),
    ],
)
def test_unusable_judge_flags_are_one_line_exit_2_and_write_nothing(
    tmp_path, capsys, extra, message
):
    out = tmp_path / "out"
    assert main(argv(out, *extra)) == 2
    assert message in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []  # no output folder, no store


def test_unknown_judge_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv(tmp_path / "out", "--judge", "oracle"))
    assert info.value.code == 2
    assert "argument --judge: invalid choice: 'oracle'" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_help_documents_both_flags():
    sub = build_parser()._subparsers._group_actions[0].choices["explain"]  # type: ignore[union-attr]
    text = " ".join(sub.format_help().split())
    assert "--judge {features,llm}" in text and "--valid-only" in text
    assert "features = offline checks" in text and "needs --judge" in text


def test_judge_features_fills_the_table_summary_report_and_caches(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(argv(out, "--judge", "features")) == 0
    printed = capsys.readouterr().out
    table = read_table(out / "table.parquet")
    ok = table[table["outcome"] != "failed"]
    assert str(table["valid"].dtype) == "boolean"
    assert ok["valid"].notna().any() and ok["validity_reason"].notna().all()
    assert table.loc[table["outcome"] == "failed", "valid"].isna().all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["judge"] == FeatureJudge().identity
    judged = int(ok["valid"].notna().sum())
    valid = int(ok["valid"].fillna(False).sum())
    assert (summary["judged"], summary["valid"]) == (judged, valid)
    assert summary["valid_rate"] == pytest.approx(valid / judged)
    assert summary["sensitivity_valid_only"] is False
    assert f"Rewrite judge {summary['judge']}: {valid} valid" in printed
    assert f"{len(ok)} verdicts computed" in printed or f"{judged} valid" in printed
    header = next(line for line in printed.splitlines() if line.startswith("attribute"))
    assert header.split()[:5] == [
        "attribute",
        "n",
        "failed",
        "valid",
        "(judged)",
    ]  # every face's header
    sens = pd.read_csv(out / "sensitivity.csv")
    both = sens[sens["direction"] == "both"].set_index("attribute")
    for name, row in both.iterrows():
        line = next(x for x in printed.splitlines() if x.startswith(f"{name} "))
        cell = f"{int(row['n_valid'])}/{int(row['n_judged'])}" if row["n_judged"] else ""
        assert (cell in line) if cell else ("not measured" in line), line
    report = (out / "report.html").read_text()
    assert "Rewrite validity" in report and "Computed on valid rewrites only" not in report
    # a rerun on the same store asks the judge nothing
    assert main(argv(out, "--judge", "features")) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["run_verdicts_computed"] == 0 and again["run_verdicts_cached"] == len(ok)


def test_valid_only_computes_the_csv_summary_and_report_on_valid_rewrites(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(argv(out, "--judge", "features", "--valid-only")) == 0
    printed = capsys.readouterr().out
    assert "--valid-only: the sensitivity below" in printed
    table = read_table(out / "table.parquet")
    sens = pd.read_csv(out / "sensitivity.csv")
    expected = sensitivity(table, valid_only=True)
    assert sens["n"].tolist() == expected["n"].tolist()
    assert sens["n_failed"].tolist() == expected["n_failed"].tolist()
    n_valid = int(table["valid"].fillna(False).sum())
    assert int(sens.loc[sens["direction"] == "both", "n"].sum()) == n_valid
    assert json.loads((out / "summary.json").read_text())["sensitivity_valid_only"] is True
    assert "Computed on valid rewrites only" in (out / "report.html").read_text()


def test_judge_llm_uses_the_llm_options_on_the_fake_server(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    verdict = {"attribute": "moved_as_asked", "others": "kept", "reason": "as asked"}
    with FakeChatServer() as server:
        server.default = say(verdict)[0]
        out = tmp_path / "out"
        code = main(argv(out, "--judge", "llm", "--model", "fake-judge", "--base-url", server.url))
        assert code == 0, capsys.readouterr().err
        asked = len(server.requests)
    table = read_table(out / "table.parquet")
    ok = table[table["outcome"] != "failed"]
    assert asked == len(ok)  # the rules rewrote offline; one judge request per rewrite
    summary = json.loads((out / "summary.json").read_text())
    assert "fake-judge" in summary["judge"] and summary["judge"].startswith("llm-judge:")
    assert summary["judged"] == len(ok)
    assert ok["valid"].all() and ok["validity_reason"].str.endswith("as asked").all()
    assert summary["perturber"].startswith("rules")  # the judge did not change the rewrites
