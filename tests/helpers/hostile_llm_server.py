"""Hostile behaviours for the fake chat-completions server (see fake_llm_server.py), to prove
that ``OpenAIPerturber`` bounds the time, memory and secrets one reply can cost.

Every loop here is bounded (a count, not "until the client goes away"), so a client that does
not give up still lets the test finish. Behaviours (``server.default = ...`` / ``script``):

- ``drip``: headers at once, then one byte of a ``drip_bytes`` (20) body every
  ``drip_seconds`` (0.2 s), so no single read ever times out;
- ``endless``: a chunked body of 64 KiB chunks, at most ``endless_bytes`` (64 MiB) in all;
- ``gzip_bomb``: ``Content-Encoding: gzip``, ``bomb_bytes`` (16 MiB) of zeros compressed to
  ~16 KB; ``gzip_good``: a good reply, gzip-encoded (a legitimate server may do this);
- ``big_length``: announces ``Content-Length: 10**12``, sends a few bytes;
- ``redirect``: 307 to ``https://evil.example/v1/chat/completions``;
- ``long_rewrite``: a well-formed reply whose rewrite is the original plus 5,000 characters;
- ``echo_straddle``: a 400 echoing the Authorization header so that the key straddles the
  200th character of the message; ``echo_urlenc`` / ``echo_pct`` / ``echo_b64`` / ``echo_hex``
  / ``echo_json`` / ``echo_upper``: 400s echoing the header URL-encoded (``quote_plus``),
  every byte percent-encoded, base64, hex, JSON ``\\uXXXX``-escaped inside a non-JSON body,
  or upper-cased.

``HostileLLMServer.sent`` counts the body bytes the server managed to write.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import zlib
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

from fake_llm_server import FakeLLMServer, _completion, _Handler, rewrite_for

KEY_AT = 186  # where the key starts in an echo_straddle message: 14 characters before 200


@lru_cache(maxsize=4)
def gzip_of_zeros(n: int) -> bytes:
    """``n`` zero bytes, gzip-compressed (about 1000:1), built chunk by chunk."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [z.compress(block[: min(len(block), n - i)]) for i in range(0, n, len(block))]
    return b"".join(parts) + z.flush()


class HostileHandler(_Handler):
    def handle(self) -> None:
        # a client that stops reading a hostile body resets the connection: expected here
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            super().handle()

    def _respond(self, rec) -> None:
        b = rec.behaviour
        fake = self.fake
        model = (rec.body or {}).get("model", "fake")
        _, rewritten = rewrite_for(rec.user_text)
        auth = rec.headers.get("authorization", "")
        if b == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            n = getattr(fake, "drip_bytes", 20)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            for _ in range(n):
                self.wfile.write(b" ")
                self.wfile.flush()
                self._count(1)
                time.sleep(getattr(fake, "drip_seconds", 0.2))
            return None
        if b == "endless":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b'{"x": "' + b"a" * (64 * 1024 - 7)
            for _ in range(getattr(fake, "endless_bytes", 64 << 20) // len(chunk)):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self._count(len(chunk))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if b in ("gzip_bomb", "gzip_good"):
            if b == "gzip_bomb":
                data = gzip_of_zeros(getattr(fake, "bomb_bytes", 16 << 20))
            else:
                good = json.dumps({"locate": [], "rewritten": rewritten})
                data = zlib.compress(json.dumps(_completion(good, model)).encode(), wbits=31)
            self._count(len(data))
            return self._send_raw(200, data, headers={"Content-Encoding": "gzip"})
        if b == "big_length":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self.wfile.write(b'{"choices": ')
            self.close_connection = True
            return None
        if b == "redirect":
            self.send_response(307)
            self.send_header("Location", "https://evil.example/v1/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if b == "long_rewrite":
            text = json.dumps({"locate": [], "rewritten": rewritten + " more" * 1000})
            return self._send(200, _completion(text, model))
        if b.startswith("echo_"):
            return self._echo(b, auth)
        return super()._respond(rec)

    def _echo(self, b: str, auth: str) -> None:
        if b == "echo_straddle":
            message = "x" * (KEY_AT - len(" Bearer ")) + " " + auth
            return self._send(400, {"error": {"message": message}})
        raw = auth.encode()
        encoded = {
            "echo_urlenc": quote_plus(auth),
            "echo_pct": "".join(f"%{c:02X}" for c in raw),
            "echo_b64": base64.b64encode(b"Authorization: " + raw).decode(),
            "echo_hex": raw.hex().upper(),
            "echo_json": "".join(f"\\u{ord(c):04x}" for c in auth),
            "echo_upper": auth.upper(),
        }[b]
        # plain text, not JSON: nothing decodes the echo before it is masked
        return self._send_raw(400, f"bad request; headers were {encoded}".encode())

    def _count(self, n: int) -> None:
        with self.fake._lock:  # also under test_faults' FaultyLLMServer, which has no count
            self.fake.sent = getattr(self.fake, "sent", 0) + n


class HostileLLMServer(FakeLLMServer):
    handler_base = HostileHandler

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sent = 0
        self.drip_seconds = 0.2
        self.drip_bytes = 20
        self.endless_bytes = 64 << 20
        self.bomb_bytes = 16 << 20
