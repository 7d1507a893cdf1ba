"""LLM perturbations through any OpenAI-compatible chat-completions server.

One backend covers the OpenAI API, vLLM, TGI, Ollama, LM Studio and llama.cpp servers: they all
speak ``POST {base_url}/chat/completions``. A batch runs as concurrent HTTP requests on one
``httpx.AsyncClient`` (connection reuse) bounded by a semaphore, because a long explanation job
is thousands of independent short requests and latency, not bandwidth, dominates.

Failure policy (see ``perturbers/base.py``): a request that keeps failing (rate limits, server
errors, timeouts, replies that do not parse) becomes a recorded failure with its reason, so one
bad row never kills a 10,000-request job. What makes *every* request fail is raised instead, and
early: a rejected API key (``AuthenticationError``, no retries) and a server that cannot be
reached (``PerturberError`` after the first wave of requests, not after 1,000 retry budgets).

The API key is read from the environment at request time and never stored on the object, so it
cannot leak into ``identity`` (a cache key written to disk), ``repr`` or pickles. Server text
that ends up in a failure reason (and so in the store) has the key masked, because some proxies
echo request headers in their error bodies.

With ``on_result`` each request's result is reported the moment it is final, so the Explainer
can store it before the rest of the batch is back. Connection failures are not streamed: they
may turn into "the server is unreachable" for the whole batch, which must not be cached as
per-row failures.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from rmx_widgets.core.errors import AuthenticationError, PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import (
    BasePerturber,
    PerturbationRequest,
    PerturbationResult,
    ResultCallback,
    settings_suffix,
)
from rmx_widgets.core.perturbers.prompts import (
    ATTRIBUTE_TEMPLATE,
    PromptTemplate,
    TemplatedLLM,
    check_template,
    parse_reply,
)

OPENAI_BASE_URL = "https://api.openai.com/v1"
_RETRY_STATUS = {408, 409, 425, 429}
_RETRY_AFTER_CAP = 120.0
# what ``stats`` counts over the object's lifetime (see the class docstring)
_STATS = (
    "requests",
    "http_requests",
    "retries",
    "failures",
    "prompt_tokens",
    "completion_tokens",
)


@dataclass
class _Attempt:
    """What one HTTP attempt ended in: a final ``result``, or a ``reason`` (of ``kind``, which
    the request's failure gets if every retry ends the same way) to retry after ``delay``
    seconds (``None`` = the usual exponential backoff)."""

    result: PerturbationResult | None = None
    reason: str = ""
    kind: FailureKind = FailureKind.OTHER
    delay: float | None = None


class _BatchState:
    """Connection health shared by the requests of one batch, for failing fast.

    ``connect_failures`` counts connection failures since the last HTTP response of any kind.
    Before the server has answered once, twice the first wave's size is enough evidence that
    it is not there; after it has answered, the limit is a whole wave's retry budgets, so a
    server that dies mid-job stops the job instead of failing the remaining rows one by one.
    """

    def __init__(self, n: int, concurrency: int, max_retries: int) -> None:
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


class OpenAIPerturber(TemplatedLLM, BasePerturber):
    """Rewrites responses with an OpenAI-compatible chat model (OpenAI, vLLM, TGI, Ollama...).

    ``base_url`` is the API root, e.g. ``http://localhost:8000/v1`` for vLLM or
    ``http://localhost:11434/v1`` for Ollama; ``None`` means the OpenAI API. The key comes from
    the environment variable ``api_key_env`` only; a local server without authentication works
    with the variable unset (no ``Authorization`` header is sent). ``name`` replaces the
    ``openai:{model}@{host}`` part of ``identity`` (the prompt version is always appended), e.g.
    to keep one cache across two hosts serving the same weights; a ``temperature`` or
    ``max_tokens`` other than the default follows it (``:temperature=0.7``), since either
    changes the rewrites. ``template`` picks the prompt
    (``prompts.ATTRIBUTE_TEMPLATE``, the method's, or ``PARAPHRASE_TEMPLATE``, the baseline);
    its tag ends ``identity`` (``:prompt-v1`` / ``:paraphrase-v1``).

    Declared capabilities: it streams (``on_result`` hears about each request as it is final)
    and ``stats`` counts, over the object's lifetime: ``requests`` (perturbations asked for),
    ``http_requests`` (attempts sent), ``retries``, ``failures`` (recorded failed
    perturbations) and the ``prompt_tokens``/``completion_tokens`` the server reported.
    """

    streams_results = True

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 16,
        max_retries: int = 4,
        timeout: float = 60.0,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        name: str | None = None,
        *,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        seed: int = 0,
        template: PromptTemplate = ATTRIBUTE_TEMPLATE,
    ) -> None:
        _check_arguments(model, api_key_env, concurrency, max_retries, timeout, max_tokens)
        self.model = model
        self.base_url = _normalise_base_url(base_url)
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = float(timeout)
        self.temperature = float(temperature)
        self.max_tokens = max_tokens
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self._rng = random.Random(seed)
        self._official = base_url is None or urlsplit(self.base_url).hostname == "api.openai.com"
        self.host = _host(self.base_url)
        self.name = name
        self.template = check_template(template)
        self.identity_stem = (name if name else f"openai:{model}@{self.host}") + settings_suffix(
            ("temperature", self.temperature, 0.0), ("max_tokens", self.max_tokens, 1024)
        )
        self.identity = f"{self.identity_stem}:{self.template.tag}"
        self.stats: dict[str, int] = dict.fromkeys(_STATS, 0)
        self._stats_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"OpenAIPerturber(model={self.model!r}, base_url={_redact(self.base_url)!r}, "
            f"api_key_env={self.api_key_env!r}, concurrency={self.concurrency}, "
            f"max_retries={self.max_retries}, timeout={self.timeout})"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_stats_lock"]  # locks do not pickle; copies get their own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._stats_lock = threading.Lock()
        # objects pickled before templates existed used the attribute prompt
        self.__dict__.setdefault("template", ATTRIBUTE_TEMPLATE)
        self.__dict__.setdefault("identity_stem", self.identity.rsplit(":", 1)[0])

    def _detach(self) -> None:
        """The copy gets its own stats lock and backoff RNG (see ``TemplatedLLM``)."""
        self._stats_lock = threading.Lock()
        self._rng = random.Random(self._rng.random())

    # -- public entry points -------------------------------------------------------------

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        return self.perturb_batch([request])[0]

    def perturb_batch(
        self, requests: Sequence[PerturbationRequest], on_result: ResultCallback | None = None
    ) -> list[PerturbationResult]:
        """Rewrite every request; results come back in input order, one per request.

        Blocking. Inside a running event loop (Jupyter) the batch runs on its own loop in a
        worker thread, because ``asyncio.run`` cannot nest; async code can await
        ``aperturb_batch`` instead. ``on_result(i, result)`` is called as each request
        finishes (from the thread running the loop).
        """
        requests = list(requests)
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.aperturb_batch(requests, on_result=on_result))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rmx-openai") as pool:
            return pool.submit(
                lambda: asyncio.run(self.aperturb_batch(requests, on_result=on_result))
            ).result()

    async def aperturb_batch(
        self, requests: Sequence[PerturbationRequest], on_result: ResultCallback | None = None
    ) -> list[PerturbationResult]:
        """The async form of ``perturb_batch``, for callers that already run an event loop."""
        requests = list(requests)
        if not requests:
            return []
        # Render every prompt before any network traffic: a bad direction fails at once.
        payloads = [self._payload(r) for r in requests]
        api_key = os.environ.get(self.api_key_env) or None
        if api_key is None and self._official:
            raise AuthenticationError(
                f"the environment variable {self.api_key_env} is not set; set it to your OpenAI "
                "API key (or pass base_url= for a local server that needs no key)."
            )
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        state = _BatchState(len(requests), self.concurrency, self.max_retries)
        sem = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        self._count("requests", len(requests))
        async with httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            limits=limits,
            timeout=httpx.Timeout(self.timeout),
        ) as client:
            tasks = [
                asyncio.create_task(self._reported(i, on_result, client, sem, state, req, body))
                for i, (req, body) in enumerate(zip(requests, payloads))
            ]
            try:
                _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            except BaseException:  # cancelled from outside: do not leave tasks running
                await _cancel(tasks)
                raise
            errors = [
                e
                for t in tasks
                if t.done() and not t.cancelled() and (e := t.exception()) is not None
            ]
            if errors:
                await _cancel(pending)
                raise errors[0]
        results = [t.result() for t in tasks]
        if not state.reached_server:
            raise PerturberError(self._unreachable_message(state.last_error or results[0].failure))
        self._count("failures", sum(r.text is None for r in results))
        return results

    # -- one request ---------------------------------------------------------------------

    def _payload(self, request: PerturbationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.template.messages(request),
            "temperature": self.temperature,
        }
        # OpenAI's own API deprecated max_tokens (reasoning models reject it); the other
        # servers only know max_tokens.
        body["max_completion_tokens" if self._official else "max_tokens"] = self.max_tokens
        return body

    async def _reported(
        self,
        i: int,
        on_result: ResultCallback | None,
        client: httpx.AsyncClient,
        sem: asyncio.Semaphore,
        state: _BatchState,
        request: PerturbationRequest,
        body: dict[str, Any],
    ) -> PerturbationResult:
        """``_one``, then tell ``on_result`` (connection failures excepted, see module doc)."""
        result = await self._one(client, sem, state, request, body)
        if on_result is not None and result.kind is not FailureKind.CONNECTION:
            on_result(i, result)
        return result

    async def _one(
        self,
        client: httpx.AsyncClient,
        sem: asyncio.Semaphore,
        state: _BatchState,
        request: PerturbationRequest,
        body: dict[str, Any],
    ) -> PerturbationResult:
        reason, kind = "", FailureKind.OTHER
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            if attempt:
                self._count("retries")
            async with sem:  # held per attempt, not during backoff, so sleepers free slots
                self._count("http_requests")
                outcome = await self._attempt(client, state, request, body)
            if outcome.result is not None:
                return outcome.result
            reason, kind = outcome.reason, outcome.kind
            if attempt + 1 < attempts:
                delay = outcome.delay if outcome.delay is not None else self._backoff(attempt)
                if delay > 0:
                    await asyncio.sleep(delay)
        return PerturbationResult.failed(
            self._mask(f"{reason} (gave up after {attempts} attempt{'s' if attempts > 1 else ''})"),
            kind,
        )

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        state: _BatchState,
        request: PerturbationRequest,
        body: dict[str, Any],
    ) -> _Attempt:
        try:
            resp = await client.post("chat/completions", json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            error = f"cannot connect ({type(e).__name__}: {e})"
            if state.connect_failed(error):
                raise PerturberError(self._unreachable_message(error)) from None
            return _Attempt(reason=error, kind=FailureKind.CONNECTION)
        except httpx.TimeoutException as e:
            return _Attempt(
                reason=f"no complete reply within timeout={self.timeout}s ({type(e).__name__})",
                kind=FailureKind.TIMEOUT,
            )
        except httpx.TransportError as e:  # reset connections, truncated bodies
            state.answered()
            return _Attempt(
                reason=f"broken reply from the server ({type(e).__name__}: {e})",
                kind=FailureKind.BROKEN_REPLY,
            )
        state.answered()
        return self._handle(resp, request)

    def _handle(self, resp: httpx.Response, request: PerturbationRequest) -> _Attempt:
        """What one HTTP response means: an error for the whole job (a rejected key, a wrong
        URL or model), a failure to retry or record, or the rewrite in its reply."""
        self._raise_for_job_error(resp)
        failed = self._failed_status(resp)
        if failed is not None:
            return failed
        return self._read_reply(resp, request)

    def _raise_for_job_error(self, resp: httpx.Response) -> None:
        """Raise for the statuses that every request of the job would get too."""
        status = resp.status_code
        if status in (401, 403):
            key_state = (
                "is set but was rejected" if os.environ.get(self.api_key_env) else "is not set"
            )
            raise AuthenticationError(
                self._mask(
                    f"the LLM server at {_redact(self.base_url)} refused the request with HTTP "
                    f"{status} ({_server_message(resp)}). The environment variable "
                    f"{self.api_key_env} {key_state}; set it to a valid API key for this server."
                )
            )
        if status == 404:
            raise PerturberError(
                self._mask(
                    f"the LLM server at {_redact(self.base_url)} answered HTTP 404 for "
                    f"chat/completions with model {self.model!r} ({_server_message(resp)}). Check "
                    "base_url (it should end in the API root, e.g. '/v1') and the model name."
                )
            )

    def _failed_status(self, resp: httpx.Response) -> _Attempt | None:
        """A status that fails this request: retried (rate limits, server errors, ...) or,
        when retrying cannot help, final; ``None`` for a success."""
        status = resp.status_code
        if status == 429 or status in _RETRY_STATUS or status >= 500:
            kind = (
                FailureKind.RATE_LIMITED
                if status == 429
                else FailureKind.SERVER_ERROR
                if status >= 500
                else FailureKind.CLIENT_ERROR
            )
            return _Attempt(
                reason=f"HTTP {status} ({_server_message(resp)})",
                kind=kind,
                delay=_retry_after(resp.headers.get("retry-after")),
            )
        if status >= 400:  # this request is unacceptable as sent; retrying cannot help
            return _Attempt(
                result=PerturbationResult.failed(
                    self._mask(f"HTTP {status} from the server: {_server_message(resp)}"),
                    FailureKind.CLIENT_ERROR,
                )
            )
        return None

    def _read_reply(self, resp: httpx.Response, request: PerturbationRequest) -> _Attempt:
        """The rewrite in a successful reply, or why the reply is unusable (retried)."""
        try:
            data = resp.json()
        except ValueError:
            return _Attempt(
                reason="the server sent a malformed JSON body", kind=FailureKind.BROKEN_REPLY
            )
        try:
            choice = data["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            return _Attempt(
                reason="the server's JSON has no choices[0].message.content",
                kind=FailureKind.BROKEN_REPLY,
            )
        self._count_usage(data)
        if content is None:
            return _Attempt(
                reason="the model returned no text content", kind=FailureKind.BROKEN_REPLY
            )
        result = parse_reply(content, request.response)
        if result.text is not None:
            return _Attempt(result=result)
        reason = result.failure or "unparseable reply"
        if isinstance(choice, dict) and choice.get("finish_reason") == "length":
            reason += f" (the reply was cut off at max_tokens={self.max_tokens}; raise it)"
        # the server is fine: ask again at once
        return _Attempt(reason=reason, kind=result.kind or FailureKind.UNPARSEABLE, delay=0.0)

    def _count_usage(self, data: Any) -> None:
        """Add the tokens the server reports (if it does) to ``stats``."""
        usage = data.get("usage") if isinstance(data, dict) else None
        if isinstance(usage, dict):
            for key in ("prompt_tokens", "completion_tokens"):
                if isinstance(usage.get(key), int):
                    self._count(key, usage[key])

    # -- helpers -------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        base = min(self.backoff_max, self.backoff_base * (2**attempt))
        return base * (0.5 + self._rng.random())

    def _mask(self, text: str) -> str:
        """``text`` with the API key (if set and echoed by the server) replaced by ``***``."""
        key = os.environ.get(self.api_key_env)
        return text.replace(key, "***") if key and len(key) >= 4 else text

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def _unreachable_message(self, error: str | None) -> str:
        return (
            f"cannot reach the LLM server at {_redact(self.base_url)}: {error}. Check that "
            "the server is running and that base_url is its API root (e.g. "
            "http://localhost:8000/v1 for vLLM, http://localhost:11434/v1 for Ollama)."
        )


def _check_arguments(
    model: str,
    api_key_env: str,
    concurrency: int,
    max_retries: int,
    timeout: float,
    max_tokens: int,
) -> None:
    """Refuse the constructor arguments no request could work with, before any is sent."""
    if not isinstance(model, str) or not model.strip():
        raise PerturberError(
            "OpenAIPerturber needs a model name, e.g. model='gpt-4o-mini' "
            "(for vLLM/Ollama: the name the server serves)."
        )
    if not isinstance(api_key_env, str) or not api_key_env:
        raise PerturberError(
            "api_key_env must name an environment variable, e.g. "
            "'OPENAI_API_KEY'; the key itself is never passed in code."
        )
    if not isinstance(concurrency, int) or concurrency < 1:
        raise PerturberError(f"concurrency must be a positive integer, got {concurrency!r}.")
    if not isinstance(max_retries, int) or max_retries < 0:
        raise PerturberError(f"max_retries must be an integer >= 0, got {max_retries!r}.")
    if not timeout or timeout <= 0:
        raise PerturberError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise PerturberError(f"max_tokens must be a positive integer, got {max_tokens!r}.")


def _host(base_url: str) -> str:
    """``host[:port]`` of a normalised base URL, as ``identity`` names the server."""
    parts = urlsplit(base_url)
    host = parts.hostname or parts.netloc
    if parts.port:
        host = f"{host}:{parts.port}"
    return host


def _normalise_base_url(base_url: str | None) -> str:
    if base_url is None:
        return OPENAI_BASE_URL
    if not isinstance(base_url, str) or not base_url.strip():
        raise PerturberError(
            f"base_url must be a URL such as 'http://localhost:8000/v1', got {base_url!r}."
        )
    url = base_url.strip().rstrip("/")
    if url.endswith("/chat/completions"):  # a common paste: the endpoint instead of the root
        url = url[: -len("/chat/completions")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PerturberError(
            f"base_url must start with http:// or https:// and name a host, "
            f"e.g. 'http://localhost:8000/v1'; got {base_url!r}."
        )
    return url


def _redact(url: str) -> str:
    """The URL without any user:password part, for messages and repr."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _retry_after(value: str | None) -> float | None:
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
    return min(max(0.0, seconds), _RETRY_AFTER_CAP)


def _server_message(resp: httpx.Response) -> str:
    """The error text a server put in its body (OpenAI-style ``error.message`` if present)."""
    try:
        data = resp.json()
    except ValueError:
        text = " ".join(resp.text.split())
        return text[:200] or resp.reason_phrase or "no details"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err:
            return str(err)[:200]
    return str(data)[:200]


async def _cancel(tasks: Any) -> None:
    tasks = list(tasks)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
