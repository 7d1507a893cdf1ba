"""manner: worse strips greetings, thanks and pleasantries, better adds a greeting and a close.

Stock praise of the question ("Great question!") counts as a pleasantry because the manner
definition covers it (warmth, social register); there is no separate sycophancy rule, since no
default attribute defines one.
"""

from __future__ import annotations

from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.perturbers.rules.common import Ctx, done, has_answer
from rmx_widgets.core.perturbers.rules.stock import CLOSINGS, GREETINGS
from rmx_widgets.core.text.markdown import Doc, Unit
from rmx_widgets.core.text.phrases import is_pleasantry, strip_pleasantry_prefix


def manner_worse(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Delete pleasantry sentences and pleasantry prefixes ("Thanks for asking, ...")."""
    drop: set[int] = set()
    changed = False
    for i, u in enumerate(doc.units):
        if u.kind != "sentence":
            continue
        if is_pleasantry(u.body):
            drop.add(i)
            continue
        rest = strip_pleasantry_prefix(u.body)
        if rest is not None:
            if is_pleasantry(rest):
                drop.add(i)
            else:
                u.body, changed = rest, True
    if not drop and not changed:
        return PerturbationResult.failed(
            "no greetings, thanks or pleasantries to strip", FailureKind.NOT_APPLICABLE
        )
    doc.remove(drop)
    if not doc.units or not has_answer(doc):
        return PerturbationResult.failed(
            "the response is only pleasantries; nothing would remain", FailureKind.NOT_APPLICABLE
        )
    return done(doc)


def manner_better(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Add a greeting and a courteous close where they are missing."""
    sentences = [u for u in doc.units if u.kind == "sentence"]
    first, last = doc.units[0], doc.units[-1]
    has_greeting = first.kind == "sentence" and (
        is_pleasantry(first.body) or strip_pleasantry_prefix(first.body) is not None
    )
    has_close = any(is_pleasantry(u.body) for u in sentences[-2:]) and last.kind == "sentence"
    if has_greeting and has_close:
        return PerturbationResult.failed(
            "the response already opens with a greeting and closes courteously",
            FailureKind.NOT_APPLICABLE,
        )
    if not has_close:
        close = CLOSINGS[ctx.rng.randrange(len(CLOSINGS))]
        doc.insert_after(
            len(doc.units) - 1, Unit("sentence", close), same_paragraph=last.kind == "sentence"
        )
    if not has_greeting:
        greet = GREETINGS[ctx.rng.randrange(len(GREETINGS))]
        doc.insert_after(-1, Unit("sentence", greet), same_paragraph=first.kind == "sentence")
    return done(doc)
