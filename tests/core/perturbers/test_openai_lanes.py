"""OpenAIPerturber's lanes (``openai_session``): one keep-alive connection per slot of
``concurrency``, reused across batches, released by every way an attempt can end, and never
two requests racing for one connection inside httpcore's pool."""

from __future__ import annotations

import threading

import pytest
from fake_llm_server import FakeLLMServer, _Handler

from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.openai import OpenAIPerturber

KEY_ENV = "RMX_TEST_LLM_KEY"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


class _PortsHandler(_Handler):
    """Records the client port of every request: one port is one TCP connection."""

    ports: set[int]
    lock = threading.Lock()

    def do_POST(self) -> None:
        with self.lock:
            self.ports.add(self.client_address[1])
        super().do_POST()


class PortsServer(FakeLLMServer):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.ports: set[int] = set()
        outer = self

        class Handler(_PortsHandler):
            ports = outer.ports

        self.handler_base = Handler


def make(server: FakeLLMServer, **kw) -> OpenAIPerturber:
    kw.setdefault("timeout", 5.0)
    kw.setdefault("backoff_base", 0.01)
    return OpenAIPerturber("fake-model", base_url=server.url, api_key_env=KEY_ENV, **kw)


def reqs(n: int, tag: str = "row") -> list[PerturbationRequest]:
    attr = get_attribute("verbosity")
    return [
        PerturbationRequest(f"Question {i}?", f"{tag}-{i} answer text.", attr, "worse")
        for i in range(n)
    ]


def test_lanes_keep_one_connection_each_across_batches():
    with PortsServer(delay=0.03) as server:
        pert = make(server, concurrency=4)
        for b in range(3):
            out = pert.perturb_batch(reqs(12, tag=f"b{b}"))
            assert [o.text for o in out] == [
                f"b{b}-{i} answer text. [worse:verbosity]" for i in range(12)
            ]
        assert len(server.requests) == 36 and server.max_in_flight == 4
        assert len(server.ports) == 4  # 4 connections for 36 requests: each lane's, reused
        session = pert.__dict__["_session"]
        assert len(session.clients) == 4


def test_lanes_are_made_on_first_use_only():
    with FakeLLMServer() as server:
        pert = make(server, concurrency=16)
        pert.perturb_batch(reqs(2))
        pert.perturb_batch(reqs(1, tag="again"))
        assert len(pert.__dict__["_session"].clients) <= 2  # not 16 clients for 3 requests


def test_a_timed_out_attempt_gives_its_lane_back():
    """With one lane, an attempt cut by total_timeout must free it: the next batch (and the
    retry) could not run otherwise."""
    with FakeLLMServer(hang_seconds=3.0) as server:
        server.script("slow-1 ", ["hang", "hang"])
        pert = make(server, concurrency=1, total_timeout=0.3, max_retries=1)
        out = pert.perturb_batch(reqs(2, tag="slow"))  # slow-0 answers, slow-1 hangs twice
        assert out[0].text == "slow-0 answer text. [worse:verbosity]"
        assert out[1].text is None and "total_timeout=0.3s" in out[1].failure
        assert "2 attempts" in out[1].failure
        again = pert.perturb_batch(reqs(3, tag="fast"))
        assert [o.text for o in again] == [
            f"fast-{i} answer text. [worse:verbosity]" for i in range(3)
        ]
        assert len(pert.__dict__["_session"].clients) == 1


def test_a_burst_of_replies_never_makes_httpcore_retry_a_connection(monkeypatch):
    """Regression: on one client whose pool held every connection, httpcore handed one idle
    connection to every request entering in the same loop pass; all but one raised
    ConnectionNotAvailable and rescanned the pool (what made the client 0.4-0.6x a thread
    pool in bench/generation.py). A lane's pool only ever has one request."""
    pool = pytest.importorskip("httpcore._async.connection_pool")
    request_cls = getattr(pool, "AsyncPoolRequest", None)
    if request_cls is None or not hasattr(request_cls, "clear_connection"):
        pytest.skip("this httpcore has no AsyncPoolRequest.clear_connection to count")
    retried = []
    original = request_cls.clear_connection

    def clear_connection(self):
        retried.append(1)
        return original(self)

    monkeypatch.setattr(request_cls, "clear_connection", clear_connection)
    with FakeLLMServer(delay=0.05) as server:
        pert = make(server, concurrency=8)
        for b in range(2):  # the second batch reuses every keep-alive connection at once
            out = pert.perturb_batch(reqs(48, tag=f"burst{b}"))
            assert all(o.text for o in out)
        assert len(server.requests) == 96 and server.max_in_flight == 8
    assert retried == []


class _CookieHandler(_Handler):
    """Sets a cookie on every reply, as a proxy or gateway in front of a server may."""

    def end_headers(self) -> None:
        self.send_header("Set-Cookie", "session=from-the-server; Path=/")
        super().end_headers()


def test_cookies_a_server_sets_are_never_sent_back():
    """An LLM server's cookies must not tie one request to the next (or leak between
    batches and studies): every lane's client refuses to store them."""
    server = FakeLLMServer()
    server.handler_base = _CookieHandler
    with server:
        pert = make(server, concurrency=1)
        first = pert.perturb_batch(reqs(3, tag="one"))
        second = pert.perturb_batch(reqs(3, tag="two"))
    assert [o.text for o in first + second] == [
        f"{tag}-{i} answer text. [worse:verbosity]" for tag in ("one", "two") for i in range(3)
    ]
    assert len(server.requests) == 6
    assert [r.headers.get("cookie") for r in server.requests] == [None] * 6
