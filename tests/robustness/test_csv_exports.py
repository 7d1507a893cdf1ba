"""CSV exports never write a cell a spreadsheet would run as a formula: every writer (the
explanation's originals and sensitivity, a study's tables, the annotator's export, the CLI) goes
through ``csv_io.write_csv``, which prefixes text starting with = + - @ tab or CR with a single
quote (OWASP); numbers are written unchanged. Each file is read back with the csv module."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.csv_io import FORMULA_START, escape_frame, spreadsheet_safe

HOSTILE = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=x", "\r=x", '=HYPERLINK("http://evil")']


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _assert_safe(path: Path) -> list[dict[str, str]]:
    """No cell of ``path`` starts a formula, unless it is a number (``-0.5``)."""
    rows = _rows(path)
    for r in rows:
        for v in list(r) + list(r.values()):
            if v and v.startswith(FORMULA_START):
                float(v)  # only a number may start with '-' (or '+')
    return rows


def test_spreadsheet_safe():
    for text in HOSTILE:
        assert spreadsheet_safe(text) == "'" + text
    for value in ("plain", "", "a=b", "'=already", -1.5, 3, None, True):
        assert spreadsheet_safe(value) == value
    frame = pd.DataFrame({"id": ["=x", "ok"], "score": [-1.0, 2.0], "n": [-3, 4]})
    out = escape_frame(frame)
    assert out["id"].tolist() == ["'=x", "ok"] and out["score"].tolist() == [-1.0, 2.0]
    assert out["n"].tolist() == [-3, 4] and frame["id"].tolist() == ["=x", "ok"]  # a copy


def _comparisons() -> list[rmx.Comparison]:
    return [
        rmx.Comparison(id=cid, prompt="Why?", response_a=f"Because {i} reasons.", response_b="No.")
        for i, cid in enumerate(HOSTILE)
    ]


def _rm(prompts, responses):
    return [len(r) / 10 - 5 for r in responses]  # negative scores: numbers starting with '-'


def _perturb(prompt, response, attribute, direction):
    return f"{response} Now a much longer reply, with many more words than any before."


def test_explanation_originals_and_sensitivity(tmp_path):
    ex = rmx.Explainer(_rm, _perturb, attributes=["verbosity"], progress=False)
    res = ex.explain(_comparisons())
    res.save(tmp_path / "out", report=False)
    originals = _assert_safe(tmp_path / "out" / "originals.csv")
    assert sorted(r["comparison_id"] for r in originals) == sorted("'" + h for h in HOSTILE)
    numbers = [float(v) for r in originals for k, v in r.items() if k.startswith("reward")]
    assert numbers and min(numbers) < 0  # negative scores written as numbers, no quote
    _assert_safe(tmp_path / "out" / "sensitivity.csv")


def test_study_tables(tmp_path):
    from rmx_widgets.core.study.result import STUDY_CSVS, StudyResult

    frames = {
        name: pd.DataFrame({"dataset": ["=evil", "ok"], "value": [-0.5, 1.0]})
        for name in STUDY_CSVS
    }
    study = StudyResult(
        per_comparison=pd.DataFrame({"x": [1]}),
        tables={},
        skipped={},
        config={"datasets": ["=evil"], "rms": ["rm"]},
        **frames,
    )
    paths = study.save(tmp_path / "study", report=False)
    for name in STUDY_CSVS:
        rows = _assert_safe(paths[name])
        assert [r["dataset"] for r in rows] == ["'=evil", "ok"]
        assert [float(r["value"]) for r in rows] == [-0.5, 1.0]


def test_annotator_export(tmp_path):
    from widget_inputs import ATTRS, COMPS, perturb, rm

    from rmx_widgets.widgets.annotator import Annotator

    comps = [{**c, "id": f"{HOSTILE[i % len(HOSTILE)]}{i}"} for i, c in enumerate(COMPS)]
    res = rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False).explain(comps)
    ann = Annotator(res, tmp_path / "s.sqlite", k=3, export_dir=tmp_path)
    cid = ann.examples[0]["comparison_id"]
    ann.save(cid, ["@tag", "ok"], '=HYPERLINK("http://evil","click")')
    path = ann.export(tmp_path / "a.csv")
    rows = _assert_safe(path)
    row = next(r for r in rows if r["comparison_id"] == "'" + cid)
    assert row["note"] == '\'=HYPERLINK("http://evil","click")' and row["tags"] == "'@tag;ok"
    assert float(row["score"]) == next(
        e["score"] for e in ann.examples if e["comparison_id"] == cid
    )
    # the JSONL export is data, not a spreadsheet: nothing is escaped there
    jl = ann.export(tmp_path / "a.jsonl")
    rec = next(
        json.loads(x) for x in jl.read_text().splitlines() if json.loads(x)["comparison_id"] == cid
    )
    assert rec["note"].startswith("=HYPERLINK") and rec["tags"] == ["@tag", "ok"]


def test_cli_explain_outputs(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": h, "prompt": "Why?", "chosen": f"Because {i}.", "rejected": "No."})
            + "\n"
            for i, h in enumerate(HOSTILE)
        )
    )
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rmx_widgets.cli",
            "explain",
            "--data",
            str(data),
            "--rm",
            "transparent",
        ]
        + ["--attributes", "verbosity", "--null", "none", "--out", str(out), "--no-report"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    rows = _assert_safe(out / "originals.csv")
    assert sorted(r["comparison_id"] for r in rows) == sorted("'" + h for h in HOSTILE)
    _assert_safe(out / "sensitivity.csv")
    # the quote is not stripped when such a file is loaded back: ids keep it
    assert {c.id for c in rmx.load_comparisons(data)} == set(HOSTILE)


@pytest.mark.parametrize("text", HOSTILE)
def test_round_trip_keeps_the_quote(tmp_path, text):
    """Exported text reads back (csv module, pandas, the loader) as ``'`` + the original."""
    path = tmp_path / "x.csv"
    from rmx_widgets.core.csv_io import write_csv

    write_csv(pd.DataFrame({"prompt": ["q"], "chosen": [text + " a"], "rejected": ["b"]}), path)
    assert _rows(path)[0]["chosen"] == "'" + text + " a"
    assert rmx.load_comparisons(path)[0].response_a == "'" + text + " a"
