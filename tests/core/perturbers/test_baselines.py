"""The evaluation's baseline perturbers: random words, attribute-free paraphrase, Polyjuice.

All offline: the paraphrase runs against the local fake chat server and the tiny causal LM, and
Polyjuice against a tiny random GPT-2 with the Polyjuice special tokens, saved to a folder and
loaded through the real ``from_pretrained`` path.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
from fake_llm_server import FakeLLMServer

import rmx_widgets as rmx
from rmx_widgets.core.attributes import Attribute, get_attribute
from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.perturbers.base import PerturbationRequest, failure_kind
from rmx_widgets.core.perturbers.hf import HFPerturber
from rmx_widgets.core.perturbers.openai import OpenAIPerturber
from rmx_widgets.core.perturbers.paraphrase import ParaphrasePerturber
from rmx_widgets.core.perturbers.polyjuice import PolyjuicePerturber, parse_polyjuice
from rmx_widgets.core.perturbers.prompts import (
    ATTRIBUTE_TEMPLATE,
    PARAPHRASE_TEMPLATE,
    TEMPLATE_VERSION,
    build_messages,
    parse_reply,
)
from rmx_widgets.core.perturbers.random_words import RandomWordPerturber
from rmx_widgets.core.perturbers.rules import RulePerturber

KEY_ENV = "RMX_TEST_BASELINE_KEY"
VERBOSITY = get_attribute("verbosity")
CORRECTNESS = get_attribute("correctness")


def req(
    response: str,
    attribute: Attribute = VERBOSITY,
    direction: str = "worse",
    prompt: str = "How do I sort a list?",
) -> PerturbationRequest:
    return PerturbationRequest(prompt, response, attribute, direction)


# ============================================================================================
# Random words
# ============================================================================================

WORDS = [f"w{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(40)]  # 40 distinct words
FORTY = " ".join(WORDS)


def test_random_words_is_deterministic_and_attribute_blind():
    a = RandomWordPerturber(fraction=0.2, seed=3)
    b = RandomWordPerturber(fraction=0.2, seed=3)
    text = "Sorting is easy. Use sorted(items) to get a new list, or items.sort() in place."
    r1 = a.perturb_batch([req(text)])[0]
    assert r1.failure is None and r1.text != text
    assert b.perturb_batch([req(text)])[0].text == r1.text
    # same name, other definition: the meaning is never used, only the slot
    redefined = Attribute("verbosity", "something else entirely", "x", "y")
    assert a.perturb(req(text, redefined)).text == r1.text
    assert RandomWordPerturber(fraction=0.2, seed=4).perturb(req(text)).text != r1.text


def test_random_words_slots_get_different_draws():
    pert = RandomWordPerturber(fraction=0.1)
    slots = [
        (VERBOSITY, "worse"),
        (VERBOSITY, "better"),
        (CORRECTNESS, "worse"),
        (CORRECTNESS, "better"),
    ]
    texts = [pert.perturb(req(FORTY, a, d)).text for a, d in slots]
    assert len(set(texts)) == len(slots)


@pytest.mark.parametrize("fraction,expected", [(0.25, 10), (0.1, 4), (1.0, 40), (0.001, 1)])
def test_random_words_fraction_sets_the_number_of_edits(fraction, expected):
    replaced = RandomWordPerturber(fraction, operations=("replace",)).perturb(req(FORTY)).text
    tokens = replaced.split(" ")
    assert len(tokens) == 40
    assert sum(t != w for t, w in zip(tokens, WORDS)) == expected
    deleted = RandomWordPerturber(fraction, operations=("delete",)).perturb(req(FORTY))
    if expected == 40:
        assert deleted.text is None and "would leave nothing" in deleted.failure
        assert failure_kind(deleted.failure) == "not applicable"
    else:
        assert len(deleted.text.split(" ")) == 40 - expected
        assert set(deleted.text.split(" ")) < set(WORDS)
    inserted = RandomWordPerturber(fraction, operations=("insert",)).perturb(req(FORTY)).text
    assert len(inserted.split(" ")) == 40 + expected


def test_random_words_keeps_code_layout_and_punctuation():
    text = (
        "Here is how:\n\n- Use `sorted(items)` for a new list.\n- Use the method in place.\n\n"
        "```python\nprint(sorted([3, 1, 2]))\nitems.sort()\n```\nHope this helps, friend!"
    )
    pert = RandomWordPerturber(fraction=0.5, operations=("replace",))
    for attribute in (VERBOSITY, CORRECTNESS):
        out = pert.perturb(req(text, attribute)).text
        assert "```python\nprint(sorted([3, 1, 2]))\nitems.sort()\n```" in out
        assert "`sorted(items)`" in out
        assert out.count("\n") == text.count("\n")
        assert out.splitlines()[2].startswith("- ") and out.endswith("!")
        assert re.sub(r"[A-Za-z']+", "W", out) == re.sub(r"[A-Za-z']+", "W", text)
    # a deleted sentence-final word hands its full stop to the word before it
    out = RandomWordPerturber(0.5, operations=("delete",)).perturb(req("Short answer here.")).text
    assert out.endswith(".") and len(out.split()) == 1  # two of three words deleted


def test_random_words_vocabulary_and_case():
    pert = RandomWordPerturber(fraction=1.0, operations=("replace",), vocabulary=["zebra"])
    out = pert.perturb(req("Cat cat CAT cat.")).text
    assert out == "Zebra zebra ZEBRA zebra."
    assert pert.identity != RandomWordPerturber(1.0, operations=("replace",)).identity


def test_random_words_failures_are_recorded_with_reasons():
    pert = RandomWordPerturber()
    out = pert.perturb_batch(
        [req(""), req("   \n"), req("```\nx = 1\n```"), req("1 2 3"), req("Fine.")]
    )
    assert [o.text is None for o in out] == [True, True, True, True, False]
    assert failure_kind(out[0].failure) == "empty" and "empty response" in out[1].failure
    assert out[2].failure.startswith("no words") and failure_kind(out[3].failure) != "other"


def test_random_words_identity_and_arguments():
    base = RandomWordPerturber()
    assert base.identity == "random-words:v1:f0.15:s0:rdi"
    assert RandomWordPerturber(0.3).identity == "random-words:v1:f0.3:s0:rdi"
    assert RandomWordPerturber(seed=7).identity == "random-words:v1:f0.15:s7:rdi"
    assert RandomWordPerturber(operations=("delete", "insert")).identity.endswith(":di")
    assert base.attribute_aware is False and rmx.RandomWordPerturber is RandomWordPerturber
    for bad in (0, -0.1, 1.5, True, "0.1", None):
        with pytest.raises(PerturberError, match="fraction"):
            RandomWordPerturber(bad)
    for ops in ((), ("swap",), ("replace", "shuffle")):
        with pytest.raises(PerturberError, match="operations"):
            RandomWordPerturber(operations=ops)
    for vocab in ([], ["two words"], "abc", [""]):
        with pytest.raises(PerturberError, match="vocabulary"):
            RandomWordPerturber(vocabulary=vocab)
    with pytest.raises(PerturberError, match="seed"):
        RandomWordPerturber(seed=1.5)


# ============================================================================================
# Paraphrase
# ============================================================================================


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


def openai_backend(server: FakeLLMServer, **kw) -> OpenAIPerturber:
    return OpenAIPerturber(
        "fake-model", base_url=server.url, api_key_env=KEY_ENV, timeout=5.0, backoff_base=0.01, **kw
    )


def test_templates_keep_the_attribute_prompt_and_add_a_paraphrase():
    r = req("Use sorted(items).", CORRECTNESS, "better")
    assert ATTRIBUTE_TEMPLATE.messages(r) == build_messages(r)
    assert ATTRIBUTE_TEMPLATE.messages(r, system=False) == build_messages(r, system=False)
    assert ATTRIBUTE_TEMPLATE.tag == f"prompt-{TEMPLATE_VERSION}" == "prompt-v2"
    assert PARAPHRASE_TEMPLATE.tag == "paraphrase-v2"
    msgs = PARAPHRASE_TEMPLATE.messages(r)
    assert [m["role"] for m in msgs] == ["system", "user"]
    text = "\n".join(m["content"] for m in msgs)
    assert (
        "Paraphrase the response" in text
        and "<response>\nUse sorted(items).\n</response>" in text
        and "How do I sort a list?" in text
    )
    for leak in ("correctness", CORRECTNESS.definition, "better", "Quality:"):
        assert leak not in text
    folded = PARAPHRASE_TEMPLATE.messages(r, system=False)
    assert len(folded) == 1 and folded[0]["content"].startswith(msgs[0]["content"])
    assert (
        parse_reply('{"rewritten": "Call sorted(items)."}', r.response).text
        == "Call sorted(items)."
    )
    assert pickle.loads(pickle.dumps(PARAPHRASE_TEMPLATE)) == PARAPHRASE_TEMPLATE


def test_paraphrase_over_openai_sends_no_attribute_and_leaves_backend_alone(server):
    base = openai_backend(server)
    before = base.identity
    assert before == f"openai:fake-model@127.0.0.1:{server.port}:prompt-v2"
    para = ParaphrasePerturber(base)
    assert para.identity == f"openai:fake-model@127.0.0.1:{server.port}:paraphrase-v2"
    assert para.attribute_aware is False and getattr(base, "attribute_aware", True) is True
    requests = [
        req(
            f"Answer number {i}.",
            CORRECTNESS if i % 2 else VERBOSITY,
            "worse" if i % 3 else "better",
        )
        for i in range(6)
    ]
    seen = []
    out = para.perturb_batch(requests, on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == list(range(6))
    # the fake server tags [direction:attribute] only when the prompt names them
    assert [o.text for o in out] == [f"Answer number {i}. [?:?]" for i in range(6)]
    for rec in server.requests:
        text = rec.user_text
        assert "Paraphrase the response" in text
        for leak in (
            "verbosity",
            "correctness",
            VERBOSITY.definition,
            CORRECTNESS.definition,
            "worse",
            "better",
            "Quality:",
        ):
            assert leak not in text
    # the user's object is unchanged and still sends the attribute prompt
    assert base.identity == before and base.template is ATTRIBUTE_TEMPLATE
    assert base.stats["requests"] == 0 and para.stats["requests"] == 6
    assert base.perturb(req("Plain.")).text == "Plain. [worse:verbosity]"
    assert "Quality: verbosity" in server.requests[-1].user_text
    clone = pickle.loads(pickle.dumps(para.backend))
    assert clone.template == PARAPHRASE_TEMPLATE and clone.identity == para.identity
    assert ParaphrasePerturber(para).identity == para.identity  # re-wrapping is harmless


def test_named_backend_keeps_its_stem_and_bad_backends_are_refused(server):
    base = openai_backend(server, name="mylab")
    assert base.identity == "mylab:prompt-v2"
    assert ParaphrasePerturber(base).identity == "mylab:paraphrase-v2"
    assert (
        openai_backend(server, template=PARAPHRASE_TEMPLATE).identity
        == f"openai:fake-model@127.0.0.1:{server.port}:paraphrase-v2"
    )
    for bad in (RulePerturber(), RandomWordPerturber(), lambda p, r, a, d: r, "gpt-4o"):
        with pytest.raises(PerturberError, match="ParaphrasePerturber wraps an LLM perturber"):
            ParaphrasePerturber(bad)
    with pytest.raises(PerturberError, match="template must be a PromptTemplate"):
        openai_backend(server, template="paraphrase")
    with pytest.raises(PerturberError, match="template must be a PromptTemplate"):
        rmx.VLLMPerturber("any/model", template=None)
    assert rmx.ParaphrasePerturber is ParaphrasePerturber


def test_paraphrase_over_hf_shares_weights_and_uses_the_paraphrase_chat(tiny_causal_lm):
    base = HFPerturber(str(tiny_causal_lm), device="cpu", max_new_tokens=2)
    para = ParaphrasePerturber(base)
    # max_new_tokens=2 is not the default, so it is in the key (it changes the rewrites)
    assert para.identity == f"hf:{tiny_causal_lm}:max_new_tokens=2:paraphrase-v2"
    assert base.identity == f"hf:{tiny_causal_lm}:max_new_tokens=2:prompt-v2"
    assert para.backend.model is base.model and para.backend is not base
    chat = para.backend._chat_text(req("Some answer.", CORRECTNESS))
    assert "Paraphrase the response" in chat and "<|assistant|>" in chat
    assert "correctness" not in chat and "Quality:" in base._chat_text(req("Some answer."))
    seen = []
    out = para.perturb_batch(
        [req("Some answer."), req("Other.")], on_result=lambda i, r: seen.append(i)
    )
    assert seen == [0, 1]  # HFPerturber does not stream: reported when the batch is back
    # random weights never end a reply: cut at the 2-token budget, or unparseable if they did
    cut_or_bad = ("rewrite cut at max_new_tokens=2 ", "unparseable")
    assert all(o.text is None and o.failure.startswith(cut_or_bad) for o in out)
    assert para.stats["requests"] == 2 and base.stats["requests"] == 0


# ============================================================================================
# Polyjuice
# ============================================================================================

SPECIAL = ["<|endoftext|>", "<|perturb|>", "[BLANK]", "[SEP]", "[ANSWER]", "[EMPTY]"]
CORPUS = [
    (
        "It is great for kids. <|perturb|> [negation] It is [BLANK] great for kids. "
        "[SEP] not [ANSWER]<|endoftext|>"
    ),
    "The quick brown fox jumps over the lazy dog.",
    "Sort a list in Python with sorted(items) or items.sort(). Hope this helps!",
]


def build_tiny_polyjuice(path: Path, *, seed: int = 0) -> Path:
    """A 1-layer random GPT-2 whose tokenizer knows Polyjuice's special tokens."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        GenerationConfig,
        GPT2Config,
        GPT2LMHeadModel,
        PreTrainedTokenizerFast,
    )

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=350,
        special_tokens=SPECIAL,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.save_pretrained(str(path))
    torch.manual_seed(seed)
    eos = fast.convert_tokens_to_ids("<|endoftext|>")
    cfg = GPT2Config(
        vocab_size=len(fast),
        n_positions=96,
        n_embd=32,
        n_layer=1,
        n_head=2,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    model = GPT2LMHeadModel(cfg)
    model.generation_config = GenerationConfig(eos_token_id=eos, bos_token_id=eos, pad_token_id=eos)
    model.save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def tiny_polyjuice(tmp_path_factory):
    return build_tiny_polyjuice(tmp_path_factory.mktemp("polyjuice"))


@pytest.mark.parametrize(
    "generated,code,expected",
    [
        (
            "It is great. <|perturb|> [negation] It is not great.<|endoftext|>",
            "negation",
            "It is not great.",
        ),
        (" [lexical] A  big\n dog.<|endoftext|><|endoftext|>", "lexical", "A big dog."),
        (
            (
                "It is great. <|perturb|> [negation] It is [BLANK] great for [BLANK]. [SEP] "
                "not [ANSWER] adults [ANSWER]<|endoftext|>"
            ),
            "negation",
            "It is not great for adults.",
        ),
        (
            "x <|perturb|> [delete] It is [BLANK] great. [SEP] [EMPTY] [ANSWER]<|endoftext|>",
            "delete",
            "It is great.",
        ),
        ("x <|perturb|> [negation] It is great.", "negation", None),  # cut off: no end token
        ("x <|perturb|> [lexical] It is great.<|endoftext|>", "negation", None),  # other code
        ("x <|perturb|> [negation] It is [BLANK] great.<|endoftext|>", "negation", None),
        (
            (
                "x <|perturb|> [negation] It is [BLANK] great. [SEP] not [ANSWER] very [ANSWER]"
                "<|endoftext|>"
            ),
            "negation",
            None,
        ),  # two answers, one blank
        (
            "x <|perturb|> [negation] It [BLANK] is [BLANK]. [SEP] not [ANSWER]<|endoftext|>",
            "negation",
            None,
        ),  # one answer, two blanks
        ("x <|perturb|> [negation] It is [BLANK]. [SEP] not<|endoftext|>", "negation", None),
        ("x <|perturb|> [negation] A [SEP] b [SEP] c [ANSWER]<|endoftext|>", "negation", None),
        ("x <|perturb|> [negation] It is fine [ANSWER]<|endoftext|>", "negation", None),
        ("x <|perturb|> [negation]   <|endoftext|>", "negation", None),
        ("x <|perturb|> [negation] [BLANK] [SEP] [EMPTY] [ANSWER]<|endoftext|>", "negation", None),
        ("no marker at all<|endoftext|>", "negation", None),
    ],
)
def test_parse_polyjuice(generated, code, expected):
    assert parse_polyjuice(generated, code) == expected


def test_polyjuice_unavailable_reason(monkeypatch, tmp_path, tiny_polyjuice):
    from rmx_widgets.core import availability

    name = "rmx-test-nobody/polyjuice-absent"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reason = PolyjuicePerturber.unavailable_reason(name)
    assert reason and "HF_HUB_OFFLINE" in reason and name in reason
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(availability, "reachable", lambda *a, **k: False)
    assert "unreachable" in PolyjuicePerturber.unavailable_reason(name)
    pert = PolyjuicePerturber(name, device="cpu")  # lazy: constructing never loads
    with pytest.raises(
        PerturberError,
        match=re.escape(
            f"Polyjuice model '{name}' cannot be loaded: huggingface.co is unreachable "
            "(offline?); the study runs without it"
        ),
    ):
        pert.perturb_batch([req("It is great.")])
    assert "does not exist" in PolyjuicePerturber.unavailable_reason(str(tmp_path / "nope"))
    assert "config.json" in PolyjuicePerturber.unavailable_reason(str(tmp_path))
    assert PolyjuicePerturber.unavailable_reason(str(tiny_polyjuice)) is None


def test_polyjuice_folder_that_does_not_load_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "no-such-architecture"}')
    pert = PolyjuicePerturber(str(tmp_path), device="cpu")
    with pytest.raises(
        PerturberError,
        match=re.escape(f"Polyjuice model '{tmp_path}' cannot be loaded: ")
        + r".+; the study runs without",
    ):
        pert.load()
    assert pert.model is None


RESPONSES = [
    "Sorting is easy. Use sorted(items) for a new list! Or sort in place.",
    "- First item here.\n- Second item there.\n\n```\ncode();\n```",
    "A single sentence answer",
]


def test_random_polyjuice_outputs_become_recorded_failures(tiny_polyjuice):
    pert = PolyjuicePerturber(str(tiny_polyjuice), device="cpu", max_new_tokens=6, batch_size=2)
    requests = [
        req(r, a, d)
        for r in RESPONSES
        for a in (VERBOSITY, CORRECTNESS)
        for d in ("worse", "better")
    ] + [req(""), req("```\nonly code\n```")]
    seen = []
    out = pert.perturb_batch(requests, on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == list(range(len(requests)))
    assert len(out) == len(requests)
    assert all(o.text is None and o.failure for o in out)  # cut off at 6 tokens: no end token
    assert all(
        "could not be parsed" in o.failure and failure_kind(o.failure) == "unparseable"
        for o in out[:-2]
    )
    assert "empty response" in out[-2].failure and out[-1].failure.startswith("no sentence")
    assert pert.stats == {"requests": len(requests), "batches": 6, "failures": len(requests)}
    again = PolyjuicePerturber(str(tiny_polyjuice), device="cpu", max_new_tokens=6)
    assert [o.failure for o in again.perturb_batch(requests)] == [o.failure for o in out]
    assert pert.attribute_aware is False and rmx.PolyjuicePerturber is PolyjuicePerturber


def test_polyjuice_plans_differ_by_slot_and_stay_in_prose():
    pert = PolyjuicePerturber("/nonexistent/never-loaded", device="cpu")
    text = RESPONSES[0] + "\n\n```\nprint('x')\n```\n- Last point."
    slots = [
        (a, d)
        for a in (VERBOSITY, CORRECTNESS, get_attribute("clarity"), get_attribute("manner"))
        for d in ("worse", "better")
    ]
    plans = [pert.plan(req(text, a, d)) for a, d in slots]
    assert plans == [pert.plan(req(text, a, d)) for a, d in slots]
    assert len(set(plans)) > 2
    sentences = {text[a:b] for (a, b), _ in plans}
    assert sentences <= {
        "Sorting is easy.",
        "Use sorted(items) for a new list!",
        "Or sort in place.",
        "Last point.",
    }


def test_forced_polyjuice_output_is_parsed_and_spliced(tiny_polyjuice, monkeypatch):
    import torch

    pert = PolyjuicePerturber(
        str(tiny_polyjuice), device="cpu", max_new_tokens=20, ctrl_codes=("negation",)
    )
    pert.load()
    tok = pert.tokenizer
    continuations = [
        " It is [BLANK] easy. [SEP] not [ANSWER]<|endoftext|>",
        " garbage [ANSWER]<|endoftext|>",
    ]
    real_generate = pert.model.generate

    def forced(**kw):
        real = real_generate(**kw)  # the real call runs; its random tokens are replaced
        ids = kw["input_ids"]
        rows = []
        for k in range(ids.shape[0]):
            new = tok(continuations[k % 2], add_special_tokens=False)["input_ids"]
            new = new + [tok.eos_token_id] * (20 - len(new))
            rows.append(torch.cat([ids[k], torch.tensor(new)]))
        assert real.shape[0] == ids.shape[0]
        return torch.stack(rows)

    monkeypatch.setattr(pert.model, "generate", forced)
    monkeypatch.setattr(pert, "plan", lambda r: ((0, 16), "negation"))
    text = "Sorting is easy. Use sorted(items)."
    out = pert.perturb_batch([req(text), req(text, CORRECTNESS)])
    assert out[0].failure is None
    assert out[0].text == "It is not easy. Use sorted(items)."
    assert out[1].text is None and "could not be parsed for code [negation]" in out[1].failure


def test_polyjuice_long_sentences_and_arguments(tiny_polyjuice):
    pert = PolyjuicePerturber(str(tiny_polyjuice), device="cpu", max_new_tokens=8)
    long = " ".join(["word"] * 200) + "."
    out = pert.perturb_batch([req(long), req("Short one.")])
    assert out[0].text is None and "too long for Polyjuice" in out[0].failure
    assert out[1].failure and "too long" not in out[1].failure
    assert pert.identity == (
        f"polyjuice:{tiny_polyjuice}:v1:s0:t8:greedy:negation,quantifier,"
        "shuffle,lexical,resemantic,insert,delete,restructure"
    )
    other = PolyjuicePerturber(
        str(tiny_polyjuice), seed=1, max_new_tokens=8, ctrl_codes=("lexical",), do_sample=True
    )
    assert other.identity == f"polyjuice:{tiny_polyjuice}:v1:s1:t8:sample:lexical"
    sampled = [o.failure for o in other.perturb_batch([req("Short one."), req("Another.")])]
    assert sampled == [
        o.failure
        for o in PolyjuicePerturber(
            str(tiny_polyjuice), seed=1, max_new_tokens=8, ctrl_codes=("lexical",), do_sample=True
        ).perturb_batch([req("Short one."), req("Another.")])
    ]
    for kwargs in (
        {"ctrl_codes": ("negate",)},
        {"ctrl_codes": ()},
        {"max_new_tokens": 0},
        {"seed": "0"},
        {"batch_size": 0},
        {"name_or_path": ""},
    ):
        with pytest.raises(PerturberError):
            PolyjuicePerturber(**kwargs)
