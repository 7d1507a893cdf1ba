"""One event loop and one HTTP client per OpenAI-compatible perturber, reused by every batch.

Opening an ``httpx.AsyncClient`` and an event loop per batch costs a TCP (and TLS) handshake per
connection per batch and a loop start, and it keeps two batches from sharing one concurrency
bound. Here every blocking ``perturb_batch`` of the process runs on one background event loop
(a daemon thread started on first use), and each perturber keeps one ``Session`` on it: a pooled
client and the semaphore that bounds its requests in flight. Batches submitted from several
threads at once (the streaming pipeline, ``core.pipeline``) therefore share one bound of
``concurrency`` requests and one connection pool: a batch's slow tail no longer idles the other
slots, because the next batch's requests take them.

A forked child process gets a new loop (the parent's thread does not exist in it), and a
session made on another loop (or with other connection settings) is replaced, never reused.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import weakref
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from rmx_widgets.core.perturbers.http_guard import accept_encoding

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None

#: The session of the batch running in this context (set by ``run_in_session``), so nested
#: calls (the two-step template's second step) use the same client and bound.
CURRENT: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "rmx_openai_session", default=None
)


@dataclass
class Session:
    """A pooled client and the bound on requests in flight, both of one event loop."""

    loop: asyncio.AbstractEventLoop
    settings: tuple[str, int]  # (base_url, concurrency) the session was made for
    client: httpx.AsyncClient
    semaphore: asyncio.Semaphore


def _forget_loop() -> None:  # in a forked child: the parent's loop thread is not there
    global _loop
    _loop = None


os.register_at_fork(after_in_child=_forget_loop)


def background_loop() -> asyncio.AbstractEventLoop:
    """The process's background event loop, started (in a daemon thread) on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="rmx-openai-loop", daemon=True).start()
            _loop = loop
        return _loop


def new_session(base_url: str, concurrency: int) -> Session:
    """A session on the running loop (call it there): one client with ``concurrency``
    pooled connections. Headers that carry a key are sent per request, never kept here."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.AsyncClient(base_url=base_url, headers=accept_encoding(), limits=limits)
    return Session(
        asyncio.get_running_loop(), (base_url, concurrency), client, asyncio.Semaphore(concurrency)
    )


def _close_later(loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> None:
    """Close a dead perturber's client on its loop (its connections go back to the OS)."""
    if not loop.is_closed():
        loop.call_soon_threadsafe(lambda: loop.create_task(client.aclose()))


def run_in_session(owner: Any, base_url: str, concurrency: int, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop with ``owner``'s session as ``CURRENT`` and wait.

    Blocking; safe from any thread, including one whose own loop is running (Jupyter), but not
    from the background loop itself (that would wait on itself). If the waiting thread is
    interrupted, the batch is cancelled on the loop (its requests stop) before re-raising.
    """
    loop = background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("a blocking perturb_batch cannot run on the rmx background loop")

    async def in_session() -> T:
        session = owner.__dict__.get("_session")
        if (
            session is None
            or session.loop is not loop
            or session.settings
            != (
                base_url,
                concurrency,
            )
        ):
            session = new_session(base_url, concurrency)
            owner.__dict__["_session"] = session
            weakref.finalize(owner, _close_later, loop, session.client)
        CURRENT.set(session)
        return await coro

    future: Future[T] = asyncio.run_coroutine_threadsafe(in_session(), loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # e.g. KeyboardInterrupt in the waiting thread: stop the requests
        raise


class BatchState:
    """Connection health shared by one batch's requests, for failing fast: ``connect_failures``
    counts connection failures since the last HTTP response. Before the server has answered
    once, twice the first wave's size is enough evidence that it is not there; after, the limit
    is a whole wave's retry budgets, so a server that dies mid-job stops the job."""

    def __init__(self, n: int, concurrency: int, max_retries: int, headers: dict[str, str]) -> None:
        self.headers = headers  # per request (the key), never kept on the shared client
        wave = max(1, min(n, concurrency))
        self.fail_fast_after = 2 * wave
        self.give_up_after = wave * (max_retries + 1)
        self.reached_server = False
        self.connect_failures = 0
        self.last_error = ""

    def answered(self) -> None:
        self.reached_server = True
        self.connect_failures = 0

    def connect_failed(self, error: str) -> bool:
        """Record a connection failure; ``True`` when the whole batch should stop."""
        self.connect_failures += 1
        self.last_error = error
        limit = self.give_up_after if self.reached_server else self.fail_fast_after
        return self.connect_failures >= limit
