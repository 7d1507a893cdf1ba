"""The perturber protocol: one rewrite of one response along one attribute, in one direction.

Perturbers work in batches (LLM backends gain a lot from concurrency and batched generation),
and every request ends as either a text or a recorded failure with its reason and kind. Failures
are data, not exceptions: a 10,000-request job must not die on one unparseable reply. Only errors
that make *every* request fail (bad API key, unreachable server) are raised, as
``PerturberError``.

Streaming: ``perturb_batch(requests, on_result=None)`` tells ``on_result(i, result)`` about
request ``i`` (at most once). A perturber that declares ``streams_results`` does so as soon as the
request is done; the Explainer's cache (``core.cached``) then writes each result to the store in
its own transaction, so a job killed in the middle of a 64-request batch of LLM calls loses only
the requests still in flight. Other perturbers are stored when the whole batch returns.

``as_perturber`` turns whatever the user passes (a ``BasePerturber``, a bare function, or a
foreign object with just ``identity`` and ``perturb_batch``) into an object with the whole
declared surface of ``Perturber``, so no caller has to probe for a capability.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.code_identity import callable_identity
from rmx_widgets.core.data import Prompt, render_prompt, text_problem
from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.failures import FailureKind, legacy_failure_kind

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
    """``text`` is the rewritten response, or ``None`` with ``failure`` saying why and ``kind``
    saying what sort of failure it is (set by the code that saw it fail, never guessed later).
    """

    text: str | None
    failure: str | None = None
    kind: FailureKind | None = None

    @staticmethod
    def failed(reason: str, kind: FailureKind) -> PerturbationResult:
        return PerturbationResult(None, reason, FailureKind(kind))


def check_rewrite(original: str, text: Any) -> PerturbationResult:
    """The checks every backend's output gets, so no perturber can return a non-perturbation:
    text, free of what could not be stored or shown safely (``data.text_problem``: lone
    surrogates, NUL, terminal escape codes), not empty and not the original."""
    if not isinstance(text, str):
        return PerturbationResult.failed(
            f"perturber returned {type(text).__name__}, not text", FailureKind.UNPARSEABLE
        )
    problem = text_problem(text)
    if problem is not None:  # it could not be stored (surrogates) or shown (NUL, ESC) safely
        return PerturbationResult.failed(
            f"the rewrite holds {problem}; rewrites must be plain text", FailureKind.UNPARSEABLE
        )
    if not text.strip():
        return PerturbationResult.failed("perturber returned an empty response", FailureKind.EMPTY)
    if text.strip() == original.strip():
        return PerturbationResult.failed(
            "perturber returned the original text unchanged", FailureKind.UNCHANGED
        )
    return PerturbationResult(text)


def settings_suffix(*settings: tuple[str, Any, Any]) -> str:
    """The part of an identity that names the output-changing settings ``(name, value,
    default)`` that are not at their default, e.g. ``":temperature=0.7,max_tokens=256"``; ``""``
    when all are, so the identities (cache keys) of default settings never change."""
    changed = [f"{name}={value}" for name, value, default in settings if value != default]
    return ":" + ",".join(changed) if changed else ""


def failure_kind(reason: str | None) -> str:
    """The kind of a failure *reason text* stored before kinds were recorded.

    New failures carry their kind (``PerturbationResult.kind``); this classifier only reads
    reasons that arrive without one (see ``core.failures``).
    """
    return legacy_failure_kind(reason).value


@runtime_checkable
class Perturber(Protocol):
    """What every perturber the engine uses declares (``BasePerturber`` has it all).

    ``identity`` is part of every cache key (name it with a version); ``attribute_aware``,
    ``streams_results``, ``stats``, ``supports`` and ``why_unavailable`` are described on
    ``BasePerturber``; ``perturb_batch`` returns one result per request, in order, and tells
    ``on_result`` about each (see the module docstring).
    """

    identity: str

    @property
    def attribute_aware(self) -> bool: ...

    @property
    def streams_results(self) -> bool: ...

    @property
    def stats(self) -> Mapping[str, int]: ...

    def supports(self, attribute: Attribute) -> bool: ...

    def why_unavailable(self) -> str | None: ...

    def perturb_batch(
        self, requests: Sequence[PerturbationRequest], on_result: ResultCallback | None = None
    ) -> list[PerturbationResult]: ...


@runtime_checkable
class ConcurrentBatches(Protocol):
    """A perturber whose ``perturb_batch`` may be called from several threads at once, every
    call sharing one bound of ``batch_concurrency`` requests in flight (``OpenAIPerturber``:
    one client on one event loop). The Explainer streams such a perturber (``core.pipeline``):
    the next batches' requests stay in flight while the RM scores the current one, which pays
    only when requests wait on a server rather than on this machine's CPU."""

    @property
    def batch_concurrency(self) -> int: ...


@runtime_checkable
class BarePerturber(Protocol):
    """The least an object must have to be used as a perturber: ``identity`` and
    ``perturb_batch(requests)`` (``as_perturber`` declares the rest for it, see
    ``ProtocolPerturber``)."""

    identity: str

    def perturb_batch(
        self, requests: Sequence[PerturbationRequest]
    ) -> list[PerturbationResult]: ...


class BasePerturber:
    """Per-request perturbers subclass this and implement ``perturb``; batch backends override
    ``perturb_batch``.

    What a perturber can do is *declared* here, typed, so callers ask instead of probing:

    * ``supports(attribute)``: whether it can rewrite along this attribute at all (the rule
      perturber knows only some); unsupported requests become failed rows, and the Explainer
      warns once up front.
    * ``why_unavailable()``: ``None`` when it can run on this machine now, else the reason
      (e.g. a hub model that cannot be loaded offline); studies skip it and say why.
    * ``attribute_aware``: ``False`` for baselines that ignore the attribute (random words,
      paraphrase, Polyjuice); studies report them beside the attribute perturbers, not in PFR.
    * ``streams_results``: ``True`` when ``perturb_batch`` calls ``on_result`` for each
      request as it finishes, so the caller can store results one by one.
    * ``stats``: cumulative counters (requests, retries, failures …) the run reports.
    """

    identity: str = "base"
    attribute_aware: bool = True
    streams_results: bool = True  # the loop below reports every result as it is done
    #: no counters unless a backend keeps some (it assigns its own dict in ``__init__``)
    stats: Mapping[str, int] = MappingProxyType({})

    def supports(self, attribute: Attribute) -> bool:
        return True

    def why_unavailable(self) -> str | None:
        return None

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        raise PerturberError(f"{type(self).__name__} must implement perturb or perturb_batch")

    def perturb_batch(
        self, requests: Sequence[PerturbationRequest], on_result: ResultCallback | None = None
    ) -> list[PerturbationResult]:
        """Perturb one request after the other; ``on_result`` hears about each at once."""
        out = []
        for i, r in enumerate(requests):
            if not self.supports(r.attribute):
                res = PerturbationResult.failed(
                    f"{self.identity} cannot perturb attribute '{r.attribute.name}'",
                    FailureKind.UNSUPPORTED_ATTRIBUTE,
                )
            else:
                try:
                    res = self.perturb(r)
                except PerturberError:
                    raise
                except Exception as e:  # a user function's bug becomes a recorded failure
                    res = PerturbationResult.failed(
                        f"{type(e).__name__}: {e}", FailureKind.EXCEPTION
                    )
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

    ``name`` (with a version) is the identity, the cache key of the rewrites: change it
    whenever the function changes. Without one, the identity is
    ``callable:<module>.<qualname>:<digest>`` of the function's code, defaults, closure and the
    globals it names (``core.code_identity``), so two different lambdas or closures never share
    cached rewrites; a function capturing something that cannot be fingerprinted raises
    ``PerturberError`` asking for ``name=``.
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
                f"{getattr(fn, '__name__', fn)!r} takes {n_params} argument(s)."
            )
        self.fn = fn
        self.identity = name or callable_identity(fn, kind="perturber", error=PerturberError)

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        return PerturbationResult(
            self.fn(request.prompt_text, request.response, request.attribute, request.direction)
        )


class ProtocolPerturber(BasePerturber):
    """A foreign object with only ``identity`` and ``perturb_batch(requests)``
    (``BarePerturber``), given the defaults of everything else: it supports every attribute,
    is available, keeps no counters and does not stream (``on_result`` hears about each result
    when the batch is back)."""

    streams_results = False

    def __init__(self, perturber: BarePerturber) -> None:
        self.perturber = perturber
        self.identity = perturber.identity

    def __repr__(self) -> str:
        return f"ProtocolPerturber({self.perturber!r})"

    def perturb_batch(
        self, requests: Sequence[PerturbationRequest], on_result: ResultCallback | None = None
    ) -> list[PerturbationResult]:
        results = self.perturber.perturb_batch(list(requests))
        if on_result is not None:
            for i, res in enumerate(results):
                on_result(i, res)
        return results


def as_perturber(obj: Any) -> Perturber:
    """``obj`` as a ``Perturber`` with every capability declared, the same everywhere: a
    perturber as it is, a ``BarePerturber`` wrapped in ``ProtocolPerturber``, a callable
    ``fn(prompt, response, attribute, direction)`` in ``CallablePerturber``."""
    if isinstance(obj, Perturber):
        return obj
    if isinstance(obj, BarePerturber):
        return ProtocolPerturber(obj)
    if callable(obj):
        return CallablePerturber(obj)
    raise PerturberError(
        f"{obj!r} is neither a perturber (identity + perturb_batch) nor a "
        "callable fn(prompt, response, attribute, direction) -> str."
    )
