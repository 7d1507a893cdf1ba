"""``HFRewardModel(head=...)``: an output of a multi-output classifier, and TRL / OpenRLHF value
heads, on tiny checkpoints written in those conventions' key layouts (safetensors) in a temp
dir. Every reward is checked against a plain computation: the head applied by hand to the base
model's last-token hidden state. Nothing here touches the network."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tiny_models import build_tokenizer
from transformers import (
    AutoConfig,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    LlamaModel,
)

from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.hf import HFRewardModel
from rmx_widgets.core.specs import reward_model_from_spec

PROMPTS = ["Hi?", "What is the capital of France?", "Tell me a joke.", "Hi?"]
RESPONSES = ["Hello!", "Paris is the capital of France.", "I'm sorry, I can't.", "Hey there."]
HIDDEN = 64


def _config(tok, **extra) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tok),
        hidden_size=HIDDEN,
        intermediate_size=2 * HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        **extra,
    )


def _ids(path: Path, prompt: str, response: str, end_id: int | None = None) -> list[int]:
    """The tokens by hand: the chat template as text, then the tokenizer."""
    tok = AutoTokenizer.from_pretrained(path)
    text = tok.apply_chat_template(
        [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}],
        tokenize=False,
    )
    ids = tok(text)["input_ids"]
    return ids + [end_id] if end_id is not None and ids[-1] != end_id else ids


def _max_diff(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b))


# ------------------------------------------------------------------ a classifier with 3 outputs
@pytest.fixture(scope="module")
def classifier3(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cls3")
    tok = build_tokenizer(path)
    torch.manual_seed(1)
    labels = {0: "bad", 1: "neutral", 2: "good"}
    cfg = _config(tok, num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})
    model = LlamaForSequenceClassification(cfg)
    with torch.no_grad():
        model.score.weight.mul_(50.0)
    model.save_pretrained(str(path))
    return path


def test_head_index_picks_that_output(classifier3):
    model = LlamaForSequenceClassification.from_pretrained(classifier3).eval()
    for head in (0, 2):
        rm = HFRewardModel(classifier3, head=head, device="cpu", token_budget=64)
        got = rm.score(PROMPTS, RESPONSES)
        with torch.no_grad():
            want = [
                float(model(input_ids=torch.tensor([_ids(classifier3, p, r)])).logits[0, head])
                for p, r in zip(PROMPTS, RESPONSES)
            ]
        diff = _max_diff(got, want)
        print(f"head={head}: max abs diff vs manual = {diff:.3g}")
        assert diff < 1e-5
        assert rm.identity == f"hf:{classifier3}:float32:head={head}"


def test_head_index_through_prefix_sharing(classifier3):
    prompt = "Please explain in detail how a list is sorted in Python, with examples. " * 3
    responses = ["Use sorted.", "Call items.sort().", "Both work."]
    shared = HFRewardModel(classifier3, head=1, device="cpu", min_prefix_tokens=4)
    full = HFRewardModel(classifier3, head=1, device="cpu", prefix_sharing=False)
    a, b = shared.score([prompt] * 3, responses), full.score([prompt] * 3, responses)
    assert shared.stats["prefix_groups"] == 1
    assert _max_diff(a, b) < 1e-4


def test_several_outputs_without_head_says_how_to_choose(classifier3):
    with pytest.raises(RewardModelError) as exc:
        HFRewardModel(classifier3, device="cpu")
    msg = str(exc.value)
    assert "3 outputs (['bad', 'neutral', 'good'])" in msg
    assert f"HFRewardModel({str(classifier3)!r}, head=N)" in msg
    assert f"{classifier3}:head=N" in msg and "0='bad', 1='neutral', 2='good'" in msg


@pytest.mark.parametrize(
    ("head", "match"),
    [
        (3, r"head=3 is out of range: .* has 3 output\(s\).* from 0 to 2"),
        (-1, "an output index"),
        (True, "an output index"),
        ("good", "an output index"),
        ("value_head", "no value head found"),
    ],
)
def test_bad_heads_are_refused(classifier3, head, match):
    with pytest.raises(RewardModelError, match=match):
        HFRewardModel(classifier3, head=head, device="cpu")


def test_spec_head_option(classifier3):
    rm = reward_model_from_spec(f"{classifier3}:head=2", device="cpu")
    assert isinstance(rm, HFRewardModel) and rm.head == 2
    assert reward_model_from_spec(f"hf:{classifier3}:head=1", device="cpu").head == 1
    for bad, match in (
        (f"{classifier3}:head=", r"head= needs an output index"),
        (f"{classifier3}:head=x", r"head='x' is not an output index"),
        (f"{classifier3}:bogus=1", r"unknown option 'bogus'"),
    ):
        with pytest.raises(RewardModelError, match=match):
            reward_model_from_spec(bad, device="cpu")


def test_single_output_identity_unchanged(tiny_decoder_rm):
    rm = HFRewardModel(tiny_decoder_rm, head=0, device="cpu")
    assert rm.identity == HFRewardModel(tiny_decoder_rm, device="cpu").identity


# ------------------------------------------------------------------ TRL value head
@pytest.fixture(scope="module")
def trl_checkpoint(tmp_path_factory) -> Path:
    """What trl's AutoModelForCausalLMWithValueHead.save_pretrained writes: the causal LM's
    config and state dict plus v_head.summary.{weight,bias}."""
    path = tmp_path_factory.mktemp("trl_vhead")
    tok = build_tokenizer(path)
    torch.manual_seed(2)
    lm = LlamaForCausalLM(_config(tok))
    state = dict(lm.state_dict())
    state["v_head.summary.weight"] = torch.randn(1, HIDDEN)
    state["v_head.summary.bias"] = torch.tensor([0.25])
    lm.config.architectures = ["LlamaForCausalLM"]
    lm.config.save_pretrained(str(path))
    save_file({k: v.contiguous() for k, v in state.items()}, str(path / "model.safetensors"))
    return path


def test_trl_value_head_equals_manual(trl_checkpoint):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        rm = HFRewardModel(trl_checkpoint, device="cpu", token_budget=64)
    assert any("trl value head (v_head.summary.weight)" in str(w.message) for w in seen)
    got = rm.score(PROMPTS, RESPONSES)
    lm = LlamaForCausalLM.from_pretrained(trl_checkpoint).eval()
    from safetensors import safe_open

    with safe_open(str(trl_checkpoint / "model.safetensors"), framework="pt") as f:
        w, b = f.get_tensor("v_head.summary.weight"), f.get_tensor("v_head.summary.bias")
    want = []
    for p, r in zip(PROMPTS, RESPONSES):
        with torch.no_grad():
            out = lm(
                input_ids=torch.tensor([_ids(trl_checkpoint, p, r)]), output_hidden_states=True
            )
        want.append(float(out.hidden_states[-1][0, -1] @ w[0] + b[0]))
    diff = _max_diff(got, want)
    print(f"TRL value head: max abs diff vs manual = {diff:.3g}")
    assert diff < 1e-5
    assert rm.identity == f"hf:{trl_checkpoint}:float32:head=trl"
    explicit = HFRewardModel(trl_checkpoint, head="value_head", device="cpu")
    assert explicit.score(PROMPTS, RESPONSES) == pytest.approx(got, abs=1e-5)


def test_value_head_from_pickle_only_is_refused(trl_checkpoint, tmp_path):
    from safetensors.torch import load_file

    dst = tmp_path / "pickled"
    dst.mkdir()
    for f in trl_checkpoint.iterdir():
        if f.name != "model.safetensors":
            (dst / f.name).write_bytes(f.read_bytes())
    torch.save(load_file(str(trl_checkpoint / "model.safetensors")), dst / "pytorch_model.bin")
    with pytest.raises(RewardModelError, match=r"\*\.safetensors files only"):
        HFRewardModel(dst, head="value_head", device="cpu")
    with pytest.raises(RewardModelError, match="LlamaForCausalLM checkpoint"):
        HFRewardModel(dst, device="cpu")


# ------------------------------------------------------------------ OpenRLHF value head
def _openrlhf(path: Path, prefix: str, seed: int, **config) -> Path:
    """What OpenRLHF's reward model saves: the base model under ``model.`` and a bias-free
    one-row ``<value_head_prefix>.weight``; the config keeps the default two labels."""
    tok = build_tokenizer(path)
    torch.manual_seed(seed)
    cfg = _config(tok)
    base = LlamaModel(cfg)
    state = {f"model.{k}": v for k, v in base.state_dict().items()}
    state[f"{prefix}.weight"] = torch.randn(1, HIDDEN)
    cfg.architectures = ["LlamaForSequenceClassification"]
    for k, v in config.items():
        setattr(cfg, k, v)
    cfg.save_pretrained(str(path))
    save_file({k: v.contiguous() for k, v in state.items()}, str(path / "model.safetensors"))
    return path


@pytest.mark.parametrize(
    ("prefix", "config"),
    [
        ("value_head", {}),
        ("score", {"normalize_reward": True, "mean": 0.5, "std": 2.0}),
    ],
)
def test_openrlhf_value_head_equals_manual(tmp_path, prefix, config):
    path = _openrlhf(tmp_path / prefix, prefix, 3, **config)
    assert AutoConfig.from_pretrained(path).num_labels == 2  # what made it be refused before
    rm = HFRewardModel(path, head="value_head", device="cpu", token_budget=64)
    got = rm.score(PROMPTS, RESPONSES)
    base = LlamaModel.from_pretrained(path).eval()
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        w = f.get_tensor(f"{prefix}.weight")
    eos = AutoTokenizer.from_pretrained(path).eos_token_id
    want = []
    for p, r in zip(PROMPTS, RESPONSES):
        ids = _ids(path, p, r, end_id=eos)
        assert ids[-1] == eos
        with torch.no_grad():
            h = base(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
        reward = float(h @ w[0])
        if config:
            reward = (reward - config["mean"]) / config["std"]
        want.append(reward)
    diff = _max_diff(got, want)
    print(f"OpenRLHF {prefix}: max abs diff vs manual = {diff:.3g}")
    assert diff < 1e-5
    assert rm.identity.endswith(":head=openrlhf")
    assert rm.format(PROMPTS[0], RESPONSES[0]).endswith("<|end|>\n")
    if prefix == "value_head":  # without head= the value head is found, with a warning
        with pytest.warns(UserWarning, match="openrlhf value head"):
            auto = HFRewardModel(path, device="cpu")
        assert auto.score(PROMPTS, RESPONSES) == pytest.approx(got, abs=1e-5)
    else:  # a one-row score.weight could be a broken classifier: only when asked for
        with pytest.raises(RewardModelError, match=r"single row.*pass head='value_head'"):
            HFRewardModel(path, device="cpu")


def test_from_model_takes_a_head(classifier3):
    model = LlamaForSequenceClassification.from_pretrained(classifier3)
    tok = AutoTokenizer.from_pretrained(classifier3)
    with pytest.raises(RewardModelError, match="3 outputs; pass head=N"):
        HFRewardModel.from_model(model, tok, name="cls3")
    with pytest.raises(RewardModelError, match="3 outputs; pass head=N"):
        HFRewardModel.from_model(model, tok, name="cls3", head=3)
    rm = HFRewardModel.from_model(model, tok, name="cls3", head=1)
    assert rm.identity == "cls3:head=1"
    loaded = HFRewardModel(classifier3, head=1, device="cpu")
    assert _max_diff(rm.score(PROMPTS, RESPONSES), loaded.score(PROMPTS, RESPONSES)) < 1e-5


def test_value_head_in_a_sharded_checkpoint(trl_checkpoint, tmp_path):
    """The head is found through model.safetensors.index.json, in whichever shard holds it."""
    from safetensors.torch import load_file

    dst = tmp_path / "sharded"
    dst.mkdir()
    for f in trl_checkpoint.iterdir():
        if f.name != "model.safetensors":
            (dst / f.name).write_bytes(f.read_bytes())
    state = load_file(str(trl_checkpoint / "model.safetensors"))
    keys = sorted(state)
    shards = {
        "model-00001-of-00002.safetensors": keys[::2],
        "model-00002-of-00002.safetensors": keys[1::2],
    }
    weight_map = {}
    for shard, names in shards.items():
        save_file({k: state[k] for k in names}, str(dst / shard))
        weight_map.update(dict.fromkeys(names, shard))
    (dst / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    sharded = HFRewardModel(dst, head="value_head", device="cpu")
    single = HFRewardModel(trl_checkpoint, head="value_head", device="cpu")
    assert sharded.head.convention == "trl" and len(sharded.head.files) == 2
    assert _max_diff(sharded.score(PROMPTS, RESPONSES), single.score(PROMPTS, RESPONSES)) < 1e-5
