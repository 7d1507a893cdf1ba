"""HFRewardModel against tiny offline transformers models: batched scores must equal a naive
one-at-a-time loop, whatever the batch composition; formatting, truncation and loading errors
behave as documented. Nothing here touches the network."""

from __future__ import annotations

import json
import math
import shutil
import warnings

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from rmx_widgets.core.devices import resolve_dtype
from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.base import RewardModel, checked_scores
from rmx_widgets.core.reward_models.hf import HFRewardModel
from rmx_widgets.core.reward_models.hf.loading import auto_attn_candidates

PROMPTS = [
    "Hi?",
    "How do I sort a list in Python? Please explain the difference between sorted and sort.",
    "What is the capital of France?",
    "Tell me a joke.",
    "Why is the sky blue? Give a detailed answer with the physics involved, step by step.",
    "2+2?",
    "Write a haiku about rain.",
]
RESPONSES = [
    "Hello!",
    "Use sorted(items) to get a new list, or items.sort() to sort in place. " * 3,
    "Paris.",
    "I'm sorry, but I can't help with that request.",
    "Rayleigh scattering: shorter wavelengths scatter more. " * 4,
    "4",
    "Rain taps the window / the quick brown fox sleeps / water boils at noon",
]
MULTI_TURN = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Name a fruit."},
    {"role": "assistant", "content": "Apple."},
    {"role": "user", "content": "Another one?"},
]

FIXTURES = ["tiny_decoder_rm", "tiny_decoder_rm_no_template", "tiny_encoder_rm"]


def _naive_scores(rm: HFRewardModel, path, prompts, responses) -> list[float]:
    """The obvious reference: format by hand, tokenizer(text) -> model -> logits, one by one."""
    tok = AutoTokenizer.from_pretrained(path)
    out = []
    for p, r in zip(prompts, responses):
        if tok.chat_template:
            msgs = [{"role": "user", "content": p}] if isinstance(p, str) else list(p)
            enc = tok(
                tok.apply_chat_template(
                    msgs + [{"role": "assistant", "content": r}], tokenize=False
                )
            )
        elif rm.is_encoder:
            enc = tok(p, r)
        else:
            enc = tok(f"{p}\n\n{r}")
        with torch.no_grad():
            out.append(float(rm.model(input_ids=torch.tensor([enc["input_ids"]])).logits[0, 0]))
    return out


def _spy_forward(rm: HFRewardModel) -> list[list[int]]:
    """Record the padded shape (rows, width) of every forward pass."""
    shapes: list[list[int]] = []
    real = rm._forward

    def spy(batch):
        shapes.append([len(batch), max(len(e.input_ids) for e in batch)])
        return real(batch)

    rm._forward = spy  # type: ignore[method-assign]
    return shapes


def _copy_with(src, dst, *, config=None, tokenizer_config=None):
    shutil.copytree(src, dst)
    for name, changes in (("config.json", config), ("tokenizer_config.json", tokenizer_config)):
        if changes:
            data = json.loads((dst / name).read_text())
            for k, v in changes.items():
                if v is None:
                    data.pop(k, None)
                else:
                    data[k] = v
            (dst / name).write_text(json.dumps(data))
    return dst


@pytest.mark.parametrize("fixture", FIXTURES)
@pytest.mark.parametrize("budget,max_batch", [(16384, 64), (60, 64), (400, 2)])
def test_scores_equal_naive_loop(request, fixture, budget, max_batch):
    path = request.getfixturevalue(fixture)
    rm = HFRewardModel(path, token_budget=budget, max_batch_size=max_batch)
    shapes = _spy_forward(rm)
    scores = rm.score(PROMPTS, RESPONSES)
    expected = _naive_scores(rm, path, PROMPTS, RESPONSES)
    assert scores == pytest.approx(expected, abs=1e-4)
    assert len({round(s, 3) for s in scores}) > 3, "scores should differ between inputs"
    assert sum(rows for rows, _ in shapes) == len(PROMPTS)
    for rows, width in shapes:
        assert rows <= max_batch and (rows == 1 or rows * width <= budget)
    if budget == 60:
        assert len(shapes) > 2, "a small budget must split the inputs into several batches"
    if budget == 16384:
        assert len(shapes) == 1


def test_score_independent_of_batch_company(tiny_decoder_rm):
    rm = HFRewardModel(tiny_decoder_rm)
    alone = rm.score(["Hi?"], ["Hello!"])[0]
    long_company = ["word " * 200, "x " * 50]
    crowded = rm.score(["Hi?", "Hi?", "q"], ["Hello!", *long_company])[0]
    assert crowded == pytest.approx(alone, abs=1e-4)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_order_preserved(request, fixture):
    rm = HFRewardModel(request.getfixturevalue(fixture), token_budget=80)
    forward = rm.score(PROMPTS, RESPONSES)
    backward = rm.score(PROMPTS[::-1], RESPONSES[::-1])
    assert backward == pytest.approx(forward[::-1], abs=1e-4)
    assert rm.score([], []) == []


def test_chat_template_format(tiny_decoder_rm):
    rm = HFRewardModel(tiny_decoder_rm)
    text = rm.format("What is 2+2?", "Four.")
    assert "<|user|>\nWhat is 2+2?<|end|>" in text
    assert "<|assistant|>\nFour.<|end|>" in text
    assert text.index("<|user|>") < text.index("<|assistant|>")


def test_plain_format_without_template(tiny_decoder_rm_no_template):
    rm = HFRewardModel(tiny_decoder_rm_no_template)
    assert rm.format("What is 2+2?", "Four.") == "What is 2+2?\n\nFour."
    assert "<|assistant|>" not in rm.format(MULTI_TURN, "Pear.")
    assert rm.format(MULTI_TURN, "Pear.").endswith("User: Another one?\n\nPear.")


def test_multi_turn_prompt(tiny_decoder_rm, tiny_decoder_rm_no_template):
    rm = HFRewardModel(tiny_decoder_rm)
    text = rm.format(MULTI_TURN, "Pear.")
    assert text.count("<|assistant|>") == 2 and "<|system|>\nBe brief." in text
    assert text.endswith("<|assistant|>\nPear.<|end|>\n")
    scores = rm.score([MULTI_TURN, "Name a fruit."], ["Pear.", "Pear."])
    assert scores == pytest.approx(
        _naive_scores(rm, tiny_decoder_rm, [MULTI_TURN, "Name a fruit."], ["Pear.", "Pear."]),
        abs=1e-4,
    )
    assert scores[0] != pytest.approx(scores[1], abs=1e-3), "the earlier turns must matter"
    plain = HFRewardModel(tiny_decoder_rm_no_template)
    assert all(math.isfinite(s) for s in plain.score([MULTI_TURN], ["Pear."]))


def test_truncation_drops_prompt_first_and_is_reported(tiny_decoder_rm):
    rm = HFRewardModel(tiny_decoder_rm, max_length=24)
    long_prompt = "please answer this question carefully " * 10
    prompts = ["Hi?", long_prompt, "Hi?"]
    responses = ["Hello!", "Paris.", "The quick brown fox jumps over the lazy dog. " * 8]
    with pytest.warns(UserWarning, match=r"2 of 3 inputs .* truncated") as rec:
        scores = rm.score(prompts, responses)
    assert len(rec) == 1
    assert "1 of them the response alone was too long" in str(rec[0].message)
    assert rm.last_truncated == [1, 2] and rm.n_truncated == 2
    assert all(math.isfinite(s) for s in scores)

    # The policy, exactly: keep the last max_length tokens (no BOS in this template), so the
    # long prompt loses its beginning while the response and template tail stay whole.
    full = AutoTokenizer.from_pretrained(tiny_decoder_rm).apply_chat_template(
        [{"role": "user", "content": long_prompt}, {"role": "assistant", "content": "Paris."}],
        tokenize=False,
    )
    ids = rm.tokenizer(full)["input_ids"]
    enc = rm._encode([long_prompt], ["Paris."])[0]
    assert enc.truncated and enc.response_cut is False and enc.input_ids == ids[-24:]
    assert rm.tokenizer.decode(enc.input_ids).endswith("<|assistant|>\nParis.<|end|>\n")
    with torch.no_grad():
        ref = float(rm.model(input_ids=torch.tensor([ids[-24:]])).logits[0, 0])
    assert scores[1] == pytest.approx(ref, abs=1e-4)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rm.score(["Hi?"], ["Hello!"])  # nothing truncated: no warning
    assert rm.last_truncated == [] and rm.n_truncated == 2


def test_default_max_length_from_model(tiny_decoder_rm, tiny_encoder_rm):
    assert HFRewardModel(tiny_decoder_rm).max_length == 4096
    enc = HFRewardModel(tiny_encoder_rm)
    assert enc.max_length == 512
    with pytest.warns(UserWarning, match="1 of 1 inputs"):
        (s,) = enc.score(["Hi?"], ["word " * 600])
    assert math.isfinite(s)


def test_encoder_model(tiny_encoder_rm):
    rm = HFRewardModel(tiny_encoder_rm)
    assert rm.is_encoder
    assert rm.identity == f"hf:{tiny_encoder_rm}:float32"
    # A text pair: the prompt side ends where the response's tokens begin.
    enc = rm._encode(["What is 2+2?"], ["Four."])[0]
    assert enc.prompt_len == len(rm.tokenizer("What is 2+2?")["input_ids"])
    assert rm.score(["What is 2+2?"], ["Four."]) == pytest.approx(
        _naive_scores(rm, tiny_encoder_rm, ["What is 2+2?"], ["Four."]), abs=1e-4
    )


def test_bos_rendered_by_template_is_not_doubled(tiny_decoder_rm, tmp_path):
    from tiny_models import CHAT_TEMPLATE
    from tokenizers.processors import TemplateProcessing

    for with_bos in (True, False):
        dst = _copy_with(tiny_decoder_rm, tmp_path / f"bos_{with_bos}")
        tok = AutoTokenizer.from_pretrained(dst)
        tok.backend_tokenizer.post_processor = TemplateProcessing(
            single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.bos_token_id)]
        )
        tok.chat_template = ("{{ bos_token }}" if with_bos else "") + CHAT_TEMPLATE
        tok.save_pretrained(str(dst))
        rm = HFRewardModel(dst)
        assert rm.format("Hi?", "Hello!").startswith("<s>") is with_bos
        ids = rm._encode(["Hi?"], ["Hello!"])[0].input_ids
        assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
        # Left truncation keeps the leading BOS and drops the tokens right after it.
        rm.max_length = 12
        cut = rm._encode(["Hi there, " * 10], ["Hello!"])[0]
        assert cut.truncated and len(cut.input_ids) == 12
        assert cut.input_ids[0] == tok.bos_token_id and cut.input_ids[1] != tok.bos_token_id
        assert rm.tokenizer.decode(cut.input_ids[1:]).endswith("<|assistant|>\nHello!<|end|>\n")


def test_missing_pad_token_falls_back_to_eos(tiny_decoder_rm, tmp_path):
    dst = _copy_with(
        tiny_decoder_rm,
        tmp_path / "nopad",
        config={"pad_token_id": None},
        tokenizer_config={"pad_token": None},
    )
    assert AutoTokenizer.from_pretrained(dst).pad_token is None
    rm = HFRewardModel(dst, token_budget=60)
    assert rm.tokenizer.pad_token == rm.tokenizer.eos_token
    assert rm.model.config.pad_token_id == rm.tokenizer.eos_token_id
    shapes = _spy_forward(rm)
    batched = rm.score(PROMPTS, RESPONSES)
    assert any(rows > 1 for rows, _ in shapes)
    one_by_one = [rm.score([p], [r])[0] for p, r in zip(PROMPTS, RESPONSES)]
    assert batched == pytest.approx(one_by_one, abs=1e-4)


def test_nonexistent_local_path(tmp_path):
    missing = tmp_path / "no" / "such" / "model"
    with pytest.raises(RewardModelError, match="local path") as exc:
        HFRewardModel(missing)
    assert str(missing) in str(exc.value)


def test_unreachable_hub_name_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RewardModelError) as exc:
        HFRewardModel("rmx-test-org/no-such-reward-model")
    msg = str(exc.value)
    assert "rmx-test-org/no-such-reward-model" in msg and "hub name" in msg
    assert "HF_HUB_OFFLINE" in msg


def test_causal_lm_checkpoint_rejected(tiny_causal_lm, tmp_path):
    with pytest.raises(RewardModelError, match="LlamaForCausalLM"):
        HFRewardModel(tiny_causal_lm)
    # Even when the config claims one label, a missing (randomly initialised) head is refused.
    dst = _copy_with(
        tiny_causal_lm,
        tmp_path / "lm1",
        config={"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}},
    )
    with pytest.raises(RewardModelError, match=r"no trained reward head \(missing score.weight"):
        HFRewardModel(dst)


def test_multi_label_classifier_rejected(tiny_decoder_rm, tmp_path):
    dst = _copy_with(
        tiny_decoder_rm,
        tmp_path / "cls2",
        config={"id2label": {"0": "bad", "1": "good"}, "label2id": {"bad": 0, "good": 1}},
    )
    with pytest.raises(RewardModelError, match=r"2 outputs \(\['bad', 'good'\]\)"):
        HFRewardModel(dst)


def test_trust_remote_code_off_by_default(tiny_decoder_rm, monkeypatch):
    seen: dict[str, list[dict]] = {"model": [], "tokenizer": []}
    for key, cls in (("model", AutoModelForSequenceClassification), ("tokenizer", AutoTokenizer)):
        real = cls.from_pretrained

        def spy(*args, _real=real, _key=key, **kwargs):
            seen[_key].append(kwargs)
            return _real(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", spy)
    HFRewardModel(tiny_decoder_rm)
    assert [k["trust_remote_code"] for k in seen["model"]] == [False]
    assert [k["trust_remote_code"] for k in seen["tokenizer"]] == [False]
    assert seen["model"][0]["attn_implementation"] == "sdpa"
    HFRewardModel(tiny_decoder_rm, trust_remote_code=True)
    assert seen["model"][-1]["trust_remote_code"] is True
    assert seen["tokenizer"][-1]["trust_remote_code"] is True


def test_identity_and_dtype(tiny_decoder_rm):
    rm = HFRewardModel(tiny_decoder_rm)
    assert rm.identity == f"hf:{tiny_decoder_rm}:float32" and rm.dtype == torch.float32
    assert rm.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    half = HFRewardModel(tiny_decoder_rm, dtype="bf16", name="my-rm")
    # a name is the identity at the device's default dtype; another dtype follows it
    default = resolve_dtype(None, half.device, owner="t", error=RewardModelError)
    assert half.dtype == torch.bfloat16
    assert half.identity == ("my-rm" if default == torch.bfloat16 else "my-rm:bfloat16")
    assert HFRewardModel(tiny_decoder_rm, dtype="bf16").identity.endswith(":bfloat16")
    assert all(math.isfinite(s) for s in half.score(PROMPTS[:2], RESPONSES[:2]))
    assert HFRewardModel(tiny_decoder_rm, dtype="auto").dtype == torch.float32
    with pytest.raises(RewardModelError, match="unknown dtype"):
        HFRewardModel(tiny_decoder_rm, dtype="int3")
    with pytest.raises(RewardModelError, match="token_budget"):
        HFRewardModel(tiny_decoder_rm, token_budget=0)


def test_works_through_checked_scores(tiny_decoder_rm):
    rm = HFRewardModel(tiny_decoder_rm, token_budget=60)
    assert isinstance(rm, RewardModel)
    scores = checked_scores(rm, PROMPTS, RESPONSES)
    assert scores == pytest.approx(rm(PROMPTS, RESPONSES), abs=1e-6)
    assert len(scores) == len(PROMPTS) and all(isinstance(s, float) for s in scores)
    with pytest.raises(RewardModelError, match="2 prompts but 1 responses"):
        rm.score(PROMPTS[:2], RESPONSES[:1])


def test_attention_auto_choice(tiny_decoder_rm, monkeypatch):
    rm = HFRewardModel(tiny_decoder_rm)
    assert rm.attn_implementation == "sdpa"
    import importlib.util

    real_find = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "flash_attn" else real_find(name, *a),
    )
    cfg = rm.model.config
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert auto_attn_candidates(cpu, torch.bfloat16, cfg) == ["sdpa", None]  # CPU: no FA2
    assert auto_attn_candidates(cuda, torch.bfloat16, cfg) == ["flash_attention_2", "sdpa", None]
    assert auto_attn_candidates(cuda, torch.float16, cfg)[0] == "flash_attention_2"
    assert auto_attn_candidates(cuda, torch.float32, cfg) == ["sdpa", None]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert auto_attn_candidates(cuda, torch.bfloat16, cfg) == ["sdpa", None]


def test_explicit_attention_implementation_is_used(tiny_decoder_rm):
    rm = HFRewardModel(tiny_decoder_rm, attn_implementation="eager")
    assert rm.attn_implementation == "eager"
    ref = HFRewardModel(tiny_decoder_rm)
    assert rm.score(PROMPTS, RESPONSES) == pytest.approx(ref.score(PROMPTS, RESPONSES), abs=1e-4)


def test_duplicate_pairs_run_once(tiny_decoder_rm):
    rm = HFRewardModel(tiny_decoder_rm)
    shapes = _spy_forward(rm)
    scores = rm.score(PROMPTS * 3, RESPONSES * 3)
    assert sum(rows for rows, _ in shapes) == len(PROMPTS)
    assert scores == pytest.approx(rm.score(PROMPTS, RESPONSES) * 3, abs=1e-6)
    assert rm.stats["pairs"] == 4 * len(PROMPTS) and rm.stats["unique_pairs"] == 2 * len(PROMPTS)


def test_from_model_wraps_a_model_in_memory(tiny_decoder_rm):
    ref = HFRewardModel(tiny_decoder_rm)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_decoder_rm)
    rm = HFRewardModel.from_model(
        model, AutoTokenizer.from_pretrained(tiny_decoder_rm), name="tiny-in-memory"
    )
    assert rm.identity == "tiny-in-memory" and rm.device.type == "cpu" and rm.prefix_sharing
    assert rm.score(PROMPTS, RESPONSES) == pytest.approx(ref.score(PROMPTS, RESPONSES), abs=1e-4)
    with pytest.raises(RewardModelError, match="token_budget"):
        HFRewardModel.from_model(model, rm.tokenizer, name="x", token_budget=0)


def test_default_token_budget_is_small_on_cpu(tiny_decoder_rm):
    """A CPU gains nothing from big batches and loses cache locality (see CPU_TOKEN_BUDGET);
    an explicit budget always wins."""
    from rmx_widgets.core.reward_models.hf import (
        ACCELERATOR_TOKEN_BUDGET,
        CPU_TOKEN_BUDGET,
    )

    assert CPU_TOKEN_BUDGET < ACCELERATOR_TOKEN_BUDGET
    rm = HFRewardModel(tiny_decoder_rm, device="cpu")
    assert rm.token_budget == CPU_TOKEN_BUDGET
    wrapped = HFRewardModel.from_model(rm.model, rm.tokenizer, name="x")
    assert wrapped.token_budget == CPU_TOKEN_BUDGET
    assert HFRewardModel(tiny_decoder_rm, device="cpu", token_budget=999).token_budget == 999
