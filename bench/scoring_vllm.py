"""The vLLM half of ``bench/scoring.py --device cuda``: the same pairs scored by
``VLLMRewardModel`` beside ``HFRewardModel``, the timings side by side and the max abs reward
difference against ``VLLM_HF_TOLERANCE`` (a fraction of the HF reward spread).

vLLM loads weights from a folder, so the model HFRewardModel adopted in memory is written there
first (safetensors, bf16); both score the same token ids (VLLMRewardModel renders through the
HF encoder). Both are warmed up on the first 64 pairs before the timed call.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def vllm_side_by_side(
    rep: Any, model: Any, folder: Path, work: Any, hf_scores: list[float], hf_secs: float
) -> None:
    """Print the HF and vLLM timings and the reward gap; "skipped: <why>" without vLLM."""
    import torch

    from rmx_widgets.core.reward_models.vllm import (
        VLLM_HF_TOLERANCE,
        VLLMRewardModel,
        reward_gap,
        why_vllm_unavailable,
    )

    why = why_vllm_unavailable()
    if why is not None:
        rep(f"  vllm side by side: skipped: {why}")
        return
    model.save_pretrained(str(folder))  # config + model.safetensors beside the tokenizer
    torch.cuda.empty_cache()  # the HF model stays; vLLM gets half the GPU
    rm = VLLMRewardModel(str(folder), dtype="bf16", gpu_memory_utilization=0.5)
    rm.score(work.prompts[:64], work.responses[:64])  # warm-up (CUDA graphs, allocator)
    start = time.perf_counter()
    scores = rm.score(work.prompts, work.responses)
    secs = time.perf_counter() - start
    gap, allowed = reward_gap(hf_scores, scores)
    n = len(scores)
    rep(f"  side by side, {n} pairs, bf16, same token ids:")
    rep(f"    HFRewardModel   {hf_secs:8.1f} s {n / hf_secs:9.1f} pairs/s  (prefix sharing)")
    rep(f"    VLLMRewardModel {secs:8.1f} s {n / secs:9.1f} pairs/s  (prefix caching)")
    rep(
        f"    max |vllm - hf| = {gap:.3g}; allowed {allowed:.3g} = VLLM_HF_TOLERANCE "
        f"{VLLM_HF_TOLERANCE:g} x HF reward spread: {'within' if gap <= allowed else 'OUTSIDE'}"
    )
