"""HFPerturber with a tiny random causal LM saved offline (gibberish out, by design)."""

from __future__ import annotations

import json
import re

import pytest

from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.hf import HFPerturber
from rmx_widgets.core.perturbers.prompts import TEMPLATE_VERSION

# Different lengths, so batches need padding and the longest-first order differs from input.
RESPONSES = [
    "Short one.",
    "A somewhat longer answer with a few more words in it, surely.",
    "Mid length answer here.",
    "x",
    "Another answer of medium size, with commas, ok.",
]


def _requests() -> list[PerturbationRequest]:
    attr = get_attribute("assertiveness")
    return [
        PerturbationRequest(f"Question {i}?", resp, attr, "worse" if i % 2 else "better")
        for i, resp in enumerate(RESPONSES)
    ]


@pytest.fixture(scope="module")
def pert(tiny_causal_lm):
    return HFPerturber(str(tiny_causal_lm), device="cpu", batch_size=2, max_new_tokens=6)


def test_gibberish_becomes_recorded_failures_via_chat_template_and_left_padding(pert, monkeypatch):
    # no row may end (EOS suppressed), so each uses its whole budget: a cut, never parsed
    eos = pert.eos_token_ids()
    monkeypatch.setattr(pert.model.generation_config, "suppress_tokens", eos)
    monkeypatch.setitem(pert.stats, "cut", 0)
    calls = []
    real_generate = pert.model.generate

    def spy(**kw):
        calls.append({k: v.clone() for k, v in kw.items() if k in ("input_ids", "attention_mask")})
        return real_generate(**kw)

    monkeypatch.setattr(pert.model, "generate", spy)
    out = pert.perturb_batch(_requests())
    assert len(out) == len(RESPONSES)
    for res in out:
        assert res.text is None and res.kind is FailureKind.UNPARSEABLE
        assert res.failure.startswith("rewrite cut at max_new_tokens=6 (no end-of-sequence")
    assert [c["input_ids"].shape[0] for c in calls] == [2, 2, 1]  # batched generate
    pad = pert.tokenizer.pad_token_id
    padded_batches = 0
    for c in calls:
        ids, mask = c["input_ids"], c["attention_mask"]
        assert bool(mask[:, -1].all())  # every row ends at the last position: left padding
        assert bool((ids[mask == 0] == pad).all())
        padded_batches += int(not mask[:, 0].all())
    assert padded_batches >= 1
    assert "<|assistant|>" in pert.tokenizer.decode(calls[0]["input_ids"][0])  # chat template
    assert pert.stats["batches"] == 3 and pert.stats["failures"] == len(RESPONSES)
    assert pert.stats["cut"] == len(RESPONSES)


def test_gibberish_that_ends_is_parsed_and_unparseable(pert, monkeypatch):
    # every id ends a reply: each row stops after one token, well inside its budget
    monkeypatch.setattr(
        pert.model.generation_config, "eos_token_id", list(range(len(pert.tokenizer)))
    )
    out = pert.perturb_batch(_requests())
    assert all(r.text is None for r in out)
    assert not any(r.failure.startswith("rewrite cut") for r in out)
    assert any(r.failure.startswith("unparseable reply") for r in out)


class ScriptedDecode(HFPerturber):
    """Runs the real batched generate, then replaces the (random-weight) decoded text with a
    valid reply built from the prompt each row was generated for."""

    def generate_batch(self, texts, budgets=None):
        self._texts = texts
        return super().generate_batch(texts, budgets)

    def decode_batch(self, new_tokens):
        assert new_tokens.shape[0] == len(self._texts)
        gib = super().decode_batch(new_tokens)
        replies = []
        for text, g in zip(self._texts, gib):
            original = re.search(r"<response>\n(.*?)\n</response>", text, re.DOTALL).group(1)
            direction = re.search(r"make the response (\w+) overall", text).group(1)
            reply = {"locate": [original[:5]], "rewritten": f"{original} ({direction})"}
            replies.append(
                "```json\n" + json.dumps(reply) + "\n```" if len(g) % 2 else json.dumps(reply)
            )
        return replies


def test_valid_replies_come_back_as_rewrites_in_input_order(tiny_causal_lm):
    pert = ScriptedDecode(str(tiny_causal_lm), device="cpu", batch_size=2, max_new_tokens=2)
    # every id ends a reply, so no row is cut and each scripted reply is parsed
    pert.model.generation_config.eos_token_id = list(range(len(pert.tokenizer)))
    out = pert.perturb_batch(_requests())
    expected = [f"{r} ({'worse' if i % 2 else 'better'})" for i, r in enumerate(RESPONSES)]
    assert [o.text for o in out] == expected
    assert all(o.failure is None for o in out)
    assert pert.perturb_batch([]) == []


def test_identity_and_repr(pert, tiny_causal_lm):
    # the fixture's max_new_tokens is not the default, so it is in the key
    assert (
        pert.identity
        == f"hf:{tiny_causal_lm}:max_new_tokens={pert.max_new_tokens}:prompt-{TEMPLATE_VERSION}"
    )
    assert pert.tokenizer.padding_side == "left"
    assert "HFPerturber(" in repr(pert) and "cpu" in repr(pert)
    assert pert.trust_remote_code is False


def test_missing_model_folder_is_a_perturber_error(tmp_path):
    with pytest.raises(PerturberError, match="does not exist"):
        HFPerturber(str(tmp_path / "no-such-model"), device="cpu")


def test_folder_without_a_model_is_a_perturber_error(tmp_path):
    with pytest.raises(PerturberError, match="cannot load"):
        HFPerturber(str(tmp_path), device="cpu")


def test_tokenizer_without_chat_template_is_rejected(tiny_decoder_rm_no_template):
    with pytest.raises(PerturberError, match="no chat template"):
        HFPerturber(str(tiny_decoder_rm_no_template), device="cpu")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 0},
        {"max_new_tokens": 0},
        {"max_new_tokens": True},
        {"max_new_tokens_cap": 0},
        {"max_new_tokens_cap": None},
        {"dtype": "int3"},
        {"device": "not-a-device"},
    ],
)
def test_bad_configuration_is_a_clear_error(tiny_causal_lm, kwargs):
    with pytest.raises(PerturberError):
        HFPerturber(str(tiny_causal_lm), **kwargs)
