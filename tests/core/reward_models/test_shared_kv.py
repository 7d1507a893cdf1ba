"""The shared-prefix attention (hf/shared_kv.py): attending to a batch-1 prefix and to each
row's own tokens, merged by log-sum-exp, must equal plain attention over the prefix copied
into every row followed by the row's tokens; and HFRewardModel must use it for Llama without
copying the prefix per row (the key/value bytes of a pass show it), with the rewards of the
expanded-cache path and of full sequences."""

from __future__ import annotations

import pytest
import torch

from rmx_widgets.core.reward_models.hf import HFRewardModel
from rmx_widgets.core.reward_models.hf.architecture import (
    DecoderArchitecture,
    EncoderArchitecture,
)
from rmx_widgets.core.reward_models.hf.shared_kv import (
    PREFIX_KWARG,
    PrefixUnsupported,
    SharedPrefixKV,
    _with_lse_kernel,
    _with_lse_math,
    shared_prefix_attention,
)

LONG_PROMPT = (
    "Please explain, step by step and with examples, how sorting a list in Python "
    "works and when to prefer sorted(items) over items.sort()."
)
RESPONSES = ["Use sorted.", "Call items.sort() to sort in place, it returns None.", "No."]


class _Layer:
    layer_idx = 0


def _reference(q, pk, pv, k, v, scale):
    """Plain attention over [prefix copied per row; own tokens], causal within the own."""
    rows, heads, t, _ = q.shape
    groups = heads // k.shape[1]
    keys = torch.cat([pk.expand(rows, -1, -1, -1), k], dim=2).repeat_interleave(groups, 1)
    vals = torch.cat([pv.expand(rows, -1, -1, -1), v], dim=2).repeat_interleave(groups, 1)
    p = pk.shape[2]
    s = (q @ keys.transpose(-1, -2)) * scale
    hide = torch.ones(t, p + t, dtype=torch.bool).triu(p + 1)
    s = s.masked_fill(hide, -torch.inf)
    return (torch.softmax(s, -1) @ vals).transpose(1, 2)


@pytest.mark.parametrize(("heads", "kv_heads"), [(4, 2), (4, 4), (6, 1)])
def test_attention_equals_a_per_row_copy_of_the_prefix(heads, kv_heads):
    g = torch.Generator().manual_seed(heads * 10 + kv_heads)
    rows, t, p, d = 3, 5, 11, 8
    q = torch.randn(rows, heads, t, d, generator=g)
    k, v = (torch.randn(rows, kv_heads, t, d, generator=g) for _ in range(2))
    pk, pv = (torch.randn(1, kv_heads, p, d, generator=g) for _ in range(2))
    shared = SharedPrefixKV([(pk, pv)])
    out, weights = shared_prefix_attention(
        _Layer(), q, k, v, None, scaling=0.3, **{PREFIX_KWARG: shared}
    )
    assert weights is None and out.shape == (rows, t, heads, d)
    assert (out - _reference(q, pk, pv, k, v, 0.3)).abs().max() < 1e-5
    assert shared.calls == 1 and shared.own_bytes == k.nbytes + v.nbytes
    assert shared.nbytes() == pk.nbytes + pv.nbytes  # held once, whatever the rows


def test_fused_kernel_and_math_agree_on_output_and_lse():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 4, 7, 16, generator=g) for _ in range(3))
    for causal in (False, True):
        fused = _with_lse_kernel(q, k, v, causal, 0.25)
        assert fused is not None  # the CPU flash kernel returns the log-sum-exp
        math = _with_lse_math(q, k, v, causal, 0.25)
        assert (fused[0] - math[0]).abs().max() < 1e-5
        assert (fused[1].float() - math[1]).abs().max() < 1e-5


def test_attention_refuses_what_it_cannot_do():
    q = torch.zeros(1, 2, 3, 4)
    k = torch.zeros(1, 2, 3, 4)
    shared = SharedPrefixKV([(torch.zeros(1, 2, 5, 4), torch.zeros(1, 2, 5, 4))])
    with pytest.raises(PrefixUnsupported, match="without a shared prefix"):
        shared_prefix_attention(_Layer(), q, k, k, None)
    with pytest.raises(PrefixUnsupported, match="mask"):
        shared_prefix_attention(_Layer(), q, k, k, torch.ones(1, 1, 3, 8), **{PREFIX_KWARG: shared})
    with pytest.raises(PrefixUnsupported, match="sliding window"):
        shared_prefix_attention(_Layer(), q, k, k, None, sliding_window=6, **{PREFIX_KWARG: shared})


def test_llama_reads_the_prefix_in_place_with_the_same_rewards(tiny_decoder_rm):
    """One shared prompt, three responses, one continuation pass: in place, the pass holds
    the prefix's keys/values once (plus the rows' own); the expanded cache holds them three
    times; the rewards of both equal full sequences, and the attention setting is restored."""
    in_place, expanded = HFRewardModel(tiny_decoder_rm), HFRewardModel(tiny_decoder_rm)
    expanded._sharer.in_place = False
    full = HFRewardModel(tiny_decoder_rm, prefix_sharing=False)
    assert in_place._sharer.in_place
    prompts = [LONG_PROMPT] * 3
    got = {rm: rm.score(prompts, RESPONSES) for rm in (in_place, expanded, full)}
    for rm in (in_place, expanded):
        assert rm.prefix_sharing and rm.stats["continuation_passes"] == 1
        assert max(abs(a - b) for a, b in zip(got[rm], got[full])) < 1e-4
    assert in_place.model.config._attn_implementation == "sdpa"
    ids = [e.input_ids for e in in_place._encode(prompts, RESPONSES)]
    common = 0
    while all(len(q) > common and q[common] == ids[0][common] for q in ids):
        common += 1
    prefix = min(common, min(len(q) for q in ids) - 1)
    width = max(len(q) for q in ids) - prefix
    cfg = in_place.model.config
    per_token = cfg.num_hidden_layers * 2 * cfg.num_key_value_heads * 4  # keys+values, fp32
    per_token *= cfg.hidden_size // cfg.num_attention_heads
    assert in_place.stats["max_kv_bytes_per_pass"] == per_token * (prefix + 3 * width)
    assert expanded.stats["max_kv_bytes_per_pass"] == per_token * 3 * (prefix + width)


def test_in_place_is_declared_on_the_architecture(tiny_decoder_rm, tiny_encoder_rm):
    rm, enc = HFRewardModel(tiny_decoder_rm), HFRewardModel(tiny_encoder_rm)
    assert DecoderArchitecture().shares_kv_in_place(rm.model)
    assert not EncoderArchitecture().shares_kv_in_place(enc.model)
    assert "llama" in DecoderArchitecture.KV_IN_PLACE_MODEL_TYPES


def test_an_undeclared_decoder_keeps_the_expanded_cache(tmp_path):
    """Gemma has a generic head but is not declared: it shares through the expanded cache,
    with the rewards of full sequences."""
    from tiny_models import build_tokenizer
    from transformers import GemmaConfig, GemmaForSequenceClassification

    tok = build_tokenizer(tmp_path)
    torch.manual_seed(0)
    cfg = GemmaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        num_labels=1,
        pad_token_id=tok.pad_token_id,
    )
    GemmaForSequenceClassification(cfg).save_pretrained(str(tmp_path))
    rm, full = HFRewardModel(tmp_path), HFRewardModel(tmp_path, prefix_sharing=False)
    assert rm._sharer is not None and not rm._sharer.in_place
    prompts = [LONG_PROMPT] * 3
    shared = rm.score(prompts, RESPONSES)
    assert rm.prefix_sharing and rm.stats["prefix_groups"] == 1
    assert max(abs(a - b) for a, b in zip(shared, full.score(prompts, RESPONSES))) < 1e-4


def test_the_model_runs_on_the_fused_kernel_not_the_math(tiny_decoder_rm, monkeypatch):
    """In a real scoring call (fp32 and bf16, prefixes sliced from a multi-prompt batch) every
    attention goes through torch's fused kernel: the score-materialising math fallback never
    runs."""
    import rmx_widgets.core.reward_models.hf.shared_kv as shared_kv

    def refuse(*args, **kwargs):
        raise AssertionError("the math fallback ran")

    monkeypatch.setattr(shared_kv, "_with_lse_math", refuse)
    prompts = [LONG_PROMPT] * 3 + [LONG_PROMPT + " Briefly."] * 3
    for dtype in ("fp32", "bf16"):
        rm = HFRewardModel(tiny_decoder_rm, dtype=dtype)
        rm.score(prompts, RESPONSES * 2)
        assert rm.prefix_sharing and rm.stats["prefix_groups"] == 2
        assert rm.stats["prefix_passes"] == 1  # both prefixes in one right-padded pass


def test_two_threads_never_score_through_one_model_at_once(tiny_decoder_rm):
    """A shared pass switches the model's attention setting, so a second thread (an edit
    rescored while a run scores) waits for the first: held here, the worker's score() cannot
    finish; released, it gives the rewards of a serial call, and pickling still works."""
    import pickle
    import threading

    from rmx_widgets.core.reward_models.hf.shared_kv import scoring_lock

    rm = HFRewardModel(tiny_decoder_rm)
    prompts = [LONG_PROMPT] * 3
    serial = rm.score(prompts, RESPONSES)
    got: list[list[float]] = []
    worker = threading.Thread(target=lambda: got.append(rm.score(prompts, RESPONSES)))
    with scoring_lock(rm):
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive() and not got  # blocked on the lock
    worker.join(timeout=60)
    assert got == [serial]
    assert scoring_lock(rm) is scoring_lock(rm)
    assert pickle.loads(pickle.dumps(rm)).identity == rm.identity
