"""The rewrite-judge protocol: did a rewrite do what it was asked?

A perturber is asked to move one attribute in one direction and little else. Nothing in the
perturber itself proves it did (an LLM may answer with a paraphrase, a rule may find nothing to
change), so a flip rate computed over such rewrites measures the perturber as much as the RM.
A judge reads (original, rewrite, attribute, direction) and returns a :class:`Verdict`:
``valid`` True (the attribute moved the asked way, other qualities held), False (it did not, the
reason says how), or None (the judge could not decide: it has no test for this attribute, or
its own call failed), which is never counted as valid or invalid.

Judges work in batches for the same reason perturbers do (an LLM judge gains from
concurrency), declare which attributes they can judge (``supports``) instead of being probed,
and have an ``identity`` that names everything their verdicts depend on (prompt version,
model, thresholds), so cached verdicts are never reused for a different judge.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.code_identity import callable_identity
from rmx_widgets.core.data import Prompt
from rmx_widgets.core.errors import OptionError


@dataclass(frozen=True)
class JudgeRequest:
    """One rewrite to judge: ``original`` rewritten into ``rewrite`` to make ``attribute``
    ``direction`` ("worse" or "better") for ``prompt``."""

    prompt: Prompt
    original: str
    rewrite: str
    attribute: Attribute
    direction: str


@dataclass(frozen=True)
class Verdict:
    """``valid``: True / False, or None when the judge could not decide (``reason`` says
    why); ``reason`` is one short human-readable line either way."""

    valid: bool | None
    reason: str


@runtime_checkable
class RewriteJudge(Protocol):
    """What the Explainer needs of a judge (see the module docstring)."""

    identity: str

    def supports(self, attribute: Attribute) -> bool: ...

    def judge_batch(self, requests: Sequence[JudgeRequest]) -> list[Verdict]: ...


class CallableJudge:
    """Wraps ``fn(original, rewrite, attribute_name, direction)`` returning ``True`` /
    ``False`` / ``None`` or ``(valid, reason)``; it supports every attribute. Its identity is
    ``name`` (with a version) or, without one, a digest of the function's code and what it
    captures (``core.code_identity``), so two different functions never share verdicts."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        try:
            n_params = len(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            n_params = 4
        if n_params < 4:
            raise OptionError(
                "a judge function must take (original, rewrite, attribute, direction); "
                f"{getattr(fn, '__name__', fn)!r} takes {n_params} argument(s)."
            )
        self.fn = fn
        self.identity = name or callable_identity(fn, kind="judge", error=OptionError)

    def supports(self, attribute: Attribute) -> bool:
        return True

    def judge_batch(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        return [self._one(r) for r in requests]

    def _one(self, r: JudgeRequest) -> Verdict:
        got = self.fn(r.original, r.rewrite, r.attribute.name, r.direction)
        reason = ""
        if isinstance(got, tuple) and len(got) == 2:
            got, reason = got
        if got is not None and not isinstance(got, bool):
            raise OptionError(
                f"judge function {self.identity} returned {type(got).__name__} for "
                f"({r.attribute.name}, {r.direction}); return True, False, None or "
                "(valid, reason)."
            )
        if not isinstance(reason, str):
            raise OptionError(f"judge function {self.identity} gave a non-string reason.")
        default = {True: "judged valid", False: "judged invalid", None: "judge undecided"}
        return Verdict(got, reason or default[got])


def as_judge(obj: Any) -> RewriteJudge:
    """``obj`` as a ``RewriteJudge``: a judge as it is, a callable in ``CallableJudge``."""
    if isinstance(obj, RewriteJudge):
        return obj
    if callable(obj):
        return CallableJudge(obj)
    raise OptionError(
        f"{obj!r} is not a rewrite judge (identity, supports, judge_batch) nor a callable "
        "fn(original, rewrite, attribute, direction) -> bool | None | (bool | None, reason)."
    )


__all__ = ["CallableJudge", "JudgeRequest", "RewriteJudge", "Verdict", "as_judge"]
