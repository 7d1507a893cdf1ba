"""The CSV loader reads every cell as text (only the prompt may be a chat prompt, by one rule),
refuses duplicated headers, accepts large cells; every file format is refused before it is read
when it is over the input-size limit (tested with sparse files: nothing is really written)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.input_files import DEFAULT_MAX_INPUT_BYTES, MAX_INPUT_ENV
from rmx_widgets.errors import DataError, OptionError

MT = [{"role": "user", "content": "Hi"}]


def _csv(path: Path, header: list[str], *rows: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_duplicated_header_is_refused_naming_file_and_header(tmp_path):
    path = _csv(
        tmp_path / "d.csv", ["prompt", "chosen", "rejected", "chosen"], ["q", "a", "b", "c"]
    )
    with pytest.raises(DataError) as info:
        rmx.load_comparisons(path)
    e = info.value
    assert str(e).startswith(f"{path}, row 1, field 'chosen': has the header 'chosen' twice")
    assert "(columns 2 and 4)" in str(e) and (e.row, e.field) == (1, "chosen")


def test_a_cell_over_128_kb_is_accepted_and_the_csv_limit_restored(tmp_path):
    big = "word " * 60_000  # 300 KB, over the csv module's 131072-character default
    path = _csv(tmp_path / "big.csv", ["prompt", "chosen", "rejected"], ["q", big, "b"])
    before = csv.field_size_limit()
    assert rmx.load_comparisons(path)[0].response_a == big
    assert csv.field_size_limit() == before  # process-wide state is left as it was


@pytest.mark.parametrize(
    "cell",
    [
        '[{"a": 1}]',
        '[{"role": "user", "content": "x"}]',  # a response is text even when message-shaped
        "[{not json}]",
        "  [ {",
    ],
)
def test_a_response_cell_is_always_text(tmp_path, cell):
    path = _csv(
        tmp_path / "r.csv", ["prompt", "chosen", "rejected", "note"], ["q", cell, cell, cell]
    )
    c = rmx.load_comparisons(path)[0]
    assert (c.response_a, c.response_b, c.metadata["note"]) == (cell, cell, cell)


def test_the_prompt_cell_rule(tmp_path):
    rows = [
        [json.dumps(MT), "a", "b"],  # a JSON array of message objects: a chat prompt
        ["  " + json.dumps(MT) + "\n", "c", "d"],  # surrounding whitespace is allowed
        ["[1, 2] and [{x}] what are these?", "e", "f"],  # not an array of objects: text
        ['[{"a": 1}] is JSON; explain it', "g", "h"],  # does not end with ']': text
    ]
    comps = rmx.load_comparisons(_csv(tmp_path / "p.csv", ["prompt", "chosen", "rejected"], *rows))
    assert [c.prompt for c in comps] == [MT, MT, rows[2][0], rows[3][0]]
    # the rule follows the prompt column wherever a mapping puts it
    mapped = _csv(tmp_path / "m.csv", ["question", "good", "bad"], [json.dumps(MT), "a", "b"])
    got = rmx.load_comparisons(
        mapped, mapping={"prompt": "question", "chosen": "good", "rejected": "bad"}
    )
    assert got[0].prompt == MT


@pytest.mark.parametrize(
    "cell, match",
    [
        (
            '[{"role": "user", "content": "hi"]',
            r"looks like a JSON list of chat messages .* is not valid JSON",
        ),
        ('[{"role": "user"}]', r"message 0 must be an object with 'role' and 'content'"),
        ('[{"role": "robot", "content": "hi"}]', r"message 0 has role 'robot'"),
    ],
)
def test_a_message_shaped_prompt_must_be_valid(tmp_path, cell, match):
    path = _csv(
        tmp_path / "p.csv", ["prompt", "chosen", "rejected"], ["ok", "a", "b"], [cell, "a", "b"]
    )
    with pytest.raises(DataError, match=match) as info:
        rmx.load_comparisons(path)
    assert str(info.value).startswith(f"{path}, row 3, field 'prompt': ")


def test_short_and_long_rows_and_blank_lines(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("prompt,chosen,rejected,id\nq,a,b\n\nq2,c,d,x\n", encoding="utf-8")
    comps = rmx.load_comparisons(path)  # a short row's missing id is generated, as before
    assert [c.response_a for c in comps] == ["a", "c"] and comps[1].id == "x"
    path.write_text("prompt,chosen,rejected\nq,a,b\nq,a,b,c\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 3: has 1 more cell\(s\) than the header"):
        rmx.load_comparisons(path)


def test_a_formula_quote_is_not_stripped_on_load(tmp_path):
    """What rmx's CSV exports write (``'=x``) loads back as written: the loader keeps it."""
    path = _csv(
        tmp_path / "q.csv", ["prompt", "chosen", "rejected", "id"], ["q", "'=1+1", "b", "'-7"]
    )
    c = rmx.load_comparisons(path)[0]
    assert (c.response_a, c.id) == ("'=1+1", "'-7")


# -- the input-size limit --------------------------------------------------------------------

SPARSE = DEFAULT_MAX_INPUT_BYTES + 2**20  # a hole: no data is written, no disk is used


@pytest.mark.parametrize("name", ["big.jsonl", "big.ndjson", "big.json", "big.csv", "big.parquet"])
def test_every_format_over_the_limit_is_refused_before_reading(tmp_path, name):
    path = tmp_path / name
    with path.open("wb") as f:
        f.truncate(SPARSE)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            rmx.load_comparisons(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        f"{path}: is 513 MiB, over the input-size limit of 512 MiB; split the file, or raise "
        f"the limit with load_comparisons(..., max_bytes=N) or {MAX_INPUT_ENV}=N (MiB)."
    )
    assert peak < 2**20  # nothing of the file was read


def test_the_limit_is_configurable(tmp_path, monkeypatch):
    path = _csv(tmp_path / "ok.csv", ["prompt", "chosen", "rejected"], ["q", "a", "b"])
    size = path.stat().st_size
    assert len(rmx.load_comparisons(path, max_bytes=size)) == 1
    with pytest.raises(
        DataError, match=f"is {size} bytes, over the input-size limit of {size - 1} bytes"
    ):
        rmx.load_comparisons(path, max_bytes=size - 1)
    monkeypatch.setenv(MAX_INPUT_ENV, "0.00001")  # 10 bytes
    with pytest.raises(DataError, match="over the input-size limit of 10 bytes"):
        rmx.load_comparisons(path)
    assert len(rmx.load_comparisons(path, max_bytes=size)) == 1  # the keyword wins
    for bad in ("abc", "0", "-5", "nan", "inf"):
        monkeypatch.setenv(MAX_INPUT_ENV, bad)
        with pytest.raises(OptionError, match=f"{MAX_INPUT_ENV} must be a positive number of MiB"):
            rmx.load_comparisons(path)
    monkeypatch.delenv(MAX_INPUT_ENV)
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(OptionError, match="max_bytes must be a whole number >= 1"):
            rmx.load_comparisons(path, max_bytes=bad)


def test_parquet_is_checked_by_its_uncompressed_size(tmp_path):
    path = tmp_path / "z.parquet"
    pd.DataFrame(
        {
            "prompt": ["q"] * 2000,
            "chosen": [f"{i} " + "x" * 1000 for i in range(2000)],  # distinct: no dictionary
            "rejected": ["b"] * 2000,
        }
    ).to_parquet(path, compression="zstd", index=False)
    small = path.stat().st_size
    assert small < 200_000  # 2 MB of text compresses to almost nothing
    with pytest.raises(
        DataError, match=r"holds .* of uncompressed data, over the input-size limit of 1 MiB"
    ):
        rmx.load_comparisons(path, max_bytes=2**20)
    with pytest.raises(DataError, match="no such file"):
        rmx.load_comparisons(tmp_path / "missing.parquet")


def test_jsonl_is_read_line_by_line_with_true_line_numbers(tmp_path):
    path = tmp_path / "l.jsonl"
    good = json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"})
    path.write_bytes(
        b"\xef\xbb\xbf" + good.encode() + b"\n\n" + b'{"prompt": "caf\xc3(", "x": 1}\n'
    )
    with pytest.raises(DataError, match=r"row 3: is not valid UTF-8 \(byte 67\)"):
        rmx.load_comparisons(path)
    path.write_bytes(
        b"\xef\xbb\xbf" + good.encode() + b"\r\n\n" + good.replace('"a"', '"c"').encode()
    )
    assert [c.response_a for c in rmx.load_comparisons(path)] == ["a", "c"]


def test_cli_refuses_an_input_over_the_limit(tmp_path):
    data = tmp_path / "huge.csv"
    with data.open("wb") as f:
        f.truncate(SPARSE)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", MAX_INPUT_ENV)}
    argv = [
        sys.executable,
        "-m",
        "rmx_widgets.cli",
        "explain",
        "--data",
        str(data),
        "--rm",
        "transparent",
    ]
    argv += ["--attributes", "verbosity", "--out", str(out), "--no-report"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"rmx: error: {data}: is 513 MiB, over the input-size limit of 512 MiB; split the file, "
        f"or raise the limit with load_comparisons(..., max_bytes=N) or {MAX_INPUT_ENV}=N (MiB)."
    ]
    assert not out.exists()
    env[MAX_INPUT_ENV] = "1024"
    small = _csv(tmp_path / "ok.csv", ["prompt", "chosen", "rejected"], ["q", "a", "b"])
    env[MAX_INPUT_ENV] = "bad"
    argv[argv.index(str(data))] = str(small)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"rmx: error: {MAX_INPUT_ENV} must be a positive number of MiB, got 'bad'; unset it for "
        "the default (512 MiB)."
    ]
