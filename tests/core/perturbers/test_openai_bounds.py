"""OpenAIPerturber against hostile servers: every reply costs bounded time and memory.

Each test configures small limits so that, were a bound missing, it would fail within seconds
(the hostile loops are bounded too) rather than hang.
"""

from __future__ import annotations

import secrets
import time
import tracemalloc

import pytest
from hostile_llm_server import HostileLLMServer, gzip_of_zeros

from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.openai import OpenAIPerturber

KEY_ENV = "RMX_TEST_BOUNDS_KEY"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def hostile():
    with HostileLLMServer() as s:
        yield s


def make(server, **kw) -> OpenAIPerturber:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("max_retries", 0)
    return OpenAIPerturber("fake", base_url=server.url, api_key_env=KEY_ENV, **kw)


def reqs(n: int) -> list[PerturbationRequest]:
    attr = get_attribute("verbosity")
    return [PerturbationRequest(f"Q{i}?", f"row-{i} answer text.", attr, "worse") for i in range(n)]


def test_dripping_server_is_stopped_by_the_total_deadline(hostile):
    """One byte every 0.2 s never trips the 3 s read timeout; the 1 s deadline stops it."""
    hostile.script("row-0 ", ["drip"] * 5)
    pert = make(hostile, timeout=3.0, total_timeout=1.0, max_retries=1)
    t0 = time.monotonic()
    out = pert.perturb_batch(reqs(2))
    elapsed = time.monotonic() - t0
    assert out[0].kind is FailureKind.TIMEOUT, out[0].failure
    assert "total_timeout=1s" in out[0].failure and "2 attempts" in out[0].failure
    assert elapsed < 3.5  # two attempts of 1 s, not 2 x 4 s of dripping
    assert out[1].text is not None


def test_default_total_timeout_is_twice_the_read_timeout():
    pert = OpenAIPerturber("m", base_url="http://127.0.0.1:1/v1", timeout=7)
    assert pert.total_timeout == 14.0
    assert OpenAIPerturber("m").total_timeout == 120.0
    assert OpenAIPerturber("m").max_response_bytes == 4 * 1024 * 1024


def test_endless_chunked_body_is_cut_at_max_response_bytes(hostile):
    hostile.default = "endless"
    pert = make(hostile, max_response_bytes=256 * 1024)
    t0 = time.monotonic()
    out = pert.perturb_batch(reqs(1))
    assert time.monotonic() - t0 < 5
    assert out[0].kind is FailureKind.BROKEN_REPLY
    assert "max_response_bytes=262,144" in out[0].failure
    time.sleep(0.2)  # let the server notice the closed connection
    assert hostile.sent < 16 << 20  # the client hung up long before the 64 MiB


def test_gzip_bomb_is_never_inflated_past_the_limit(hostile):
    hostile.default = "gzip_bomb"
    bomb = gzip_of_zeros(hostile.bomb_bytes)
    assert len(bomb) < 100_000  # 16 MiB of zeros in ~16 KB
    pert = make(hostile, max_response_bytes=64 * 1024)
    tracemalloc.start()
    try:
        out = pert.perturb_batch(reqs(2))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(o.kind is FailureKind.BROKEN_REPLY for o in out), out
    assert "decoded body" in out[0].failure and "max_response_bytes=65,536" in out[0].failure
    assert peak < 6 << 20, peak  # inflating even one bomb would take 16 MiB


def test_gzip_encoded_good_reply_is_read(hostile):
    hostile.default = "gzip_good"
    out = make(hostile).perturb_batch(reqs(2))
    assert [o.text for o in out] == [f"row-{i} answer text. [worse:verbosity]" for i in range(2)]


def test_announced_huge_body_is_refused_unread(hostile):
    hostile.default = "big_length"
    out = make(hostile).perturb_batch(reqs(1))
    assert out[0].kind is FailureKind.BROKEN_REPLY
    assert "announced a 1,000,000,000,000-byte body" in out[0].failure


def test_redirect_is_refused_naming_its_host(hostile, monkeypatch):
    monkeypatch.setenv(KEY_ENV, f"sk-{secrets.token_hex(16)}")
    hostile.default = "redirect"
    with pytest.raises(PerturberError, match=r"HTTP 307: redirect to evil\.example refused"):
        make(hostile, max_retries=3).perturb_batch(reqs(3))
    assert all(r.path == "/v1/chat/completions" for r in hostile.requests)
    assert len(hostile.requests) <= 3  # not retried, never followed


def test_rewrite_far_longer_than_the_original_is_refused(hostile):
    hostile.script("row-0 ", ["long_rewrite"] * 5)
    pert = make(hostile, max_retries=1)
    out = pert.perturb_batch(reqs(2))
    assert out[0].text is None and out[0].kind is FailureKind.UNPARSEABLE
    assert "the rewrite is too long: 5,036 characters" in out[0].failure
    assert "limit of 2,018" in out[0].failure and "max_rewrite_factor=4" in out[0].failure
    assert out[1].text is not None
    loose = make(hostile, max_rewrite_slack=10_000)  # configurable
    assert loose.perturb_batch(reqs(1))[0].text.endswith(" more")


@pytest.mark.parametrize(
    "host", ["10.1.2.3", "example.com", "[2001:db8::1]", "127.0.0.1.nip.io", "localhost.evil.com"]
)
def test_key_is_not_sent_over_plain_http_to_another_host(host, monkeypatch):
    monkeypatch.setenv(KEY_ENV, f"sk-{secrets.token_hex(16)}")
    pert = OpenAIPerturber("m", base_url=f"http://{host}/v1", api_key_env=KEY_ENV)
    with pytest.raises(PerturberError, match=r"plain http:// .*allow_insecure_http=True"):
        pert.perturb_batch(reqs(1))
    assert pert.stats["http_requests"] == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "[::1]"])
def test_loopback_http_and_keyless_http_are_allowed(host, monkeypatch):
    from rmx_widgets.core.perturbers.http_guard import insecure_key_error

    assert insecure_key_error(f"http://{host}:8000/v1", KEY_ENV) is None
    assert insecure_key_error(f"https://{host}/v1", KEY_ENV) is None
    assert insecure_key_error("https://example.com/v1", KEY_ENV) is None


def test_insecure_http_opt_in_sends_the_request(monkeypatch):
    monkeypatch.setenv(KEY_ENV, f"sk-{secrets.token_hex(16)}")
    pert = OpenAIPerturber(
        "m",
        base_url="http://192.0.2.1:9/v1",  # TEST-NET-1: nothing answers
        api_key_env=KEY_ENV,
        allow_insecure_http=True,
        timeout=0.3,
        max_retries=0,
    )
    with pytest.raises(PerturberError, match="cannot reach"):
        pert.perturb_batch(reqs(1))
    assert pert.stats["http_requests"] == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"total_timeout": 0},
        {"total_timeout": -1.0},
        {"max_response_bytes": 10},
        {"max_response_bytes": 1.5e6},
        {"max_rewrite_factor": 0.5},
        {"max_rewrite_slack": -1},
    ],
)
def test_bad_bounds_are_a_clear_error(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(PerturberError, match=name):
        OpenAIPerturber("m", base_url="http://127.0.0.1:1/v1", **kwargs)


def test_objects_pickled_before_the_bounds_get_the_defaults(hostile):
    pert = make(hostile, timeout=4.0)
    state = pert.__getstate__()
    for name in (
        "total_timeout",
        "max_response_bytes",
        "max_rewrite_factor",
        "allow_insecure_http",
    ):
        del state[name]
    old = OpenAIPerturber.__new__(OpenAIPerturber)
    old.__setstate__(state)
    assert (old.total_timeout, old.max_response_bytes, old.allow_insecure_http) == (
        8.0,
        4 * 1024 * 1024,
        False,
    )
    assert old.perturb_batch(reqs(1))[0].text is not None


@pytest.mark.parametrize(
    "command",
    [
        ["explain", "--rm", "transparent", "--perturber", "llm"],
        ["evaluate", "--rm", "transparent", "--perturber", "llm"],
        ["attributes", "discover"],
    ],
)
def test_cli_flag_allow_insecure_http_reaches_the_perturber(command):
    """``--allow-insecure-http`` is the CLI's way to the opt-in; without it the default holds."""
    from rmx_widgets.cli import build_parser
    from rmx_widgets.cli.options import perturber_options
    from rmx_widgets.core.specs import perturber_from_spec

    base = [*command, "--data", "d.jsonl", "--out", "o", "--model", "m"]
    base += ["--base-url", "http://10.1.2.3/v1"]
    for extra, expected in (([], False), (["--allow-insecure-http"], True)):
        args = build_parser().parse_args(base + extra)
        assert args.allow_insecure_http is expected
        if command[0] != "attributes":
            pert = perturber_from_spec("llm", **perturber_options(args))
            assert pert.allow_insecure_http is expected
