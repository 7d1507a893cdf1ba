"""The SQLite store: every perturbation and every score a job computes, keyed by content.

Perturbations cost LLM calls and scores cost GPU time, so both are written as soon as a batch
lands and looked up before anything is computed. Keys hash the *content* plus the identity of
the model/perturber (which includes its prompt-template version), so a rerun, a resumed run or
another job over overlapping data does no repeated work, while a changed model, template or
attribute definition never reuses stale results. One file per project, WAL mode so a notebook
can read while a batch job writes. A failure is stored with its kind (``encode_failure``);
reasons stored before kinds existed are plain text and still read (``decode_failure``).

Every write is one IMMEDIATE transaction, so a process killed at any instant leaves the file
consistent (SQLite's journal rolls back the unfinished one) and loses only what was not yet
committed. Several processes may explain into one store at once: before computing, a process
*claims* the keys it is about to compute (``claim``), and others wait for those results instead
of computing them again. A claim is released when its result is written; a claim whose owner
died (its process is gone) or whose lease ran out is taken over, so a SIGKILL never blocks a
resume.

Disk and file faults are one ``StoreError`` naming the file and what to do, never a raw
``sqlite3`` error: a full disk (``database or disk is full``) rolls the failed write back and
releases this store's claims before it is raised, so a rerun with room resumes where it
stopped; a corrupted file ("database disk image is malformed") is refused at open (a
``PRAGMA quick_check`` over stores up to ``QUICK_CHECK_MAX_BYTES``: ~3 ms per MB) and
wherever its damage is hit later.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from rmx_widgets.core.data import text_problem
from rmx_widgets.core.errors import DataError, StoreError
from rmx_widgets.core.failures import FailureKind, legacy_failure_kind
from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.store_faults import (
    QUICK_CHECK_MAX_BYTES,
    corrupt_error,
    detail,
    fault_error,
    sqlite_fault,
)

SCHEMA_VERSION = "2"  # 2: scores.truncated and the claims table (1 is migrated in place)
# The ``verdicts`` table (rewrite judges, ``core.validity.cached``) was added within schema 2:
# ``CREATE TABLE IF NOT EXISTS`` gives an older store the empty table on open and changes
# nothing else in it, so every cached perturbation and score of that store is still found.
# So was ``pair_scores`` (pairwise judges, ``core.pair_scores``): one P(first ≻ second) per
# judge, prompt and ordered pair of texts.

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS perturbations (
    key TEXT PRIMARY KEY, perturber TEXT NOT NULL, attribute TEXT NOT NULL,
    direction TEXT NOT NULL, text TEXT, failure TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    key TEXT PRIMARY KEY, rm TEXT NOT NULL, reward REAL NOT NULL, created REAL NOT NULL,
    truncated INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY, judge TEXT NOT NULL, attribute TEXT NOT NULL,
    direction TEXT NOT NULL, valid INTEGER NOT NULL, reason TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pair_scores (
    key TEXT PRIMARY KEY, judge TEXT NOT NULL, p REAL NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS annotations (
    comparison_id TEXT NOT NULL, rm TEXT NOT NULL, tags TEXT NOT NULL, note TEXT NOT NULL,
    updated REAL NOT NULL, PRIMARY KEY (comparison_id, rm));
"""

#: The tables of a store (every schema version); a database with any other table is not one.
STORE_TABLES = frozenset(
    {"meta", "perturbations", "scores", "claims", "annotations", "verdicts", "pair_scores"}
)


def content_key(*parts: str) -> str:
    """A collision-safe key over several strings (a separator byte cannot be forged by text
    because each part is length-prefixed)."""
    h = hashlib.sha256()
    for p in parts:
        b = p.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def encode_failure(result: PerturbationResult) -> str | None:
    """The ``failure`` column of a result: ``None`` for a rewrite, else a small JSON object
    ``{"kind": ..., "reason": ...}``, so the kind chosen where the failure was created comes
    back with it (the column stays TEXT: the schema and the cache keys are unchanged)."""
    if result.failure is None:
        return None
    kind = FailureKind(result.kind) if result.kind is not None else FailureKind.OTHER
    return json.dumps({"kind": kind.value, "reason": result.failure}, ensure_ascii=False)


def decode_failure(stored: str) -> tuple[str, FailureKind]:
    """The reason and kind of a stored failure.

    Rows written by ``encode_failure`` are parsed strictly (exactly the two keys, a known kind);
    anything else is a plain reason text stored before kinds were recorded, whose kind only the
    legacy classifier can tell.
    """
    if stored.startswith("{"):
        try:
            obj = json.loads(stored)
        except ValueError:
            obj = None
        if (
            isinstance(obj, dict)
            and obj.keys() == {"kind", "reason"}
            and isinstance(obj["reason"], str)
            and obj["kind"] in _KINDS
        ):
            return obj["reason"], FailureKind(obj["kind"])
    return stored, legacy_failure_kind(stored)


_KINDS = frozenset(k.value for k in FailureKind)

_HOST = socket.gethostname()
_LIVE_OWNERS: set[str] = set()  # owner tokens of the Store objects alive in this process
_LIVE_LOCK = threading.Lock()


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id exists and is not a zombie (a killed, unreaped child)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _owner_alive(owner: str) -> bool:
    """An owner is ``host:pid:token``; only owners on this host can be checked directly."""
    parts = owner.rsplit(":", 2)
    if len(parts) < 3:
        return False
    host, pid_text, token = parts
    if host != _HOST:
        return True  # another machine: trust the lease
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        with _LIVE_LOCK:
            return token in _LIVE_OWNERS  # an earlier process that had our pid is gone
    return _pid_alive(pid)


class Store:
    """Perturbation/score caches and annotations in one SQLite file (``None``: in memory).

    Safe to share between the kernel thread and a background worker thread (one connection
    guarded by a lock), and between processes (WAL + busy timeout + claims). ``claim_lease`` is
    how long (seconds) a claim by a process on another machine is honoured.
    """

    def __init__(self, path: str | Path | None = None, *, claim_lease: float = 900.0) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.RLock()
        self.claim_lease = float(claim_lease)
        self.owner = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._claimed = False  # whether this store ever held a claim (see _release_all)
        self._stale_claims = False  # claims a full disk kept us from releasing
        with _LIVE_LOCK:
            _LIVE_OWNERS.add(self.owner.rsplit(":", 1)[1])
        target = ":memory:"
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the folder for store {self.path}: {e}") from None
            target = str(self.path)
        try:
            self._db = sqlite3.connect(
                target, timeout=60.0, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA busy_timeout = 60000")
            self._refuse_foreign(target)  # before WAL or a table touches another app's file
            if self.path is not None:
                self._quick_check()
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            with self._lock_and_tx():
                for stmt in filter(str.strip, _SCHEMA.split(";")):
                    self._db.execute(stmt)
        except sqlite3.DatabaseError as e:
            with suppress(sqlite3.Error, AttributeError):
                self._db.close()
            kind = sqlite_fault(e)
            if kind in (None, "notadb"):
                raise StoreError(
                    f"cannot open store {target}: {e}. Is it an rmx-widgets store?"
                ) from None
            raise self._fault(e, kind) from e
        self._check_version()

    def _refuse_foreign(self, target: str) -> None:
        """Refuse a database that holds tables an rmx store never has (another application's
        SQLite file): adding the caches to it and switching it to WAL would alter that file.
        An empty database, or one with only rmx's tables (any schema version), is a store."""
        tables = {
            name
            for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_")
        }
        foreign = sorted(tables - STORE_TABLES)
        if foreign:
            self._db.close()
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise StoreError(
                f"{target} is an SQLite database but not an rmx store (it has table(s) "
                f"{shown}); it was left untouched. Point --store (store=) at a new file or "
                "at a store rmx wrote."
            )

    def _quick_check(self) -> None:
        """Refuse a store whose pages are damaged before any work is done with it (files over
        ``QUICK_CHECK_MAX_BYTES`` are skipped: their damage is reported when it is hit)."""
        assert self.path is not None
        try:
            size = self.path.stat().st_size
        except OSError:
            return
        if 0 < size <= QUICK_CHECK_MAX_BYTES:
            report = self._db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if report != "ok":
                self._db.close()
                raise corrupt_error(self.path, detail(report))

    def _fault(self, err: sqlite3.DatabaseError, kind: str) -> StoreError:
        """The one-line error for a disk or file fault of this store (see ``sqlite_fault``).
        On a full disk this store's claims are released first, so a rerun is not kept
        waiting for them (also in this process)."""
        where = self.path if self.path is not None else "(in memory)"
        note = self._release_after_full() if kind == "full" else ""
        return fault_error(where, kind, detail(err), note)

    def _release_after_full(self) -> str:
        """Release this store's claims after a full-disk error, and say how it went."""
        released = self._release_all()
        if released is None:
            self._stale_claims = True
            return (
                "; its claims could not be released (nothing can be written), so another run "
                "takes them over once this process has exited"
            )
        return f" and its {released} claim(s) released" if released else ""

    def _release_all(self) -> int | None:
        """Delete every claim this store holds; how many, or None when even that cannot be
        written. Deleting needs no new pages, only room in the write-ahead log; if the log
        cannot grow, a checkpoint that empties it is tried once."""
        if self.path is None or not self._claimed:
            return 0
        with self._lock:
            for attempt in range(2):
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    cur = self._db.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))
                    self._db.execute("COMMIT")
                    self._stale_claims = False
                    return max(cur.rowcount, 0)
                except sqlite3.DatabaseError:
                    self._rollback()
                    if attempt == 0:
                        with suppress(sqlite3.DatabaseError):
                            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return None

    def _rollback(self) -> None:
        """Roll back the open transaction, if SQLite has not already done so (it does after
        some errors, e.g. a failed COMMIT on a full disk)."""
        if self._db.in_transaction:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Disk and file faults raised inside as ``StoreError`` (others unchanged)."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            kind = sqlite_fault(e)
            if kind is None:
                raise
            raise self._fault(e, kind) from e

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """The connection's lock, with faults translated."""
        with self._lock, self._translated():
            yield

    @contextmanager
    def _lock_and_tx(self) -> Iterator[None]:
        """One lock for the connection and one IMMEDIATE transaction: a batch lands whole or
        not at all, even if the process is killed mid-write or the disk is full."""
        with self._lock, self._translated():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _check_version(self) -> None:
        with self._lock_and_tx():
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] == "1":  # version 1 lacked scores.truncated (claims were created above)
                cols = {r[1] for r in self._db.execute("PRAGMA table_info(scores)")}
                if "truncated" not in cols:
                    self._db.execute(
                        "ALTER TABLE scores ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0"
                    )
                self._db.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,)
                )
            elif row[0] != SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.path} has schema {row[0]}, this version of "
                    f"rmx-widgets uses {SCHEMA_VERSION}; use a new store file."
                )

    def close(self) -> None:
        if self._stale_claims:
            self._release_all()
        with _LIVE_LOCK:
            _LIVE_OWNERS.discard(self.owner.rsplit(":", 1)[1])
        with self._lock:
            self._db.close()

    # -- perturbations ---------------------------------------------------------------------
    def get_perturbations(self, keys: Sequence[str]) -> dict[str, PerturbationResult]:
        """The stored results among ``keys``, each failure with its kind (see
        ``decode_failure``)."""
        out: dict[str, PerturbationResult] = {}
        for k, text, failure in self._select(
            "SELECT key, text, failure FROM perturbations WHERE key IN ({})", keys
        ):
            if failure is None:
                out[k] = PerturbationResult(text)
            else:
                reason, kind = decode_failure(failure)
                out[k] = PerturbationResult(text, reason, kind)
        return out

    def put_perturbations(
        self, rows: Iterable[tuple[str, str, str, str, PerturbationResult]]
    ) -> None:
        """rows: (key, perturber, attribute, direction, result), written atomically together
        with the release of this store's claims on those keys."""
        now = time.time()
        values = [
            (key, perturber, attribute, direction, result.text, encode_failure(result), now)
            for key, perturber, attribute, direction, result in rows
        ]
        with self._lock_and_tx():
            self._db.executemany(
                "INSERT OR REPLACE INTO perturbations VALUES (?, ?, ?, ?, ?, ?, ?)", values
            )
            self._release_in_tx([v[0] for v in values])

    def delete_failed_perturbations(self, perturber: str) -> int:
        with self._lock_and_tx():
            cur = self._db.execute(
                "DELETE FROM perturbations WHERE perturber = ? AND text IS NULL", (perturber,)
            )
            return cur.rowcount

    # -- scores ----------------------------------------------------------------------------
    def get_scores(self, keys: Sequence[str]) -> dict[str, float]:
        return dict(self._select("SELECT key, reward FROM scores WHERE key IN ({})", keys))

    def get_truncated(self, keys: Sequence[str]) -> set[str]:
        """The keys among ``keys`` whose input the RM reported as truncated when scoring."""
        return {
            k
            for (k,) in self._select(
                "SELECT key FROM scores WHERE truncated != 0 AND key IN ({})", keys
            )
        }

    def put_scores(
        self, rows: Iterable[tuple[str, str, float] | tuple[str, str, float, bool]]
    ) -> None:
        """rows: (key, rm, reward) or (key, rm, reward, truncated), written atomically together
        with the release of this store's claims on those keys."""
        now = time.time()
        values = [(r[0], r[1], r[2], now, int(bool(r[3])) if len(r) > 3 else 0) for r in rows]
        with self._lock_and_tx():
            self._db.executemany(
                "INSERT OR REPLACE INTO scores (key, rm, reward, created, "
                "truncated) VALUES (?, ?, ?, ?, ?)",
                values,
            )
            self._release_in_tx([v[0] for v in values])

    # -- pair scores (pairwise judges) -------------------------------------------------------
    def get_pair_scores(self, keys: Sequence[str]) -> dict[str, float]:
        """The stored P(first ≻ second) among ``keys`` (see ``core.pair_scores``)."""
        return dict(self._select("SELECT key, p FROM pair_scores WHERE key IN ({})", keys))

    def put_pair_scores(self, rows: Iterable[tuple[str, str, float]]) -> None:
        """rows: (key, judge, p), written atomically together with the release of this
        store's claims on those keys."""
        now = time.time()
        values = [(k, j, float(p), now) for k, j, p in rows]
        with self._lock_and_tx():
            self._db.executemany("INSERT OR REPLACE INTO pair_scores VALUES (?, ?, ?, ?)", values)
            self._release_in_tx([v[0] for v in values])

    # -- verdicts (rewrite judges) ----------------------------------------------------------
    def get_verdicts(self, keys: Sequence[str]) -> dict[str, tuple[bool, str]]:
        """The stored verdicts among ``keys``: (valid, reason). Only decided verdicts are
        stored (``core.validity.cached``), so ``valid`` is True or False."""
        return {
            k: (bool(v), r)
            for k, v, r in self._select(
                "SELECT key, valid, reason FROM verdicts WHERE key IN ({})", keys
            )
        }

    def put_verdicts(self, rows: Iterable[tuple[str, str, str, str, bool, str]]) -> None:
        """rows: (key, judge, attribute, direction, valid, reason), written atomically together
        with the release of this store's claims on those keys."""
        now = time.time()
        values = [(k, j, a, d, int(bool(v)), r, now) for k, j, a, d, v, r in rows]
        with self._lock_and_tx():
            self._db.executemany(
                "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?)", values
            )
            self._release_in_tx([v[0] for v in values])

    # -- claims (several processes on one store) -------------------------------------------
    def claim(self, keys: Sequence[str], done_in: str | None = None) -> set[str]:
        """Claim the keys nobody else is computing; return those now claimed by this store.

        A key claimed by another owner is left alone while that owner lives and its lease
        holds. ``done_in`` (a results table: "perturbations", "scores", "verdicts" or
        "pair_scores") also skips keys that
        already have a result there, checked in the same transaction: another process may have
        finished a key between the caller's cache lookup and this claim. In-memory stores are
        private to one object, so every key is theirs at once.
        """
        if done_in not in (None, "perturbations", "scores", "verdicts", "pair_scores"):
            raise ValueError(
                "done_in must be 'perturbations', 'scores', 'verdicts' or 'pair_scores', "
                f"got {done_in!r}"
            )
        keys = list(dict.fromkeys(keys))
        if self.path is None or not keys:
            return set(keys)
        if self._stale_claims:  # left by a full disk: release them now that there may be room
            self._release_all()
        now = time.time()
        with self._lock_and_tx():
            held: dict[str, tuple[str, float]] = {}
            done: set[str] = set()
            for i in range(0, len(keys), 900):
                chunk = keys[i : i + 900]
                marks = ",".join("?" * len(chunk))
                held.update(
                    (k, (o, e))
                    for k, o, e in self._db.execute(
                        f"SELECT key, owner, expires FROM claims WHERE key IN ({marks})", chunk
                    )
                )
                if done_in is not None:
                    done.update(
                        k
                        for (k,) in self._db.execute(
                            f"SELECT key FROM {done_in} WHERE key IN ({marks})", chunk
                        )
                    )
            alive: dict[str, bool] = {}
            mine = []
            for k in keys:
                if k in done:
                    continue
                if k in held:
                    owner, expires = held[k]
                    if owner != self.owner:
                        if owner not in alive:
                            alive[owner] = _owner_alive(owner)
                        if alive[owner] and expires > now:
                            continue
                mine.append(k)
            self._db.executemany(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?)",
                [(k, self.owner, now + self.claim_lease) for k in mine],
            )
            self._claimed = True
        return set(mine)

    def release(self, keys: Iterable[str]) -> None:
        """Give up this store's claims on ``keys`` (e.g. after an error) so others proceed."""
        keys = list(keys)
        if self.path is None or not keys:
            return
        with self._lock_and_tx():
            self._release_in_tx(keys)

    def _release_in_tx(self, keys: Sequence[str]) -> None:
        if self.path is None:
            return
        for i in range(0, len(keys), 900):
            chunk = list(keys[i : i + 900])
            self._db.execute(
                f"DELETE FROM claims WHERE owner = ? AND key IN ({','.join('?' * len(chunk))})",
                [self.owner, *chunk],
            )

    # -- annotations -----------------------------------------------------------------------
    def save_annotation(self, comparison_id: str, rm: str, tags: Sequence[str], note: str) -> None:
        """Store one annotation, replacing the last one of (comparison_id, rm). Texts that cannot
        be stored and shown as plain text (``data.text_problem``) raise ``DataError`` naming the
        field before anything is written."""
        fields = [("comparison_id", comparison_id), ("rm", rm), ("note", note)]
        fields += [(f"tags[{i}]", t) for i, t in enumerate(tags)]
        for name, text in fields:
            if not isinstance(text, str):
                raise DataError(f"must be text, got {type(text).__name__}.", field=name)
            problem = text_problem(text)
            if problem is not None:
                raise DataError(f"the annotation holds {problem}; nothing was saved.", field=name)
        with self._lock_and_tx():
            self._db.execute(
                "INSERT OR REPLACE INTO annotations VALUES (?, ?, ?, ?, ?)",
                (comparison_id, rm, json.dumps(list(tags)), note, time.time()),
            )

    def annotations(self, rm: str | None = None) -> list[dict]:
        with self._reading():
            sql = "SELECT comparison_id, rm, tags, note, updated FROM annotations"
            args: tuple = ()
            if rm is not None:
                sql += " WHERE rm = ?"
                args = (rm,)
            rows = self._db.execute(sql + " ORDER BY comparison_id", args).fetchall()
        return [
            {"comparison_id": c, "rm": r, "tags": json.loads(t), "note": n, "updated": u}
            for c, r, t, n, u in rows
        ]

    # -- helpers ---------------------------------------------------------------------------
    def _select(self, sql: str, keys: Sequence[str]) -> list[tuple]:
        out: list[tuple] = []
        keys = list(keys)
        with self._reading():
            for i in range(0, len(keys), 900):  # stay under SQLite's variable limit
                chunk = keys[i : i + 900]
                out.extend(self._db.execute(sql.format(",".join("?" * len(chunk))), chunk))
        return out

    def counts(self) -> dict[str, int]:
        with self._reading():
            return {
                t: self._db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("perturbations", "scores", "annotations")
            }

    def open_claims(self) -> int:
        """How many claims are held (by anyone): 0 after every finished or failed run."""
        with self._reading():
            return self._db.execute("SELECT COUNT(*) FROM claims").fetchone()[0]

    def integrity_check(self) -> str:
        with self._reading():
            return self._db.execute("PRAGMA integrity_check").fetchone()[0]
