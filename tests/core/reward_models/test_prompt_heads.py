"""The prompt-head cache (hf/prompt_heads.py): each pair tokenises only the text after its
prompt's cached head tokens, and the result must be *identical* to tokenising the whole text
(ids, prompt length, boundary flag, truncation) for single-turn, multi-turn and
system-message prompts, with and without a chat template."""

from __future__ import annotations

import pytest
from scoring_inputs import MULTI_TURN
from transformers import AutoTokenizer

from rmx_widgets.core.reward_models.hf.architecture import architecture_for
from rmx_widgets.core.reward_models.hf.encoding import InputEncoder
from rmx_widgets.core.reward_models.hf.prompt_heads import PromptHead, PromptHeads

SYSTEM = [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": "Name a prime number above ten."},
]
PROMPTS = ["How do I sort a list in Python?", MULTI_TURN, SYSTEM]
RESPONSES = ["Use sorted(items).", " leading space", "Paris<|end|>", "x", "I'm sorry, but no."]


def _encoders(path, cache: int = 1024) -> tuple[InputEncoder, InputEncoder]:
    from transformers import AutoConfig

    tok = AutoTokenizer.from_pretrained(path)
    arch = architecture_for(AutoConfig.from_pretrained(path))
    return InputEncoder(tok, arch, "tiny", False, prompt_cache=cache), InputEncoder(
        tok, arch, "tiny", False, prompt_cache=0
    )


@pytest.mark.parametrize("max_length", [None, 24])
def test_cached_heads_give_identical_inputs(tiny_decoder_rm, max_length):
    cached, plain = _encoders(tiny_decoder_rm)
    prompts = [p for p in PROMPTS for _ in RESPONSES]
    responses = RESPONSES * len(PROMPTS)
    # Twice: the first call learns every head, the second uses them for all pairs.
    for _ in range(2):
        got = cached.encode(prompts, responses, max_length)
        want = plain.encode(prompts, responses, max_length)
        assert got == want
    for p in PROMPTS:  # every prompt's head was learned and really is used
        from rmx_widgets.core.reward_models.hf.encoding import pair_key

        known, head = cached.heads.lookup((pair_key(p), True))
        assert known and head is not None and head.ids
        assert head.text.endswith("<|assistant|>")
    assert not plain.heads.lookup((pair_key(PROMPTS[0]), True))[0]


def test_no_template_no_special_token_keeps_whole_path(tiny_decoder_rm_no_template):
    """Without a template there is no special token before the response: nothing to cache,
    and the inputs are those of the whole-text path."""
    from rmx_widgets.core.reward_models.hf.encoding import pair_key

    cached, plain = _encoders(tiny_decoder_rm_no_template)
    prompts = [p for p in PROMPTS for _ in RESPONSES]
    responses = RESPONSES * len(PROMPTS)
    assert cached.encode(prompts, responses, None) == plain.encode(prompts, responses, None)
    assert cached.heads.lookup((pair_key(PROMPTS[0]), True)) == (True, None)


def test_head_that_does_not_reproduce_the_tokens_is_refused():
    """A head is cached only when head + tokens(rest) equals the whole tokenisation."""
    heads = PromptHeads({9})
    ids, offsets = [1, 9, 5, 6], [(0, 0), (0, 3), (3, 5), (5, 7)]
    text = "<a>bcdef"
    assert heads.head_of(text, ids, offsets, 3, lambda t: [([5, 6], [(0, 2), (2, 4)])]) == (
        PromptHead("<a>", (1, 9), ((0, 0), (0, 3)))
    )
    assert heads.head_of(text, ids, offsets, 3, lambda t: [([5, 7], [(0, 2), (2, 4)])]) is None
    # the special token must end at or before the response's first character
    assert heads.head_of(text, ids, offsets, 2, lambda t: [([5, 6], [])]) is None


def test_cache_is_bounded_least_recently_used_first():
    heads = PromptHeads(set(), size=2)
    heads.store("a", None)
    heads.store("b", None)
    assert heads.lookup("a")[0]  # "a" is now the most recently used
    heads.store("c", None)
    assert heads.lookup("a")[0] and heads.lookup("c")[0] and not heads.lookup("b")[0]


class _CountingTokenizer:
    """The real tokenizer, recording every text it is asked to tokenise."""

    def __init__(self, tok) -> None:
        self._tok = tok
        self.texts: list[str] = []

    def __call__(self, texts, *args, **kwargs):
        self.texts.extend([texts] if isinstance(texts, str) else texts)
        return self._tok(texts, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tok, name)


def test_each_prompt_is_tokenised_once(tiny_decoder_rm):
    """Tokenizer calls counted: the first call tokenises each prompt's text once (its first
    pair, whole, to learn the head) and only the text after the head for every other pair; a
    second call tokenises no prompt text at all. Without the cache every pair re-tokenises
    its prompt."""
    from transformers import AutoConfig

    long_prompt = "Explain how sorting a list in Python works, with examples. " * 3
    prompts = [long_prompt] * 6 + [MULTI_TURN] * 6
    responses = [f"Answer number {k}: use sorted." for k in range(12)]
    arch = architecture_for(AutoConfig.from_pretrained(tiny_decoder_rm))
    counts = {}
    for cache in (1024, 0):
        tok = _CountingTokenizer(AutoTokenizer.from_pretrained(tiny_decoder_rm))
        enc = InputEncoder(tok, arch, "tiny", False, prompt_cache=cache)
        first = enc.encode(prompts, responses, None)
        n_first = len(tok.texts)
        with_prompt = [t for t in tok.texts if "Explain how sorting" in t]
        assert enc.encode(prompts, responses, None) == first
        again = tok.texts[n_first:]
        counts[cache] = (with_prompt, again)
    with_prompt, again = counts[1024]
    assert len(with_prompt) == 1  # the long prompt: once, in its first pair
    assert len(again) == 12 and not any("Explain how sorting" in t for t in again)
    # only the text after the head: the response (and the template's closing markers)
    assert all(t.lstrip().startswith("Answer number") for t in again), again[:2]
    plain_with_prompt, plain_again = counts[0]
    assert len(plain_with_prompt) == 6 and len(plain_again) == 12
    assert sum(map(len, again)) < sum(map(len, plain_again)) / 3
