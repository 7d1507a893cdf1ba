"""``--store`` / ``store=`` pointing at another application's SQLite file is refused untouched."""

from __future__ import annotations

import sqlite3

import pytest

from rmx_widgets import errors
from rmx_widgets.cli import main
from rmx_widgets.core.store import Store


def _foreign(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    db.execute("INSERT INTO users VALUES (1, 'ada')")
    db.commit()
    db.close()
    return path.read_bytes()


def test_foreign_sqlite_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "app.db"
    before = _foreign(path)
    with pytest.raises(errors.StoreError, match="not an rmx store .*table\\(s\\) users"):
        Store(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]  # no -wal / -shm
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("users",)]


def test_empty_file_and_an_existing_store_open(tmp_path):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    Store(empty).close()
    again = Store(empty)  # now an rmx store: reopens
    assert again.counts()["scores"] == 0
    again.close()


def test_cli_refuses_a_foreign_store_in_one_line(tmp_path, capsys):
    path = tmp_path / "app.db"
    before = _foreign(path)
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"prompt": "p", "chosen": "a b c", "rejected": "c"}\n')
    argv = ["explain", "--data", str(data), "--rm", "transparent", "--out", str(tmp_path / "o")]
    assert main([*argv, "--store", str(path), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rmx: error: {path} is an SQLite database but not an rmx store")
    assert len(err.strip().splitlines()) == 1
    assert path.read_bytes() == before and not (tmp_path / "o").exists()
