"""``RulePerturber``: the registry of rules per attribute and direction, and how a request is
seeded, parsed and checked before and after its rule runs (see the package docstring)."""

from __future__ import annotations

import hashlib
import random

from rmx_widgets.core.attributes import DIRECTIONS, Attribute
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import (
    BasePerturber,
    PerturbationRequest,
    PerturbationResult,
)
from rmx_widgets.core.perturbers.rules.assertiveness import (
    assertiveness_better,
    assertiveness_worse,
)
from rmx_widgets.core.perturbers.rules.avoid_to_answer import avoid_better, avoid_worse
from rmx_widgets.core.perturbers.rules.clarity import clarity_better, clarity_worse
from rmx_widgets.core.perturbers.rules.coherence import coherence_better, coherence_worse
from rmx_widgets.core.perturbers.rules.common import Ctx, Rule
from rmx_widgets.core.perturbers.rules.correctness import correctness_better, correctness_worse
from rmx_widgets.core.perturbers.rules.engagement import engagement_better, engagement_worse
from rmx_widgets.core.perturbers.rules.manner import manner_better, manner_worse
from rmx_widgets.core.perturbers.rules.relevance import relevance_better, relevance_worse
from rmx_widgets.core.perturbers.rules.verbosity import verbosity_better, verbosity_worse
from rmx_widgets.core.text.markdown import parse

_RULES: dict[str, dict[str, Rule]] = {
    "verbosity": {"worse": verbosity_worse, "better": verbosity_better},
    "assertiveness": {"worse": assertiveness_worse, "better": assertiveness_better},
    "avoid-to-answer": {"worse": avoid_worse, "better": avoid_better},
    "manner": {"worse": manner_worse, "better": manner_better},
    "coherence": {"worse": coherence_worse, "better": coherence_better},
    "relevance": {"worse": relevance_worse, "better": relevance_better},
    "correctness": {"worse": correctness_worse, "better": correctness_better},
    "engagement": {"worse": engagement_worse, "better": engagement_better},
    "clarity": {"worse": clarity_worse, "better": clarity_better},
}

SUPPORTED_ATTRIBUTES: tuple[str, ...] = tuple(_RULES)


class RulePerturber(BasePerturber):
    """Deterministic, offline perturbations by hand-written rules (see the package docstring).

    Attributes are matched by name; a user-defined attribute with one of these names gets the
    same rule. ``identity`` carries a version so cached rewrites are redone when rules change.
    """

    identity = "rules:v1"
    supported_attributes: tuple[str, ...] = SUPPORTED_ATTRIBUTES

    def supports(self, attribute: Attribute) -> bool:
        return attribute.name in _RULES

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        name = request.attribute.name
        if name not in _RULES:
            return PerturbationResult.failed(
                f"{self.identity} cannot perturb attribute '{name}'",
                FailureKind.UNSUPPORTED_ATTRIBUTE,
            )
        if request.direction not in DIRECTIONS:
            return PerturbationResult.failed(
                f"direction must be 'worse' or 'better', got {request.direction!r}",
                FailureKind.OTHER,
            )
        if not request.response.strip():
            return PerturbationResult.failed("the response is empty", FailureKind.EMPTY)
        # The same request always gets the same random choices, in any process.
        seed = hashlib.sha256(
            "\x1f".join((request.response, name, request.direction)).encode("utf-8")
        ).digest()
        ctx = Ctx(
            request.prompt_text, request.response, random.Random(int.from_bytes(seed[:8], "big"))
        )
        doc = parse(request.response)
        if not doc.units:
            return PerturbationResult.failed(
                "the response has no text to rewrite", FailureKind.OTHER
            )
        result = _RULES[name][request.direction](doc, ctx)
        if result.text is not None and result.text.strip() == request.response.strip():
            return PerturbationResult.failed(
                f"the {name} rule ({request.direction}) found nothing to change",
                FailureKind.NOT_APPLICABLE,
            )
        return result
