"""Prompt-prefix sharing: the responses of one prompt reuse the prompt's KV cache.

The Explainer scores up to ~30 rewrites per prompt, and prompts are often much longer than
responses, so running the prompt once and every response as a continuation of it removes most
of the work. The prefix is the longest *token* prefix common to the group's full tokenisations,
so ``tokens(full text) == prefix + continuation`` holds by construction even where a chat
template or BPE merges tokens across the prompt/response boundary; a causal model's states over
those tokens do not depend on what follows, so the rewards equal full-sequence scoring. Once per
model a self-check compares the shared path with a full forward pass, and any surprise (a cache
type this cannot reuse, a mismatch) raises :class:`PrefixUnsupported`, which turns sharing off
in favour of full sequences: same rewards, slower.

Only decoders can share (``architecture.py`` says which models qualify). Where the architecture
declares it (``Architecture.shares_kv_in_place``), a continuation pass reads the prefix's keys and
values at batch 1 through a dedicated attention function (``shared_kv.py``), so no row gets a
copy of them; elsewhere it gets a ``DynamicCache`` of the prefix expanded over the rows, whose
``update()`` writes the prefix out once per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rmx_widgets.core.data import Prompt
from rmx_widgets.core.reward_models.hf.batching import (
    MemoryBudget,
    count_kv_bytes,
    count_pass,
    scores_of,
)
from rmx_widgets.core.reward_models.hf.encoding import EncodedInput, pair_key
from rmx_widgets.core.reward_models.hf.shared_kv import (
    PREFIX_KWARG,
    PrefixUnsupported,
    SharedPrefixKV,
    shared_prefix_attention_on,
)

if TYPE_CHECKING:
    import torch

# The prefix pass costs one extra forward call; below this many shared tokens it does not pay.
MIN_PREFIX_TOKENS = 32

KVCache = list[tuple["torch.Tensor", "torch.Tensor"]]

__all__ = ["MIN_PREFIX_TOKENS", "PrefixSharer", "PrefixUnsupported", "common_prefix_len"]


def common_prefix_len(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest prefix shared by all sequences."""
    first = seqs[0]
    n = min(len(q) for q in seqs)
    for q in seqs[1:]:
        k = 0
        while k < n and q[k] == first[k]:
            k += 1
        n = k
    return n


def expanded_prefix_inputs(
    prefix_kv: KVCache, lengths: Sequence[int], width: int
) -> tuple[torch.Tensor, Any]:
    """(attention mask, ``DynamicCache``) of a continuation pass on the expanded-cache path,
    for architectures that cannot read the prefix in place: the prefix's keys/values
    ``expand()``-ed over the rows (the cache's updates then write them out once per row) and a
    mask over prefix + each row's ``lengths`` real tokens of the ``width`` columns."""
    import torch
    from transformers import DynamicCache

    rows = len(lengths)
    prefix_len = prefix_kv[0][0].shape[-2]
    mask = torch.zeros((rows, prefix_len + width), dtype=torch.long)
    mask[:, :prefix_len] = 1
    for row, n in enumerate(lengths):
        mask[row, prefix_len : prefix_len + n] = 1
    cache = DynamicCache(
        [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in prefix_kv]
    )
    return mask, cache


class PrefixSharer:
    """Plans prefix groups and scores them for one decoder RM with a generic head.

    ``cache_arg``: the base model's keyword for a KV cache (``architecture.py``); ``device``:
    where the inputs go; ``pad_id``: the pad token the head skips when it looks for the last
    token; ``stats``: the model's counter dict; ``memory``: its token budget, shared with
    full-sequence scoring; ``column``: the head's output that is the reward (``head=``);
    ``in_place``: continuation passes read the prefix's keys/values at batch 1 through the
    shared-prefix attention (``shared_kv.py``) rather than an expanded ``DynamicCache``.
    """

    def __init__(
        self,
        model: Any,
        cache_arg: str,
        device: torch.device,
        pad_id: int | None,
        stats: dict[str, int],
        memory: MemoryBudget,
        column: int | Callable[[Any], list[Any]] = 0,
        in_place: bool = False,
    ) -> None:
        self.model = model
        self.in_place = in_place
        self.column = column
        self.base = getattr(model, model.base_model_prefix)
        self.cache_arg = cache_arg
        self.device = device
        self.pad_id = pad_id
        self.stats = stats
        self.memory = memory
        self.verified = False

    def plan(
        self, prompts: Sequence[Prompt], encoded: Sequence[EncodedInput], min_tokens: int
    ) -> tuple[list[tuple[int, list[int]]], list[int]]:
        """Split input indices into prefix-sharing groups ``(prefix_len, members)`` and the rest.

        A group is the untruncated inputs of one prompt; its prefix is the longest token prefix
        common to all of them, stopped one token short of the shortest so that every member
        keeps a continuation (its reward is read there). Where a prompt's last tokens merge with
        a response's first ones, the common prefix simply ends earlier: correctness never
        depends on how the tokenizer treats the boundary. Groups sharing fewer than
        ``min_tokens`` tokens use full sequences.
        """
        by_prompt: dict[Any, list[int]] = {}
        rest: list[int] = []
        for i, (p, e) in enumerate(zip(prompts, encoded)):
            if e.truncated:  # left truncation cuts each input differently
                rest.append(i)
            else:
                by_prompt.setdefault(pair_key(p), []).append(i)
        groups = []
        for members in by_prompt.values():
            if len(members) < 2:
                rest.extend(members)
                continue
            seqs = [encoded[i].input_ids for i in members]
            n = min(common_prefix_len(seqs), min(len(q) for q in seqs) - 1)
            # The head reads the rightmost non-pad token; it must lie in the continuation.
            keep = [i for i in members if self.pool_index(encoded[i].input_ids) >= n]
            rest.extend(sorted(set(members) - set(keep)))
            if any(encoded[i].boundary_merged for i in keep):
                self.stats["prefix_boundary_merges"] += 1
            if len(keep) < 2 or n < min_tokens:
                self.stats["prefix_fallbacks"] += 1
                rest.extend(keep)
            else:
                groups.append((n, keep))
        return groups, rest

    def pool_index(self, ids: Sequence[int]) -> int:
        """Where transformers' generic head reads the reward: the rightmost token that is not
        the pad id (index 0 if all are), or the last token when the model has no pad id."""
        if self.pad_id is None:
            return len(ids) - 1
        return next((k for k in range(len(ids) - 1, -1, -1) if ids[k] != self.pad_id), 0)

    def score_groups(
        self,
        encoded: Sequence[EncodedInput],
        groups: Sequence[tuple[int, list[int]]],
        cap: int,
        full_forward: Callable[[list[EncodedInput]], list[Any]],
    ) -> Iterator[tuple[int, dict[int, Any]]]:
        """Score prefix groups ``(prefix_len, members)``: the prefixes of several prompts run
        as one right-padded pass (token-budgeted, longest first), then each group's members'
        continuations in budgeted batches of at most ``cap`` rows. Yields ``(group index,
        scores by input index)`` as each group finishes, so only one prefix batch's keys and
        values are held at a time. ``full_forward`` scores full sequences, for the self-check.
        """
        order = sorted(range(len(groups)), key=lambda g: groups[g][0], reverse=True)
        lengths = {g: groups[g][0] for g in order}

        def prefixes(batch: list[int]) -> list[KVCache]:
            return self.prefix_caches(
                [encoded[groups[g][1][0]].input_ids[: groups[g][0]] for g in batch]
            )

        for g, cache in self.memory.run_batches(order, lengths, cap, 0, prefixes):
            yield g, self._score_members(encoded, cache, *groups[g], cap, full_forward)

    def _score_members(
        self,
        encoded: Sequence[EncodedInput],
        cache: KVCache,
        prefix_len: int,
        members: list[int],
        cap: int,
        full_forward: Callable[[list[EncodedInput]], list[Any]],
    ) -> dict[int, Any]:
        """One group's continuations of its cached prefix, in budgeted batches."""
        order = sorted(members, key=lambda i: len(encoded[i].input_ids), reverse=True)
        conts = {i: len(encoded[i].input_ids) - prefix_len for i in members}

        def run(batch: list[int]) -> list[Any]:
            ids = [encoded[i].input_ids[prefix_len:] for i in batch]
            pools = [self.pool_index(encoded[i].input_ids) - prefix_len for i in batch]
            return self.forward_shared(cache, prefix_len, ids, pools)

        out = dict(self.memory.run_batches(order, conts, cap, prefix_len, run))
        if not self.verified:
            self._self_check(encoded[members[0]], out[members[0]], full_forward)
        self.stats["prefix_groups"] += 1
        self.stats["prefix_tokens_saved"] += prefix_len * (len(members) - 1)
        return out

    def _self_check(
        self,
        item: EncodedInput,
        shared: Any,
        full_forward: Callable[[list[EncodedInput]], list[Any]],
    ) -> None:
        """Once per model: the shared path must reproduce a full forward pass (guards
        architectures whose attention or positions behave unexpectedly with a cache)."""
        import torch

        (ref,) = self.memory.run_single(lambda: full_forward([item]), len(item.input_ids))
        # a readout of several outputs (objectives) gives a tuple: every value must match
        pairs = zip(shared, ref) if isinstance(ref, tuple) else [(shared, ref)]
        for got, want in pairs:
            tol = (1e-3 if self.model.dtype == torch.float32 else 5e-2) * max(1.0, abs(want))
            if not abs(got - want) <= tol:
                raise PrefixUnsupported(
                    f"a self-check found {got:.6g} with a shared prefix vs {want:.6g} without"
                )
        self.verified = True

    def prefix_caches(self, prefixes: Sequence[Sequence[int]]) -> list[KVCache]:
        """Keys and values of every layer for each prefix (each batch 1, its own length),
        from one right-padded forward pass: a causal model's states over a row's real tokens
        do not depend on the padding after them, and the positions count from 0 in every row,
        as they would alone."""
        import torch
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        rows, width = len(prefixes), max(len(q) for q in prefixes)
        ids = torch.full((rows, width), 0 if self.pad_id is None else self.pad_id, dtype=torch.long)
        mask = torch.zeros((rows, width), dtype=torch.long)
        for row, q in enumerate(prefixes):
            ids[row, : len(q)] = torch.tensor(list(q), dtype=torch.long)
            mask[row, : len(q)] = 1
        masked = {} if rows == 1 else {"attention_mask": mask.to(self.device)}
        with torch.inference_mode():
            out = self.base(input_ids=ids.to(self.device), use_cache=True, **masked)
        count_pass(self.stats, "prefix", rows, rows * width)
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
        return [
            [
                (layer.keys[row : row + 1, :, : len(q)], layer.values[row : row + 1, :, : len(q)])
                for layer in layers
            ]
            for row, q in enumerate(prefixes)
        ]

    def forward_shared(
        self,
        prefix_kv: KVCache,
        prefix_len: int,
        conts: Sequence[Sequence[int]],
        pools: Sequence[int],
    ) -> list[Any]:
        """Score continuations of one cached prefix in one right-padded pass.

        Positions continue after the prefix; ``pools`` are the positions (within each
        continuation) where the head reads the reward, as the full-sequence head would. The
        prefix tensors are never modified: with ``in_place`` the attention reads them at batch
        1 (no mask, no cache: right padding needs neither); otherwise each pass gets a fresh
        ``DynamicCache`` of them expanded over the rows and a mask over prefix + continuation.
        """
        import torch

        rows, width = len(conts), max(len(c) for c in conts)
        input_ids = torch.full(
            (rows, width), 0 if self.pad_id is None else self.pad_id, dtype=torch.long
        )
        for row, c in enumerate(conts):
            input_ids[row, : len(c)] = torch.tensor(c, dtype=torch.long)
        dev = self.device
        positions = torch.arange(prefix_len, prefix_len + width, device=dev).expand(rows, width)
        with torch.inference_mode():
            if self.in_place:
                hidden, kv_bytes = self._in_place_pass(prefix_kv, input_ids.to(dev), positions)
            else:
                hidden, kv_bytes = self._expanded_pass(
                    prefix_kv, input_ids, [len(c) for c in conts], positions
                )
            picked = hidden[torch.arange(rows, device=dev), torch.tensor(pools, device=dev)]
            logits = self.model.score(picked)
        count_pass(self.stats, "continuation", rows, rows * width)
        count_kv_bytes(self.stats, kv_bytes)
        return scores_of(logits, self.column)

    def _in_place_pass(
        self, prefix_kv: KVCache, input_ids: torch.Tensor, positions: torch.Tensor
    ) -> tuple[torch.Tensor, int]:
        """(last hidden states, bytes of keys/values attended to: the prefix once plus the
        rows' own, as the attention function saw them)."""
        shared = SharedPrefixKV(prefix_kv)
        with shared_prefix_attention_on(self.model):
            hidden = self.base(
                input_ids=input_ids,
                position_ids=positions,
                use_cache=False,
                **{PREFIX_KWARG: shared},
            ).last_hidden_state
        if shared.calls != len(shared.layers):
            raise PrefixUnsupported(
                f"the shared-prefix attention ran for {shared.calls} of {len(shared.layers)} layers"
            )
        return hidden, shared.nbytes() + shared.own_bytes

    def _expanded_pass(
        self,
        prefix_kv: KVCache,
        input_ids: torch.Tensor,
        lengths: Sequence[int],
        positions: torch.Tensor,
    ) -> tuple[torch.Tensor, int]:
        """(last hidden states, bytes of the cache's keys/values after the pass: the prefix
        written out once per row, plus the rows' own). ``lengths``: each row's real tokens."""
        mask, cache = expanded_prefix_inputs(prefix_kv, lengths, input_ids.shape[1])
        dev = self.device
        hidden = self.base(
            input_ids=input_ids.to(dev),
            attention_mask=mask.to(dev),
            position_ids=positions,
            use_cache=True,
            **{self.cache_arg: cache},
        ).last_hidden_state
        # the layers were checked to be DynamicLayers when the prefix was cached
        held = 0
        for layer in cache.layers:
            for t in (layer.keys, layer.values):
                held += 0 if t is None else int(t.nbytes)
        return hidden, held
