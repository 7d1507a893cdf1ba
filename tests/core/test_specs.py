"""The spec vocabulary (``rmx_widgets.core.specs``): every kind, the NAME= prefix, the errors.

The hub kinds load the tiny offline models of ``tests/helpers/tiny_models.py``; the LLM kinds
talk to the local fake OpenAI-compatible server. Nothing is downloaded.
"""

from __future__ import annotations

import pytest

import rmx_widgets as rmx
from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.errors import PerturberError, RewardModelError, RMXError
from rmx_widgets.core.metrics import HashingEmbedder
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.openai import OpenAIPerturber
from rmx_widgets.core.perturbers.paraphrase import ParaphrasePerturber
from rmx_widgets.core.perturbers.polyjuice import PolyjuicePerturber
from rmx_widgets.core.perturbers.random_words import RandomWordPerturber
from rmx_widgets.core.perturbers.rules import RulePerturber
from rmx_widgets.core.reward_models.transparent import DEFAULT_WEIGHTS, TransparentRewardModel
from rmx_widgets.core.specs import (
    embedder_from_spec,
    perturber_from_spec,
    perturbers_from_specs,
    reward_model_from_spec,
    reward_models_from_specs,
    split_name,
)


def test_the_factories_are_in_the_public_api():
    assert rmx.reward_model_from_spec is reward_model_from_spec
    assert rmx.perturber_from_spec is perturber_from_spec
    assert {"reward_model_from_spec", "perturber_from_spec"} <= set(rmx.__all__)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("transparent", (None, "transparent")),
        ("  planted = transparent:hedging=-1 ", ("planted", "transparent:hedging=-1")),
        ("transparent:length=1", (None, "transparent:length=1")),  # a feature weight, not a name
        ("B=Skywork/Skywork-Reward-V2", ("B", "Skywork/Skywork-Reward-V2")),
        ("/models/a=b", (None, "/models/a=b")),  # a path, not a name
        ("samples=rmx_widgets/data/x.jsonl", ("samples", "rmx_widgets/data/x.jsonl")),
    ],
)
def test_split_name(spec, expected):
    assert split_name(spec) == expected


@pytest.mark.parametrize("spec", ["", "   "])
def test_an_empty_spec_is_an_error(spec):
    with pytest.raises(RMXError, match="non-empty"):
        split_name(spec)
    with pytest.raises(RMXError, match="non-empty"):
        reward_model_from_spec(spec)
    with pytest.raises(RMXError, match="non-empty"):
        perturber_from_spec(spec)


# -- reward models ----------------------------------------------------------------------------


def test_transparent_with_default_weights():
    rm = reward_model_from_spec("transparent")
    assert isinstance(rm, TransparentRewardModel)
    assert rm.weights == TransparentRewardModel().weights
    assert rm.identity == TransparentRewardModel().identity


def test_transparent_with_only_the_given_weights_and_a_name():
    rm = reward_model_from_spec("transparent:hedging=-1.5, length=0.4")
    assert isinstance(rm, TransparentRewardModel)
    assert rm.weights["hedging"] == -1.5 and rm.weights["length"] == 0.4
    assert sum(1 for w in rm.weights.values() if w) == 2
    assert rm.identity.startswith("transparent:v1:")
    named = reward_model_from_spec("planted=transparent:hedging=-1.5,length=0.4")
    # NAME starts the identity; the weights' digest follows (they are not the defaults)
    assert named.identity == f"planted:w{rm.identity.rsplit(':', 1)[1]}"
    assert reward_model_from_spec("mine=transparent").identity == "mine"  # default weights
    assert named.weights == rm.weights
    assert set(DEFAULT_WEIGHTS) <= set(rm.weights)


@pytest.mark.parametrize(
    "spec, needle",
    [
        ("transparent:hedging", "'hedging' is not feature=weight"),
        ("transparent:hedging=lots", "'hedging=lots' is not feature=weight"),
        ("transparent:nonsense=1", "unknown feature"),
        ("transparent:", "give feature=weight pairs"),
    ],
)
def test_transparent_spec_mistakes(spec, needle):
    with pytest.raises(RewardModelError, match=needle):
        reward_model_from_spec(spec)


def test_a_hub_rm_is_loaded_with_the_options(tiny_decoder_rm):
    from rmx_widgets.core.reward_models.hf import HFRewardModel

    rm = reward_model_from_spec(str(tiny_decoder_rm), device="cpu", dtype="fp32", max_length=64)
    assert isinstance(rm, HFRewardModel)
    assert rm.max_length == 64 and str(rm.device) == "cpu"
    scores = rm.score(["Hi?"], ["Hello there."])
    assert len(scores) == 1
    # naming a hub RM labels it in a study but keeps its identity (its cached scores)
    named = reward_model_from_spec(
        f"mine={tiny_decoder_rm}", device="cpu", dtype="fp32", max_length=64
    )
    assert named.identity == rm.identity


def test_a_missing_local_rm_names_the_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(RewardModelError, match=str(missing)):
        reward_model_from_spec(str(missing), device="cpu")


def test_several_rms_are_named_and_a_clash_is_found_before_loading(tmp_path):
    rms = reward_models_from_specs(
        ["transparent", "planted=transparent:hedging=1", "transparent:length=1"]
    )
    assert list(rms) == ["transparent", "planted", "transparent:length=1"]
    assert rms["planted"].identity.startswith("planted:w")  # NAME + the weights' digest
    with pytest.raises(RMXError, match="both named 'transparent'"):
        reward_models_from_specs(["transparent", "transparent"])
    missing = str(tmp_path / "missing")
    with pytest.raises(RMXError, match="both named 'a'"):  # not "cannot load"
        reward_models_from_specs([f"a={missing}", f"a={missing}"])


# -- perturbers -------------------------------------------------------------------------------


def _request(attribute: str = "verbosity") -> PerturbationRequest:
    return PerturbationRequest(
        "What is 2 + 2?", "2 + 2 = 4. I hope this helps!", get_attribute(attribute), "worse"
    )


def test_rules_and_random():
    assert isinstance(perturber_from_spec("rules"), RulePerturber)
    assert isinstance(perturber_from_spec("r=rules"), RulePerturber)
    default = perturber_from_spec("random")
    assert isinstance(default, RandomWordPerturber) and default.fraction == 0.15
    assert perturber_from_spec("random:0.4").fraction == 0.4
    assert (
        perturber_from_spec("noise=random:0.4").identity
        == RandomWordPerturber(fraction=0.4).identity
    )


@pytest.mark.parametrize(
    "spec, needle",
    [
        ("random:lots", "fraction must be a number"),
        ("random:2", r"fraction must be a number in \(0, 1\]"),
        ("warp", "unknown kind 'warp'; use rules, random"),
        ("rules:fast", "rules takes no option"),
        ("llm:gpt-4o", "llm takes no option after ':' .the LLM is given with --model"),
        ("llm", "needs --model"),
        ("paraphrase", "'paraphrase' needs --model"),
        ("openai", "'openai' needs --model"),
        ("hf", "'hf' needs --model .* a hub name or local folder"),
    ],
)
def test_perturber_spec_mistakes(spec, needle):
    with pytest.raises(PerturberError, match=needle):
        perturber_from_spec(spec)


def test_polyjuice_takes_an_optional_model_and_loads_on_first_use(tmp_path):
    default = perturber_from_spec("polyjuice", device="cpu")
    assert isinstance(default, PolyjuicePerturber)
    assert default.name_or_path == "uw-hai/polyjuice" and default.model is None
    local = perturber_from_spec(f"pj=polyjuice:{tmp_path}", device="cpu", trust_remote_code=True)
    assert local.name_or_path == str(tmp_path) and local.trust_remote_code
    assert "no config.json" in local.why_unavailable()


def test_llm_and_its_openai_alias_reach_the_server(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = perturber_from_spec(
        "llm",
        model="fake-model",
        base_url=server.url,
        concurrency=3,
        temperature=0.5,
        api_key_env="MY_KEY",
    )
    assert isinstance(llm, OpenAIPerturber)
    assert (llm.concurrency, llm.temperature, llm.api_key_env) == (3, 0.5, "MY_KEY")
    alias = perturber_from_spec(
        "openai",
        model="fake-model",
        base_url=server.url,
        concurrency=3,
        temperature=0.5,
        api_key_env="MY_KEY",
    )
    assert alias.identity == llm.identity
    same = perturber_from_spec("llm", backend="openai", model="fake-model", base_url=server.url)
    assert same.identity != llm.identity  # another temperature: other rewrites, another key
    assert same.identity == llm.identity.replace(":temperature=0.5", "")
    [result] = llm.perturb_batch([_request()])
    assert result.failure is None and result.text.endswith("[worse:verbosity]")
    body = server.requests[-1].body
    assert body["model"] == "fake-model" and body["temperature"] == 0.5


def test_paraphrase_wraps_the_llm_and_names_no_attribute(server):
    para = perturber_from_spec("paraphrase", model="fake-model", base_url=server.url)
    assert isinstance(para, ParaphrasePerturber)
    assert isinstance(para.backend, OpenAIPerturber)
    assert para.identity.endswith(":paraphrase-v2")
    [result] = para.perturb_batch([_request()])
    assert result.failure is None
    assert "Quality: " not in server.requests[-1].user_text


def test_the_hf_backend_and_its_alias(tiny_causal_lm):
    from rmx_widgets.core.perturbers.hf import HFPerturber

    llm = perturber_from_spec(
        "llm", backend="hf", model=str(tiny_causal_lm), device="cpu", dtype="float32"
    )
    assert isinstance(llm, HFPerturber) and str(llm.device) == "cpu"
    alias = perturber_from_spec("hf", model=str(tiny_causal_lm), device="cpu", dtype="float32")
    assert isinstance(alias, HFPerturber) and alias.identity == llm.identity
    para = perturber_from_spec("paraphrase", backend="hf", model=str(tiny_causal_lm), device="cpu")
    assert isinstance(para.backend, HFPerturber)


@pytest.mark.parametrize(
    "spec, backend, needle",
    [
        ("hf", "openai", "'hf' runs on the hf backend, but backend 'openai' was asked for"),
        ("openai", "hf", "use llm with --backend hf"),
        ("llm", "vllm", "backend 'vllm' is not supported; use openai or hf"),
    ],
)
def test_a_contradicting_or_unknown_backend_is_an_error(spec, backend, needle):
    with pytest.raises(PerturberError, match=needle):
        perturber_from_spec(spec, model="m", backend=backend)


def test_several_perturbers_are_named_and_a_clash_is_an_error():
    perts = perturbers_from_specs(
        ["rules", "random:0.2", "polyjuice", "b=random", "llm", "p=paraphrase"],
        model="fake-model",
        base_url="http://127.0.0.1:9/v1",
        device="cpu",
    )
    assert list(perts) == ["rules", "random", "polyjuice", "b", "llm:fake-model", "p"]
    assert perts["random"].fraction == 0.2 and perts["b"].fraction == 0.15
    with pytest.raises(RMXError, match="both named 'llm:fake-model'"):
        perturbers_from_specs(["llm", "openai"], model="fake-model")
    with pytest.raises(RMXError, match="both named 'random'"):
        perturbers_from_specs(["random", "random:0.3"])


# -- embedders --------------------------------------------------------------------------------


def test_embedders(tiny_encoder_rm, tmp_path):
    from rmx_widgets.core.embedders import TransformersEmbedder

    assert isinstance(embedder_from_spec(), HashingEmbedder)
    assert isinstance(embedder_from_spec("hashing"), HashingEmbedder)
    enc = embedder_from_spec(str(tiny_encoder_rm), device="cpu")
    assert isinstance(enc, TransformersEmbedder)
    assert enc(["a text", "another"]).shape[0] == 2
    with pytest.raises(RMXError, match="cannot load the embedding model"):
        embedder_from_spec(str(tmp_path / "none"))  # fails now, not on first use
