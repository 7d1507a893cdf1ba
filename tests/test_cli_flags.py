"""Numeric flags, ``rmx report`` on files that are not tables, and attributes files: every
user mistake is one ``rmx: error:`` line and exit 2, before any store or output is created."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from rmx_widgets import errors
from rmx_widgets.cli import main
from rmx_widgets.core.attributes import resolve_attributes

SAMPLES = str(Path(__file__).parent / "robustness" / "bad_inputs" / "data" / "valid_pairs.jsonl")

# flag -> the subcommands that take it
FLAGS = {
    "--limit": ("explain", "evaluate"),
    "--batch-size": ("demo", "explain", "evaluate"),
    "--concurrency": ("explain", "evaluate"),
    "--max-length": ("explain", "evaluate"),
    "--seeds": ("evaluate",),
    "--per-seed": ("evaluate",),
    "--k": ("evaluate",),
    "--n-boot": ("evaluate",),
}
BAD = ("0", "-1", "-100", "abc", "1.5", "", "1e3")
CASES = [(cmd, flag, v) for flag, cmds in FLAGS.items() for cmd in cmds for v in BAD]


def _argv(command: str, out: Path) -> list[str]:
    argv = [command, "--out", str(out)]
    if command != "demo":
        argv += ["--data", SAMPLES, "--rm", "transparent", "--no-report"]
        argv += ["--store", str(out.parent / "store.sqlite")]
    if command == "evaluate":
        argv += ["--perturber", "rules"]
    return argv


@pytest.mark.parametrize("command, flag, value", CASES)
def test_bad_numeric_flag_is_one_line_exit_2_and_writes_nothing(
    command, flag, value, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # rmx demo's default folders would land here
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main([*_argv(command, out), f"{flag}={value}"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"rmx: error: {command}: argument {flag}: expected a whole number")
    assert f"(see rmx {command} -h)" in lines[0]
    assert list(tmp_path.iterdir()) == []  # no store, no output folder


def test_concurrency_has_an_upper_bound(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([*_argv("explain", tmp_path / "o"), "--concurrency", "100000"])
    assert "at most 1024, got 100000" in capsys.readouterr().err


def test_every_numeric_flag_documents_its_range():
    import argparse

    from rmx_widgets.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for flag, commands in FLAGS.items():
        for command in commands:
            action = next(a for a in sub.choices[command]._actions if flag in a.option_strings)
            assert "at least 1" in action.help or "1 to" in action.help or ">= 1" in action.help


def test_other_usage_errors_are_one_line_too():
    proc = subprocess.run(
        [sys.executable, "-m", "rmx_widgets.cli", "explain", "--rm", "x\x1b[31m"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("rmx: error: explain: the following arguments are required")
    assert len(proc.stderr.strip().splitlines()) == 1 and "usage:" not in proc.stderr
    assert "\x1b" not in proc.stderr


def test_limit_one_explains_one_comparison(tmp_path, capsys):
    out = tmp_path / "o"
    assert main([*_argv("explain", out), "--limit", "1", "--attributes", "verbosity"]) == 0
    assert json.loads((out / "summary.json").read_text())["comparisons"] == 1


def test_explainer_batch_size_is_an_rmx_error_and_opens_no_store(tmp_path):
    import rmx_widgets as rmx

    for bad in (0, -3, 1.5, "8", True):
        with pytest.raises(errors.OptionError, match="batch_size must be a whole number"):
            rmx.Explainer(
                rmx.TransparentRewardModel(),
                rmx.RulePerturber(),
                store=tmp_path / "s.sqlite",
                batch_size=bad,
            )
    assert issubclass(errors.OptionError, ValueError)  # what it raised before
    assert not (tmp_path / "s.sqlite").exists()


# -- attributes files ----------------------------------------------------------------------


def test_misspelled_attribute_key_is_refused_naming_it():
    spec = [{"name": "formality", "definition": "How formal the response is.", "betterr": "x"}]
    with pytest.raises(errors.AttributeSpecError, match="'betterr'. Did you mean 'better'"):
        resolve_attributes(spec)


@pytest.mark.parametrize("key", ["worse", "better"])
@pytest.mark.parametrize("value", [3, None, ["a"], {"a": 1}])
def test_non_string_direction_text_is_refused(key, value):
    spec = [{"name": "formality", "definition": "How formal the response is.", key: value}]
    with pytest.raises(errors.AttributeSpecError, match=f"'{key}' must be a string"):
        resolve_attributes(spec)


def test_redefining_a_builtin_warns_that_the_rules_ignore_it(tmp_path, capsys):
    spec = [{"name": "verbosity", "definition": "My own idea of how long-winded it is."}]
    with pytest.warns(UserWarning, match="redefines the built-in attribute"):
        assert resolve_attributes(spec)[0].definition.startswith("My own")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the built-in's own definition is not a redefinition
        from rmx_widgets.core.attributes import get_attribute

        v = get_attribute("verbosity")
        resolve_attributes(
            [{"name": v.name, "definition": v.definition, "worse": v.worse, "better": v.better}]
        )
    f = tmp_path / "attrs.json"
    f.write_text(json.dumps(spec))
    out = tmp_path / "o"
    assert main([*_argv("explain", out), "--attributes-file", str(f)]) == 0
    err = capsys.readouterr().err
    assert err.count("rmx: warning: attribute 'verbosity' redefines the built-in") == 1


# -- rmx report ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("table.csv", b"a,b\n1,2\n", "is not a saved explanation table"),
        ("table.parquet", b"PAR1 not really PAR1", "cannot be read as Parquet"),
        ("table.jsonl", b"{not json\n", "cannot be read as JSON lines"),
        ("table.jsonl", b'{"a": 1}\n', "is not an explanation table"),
    ],
)
def test_report_of_a_file_that_is_not_a_table(tmp_path, capsys, name, content, needle):
    src = tmp_path / name
    src.write_bytes(content)
    html = tmp_path / "r" / "report.html"
    assert main(["report", "--table", str(src), "--out", str(html)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rmx: error: {src}: ") and needle in err
    assert len(err.strip().splitlines()) == 1 and not html.parent.exists()
