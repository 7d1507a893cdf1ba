"""The perturber protocol: one rewrite of one response along one attribute, in one direction.

Perturbers work in batches (LLM backends gain a lot from concurrency and batched generation),
and every request ends as either a text or a recorded failure with its reason. Failures are data,
not exceptions: a 10,000-request job must not die on one unparseable reply. Only errors that make
*every* request fail (bad API key, unreachable server) are raised, as ``PerturberError``.

Streaming: ``perturb_batch(requests, on_result=None)`` may call ``on_result(i, result)`` as soon
as request ``i`` is done. The Explainer passes a callback that writes each result to the store
in its own transaction, so a job killed in the middle of a 64-request batch of LLM calls loses
only the requests still in flight, not the ones that already came back. A perturber without the
parameter still works; its results are stored when the whole batch returns.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.data import Prompt, render_prompt
from rmx_widgets.core.errors import PerturberError

#: ``on_result(i, result)``: request ``i`` of the batch is done (called at most once per index).
ResultCallback = Callable[[int, "PerturbationResult"], None]


@dataclass(frozen=True)
class PerturbationRequest:
    prompt: Prompt
    response: str
    attribute: Attribute
    direction: str  # "worse" or "better"

    @property
    def prompt_text(self) -> str:
        return render_prompt(self.prompt)


@dataclass(frozen=True)
class PerturbationResult:
    """``text`` is the rewritten response, or ``None`` with ``failure`` saying why."""

    text: str | None
    failure: str | None = None

    @staticmethod
    def failed(reason: str) -> PerturbationResult:
        return PerturbationResult(None, reason)


def check_rewrite(original: str, text: Any) -> PerturbationResult:
    """The checks every backend's output gets, so no perturber can return a non-perturbation."""
    if not isinstance(text, str):
        return PerturbationResult.failed(f"perturber returned {type(text).__name__}, not text")
    if not text.strip():
        return PerturbationResult.failed("perturber returned an empty response")
    if text.strip() == original.strip():
        return PerturbationResult.failed("perturber returned the original text unchanged")
    return PerturbationResult(text)


# Reasons are free text (they carry server messages and counts); these patterns, tried in
# order, group them into a few kinds so that a run's summary can say "12 rate limited, 3
# unparseable" instead of listing 15 distinct strings.
_FAILURE_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in (
        ("unsupported attribute", r"cannot perturb attribute"),
        ("unchanged", r"unchanged"),
        ("rate limited", r"HTTP 429"),
        ("server error", r"HTTP 5\d\d"),
        ("client error", r"HTTP 4\d\d"),
        ("exception", r"^[A-Z]\w*(Error|Exception)\b"),
        ("timeout", r"timeout|timed out"),
        ("broken reply", r"broken reply|malformed JSON body|no choices|no text content"),
        ("connection", r"cannot connect|connection"),
        ("empty", r"\bempty\b"),
        ("unparseable", r"not a JSON|JSON \w+, not an object|no 'rewritten'|'rewritten' field|"
                        r"not text|unparseable|parse"),
        # rule perturbers: the response has nothing the rule can change
        ("not applicable", r"^(no|fewer than|every) |\balready\b|leaves? no |would leave|"
                           r"nothing (would remain|to change)|\bis only (a|pleasantries)\b"),
    ))


def failure_kind(reason: str | None) -> str:
    """The coarse kind of a recorded failure reason (``"other"`` when none matches)."""
    if not reason:
        return "other"
    for kind, pattern in _FAILURE_KINDS:
        if pattern.search(reason):
            return kind
    return "other"


@runtime_checkable
class Perturber(Protocol):
    """Anything with an ``identity`` (part of the cache key) and ``perturb_batch``.

    ``perturb_batch`` may take an optional keyword ``on_result`` (see the module docstring).
    """

    identity: str

    def perturb_batch(self, requests: Sequence[PerturbationRequest]
                      ) -> list[PerturbationResult]: ...


def streams_results(perturber: Any) -> bool:
    """Whether ``perturber.perturb_batch`` accepts ``on_result`` (by name or ``**kwargs``)."""
    try:
        params = inspect.signature(perturber.perturb_batch).parameters
    except (AttributeError, TypeError, ValueError):
        return False
    return "on_result" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                        for p in params.values())


class BasePerturber:
    """Per-request perturbers subclass this and implement ``perturb``; batch backends override
    ``perturb_batch``. ``supports`` lets a backend declare honestly what it cannot do."""

    identity: str = "base"

    def supports(self, attribute: Attribute) -> bool:
        return True

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        raise PerturberError(f"{type(self).__name__} must implement perturb or perturb_batch")

    def perturb_batch(self, requests: Sequence[PerturbationRequest],
                      on_result: ResultCallback | None = None) -> list[PerturbationResult]:
        """Perturb one request after the other; ``on_result`` hears about each at once."""
        out = []
        for i, r in enumerate(requests):
            if not self.supports(r.attribute):
                res = PerturbationResult.failed(
                    f"{self.identity} cannot perturb attribute '{r.attribute.name}'")
            else:
                try:
                    res = self.perturb(r)
                except PerturberError:
                    raise
                except Exception as e:  # a user function's bug becomes a recorded failure
                    res = PerturbationResult.failed(f"{type(e).__name__}: {e}")
                if not isinstance(res, PerturbationResult):
                    res = check_rewrite(r.response, res)
                elif res.failure is None:
                    res = check_rewrite(r.response, res.text)
            out.append(res)
            if on_result is not None:
                on_result(i, res)
        return out


class CallablePerturber(BasePerturber):
    """Wraps ``fn(prompt, response, attribute, direction) -> str``.

    The identity defaults to the function's qualified name; pass ``name=`` with a version when
    you change the function, or cached rewrites from the old version will be reused.
    """

    def __init__(self, fn: Callable[[str, str, Attribute, str], str], name: str | None = None):
        if not callable(fn):
            raise PerturberError(f"{fn!r} is not callable")
        try:
            n_params = len(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            n_params = 4
        if n_params < 4:
            raise PerturberError(
                "a perturber function must take (prompt, response, attribute, direction); "
                f"{getattr(fn, '__name__', fn)!r} takes {n_params} argument(s).")
        self.fn = fn
        self.identity = name or f"callable:{getattr(fn, '__module__', '?')}." \
                                f"{getattr(fn, '__qualname__', type(fn).__name__)}"

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        return PerturbationResult(self.fn(request.prompt_text, request.response,
                                          request.attribute, request.direction))


def as_perturber(obj: Any) -> Perturber:
    """Accept a perturber object or a bare callable, the same everywhere."""
    if isinstance(obj, Perturber):
        return obj
    if callable(obj):
        return CallablePerturber(obj)
    raise PerturberError(f"{obj!r} is neither a perturber nor a callable "
                         "fn(prompt, response, attribute, direction) -> str.")
