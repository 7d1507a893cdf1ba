"""Out-of-memory recovery in HFRewardModel, simulated on the CPU.

The model's base forward is wrapped so that it raises ``torch.cuda.OutOfMemoryError`` (what a
GPU raises) whenever a pass holds more than N sequences or more than T token positions, the way
a real accelerator fails on batches that are too big. Scoring must then shrink its batches and
finish with exactly the rewards of an unconstrained run, warn once per model, keep the smaller
token budget for later calls, and refuse (RewardModelError) a single input that cannot fit.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import pytest
import torch
from scoring_inputs import MULTI_TURN, random_text

from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.hf import HFRewardModel
from rmx_widgets.core.reward_models.hf.shared_kv import PREFIX_KWARG, SharedPrefixKV

TOL = 1e-4


def _workload(seed: int, per_prompt: int = 6) -> tuple[list[Any], list[str]]:
    """Long and short prompts (one multi-turn), several responses of mixed length each, so both
    the shared-prefix path and the full-sequence path get batches of many rows."""
    rng = random.Random(seed)
    prompt_list = [random_text(rng, 40), MULTI_TURN, "Hi?", random_text(rng, 25)]
    prompts, responses = [], []
    for k in range(per_prompt):
        for p in prompt_list:
            prompts.append(p)
            responses.append(random_text(rng, rng.choice([2, 6, 15, 30])) + f" s{seed}v{k}")
    return prompts, responses


class MemoryLimit:
    """Wraps the base model's forward (both scoring paths go through it): a pass with more
    than ``max_rows`` sequences or more than ``max_tokens`` token positions (rows x attended
    length where a cached prefix is expanded over the rows; rows x own length + the prefix
    once where it is read in place, ``shared_kv.py``) raises the error a GPU raises; passes
    that fit are recorded as (rows, tokens)."""

    def __init__(
        self,
        rm: HFRewardModel,
        max_rows: int = 10**9,
        max_tokens: int = 10**9,
        error: type[Exception] = torch.cuda.OutOfMemoryError,
        message: str = "CUDA out of memory. Tried to allocate 2.00 GiB",
    ) -> None:
        self.base = getattr(rm.model, rm.model.base_model_prefix)
        self.real = self.base.forward
        self.max_rows, self.max_tokens = max_rows, max_tokens
        self.error, self.message = error, message
        self.passes: list[tuple[int, int]] = []
        self.failures = 0
        self.base.forward = self  # instance attribute: nn.Module.__call__ finds it first

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        ids = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
        mask = kwargs.get("attention_mask")
        rows = ids.shape[0]
        tokens = rows * (mask.shape[1] if mask is not None else ids.shape[1])
        if isinstance(kwargs.get(PREFIX_KWARG), SharedPrefixKV):
            tokens += kwargs[PREFIX_KWARG].length
        if rows > self.max_rows or tokens > self.max_tokens:
            self.failures += 1
            raise self.error(self.message)
        self.passes.append((rows, tokens))
        return self.real(*args, **kwargs)


def _oom_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "out of memory" in str(w.message)]


CASES = [("tiny_decoder_rm", True), ("tiny_decoder_rm", False), ("tiny_encoder_rm", False)]


@pytest.mark.parametrize(
    ("fixture", "sharing"), CASES, ids=["decoder-shared-prefix", "decoder-full", "encoder"]
)
@pytest.mark.parametrize("limit", [{"max_rows": 3}, {"max_tokens": 400}], ids=["rows", "tokens"])
def test_scores_survive_oom_and_equal_the_unconstrained_run(request, fixture, sharing, limit):
    path = request.getfixturevalue(fixture)
    workloads = [_workload(seed) for seed in range(3)]
    free = HFRewardModel(path, prefix_sharing=sharing, token_budget=4096)
    expected = [free.score(p, r) for p, r in workloads]
    assert free.stats["oom_retries"] == 0

    rm = HFRewardModel(path, prefix_sharing=sharing, token_budget=4096)
    memory = MemoryLimit(rm, **limit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [rm.score(p, r) for p, r in workloads]
    for exp, g in zip(expected, got):
        assert max(abs(a - b) for a, b in zip(exp, g)) < TOL
    assert rm.prefix_sharing == sharing
    if sharing:
        assert rm.stats["prefix_groups"] > 0  # the shared path really ran under the limit
    # The batches that ran respected the limit; the ones that did not were retried smaller.
    # (A prefix read in place costs what the budget counts, ``extra + rows x widest``, so one
    # halving can be enough for it; an expanded one costs rows x (prefix + width) and fails
    # again.)
    assert memory.failures >= 1 and rm.stats["oom_retries"] == memory.failures
    if not (sharing and "max_tokens" in limit):
        assert memory.failures >= 2
    assert all(
        r <= limit.get("max_rows", 10**9) and t <= limit.get("max_tokens", 10**9)
        for r, t in memory.passes
    )
    # Reported once for the model, however many times the budget shrank, in however many calls.
    msgs = _oom_warnings(caught)
    assert len(msgs) == 1, msgs
    assert "out of memory at batch" in msgs[0] and "continuing with token budget" in msgs[0]
    assert rm.token_budget < 4096
    # The smaller budget is kept: a later call of the first workload fails no more.
    before = memory.failures
    assert max(abs(a - b) for a, b in zip(rm.score(*workloads[0]), expected[0])) < TOL
    assert memory.failures == before


def test_warning_names_the_failed_shape_and_the_new_budget(tiny_decoder_rm):
    rm = HFRewardModel(tiny_decoder_rm, prefix_sharing=False, token_budget=4096, max_batch_size=64)
    prompts, responses = _workload(0)
    MemoryLimit(rm, max_rows=4)
    with pytest.warns(UserWarning, match="out of memory") as caught:
        rm.score(prompts, responses)
    (msg,) = _oom_warnings(list(caught))
    rows, width = (
        int(x) for x in msg.split("out of memory at batch ")[1].split(" tokens")[0].split(" x ")
    )
    assert rows > 4
    assert f"continuing with token budget {rows * width // 2} (was 4096)" in msg


def test_plain_runtime_error_saying_out_of_memory_is_handled(tiny_decoder_rm):
    rm = HFRewardModel(tiny_decoder_rm, prefix_sharing=False, token_budget=4096)
    expected = rm.score(*_workload(1))
    rm = HFRewardModel(tiny_decoder_rm, prefix_sharing=False, token_budget=4096)
    MemoryLimit(
        rm,
        max_rows=4,
        error=RuntimeError,
        message="HIP out of memory. Tried to allocate 512.00 MiB",
    )
    with pytest.warns(UserWarning, match="out of memory"):
        got = rm.score(*_workload(1))
    assert max(abs(a - b) for a, b in zip(got, expected)) < TOL


def test_other_runtime_errors_are_not_swallowed(tiny_decoder_rm):
    rm = HFRewardModel(tiny_decoder_rm, prefix_sharing=False)
    budget = rm.token_budget
    MemoryLimit(rm, max_rows=2, error=RuntimeError, message="CUBLAS_STATUS_EXECUTION_FAILED")
    with pytest.raises(RuntimeError, match="CUBLAS_STATUS_EXECUTION_FAILED"):
        rm.score(*_workload(0))
    assert rm.stats["oom_retries"] == 0 and rm.token_budget == budget


@pytest.mark.parametrize("sharing", [False, True], ids=["full", "shared-prefix"])
def test_single_input_that_does_not_fit_raises(tiny_decoder_rm, sharing):
    rm = HFRewardModel(tiny_decoder_rm, prefix_sharing=sharing)
    prompts, responses = _workload(2)
    longest = max(len(e.input_ids) for e in rm._encode(prompts, responses))
    MemoryLimit(rm, max_tokens=longest // 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(
            RewardModelError,
            match="single input of .* does not fit in the "
            r"memory.*CUDA out of memory.*max_length",
        ):
            rm.score(prompts, responses)
