"""How the store names disk and file faults: which ``sqlite3`` errors are a full disk, a
corrupted file or a refused read/write (``sqlite_fault``), and the words of the one-line
``StoreError`` a corrupted store gets (``corrupt_error``). The store (``core.store``) turns
these faults into errors; everything else SQLite raises (a bug, a lock) is left as it is.
"""

from __future__ import annotations

import sqlite3

from rmx_widgets.core.errors import StoreError

#: Stores up to this size are checked for corruption (``PRAGMA quick_check``) when opened.
QUICK_CHECK_MAX_BYTES = 256 * 2**20


def sqlite_fault(err: sqlite3.Error) -> str | None:
    """What kind of disk or file fault an sqlite3 error is: ``"full"`` (no space left),
    ``"corrupt"`` (damaged pages), ``"notadb"`` (not an SQLite file, or its header is
    damaged), ``"io"`` (the disk refused a read or write), ``"readonly"``; ``None`` for
    anything else (a bug, a locked database), which is not translated."""
    name = getattr(err, "sqlite_errorname", "") or ""
    text = str(err).lower()
    for kind, code, words in (
        ("full", "SQLITE_FULL", "database or disk is full"),
        ("corrupt", "SQLITE_CORRUPT", "malformed"),
        ("notadb", "SQLITE_NOTADB", "file is not a database"),
        ("io", "SQLITE_IOERR", "disk i/o error"),
        ("readonly", "SQLITE_READONLY", "readonly database"),
    ):
        if name.startswith(code) or words in text:
            return kind
    return None


def detail(err: object) -> str:
    """An sqlite message (or quick_check report) on one short line."""
    text = " ".join(str(err).split()).removeprefix("*** in database main *** ")
    return text[:300] or type(err).__name__


def corrupt_error(path: object, detail: str) -> StoreError:
    return StoreError(
        f"store {path} is corrupt: {detail}; move it away or delete it to start a fresh "
        "cache (its rewrites and scores will be computed again)."
    )


def fault_error(where: object, kind: str, what: str, note: str = "") -> StoreError:
    """The one-line error for a fault of ``kind`` (see ``sqlite_fault``) of the store
    ``where``; ``what`` is SQLite's message, ``note`` what became of the claims (full disk)."""
    if kind in ("corrupt", "notadb"):
        return corrupt_error(where, what)
    if kind == "full":
        return StoreError(
            f"store {where} is full: no space is left on its disk ({what}); the failed write "
            f"was rolled back{note}. Free some space (or point --store / store= at a disk "
            "with room) and rerun: what is already stored is kept and not computed again."
        )
    if kind == "readonly":
        return StoreError(
            f"store {where} cannot be written ({what}); check that the file and its folder "
            "are writable, or point --store / store= at another file."
        )
    return StoreError(
        f"store {where} could not be read or written ({what}); check that its disk is "
        "present, has free space and is writable, then rerun (the failed write was rolled "
        "back)."
    )
