"""LLM perturbations with vLLM's offline engine, for GPU throughput without a server.

vLLM schedules all prompts of a batch together (continuous batching, paged KV cache), which
makes it the fastest way to rewrite tens of thousands of responses on one GPU. It is an
optional extra (``pip install 'rmx-widgets[vllm]'``, CUDA only); the prompts and the strict
reply parsing are the same as every other LLM backend's (``prompts.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rmx_widgets.core.devices import local_folder
from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import (
    BasePerturber,
    PerturbationRequest,
    PerturbationResult,
    ResultCallback,
    settings_suffix,
)
from rmx_widgets.core.perturbers.prompts import (
    ATTRIBUTE_TEMPLATE,
    MAX_TOKENS_CAP,
    REPLY_FLOOR,
    PromptTemplate,
    TemplatedLLM,
    check_template,
    cut_at_max_tokens,
    parse_reply,
    reply_budget,
)


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as e:
        raise PerturberError(
            "VLLMPerturber needs vLLM, an optional extra for CUDA machines: pip install "
            f"'rmx-widgets[vllm]' (import failed: {e}). Without a GPU use HFPerturber or "
            "OpenAIPerturber with a local server."
        ) from None
    return vllm


#: ``vllm.LLM`` arguments that change the rewrites, so they are in ``identity`` when given
#: (the others, e.g. ``tensor_parallel_size`` or ``gpu_memory_utilization``, only place them)
OUTPUT_KWARGS = (
    "dtype",
    "quantization",
    "revision",
    "tokenizer",
    "tokenizer_revision",
    "max_model_len",
)


class VLLMPerturber(TemplatedLLM, BasePerturber):
    """``VLLMPerturber("Qwen/Qwen2.5-7B-Instruct")``: greedy rewrites with ``vllm.LLM.chat``.

    Extra keyword arguments go to ``vllm.LLM`` (e.g. ``tensor_parallel_size=2``,
    ``gpu_memory_utilization=0.85``). ``trust_remote_code`` stays off unless you trust the
    repository's code. ``template`` picks the prompt (``prompts.ATTRIBUTE_TEMPLATE`` or
    ``PARAPHRASE_TEMPLATE``); its tag ends ``identity`` (``:prompt-v2`` / ``:paraphrase-v2``).
    ``max_new_tokens=None`` sizes each request's budget from its response as the HTTP backend
    does (``prompts.reply_budget``: at least the old 1024, at most ``max_new_tokens_cap``; vLLM
    itself stops at ``max_model_len``); a reply cut there (``finish_reason == "length"``) is a
    failure "rewrite cut at max_tokens=N", never a rewrite.
    """

    #: one engine call per batch: ``on_result`` hears about every result once it returns
    streams_results = False

    def __init__(
        self,
        name_or_path: str,
        *,
        max_new_tokens: int | None = None,
        max_new_tokens_cap: int = MAX_TOKENS_CAP,
        trust_remote_code: bool = False,
        name: str | None = None,
        template: PromptTemplate = ATTRIBUTE_TEMPLATE,
        **llm_kwargs: Any,
    ) -> None:
        self.template = check_template(template, self)
        for arg, value in (
            ("max_new_tokens", max_new_tokens),
            ("max_new_tokens_cap", max_new_tokens_cap),
        ):
            if value is None and arg == "max_new_tokens":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PerturberError(f"{arg} must be a positive integer, got {value!r}.")
        vllm = _import_vllm()
        self.name_or_path = str(name_or_path)
        self.identity_stem = (name or f"vllm:{self.name_or_path}") + settings_suffix(
            ("max_new_tokens", max_new_tokens or REPLY_FLOOR, REPLY_FLOOR),
            ("max_new_tokens_cap", max_new_tokens_cap, MAX_TOKENS_CAP),
            *((k, llm_kwargs[k], None) for k in OUTPUT_KWARGS if k in llm_kwargs),
        )
        self.identity = f"{self.identity_stem}:{self.template.tag}"
        model = local_folder(
            self.name_or_path,
            owner=f"vLLM model {self.name_or_path!r}",
            error=PerturberError,
            example="Qwen/Qwen2.5-7B-Instruct",
        )
        try:
            self.llm = vllm.LLM(
                model=model or self.name_or_path, trust_remote_code=trust_remote_code, **llm_kwargs
            )
        except Exception as e:
            raise PerturberError(
                f"vLLM could not load {self.name_or_path!r}: {type(e).__name__}: {e}"
            ) from None
        self.max_new_tokens, self.max_new_tokens_cap = max_new_tokens, max_new_tokens_cap
        self._sampling_params = vllm.SamplingParams
        self.stats: dict[str, int] = {"requests": 0, "failures": 0}

    def new_tokens_budget(self, request: PerturbationRequest) -> int:
        """The ``max_tokens`` of one request: fixed, or sized from the response."""
        return reply_budget(request.response, self.max_new_tokens, self.max_new_tokens_cap)

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        return self.perturb_batch([request])[0]

    def perturb_batch(
        self, requests: Sequence[PerturbationRequest], on_result: ResultCallback | None = None
    ) -> list[PerturbationResult]:
        """One engine call for the whole batch; vLLM returns outputs in input order.
        ``on_result`` is called for each result, in order, when the call returns."""
        requests = list(requests)
        if not requests:
            return []
        budgets = [self.new_tokens_budget(r) for r in requests]
        sampling = [self._sampling_params(temperature=0.0, max_tokens=b) for b in budgets]
        outputs = self.llm.chat(
            [self.template.messages(r) for r in requests], sampling, use_tqdm=False
        )
        if len(outputs) != len(requests):
            raise PerturberError(
                f"vLLM returned {len(outputs)} outputs for {len(requests)} prompts."
            )
        results = []
        for req, out, budget in zip(requests, outputs, budgets):
            completions = getattr(out, "outputs", None) or []
            if not completions:
                results.append(
                    PerturbationResult.failed("vLLM produced no completion", FailureKind.OTHER)
                )
                continue
            if getattr(completions[0], "finish_reason", None) == "length":  # never a rewrite
                results.append(cut_at_max_tokens(budget))
                continue
            results.append(parse_reply(completions[0].text, req.response))
        self.stats["requests"] += len(results)
        self.stats["failures"] += sum(r.text is None for r in results)
        if on_result is not None:
            for i, res in enumerate(results):
                on_result(i, res)
        return results
