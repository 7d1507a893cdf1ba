"""VLLMRewardModel: a stand-in ``vllm`` module (injected into ``sys.modules``) that runs the tiny
transformers RM on the token ids it is given, so the plumbing (arguments, rendering, order,
de-duplication, output checks, truncation) is tested on the CPU; a real run where vLLM and a
CUDA GPU are present."""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from types import SimpleNamespace

import pytest

import rmx_widgets as rmx
from rmx_widgets.core.reward_models import vllm as vllm_rm
from rmx_widgets.core.reward_models.vllm import NEEDS, VLLM_HF_TOLERANCE, reward_gap
from rmx_widgets.errors import RewardModelError

PROMPTS = [
    "How do I sort a list in Python?",
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "How do I sort a list in Python?",
    "How do I sort a list in Python?",
]
RESPONSES = [
    "Use sorted(items) or items.sort().",
    "Paris is the capital of France.",
    "I think you might try sorted(items).",
    "Use sorted(items) or items.sort().",  # a duplicate of the first pair
]


class FakeEngine:
    """What the tests script: ``replies(token_ids_list) -> outputs`` or, by default, the
    tiny RM's logit at the last token for each input, as ``outputs.data`` (shape [1])."""

    def __init__(self):
        self.instances: list = []
        self.replies = None
        self.pooling_params: list[dict] = []


def _fake_module(engine: FakeEngine) -> types.ModuleType:
    class LLM:
        def __init__(self, **kwargs):
            from transformers import AutoModelForSequenceClassification

            self.kwargs = kwargs
            self.calls: list[dict] = []
            self.model = AutoModelForSequenceClassification.from_pretrained(kwargs["model"]).eval()
            engine.instances.append(self)

        def encode(self, prompts, pooling_params=None, *, pooling_task=None, use_tqdm=True):
            import torch

            ids = [p["prompt_token_ids"] for p in prompts]
            self.calls.append({"ids": ids, "task": pooling_task, "params": pooling_params})
            if engine.replies is not None:
                return engine.replies(ids)
            out = []
            for seq in ids:
                with torch.inference_mode():
                    logits = self.model(input_ids=torch.tensor([seq])).logits[0]
                out.append(SimpleNamespace(outputs=SimpleNamespace(data=logits)))
            return out

    def pooling_params(**kwargs):
        engine.pooling_params.append(kwargs)
        return kwargs

    mod = types.ModuleType("vllm")
    mod.LLM = LLM
    mod.PoolingParams = pooling_params
    return mod


@pytest.fixture
def fake_vllm(monkeypatch):
    import torch

    engine = FakeEngine()
    monkeypatch.setitem(sys.modules, "vllm", _fake_module(engine))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    return engine


@pytest.fixture(scope="module")
def hf_rm(tiny_decoder_rm):
    return rmx.HFRewardModel(str(tiny_decoder_rm), device="cpu")


def _data(value):
    return SimpleNamespace(outputs=SimpleNamespace(data=value))


# ---------------------------------------------------------------- construction


def test_llm_is_built_as_a_pooling_runner_with_prefix_caching(fake_vllm, tiny_decoder_rm):
    rm = rmx.VLLMRewardModel(str(tiny_decoder_rm))
    (llm,) = fake_vllm.instances
    assert llm.kwargs == {
        "model": os.path.abspath(tiny_decoder_rm),
        "runner": "pooling",
        "dtype": "bfloat16",
        "enable_prefix_caching": True,
        "gpu_memory_utilization": 0.85,
        "trust_remote_code": False,
        "max_model_len": 4096,  # the tiny config's positions (its tokenizer sets no limit)
    }
    assert fake_vllm.pooling_params == [{"use_activation": False}]  # the raw logit
    assert rm.max_length == 4096 and rm.why_unavailable() is None
    rm.score(PROMPTS[:1], RESPONSES[:1])
    assert llm.calls[0]["task"] == "classify"
    rmx.VLLMRewardModel(
        str(tiny_decoder_rm), enable_prefix_caching=False, enforce_eager=True, dtype="fp16"
    )
    extra = fake_vllm.instances[1].kwargs
    assert extra["enable_prefix_caching"] is False and extra["enforce_eager"] is True
    assert extra["dtype"] == "float16"


def test_identity_names_backend_model_dtype_max_length_and_revision(fake_vllm, tiny_decoder_rm):
    path = os.path.abspath(tiny_decoder_rm)
    ids = {
        rmx.VLLMRewardModel(path).identity,
        rmx.VLLMRewardModel(path, dtype="fp32").identity,
        rmx.VLLMRewardModel(path, max_length=64).identity,
        rmx.VLLMRewardModel(path, revision="abc123").identity,
    }
    assert ids == {
        f"vllm:{path}:bfloat16:max_length=4096",
        f"vllm:{path}:float32:max_length=4096",
        f"vllm:{path}:bfloat16:max_length=64",
        f"vllm:{path}:bfloat16:revision=abc123:max_length=4096",
    }
    assert fake_vllm.instances[3].kwargs["revision"] == "abc123"
    assert rmx.VLLMRewardModel(path, name="my-rm-v1").identity == "my-rm-v1"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_length": 1}, "max_length must be"),
        ({"max_length": True}, "max_length must be"),
        ({"gpu_memory_utilization": 0}, "gpu_memory_utilization"),
        ({"dtype": "int3"}, "unknown dtype"),
    ],
)
def test_bad_arguments_are_one_line(fake_vllm, tiny_decoder_rm, kwargs, match):
    with pytest.raises(RewardModelError, match=match) as e:
        rmx.VLLMRewardModel(str(tiny_decoder_rm), **kwargs)
    assert "\n" not in str(e.value) and fake_vllm.instances == []


def test_models_it_cannot_score_are_refused(fake_vllm, tiny_encoder_rm, tiny_causal_lm):
    with pytest.raises(RewardModelError, match="encoder RM .*Use HFRewardModel"):
        rmx.VLLMRewardModel(str(tiny_encoder_rm))
    with pytest.raises(RewardModelError, match="not a sequence-classification reward model"):
        rmx.VLLMRewardModel(str(tiny_causal_lm))  # vLLM would bolt on an untrained head
    assert fake_vllm.instances == []


# ---------------------------------------------------------------- availability


def test_without_vllm_the_message_says_what_it_needs(monkeypatch, tiny_decoder_rm):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(RewardModelError) as e:
        rmx.VLLMRewardModel(str(tiny_decoder_rm))
    assert str(e.value).startswith(NEEDS) and "not installed" in str(e.value)
    assert "\n" not in str(e.value)
    assert rmx.VLLMRewardModel.availability() == str(e.value)
    with pytest.raises(RewardModelError, match=r"pip install 'rmx-widgets\[vllm\]'"):
        rmx.reward_model_from_spec(f"vllm:{tiny_decoder_rm}")


def test_without_cuda_the_message_says_what_it_needs(monkeypatch, tiny_decoder_rm):
    import torch

    engine = FakeEngine()
    monkeypatch.setitem(sys.modules, "vllm", _fake_module(engine))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RewardModelError) as e:
        rmx.VLLMRewardModel(str(tiny_decoder_rm))
    assert str(e.value).startswith(NEEDS) and "no CUDA GPU" in str(e.value)
    assert rmx.VLLMRewardModel.availability() == str(e.value)
    assert engine.instances == []  # nothing was loaded
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert rmx.VLLMRewardModel.availability() is None


def test_the_extra_named_in_the_message_exists():
    from pathlib import Path

    import tomllib

    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("vllm") for dep in extras["vllm"])


# ---------------------------------------------------------------- scoring


def test_token_ids_are_hf_rendering_and_rewards_match_hf(fake_vllm, tiny_decoder_rm, hf_rm):
    rm = rmx.VLLMRewardModel(str(tiny_decoder_rm), dtype="fp32")
    got = rm.score(PROMPTS, RESPONSES)
    (call,) = fake_vllm.instances[0].calls
    unique = [0, 1, 2]  # the fourth pair repeats the first, so it is scored once
    expected_ids = [
        e.input_ids
        for e in hf_rm._encode([PROMPTS[i] for i in unique], [RESPONSES[i] for i in unique])
    ]
    assert call["ids"] == expected_ids
    assert rm.format(PROMPTS[1], RESPONSES[1]) == hf_rm.format(PROMPTS[1], RESPONSES[1])
    assert rm.format(PROMPTS[1], RESPONSES[1]).startswith("<|system|>\nBe brief.<|end|>")
    ref = hf_rm.score(PROMPTS, RESPONSES)
    assert got == pytest.approx(ref, abs=1e-4) and got[3] == got[0]
    gap, allowed = reward_gap(ref, got)
    assert gap <= allowed
    assert rm.stats == {
        "pairs": 4,
        "unique_pairs": 3,
        "engine_calls": 1,
        "tokens_submitted": sum(len(i) for i in expected_ids),
    }
    assert rm.last_truncated == [] and rm.score([], []) == []


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (
            lambda ids: [_data([0.5]), _data([float("nan")])],
            r"non-finite reward \(nan\) for input 1",
        ),
        (lambda ids: [_data([0.5]), _data([float("inf")])], r"non-finite reward \(inf\)"),
        (lambda ids: [_data([0.5])], "returned 1 outputs for 2 inputs"),
        (lambda ids: [_data([0.5, 0.1]), _data([0.2])], r"output 0 of the batch .* not one scalar"),
        (lambda ids: [_data([0.5]), _data("1.5")], "output 1 of the batch .* not one scalar"),
        (lambda ids: [_data([0.5]), _data([True])], "output 1 of the batch .* not one scalar"),
        (lambda ids: [_data([0.5]), SimpleNamespace()], "output 1 of the batch .*None"),
        (lambda ids: None, "returned 0 outputs for 2 inputs"),
    ],
)
def test_engine_outputs_are_checked_naming_the_item(fake_vllm, tiny_decoder_rm, reply, match):
    rm = rmx.VLLMRewardModel(str(tiny_decoder_rm))
    fake_vllm.replies = reply
    with pytest.raises(RewardModelError, match=match):
        rm.score(PROMPTS[:2], RESPONSES[:2])


def test_a_torch_scalar_per_input_is_read(fake_vllm, tiny_decoder_rm):
    import torch

    rm = rmx.VLLMRewardModel(str(tiny_decoder_rm))
    fake_vllm.replies = lambda ids: [_data(torch.tensor([1.25])), _data(torch.tensor(-2.0))]
    assert rm.score(PROMPTS[:2], RESPONSES[:2]) == [1.25, -2.0]


def test_truncation_is_reported_like_hf(fake_vllm, tiny_decoder_rm):
    hf = rmx.HFRewardModel(str(tiny_decoder_rm), device="cpu", max_length=24)
    rm = rmx.VLLMRewardModel(str(tiny_decoder_rm), dtype="fp32", max_length=24)
    assert fake_vllm.instances[0].kwargs["max_model_len"] == 24
    long_prompt = "Please explain this carefully. " * 20
    prompts = [long_prompt, "Hi", long_prompt]
    responses = ["Short answer.", "Hello!", "x " * 40]  # the third response alone is too long
    with pytest.warns(UserWarning, match="2 of 3 inputs were longer than max_length=24") as w:
        got = rm.score(prompts, responses)
    assert "for 1 of them the response alone was too long" in str(w[0].message)
    assert rm.last_truncated == [0, 2] and rm.n_truncated == 2
    ids = fake_vllm.instances[0].calls[0]["ids"]
    assert len(ids[0]) == 24 and max(len(i) for i in ids) == 24
    with pytest.warns(UserWarning):
        ref = hf.score(prompts, responses)
    assert got == pytest.approx(ref, abs=1e-4) and hf.last_truncated == rm.last_truncated
    rm.score(["Hi"], ["Hello!"])
    assert rm.last_truncated == []


# ---------------------------------------------------------------- spec and pipeline


def test_spec_reaches_the_vllm_rm(fake_vllm, tiny_decoder_rm):
    rm = rmx.reward_model_from_spec(f"mine=vllm:{tiny_decoder_rm}", dtype="fp32", max_length=128)
    assert isinstance(rm, rmx.VLLMRewardModel)
    assert rm.identity.endswith(":float32:max_length=128")
    with pytest.raises(RewardModelError, match="give the model after 'vllm:'"):
        rmx.reward_model_from_spec("vllm:")


def test_explainer_end_to_end_on_the_fake_engine(fake_vllm, tiny_decoder_rm, hf_rm, tmp_path):
    comps = rmx.sample_comparisons()[:4]
    attrs = ["verbosity", "assertiveness"]
    rm = rmx.VLLMRewardModel(str(tiny_decoder_rm), dtype="fp32")
    result = rmx.Explainer(
        rm, rmx.RulePerturber(), attributes=attrs, store=tmp_path / "s.sqlite", progress=False
    ).explain(comps)
    t = result.table
    ok = t[t.outcome != "failed"]
    assert len(ok) > 0 and set(ok.outcome) <= {"CF", "SF"}
    assert (t.rm == rm.identity).all()
    got = result.originals.set_index("comparison_id").loc[[c.id for c in comps], "reward_a"]
    ref = hf_rm.score([c.prompt for c in comps], [c.response_a for c in comps])
    assert got.to_numpy() == pytest.approx(ref, abs=1e-4)


# ---------------------------------------------------------------- tolerance


def test_reward_gap_is_a_fraction_of_the_hf_spread():
    assert VLLM_HF_TOLERANCE == 0.02
    gap, allowed = reward_gap([1.0, 3.0, 2.0], [1.01, 2.95, 2.0])
    assert gap == pytest.approx(0.05) and allowed == pytest.approx(0.02 * 2.0)
    assert reward_gap([5.0], [5.02]) == pytest.approx((0.02, 0.02 * 5.0))  # n=1: |hf| scale
    assert reward_gap([0.0, 0.0], [0.0, 0.01]) == pytest.approx((0.01, 0.02))  # all tied at 0
    with pytest.raises(RewardModelError, match="equally long"):
        reward_gap([], [])
    with pytest.raises(RewardModelError, match="equally long"):
        reward_gap([1.0], [1.0, 2.0])


# ---------------------------------------------------------------- a real GPU


HAVE_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(not HAVE_VLLM, reason="vLLM not installed (optional extra, CUDA only)")
def test_real_vllm_matches_hf_within_tolerance(tiny_decoder_rm):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vLLM needs a CUDA GPU")
    hf = rmx.HFRewardModel(str(tiny_decoder_rm), device="cuda", dtype="fp32")
    rm = rmx.VLLMRewardModel(
        str(tiny_decoder_rm), dtype="fp32", gpu_memory_utilization=0.2, enforce_eager=True
    )
    gap, allowed = reward_gap(hf.score(PROMPTS, RESPONSES), rm.score(PROMPTS, RESPONSES))
    assert gap <= allowed, f"max |vllm - hf| = {gap} > {allowed}"


def test_module_declares_no_global_state_between_models(fake_vllm, tiny_decoder_rm):
    a = rmx.VLLMRewardModel(str(tiny_decoder_rm))
    b = rmx.VLLMRewardModel(str(tiny_decoder_rm))
    a.score(PROMPTS[:1], RESPONSES[:1])
    assert a.stats["pairs"] == 1 and b.stats["pairs"] == 0
    assert tuple(b.stats) == vllm_rm.STAT_NAMES


# ---------------------------------------------------------------- bench/scoring.py --device cuda


def test_bench_cuda_mode_off_gpu_prints_skipped_and_exits_0(monkeypatch, capsys, tmp_path):
    import torch

    from bench import scoring

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "cuda.txt"
    scoring.main(["--device", "cuda", "--out", str(out)])  # returns: exit status 0
    assert capsys.readouterr().out.startswith("skipped: --device cuda needs a CUDA GPU")
    assert not out.exists()  # a skip never overwrites a results file


def test_bench_side_by_side_prints_both_and_the_gap(fake_vllm, tiny_decoder_rm, hf_rm, tmp_path):
    import shutil

    from bench.scoring_vllm import vllm_side_by_side

    folder = tmp_path / "rm"
    shutil.copytree(tiny_decoder_rm, folder)  # the tokenizer; the weights are written again
    lines: list[str] = []
    work = SimpleNamespace(prompts=PROMPTS, responses=RESPONSES)
    ref = hf_rm.score(PROMPTS, RESPONSES)
    vllm_side_by_side(lines.append, hf_rm.model, folder, work, ref, 2.0)
    assert fake_vllm.instances[0].kwargs["gpu_memory_utilization"] == 0.5
    assert lines[1].split()[:2] == ["HFRewardModel", "2.0"]
    assert lines[2].split()[0] == "VLLMRewardModel"
    assert "max |vllm - hf| = " in lines[3] and lines[3].endswith("within")
    fake_vllm.replies = lambda ids: [_data([r + 1.0]) for r in ref[: len(ids)]]
    lines.clear()
    vllm_side_by_side(lines.append, hf_rm.model, folder, work, ref, 2.0)
    assert lines[3].endswith("OUTSIDE") and "max |vllm - hf| = 1;" in lines[3]


def test_bench_side_by_side_says_why_it_skips_vllm(monkeypatch, hf_rm, tmp_path):
    from bench.scoring_vllm import vllm_side_by_side

    monkeypatch.setitem(sys.modules, "vllm", None)
    lines: list[str] = []
    vllm_side_by_side(lines.append, hf_rm.model, tmp_path, None, [0.0], 1.0)
    assert lines == [f"  vllm side by side: skipped: {vllm_rm.why_vllm_unavailable()}"]
    assert NEEDS in lines[0] and not any(tmp_path.iterdir())  # nothing written
