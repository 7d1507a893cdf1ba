"""One event loop and one set of HTTP connections per OpenAI-compatible perturber, reused by
every batch.

Opening an ``httpx.AsyncClient`` and an event loop per batch costs a TCP (and TLS) handshake per
connection per batch and a loop start, and it keeps two batches from sharing one concurrency
bound. Here every blocking ``perturb_batch`` of the process runs on one background event loop
(a daemon thread started on first use), and each perturber keeps one ``Session`` on it: its
connections and the semaphore that bounds its requests in flight. Batches submitted from several
threads at once (the streaming pipeline, ``core.pipeline``) therefore share one bound of
``concurrency`` requests and one set of connections: a batch's slow tail no longer idles the other
slots, because the next batch's requests take them.

Each of the ``concurrency`` slots of a session is a *lane*: its own ``httpx.AsyncClient`` with
one keep-alive connection (all lanes share one SSL context). A request holds a lane, not just a
semaphore slot, for one attempt. One client with a pool of ``concurrency`` connections would be
the obvious design, but httpcore's pool (1.0.x) hands the same idle connection to every request
that enters it before the first one starts on it; all but one then get
``ConnectionNotAvailable`` and rescan the pool (each pass checks every connection's socket, and
its keep-alive test is quadratic), so when a wave of replies lands at once the event loop spends
its time rescanning (encode/httpcore issues 822 and 1110, pull request 1035). Measured in
``bench/generation.py``: 2.2 ms of client CPU per request against 0.85 ms for a plain thread pool,
0.58x the pool's throughput at 100 ms replies. A lane's pool never has more than one request,
so that race cannot happen and each pass looks at one connection.

A forked child process gets a new loop (the parent's thread does not exist in it), and a
session made on another loop (or with other connection settings) is replaced, never reused.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import ssl
import threading
import weakref
from collections.abc import Coroutine
from concurrent.futures import Future
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
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


class Session:
    """The ``concurrency`` lanes of one perturber on one event loop, and the semaphore that
    bounds how many are in use. ``async with session.lane() as client:`` waits for a free lane
    (first come, first served) and sends on its client; lanes are made on first use (a batch
    of 3 never opens 32 clients) and the most recently freed one is reused first, so its
    keep-alive connection is the warmest. Use a session on its own loop only."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.settings = (base_url, concurrency)  # what the session was made for
        self.semaphore = asyncio.Semaphore(concurrency)
        self.clients: list[httpx.AsyncClient] = []  # every lane's client, for closing
        self._free: list[httpx.AsyncClient] = []  # invariant: len(_free) >= semaphore's value
        self._ssl: ssl.SSLContext | None = None

    def lane(self) -> _Lane:
        """A free lane's client, held until the ``async with`` block ends."""
        return _Lane(self)

    def _take(self) -> httpx.AsyncClient:
        if self._free:
            return self._free.pop()
        base_url, _ = self.settings
        if self._ssl is None:  # loading the CA bundle costs milliseconds: once per session
            self._ssl = httpx.create_ssl_context()
        # one connection per lane; headers that carry a key are sent per request, never here
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        client = httpx.AsyncClient(
            base_url=base_url,
            headers=accept_encoding(),
            limits=limits,
            verify=self._ssl,
            cookies=_refusing_jar(),
        )
        self.clients.append(client)
        return client

    async def aclose(self) -> None:
        """Close every lane's client (their connections go back to the OS)."""
        clients, self.clients, self._free = self.clients, [], []
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _refusing_jar() -> CookieJar:
    """A cookie jar that stores nothing: a server's (or its gateway's) cookies would otherwise
    be sent back on every later request of the lane, tying requests and batches together and
    carrying state the user never asked for between studies."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class _Lane:
    """``Session.lane()``: the semaphore is held exactly as long as the lane's client, and no
    ``await`` separates taking one from taking the other, so a lane is always free for the
    task the semaphore lets in."""

    __slots__ = ("_client", "_session")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        await self._session.semaphore.acquire()
        try:
            self._client = self._session._take()
        except BaseException:
            self._session.semaphore.release()
            raise
        return self._client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            self._session._free.append(self._client)
            self._client = None
        self._session.semaphore.release()


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
    """A session of ``concurrency`` lanes on the running loop (call it there)."""
    return Session(base_url, concurrency)


def _close_later(loop: asyncio.AbstractEventLoop, session: Session) -> None:
    """Close a dead perturber's lanes on their loop (their connections go back to the OS)."""
    if not loop.is_closed():
        loop.call_soon_threadsafe(lambda: loop.create_task(session.aclose()))


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
            weakref.finalize(owner, _close_later, loop, session)
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
