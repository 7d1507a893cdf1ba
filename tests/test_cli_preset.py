"""``rmx evaluate --preset paper``: the paper's data sets from local files in the public
formats (``--data NAME=PATH``), the LLM and its paraphrase on the local fake server, Polyjuice
skipped offline; and every mistake one ``rmx: error:`` line, exit 2, before any model loads."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from public_formats import offline_hub, write_paper_data

from rmx_widgets.cli import main

NAMES = ["hh-rlhf-helpful", "hh-rlhf-harmless", "helpsteer2"]
pytestmark = pytest.mark.filterwarnings("ignore:.*skipped 1 (rows|prompts):UserWarning")


@pytest.fixture
def sources(tmp_path, monkeypatch):
    offline_hub(monkeypatch, tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return write_paper_data(tmp_path / "data")


def _data_flags(sources):
    return [f for name in NAMES for f in ("--data", f"{name}={sources[name]}")]


def test_preset_paper_runs_the_three_data_sets_and_writes_the_files(
    tmp_path, capsys, sources, server
):
    out = tmp_path / "study"
    argv = [
        "evaluate",
        "--preset",
        "paper",
        "--rm",
        "transparent",
        "--model",
        "fake-model",
        "--base-url",
        server.url,
        *_data_flags(sources),
        "--attributes",
        "verbosity",
        "--seeds",
        "2",
        "--per-seed",
        "10",
        "--n-boot",
        "20",
        "--no-report",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "skipped perturber polyjuice: HF_HUB_OFFLINE is set" in printed
    for name in NAMES:
        assert f"[{name}] explanation quality" in printed
        assert "loaded 150 comparisons" in captured.err  # each loader's skip note
    assert "Wrote " in printed and "study.json" in printed
    line = next(x for x in printed.splitlines() if x.startswith("preset paper: "))
    assert line.startswith("preset paper: hh-rlhf-helpful: 150 from hh-rlhf helpful-base/test (")
    assert line.endswith("; overridden: seeds, per_seed, attributes")
    quality = pd.read_csv(out / "quality.csv")
    assert list(dict.fromkeys(quality["dataset"])) == NAMES
    assert set(quality["perturber"]) == {"llm", "random", "paraphrase"}
    assert set(quality["seed"]) == {0, 1}
    study = json.loads((out / "study.json").read_text())
    assert study["datasets"] == dict.fromkeys(NAMES, 150)
    assert list(study["perturbers"]) == ["llm", "random", "paraphrase", "polyjuice"]
    assert study["perturbers"]["llm"].startswith("openai:fake-model")
    assert study["skipped"]["polyjuice"].startswith("HF_HUB_OFFLINE is set")
    preset = study["preset"]
    assert preset["name"] == "paper" and (preset["seeds"], preset["per_seed"]) == (5, 30)
    assert preset["overrides"] == {"seeds": 2, "per_seed": 10, "attributes": "given"}
    assert [preset["datasets"][n]["split"] for n in NAMES] == ["test", "test", "validation"]
    # 2 disjoint seeds × 10 per data set, 2 sides × 1 attribute, for llm and paraphrase
    for name in NAMES:
        samples = study["samples"][name]
        assert len(set().union(*samples.values())) == 20
    assert len(server.requests) == 3 * 20 * 2 * 2
    assert "OPENAI_API_KEY" not in (out / "study.json").read_text()


def test_preset_with_own_perturbers_needs_no_llm(tmp_path, capsys, sources):
    """--perturber replaces the preset's methods (recorded); --limit cuts each data set."""
    out = tmp_path / "own"
    argv = [
        "evaluate",
        "--preset",
        "paper",
        "--rm",
        "transparent",
        "--perturber",
        "rules",
        "--perturber",
        "random",
        *_data_flags(sources),
        "--limit",
        "12",
        "--seeds",
        "1",
        "--attributes",
        "verbosity",
        "--n-boot",
        "10",
        "--no-report",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    study = json.loads((out / "study.json").read_text())
    assert study["datasets"] == dict.fromkeys(NAMES, 12)
    assert list(study["perturbers"]) == ["rules", "random"]
    assert study["preset"]["methods"] == "given"
    assert study["preset"]["overrides"] == {
        "seeds": 1,
        "attributes": "given",
        "perturbers": "given",
    }
    assert all(d["limit"] == 12 for d in study["preset"]["datasets"].values())


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--preset", "paper"], "--preset paper needs --model: the attribute-aware LLM"),
        (
            ["--preset", "paper", "--perturber", "paraphrase"],
            "perturber 'paraphrase' needs --model",
        ),
        (
            ["--preset", "paper", "--model", "m", "--data", "mine=x.jsonl"],
            "--data is NAME=PATH with NAME one of hh-rlhf-helpful, hh-rlhf-harmless, helpsteer2",
        ),
        (
            ["--preset", "paper", "--model", "m", "--data", "helpsteer2=MISSING"],
            "cannot load split 'validation'",
        ),
        (
            [
                "--preset",
                "paper",
                "--model",
                "m",
                "--data",
                "helpsteer2=a",
                "--data",
                "helpsteer2=b",
            ],
            "two --data are both named 'helpsteer2'",
        ),
        ([], "--data and --perturber required (or --preset paper"),
        (["--perturber", "rules"], "--data required (or --preset paper"),
    ],
)
def test_preset_mistakes_exit_2_before_any_model_loads(tmp_path, capsys, sources, extra, needle):
    flags = [e.replace("MISSING", str(tmp_path / "missing")) for e in extra]
    if flags != extra:  # the other two data sets from local files, not the hub
        flags += _data_flags(sources)[:4]
    # the RM is a folder that does not exist: reaching it would be a different error
    argv = ["evaluate", "--rm", str(tmp_path / "no-such-rm"), "--out", str(tmp_path / "o"), *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rmx: error:") and needle in err[-1], err
    assert "Traceback" not in "\n".join(err)
    assert not (tmp_path / "o").exists()


def test_an_unknown_preset_is_refused_by_the_parser_listing_the_presets(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--preset", "nope", "--rm", "transparent", "--model", "m"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("rmx: error: evaluate: argument --preset: invalid choice: 'nope'")
    assert "paper" in err and "Traceback" not in err


def test_help_documents_the_preset_and_local_data(monkeypatch):
    from rmx_widgets.cli import build_parser

    monkeypatch.setenv("COLUMNS", "2000")  # no wrapping (it may break at hyphens)
    sub = build_parser()._subparsers._group_actions[0].choices["evaluate"]
    text = " ".join(sub.format_help().split())
    assert "--preset {paper}" in text and "5 x 30 disjoint comparisons" in text
    assert "NAME one of hh-rlhf-helpful, hh-rlhf-harmless, helpsteer2" in text
    assert "helpful-base/test.jsonl.gz" in text and "validation.jsonl.gz" in text
