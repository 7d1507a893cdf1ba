"""Where a run's files go, written so that no file is ever lost or left corrupt.

- **Atomic files.** Every final file is written to a unique temporary file in its own folder,
  flushed to disk and moved into place with ``os.replace``: a reader (or a second run) sees the
  old file or the new one, never half of either (:func:`atomic_path`, :func:`write_text`).
- **One run per folder.** :class:`OutputLock` holds ``OUT/.rmx-run.lock`` with an OS lock
  (``fcntl.flock``; ``msvcrt.locking`` on Windows) for the whole run, so a second run into the
  same folder refuses at once, naming the first (its pid, host and start time are in the file).
  The OS drops the lock when its process dies, so a killed run never blocks the next one.
- **Inputs are never outputs.** :func:`check_outputs` refuses an output path that resolves
  (symlinks included) to an input.
- **Only rmx's own files are replaced.** ``OUT/.rmx-files`` lists what rmx wrote into a folder;
  :func:`claim_outputs` refuses to replace any other existing file unless ``force`` (reruns
  into the same folder therefore need no ``--force``). A single HTML page is recognised by the
  generator mark every rmx page carries (:data:`GENERATOR_MARK`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from rmx_widgets.core.errors import OutputBusyError, OutputError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
try:  # Windows
    import msvcrt
except ImportError:
    msvcrt = None  # type: ignore[assignment]

LOCK_NAME = ".rmx-run.lock"
MANIFEST_NAME = ".rmx-files"
#: in the ``<head>`` of every page rmx writes: how ``rmx report`` knows a page is its own
GENERATOR_MARK = '<meta name="generator" content="rmx-widgets">'
#: a folder that holds one of these but no manifest was written by an rmx older than the
#: manifest: its run files are rmx's own
_LEGACY_SIGNS = ("store.sqlite",)


def _fsync(f: IO[Any]) -> None:
    f.flush()
    with contextlib.suppress(OSError):
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A unique temporary path beside ``path``; on success it replaces ``path`` at once, on
    error it is removed (``path`` is untouched)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with contextlib.suppress(OSError), open(tmp, "rb+") as f:
            _fsync(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def temp_beside(path: Path) -> Path:
    """A fresh, unique temporary file beside ``path`` (for a writer that streams into it and
    moves it into place itself with :func:`replace`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    return Path(tmp_name)


def replace(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to disk and move it onto ``path`` atomically."""
    with contextlib.suppress(OSError), open(tmp, "rb+") as f:
        _fsync(f)
    os.replace(tmp, path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


#: folders this process holds: resolved path -> [thread id, depth, fd]
_HELD: dict[str, list[int]] = {}
_HELD_GUARD = threading.Lock()


class OutputLock:
    """``with OutputLock(out_dir):`` — this process alone writes ``out_dir`` until the block ends.

    Raises :class:`OutputBusyError` (naming the other run) when another process, or another
    thread of this one, holds it; the same thread may nest it (the CLI holds it around
    ``explain_to``, which takes it too). The lock file is removed when the run ends; a killed
    run's file stays but binds nothing (the OS released its lock). On a system with neither
    ``fcntl`` nor ``msvcrt`` the lock is a no-op (files stay atomic).
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LOCK_NAME

    def _busy(self, holder: str) -> OutputBusyError:
        return OutputBusyError(
            f"{self.out_dir} is in use by another run ({holder}); "
            "wait for it or choose another --out."
        )

    def __enter__(self) -> OutputLock:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        key = str(self.out_dir.resolve())
        me = threading.get_ident()
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is not None:
                if held[0] != me:
                    raise self._busy(f"pid {os.getpid()}, another thread of this process")
                held[1] += 1
                return self
            _HELD[key] = [me, 1, self._acquire()]
        return self

    def _acquire(self) -> int:
        for _ in range(20):  # the file may be removed by its holder between open and lock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _lock(fd)
            except OSError:
                holder = _holder(fd)
                os.close(fd)
                raise self._busy(holder) from None
            try:
                current = os.stat(self.path)
            except FileNotFoundError:
                current = None
            st = os.fstat(fd)
            if current is not None and (current.st_ino, current.st_dev) == (st.st_ino, st.st_dev):
                break
            os.close(fd)  # we locked a file its holder had just removed: take the new one
        else:  # pragma: no cover - only under constant churn
            raise self._busy("pid ?, lock file keeps changing")
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(info) + "\n").encode())
        return fd

    def __exit__(self, *exc: object) -> None:
        key = str(self.out_dir.resolve())
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is None:
                return
            held[1] -= 1
            if held[1] > 0:
                return
            del _HELD[key]
            fd = held[2]
            with contextlib.suppress(OSError):
                self.path.unlink()  # before unlocking: a waiter re-checks the path (above)
            with contextlib.suppress(OSError):
                _unlock(fd)
            os.close(fd)


def _lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    elif msvcrt is not None:  # pragma: no cover - Windows
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    elif msvcrt is not None:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _holder(fd: int) -> str:
    """ "pid N on HOST since TIME" from the lock file, as far as it can be read."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8", "replace") or "{}")
        pid, host, since = (str(info.get(k, "?")) for k in ("pid", "host", "since"))
    except (OSError, ValueError, AttributeError):
        pid = host = since = "?"
    clean = ("".join(c for c in s if c.isprintable())[:80] for s in (pid, host, since))
    pid, host, since = clean
    return f"pid {pid} on {host} since {since}"


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_outputs(inputs: Iterable[str | Path | None], outputs: Iterable[str | Path]) -> None:
    """Refuse (:class:`OutputError`) when an output path is one of the inputs (after resolving
    symlinks): writing it would destroy the input."""
    ins = [Path(p) for p in inputs if p is not None]
    for out in (Path(p) for p in outputs):
        for src in ins:
            if _same(out, src):
                raise OutputError(
                    f"the output {out} is the input {src}; writing it would destroy the "
                    "input. Choose another output path."
                )


def _manifest(out_dir: Path) -> set[str] | None:
    try:
        names = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return set()
    return {str(n) for n in names} if isinstance(names, list) else set()


def is_rmx_page(path: Path) -> bool:
    """Whether ``path`` is an HTML page rmx wrote (it carries :data:`GENERATOR_MARK`)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return GENERATOR_MARK.encode() in head


def _refuse_foreign(out: Path, names: list[str], known: set[str] | None, force: bool) -> None:
    legacy = known is None and any((out / s).exists() for s in _LEGACY_SIGNS)
    if force or legacy:
        return
    for name in names:
        path = out / name
        if path.exists() and name not in (known or set()) and not is_rmx_page(path):
            raise OutputError(
                f"{path} exists and was not written by rmx; pass --force (force=True) to "
                "replace it, or choose another output path."
            )


def claim_outputs(out_dir: str | Path, names: Iterable[str], *, force: bool = False) -> None:
    """Make sure rmx may write the files ``names`` in ``out_dir`` and record them as its own.

    An existing file that rmx did not write (not in ``OUT/.rmx-files``, not an rmx page, not
    in a folder an older rmx wrote: one with a ``store.sqlite`` but no manifest) raises
    :class:`OutputError` unless ``force``.
    """
    out = Path(out_dir)
    names = list(names)
    known = _manifest(out)
    _refuse_foreign(out, names, known, force)
    merged = sorted((known or set()) | set(names))
    if known is None or merged != sorted(known):
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / MANIFEST_NAME, json.dumps(merged) + "\n")


def check_file(path: str | Path, *, force: bool = False) -> None:
    """Refuse to replace the single file ``path`` (e.g. ``rmx report --out``) unless rmx wrote
    it (an rmx page, or listed in its folder's manifest) or ``force``; records nothing."""
    path = Path(path)
    _refuse_foreign(path.parent, [path.name], _manifest(path.parent), force)


def remove_stale(out_dir: str | Path, name: str) -> None:
    """Remove ``OUT/name`` when an earlier rmx run wrote it (listed in the manifest) and this
    run does not: an optional output left beside a newer table would be read as the newer
    run's. A file rmx did not write is kept."""
    path = Path(out_dir) / name
    if path.exists() and name in (_manifest(Path(out_dir)) or set()):
        path.unlink()
