"""Rewrite judges: did each rewrite move its attribute the asked way, and little else?"""

from rmx_widgets.core.validity.base import (
    CallableJudge,
    JudgeRequest,
    RewriteJudge,
    Verdict,
    as_judge,
)

__all__ = ["CallableJudge", "JudgeRequest", "RewriteJudge", "Verdict", "as_judge"]
