"""``rmx attributes discover``: the file it writes is one ``--attributes-file`` accepts (fed
back to ``rmx explain``), and it refuses what the other commands refuse (foreign files without
--force, an output that is the input, bad flags) with one ``rmx: error:`` line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from fake_chat_server import FakeChatServer, say

from rmx_widgets.cli import main, options
from rmx_widgets.core.table_io import read_table


def q(name: str) -> dict[str, str]:
    return {
        "name": name,
        "definition": f"How much the response shows {name.lower()}.",
        "worse": f"Make it show less {name.lower()}.",
        "better": f"Make it show more {name.lower()}.",
    }


@pytest.fixture
def data(tmp_path) -> Path:
    rows = [
        {"prompt": f"Tell me about {m}.", "chosen": f"A full answer on {m}.", "rejected": "No."}
        for m in ("Q-ONE", "Q-TWO", "Q-THREE")
    ]
    f = tmp_path / "pairs.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


@pytest.fixture
def chat():
    with FakeChatServer() as s:
        s.script("Q-ONE", say([q("Formality"), q("Use of Examples")]) * 4)
        s.script("Q-TWO", say([q("formality"), q("Verbosity")]) * 4)
        s.script("Q-THREE", say([q("Formality"), q("use of example")]) * 4)
        yield s


def argv(data: Path, out: Path, server, *extra: str) -> list[str]:
    return [
        "attributes",
        "discover",
        "--data",
        str(data),
        "--model",
        "fake",
        "--base-url",
        server.url,
        "--out",
        str(out),
        *extra,
    ]


def run(args: list[str]) -> int:
    """``main``'s exit status, also for argparse's own exit on a bad flag."""
    try:
        return main(args)
    except SystemExit as e:
        return int(e.code or 0)


def one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rmx: error: "), err
    assert "Traceback" not in err[0]
    return err[0]


def test_the_written_file_is_an_attributes_file_explain_accepts(data, chat, tmp_path, capsys):
    out = tmp_path / "attrs" / "attributes.json"
    assert main(argv(data, out, chat, "--k", "2")) == 0
    printed = capsys.readouterr().out
    assert "Asked about 3 comparisons (0 unusable replies); 3 distinct" in printed
    assert "   3  formality" in printed and "   2  use-of-example" in printed
    written = json.loads(out.read_text())
    assert [a["name"] for a in written] == ["formality", "use-of-example"]
    assert set(written[0]) == {"name", "definition", "worse", "better"}
    # the loader behind --attributes-file
    ns = argparse.Namespace(attributes=None, attributes_file=str(out))
    assert [a.name for a in options.attributes(ns)] == ["formality", "use-of-example"]
    # and rmx explain itself
    run = tmp_path / "run"
    rc = main(
        [
            *("explain", "--data", str(data), "--rm", "transparent", "--out", str(run)),
            *("--attributes-file", str(out), "--no-report", "--null", "none"),
        ]
    )
    assert rc == 0
    table = read_table(run / "table.parquet")
    assert set(table["attribute"]) == {"formality", "use-of-example"}


def test_a_rerun_replaces_its_own_file_but_not_a_foreign_one(data, chat, tmp_path, capsys):
    out = tmp_path / "attributes.json"
    assert main(argv(data, out, chat)) == 0
    assert main(argv(data, out, chat)) == 0  # rmx wrote it: no --force needed
    foreign = tmp_path / "mine.json"
    foreign.write_text("[]\n")
    capsys.readouterr()
    n = len(chat.requests)
    assert main(argv(data, foreign, chat)) == 2
    assert "mine.json exists and was not written by rmx; pass --force" in one_error(capsys)
    assert len(chat.requests) == n  # refused before any request
    assert foreign.read_text() == "[]\n"
    assert main(argv(data, foreign, chat, "--force")) == 0
    assert json.loads(foreign.read_text())


def test_the_output_may_not_be_the_input(data, chat, capsys):
    before = data.read_bytes()
    assert main(argv(data, data, chat)) == 2
    assert "is the input" in one_error(capsys)
    assert data.read_bytes() == before


def test_no_usable_reply_writes_nothing(data, tmp_path, capsys):
    with FakeChatServer() as s:
        s.default = "malformed"
        out = tmp_path / "attributes.json"
        assert main([*argv(data, out, s)]) == 2
    assert "none of the 3 discovery replies was usable" in one_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, needle",
    [
        (("--k", "0"), "argument --k: expected a whole number of at least 1"),
        (("--sample", "-2"), "argument --sample"),
        (("--backend", "hf"), "--backend hf is not supported"),
    ],
)
def test_bad_flags_are_one_line(data, chat, tmp_path, capsys, extra, needle):
    assert run(argv(data, tmp_path / "a.json", chat, *extra)) == 2
    assert needle in one_error(capsys)
    assert not chat.requests and not (tmp_path / "a.json").exists()


def test_missing_model_is_one_line(data, tmp_path, capsys):
    rc = main(["attributes", "discover", "--data", str(data), "--out", str(tmp_path / "a.json")])
    assert rc == 2
    assert "needs --model" in one_error(capsys)
