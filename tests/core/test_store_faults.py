"""Disk and file faults of the store: a full disk and a corrupted file are one ``StoreError``
line naming the file and what to do (exit 2 in the CLI), never an ``sqlite3`` traceback; a full
disk rolls the failed write back and leaves no claim behind, and a rerun with room resumes.

The full disk is simulated portably with SQLite's own limit (``PRAGMA max_page_count`` on the
store's connection: the real ``SQLITE_FULL`` error path), and for real on a small tmpfs when
this process may mount one (root); that test is skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import rmx_widgets as rmx
from rmx_widgets import errors
from rmx_widgets.cli import main
from rmx_widgets.core import store as store_module
from rmx_widgets.core.store import Store
from rmx_widgets.core.store_faults import sqlite_fault

ATTRS = ["verbosity", "manner"]
DEMO = ["demo", "--attributes", "verbosity", "--null", "none", "--out"]
FULL = (
    r"is full: no space is left on its disk \(database or disk is full\); the failed write "
    "was rolled back"
)
CORRUPT = r"is corrupt: .*; move it away or delete it to start a fresh cache"


def cap_pages(monkeypatch, extra: int) -> None:
    """Every store opened from now on may grow by ``extra`` pages only (per connection)."""
    original = Store.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self.path is not None:
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            self._db.execute(f"PRAGMA max_page_count = {pages + extra}")

    monkeypatch.setattr(Store, "__init__", init)


def _explainer(path: Path) -> rmx.Explainer:
    return rmx.Explainer(
        rmx.TransparentRewardModel(),
        rmx.RulePerturber(),
        attributes=ATTRS,
        store=path,
        batch_size=2,
        progress=False,
    )


def _state(path: Path) -> tuple[dict[str, int], int, str]:
    s = Store(path)
    try:
        return s.counts(), s.open_claims(), s.integrity_check()
    finally:
        s.close()


def test_full_store_through_the_engine_rolls_back_releases_and_resumes(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    comps = rmx.sample_comparisons()[:12]
    clean = _explainer(tmp_path / "clean.sqlite").explain(comps)
    cap_pages(monkeypatch, 4)
    ex = _explainer(path)
    with pytest.raises(errors.StoreError, match=FULL) as info:
        ex.explain(comps)
    message = str(info.value)
    assert message.startswith(f"store {path} is full") and "\n" not in message
    assert "claim(s) released" in message
    assert ex.store.open_claims() == 0  # released in this process too, not only on exit
    counts, claims, integrity = _state(path)
    assert claims == 0 and integrity == "ok"
    assert counts["scores"] > 0  # what landed before the disk filled is kept
    monkeypatch.undo()  # room again
    again = _explainer(path).explain(comps)
    assert again.stats.scores_cached >= counts["scores"]  # resumed, not recomputed
    assert again.stats.perturbations_cached >= counts["perturbations"]
    assert len(again.table) == len(clean.table)
    assert _state(path)[1] == 0


def test_full_store_in_the_cli_is_one_line_exit_2_and_a_rerun_finishes(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "o"
    cap_pages(monkeypatch, 4)
    assert main([*DEMO, str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"rmx: error: store {out / 'store.sqlite'} "), err
    assert "Traceback" not in err[0]
    assert not (out / "table.parquet").exists() and not (out / "summary.json").exists()
    _, claims, integrity = _state(out / "store.sqlite")
    assert claims == 0 and integrity == "ok"
    monkeypatch.undo()
    assert main([*DEMO, str(out)]) == 0
    assert (out / "table.parquet").exists()
    assert _state(out / "store.sqlite")[1] == 0


def test_a_failed_commit_is_rolled_back_and_the_store_stays_usable(tmp_path):
    """COMMIT itself can fail on a full disk (the journal is written then); the transaction
    must not stay open, or every later write would fail with 'within a transaction'."""
    s = Store(tmp_path / "s.sqlite")
    pages = s._db.execute("PRAGMA page_count").fetchone()[0]
    s._db.execute(f"PRAGMA max_page_count = {pages}")
    rows = [(f"k{i}", "rm", float(i)) for i in range(2000)]
    with pytest.raises(errors.StoreError, match=FULL):
        s.put_scores(rows)
    assert not s._db.in_transaction
    s._db.execute("PRAGMA max_page_count = 1000000")
    s.put_scores(rows)
    assert s.counts()["scores"] == 2000


@contextlib.contextmanager
def _tmpfs(size: str):
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where = Path(f"/tmp/rmx-tmpfs-{uuid.uuid4().hex[:8]}")
    where.mkdir()
    try:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        try:
            yield where
        finally:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)
    finally:
        with contextlib.suppress(OSError):
            where.rmdir()


def _fill(where: Path, leave: int) -> Path:
    """Fill the filesystem at ``where`` up to ``leave`` free bytes."""
    st = os.statvfs(where)
    free = st.f_bavail * st.f_frsize
    ballast = where / "ballast"
    ballast.write_bytes(b"\0" * max(0, free - leave))
    return ballast


def test_a_really_full_disk_gives_one_line_and_a_rerun_with_room_finishes(tmp_path):
    """The store on a 4 MB tmpfs with 48 KB left: a real ENOSPC on the store and its WAL."""
    data = tmp_path / "pairs.jsonl"
    import json

    with data.open("w") as f:
        for i, c in enumerate(rmx.sample_comparisons()[:12]):
            f.write(
                json.dumps(
                    {
                        "id": f"c{i}",
                        "prompt": c.prompt,
                        "chosen": c.response_a,
                        "rejected": c.response_b,
                    }
                )
                + "\n"
            )
    with _tmpfs("4m") as disk:
        store = disk / "s.sqlite"
        argv = [
            sys.executable,
            "-m",
            "rmx_widgets.cli",
            "explain",
            "--data",
            str(data),
            "--rm",
            "transparent",
            "--attributes",
            ",".join(ATTRS),
            "--null",
            "none",
            "--batch-size",
            "2",
            "--no-report",
            "--store",
            str(store),
        ]
        ballast = _fill(disk, 48 * 1024)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.run(
            [*argv, "--out", str(tmp_path / "o1")],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        print(f"\n[tmpfs full] exit {proc.returncode}: {proc.stderr.strip()}")
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"rmx: error: store {store} is full")
        assert not (tmp_path / "o1" / "table.parquet").exists()
        with contextlib.suppress(sqlite3.Error):  # what the failed run left (read only)
            db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
            left = db.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
            print(f"[tmpfs full] {left} claim(s) left, owned by the exited run (taken over)")
            db.close()
        ballast.unlink()  # room again
        proc = subprocess.run(
            [*argv, "--out", str(tmp_path / "o2")],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        counts, claims, integrity = _state(store)
        assert claims == 0 and integrity == "ok" and counts["scores"] > 0
        assert (tmp_path / "o2" / "table.parquet").exists()


# -- a store corrupted in the middle ----------------------------------------------------------


def _corrupt_store(path: Path) -> bytes:
    """A real store (a full small run), closed (WAL checkpointed away), with the middle third
    of the file overwritten with random bytes; returns the corrupted bytes."""
    ex = _explainer(path)
    ex.explain(rmx.sample_comparisons()[:12])
    ex.store.close()  # the last connection checkpoints the WAL into the file
    for extra in ("-wal", "-shm"):
        assert not Path(f"{path}{extra}").exists() or Path(f"{path}{extra}").stat().st_size == 0
    data = bytearray(path.read_bytes())
    a, b = len(data) // 3, 2 * len(data) // 3
    data[a:b] = random.Random(0).randbytes(b - a)
    path.write_bytes(bytes(data))
    return bytes(data)


def test_a_store_corrupted_mid_file_is_refused_at_open_untouched(tmp_path):
    path = tmp_path / "s.sqlite"
    before = _corrupt_store(path)
    with pytest.raises(errors.StoreError, match=CORRUPT) as info:
        Store(path)
    assert str(info.value).startswith(f"store {path} is corrupt: ")
    assert path.read_bytes() == before


def test_corruption_hit_later_is_the_same_one_line_error(tmp_path, monkeypatch, capsys):
    """A store over the open check's size limit (here: the limit lowered to 0) is opened; its
    damage is reported when a read or write reaches it."""
    path = tmp_path / "s.sqlite"
    _corrupt_store(path)
    monkeypatch.setattr(store_module, "QUICK_CHECK_MAX_BYTES", 0)
    with pytest.raises(errors.StoreError, match=CORRUPT) as info:
        _explainer(path).explain(rmx.sample_comparisons()[:12])
    assert str(info.value).startswith(f"store {path} is corrupt: ")
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"prompt": "p", "chosen": "a b c d", "rejected": "c"}\n')
    argv = ["explain", "--data", str(data), "--rm", "transparent", "--out", str(tmp_path / "o")]
    assert main([*argv, "--store", str(path), "--no-report", "--null", "none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"rmx: error: store {path} is corrupt: "), err


def test_the_open_check_costs_little(tmp_path):
    """``PRAGMA quick_check`` at open: measured, and bounded to stores up to 256 MiB."""
    import time

    path = tmp_path / "s.sqlite"
    s = Store(path)
    s.put_scores([(f"{i:064d}", "rm:v1", float(i)) for i in range(10_000)])
    s.close()
    start = time.perf_counter()
    Store(path).close()
    took = time.perf_counter() - start
    print(
        f"\n[quick_check] open of a 10k-score store ({path.stat().st_size} B): {took * 1e3:.1f} ms"
    )
    assert took < 2.0
    assert store_module.QUICK_CHECK_MAX_BYTES == 256 * 2**20


def test_sqlite_fault_kinds():
    def err(cls, msg, name=None):
        e = cls(msg)
        if name:
            e.sqlite_errorname = name
        return e

    assert sqlite_fault(err(sqlite3.OperationalError, "database or disk is full")) == "full"
    assert sqlite_fault(err(sqlite3.DatabaseError, "database disk image is malformed")) == "corrupt"
    assert sqlite_fault(err(sqlite3.DatabaseError, "file is not a database")) == "notadb"
    assert sqlite_fault(err(sqlite3.OperationalError, "disk I/O error")) == "io"
    assert sqlite_fault(err(sqlite3.OperationalError, "x", "SQLITE_IOERR_WRITE")) == "io"
    assert sqlite_fault(err(sqlite3.OperationalError, "no such table: nope")) is None
    assert sqlite_fault(err(sqlite3.OperationalError, "database is locked")) is None


def test_cli_says_to_free_space_when_an_output_hits_a_full_disk(monkeypatch, capsys):
    import errno

    from rmx_widgets.cli import explain

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/x/o/table.parquet")

    monkeypatch.setattr(explain, "cmd_demo", full)
    assert main(["demo"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "rmx: error: /x/o/table.parquet: No space left on device; the disk is full: free some "
        "space and rerun (the store keeps what landed)"
    ]
