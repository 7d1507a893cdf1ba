"""``rmx evaluate --judge features|llm [--valid-only]``: flags, errors, files, printout."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fake_chat_server import FakeChatServer, say

import rmx_widgets
from rmx_widgets.cli import build_parser, main
from rmx_widgets.core.validity.features import FeatureJudge

SAMPLES = str(Path(rmx_widgets.__file__).parent / "data" / "sample_comparisons.jsonl")


def argv(out: Path, *extra: str) -> list[str]:
    return [
        "evaluate",
        "--data",
        f"samples={SAMPLES}",
        "--limit",
        "10",
        "--rm",
        "transparent",
        "--perturber",
        "rules",
        "--perturber",
        "random:0.2",
        "--attributes",
        "manner,engagement,assertiveness,relevance",
        "--seeds",
        "1",
        "--per-seed",
        "10",
        "--n-boot",
        "20",
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
        (
            ["--judge", "llm", "--model", "m", "--backend", "hf"],
            "--judge llm asks an OpenAI-compatible server",
        ),
    ],
)
def test_unusable_judge_flags_are_one_line_exit_2_and_write_nothing(
    tmp_path, capsys, extra, message
):
    assert main(argv(tmp_path / "out", *extra)) == 2
    assert message in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []  # no output folder, no store


def test_unknown_judge_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv(tmp_path / "out", "--judge", "oracle"))
    assert info.value.code == 2
    assert "argument --judge: invalid choice: 'oracle'" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_help_shares_the_explain_flags():
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command in ("evaluate", "explain"):
        text = " ".join(choices[command].format_help().split())
        assert "--judge {features,llm}" in text and "--valid-only" in text, command
        assert "needs --judge" in text


def _quality(out: Path) -> pd.DataFrame:
    q = pd.read_csv(out / "quality_summary.csv")
    return q[(q["side"] == "both") & (q["kind"] == "CF")].set_index("perturber")


def test_judge_features_writes_and_prints_the_valid_rates(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(argv(out, "--judge", "features")) == 0
    printed = capsys.readouterr().out
    config = json.loads((out / "study.json").read_text())
    assert config["judge"] == FeatureJudge().identity and config["valid_only"] is False
    assert config["judged"] == ["rules"]
    both = _quality(out)
    tables = pd.read_parquet(out / "tables.parquet")
    rules = tables[tables["perturber"] == "rules"]
    judged = int(rules["valid"].notna().sum())
    valid = int(rules["valid"].fillna(False).astype(bool).sum())
    assert judged > 0
    assert (both.loc["rules", "n_judged"], both.loc["rules", "n_valid"]) == (judged, valid)
    assert both.loc["random", "n_judged"] == 0 and pd.isna(both.loc["random", "valid_rate"])
    assert f"Rewrite judge {FeatureJudge().identity}" in printed
    line = next(x for x in printed.splitlines() if "transparent × rules: valid" in x)
    assert f"{valid}/{judged}" in line and "failed" in line
    assert "valid rewrites" in printed and "not judged" in printed  # Table 1's column
    assert f"{valid / judged:.3f} ({valid} of {judged} judged)" in printed
    assert "valid rewrites" in (out / "report.html").read_text()


def test_valid_only_counts_valid_rewrites_in_the_files(tmp_path, capsys):
    plain, only = tmp_path / "plain", tmp_path / "only"
    assert main(argv(plain, "--judge", "features")) == 0
    assert main(argv(only, "--judge", "features", "--valid-only")) == 0
    printed = capsys.readouterr().out
    assert "--valid-only: coverage, distances and diversity" in printed
    assert json.loads((only / "study.json").read_text())["valid_only"] is True
    sens = pd.read_csv(only / "sensitivity.csv")
    pooled = sens[sens["direction"] == "both"]
    assert int(pooled["n"].sum()) == int(pooled["n_valid"].sum())
    q_plain, q_only = _quality(plain), _quality(only)
    assert q_only.loc["rules", "coverage"] <= q_plain.loc["rules", "coverage"]
    assert q_only.loc["random", "coverage"] == q_plain.loc["random", "coverage"]
    assert q_only.loc["rules", "failed_rate"] == q_plain.loc["rules", "failed_rate"]


def test_judge_llm_asks_the_fake_server_for_the_attribute_perturber_only(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    verdict = {"attribute": "moved_as_asked", "others": "kept", "reason": "as asked"}
    with FakeChatServer() as server:
        server.default = say(verdict)[0]
        out = tmp_path / "out"
        code = main(argv(out, "--judge", "llm", "--model", "fake-judge", "--base-url", server.url))
        assert code == 0, capsys.readouterr().err
        asked = len(server.requests)
    tables = pd.read_parquet(out / "tables.parquet")
    rules = tables[(tables["perturber"] == "rules") & (tables["outcome"] != "failed")]
    assert asked == len(rules) > 0  # one request per judged rewrite, none for the baseline
    assert rules["valid"].astype(bool).all()
    assert _quality(out).loc["rules", "valid_rate"] == 1.0
