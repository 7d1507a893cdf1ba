"""Outputs never destroy data: one run per output folder, atomic files, inputs never replaced,
files rmx did not write replaced only with --force (issue 12, data loss and corruption).

Real processes where it matters: two ``rmx demo`` into one folder at once, and a SIGKILLed run
whose lock must not block the next. The corpus's ``output`` cases (cases.json) run through
``rmx_widgets.cli.main`` in this process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets import errors
from rmx_widgets.cli import main
from rmx_widgets.core.outputs import LOCK_NAME, OutputLock, atomic_path, check_outputs

HERE = Path(__file__).parent / "bad_inputs"
CASES = [c for c in json.loads((HERE / "cases.json").read_text())["cases"] if c["kind"] == "output"]
ROOT = Path(__file__).resolve().parents[2]
DEMO = ["--attributes", "verbosity", "--null", "none", "--batch-size", "4"]


def _demo(out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "rmx_widgets.cli", "demo", "--out", str(out), *DEMO],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(out / "table.parquet"), pd.read_json(out / "table.jsonl", lines=True)


def _equal(a: Path, b: Path) -> None:
    for x, y in zip(_tables(a), _tables(b)):
        pd.testing.assert_frame_equal(x, y)


@pytest.fixture(scope="module")
def races(tmp_path_factory):
    """A clean demo run and two demo runs started together into one folder (all at once)."""
    root = tmp_path_factory.mktemp("race")
    procs = [_demo(root / "clean"), _demo(root / "same"), _demo(root / "same")]
    done = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    return root, done


def test_two_runs_into_one_folder_one_refuses(races):
    root, done = races
    assert done[0][0] == 0, done[0][2]
    codes = sorted(rc for rc, _, _ in done[1:])
    assert codes == [0, 2], done
    refused = next(err for rc, _, err in done[1:] if rc == 2)
    lines = refused.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused, refused
    assert re.fullmatch(
        r"rmx: error: \S+same is in use by another run \(pid \d+ on \S+ since [^)]+\); "
        r"wait for it or choose another --out\.",
        lines[0],
    ), lines[0]
    _equal(root / "same", root / "clean")  # the winner's files are whole and right
    assert not list((root / "same").glob("*.partial")) and not (root / "same" / LOCK_NAME).exists()


def test_a_killed_run_leaves_no_blocking_lock(races, tmp_path):
    root, _ = races
    out = tmp_path / "killed"
    proc = _demo(out)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until it holds the lock (its pid is written)
        lock = out / LOCK_NAME
        if lock.exists() and str(proc.pid) in lock.read_text(errors="replace"):
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the run never took its lock")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (out / LOCK_NAME).exists()  # the dead run's file stays, but binds nothing
    again = _demo(out)
    rc, _, err = again.wait(timeout=600), *again.communicate()
    assert rc == 0, err
    _equal(out, root / "clean")


def test_rerun_into_its_own_folder_needs_no_force(races):
    root, _ = races
    before = _tables(root / "clean")
    proc = _demo(root / "clean")
    assert proc.wait(timeout=600) == 0, proc.communicate()[1]
    for x, y in zip(before, _tables(root / "clean")):
        pd.testing.assert_frame_equal(x, y)


# -- in process: the lock, atomic files, the corpus's output cases -----------------------------


def test_lock_refuses_another_thread_and_nests_in_one(tmp_path):
    with OutputLock(tmp_path), OutputLock(tmp_path):  # the CLI around explain_to: nests
        seen = []

        def other():
            try:
                with OutputLock(tmp_path):
                    seen.append("got it")
            except errors.OutputBusyError as e:
                seen.append(str(e))

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert "in use by another run" in seen[0]
    assert not (tmp_path / LOCK_NAME).exists()
    with OutputLock(tmp_path):  # released: free again
        pass


def test_explain_to_refuses_a_locked_folder_and_writes_nothing(tmp_path):
    ex = rmx.Explainer(
        rmx.TransparentRewardModel(),
        rmx.RulePerturber(),
        attributes=["verbosity"],
        store=tmp_path / "s.sqlite",
        progress=False,
    )
    out = tmp_path / "out"
    done = threading.Event()
    held = threading.Event()

    def hold():
        with OutputLock(out):
            held.set()
            done.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(30)
    try:
        with pytest.raises(errors.OutputBusyError, match="in use by another run"):
            ex.explain_to(rmx.sample_comparisons()[:2], out)
    finally:
        done.set()
        t.join()
    assert sorted(p.name for p in out.iterdir()) == []


def test_atomic_path_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def fail() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        fail()
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_check_outputs_resolves_symlinks(tmp_path):
    (tmp_path / "a").write_text("x")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(errors.OutputError, match="is the input"):
        check_outputs([tmp_path / "a"], [tmp_path / "b"])
    check_outputs([tmp_path / "a"], [tmp_path / "c"])


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "table.parquet"
    ex = rmx.Explainer(
        rmx.TransparentRewardModel(), rmx.RulePerturber(), attributes=["verbosity"], progress=False
    )
    ex.explain(rmx.sample_comparisons()[:3]).table.to_parquet(path)
    return path


def _setup(case: dict, tmp: Path, table_file: Path) -> None:
    for name, what in case["setup"].items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if what == "@table":
            path.write_bytes(table_file.read_bytes())
        elif what == "@valid":
            path.write_bytes((HERE / "data" / "valid_pairs.jsonl").read_bytes())
        elif what.startswith("@link:"):
            path.symlink_to(tmp / what.removeprefix("@link:"))
        else:
            path.write_text(what)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_output_case(case, tmp_path, table_file, capsys):
    _setup(case, tmp_path, table_file)
    before = {n: (tmp_path / n).read_bytes() for n in case["unchanged"]}
    files_before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    argv = [
        str(HERE / "data" / "valid_pairs.jsonl") if a == "@valid" else a.format(tmp=tmp_path)
        for a in case["argv"]
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rmx: error:"), err
    assert re.search(case["match"], err[0]), err[0]
    assert issubclass(getattr(errors, case["error"]), errors.OutputError)
    for name, data in before.items():  # byte for byte
        assert (tmp_path / name).read_bytes() == data, name
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == files_before
    if "--force" not in argv and "not written by rmx" in case["match"]:  # --force replaces it
        assert main([*argv, "--force"]) == 0
        changed = [n for n in before if (tmp_path / n).read_bytes() != before[n]]
        assert changed == list(before)
        assert (
            b'<meta name="generator" content="rmx-widgets">'
            in (tmp_path / case["unchanged"][0]).read_bytes()
        )
