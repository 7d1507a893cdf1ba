"""engagement: worse removes follow-up invitations, better appends one."""

from __future__ import annotations

from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.perturbers.rules.common import Ctx, done, has_answer
from rmx_widgets.core.perturbers.rules.stock import FOLLOW_UP_QUESTION
from rmx_widgets.core.text.markdown import Doc, Unit
from rmx_widgets.core.text.phrases import is_follow_up


def engagement_worse(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Remove follow-up invitations ("Let me know if ...") and questions to the user."""
    drop = {i for i, u in enumerate(doc.units) if u.editable and is_follow_up(u.body)}
    if not drop:
        return PerturbationResult.failed(
            "no follow-up invitations or questions to the user to remove",
            FailureKind.NOT_APPLICABLE,
        )
    doc.remove(drop)
    if not doc.units or not has_answer(doc):
        return PerturbationResult.failed(
            "the response is only a follow-up question; nothing would remain",
            FailureKind.NOT_APPLICABLE,
        )
    return done(doc)


def engagement_better(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Append ``FOLLOW_UP_QUESTION`` unless the response already invites follow-up."""
    if any(u.editable and is_follow_up(u.body) for u in doc.units):
        return PerturbationResult.failed(
            "the response already invites follow-up", FailureKind.NOT_APPLICABLE
        )
    last = doc.units[-1]
    doc.insert_after(
        len(doc.units) - 1,
        Unit("sentence", FOLLOW_UP_QUESTION),
        same_paragraph=last.kind == "sentence",
    )
    return done(doc)
