"""The SQLite store: every perturbation and every score a job computes, keyed by content.

Perturbations cost LLM calls and scores cost GPU time, so both are written as soon as a batch
lands and looked up before anything is computed. Keys hash the *content* plus the identity of
the model/perturber (which includes its prompt-template version), so a rerun, a resumed run or
another job over overlapping data does no repeated work, while a changed model, template or
attribute definition never reuses stale results. One file per project, WAL mode so a notebook
can read while a batch job writes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rmx_widgets.core.errors import StoreError

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS perturbations (
    key TEXT PRIMARY KEY, perturber TEXT NOT NULL, attribute TEXT NOT NULL,
    direction TEXT NOT NULL, text TEXT, failure TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    key TEXT PRIMARY KEY, rm TEXT NOT NULL, reward REAL NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS annotations (
    comparison_id TEXT NOT NULL, rm TEXT NOT NULL, tags TEXT NOT NULL, note TEXT NOT NULL,
    updated REAL NOT NULL, PRIMARY KEY (comparison_id, rm));
"""


def content_key(*parts: str) -> str:
    """A collision-safe key over several strings (a separator byte cannot be forged by text
    because each part is length-prefixed)."""
    h = hashlib.sha256()
    for p in parts:
        b = p.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


class Store:
    """Perturbation/score caches and annotations in one SQLite file (``None``: in memory).

    Safe to share between the kernel thread and a background worker thread (one connection
    guarded by a lock), and between processes (WAL + busy timeout).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.RLock()
        target = ":memory:"
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the folder for store {self.path}: {e}") from None
            target = str(self.path)
        try:
            self._db = sqlite3.connect(target, timeout=60.0, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 60000")
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            with self._lock_and_tx():
                for stmt in filter(str.strip, _SCHEMA.split(";")):
                    self._db.execute(stmt)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open store {target}: {e}. Is it an rmx-widgets store?"
                             ) from None
        self._check_version()

    @contextmanager
    def _lock_and_tx(self) -> Iterator[None]:
        """One lock for the connection and one IMMEDIATE transaction: a batch lands whole or
        not at all, even if the process is killed mid-write."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _check_version(self) -> None:
        with self._lock_and_tx():
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise StoreError(f"store {self.path} has schema {row[0]}, this version of "
                                 f"rmx-widgets uses {SCHEMA_VERSION}; use a new store file.")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- perturbations ---------------------------------------------------------------------
    def get_perturbations(self, keys: Sequence[str]) -> dict[str, tuple[str | None, str | None]]:
        return {k: (t, f) for k, t, f in self._select(
            "SELECT key, text, failure FROM perturbations WHERE key IN ({})", keys)}

    def put_perturbations(self, rows: Iterable[tuple[str, str, str, str, str | None,
                                                     str | None]]) -> None:
        """rows: (key, perturber, attribute, direction, text, failure), written atomically."""
        now = time.time()
        with self._lock_and_tx():
            self._db.executemany(
                "INSERT OR REPLACE INTO perturbations VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(*r, now) for r in rows])

    def delete_failed_perturbations(self, perturber: str) -> int:
        with self._lock_and_tx():
            cur = self._db.execute(
                "DELETE FROM perturbations WHERE perturber = ? AND text IS NULL", (perturber,))
            return cur.rowcount

    # -- scores ----------------------------------------------------------------------------
    def get_scores(self, keys: Sequence[str]) -> dict[str, float]:
        return dict(self._select("SELECT key, reward FROM scores WHERE key IN ({})", keys))

    def put_scores(self, rows: Iterable[tuple[str, str, float]]) -> None:
        """rows: (key, rm, reward), written atomically."""
        now = time.time()
        with self._lock_and_tx():
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)",
                                 [(*r, now) for r in rows])

    # -- annotations -----------------------------------------------------------------------
    def save_annotation(self, comparison_id: str, rm: str, tags: Sequence[str], note: str
                        ) -> None:
        with self._lock_and_tx():
            self._db.execute("INSERT OR REPLACE INTO annotations VALUES (?, ?, ?, ?, ?)",
                             (comparison_id, rm, json.dumps(list(tags)), note, time.time()))

    def annotations(self, rm: str | None = None) -> list[dict]:
        with self._lock:
            sql = "SELECT comparison_id, rm, tags, note, updated FROM annotations"
            args: tuple = ()
            if rm is not None:
                sql += " WHERE rm = ?"
                args = (rm,)
            rows = self._db.execute(sql + " ORDER BY comparison_id", args).fetchall()
        return [{"comparison_id": c, "rm": r, "tags": json.loads(t), "note": n, "updated": u}
                for c, r, t, n, u in rows]

    # -- helpers ---------------------------------------------------------------------------
    def _select(self, sql: str, keys: Sequence[str]) -> list[tuple]:
        out: list[tuple] = []
        keys = list(keys)
        with self._lock:
            for i in range(0, len(keys), 900):  # stay under SQLite's variable limit
                chunk = keys[i:i + 900]
                out.extend(self._db.execute(sql.format(",".join("?" * len(chunk))), chunk))
        return out

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {t: self._db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                    for t in ("perturbations", "scores", "annotations")}

    def integrity_check(self) -> str:
        with self._lock:
            return self._db.execute("PRAGMA integrity_check").fetchone()[0]
