"""Summed log-probabilities of response tokens under a causal LM, batched and prefix-shared.

``DPORewardModel`` needs ``log π(y|x)``: the sum, over the tokens of the response ``y``, of the
log-probability the LM gives each token after everything before it. The (prompt, response)
pairs arrive encoded by the HF reward model's ``InputEncoder`` (chat template or plain format,
left truncation), whose ``prompt_len`` says how many leading tokens lie entirely before the
response; token ``k`` is a response token when ``k >= prompt_len`` (a token that straddles the
boundary counts as the response's), and the template's end-of-turn markers after the response
count too, because the policy generates them.

Scoring follows the reward model's throughput design (``hf/batching.py``, ``hf/prefix.py``):
length-sorted, right-padded batches under a token budget that halves after an out-of-memory
batch; and, for the responses of one prompt, the longest token prefix common to all of them
(stopping at or before the first response token) runs once, its KV cache and its last logits
reused by every continuation. A causal LM's outputs over a prefix do not depend on what follows,
so both paths give the same sums; a once-per-model self-check compares them, and any surprise
turns sharing off (same sums, slower). Where the architecture declares it, the continuations
read the prefix's keys/values at batch 1 with no per-row copy (``hf/shared_kv.py``).
Log-softmax is taken in float32 over the response positions only, so memory is ``budget x
vocabulary`` at most.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rmx_widgets.core.data import Prompt
from rmx_widgets.core.reward_models.hf.batching import MemoryBudget
from rmx_widgets.core.reward_models.hf.encoding import EncodedInput, pair_key
from rmx_widgets.core.reward_models.hf.prefix import (
    PrefixUnsupported,
    common_prefix_len,
    expanded_prefix_inputs,
)
from rmx_widgets.core.reward_models.hf.shared_kv import (
    PREFIX_KWARG,
    SharedPrefixKV,
    shared_prefix_attention_on,
)

if TYPE_CHECKING:
    import torch


def response_start(item: EncodedInput) -> int:
    """The index of the first response token (never 0: token 0 has no prediction)."""
    assert item.prompt_len is not None  # DPORewardModel refuses inputs without one
    return max(item.prompt_len, 1)


def plan_groups(
    prompts: Sequence[Prompt], encoded: Sequence[EncodedInput], min_tokens: int
) -> tuple[list[tuple[int, list[int]]], list[int], int]:
    """(``[(prefix_len, members)]``, the indices left for full sequences, the number of
    groups of two or more that fell back). A group is the untruncated inputs of one prompt;
    its prefix is their longest common token prefix, cut at the earliest response start, so
    every response token lies in a continuation (the first one predicted by the prefix's last
    logits)."""
    by_prompt: dict[Any, list[int]] = {}
    rest: list[int] = []
    for i, (p, e) in enumerate(zip(prompts, encoded)):
        (rest if e.truncated else by_prompt.setdefault(pair_key(p), [])).append(i)
    groups, fallbacks = [], 0
    for members in by_prompt.values():
        if len(members) < 2:
            rest.extend(members)
            continue
        seqs = [encoded[i].input_ids for i in members]
        n = min(
            common_prefix_len(seqs),
            min(len(q) for q in seqs) - 1,  # every member keeps a continuation
            *(response_start(encoded[i]) for i in members),
        )
        if n < max(min_tokens, 1):
            fallbacks += 1
            rest.extend(members)
        else:
            groups.append((n, members))
    return groups, rest, fallbacks


class LogProbScorer:
    """Summed response log-probabilities for one causal LM.

    ``device``: where its inputs go; ``pad_id``: the id padding uses (the attention mask hides
    it); ``stats``: the owner's counter dict; ``memory``: its token budget; ``in_place``: the
    continuations read the prefix's keys/values at batch 1 (``Architecture.shares_kv_in_place``)
    instead of an expanded ``DynamicCache`` that copies them once per row.
    """

    def __init__(
        self,
        model: Any,
        device: torch.device,
        pad_id: int | None,
        stats: dict[str, int],
        memory: MemoryBudget,
        in_place: bool = False,
    ) -> None:
        self.model = model
        self.in_place = in_place
        self.device = device
        self.pad_id = 0 if pad_id is None else pad_id
        self.stats = stats
        self.memory = memory
        self.verified = False
        params = inspect.signature(model.forward).parameters
        # transformers 5 names the KV cache ``cache``; earlier releases ``past_key_values``
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        self.can_share = (
            not model.config.is_encoder_decoder
            and self.cache_arg in params
            and "position_ids" in params
        )

    # ------------------------------------------------------------------ full sequences
    def full(self, encoded: Sequence[EncodedInput], order: list[int], cap: int) -> dict[int, float]:
        """Sums for ``order`` (longest first) as token-budgeted full sequences."""
        lengths = {i: len(encoded[i].input_ids) for i in order}
        return dict(
            self.memory.run_batches(
                order, lengths, cap, 0, lambda batch: self.forward([encoded[i] for i in batch])
            )
        )

    def forward(self, batch: Sequence[EncodedInput]) -> list[float]:
        """One right-padded pass; the summed log-probability of each row's response tokens."""
        import torch

        rows, width = len(batch), max(len(e.input_ids) for e in batch)
        ids = torch.full((rows, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((rows, width), dtype=torch.long)
        for r, e in enumerate(batch):
            ids[r, : len(e.input_ids)] = torch.tensor(e.input_ids, dtype=torch.long)
            mask[r, : len(e.input_ids)] = 1
        with torch.inference_mode():
            logits = self.model(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device)
            ).logits
            out = []
            for r, e in enumerate(batch):
                start, n = response_start(e), len(e.input_ids)
                # logits at k-1 predict token k
                out.append(_summed(logits[r, start - 1 : n - 1], e.input_ids[start:n]))
        self.stats["forward_passes"] += 1
        self.stats["tokens_processed"] += rows * width
        return out

    # ------------------------------------------------------------------ shared prefix
    def shared(
        self, encoded: Sequence[EncodedInput], prefix_len: int, members: list[int], cap: int
    ) -> dict[int, float]:
        """Run one prompt's prefix once, then its members' continuations in budgeted batches.
        Raises :class:`PrefixUnsupported` when the cache cannot be reused."""
        prefix = encoded[members[0]].input_ids[:prefix_len]
        cache, last = self.memory.run_single(lambda: self.prefix_cache(prefix), prefix_len)
        order = sorted(members, key=lambda i: len(encoded[i].input_ids), reverse=True)
        conts = {i: len(encoded[i].input_ids) - prefix_len for i in members}

        def run(batch: list[int]) -> list[float]:
            return self.forward_shared(cache, last, prefix_len, [encoded[i] for i in batch])

        out = dict(self.memory.run_batches(order, conts, cap, prefix_len, run))
        if not self.verified:
            import torch

            first = encoded[members[0]]
            (ref,) = self.memory.run_single(lambda: self.forward([first]), len(first.input_ids))
            got = out[members[0]]
            tol = (1e-3 if self.model.dtype == torch.float32 else 5e-2) * max(1.0, abs(ref))
            if not abs(got - ref) <= tol:
                raise PrefixUnsupported(
                    f"a self-check found {got:.6g} with a shared prefix vs {ref:.6g} without"
                )
            self.verified = True
        self.stats["prefix_groups"] += 1
        self.stats["prefix_tokens_saved"] += prefix_len * (len(members) - 1)
        return out

    def prefix_cache(self, prefix: list[int]) -> tuple[list[tuple[Any, Any]], Any]:
        """(keys and values of every layer for the prefix, batch 1; the logits at its last
        position, which predict the first continuation token)."""
        import torch
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        ids = torch.tensor([prefix], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            out = self.model(input_ids=ids, use_cache=True)
        self.stats["forward_passes"] += 1
        self.stats["tokens_processed"] += len(prefix)
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        layers = getattr(cache, "layers", None)
        if (
            type(cache) is not DynamicCache
            or not layers
            or any(type(layer) is not DynamicLayer for layer in layers)
        ):
            raise PrefixUnsupported(
                f"the model returned a {type(cache).__name__} cache "
                "(sliding-window, hybrid or legacy layers)"
            )
        return [(layer.keys, layer.values) for layer in layers], out.logits[0, -1]

    def forward_shared(
        self,
        prefix_kv: list[tuple[Any, Any]],
        last: Any,
        prefix_len: int,
        batch: Sequence[EncodedInput],
    ) -> list[float]:
        """The sums for continuations of one cached prefix, in one right-padded pass (the
        prefix tensors never modified: read at batch 1 with ``in_place``, else a fresh cache
        per pass with them expanded over the rows)."""
        import torch

        conts = [e.input_ids[prefix_len:] for e in batch]
        rows, width = len(conts), max(len(c) for c in conts)
        ids = torch.full((rows, width), self.pad_id, dtype=torch.long)
        for r, c in enumerate(conts):
            ids[r, : len(c)] = torch.tensor(c, dtype=torch.long)
        dev = self.device
        positions = torch.arange(prefix_len, prefix_len + width, device=dev).expand(rows, width)
        with torch.inference_mode():
            if self.in_place:
                # right padding needs no mask: a real token never attends to the pads after it
                shared = SharedPrefixKV(prefix_kv)
                with shared_prefix_attention_on(self.model):
                    logits = self.model(
                        input_ids=ids.to(dev),
                        position_ids=positions,
                        use_cache=False,
                        **{PREFIX_KWARG: shared},
                    ).logits
                if shared.calls != len(shared.layers):
                    raise PrefixUnsupported(
                        "the shared-prefix attention did not run for every layer"
                    )
            else:
                mask, cache = expanded_prefix_inputs(prefix_kv, [len(c) for c in conts], width)
                logits = self.model(
                    input_ids=ids.to(dev),
                    attention_mask=mask.to(dev),
                    position_ids=positions,
                    use_cache=True,
                    **{self.cache_arg: cache},
                ).logits
            out = []
            for r, e in enumerate(batch):
                n = len(e.input_ids)
                # predictions of tokens prefix_len .. n-1: the prefix's last logits, then the
                # continuation's logits at positions prefix_len .. n-2
                preds = torch.cat([last[None], logits[r, : n - 1 - prefix_len]])
                start = response_start(e) - prefix_len
                out.append(_summed(preds[start:], e.input_ids[prefix_len + start : n]))
        self.stats["forward_passes"] += 1
        self.stats["tokens_processed"] += rows * width
        return out


def _summed(logits: torch.Tensor, targets: Sequence[int]) -> float:
    """sum_k log_softmax(logits[k])[targets[k]], in float32."""
    import torch

    if not len(targets):
        return 0.0
    logp = torch.log_softmax(logits.float(), dim=-1)
    index = torch.tensor(list(targets), dtype=torch.long, device=logits.device)
    return float(logp.gather(1, index[:, None]).sum())
