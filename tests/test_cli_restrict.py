"""``rmx explain --restrict all|agree|disagree``."""

import json

import pandas as pd
import pytest

from rmx_widgets.cli import main

# the default transparent RM prefers the helpful answer over the refusal in both pairs
PAIRS = [
    {
        "prompt": "How do I boil an egg?",
        "chosen": "Boil water, add the egg and cook it for nine minutes.",
        "rejected": "I'm sorry, but I can't help with that.",
    },
    {
        "prompt": "How do I make tea?",
        "chosen": "I'm sorry, but I can't help with that.",
        "rejected": "Boil water, pour it over the tea leaves and wait three minutes.",
    },
]


def _write(path, records):
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def _explain(tmp_path, data, restrict, out="o"):
    argv = ["explain", "--data", str(data), "--rm", "transparent", "--perturber", "rules"]
    argv += ["--attributes", "manner", "--out", str(tmp_path / out), "--no-report"]
    return main(argv + (["--restrict", restrict] if restrict else []))


def test_restrict_agree_and_disagree_split_the_comparisons(tmp_path, capsys):
    data = _write(tmp_path / "pairs.jsonl", PAIRS)
    assert _explain(tmp_path, data, None, "all") == 0
    originals = pd.read_csv(tmp_path / "all" / "originals.csv")
    # pair 1: the human chose the answer, so did the RM; pair 2: the human chose the refusal
    assert originals["human_preferred"].tolist() == ["a", "a"]
    assert originals["rm_agrees_with_human"].tolist() == [True, False]
    ids = originals["comparison_id"].tolist()
    for restrict, kept in (("agree", ids[:1]), ("disagree", ids[1:])):
        assert _explain(tmp_path, data, restrict, restrict) == 0
        t = pd.read_parquet(tmp_path / restrict / "table.parquet")
        assert sorted(pd.unique(t["comparison_id"])) == kept
        summary = json.loads((tmp_path / restrict / "summary.json").read_text())
        assert summary["run_skipped_by_restrict"] == 1
        assert "1 left out by --restrict" in capsys.readouterr().out


def test_restrict_without_human_labels_exits_2_before_any_model_loads(tmp_path, capsys):
    unlabelled = [
        {"prompt": p["prompt"], "response_a": p["chosen"], "response_b": p["rejected"]}
        for p in PAIRS
    ]
    data = _write(tmp_path / "ab.jsonl", unlabelled)
    assert _explain(tmp_path, data, "agree") == 2
    err = capsys.readouterr().err
    assert "2 of 2 comparison(s) have no human label" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses an unknown choice
        _explain(tmp_path, data, "bogus")
    assert exit_info.value.code == 2 and "invalid choice: 'bogus'" in capsys.readouterr().err
