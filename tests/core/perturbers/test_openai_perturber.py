"""OpenAIPerturber against a local scripted chat-completions server (offline, fast)."""

from __future__ import annotations

import asyncio
import pickle
import socket
import time

import pytest
from fake_llm_server import FakeLLMServer

from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.errors import AuthenticationError, PerturberError
from rmx_widgets.core.failures import FailureKind, legacy_failure_kind
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.openai import OpenAIPerturber
from rmx_widgets.core.perturbers.prompts import TEMPLATE_VERSION

KEY_ENV = "RMX_TEST_LLM_KEY"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


def make(server: FakeLLMServer, **kw) -> OpenAIPerturber:
    kw.setdefault("timeout", 5.0)
    kw.setdefault("backoff_base", 0.01)
    return OpenAIPerturber("fake-model", base_url=server.url, api_key_env=KEY_ENV, **kw)


def reqs(n: int, tag: str = "row", direction: str = "worse") -> list[PerturbationRequest]:
    attr = get_attribute("verbosity")
    return [
        PerturbationRequest(f"Question {i}?", f"{tag}-{i} answer text.", attr, direction)
        for i in range(n)
    ]


def test_happy_path_in_order_with_identity_and_stats(server):
    pert = make(server)
    rs = reqs(12)
    out = pert.perturb_batch(rs)
    assert [o.text for o in out] == [f"{r.response} [worse:verbosity]" for r in rs]
    assert all(o.failure is None for o in out)
    assert len(server.requests) == 12
    assert {r.body["model"] for r in server.requests} == {"fake-model"}
    assert all(r.path == "/v1/chat/completions" for r in server.requests)
    assert server.requests[0].body["messages"][0]["role"] == "system"
    assert server.requests[0].body["max_tokens"] == 1024
    assert pert.identity == f"openai:fake-model@127.0.0.1:{server.port}:prompt-{TEMPLATE_VERSION}"
    assert pert.stats["requests"] == 12 and pert.stats["http_requests"] == 12
    assert pert.stats["retries"] == 0 and pert.stats["failures"] == 0
    assert pert.stats["completion_tokens"] == 60
    assert pert.perturb_batch([]) == []


def test_name_and_trailing_endpoint_are_normalised(server):
    pert = OpenAIPerturber(
        "m", base_url=server.url + "/chat/completions/", name="mylab", api_key_env=KEY_ENV
    )
    assert pert.identity == f"mylab:prompt-{TEMPLATE_VERSION}"
    assert pert.perturb(reqs(1)[0]).text == "row-0 answer text. [worse:verbosity]"


def test_concurrency_is_bounded_and_used():
    with FakeLLMServer(delay=0.08) as s:
        pert = make(s, concurrency=4)
        out = pert.perturb_batch(reqs(20))
        assert all(o.text for o in out)
        assert s.max_in_flight == 4


@pytest.mark.parametrize(
    "behaviour", ["429", "500", "truncated", "badjson", "malformed", "missing_key", "unchanged"]
)
def test_transient_errors_are_retried_then_succeed(server, behaviour):
    pert = make(server)
    server.script("row-1 ", [behaviour, behaviour])
    rs = reqs(3)
    out = pert.perturb_batch(rs)
    assert [o.text for o in out] == [f"{r.response} [worse:verbosity]" for r in rs]
    assert len(server.requests_with("row-1 ")) == 3
    assert len(server.requests_with("row-0 ")) == 1
    assert pert.stats["retries"] == 2 and pert.stats["failures"] == 0


def test_hanging_request_times_out_and_is_retried():
    with FakeLLMServer(hang_seconds=1.5) as s:
        pert = make(s, timeout=0.3)
        s.script("row-0 ", ["hang"])
        t0 = time.monotonic()
        out = pert.perturb_batch(reqs(2))
        assert time.monotonic() - t0 < 1.4  # did not wait for the hanging reply
        assert out[0].text == "row-0 answer text. [worse:verbosity]"
        assert len(s.requests_with("row-0 ")) == 2 and pert.stats["retries"] == 1


def test_persistent_malformed_reply_is_a_recorded_failure(server):
    pert = make(server, max_retries=2)
    server.script("row-2 ", ["malformed"] * 10)
    server.script("row-3 ", ["unchanged"] * 10)
    out = pert.perturb_batch(reqs(5))
    assert out[2].text is None
    assert "not a JSON object" in out[2].failure and "3 attempts" in out[2].failure
    assert out[3].text is None and "unchanged" in out[3].failure
    assert [o.text is not None for o in out] == [True, True, False, False, True]
    assert len(server.requests_with("row-2 ")) == 3
    assert pert.stats["failures"] == 2 and pert.stats["retries"] == 4


def test_client_error_is_recorded_without_retry(server):
    pert = make(server)
    server.script("row-1 ", ["400"])
    out = pert.perturb_batch(reqs(2))
    assert out[1].text is None and "HTTP 400" in out[1].failure and "fake 400" in out[1].failure
    assert len(server.requests_with("row-1 ")) == 1


@pytest.mark.parametrize("status", ["401", "403"])
def test_auth_failure_raises_at_once_without_retry(server, status):
    server.default = status
    pert = make(server, concurrency=1, backoff_base=1.0)
    t0 = time.monotonic()
    with pytest.raises(AuthenticationError, match=KEY_ENV):
        pert.perturb_batch(reqs(5))
    assert time.monotonic() - t0 < 1.0
    assert len(server.requests) == 1
    assert pert.stats["retries"] == 0


def test_not_found_raises_perturber_error(server):
    server.default = "404"
    with pytest.raises(PerturberError, match="404.*base_url"):
        make(server).perturb_batch(reqs(3))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_fails_fast_with_default_retries():
    pert = OpenAIPerturber("m", base_url=f"http://127.0.0.1:{_free_port()}/v1", api_key_env=KEY_ENV)
    t0 = time.monotonic()
    with pytest.raises(PerturberError, match="cannot reach the LLM server"):
        pert.perturb_batch(reqs(200))
    assert time.monotonic() - t0 < 3.0
    assert pert.stats["http_requests"] < 100


def test_unreachable_server_raises_even_without_retries():
    pert = OpenAIPerturber(
        "m", base_url=f"http://127.0.0.1:{_free_port()}/v1", api_key_env=KEY_ENV, max_retries=0
    )
    with pytest.raises(PerturberError, match="cannot reach"):
        pert.perturb_batch(reqs(1))


def test_api_key_from_env_is_sent_and_never_stored(server, monkeypatch):
    secret = "sk-test-very-secret-123"
    pert = make(server)
    out = pert.perturb_batch(reqs(1))  # unset: no Authorization header at all
    assert out[0].text and "authorization" not in server.requests[0].headers
    monkeypatch.setenv(KEY_ENV, secret)
    pert.perturb_batch(reqs(1))
    assert server.requests[1].headers["authorization"] == f"Bearer {secret}"
    for text in (pert.identity, repr(pert), str(vars(pert)), str(pickle.dumps(pert))):
        assert secret not in text
    clone = pickle.loads(pickle.dumps(pert))
    assert clone.identity == pert.identity and clone.perturb_batch(reqs(1))[0].text
    with pytest.raises(TypeError):  # the key is never a constructor argument
        OpenAIPerturber("m", base_url=server.url, api_key=secret)


def test_official_api_without_key_fails_before_any_request(monkeypatch):
    monkeypatch.delenv("RMX_UNSET_KEY", raising=False)
    pert = OpenAIPerturber("gpt-4o-mini", api_key_env="RMX_UNSET_KEY")
    assert pert.identity == f"openai:gpt-4o-mini@api.openai.com:prompt-{TEMPLATE_VERSION}"
    with pytest.raises(AuthenticationError, match="RMX_UNSET_KEY"):
        pert.perturb_batch(reqs(1))
    assert pert.stats["http_requests"] == 0


def test_works_inside_a_running_event_loop(server):
    pert = make(server)

    async def notebook_cell():
        sync = pert.perturb_batch(reqs(3))
        native = await pert.aperturb_batch(reqs(2, tag="async", direction="better"))
        return sync, native

    # a fresh thread plays the kernel's loop thread (the test process may hold a loop already)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        sync, native = pool.submit(asyncio.run, notebook_cell()).result(timeout=60)
    assert [o.text for o in sync] == [f"row-{i} answer text. [worse:verbosity]" for i in range(3)]
    assert native[1].text == "async-1 answer text. [better:verbosity]"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": ""},
        {"concurrency": 0},
        {"max_retries": -1},
        {"base_url": "localhost:8000"},
        {"timeout": 0},
    ],
)
def test_bad_configuration_is_a_clear_error(kwargs):
    args = {"model": "m", "base_url": "http://127.0.0.1:1/v1", **kwargs}
    with pytest.raises(PerturberError):
        OpenAIPerturber(**args)


@pytest.mark.parametrize(
    "behaviour, kind",
    [
        ("429", FailureKind.RATE_LIMITED),
        ("500", FailureKind.SERVER_ERROR),
        ("400", FailureKind.CLIENT_ERROR),
        ("truncated", FailureKind.BROKEN_REPLY),
        ("badjson", FailureKind.BROKEN_REPLY),
        ("malformed", FailureKind.UNPARSEABLE),
        ("missing_key", FailureKind.UNPARSEABLE),
        ("unchanged", FailureKind.UNCHANGED),
    ],
)
def test_recorded_failures_name_their_kind(server, behaviour, kind):
    """Each failure carries the kind of its last attempt, chosen where it was seen (the same
    kind the old classifier read from these reasons), and the backend declares that it
    streams and what it counts."""
    pert = make(server, max_retries=1)
    server.script("row-0 ", [behaviour] * 5)
    reported = {}
    out = pert.perturb_batch(reqs(2), on_result=lambda i, r: reported.setdefault(i, r))
    assert out[0].text is None and out[0].kind is kind
    assert legacy_failure_kind(out[0].failure) is kind
    assert reported == {0: out[0], 1: out[1]} and out[1].kind is None
    assert pert.streams_results and pert.stats["failures"] == 1


def test_hanging_request_that_never_answers_is_a_timeout():
    with FakeLLMServer(hang_seconds=1.0) as s:
        pert = make(s, timeout=0.2, max_retries=0)
        s.script("row-0 ", ["hang"])
        out = pert.perturb_batch(reqs(2))  # row-1 answers: the server is there
    assert out[0].kind is FailureKind.TIMEOUT and "timeout" in out[0].failure
    assert out[1].text is not None
