"""avoid-to-answer: worse replaces the response with a refusal, better deletes refusals."""

from __future__ import annotations

import re

from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.perturbers.rules.common import Ctx, done, has_answer
from rmx_widgets.core.perturbers.rules.stock import REFUSAL_RESPONSES
from rmx_widgets.core.text.markdown import Doc
from rmx_widgets.core.text.phrases import REFUSAL_RE, is_refusal
from rmx_widgets.core.text.words import capitalize, words

_CONNECTOR = re.compile(
    r"^(?:however|that said|but|still|nevertheless|instead)\s*,?\s+", re.IGNORECASE
)


def avoid_worse(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Answer with a stock refusal instead."""
    if any(is_refusal(u.body) for u in doc.units if u.editable) and not has_answer(doc):
        return PerturbationResult.failed(
            "the response is already a refusal", FailureKind.NOT_APPLICABLE
        )
    return PerturbationResult(REFUSAL_RESPONSES[ctx.rng.randrange(len(REFUSAL_RESPONSES))])


def avoid_better(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Delete refusal sentences, keeping the clause after a 'but' in one ("I can't X, but
    Y" → "Y"), and drop a dangling 'However,'/'That said,' after a deleted one."""
    drop: set[int] = set()
    strip_next = False
    found = False
    for i, u in enumerate(doc.units):
        if not u.editable:
            strip_next = False
            continue
        if strip_next and i not in drop:
            new = _CONNECTOR.sub("", u.body)
            if new != u.body:
                u.body = capitalize(new)
        strip_next = False
        m = REFUSAL_RE.search(u.body)
        if not m:
            continue
        found = True
        but = re.search(r"(?:,|;)?\s+but\s+|;\s*however,?\s+", u.body[m.end() :], re.IGNORECASE)
        if but:
            rest = u.body[m.end() + but.end() :]
            if len(words(rest)) >= 3 and not is_refusal(rest):
                u.body = capitalize(rest)
                continue
        drop.add(i)
        strip_next = True
    if not found:
        return PerturbationResult.failed(
            "no refusal or deflection sentences to remove", FailureKind.NOT_APPLICABLE
        )
    doc.remove(drop)
    if not doc.units or not has_answer(doc):
        return PerturbationResult.failed(
            "the response is only a refusal; removing it leaves no answer",
            FailureKind.NOT_APPLICABLE,
        )
    return done(doc)
