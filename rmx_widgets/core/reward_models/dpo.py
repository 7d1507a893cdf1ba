"""``DPORewardModel``: the implicit reward of a DPO-trained policy, as a reward model.

DPO trains a policy ``π`` against a frozen reference ``π_ref`` so that
``β · (log π(y|x) − log π_ref(y|x))`` acts as its reward (Rafailov et al., 2023); RewardBench
scores DPO models this way. Explaining that reward is explaining what the preference training
taught the policy, so it goes wherever a reward model goes (``Explainer``, ``evaluate``, the
widgets), through the same protocol.

The log-probabilities are summed over the *response* tokens only: both models read the
(prompt, response) pair rendered and tokenised exactly as ``HFRewardModel`` renders it for a
decoder (the policy's chat template, else ``"{prompt}\\n\\n{response}"``), and the character
offsets of the tokenisation give the first token of the response, so the prompt's tokens never
count. Scoring is batched by a token budget and shares the prompt prefix across the responses
of one prompt, as the decoder RMs do (``logprobs.py``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rmx_widgets.core.data import Prompt
from rmx_widgets.core.devices import resolve_device, resolve_dtype
from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.base import BaseRewardModel
from rmx_widgets.core.reward_models.hf.architecture import DecoderArchitecture
from rmx_widgets.core.reward_models.hf.batching import (
    InputDoesNotFit,
    MemoryBudget,
    default_token_budget,
)
from rmx_widgets.core.reward_models.hf.encoding import (
    EncodedInput,
    InputEncoder,
    truncation_report,
    unique_pairs,
)
from rmx_widgets.core.reward_models.hf.loading import (
    ModelSource,
    check_sizes,
    default_max_length,
    ensure_pad_token,
    model_identity,
)
from rmx_widgets.core.reward_models.hf.prefix import MIN_PREFIX_TOKENS, PrefixUnsupported
from rmx_widgets.core.reward_models.hf.shared_kv import scoring_lock
from rmx_widgets.core.reward_models.logprobs import LogProbScorer, plan_groups

if TYPE_CHECKING:
    import torch

STAT_NAMES = (
    "pairs",
    "unique_pairs",
    "prefix_groups",
    "prefix_tokens_saved",
    "prefix_fallbacks",
    "forward_passes",
    "tokens_processed",
    "oom_retries",
)


class DPORewardModel(BaseRewardModel):
    """``β · (log π(y|x) − log π_ref(y|x))``, summed over the response tokens.

    Args:
        policy: the DPO-trained causal LM (hub id or local folder, safetensors weights).
        reference: the reference causal LM it was trained against (usually the SFT model);
            it must use the same tokenizer vocabulary. The policy's tokenizer and chat template
            render every input.
        beta: the DPO temperature β the policy was trained with (a positive number); the
            reward scales linearly with it.
        device, dtype, max_length, token_budget, max_batch_size, trust_remote_code,
        attn_implementation: as for ``HFRewardModel``; ``max_length`` defaults to the
            smaller of the two models' limits, and longer inputs are truncated from the left
            (prompt first), listed in :attr:`last_truncated` and warned about; a response that
            alone is too long loses its beginning, and only its kept tokens are summed.
        name: replaces the two model identities in :attr:`identity` (β and the chat template
            stay in it).
        prefix_sharing: run a prompt's common token prefix once per model and reuse its
            KV cache for each of its responses (same sums; off: full sequences only).
        min_prefix_tokens: share only prefixes of at least this many tokens.

    The response tokens are those from the first one that overlaps the response text to the
    end of the rendered conversation: the template's end-of-turn marker after the response
    counts, because the policy generates it. :attr:`stats` counts ``pairs``, ``unique_pairs``,
    ``prefix_groups`` (per model), ``prefix_tokens_saved``, ``prefix_fallbacks``,
    ``forward_passes`` and ``tokens_processed`` (both models) and ``oom_retries``.
    """

    last_truncated: list[int]

    def __init__(
        self,
        policy: str | os.PathLike[str],
        reference: str | os.PathLike[str],
        beta: float = 0.1,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        max_length: int | None = None,
        token_budget: int | None = None,
        max_batch_size: int = 64,
        trust_remote_code: bool = False,
        attn_implementation: str | None = None,
        name: str | None = None,
        prefix_sharing: bool = True,
        min_prefix_tokens: int = MIN_PREFIX_TOKENS,
    ) -> None:
        check_sizes(max_length, token_budget, max_batch_size, min_prefix_tokens)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
            raise RewardModelError(f"DPORewardModel beta must be a positive number, got {beta!r}.")
        if not math.isfinite(beta):
            raise RewardModelError(f"DPORewardModel beta must be finite, got {beta!r}.")
        self.beta = float(beta)
        self.policy_path, self.reference_path = os.fspath(policy), os.fspath(reference)
        sources = [
            ModelSource.of(p, trust_remote_code) for p in (self.policy_path, self.reference_path)
        ]
        self.device = resolve_device(device, owner="DPORewardModel", error=RewardModelError)
        resolved = resolve_dtype(dtype, self.device, owner="DPORewardModel", error=RewardModelError)
        self.tokenizer, self.policy, self.attn_implementation = sources[0].load_causal_lm(
            self.device, resolved, attn_implementation
        )
        ref_tokenizer, self.reference, _ = sources[1].load_causal_lm(
            self.device, resolved, attn_implementation
        )
        if ref_tokenizer.get_vocab() != self.tokenizer.get_vocab():
            raise RewardModelError(
                f"the policy {self.policy_path!r} and the reference {self.reference_path!r} "
                "use different tokenizer vocabularies; a DPO reward compares the two models' "
                "log-probabilities of the same tokens, so they must share one."
            )
        self._pad_id = ensure_pad_token(self.tokenizer, self.policy, self.policy_path)
        ensure_pad_token(self.tokenizer, self.reference, self.reference_path)
        self.dtype: torch.dtype = self.policy.dtype
        self._encoder = InputEncoder(self.tokenizer, DecoderArchitecture(), self.policy_path, False)
        limits = [
            m
            for m in (
                default_max_length(self.tokenizer, mdl) for mdl in (self.policy, self.reference)
            )
            if m is not None
        ]
        self._default_max_length = min(limits) if limits else None
        models = name or (
            f"policy={model_identity(sources[0].path, self.dtype)},"
            f"ref={model_identity(sources[1].path, self.dtype)}"
        )
        self._identity_base = (
            f"dpo:{models}:beta={self.beta!r}:template={_template_tag(self.tokenizer)}"
        )
        self.max_length = max_length if max_length is not None else self._default_max_length
        self.max_batch_size = max_batch_size
        self.min_prefix_tokens = min_prefix_tokens
        self.last_truncated = []
        self.n_truncated = 0
        self._stats = dict.fromkeys(STAT_NAMES, 0)
        self._memory = MemoryBudget(
            token_budget if token_budget is not None else default_token_budget(self.device),
            self.device,
            self.identity,
            self._stats,
        )
        self._scorers = [
            LogProbScorer(
                m,
                self.device,
                self._pad_id,
                self._stats,
                self._memory,
                in_place=DecoderArchitecture().shares_kv_in_place(m),
            )
            for m in (self.policy, self.reference)
        ]
        self.prefix_sharing = bool(prefix_sharing) and all(s.can_share for s in self._scorers)

    # ------------------------------------------------------------------ state
    @property
    def max_length(self) -> int | None:
        """The longest input in tokens; a value other than the default is in :attr:`identity`
        (``...:max_length=N``)."""
        return self._max_length

    @max_length.setter
    def max_length(self, value: int | None) -> None:
        check_sizes(value, None, 1, 1)
        self._max_length = value
        self.identity = (
            self._identity_base
            if value == self._default_max_length
            else f"{self._identity_base}:max_length={value}"
        )

    @property
    def stats(self) -> dict[str, int]:
        """Cumulative counters (see the class docstring); assigning a mapping replaces the
        counts in place (both models' scorers count into the same dict)."""
        return self._stats

    @stats.setter
    def stats(self, values: Mapping[str, int]) -> None:
        new = dict(values)
        self._stats.clear()
        self._stats.update(new)

    @property
    def token_budget(self) -> int:
        """The current token budget (it shrinks after an out-of-memory batch)."""
        return self._memory.tokens

    # ------------------------------------------------------------------ scoring
    def format(self, prompt: Prompt, response: str) -> str:
        """The text both models read for (prompt, response), for inspection."""
        return self._encoder.format(prompt, response)

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        """One DPO reward per (prompt, response), in input order; identical pairs run once;
        one thread at a time (``scoring_lock``)."""
        with scoring_lock(self):
            return self._score_locked(prompts, responses)

    def _score_locked(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        u_prompts, u_responses, inverse = unique_pairs(prompts, responses)
        encoded = self._encoder.encode(u_prompts, u_responses, self.max_length)
        for e, response in zip(encoded, u_responses):
            if e.prompt_len is None:
                raise RewardModelError(
                    f"{self.identity}: cannot tell where the response starts in the rendered "
                    f"text of {response[:40]!r} (the chat template changed the response, or "
                    "the tokenizer gives no character offsets); a DPO reward needs the exact "
                    "prompt/response boundary."
                )
        self._record_truncation([encoded[u] for u in inverse])
        self._stats["pairs"] += len(inverse)
        self._stats["unique_pairs"] += len(u_prompts)
        try:
            sums = [self._sums(scorer, u_prompts, encoded) for scorer in self._scorers]
        except InputDoesNotFit as e:
            raise RewardModelError(
                f"{self.identity}: a single input of {e.tokens} tokens does not fit in the "
                f"memory of {self.device} ({e.detail}). Lower max_length (now "
                f"{self.max_length}) or load the models in a smaller dtype (e.g. dtype='bf16')."
            ) from None
        rewards = [self.beta * (sums[0][u] - sums[1][u]) for u in range(len(u_prompts))]
        return [rewards[u] for u in inverse]

    def _sums(
        self, scorer: LogProbScorer, prompts: Sequence[Prompt], encoded: Sequence[EncodedInput]
    ) -> dict[int, float]:
        """The summed response log-probabilities under one model, by index."""
        out: dict[int, float] = {}
        rest = list(range(len(encoded)))
        if self.prefix_sharing:
            groups, rest, fallbacks = plan_groups(prompts, encoded, self.min_prefix_tokens)
            self._stats["prefix_fallbacks"] += fallbacks
            for prefix_len, members in groups:
                if self.prefix_sharing:
                    try:
                        out.update(scorer.shared(encoded, prefix_len, members, self.max_batch_size))
                        continue
                    except (PrefixUnsupported, TypeError, ValueError, AttributeError) as e:
                        self._disable_prefix_sharing(f"{type(e).__name__}: {e}")
                self._stats["prefix_fallbacks"] += 1
                rest.extend(members)
        cap = self.max_batch_size if self._pad_id is not None else 1
        order = sorted(rest, key=lambda i: len(encoded[i].input_ids), reverse=True)
        out.update(scorer.full(encoded, order, cap))
        return out

    # ------------------------------------------------------------------ reporting
    def _record_truncation(self, encoded: Sequence[EncodedInput]) -> None:
        self.last_truncated, message = truncation_report(
            self.identity, encoded, self.max_length, " (only its kept tokens are summed)"
        )
        if message is not None:
            self.n_truncated += len(self.last_truncated)
            warnings.warn(message, stacklevel=3)

    def _disable_prefix_sharing(self, why: str) -> None:
        self.prefix_sharing = False
        warnings.warn(
            f"{self.identity}: prompt-prefix sharing turned off ({why}); scoring full "
            "sequences instead (same rewards, slower).",
            stacklevel=5,
        )

    def __repr__(self) -> str:
        return (
            f"DPORewardModel({self.policy_path!r}, {self.reference_path!r}, beta={self.beta}, "
            f"device={str(self.device)!r}, dtype={self.dtype})"
        )


def _template_tag(tokenizer: Any) -> str:
    """A digest of the chat template (it decides the tokens scored), or ``plain``."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return "plain"
    text = template if isinstance(template, str) else json.dumps(template, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
