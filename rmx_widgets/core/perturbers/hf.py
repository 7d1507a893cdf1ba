"""LLM perturbations with a local transformers causal LM (no server, no API key).

The model gets the same versioned prompt as the HTTP backend (``prompts.py``) through its own
chat template, and its replies go through the same strict parser, so the two backends differ
only in where the tokens come from. Generation is greedy (reproducible rewrites, stable caches)
and batched with left padding: a decoder-only model continues from the last position of each
row, so padding must sit on the left or shorter prompts would be continued from pad tokens.
Requests are batched longest-first, which keeps padding small and makes an out-of-memory
error show up on the first batch rather than an hour in; a batch that does not fit is split.

Each request gets its own reply budget, sized from its response (``new_tokens_budget``); a row
that used all of it without an end-of-sequence token is a failure "rewrite cut at
max_new_tokens=N", never parsed (what arrived is a prefix of what the model meant).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from rmx_widgets.core.devices import (
    halve_on_oom,
    local_folder,
    pretrained_kwargs,
    resolve_device,
    resolve_dtype,
)
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
    REPLY_FACTOR,
    REPLY_MARGIN,
    PromptTemplate,
    TemplatedLLM,
    check_template,
    parse_reply,
)

#: The floor of a sized budget: the historical default ``max_new_tokens=512``, so a sized
#: budget keeps the default identity (greedy decoding does not look at the limit, so a reply
#: that completed under 512 tokens is unchanged, and one that did not was never a rewrite).
NEW_TOKENS_FLOOR = 512
_POSITION_ATTRS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


class HFPerturber(TemplatedLLM, BasePerturber):
    """Rewrites responses with a local chat model loaded through ``transformers``.

    ``name_or_path`` is a hub name or a local folder; the model must ship a chat template
    (instruction-tuned models do). ``device`` defaults to CUDA, then Apple MPS, then CPU;
    ``dtype`` defaults to bfloat16 on a GPU that supports it and float32 otherwise.
    ``trust_remote_code`` stays off unless you trust the repository's code. ``name`` replaces
    the ``hf:{name_or_path}`` part of ``identity`` (the prompt version is always appended);
    ``max_new_tokens=None`` sizes each reply budget from the response (its tokens ×
    ``REPLY_FACTOR`` + ``REPLY_MARGIN``, at least 512, at most ``max_new_tokens_cap`` and the
    room the model's position limit leaves after the prompt); an int fixes it. A reply cut at
    its budget is a failure "rewrite cut at max_new_tokens=N".
    A fixed ``max_new_tokens``, a ``max_new_tokens_cap`` or a ``dtype`` other than the default
    follows it (``:max_new_tokens=256``), since each changes the rewrites.
    ``template`` picks the prompt (``prompts.ATTRIBUTE_TEMPLATE`` or ``PARAPHRASE_TEMPLATE``);
    its tag ends ``identity`` (``:prompt-v2`` / ``:paraphrase-v2``).
    """

    #: ``on_result`` hears about every result once the whole batch is generated
    streams_results = False

    def __init__(
        self,
        name_or_path: str,
        device: str | None = None,
        dtype: Any = None,
        batch_size: int = 8,
        max_new_tokens: int | None = None,
        trust_remote_code: bool = False,
        name: str | None = None,
        *,
        template: PromptTemplate = ATTRIBUTE_TEMPLATE,
        max_new_tokens_cap: int = MAX_TOKENS_CAP,
    ) -> None:
        if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
            raise PerturberError(
                "HFPerturber needs a model name or folder, e.g. "
                "HFPerturber('Qwen/Qwen2.5-0.5B-Instruct')."
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise PerturberError(f"batch_size must be a positive integer, got {batch_size!r}.")
        for arg, value in (
            ("max_new_tokens", max_new_tokens),
            ("max_new_tokens_cap", max_new_tokens_cap),
        ):
            if value is None and arg == "max_new_tokens":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PerturberError(f"{arg} must be a positive integer, got {value!r}.")
        self.name_or_path = str(name_or_path)
        self.batch_size = batch_size
        self.max_new_tokens, self.max_new_tokens_cap = max_new_tokens, max_new_tokens_cap
        self.trust_remote_code = trust_remote_code
        owner = f"HFPerturber({self.name_or_path!r})"
        self.device = resolve_device(device, owner=owner, error=PerturberError, use_mps=True)
        self.dtype = resolve_dtype(
            dtype, self.device, owner=owner, error=PerturberError, bf16_only_if_supported=True
        )
        self.name = name
        self.template = check_template(template, self)
        default_dtype = resolve_dtype(
            None, self.device, owner=owner, error=PerturberError, bf16_only_if_supported=True
        )
        self.identity_stem = (name if name else f"hf:{self.name_or_path}") + settings_suffix(
            ("max_new_tokens", max_new_tokens or NEW_TOKENS_FLOOR, NEW_TOKENS_FLOOR),
            ("max_new_tokens_cap", max_new_tokens_cap, MAX_TOKENS_CAP),
            (
                "dtype",
                str(self.dtype).replace("torch.", ""),
                str(default_dtype).replace("torch.", ""),
            ),
        )
        self.identity = f"{self.identity_stem}:{self.template.tag}"
        self.tokenizer, self.model = self._load()
        #: prompt + reply tokens the model has positions for (``None``: no limit declared)
        self.position_limit = _position_limit(self.model.config)
        self.stats: dict[str, int] = {"requests": 0, "batches": 0, "failures": 0, "cut": 0}

    def __repr__(self) -> str:
        return (
            f"HFPerturber({self.name_or_path!r}, device={str(self.device)!r}, "
            f"dtype={str(self.dtype).replace('torch.', '')!r}, "
            f"batch_size={self.batch_size}, max_new_tokens={self.max_new_tokens}, "
            f"max_new_tokens_cap={self.max_new_tokens_cap})"
        )

    # -- loading -------------------------------------------------------------------------

    def _load(self) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        src = (
            local_folder(
                self.name_or_path,
                owner=f"the perturbation model {self.name_or_path!r}",
                error=PerturberError,
                example="Qwen/Qwen2.5-0.5B-Instruct",
            )
            or self.name_or_path
        )
        common = pretrained_kwargs(self.trust_remote_code)
        hint = (
            "Check the hub name or folder; when offline, the model must already be in the "
            "local Hugging Face cache (set HF_HUB_OFFLINE=1 to use it without network)."
        )
        try:
            tok = AutoTokenizer.from_pretrained(src, **common)
        except Exception as e:  # OSError, ValueError, hub errors: all mean "cannot load"
            raise PerturberError(
                f"cannot load the tokenizer of {src!r}: "
                f"{type(e).__name__}: {_first_line(e)}. {hint}"
            ) from e
        if not getattr(tok, "chat_template", None):
            raise PerturberError(
                f"the tokenizer of {src!r} has no chat template, so the perturbation prompt "
                "cannot be formatted for it. Use an instruction-tuned (chat) model, or set "
                "tokenizer.chat_template and save the tokenizer to a folder."
            )
        tok.padding_side = "left"
        if tok.pad_token is None:
            if tok.eos_token is None:
                raise PerturberError(
                    f"the tokenizer of {src!r} has neither a pad nor an end "
                    "token; batched generation needs one of them."
                )
            tok.pad_token = tok.eos_token
        try:
            model: Any = AutoModelForCausalLM.from_pretrained(src, dtype=self.dtype, **common)
        except Exception as e:
            extra = (
                ""
                if self.trust_remote_code
                else " If the model needs its own code, pass "
                "trust_remote_code=True (only for repositories you trust)."
            )
            raise PerturberError(
                f"cannot load {src!r} as a causal language model: "
                f"{type(e).__name__}: {_first_line(e)}. {hint}{extra}"
            ) from e
        model.to(self.device)
        model.eval()
        return tok, model

    # -- generation ----------------------------------------------------------------------

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        return self.perturb_batch([request])[0]

    def perturb_batch(
        self, requests: Sequence[PerturbationRequest], on_result: ResultCallback | None = None
    ) -> list[PerturbationResult]:
        """Rewrite every request; results in input order, failures recorded with a reason.
        ``on_result`` is called for each, in order, when the whole batch is done."""
        requests = list(requests)
        if not requests:
            return []
        texts = [self._chat_text(r) for r in requests]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        budgets = [self.new_tokens_budget(r, n) for r, n in zip(requests, lengths, strict=True)]
        results: dict[int, PerturbationResult] = {
            i: _no_room(lengths[i], self.position_limit) for i, b in enumerate(budgets) if b < 1
        }
        order = sorted(
            (i for i in range(len(requests)) if i not in results), key=lambda i: -lengths[i]
        )
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            replies = self._generate_safely([(texts[i], budgets[i]) for i in idx])
            for i, reply in zip(idx, replies, strict=True):
                results[i] = (
                    reply
                    if isinstance(reply, PerturbationResult)
                    else parse_reply(reply, requests[i].response)
                )
        out = [results[i] for i in range(len(requests))]
        self.stats["requests"] += len(out)
        self.stats["failures"] += sum(r.text is None for r in out)
        self.stats["cut"] += sum((r.failure or "").startswith("rewrite cut at") for r in out)
        if on_result is not None:
            for i, res in enumerate(out):
                on_result(i, res)
        return out

    def new_tokens_budget(self, request: PerturbationRequest, prompt_tokens: int = 0) -> int:
        """The ``max_new_tokens`` of one request: the fixed ``max_new_tokens``, or sized from
        the response's tokens (× ``REPLY_FACTOR`` + ``REPLY_MARGIN``, at least 512, at most
        ``max_new_tokens_cap``); either way at most the positions left after a prompt of
        ``prompt_tokens`` (under 1: the prompt alone fills them)."""
        if self.max_new_tokens is not None:
            budget = self.max_new_tokens
        else:
            n = len(self.tokenizer(request.response, add_special_tokens=False)["input_ids"])
            sized = max(NEW_TOKENS_FLOOR, n * REPLY_FACTOR + REPLY_MARGIN)
            budget = min(self.max_new_tokens_cap, sized)
        if self.position_limit is not None:
            budget = min(budget, self.position_limit - prompt_tokens)
        return budget

    def _chat_text(self, request: PerturbationRequest) -> str:
        """The prompt as the model's chat template renders it, ready for generation.

        Some templates reject a system turn; the prompt then goes in one user turn instead.
        """
        try:
            return self.tokenizer.apply_chat_template(
                self.template.messages(request), tokenize=False, add_generation_prompt=True
            )
        except Exception:
            pass
        try:
            return self.tokenizer.apply_chat_template(
                self.template.messages(request, system=False),
                tokenize=False,
                add_generation_prompt=True,
            )
        except Exception as e:
            raise PerturberError(
                f"the chat template of {self.name_or_path!r} cannot format the "
                f"perturbation prompt: {type(e).__name__}: {_first_line(e)}"
            ) from e

    def _generate_safely(self, rows: list[tuple[str, int]]) -> list[str | PerturbationResult]:
        """Generate for one batch; on out-of-memory split the batch, and a single prompt that
        does not fit becomes a recorded failure instead of ending the job."""
        too_big = PerturbationResult.failed(
            f"out of memory generating on {self.device} for a single prompt; lower "
            "max_new_tokens or use a smaller model",
            FailureKind.OTHER,
        )
        return halve_on_oom(
            rows,
            lambda part: self.generate_batch([t for t, _ in part], [b for _, b in part]),
            self.device,
            too_big,
        )

    def generate_batch(
        self, texts: list[str], budgets: Sequence[int] | None = None
    ) -> list[str | PerturbationResult]:
        """Greedy generation for chat-formatted prompts, row ``i`` stopped after
        ``budgets[i]`` new tokens (default: ``max_new_tokens``, else 512); returns the new
        text per row, or the failure of a row cut at its budget without an end token."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        limits = list(budgets or [self.max_new_tokens or NEW_TOKENS_FLOOR] * len(texts))
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        start = enc["input_ids"].shape[1]
        row_limits = torch.tensor(limits, device=self.device)

        class RowBudgets(StoppingCriteria):  # a row past its own budget is done
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return (input_ids.shape[1] - start) >= row_limits

        eos = self.eos_token_ids()
        with torch.inference_mode():
            out = self.model.generate(
                **enc,
                do_sample=False,
                max_new_tokens=max(limits),
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=eos or None,
                stopping_criteria=StoppingCriteriaList([RowBudgets()]),
            )
        self.stats["batches"] += 1
        new = out[:, start:]
        ended = torch.isin(new, torch.tensor(eos, dtype=new.dtype, device=new.device))
        prompt_tokens = enc["attention_mask"].sum(dim=1).tolist()
        replies: list[str | PerturbationResult] = list(self.decode_batch(new))
        for i, budget in enumerate(limits):
            if new.shape[1] >= budget and not bool(ended[i, :budget].any()):
                replies[i] = self._cut(budget, prompt_tokens[i])
        return replies

    def eos_token_ids(self) -> list[int]:
        """The ids that end a reply: the generation config's, else the tokenizer's."""
        ids = getattr(self.model.generation_config, "eos_token_id", None)
        if ids is None:
            ids = self.tokenizer.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        return [int(i) for i in ids]

    def _cut(self, budget: int, prompt_tokens: int) -> PerturbationResult:
        """A reply that used its whole budget without an end token: never a valid rewrite,
        even when what arrived parses (it is a prefix of what the model meant)."""
        limit = self.position_limit
        why = (
            f"; the model's position limit of {limit} tokens leaves no more after the "
            f"{prompt_tokens}-token prompt"
            if limit is not None and prompt_tokens + budget >= limit
            else "; raise max_new_tokens_cap or pass a larger max_new_tokens"
        )
        return PerturbationResult.failed(
            f"rewrite cut at max_new_tokens={budget} (no end-of-sequence token){why}",
            FailureKind.UNPARSEABLE,
        )

    def decode_batch(self, new_tokens: Any) -> list[str]:
        """Token ids generated after each prompt → reply text (special tokens dropped)."""
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)


def _position_limit(config: Any) -> int | None:
    """The positions the model declares (prompt + reply), or ``None`` when it declares none."""
    for attr in _POSITION_ATTRS:
        value = getattr(config, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10_000_000:
            return value
    return None


def _no_room(prompt_tokens: int, limit: int | None) -> PerturbationResult:
    return PerturbationResult.failed(
        f"the prompt ({prompt_tokens} tokens) leaves no room for a reply under the model's "
        f"position limit of {limit} tokens; shorten the response or use a longer-context model",
        FailureKind.OTHER,
    )


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "no details"
