"""A scriptable, local OpenAI-compatible chat-completions server for offline tests.

It runs ``http.server.ThreadingHTTPServer`` on 127.0.0.1 (a free port) in a daemon thread and
answers ``POST /v1/chat/completions``. By default every request gets a good reply: a JSON object
whose rewrite is derived deterministically from the response found between ``<response>`` tags
in the user message, so a test can check each result belongs to its own request.

Scripting: ``server.script(marker, ["500", "429", "good"])`` makes the 1st, 2nd, 3rd... request
whose messages contain ``marker`` behave as listed (then "good"), and ``server.default`` sets the
behaviour of unscripted requests. Behaviours: good, fenced, malformed, missing_key, unchanged,
429 (Retry-After: 0), 500, hang (sleeps ``hang_seconds`` before answering), truncated (closes the
connection mid-body), badjson (a complete but invalid JSON body), surrogate (a rewrite ending in
a lone surrogate, JSON-escaped as ``\\ud83d``: valid JSON, not valid Unicode), control (a rewrite
holding NUL and terminal escape codes), 400, 401, 403, 404.

Every request is recorded (headers, parsed body, behaviour, timing), and the maximum number of
requests in flight at once is tracked so tests can see that concurrency is bounded and used.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hostile_llm_replies import hostile_reply

_RESPONSE = re.compile(r"<response>\n(.*?)\n</response>", re.DOTALL)
_ATTRIBUTE = re.compile(r"^Quality: (\S+)", re.MULTILINE)
_DIRECTION = re.compile(r"make the response (worse|better) overall")


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    behaviour: str
    started: float
    ended: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def user_text(self) -> str:
        msgs = (self.body or {}).get("messages", [])
        return "\n".join(m.get("content", "") for m in msgs)


def rewrite_for(user_text: str) -> tuple[str, str]:
    """The original response in a request and the fake model's deterministic rewrite of it."""
    m = _RESPONSE.search(user_text)
    original = m.group(1) if m else ""
    attr = _ATTRIBUTE.search(user_text)
    direction = _DIRECTION.search(user_text)
    tag = f"[{direction.group(1) if direction else '?'}:{attr.group(1) if attr else '?'}]"
    return original, f"{original} {tag}"


class FakeLLMServer:
    handler_base: type = None  # set below the handler's definition; subclasses swap it

    def __init__(self, *, delay: float = 0.0, hang_seconds: float = 2.0) -> None:
        self.delay = delay
        self.hang_seconds = hang_seconds
        self.default = "good"
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._scripts: dict[str, list[str]] = {}
        self._seen: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        server = self

        class Handler(self.handler_base or _Handler):
            fake = server

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting -----------------------------------------------------------------------

    def script(self, marker: str, behaviours: list[str]) -> None:
        with self._lock:
            self._scripts[marker] = list(behaviours)

    def requests_with(self, marker: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if marker in r.user_text]

    def _choose(self, user_text: str) -> str:
        with self._lock:
            for marker, plan in self._scripts.items():
                if marker in user_text:
                    k = self._seen[marker]
                    self._seen[marker] += 1
                    return plan[k] if k < len(plan) else "good"
            return self.default

    def _enter(self, rec: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(rec)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self, rec: RecordedRequest) -> None:
        with self._lock:
            self.in_flight -= 1
            rec.ended = time.monotonic()


def _completion(content: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeLLMServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        rec = RecordedRequest(
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            behaviour="",
            started=time.monotonic(),
        )
        rec.behaviour = self.fake._choose(rec.user_text) if body else "400"
        self.fake._enter(rec)
        try:
            self._respond(rec)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. timed out on a hanging request)
        finally:
            self.fake._leave(rec)

    def _respond(self, rec: RecordedRequest) -> None:
        fake, b = self.fake, rec.behaviour
        if not self.path.endswith("/chat/completions"):
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        if fake.delay:
            time.sleep(fake.delay)
        model = (rec.body or {}).get("model", "fake")
        original, rewritten = rewrite_for(rec.user_text)
        good = json.dumps({"locate": [original.split(" ")[0]], "rewritten": rewritten})
        if b == "hang":
            time.sleep(fake.hang_seconds)
            return self._send(200, _completion(good, model))
        if b == "good":
            return self._send(200, _completion(good, model))
        if b == "fenced":
            return self._send(200, _completion(f"```json\n{good}\n```", model))
        if b == "malformed":
            return self._send(200, _completion(f"Sure! Here is the rewrite: {rewritten}", model))
        if b == "missing_key":
            return self._send(200, _completion('{"locate": []}', model))
        if b == "unchanged":
            return self._send(
                200, _completion(json.dumps({"locate": [], "rewritten": original}), model)
            )
        if b == "surrogate":  # json.dumps writes the lone surrogate as the escape \ud83d
            return self._send(
                200, _completion(json.dumps({"rewritten": rewritten + " \ud83d"}), model)
            )
        if b == "control":
            bad = rewritten + " \x1b[31mred\x1b[0m \x00"
            return self._send(200, _completion(json.dumps({"rewritten": bad}), model))
        if b == "429":
            return self._send(
                429, {"error": {"message": "rate limited"}}, headers={"Retry-After": "0"}
            )
        if b == "500":
            return self._send(500, {"error": {"message": "internal error"}})
        if b == "badjson":
            return self._send_raw(200, b'{"choices": [{"message": {"content": "x"')
        if b == "truncated":
            data = json.dumps(_completion(good, model)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 3])
            self.wfile.flush()
            self.close_connection = True
            return None
        if b in ("400", "401", "403", "404"):
            return self._send(int(b), {"error": {"message": f"fake {b}"}})
        hostile = hostile_reply(b, original, rewritten)  # steering replies: hostile_llm_replies
        if hostile is not None:
            return self._send(200, _completion(hostile, model))
        raise ValueError(f"unknown fake behaviour {b!r}")

    def _send(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(obj).encode(), headers)

    def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
