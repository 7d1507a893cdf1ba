"""Attention over a shared prompt prefix with no per-row copy of the prefix's keys and values.

The responses of one prompt run as continuations of its cached prefix (``prefix.py``). Handing
transformers a ``DynamicCache`` of the prefix ``expand()``-ed over the batch looks free, but
the cache's ``update()`` concatenates each layer's new keys/values onto the expanded prefix,
which writes the prefix out once per row (an 8B model, a 1,000-token prefix and 14 rows: about
1.8 GB per pass), and the explicit mask over prefix + continuation keeps SDPA off its flash
kernels. Here instead:

* the prefix's keys/values stay at batch 1 (:class:`SharedPrefixKV`) and reach the attention
  function as a keyword of the forward call; the model gets no cache, so each layer attends to
  its rows' own keys/values only, and nothing is concatenated;
* :func:`shared_prefix_attention`, registered with transformers' ``AttentionInterface`` and
  switched on for the shared passes only (:func:`shared_prefix_attention_on`), computes the
  attention of every query in two parts: over the prefix, with all rows' queries folded into
  one batch-1 sequence (GQA groups folded the same way, so the prefix's keys are never repeated
  or broadcast), unmasked; and over the row's own tokens, causal. Each part is a fused
  kernel call with no mask (flash on CPU and CUDA where the dtype allows), and the two are
  merged exactly by their log-sum-exps: ``out = (e^{l1} o1 + e^{l2} o2) / (e^{l1} + e^{l2})``.

Right padding needs no mask: a real token never attends to the pads after it, and the pads'
own outputs are never read. The merge is exact up to float rounding, and the once-per-model
self-check (``prefix.py``) compares the shared path with full sequences anyway. Which models
take this path is declared by ``Architecture.shares_kv_in_place`` (``architecture.py``); the
others keep the expanded cache.

The model's ``config._attn_implementation`` is switched for the duration of a shared pass and
restored after it, so one model object must not run a shared pass and another pass at the same
time from two threads: ``HFRewardModel`` and ``DPORewardModel`` score under
:func:`scoring_lock` (an edit rescored on the widget's worker thread while a run scores would
otherwise see the switched setting).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: the name under which :func:`shared_prefix_attention` is registered with transformers
ATTENTION_NAME = "rmx_shared_prefix"
#: the forward keyword that carries the :class:`SharedPrefixKV` to the attention function
PREFIX_KWARG = "rmx_shared_prefix"


class PrefixUnsupported(RuntimeError):
    """The model's cache or attention cannot be reused as a shared prefix; turns sharing off."""


class SharedPrefixKV:
    """The prefix's keys and values per layer, each ``(1, kv_heads, prefix_len, head_dim)``,
    read (never written) by every row of every continuation pass of its group."""

    def __init__(self, layers: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.layers = list(layers)
        self.length = int(self.layers[0][0].shape[-2]) if self.layers else 0
        #: layers the attention function ran for, and the bytes of the rows' own keys and
        #: values it saw (the pass's checks: every layer must have come through here)
        self.calls = 0
        self.own_bytes = 0

    def nbytes(self) -> int:
        """Bytes of the prefix's keys and values (held once, whatever the number of rows)."""
        return sum(k.nbytes + v.nbytes for k, v in self.layers)


def _with_lse_kernel(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, scale: float
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(output, logsumexp)`` from one of torch's fused SDPA kernels that return the
    log-sum-exp (public ``scaled_dot_product_attention`` does not), or ``None`` where none
    applies to this device and dtype. Heads of q, k and v must be equal."""
    import torch

    ops = torch.ops.aten
    if q.device.type == "cpu":
        out, lse = ops._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, causal, scale=scale
        )
        return out, lse
    if q.device.type == "cuda":
        if q.dtype in (torch.float16, torch.bfloat16) and q.shape[-1] <= 256:
            got = ops._scaled_dot_product_flash_attention(q, k, v, 0.0, causal, False, scale=scale)
            return got[0], got[1]
        got = ops._scaled_dot_product_efficient_attention(
            q, k, v, None, True, 0.0, causal, scale=scale
        )
        return got[0], got[1][..., : q.shape[-2]]  # the kernel may pad the lse's length
    return None


def _with_lse_math(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same in plain tensor ops, in float32 (materialises the scores: slower, exact)."""
    import torch

    s = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale
    if causal:
        n, m = s.shape[-2:]
        s = s.masked_fill(torch.ones(n, m, dtype=torch.bool, device=s.device).triu(1), -torch.inf)
    lse = torch.logsumexp(s, dim=-1)
    out = torch.matmul(torch.exp(s - lse[..., None]), v.float())
    return out.to(q.dtype), lse


def attend_with_lse(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention output (q's dtype) and float32 log-sum-exp of the scores per query: a fused
    kernel where one applies (a kernel that refuses these shapes falls back to the math)."""
    try:
        got = _with_lse_kernel(q, k, v, causal, scale)
    except RuntimeError:  # e.g. a head size or GPU generation the kernel does not support
        got = None
    if got is None:
        return _with_lse_math(q, k, v, causal, scale)
    return got[0], got[1].float()


def shared_prefix_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature: ``query`` ``(rows, heads, T, d)``, ``key``
    and ``value`` the rows' own ``(rows, kv_heads, T, d)``; returns ``(rows, T, heads, d)``.
    Every query attends to the whole shared prefix and causally to its row's own tokens."""
    import torch

    prefix = kwargs.get(PREFIX_KWARG)
    if not isinstance(prefix, SharedPrefixKV):
        raise PrefixUnsupported(f"attention {ATTENTION_NAME!r} called without a shared prefix")
    if attention_mask is not None or kwargs.get("softcap") or kwargs.get("s_aux") is not None:
        raise PrefixUnsupported("the model's attention needs a mask, soft-capping or sinks")
    rows, heads, t, d = query.shape
    window = kwargs.get("sliding_window")
    if window is not None and prefix.length + t > window:
        raise PrefixUnsupported(f"a sliding window of {window} tokens")
    pk, pv = prefix.layers[module.layer_idx]
    prefix.calls += 1
    prefix.own_bytes += key.nbytes + value.nbytes
    kv_heads = pk.shape[1]
    groups = heads // kv_heads
    scale = float(scaling) if scaling is not None else d**-0.5
    # Prefix part: head h = kv * groups + g (transformers' repeat_kv layout) reads kv head kv;
    # fold (groups, rows, T) into one query axis of a batch-1 call against the batch-1 prefix.
    folded = query.view(rows, kv_heads, groups, t, d).permute(1, 2, 0, 3, 4)
    folded = folded.reshape(1, kv_heads, groups * rows * t, d)
    o1, l1 = attend_with_lse(folded, pk, pv, False, scale)
    o1 = o1.reshape(kv_heads, groups, rows, t, d).permute(2, 0, 1, 3, 4).reshape(rows, heads, t, d)
    l1 = l1.reshape(kv_heads, groups, rows, t).permute(2, 0, 1, 3).reshape(rows, heads, t)
    # Own part: causal over the rows' own tokens (small: only T keys per row are repeated).
    own_k = key.repeat_interleave(groups, dim=1) if groups > 1 else key
    own_v = value.repeat_interleave(groups, dim=1) if groups > 1 else value
    o2, l2 = attend_with_lse(query, own_k, own_v, True, scale)
    lse = torch.logaddexp(l1, l2)
    w1, w2 = torch.exp(l1 - lse)[..., None], torch.exp(l2 - lse)[..., None]
    out = (o1.float() * w1 + o2.float() * w2).to(query.dtype)
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface

    if ATTENTION_NAME not in AttentionInterface._global_mapping:
        AttentionInterface.register(ATTENTION_NAME, shared_prefix_attention)


@contextmanager
def shared_prefix_attention_on(model: Any) -> Iterator[None]:
    """Run ``model``'s attention through :func:`shared_prefix_attention` inside the block.
    Why a switch and not a permanent setting: transformers also picks its mask builder by
    this name, and the full-sequence passes need theirs (a custom name gets no mask)."""
    _register()
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = ATTENTION_NAME
    try:
        yield
    finally:
        config._attn_implementation = before


_LOCKS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def scoring_lock(owner: Any) -> threading.RLock:
    """The lock ``owner`` (a reward model) scores under, one per object: its passes switch its
    model's attention setting (:func:`shared_prefix_attention_on`) and update its counters, so
    two threads must not score through it at once. Kept beside the object, not on it, so the
    model still pickles (a Ray recipe may ship it)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(owner)
        if lock is None:
            lock = _LOCKS[owner] = threading.RLock()
        return lock
