"""LLM perturbations through any OpenAI-compatible chat-completions server.

One backend covers the OpenAI API, vLLM, TGI, Ollama, LM Studio and llama.cpp servers (``POST
{base_url}/chat/completions``). A batch runs as concurrent requests on the perturber's one
reused session of ``concurrency`` lanes, each a keep-alive connection (``openai_session``): a
job is thousands of short requests, and latency dominates.

Failure policy (see ``perturbers/base.py``): a request that keeps failing (rate limits, server
errors, timeouts, replies that do not parse) becomes a recorded failure with its reason, so one
bad row never kills a 10,000-request job. What makes *every* request fail is raised instead, and
early: a rejected API key (``AuthenticationError``, no retries) and a server that cannot be
reached (``PerturberError`` after the first wave of requests, not after 1,000 retry budgets).

The API key is read from the environment at request time and never stored on the object, so it
cannot leak into ``identity`` (a cache key written to disk), ``repr`` or pickles. Server text
that ends up in a failure reason (and so in the store) has the key masked, because some proxies
echo request headers in their error bodies: masked first (raw, URL-, JSON-, HTML-escaped,
hex, base64, any case, any 8-character run of it), cut to 200 characters after
(``http_guard``).

With ``on_result`` each request's result is reported the moment it is final, so the Explainer
can store it before the rest of the batch is back. Connection failures are not streamed: they
may turn into "the server is unreachable" for the whole batch, which must not be cached as
per-row failures.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from rmx_widgets.core.errors import AuthenticationError, PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import (
    BasePerturber,
    PerturbationRequest,
    PerturbationResult,
    ResultCallback,
)
from rmx_widgets.core.perturbers.chat import ChatRequest, ReplyCheck
from rmx_widgets.core.perturbers.http_guard import (
    BadEncoding,
    BodyTooLarge,
    accept_encoding,
    cancel_all,
    clip,
    insecure_key_error,
    mask_key,
    read_body,
    redact,
    redirect_message,
    retry_after,
    server_message,
    within,
)
from rmx_widgets.core.perturbers.openai_args import (
    check_arguments,
    check_bounds,
    host_of,
    identity_stem,
    normalise_base_url,
    reported_usage,
    rewrite_too_long,
    unreachable_message,
)
from rmx_widgets.core.perturbers.openai_session import (
    CURRENT,
    BatchState,
    Session,
    new_session,
    run_in_session,
)
from rmx_widgets.core.perturbers.prompts import (
    ATTRIBUTE_TEMPLATE,
    MAX_TOKENS_CAP,
    PromptTemplate,
    TemplatedLLM,
    check_template,
    cut_at_max_tokens,
    parse_reply,
    reply_budget,
)
from rmx_widgets.core.perturbers.two_step import arun_two_step

MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # a chat reply of max_tokens=1024 is a few KB
# the per-request bounds' defaults, also for objects pickled before they existed
_BOUNDS: dict[str, Any] = {
    "max_response_bytes": MAX_RESPONSE_BYTES,
    "max_rewrite_factor": 4.0,
    "max_rewrite_slack": 2000,
    "allow_insecure_http": False,
    "max_tokens_cap": MAX_TOKENS_CAP,
}
_RETRY_STATUS = {408, 409, 425, 429}
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
    """One attempt's end: a final ``result``, or a ``reason`` of ``kind`` (the failure if every
    retry ends so) to retry after ``delay`` seconds (``None``: exponential backoff)."""

    result: PerturbationResult | None = None
    reason: str = ""
    kind: FailureKind = FailureKind.OTHER
    delay: float | None = None


class OpenAIPerturber(TemplatedLLM, BasePerturber):
    """Rewrites responses with an OpenAI-compatible chat model (OpenAI, vLLM, TGI, Ollama...).

    ``base_url`` is the API root, e.g. ``http://localhost:8000/v1`` for vLLM or
    ``http://localhost:11434/v1`` for Ollama; ``None`` means the OpenAI API. The key comes from
    the environment variable ``api_key_env`` only; a local server without authentication works
    with the variable unset (no ``Authorization`` header is sent). ``name`` replaces the
    ``openai:{model}@{host}`` part of ``identity`` (the prompt version is always appended), e.g.
    to keep one cache across two hosts; non-default output settings follow it (``:temperature=
    0.7``). ``max_tokens=None`` sizes each budget from the response (``prompts.reply_budget``,
    1024 to ``max_tokens_cap``); a reply cut there is a failure "rewrite cut at max_tokens".
    ``template``: ``prompts.ATTRIBUTE_TEMPLATE``, ``two_step.TWO_STEP_TEMPLATE`` (2 calls) or
    ``PARAPHRASE_TEMPLATE``; its tag ends ``identity`` (``:prompt-v2``, ``:two-step-v1``).

    Bounds per attempt (a hostile or broken server costs a bounded time and memory, never a
    hang): ``timeout`` (60 s) limits each connect/read/write, ``total_timeout`` (default twice
    ``timeout``: 120 s) the whole attempt, body included; the decoded body may have at most
    ``max_response_bytes`` (4 MiB; gzip/deflate are inflated incrementally, so a bomb stops
    there). Passing either is a retried failure (``timeout`` / ``broken reply``), like a hang
    or a truncated body. A rewrite longer than ``max_rewrite_factor`` (4) times the original or
    the original plus ``max_rewrite_slack`` (2000) characters, whichever is larger, is refused
    like an unparseable reply. A redirect is never followed (the key would go along): it stops
    the job, naming where it pointed. The key is not sent over plain ``http://`` to a host
    other than this machine unless ``allow_insecure_http=True``.

    Declared capabilities: it streams (``on_result`` hears about each request as it is final)
    and ``stats`` counts, over the object's lifetime: ``requests`` (perturbations asked for),
    ``http_requests`` (attempts sent), ``retries``, ``failures`` (recorded failed
    perturbations) and the ``prompt_tokens``/``completion_tokens`` the server reported; and
    ``perturb_batch`` may be called from several threads at once, all sharing one session's
    connections and ``concurrency`` (``ConcurrentBatches``), so the Explainer streams it
    (``core.pipeline``).
    """

    streams_results = supports_two_step = True

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 16,
        max_retries: int = 4,
        timeout: float = 60.0,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        name: str | None = None,
        *,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        seed: int = 0,
        template: PromptTemplate = ATTRIBUTE_TEMPLATE,
        total_timeout: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_rewrite_factor: float = 4.0,
        max_rewrite_slack: int = 2000,
        allow_insecure_http: bool = False,
        max_tokens_cap: int = MAX_TOKENS_CAP,
    ) -> None:
        check_arguments(
            model, api_key_env, concurrency, max_retries, timeout, max_tokens, max_tokens_cap
        )
        total = 2 * float(timeout) if total_timeout is None else total_timeout
        check_bounds(total, max_response_bytes, max_rewrite_factor, max_rewrite_slack)
        self.model = model
        self.base_url = normalise_base_url(base_url)
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = float(timeout)
        self.total_timeout = float(total)
        self.max_response_bytes = max_response_bytes
        self.max_rewrite_factor = float(max_rewrite_factor)
        self.max_rewrite_slack = max_rewrite_slack
        self.allow_insecure_http = bool(allow_insecure_http)
        self.temperature = float(temperature)
        self.max_tokens, self.max_tokens_cap = max_tokens, max_tokens_cap
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self._rng = random.Random(seed)
        self._official = base_url is None or urlsplit(self.base_url).hostname == "api.openai.com"
        self.host = host_of(self.base_url)
        self.name = name
        self.template = check_template(template, self)
        stem = name if name else f"openai:{model}@{self.host}"
        self.identity_stem = identity_stem(
            stem, self.temperature, max_tokens, max_tokens_cap, MAX_TOKENS_CAP
        )
        self.identity = f"{self.identity_stem}:{self.template.tag}"
        self.stats: dict[str, int] = dict.fromkeys(_STATS, 0)
        self._stats_lock = threading.Lock()

    @property
    def batch_concurrency(self) -> int:  # ``ConcurrentBatches``: batches share one bound
        return self.concurrency

    def __repr__(self) -> str:
        return (
            f"OpenAIPerturber(model={self.model!r}, base_url={redact(self.base_url)!r}, "
            f"api_key_env={self.api_key_env!r}, concurrency={self.concurrency}, "
            f"max_retries={self.max_retries}, timeout={self.timeout})"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_stats_lock"]  # locks do not pickle; copies get their own
        state.pop("_session", None)  # a live client of this process's loop
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._stats_lock = threading.Lock()
        # objects pickled before templates existed used the attribute prompt
        self.__dict__.setdefault("template", ATTRIBUTE_TEMPLATE)
        self.__dict__.setdefault("identity_stem", self.identity.rsplit(":", 1)[0])
        for key, value in _BOUNDS.items():  # objects pickled before the bounds existed
            self.__dict__.setdefault(key, value)
        self.__dict__.setdefault("total_timeout", 2 * self.timeout)

    def _detach(self) -> None:
        """The copy gets its own stats lock and backoff RNG (see ``TemplatedLLM``)."""
        self._stats_lock = threading.Lock()
        self._rng = random.Random(self._rng.random())
        self.__dict__.pop("_session", None)  # its own client, closed when it is collected

    # -- public entry points -------------------------------------------------------------

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        return self.perturb_batch([request])[0]

    def perturb_batch(
        self, requests: Sequence[PerturbationRequest], on_result: ResultCallback | None = None
    ) -> list[PerturbationResult]:
        """Rewrite every request; results come back in input order, one per request.

        Blocking, from any thread (Jupyter's included): the batch runs on the process's
        background loop with this perturber's one reused session (``openai_session``), so
        batches from several threads share ``concurrency``; async code can await
        ``aperturb_batch`` instead. ``on_result(i, result)`` is called as each request
        finishes (from the loop's thread).
        """
        requests = list(requests)
        if not requests:
            return []
        coro = self.aperturb_batch(requests, on_result=on_result)
        return run_in_session(self, self.base_url, self.concurrency, coro)

    async def aperturb_batch(
        self, requests: Sequence[PerturbationRequest], on_result: ResultCallback | None = None
    ) -> list[PerturbationResult]:
        """The async form of ``perturb_batch``, for callers that already run an event loop."""
        requests = list(requests)
        if requests and self.template.steps == 2 and not isinstance(requests[0], ChatRequest):
            return await arun_two_step(self, requests, on_result)  # calls back for each step
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
        if api_key and not self.allow_insecure_http:
            refused = insecure_key_error(self.base_url, self.api_key_env)
            if refused:
                raise PerturberError(refused)
        headers = accept_encoding()
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        state = BatchState(len(requests), self.concurrency, self.max_retries, headers)
        self._count("requests", len(requests))
        session = CURRENT.get()
        if session is not None and session.loop is asyncio.get_running_loop():
            tasks = await self._run_all(requests, payloads, on_result, session, state)
        else:  # awaited on the caller's own loop: a client for this batch
            own = new_session(self.base_url, self.concurrency)
            async with own:
                tasks = await self._run_all(requests, payloads, on_result, own, state)
        results = [t.result() for t in tasks]
        if not state.reached_server:
            raise PerturberError(
                unreachable_message(self.base_url, state.last_error or results[0].failure)
            )
        self._count("failures", sum(r.text is None for r in results))
        return results

    async def _run_all(
        self,
        requests: list[PerturbationRequest],
        payloads: list[dict[str, Any]],
        on_result: ResultCallback | None,
        session: Session,
        state: BatchState,
    ) -> list[asyncio.Task[PerturbationResult]]:
        """Every request of one batch as a task on ``session``; the first job error raised."""
        tasks = [
            asyncio.create_task(self._reported(i, on_result, session, state, req, body))
            for i, (req, body) in enumerate(zip(requests, payloads))
        ]
        try:
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        except BaseException:  # cancelled from outside: do not leave tasks running
            await cancel_all(tasks)
            raise
        errors = [
            e for t in tasks if t.done() and not t.cancelled() and (e := t.exception()) is not None
        ]
        if errors:
            await cancel_all(pending)
            raise errors[0]
        return tasks

    # -- free-form chat (attribute discovery) ------------------------------------------

    def chat_batch(
        self, conversations: Sequence[Sequence[dict[str, str]]], check: ReplyCheck
    ) -> list[PerturbationResult]:
        """One call per conversation (chat messages) through this client's retries, fail-fast,
        key masking and ``stats``; see ``perturbers.chat`` for ``check`` and the results."""
        return self.perturb_batch([ChatRequest.of(m, check) for m in conversations])

    # -- one request ---------------------------------------------------------------------

    def _payload(self, request: PerturbationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": (
                request.messages
                if isinstance(request, ChatRequest)
                else self.template.messages(request)
            ),
            "temperature": self.temperature,
        }
        # OpenAI's own API deprecated max_tokens (reasoning models reject it); the other
        # servers only know max_tokens.
        body["max_completion_tokens" if self._official else "max_tokens"] = self._budget(request)
        return body

    async def _reported(
        self,
        i: int,
        on_result: ResultCallback | None,
        session: Session,
        state: BatchState,
        request: PerturbationRequest,
        body: dict[str, Any],
    ) -> PerturbationResult:
        """``_one``, then tell ``on_result`` (connection failures excepted, see module doc)."""
        result = await self._one(session, state, request, body)
        if on_result is not None and result.kind is not FailureKind.CONNECTION:
            on_result(i, result)
        return result

    async def _one(
        self,
        session: Session,
        state: BatchState,
        request: PerturbationRequest,
        body: dict[str, Any],
    ) -> PerturbationResult:
        reason, kind = "", FailureKind.OTHER
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            if attempt:
                self._count("retries")
            # a lane is held per attempt, not during backoff, so sleepers free slots
            async with session.lane() as client:
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
        state: BatchState,
        request: PerturbationRequest,
        body: dict[str, Any],
    ) -> _Attempt:
        try:
            resp, content = await within(self.total_timeout, self._exchange(client, state, body))
        except asyncio.TimeoutError:
            return _Attempt(
                reason=f"no complete reply within total_timeout={self.total_timeout:g}s (the "
                "deadline for one attempt, reading the body included)",
                kind=FailureKind.TIMEOUT,
            )
        except BodyTooLarge as e:
            return _Attempt(
                reason=f"the reply is over max_response_bytes={self.max_response_bytes:,} ({e})",
                kind=FailureKind.BROKEN_REPLY,
            )
        except BadEncoding as e:
            return _Attempt(
                reason=f"broken reply from the server ({e})", kind=FailureKind.BROKEN_REPLY
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            error = f"cannot connect ({type(e).__name__}: {e})"
            if state.connect_failed(error):
                raise PerturberError(unreachable_message(self.base_url, error)) from None
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
        return self._handle(resp, content, request)

    async def _exchange(
        self, client: httpx.AsyncClient, state: BatchState, body: dict[str, Any]
    ) -> tuple[httpx.Response, bytes]:
        """Send one request and read its body, at most ``max_response_bytes`` of it decoded."""
        timeout = httpx.Timeout(self.timeout)
        post = client.stream(
            "POST", "chat/completions", json=body, headers=state.headers, timeout=timeout
        )
        async with post as resp:
            state.answered()
            if 300 <= resp.status_code < 400:  # refused unread (see _raise_for_job_error)
                return resp, b""
            return resp, await read_body(resp, self.max_response_bytes)

    def _handle(
        self, resp: httpx.Response, content: bytes, request: PerturbationRequest
    ) -> _Attempt:
        """What one HTTP response means: an error for the whole job (a rejected key, a wrong
        URL or model, a redirect), a failure to retry or record, or the rewrite in its reply."""
        self._raise_for_job_error(resp, content)
        failed = self._failed_status(resp, content)
        if failed is not None:
            return failed
        return self._read_reply(content, request)

    def _server_message(self, content: bytes, resp: httpx.Response) -> str:
        """The server's error text, the key masked in it and then cut to 200 characters."""
        return clip(server_message(content, resp), os.environ.get(self.api_key_env))

    def _raise_for_job_error(self, resp: httpx.Response, content: bytes) -> None:
        """Raise for the statuses that every request of the job would get too."""
        status = resp.status_code
        if 300 <= status < 400:  # following it would send the key to wherever it points
            raise PerturberError(self._mask(redirect_message(resp, self.base_url)))
        if status in (401, 403):
            key_state = (
                "is set but was rejected" if os.environ.get(self.api_key_env) else "is not set"
            )
            raise AuthenticationError(
                self._mask(
                    f"the LLM server at {redact(self.base_url)} refused the request with HTTP "
                    f"{status} ({self._server_message(content, resp)}). The environment variable "
                    f"{self.api_key_env} {key_state}; set it to a valid API key for this server."
                )
            )
        if status == 404:
            raise PerturberError(
                self._mask(
                    f"the LLM server at {redact(self.base_url)} answered HTTP 404 for "
                    f"chat/completions with model {self.model!r} "
                    f"({self._server_message(content, resp)}). Check base_url (it "
                    "should end in the API root, e.g. '/v1') and the model name."
                )
            )

    def _failed_status(self, resp: httpx.Response, content: bytes) -> _Attempt | None:
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
                reason=f"HTTP {status} ({self._server_message(content, resp)})",
                kind=kind,
                delay=retry_after(resp.headers.get("retry-after")),
            )
        if status >= 400:  # this request is unacceptable as sent; retrying cannot help
            return _Attempt(
                result=PerturbationResult.failed(
                    self._mask(
                        f"HTTP {status} from the server: {self._server_message(content, resp)}"
                    ),
                    FailureKind.CLIENT_ERROR,
                )
            )
        return None

    def _read_reply(self, raw: bytes, request: PerturbationRequest) -> _Attempt:
        """The rewrite in a successful reply, or why the reply is unusable (retried)."""
        try:
            data = json.loads(raw)
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
        for key, n in reported_usage(data).items():
            self._count(key, n)
        if isinstance(choice, dict) and choice.get("finish_reason") == "length":
            return _Attempt(result=cut_at_max_tokens(self._budget(request)))  # final, not retried
        if content is None:
            return _Attempt(
                reason="the model returned no text content", kind=FailureKind.BROKEN_REPLY
            )
        if isinstance(request, ChatRequest):
            result = request.accept(content)
        else:
            result = parse_reply(content, request.response)
        if result.text is not None:
            too_long = None
            if not isinstance(request, ChatRequest):  # a chat reply is not a rewrite
                too_long = rewrite_too_long(
                    result.text, request.response, self.max_rewrite_factor, self.max_rewrite_slack
                )
            if too_long is None:
                return _Attempt(result=result)
            return _Attempt(reason=too_long, kind=FailureKind.UNPARSEABLE, delay=0.0)
        reason = result.failure or "unparseable reply"
        # the server is fine: ask again at once
        return _Attempt(reason=reason, kind=result.kind or FailureKind.UNPARSEABLE, delay=0.0)

    # -- helpers -------------------------------------------------------------------------

    def _budget(self, request: PerturbationRequest) -> int:  # the max_tokens one request sends
        return reply_budget(request.response, self.max_tokens, self.max_tokens_cap)

    def _backoff(self, attempt: int) -> float:
        base = min(self.backoff_max, self.backoff_base * (2**attempt))
        return base * (0.5 + self._rng.random())

    def _mask(self, text: str) -> str:
        """``text`` with the API key (if set) masked in every encoding a server might echo it
        in, and any 8-character run of it (see ``http_guard.mask_key``)."""
        return mask_key(text, os.environ.get(self.api_key_env))

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n
