"""What ``OpenAIPerturber`` does to keep one HTTP reply from costing unbounded memory or leaking
the API key: bounded body reading (decompression included), key masking, the plain-http check
and the wording of a refused redirect.

Everything here treats the server as untrusted: its body may never end, may be a gzip bomb,
may echo the ``Authorization`` header in any encoding, and may redirect anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import html
import ipaddress
import json
import re
import sys
import zlib
from collections.abc import Coroutine, Iterable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

import httpx

T = TypeVar("T")

# the shortest run of key characters (in any encoding) that is masked wherever it occurs; a
# shorter fragment (e.g. the public "sk-proj" prefix) says nothing about the key
KEY_WINDOW = 8
# how much of a server's error text is kept in a failure reason (after masking)
MESSAGE_CHARS = 200
# how much of it is masked at all (masking cost is linear in this); the rest is cut anyway
_MASK_SPAN = 4096
_RETRY_AFTER_CAP = 120.0
_HOST_CHARS = re.compile(r"[^A-Za-z0-9.:\[\]_-]")


class BodyTooLarge(Exception):
    """The decoded body passed the configured limit; ``str`` says by how much."""


class BadEncoding(Exception):
    """A Content-Encoding this client did not ask for, or compressed data that is corrupt."""


# -- bounded reading -----------------------------------------------------------------------


def accept_encoding() -> dict[str, str]:
    """The request header naming the only encodings ``read_body`` decodes (boundedly)."""
    return {"Accept-Encoding": "gzip, deflate"}


class _Decoder:
    """Incremental gzip/deflate decoding that never produces more than ``room`` bytes per call,
    so a 300 KB bomb is stopped at the limit instead of being inflated to 1 GB first."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.first = True
        wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        self.z = zlib.decompressobj(wbits)

    def decode(self, data: bytes, room: int) -> bytes:
        """Up to ``room`` bytes of output for ``data`` (the rest of ``data`` stays queued in
        ``unconsumed_tail``, so callers loop while ``pending``)."""
        try:
            out = self.z.decompress(data, room)
        except zlib.error:
            if not (self.first and self.encoding == "deflate"):
                raise BadEncoding(f"corrupt {self.encoding} data") from None
            # some servers send raw deflate without the zlib header (httpx does the same)
            self.z = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                out = self.z.decompress(data, room)
            except zlib.error:
                raise BadEncoding("corrupt deflate data") from None
        self.first = False
        return out

    @property
    def pending(self) -> bytes:
        return self.z.unconsumed_tail


def _decoder(resp: httpx.Response) -> _Decoder | None:
    value = resp.headers.get("content-encoding", "").strip().lower()
    if value in ("", "identity"):
        return None
    if value in ("gzip", "x-gzip"):
        return _Decoder("gzip")
    if value == "deflate":
        return _Decoder("deflate")
    raise BadEncoding(f"unrequested Content-Encoding {clean(value)!r}")


async def read_body(resp: httpx.Response, limit: int) -> bytes:
    """The decoded body of a streamed response, raising ``BodyTooLarge`` as soon as it passes
    ``limit`` bytes (a declared Content-Length over it is refused before reading anything)."""
    declared = resp.headers.get("content-length", "")
    decoder = _decoder(resp)
    if decoder is None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the server announced a {int(declared):,}-byte body")
    parts: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_raw():
        while chunk:
            if decoder is None:
                out, chunk = chunk, b""
            else:
                out = decoder.decode(chunk, limit - size + 1)
                chunk = decoder.pending
            size += len(out)
            if size > limit:
                raise BodyTooLarge(f"the {'decoded ' if decoder else ''}body passed that")
            parts.append(out)
    return b"".join(parts)


def text_of(content: bytes, resp: httpx.Response) -> str:
    """``content`` as text, in the response's charset (UTF-8 if none or unknown)."""
    try:
        return content.decode(resp.charset_encoding or "utf-8", errors="replace")
    except LookupError:
        return content.decode("utf-8", errors="replace")


def server_message(content: bytes, resp: httpx.Response) -> str:
    """The error text a server put in its body (OpenAI-style ``error.message`` if present),
    whole: mask it before cutting it (``clip``)."""
    try:
        data = json.loads(content)
    except ValueError:
        return " ".join(text_of(content, resp).split()) or resp.reason_phrase or "no details"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err:
            return str(err)
    return str(data)


# -- the API key ---------------------------------------------------------------------------


def _key_forms(key: str) -> Iterable[str]:
    """The key as a server or proxy might echo it."""
    raw = key.encode()
    yield key
    yield json.dumps(key)[1:-1]  # JSON-escaped, non-ASCII as \\uXXXX
    yield json.dumps(key)[1:-1].replace("/", "\\/")
    yield "".join(f"\\u{ord(c):04x}" for c in key)  # every character escaped
    yield html.escape(key)
    for safe in ("", "/"):
        yield quote(key, safe=safe)
        yield quote(quote(key, safe=safe), safe=safe)  # encoded twice
    yield quote_plus(key)
    yield "".join(f"%{b:02x}" for b in raw)  # every byte percent-encoded
    yield raw.hex()
    for prefix in (b"", b"Bearer ", b"Authorization: Bearer "):
        for shift in range(3):  # every base64 alignment; the ends depend on the neighbours
            data = b"\0" * shift + prefix + raw
            for enc in (base64.b64encode(data), base64.urlsafe_b64encode(data)):
                yield enc.decode()[4:-4]


@lru_cache(maxsize=4)  # in this process only: one job masks thousands of failure reasons
def _windows(key: str) -> tuple[int, frozenset[str]]:
    width = min(KEY_WINDOW, len(key))
    found: set[str] = set()
    for form in _key_forms(key):
        form = form.lower()
        found.update(form[i : i + width] for i in range(len(form) - width + 1))
    return width, frozenset(found)


def mask_key(text: str, key: str | None) -> str:
    """``text`` with every run of ``KEY_WINDOW`` or more characters of the key, in any of the
    encodings of ``_key_forms`` and in any letter case, replaced by ``***``."""
    if not key or len(key) < 4 or not text:
        return text
    width, windows = _windows(key)
    low = text.lower()
    hit = bytearray(len(text))
    for i in range(len(text) - width + 1):
        if low[i : i + width] in windows:
            hit[i : i + width] = b"\1" * width
    if not any(hit):
        return text
    out: list[str] = []
    for i, ch in enumerate(text):
        if not hit[i]:
            out.append(ch)
        elif i == 0 or not hit[i - 1]:
            out.append("***")
    return "".join(out)


def clip(text: str, key: str | None, limit: int = MESSAGE_CHARS) -> str:
    """Server text for a message: masked first, then cut to ``limit`` characters, so a key
    straddling the cut cannot leave a prefix behind."""
    text = mask_key(text[:_MASK_SPAN], key)
    return text if len(text) <= limit else text[:limit] + "..."


# -- transport -----------------------------------------------------------------------------


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def insecure_key_error(base_url: str, api_key_env: str) -> str | None:
    """Why the key must not go to ``base_url``, or ``None``: plain http to another machine."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or is_loopback(parts.hostname):
        return None
    return (
        f"refusing to send the API key in {api_key_env} over plain http:// to "
        f"{clean(parts.hostname or '')} (anyone on the network path could read it). Use an "
        "https:// base_url, unset the variable if the server needs no key, or pass "
        "allow_insecure_http=True (--allow-insecure-http) if the network is trusted."
    )


def redirect_message(resp: httpx.Response, base_url: str) -> str:
    """What to say about a 3xx: redirects are never followed (the key would go along)."""
    location = resp.headers.get("location", "")
    target = urlsplit(location) if location else None
    host = clean((target.hostname if target else None) or urlsplit(base_url).hostname or "")
    return (
        f"the LLM server at {redact(base_url)} answered HTTP {resp.status_code}: redirect to "
        f"{host or 'an unnamed host'} refused (redirects are not followed, so the API key and "
        "prompts only go where base_url says). Set base_url to the address the server "
        "redirects to, if you trust it."
    )


def clean(text: str) -> str:
    """A host name from a header, reduced to host characters (no escape codes on a terminal)."""
    return _HOST_CHARS.sub("?", text)[:253]


def redact(url: str) -> str:
    """The URL without any user:password part, for messages and repr."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), _RETRY_AFTER_CAP)


async def cancel_all(tasks: Iterable[asyncio.Future]) -> None:
    """Cancel ``tasks`` and wait until each has stopped, so none outlives the batch."""
    tasks = list(tasks)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def within(seconds: float, coro: Coroutine[Any, Any, T]) -> T:
    """``await coro``, raising ``TimeoutError`` (``asyncio.TimeoutError``) once ``seconds`` have
    passed and the coroutine has been cancelled. On Python 3.11+ the deadline cancels the
    calling task itself (``asyncio.timeout``); ``asyncio.wait_for`` runs ``coro`` as a second
    task, which costs a task and two more passes of the event loop per attempt, and in a burst
    of replies every pass waits for all the other requests' steps."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await coro
    return await asyncio.wait_for(coro, seconds)  # pragma: no cover - Python 3.10
