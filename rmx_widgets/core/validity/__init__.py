"""Rewrite judges: did each rewrite move its attribute the asked way, and little else?"""

from rmx_widgets.core.validity.base import (
    CallableJudge,
    JudgeRequest,
    RewriteJudge,
    Verdict,
    as_judge,
)
from rmx_widgets.core.validity.features import FeatureJudge
from rmx_widgets.core.validity.llm import LLMAttributeJudge

__all__ = [
    "CallableJudge",
    "FeatureJudge",
    "JudgeRequest",
    "LLMAttributeJudge",
    "RewriteJudge",
    "Verdict",
    "as_judge",
]
