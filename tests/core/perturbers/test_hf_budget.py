"""HFPerturber's reply budget per request (issue 13, "Long responses"): sized from the
response's tokens, capped by ``max_new_tokens_cap`` and the model's positions, and a row that
used all of it without an end-of-sequence token is the failure "rewrite cut at
max_new_tokens=N", never a rewrite. The tiny random LM never chooses to stop, so each test
fixes the ending: EOS suppressed (a certain cut) or every id an EOS (a certain ending)."""

from __future__ import annotations

import json

import pytest

from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.hf import NEW_TOKENS_FLOOR, HFPerturber
from rmx_widgets.core.perturbers.prompts import MAX_TOKENS_CAP, REPLY_FACTOR, REPLY_MARGIN

LONG = " ".join(f"Sentence number {i} says something about the topic." for i in range(8))


def _request(response: str, direction: str = "better") -> PerturbationRequest:
    return PerturbationRequest("Q?", response, get_attribute("assertiveness"), direction)


class ValidJSON(HFPerturber):
    """Real batched generation, then every row decoded as a well-formed rewrite reply."""

    def decode_batch(self, new_tokens):
        reply = json.dumps({"locate": ["S"], "rewritten": "A rewritten answer."})
        return [reply] * new_tokens.shape[0]


@pytest.fixture(scope="module")
def sized(tiny_causal_lm):
    return ValidJSON(str(tiny_causal_lm), device="cpu", batch_size=4)


def _tokens(pert, text):
    return len(pert.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_budget_is_sized_from_the_response_tokens_and_capped(sized, tiny_causal_lm):
    assert sized.max_new_tokens is None and sized.position_limit == 4096
    assert sized.new_tokens_budget(_request("Short.")) == NEW_TOKENS_FLOOR  # the old default
    n = _tokens(sized, LONG)
    assert n * REPLY_FACTOR + REPLY_MARGIN > NEW_TOKENS_FLOOR  # a long response needs more
    assert sized.new_tokens_budget(_request(LONG)) == n * REPLY_FACTOR + REPLY_MARGIN
    capped = HFPerturber(str(tiny_causal_lm), device="cpu", max_new_tokens_cap=600)
    assert capped.new_tokens_budget(_request(LONG)) == 600
    fixed = HFPerturber(str(tiny_causal_lm), device="cpu", max_new_tokens=40)
    assert fixed.new_tokens_budget(_request(LONG)) == 40  # a fixed budget is not sized
    # the model's positions bound prompt + reply
    assert sized.new_tokens_budget(_request(LONG), prompt_tokens=4000) == 96


def test_identity_keeps_the_default_key(sized, tiny_causal_lm):
    bare = f"hf:{tiny_causal_lm}:prompt-v2"
    assert sized.identity == bare  # sized budget = the old default key
    assert HFPerturber(str(tiny_causal_lm), device="cpu", max_new_tokens=512).identity == bare
    capped = HFPerturber(str(tiny_causal_lm), device="cpu", max_new_tokens_cap=2048)
    assert capped.identity == f"hf:{tiny_causal_lm}:max_new_tokens_cap=2048:prompt-v2"
    assert HFPerturber(str(tiny_causal_lm), device="cpu", max_new_tokens_cap=MAX_TOKENS_CAP)


def test_a_cut_reply_is_never_a_rewrite_even_when_it_parses(sized, monkeypatch):
    monkeypatch.setattr(sized, "new_tokens_budget", lambda r, n=0: len(r.response))
    monkeypatch.setattr(sized.model.generation_config, "suppress_tokens", sized.eos_token_ids())
    seen = []
    real = sized.model.generate

    def spy(**kw):
        seen.append(kw["max_new_tokens"])
        out = real(**kw)
        seen.append(out.shape[1] - kw["input_ids"].shape[1])
        return out

    monkeypatch.setattr(sized.model, "generate", spy)
    out = sized.perturb_batch([_request("S" * k) for k in (3, 7, 5)])
    assert [r.text for r in out] == [None, None, None]
    assert [r.kind for r in out] == [FailureKind.UNPARSEABLE] * 3
    for r, k in zip(out, (3, 7, 5)):  # each row cut at its own budget, not the batch's
        assert r.failure.startswith(f"rewrite cut at max_new_tokens={k} (no end-of-sequence")
        assert "raise max_new_tokens_cap" in r.failure
    assert seen == [7, 7]  # one generate call, as long as its largest budget


def test_a_reply_that_ends_inside_its_budget_is_parsed(sized, monkeypatch):
    every_id = list(range(len(sized.tokenizer)))
    monkeypatch.setattr(sized.model.generation_config, "eos_token_id", every_id)
    out = sized.perturb_batch([_request("Short."), _request(LONG, "worse")])
    assert [r.text for r in out] == ["A rewritten answer."] * 2
    assert all(r.failure is None for r in out)


def test_the_position_limit_bounds_the_budget_and_names_itself(sized, monkeypatch):
    text = sized._chat_text(_request("Short."))
    prompt = _tokens(sized, text)
    monkeypatch.setattr(sized.model.generation_config, "suppress_tokens", sized.eos_token_ids())
    monkeypatch.setattr(sized, "position_limit", prompt + 4)
    [cut] = sized.perturb_batch([_request("Short.")])
    assert cut.failure.startswith("rewrite cut at max_new_tokens=4 ")
    assert f"position limit of {prompt + 4} tokens" in cut.failure
    monkeypatch.setattr(sized, "position_limit", prompt)  # the prompt fills every position
    monkeypatch.setattr(sized.model, "generate", lambda **kw: pytest.fail("generated"))
    [full] = sized.perturb_batch([_request("Short.")])
    assert full.kind is FailureKind.OTHER and "leaves no room for a reply" in full.failure
