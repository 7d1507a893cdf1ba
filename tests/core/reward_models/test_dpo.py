"""``DPORewardModel`` on two tiny random causal LMs loaded from a temp dir: the batched,
prefix-shared rewards equal a plain per-example loop that renders the chat template, finds the
response's tokens from the tokenizer's offsets and takes log-softmax by hand. Nothing here
touches the network."""

from __future__ import annotations

import shutil
import warnings

import pytest
import torch
from tiny_models import build_causal_lm
from transformers import AutoModelForCausalLM, AutoTokenizer

import rmx_widgets as rmx
from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.base import RewardModel, checked_scores
from rmx_widgets.core.reward_models.dpo import DPORewardModel
from rmx_widgets.core.specs import reward_model_from_spec

LONG = "Please explain in detail how to sort a list in Python, and when to use which way. " * 2
PROMPTS = [LONG, LONG, LONG, "Hi?", "What is the capital of France?", LONG, "Hi?"]
RESPONSES = [
    "Use sorted(items) for a new list.",
    "Call items.sort() to sort in place.",
    "Both work; sorted returns a copy.",
    "Hello!",
    "Paris is the capital of France.",
    "Use sorted(items) for a new list.",  # a duplicate pair
    "Hey there, how can I help?",
]


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    policy = build_causal_lm(tmp_path_factory.mktemp("policy"), seed=0)
    reference = build_causal_lm(tmp_path_factory.mktemp("reference"), seed=1)
    return policy, reference


def _manual_logp(path, prompt: str, response: str) -> float:
    """log π(response | prompt) by hand, one example at a time."""
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    text = tok.apply_chat_template(
        [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}],
        tokenize=False,
    )
    enc = tok(text, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    char = text.rfind(response)
    start = next(k for k, (_, end) in enumerate(offsets) if end > char)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    total = 0.0
    for k in range(max(start, 1), len(ids)):
        row = logits[k - 1]
        top = row.max()
        log_z = top + torch.log(torch.exp(row - top).sum())
        total += float(row[ids[k]] - log_z)
    return total


def _manual(policy, reference, beta, prompts, responses) -> list[float]:
    return [
        beta * (_manual_logp(policy, p, r) - _manual_logp(reference, p, r))
        for p, r in zip(prompts, responses)
    ]


def test_rewards_equal_a_plain_per_example_loop(lms):
    policy, reference = lms
    want = _manual(policy, reference, 0.1, PROMPTS, RESPONSES)
    for sharing, budget in ((True, 2048), (True, 90), (False, 2048), (False, 60)):
        rm = DPORewardModel(
            policy,
            reference,
            device="cpu",
            token_budget=budget,
            prefix_sharing=sharing,
            min_prefix_tokens=4,
        )
        got = rm.score(PROMPTS, RESPONSES)
        diff = max(abs(a - b) for a, b in zip(got, want))
        print(f"DPO prefix_sharing={sharing} token_budget={budget}: max abs diff = {diff:.3g}")
        assert diff < 1e-5
        assert rm.stats["unique_pairs"] == 6
        # two prompts with several responses, shared once per model
        assert rm.stats["prefix_groups"] == (4 if sharing else 0)
        assert rm.last_truncated == []
        # Llama reads the shared prefix's keys/values in place (no per-row copy)
        assert all(sc.in_place for sc in rm._scorers)
    assert len({round(w, 4) for w in want}) == len(set(zip(PROMPTS, RESPONSES)))  # not constant


def test_in_place_prefix_equals_the_expanded_cache(lms):
    """The DPO continuations read the prefix at batch 1 (shared_kv.py) and give the sums the
    expanded DynamicCache gives (the path other architectures keep)."""
    policy, reference = lms
    got = {}
    for in_place in (True, False):
        rm = DPORewardModel(policy, reference, device="cpu", min_prefix_tokens=4)
        for sc in rm._scorers:
            sc.in_place = in_place
        got[in_place] = rm.score(PROMPTS, RESPONSES)
        assert rm.prefix_sharing and rm.stats["prefix_groups"] == 4
    assert max(abs(a - b) for a, b in zip(got[True], got[False])) < 1e-5


def test_prompt_tokens_are_excluded(lms):
    """Changing only the prompt's tokens before the response must not enter as prompt
    log-probs: a reward over response tokens only is not the whole-sequence difference."""
    policy, reference = lms
    rm = DPORewardModel(policy, reference, device="cpu")
    (got,) = rm.score([LONG], [RESPONSES[0]])
    tok = AutoTokenizer.from_pretrained(policy)
    text = rm.format(LONG, RESPONSES[0])
    ids = tok(text)["input_ids"]

    def whole(path):
        model = AutoModelForCausalLM.from_pretrained(path).eval()
        with torch.no_grad():
            lp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0], -1)
        return float(lp[:-1].gather(1, torch.tensor(ids[1:])[:, None]).sum())

    whole_seq = 0.1 * (whole(policy) - whole(reference))
    assert abs(got - whole_seq) > 1e-3
    assert got == pytest.approx(
        _manual(policy, reference, 0.1, [LONG], [RESPONSES[0]])[0], abs=1e-5
    )


def test_beta_scales_linearly_and_identical_models_give_zero(lms):
    policy, reference = lms
    a = DPORewardModel(policy, reference, beta=0.1, device="cpu").score(PROMPTS, RESPONSES)
    b = DPORewardModel(policy, reference, beta=0.25, device="cpu").score(PROMPTS, RESPONSES)
    assert max(abs(2.5 * x - y) for x, y in zip(a, b)) < 1e-5
    same = DPORewardModel(policy, policy, beta=0.5, device="cpu")
    assert same.score(PROMPTS, RESPONSES) == [0.0] * len(PROMPTS)


def test_long_response_is_reported_truncated(lms):
    policy, reference = lms
    rm = DPORewardModel(policy, reference, device="cpu", max_length=24)
    assert rm.identity.endswith(":max_length=24")
    with pytest.warns(UserWarning, match=r"1 of 2 inputs .*lost its beginning"):
        scores = checked_scores(rm, ["Hi?", "Hi?"], ["Ok.", "word " * 60])
    assert rm.last_truncated == [1] and rm.n_truncated == 1
    assert all(isinstance(s, float) for s in scores)
    kept = rm._encoder.encode(["Hi?"], ["word " * 60], 24)[0]
    assert len(kept.input_ids) == 24 and kept.response_cut


def test_identity_protocol_and_export(lms):
    policy, reference = lms
    rm = DPORewardModel(policy, reference, beta=0.2, device="cpu")
    assert isinstance(rm, RewardModel) and rmx.DPORewardModel is DPORewardModel
    assert "DPORewardModel" in rmx.__all__
    assert rm.identity.startswith(
        f"dpo:policy=hf:{policy}:float32,ref=hf:{reference}:float32:beta=0.2:template="
    )
    assert rm.why_unavailable() is None and rm.stats["pairs"] == 0
    swapped = DPORewardModel(reference, policy, beta=0.2, device="cpu")
    other_beta = DPORewardModel(policy, reference, beta=0.3, device="cpu")
    assert len({rm.identity, swapped.identity, other_beta.identity}) == 3
    named = DPORewardModel(policy, reference, beta=0.2, device="cpu", name="my-dpo-v1")
    assert named.identity.startswith("dpo:my-dpo-v1:beta=0.2:template=")


def test_chat_template_is_in_the_identity(lms, tmp_path):
    policy, reference = lms
    plain = tmp_path / "plain"
    shutil.copytree(policy, plain)
    tok = AutoTokenizer.from_pretrained(plain)
    tok.chat_template = None
    tok.save_pretrained(str(plain))
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    rm = DPORewardModel(plain, reference, device="cpu")
    assert rm.identity.endswith(":template=plain")
    assert rm.format("Hi?", "Hello!") == "Hi?\n\nHello!"
    assert checked_scores(rm, ["Hi?"], ["Hello!"])


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"beta": 0}, "beta must be a positive"), ({"beta": float("inf")}, "beta must be finite")],
)
def test_bad_beta(lms, kw, match):
    with pytest.raises(RewardModelError, match=match):
        DPORewardModel(*lms, device="cpu", **kw)


def test_spec(lms):
    policy, reference = lms
    rm = reward_model_from_spec(f"dpo:policy={policy},ref={reference},beta=0.5", device="cpu")
    assert isinstance(rm, DPORewardModel) and rm.beta == 0.5
    assert reward_model_from_spec(f"dpo:policy={policy},ref={reference}", device="cpu").beta == 0.1
    for bad, match in (
        ("dpo", r"policy and ref missing; use dpo:policy=PATH,ref=PATH\[,beta=0.1\]"),
        (f"dpo:policy={policy}", "ref missing"),
        (f"dpo:policy={policy},ref={reference},beta=big", "beta='big' is not a number"),
        (f"dpo:policy={policy},ref={reference},temp=1", "unknown key 'temp'"),
        (f"dpo:policy={policy},policy={policy},ref={reference}", "policy is given twice"),
        (f"dpo:policy={policy},ref", r"'ref' is not key=value"),
        (f"dpo:policy={policy},ref={reference},beta=-1", "beta must be a positive"),
    ):
        with pytest.raises(RewardModelError, match=match):
            reward_model_from_spec(bad, device="cpu")


def test_a_rm_checkpoint_is_not_a_policy(tiny_decoder_rm, lms):
    with pytest.raises(RewardModelError, match="not a complete causal language model"):
        DPORewardModel(tiny_decoder_rm, lms[1], device="cpu")


def test_goes_where_a_reward_model_goes(lms):
    """The Explainer runs on it like on any RM: every rewritten row gets a reward."""
    comps = [
        {
            "id": "c1",
            "prompt": "Why is the sky blue?",
            "response_a": "Light scatters. I think it might be Rayleigh scattering.",
            "response_b": "Rayleigh scattering of sunlight by air.",
        }
    ]
    rm = DPORewardModel(*lms, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = rmx.Explainer(
            rm, rmx.RulePerturber(), attributes=["verbosity", "assertiveness"], progress=False
        ).explain(comps)
    table = result.table
    scored = table[table["failure_kind"].isna()]  # rows whose rewrite did not fail
    assert len(scored) > 0 and scored["reward_perturbed"].notna().all()
    assert (table["rm"] == rm.identity).all() and not table["truncated"].any()
    (direct,) = rm.score([comps[0]["prompt"]], [comps[0]["response_b"]])
    assert table.loc[table["side"] == "chosen", "reward_original"].iloc[0] == pytest.approx(direct)
