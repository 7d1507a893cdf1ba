"""Prompt-prefix sharing in HFRewardModel: scoring the responses of one prompt as continuations
of its cached prefix must give the same rewards as full sequences (fp32, max abs diff < 1e-4),
whatever the template, turn structure, lengths, batch composition or tokenizer boundary
behaviour, and the statistics must show that the shared path really ran."""

from __future__ import annotations

import random
import shutil

import pytest
from scoring_inputs import MULTI_TURN, random_text
from transformers import AutoTokenizer

from rmx_widgets.core.reward_models.hf import HFRewardModel

TOL = 1e-4
LONG_PROMPT = (
    "Please explain, step by step and with examples, how sorting a list in Python "
    "works and when to prefer sorted(items) over items.sort()."
)


def _workload(seed: int = 0, per_prompt: int = 6) -> tuple[list, list[str]]:
    """Several prompts (single- and multi-turn, long and short), each with responses of mixed
    lengths, interleaved as the Explainer's batches are."""
    rng = random.Random(seed)
    prompt_list = [LONG_PROMPT, MULTI_TURN, "Hi?", LONG_PROMPT + " " + random_text(rng, 40)]
    prompts, responses = [], []
    for k in range(per_prompt):
        for p in prompt_list:
            prompts.append(p)
            responses.append(random_text(rng, rng.choice([1, 3, 12, 40])) + f" v{k}")
    return prompts, responses


def _pair(path, **kwargs) -> tuple[HFRewardModel, HFRewardModel]:
    return (HFRewardModel(path, **kwargs), HFRewardModel(path, prefix_sharing=False, **kwargs))


def _max_diff(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b))


@pytest.mark.parametrize("fixture", ["tiny_decoder_rm", "tiny_decoder_rm_no_template"])
def test_shared_prefix_equals_full_sequences(request, fixture):
    rm, full = _pair(request.getfixturevalue(fixture))
    assert rm.prefix_sharing and not full.prefix_sharing
    prompts, responses = _workload()
    shared, reference = rm.score(prompts, responses), full.score(prompts, responses)
    assert _max_diff(shared, reference) < TOL
    assert len({round(s, 3) for s in shared}) > 10, "rewards should differ between inputs"
    # "Hi?" is too short to share; the three long prompts (one multi-turn) are shared.
    assert rm.stats["prefix_groups"] == 3 and full.stats["prefix_groups"] == 0
    assert rm.stats["prefix_fallbacks"] == 1
    assert rm.stats["prefix_tokens_saved"] > 0
    assert rm.stats["tokens_processed"] < full.stats["tokens_processed"]


def test_many_responses_per_prompt_and_batch_composition(tiny_decoder_rm):
    rng = random.Random(1)
    responses = [random_text(rng, rng.randint(1, 60)) for _ in range(30)]
    prompts = [MULTI_TURN] * 30
    reference = HFRewardModel(tiny_decoder_rm, prefix_sharing=False).score(prompts, responses)
    results = []
    for budget, max_batch in [(16384, 64), (700, 64), (16384, 4), (16384, 1)]:
        rm = HFRewardModel(tiny_decoder_rm, token_budget=budget, max_batch_size=max_batch)
        results.append(rm.score(prompts, responses))
        assert rm.stats["prefix_groups"] == 1
        # prefix pass + continuation passes (+ one self-check pass per model)
        assert rm.stats["forward_passes"] >= 2 + (30 // max_batch if max_batch < 30 else 0)
        assert _max_diff(results[-1], reference) < TOL
    # A response's reward does not depend on which others share its batch or its prompt group.
    rm = HFRewardModel(tiny_decoder_rm)
    alone = HFRewardModel(tiny_decoder_rm).score(prompts[:1], responses[:1])[0]
    assert rm.score(prompts, responses)[0] == pytest.approx(alone, abs=TOL)
    shuffled = list(range(30))
    random.Random(2).shuffle(shuffled)
    again = rm.score([prompts[i] for i in shuffled], [responses[i] for i in shuffled])
    assert _max_diff(again, [results[0][i] for i in shuffled]) < TOL


def _concat_template_model(src, dst) -> str:
    """The tiny decoder RM with a template that glues prompt and response together with no
    separator, so BPE can merge the prompt's last letters with the response's first ones."""
    shutil.copytree(src, dst)
    tok = AutoTokenizer.from_pretrained(dst)
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    tok.save_pretrained(str(dst))
    return str(dst)


MERGE_PROMPT = ("Paris is the capital of France. Water boils at 100 degrees. " * 2).strip() + " Th"


def test_boundary_merge_shares_only_the_exact_common_tokens(tiny_decoder_rm, tmp_path):
    path = _concat_template_model(tiny_decoder_rm, tmp_path / "concat")
    tok = AutoTokenizer.from_pretrained(path)
    responses = ["e quick brown fox.", "e lazy dog sleeps.", "e answer is 42."]
    # The merge is real: prompt tokens + response tokens != tokens of the whole text.
    p_ids = tok(MERGE_PROMPT)["input_ids"]
    assert tok(MERGE_PROMPT + responses[0])["input_ids"] != p_ids + tok(responses[0])["input_ids"]
    assert len(p_ids) >= 32
    rm, full = _pair(path)
    enc = rm._encode([MERGE_PROMPT] * 3, responses)
    assert all(e.boundary_merged for e in enc)
    shared = rm.score([MERGE_PROMPT] * 3, responses)
    assert _max_diff(shared, full.score([MERGE_PROMPT] * 3, responses)) < TOL
    assert rm.stats["prefix_groups"] == 1 and rm.stats["prefix_boundary_merges"] == 1


def test_boundary_merge_too_short_falls_back_and_still_equal(tiny_decoder_rm, tmp_path):
    path = _concat_template_model(tiny_decoder_rm, tmp_path / "concat")
    n_prompt = len(AutoTokenizer.from_pretrained(path)(MERGE_PROMPT)["input_ids"])
    # "The" (merged) vs "Th"+"an...": the common tokens stop one short of the prompt's own
    # tokens, below the threshold that tokenising the prompt alone would have suggested.
    responses = ["e quick brown fox.", "ank you for asking!"]
    rm, full = _pair(path, min_prefix_tokens=n_prompt)
    shared = rm.score([MERGE_PROMPT] * 2, responses)
    assert _max_diff(shared, full.score([MERGE_PROMPT] * 2, responses)) < TOL
    assert rm.stats["prefix_groups"] == 0
    assert rm.stats["prefix_fallbacks"] == 1 and rm.stats["prefix_boundary_merges"] == 1
    assert rm.stats["tokens_processed"] == full.stats["tokens_processed"]


def test_truncated_inputs_use_full_sequences(tiny_decoder_rm):
    rm, full = _pair(tiny_decoder_rm, max_length=60)
    prompts = [LONG_PROMPT] * 4
    responses = ["Short.", "word " * 5, "The quick brown fox jumps over the lazy dog. " * 4, "4"]
    with pytest.warns(UserWarning, match="truncated"):
        shared = rm.score(prompts, responses)
    with pytest.warns(UserWarning, match="truncated"):
        reference = full.score(prompts, responses)
    assert _max_diff(shared, reference) < TOL
    assert rm.last_truncated and set(rm.last_truncated) == set(full.last_truncated)
    n_untruncated = 4 - len(rm.last_truncated)
    assert rm.stats["prefix_groups"] == (1 if n_untruncated >= 2 else 0)


def test_encoder_never_shares(tiny_encoder_rm):
    rm = HFRewardModel(tiny_encoder_rm)
    assert not rm.prefix_sharing
    prompts, responses = _workload(per_prompt=2)
    rm.score(prompts, responses)
    assert rm.stats["prefix_groups"] == 0 and rm.stats["forward_passes"] >= 1


def test_duplicates_scored_once(tiny_decoder_rm):
    rm = HFRewardModel(tiny_decoder_rm, prefix_sharing=False)
    prompts = ["Hi?", "Hi?", [{"role": "user", "content": "Hi?"}], "Hi?"]
    responses = ["Hello!", "Hello!", "Hello!", "Hey."]
    scores = rm.score(prompts, responses)
    assert rm.stats["pairs"] == 4 and rm.stats["unique_pairs"] == 3
    assert scores[0] == scores[1]
    # A one-message list renders like the string prompt: same reward, but its own key.
    assert scores[2] == pytest.approx(scores[0], abs=TOL)
    assert scores[3] != pytest.approx(scores[0], abs=1e-3)


def test_self_check_turns_sharing_off_when_the_shared_path_disagrees(tiny_decoder_rm):
    rm, full = _pair(tiny_decoder_rm)
    real = rm._sharer.forward_shared
    rm._sharer.forward_shared = lambda *a: [s + 1.0 for s in real(*a)]  # a broken architecture
    prompts, responses = _workload(per_prompt=3)
    with pytest.warns(UserWarning, match="prefix sharing turned off"):
        scores = rm.score(prompts, responses)
    assert not rm.prefix_sharing and rm.stats["prefix_groups"] == 0
    assert _max_diff(scores, full.score(prompts, responses)) < TOL


def test_zeroed_stats_keep_counting_every_path(tiny_decoder_rm):
    """bench/ zeroes .stats between timed runs: prefix sharing and batching must then count
    into the new values, not into a dict nobody reads."""
    rm = HFRewardModel(tiny_decoder_rm)
    prompts, responses = _workload()
    rm.score(prompts, responses)
    first = dict(rm.stats)
    rm.stats = dict.fromkeys(rm.stats, 0)
    assert set(rm.stats.values()) == {0}
    rm.score(prompts, [r + " again" for r in responses])
    assert rm.stats["prefix_groups"] == first["prefix_groups"] == 3
    assert rm.stats["pairs"] == first["pairs"] and rm.stats["prefix_tokens_saved"] > 0
    assert 0 < rm.stats["forward_passes"] <= first["forward_passes"]  # no second self-check


def test_pass_shape_counts_each_kind_of_pass(tiny_decoder_rm):
    """One shared prompt (3 responses) and one short prompt: 1 prefix pass (1 row), 1
    continuation pass (3 rows, padded to the longest continuation), the once-per-model
    self-check (1 full row) and the short prompt's own full pass (1 row)."""
    from rmx_widgets.core.reward_models.hf.batching import pass_shape

    rm = HFRewardModel(tiny_decoder_rm)
    assert pass_shape(rm.stats)["mean_rows_per_pass"] is None  # not measured before a pass
    prompts = [LONG_PROMPT] * 3 + ["Hi?"]
    responses = ["Use sorted.", "Call items.sort() to sort in place, it returns None.", "No.", "Hi"]
    ids = [e.input_ids for e in rm._encode(prompts, responses)]
    shared = ids[:3]
    common = 0
    while all(len(q) > common and q[common] == shared[0][common] for q in shared):
        common += 1
    prefix = min(common, min(len(q) for q in shared) - 1)
    width = max(len(q) for q in shared) - prefix
    rm.score(prompts, responses)
    st = rm.stats
    assert (st["prefix_passes"], st["continuation_passes"], st["full_passes"]) == (1, 1, 2)
    assert st["forward_passes"] == 4 and st["rows_processed"] == 1 + 3 + 1 + 1
    assert st["max_rows_per_pass"] == 3
    tokens = [prefix, 3 * width, len(ids[0]), len(ids[3])]
    assert st["tokens_processed"] == sum(tokens)
    assert st["max_tokens_per_pass"] == max(tokens)
    shape = pass_shape(st)
    assert shape["mean_rows_per_pass"] == 6 / 4
    assert shape["mean_tokens_per_pass"] == sum(tokens) / 4


def test_budget_counts_a_shared_prefix_once_per_batch():
    """extra + rows x widest <= budget: a 1,000-token prefix and 10-token continuations at a
    budget of 1,025 fit two rows (1,020), not three (1,030); counted once per row (the old
    rule) not even two would."""
    from rmx_widgets.core.reward_models.hf.batching import pack

    lengths = {0: 10, 1: 10, 2: 10}
    assert list(pack([0, 1, 2], lengths, 64, 1025, 1000)) == [[0, 1], [2]]
    assert list(pack([0, 1, 2], lengths, 64, 1030, 1000)) == [[0, 1, 2]]
    assert list(pack([0, 1, 2], lengths, 2, 1030, 1000)) == [[0, 1], [2]]  # row cap
    assert list(pack([0, 1, 2], lengths, 64, 500, 1000)) == [[0], [1], [2]]  # over: alone


@pytest.mark.parametrize("budget", [None, 120])
def test_several_prompts_prefixes_run_in_one_pass(tiny_decoder_rm, budget):
    """The three shared prompts' prefixes run as one right-padded pass (at the default
    budget), or as several under a budget too small for them together; the rewards equal
    full-sequence scoring either way."""
    rm, full = _pair(tiny_decoder_rm, token_budget=budget)
    prompts, responses = _workload()
    shared, reference = rm.score(prompts, responses), full.score(prompts, responses)
    assert _max_diff(shared, reference) < TOL
    assert rm.stats["prefix_groups"] == 3
    if budget is None:
        assert rm.stats["prefix_passes"] == 1 and rm.stats["max_rows_per_pass"] >= 3
    else:
        assert rm.stats["prefix_passes"] > 1


def test_bf16_on_cpu_shares_prefixes_and_stays_near_fp32(tiny_decoder_rm):
    """dtype="bf16" on the CPU (bf16 matrix units make it faster): the shared path passes its
    self-check and equals bf16 full sequences within the self-check's bf16 tolerance, and the
    rewards stay within a tenth of the fp32 rewards' spread (bf16 keeps 8 mantissa bits)."""
    import statistics

    import torch

    rm, full = _pair(tiny_decoder_rm, device="cpu", dtype="bf16")
    exact = HFRewardModel(tiny_decoder_rm, device="cpu")
    assert rm.dtype == torch.bfloat16 and exact.dtype == torch.float32
    prompts, responses = _workload()
    shared, reference = rm.score(prompts, responses), full.score(prompts, responses)
    assert rm.prefix_sharing and rm.stats["prefix_groups"] == 3
    assert all(abs(a - b) <= 5e-2 * max(1.0, abs(b)) for a, b in zip(shared, reference))
    fp32 = exact.score(prompts, responses)
    assert _max_diff(shared, fp32) < 0.1 * statistics.pstdev(fp32)
