"""The transparent RM's prompt-word cache: identical features and scores, and bounded."""

from __future__ import annotations

import random

from rmx_widgets.core.reward_models import transparent
from rmx_widgets.core.reward_models.transparent import (
    PROMPT_WORDS_CACHE,
    TransparentRewardModel,
    _content_words,
    _prompt_words,
)


def _uncached_overlap(prompt: str, response: str) -> float:
    want = _content_words(prompt)
    return len(want & _content_words(response)) / len(want) if want else 0.0


def _uncached_off_topic(prompt: str, response: str) -> float:
    want = _content_words(prompt)
    sents = transparent._sentences(response)
    if not sents or not want:
        return 0.0
    return sum(1 for s in sents if not (_content_words(s) & want)) / len(sents)


def _texts(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    words = ["python", "sorting", "lists", "quickly", "the", "with", "about", "binary", "trees"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) + "." for _ in range(n)]


def test_cached_prompt_words_give_the_same_features_and_scores():
    prompts, responses = _texts(60), _texts(60, seed=4)
    prompts += ["", "a an of", "Sorting? Sorting! sorting."]  # no content words, repeats
    responses += ["Sorting is quick.", "", "x"]
    _prompt_words.cache_clear()
    for p, r in zip(prompts * 2, responses * 2):  # twice: the second pass is all cache hits
        assert transparent.prompt_overlap(p, r) == _uncached_overlap(p, r)
        assert transparent.off_topic(p, r) == _uncached_off_topic(p, r)
        assert _prompt_words(p) == _content_words(p)
    assert _prompt_words.cache_info().hits >= len(prompts)
    rm = TransparentRewardModel()
    scores = rm.score(prompts, responses)
    _prompt_words.cache_clear()
    assert rm.score(prompts, responses) == scores  # cold cache: exactly the same floats


def test_the_cache_is_bounded():
    _prompt_words.cache_clear()
    for i in range(PROMPT_WORDS_CACHE + 50):
        _prompt_words(f"prompt number {i} about sorting")
    info = _prompt_words.cache_info()
    assert info.maxsize == PROMPT_WORDS_CACHE == 1024
    assert info.currsize == PROMPT_WORDS_CACHE and info.misses == PROMPT_WORDS_CACHE + 50


def test_a_cached_word_set_cannot_be_changed_by_a_caller():
    words = _prompt_words("sorting python lists")
    assert isinstance(words, frozenset) and words == {"sorting", "python", "lists"}
