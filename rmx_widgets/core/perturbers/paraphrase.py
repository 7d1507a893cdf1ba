"""The attribute-free LLM paraphrase: a baseline for the quantitative evaluation (DESIGN §1).

An attribute-targeted rewrite can flip a reward model's preference for two reasons: because it
changed the attribute, or merely because it reworded the response. ``ParaphrasePerturber`` asks
the *same* LLM backend for a rewording that keeps meaning, content and quality
(``prompts.PARAPHRASE_TEMPLATE``), so comparing flip rates against it separates the two. Its
prompt never names the attribute or the direction; the Explainer still asks it once per
(attribute, direction) slot, which gives several paraphrases per response (with temperature 0
they are usually identical, and then cached once per slot).

The wrapper works on a copy of the backend made by its ``with_template`` method: the user's
object keeps its attribute prompt, identity and counters, while the copy shares the expensive
parts (loaded weights, the vLLM engine).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.perturbers.base import (
    BasePerturber,
    PerturbationRequest,
    PerturbationResult,
    ResultCallback,
)
from rmx_widgets.core.perturbers.prompts import PARAPHRASE_TEMPLATE

if TYPE_CHECKING:  # the same modules _llm_backends imports (lazily: torch, vllm, httpx)
    from rmx_widgets.core.perturbers.hf import HFPerturber
    from rmx_widgets.core.perturbers.openai import OpenAIPerturber
    from rmx_widgets.core.perturbers.vllm import VLLMPerturber


def _llm_backends() -> tuple[type[OpenAIPerturber], type[HFPerturber], type[VLLMPerturber]]:
    from rmx_widgets.core.perturbers.hf import HFPerturber
    from rmx_widgets.core.perturbers.openai import OpenAIPerturber
    from rmx_widgets.core.perturbers.vllm import VLLMPerturber

    return OpenAIPerturber, HFPerturber, VLLMPerturber


class ParaphrasePerturber(BasePerturber):
    """``ParaphrasePerturber(OpenAIPerturber(...))``: attribute-free paraphrases by that LLM.

    ``backend`` is an ``OpenAIPerturber``, ``HFPerturber`` or ``VLLMPerturber`` (or another
    ``ParaphrasePerturber``, whose backend is reused). ``backend`` itself is not modified;
    ``self.backend`` is the paraphrasing copy, and ``identity`` is the copy's
    (``...:paraphrase-v2``), so paraphrases and attribute rewrites never share cache entries.
    """

    attribute_aware = False

    def __init__(self, backend: Any) -> None:
        if isinstance(backend, ParaphrasePerturber):
            backend = backend.backend
        allowed = _llm_backends()
        if not isinstance(backend, allowed):
            raise PerturberError(
                "ParaphrasePerturber wraps an LLM perturber (OpenAIPerturber, HFPerturber or "
                f"VLLMPerturber) and asks it for attribute-free paraphrases; got "
                f"{type(backend).__name__}. Build one first, e.g. "
                "ParaphrasePerturber(OpenAIPerturber('gpt-4o-mini'))."
            )
        self.backend: BasePerturber = backend.with_template(PARAPHRASE_TEMPLATE)
        self.identity = self.backend.identity
        # Declared as the backend copy's: it streams where the backend streams, and its
        # counters are the copy's (the same dict, so they grow as the copy works; the
        # wrapped object's own stay untouched).
        self.streams_results = self.backend.streams_results
        self.stats = self.backend.stats

    def __repr__(self) -> str:
        return f"ParaphrasePerturber({self.backend!r})"

    def supports(self, attribute: Attribute) -> bool:
        return self.backend.supports(attribute)

    def why_unavailable(self) -> str | None:
        return self.backend.why_unavailable()

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        return self.perturb_batch([request])[0]

    def perturb_batch(
        self, requests: Sequence[PerturbationRequest], on_result: ResultCallback | None = None
    ) -> list[PerturbationResult]:
        """Delegate to the backend copy; ``on_result`` streams where the backend streams,
        otherwise it hears about every result once the batch is back."""
        requests = list(requests)
        if not requests:
            return []
        if on_result is not None and self.backend.streams_results:
            return self.backend.perturb_batch(requests, on_result=on_result)
        results = self.backend.perturb_batch(requests)
        if len(results) != len(requests):
            raise PerturberError(
                f"{type(self.backend).__name__} returned {len(results)} results "
                f"for {len(requests)} requests."
            )
        if on_result is not None:
            for i, res in enumerate(results):
                on_result(i, res)
        return results
