"""The host-side speed-ups (issue 16) change no output, and their caches stay bounded.

Semantic distances from ``HashingEmbedder`` are in published tables and stored results, so
its vectors must be bit-for-bit the old ones: checked against the old loop (copied below) and
against digests recorded with the old code (commit a5654aa). The markdown pieces cache, the
phrase trie and the ``find_arithmetic`` shortcut are checked against the old functions, copied
here too; ``tests/core/text/test_text_equivalence.py`` checks every rule's output.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re

import numpy as np
import pytest

from rmx_widgets.core import hashing
from rmx_widgets.core.edit_distance import TOKEN
from rmx_widgets.core.metrics import HashingEmbedder, semantic_distances
from rmx_widgets.core.text import arithmetic, markdown
from rmx_widgets.core.text.phrases import count_phrases, phrase_regex
from rmx_widgets.core.text.wordlists import (
    FOLLOW_UPS,
    HEDGES,
    PLEASANTRIES,
    PLEASANTRY_INTERJECTIONS,
    REFUSALS,
)

TEXTS = [
    "",
    " ",
    "!!! ... ???",
    "Hello, world!",
    "don't stop — can't STOP",
    "Ünïcödé İstanbul straße ſ K",
    "日本語のテキスト。 中文 한국어",
    "tab\tsep\nnew line_under_score 42 3.14",
    "word " * 5000,
    "The quick brown fox. The quick brown fox.",
    "a",
]
# sha256 of HashingEmbedder(dim)(TEXTS).tobytes(), recorded with the old code (a5654aa)
OLD_DIGESTS = {2: "0c6ac399f1874236", 3: "98cc43f9dc6a7a96", 1024: "cea2e73161ad810a"}


def old_embed(texts: list[str], dim: int) -> np.ndarray:
    """The old ``HashingEmbedder.__call__``, one hash and one ``+=`` per feature occurrence."""
    out = np.zeros((len(texts), dim), dtype=np.float64)
    for i, text in enumerate(texts):
        ws = [w.lower() for w in TOKEN.findall(text) if w[0].isalnum() or w[0] == "_"]
        for feature in ws + [f"{u} {v}" for u, v in itertools.pairwise(ws)]:
            value = int.from_bytes(
                hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little"
            )
            out[i, (value >> 1) % dim] += 1.0 if value & 1 else -1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


@pytest.mark.parametrize("dim", sorted(OLD_DIGESTS))
def test_embeddings_are_the_recorded_old_ones_bit_for_bit(dim: int) -> None:
    new = HashingEmbedder(dim)(TEXTS)
    assert hashlib.sha256(new.tobytes()).hexdigest()[:16] == OLD_DIGESTS[dim]
    assert new.tobytes() == old_embed(TEXTS, dim).tobytes()


def test_embeddings_equal_the_old_loop_on_varied_and_repeated_texts() -> None:
    rng = random.Random(3)
    vocab = ["the", "fox", "Ünï", "ß", "日本", "a_b", "x1", "it's", "’", "-", ".", "\n", "  "]
    texts = ["".join(rng.choice(vocab) + rng.choice(" ,") for _ in range(rng.randint(0, 60)))]
    texts += [
        "".join(rng.choice(vocab) + " " for _ in range(rng.randint(0, 60))) for _ in range(80)
    ]
    texts += texts[:20] + [texts[5]] * 5 + [""] * 3  # repeats within one call
    for dim in (2, 7, 1024, 4096):
        new = HashingEmbedder(dim)(texts)
        assert new.tobytes() == old_embed(texts, dim).tobytes(), dim
    # a repeated text gets its own row: editing one row leaves the other unchanged
    out = HashingEmbedder(16)(["same", "same"])
    out[0] += 1.0
    assert not np.array_equal(out[0], out[1])
    # the distance on a batch shaped like the Explainer's (one original, many rewrites)
    originals = [texts[1]] * 10 + [texts[2]] * 10
    rewrites = [t + " extra" for t in texts[3:23]]
    a = semantic_distances(originals, rewrites)
    b = semantic_distances(originals, rewrites, _OldEmbedder())
    assert a.tobytes() == b.tobytes()


class _OldEmbedder:
    def __call__(self, texts: list[str]) -> np.ndarray:
        return old_embed(texts, 1024)


def test_feature_cache_is_bounded() -> None:
    info = hashing.feature_hash.cache_info()
    assert info.maxsize == hashing.FEATURE_CACHE_SIZE
    n = hashing.FEATURE_CACHE_SIZE // 2 + 10  # words + bigrams > the cache
    text = " ".join(f"w{i}" for i in range(n))
    row = HashingEmbedder(64)([text])
    assert hashing.feature_hash.cache_info().currsize <= hashing.FEATURE_CACHE_SIZE
    assert row.tobytes() == old_embed([text], 64).tobytes()


# ---------------------------------------------------------------------------- markdown pieces
def old_parse(text: str) -> markdown.Doc:
    """The old ``parse``: the piece scanner run on every call."""
    pieces = markdown._pieces(text)
    if not pieces:
        return markdown.Doc(prefix=text)
    doc = markdown.Doc(prefix=text[: pieces[0][0]], trailing=text[pieces[-1][1] :])
    for n, (s, e, kind, marker) in enumerate(pieces):
        sep = text[e : pieces[n + 1][0]] if n + 1 < len(pieces) else ""
        doc.units.append(markdown.Unit(kind, text[s:e][len(marker) :], sep, marker))
    return doc


def old_find_arithmetic(text: str) -> list[arithmetic.ArithmeticStatement]:
    doc = old_parse(text)
    spans = markdown.inline_code_spans(text)
    chars = list(markdown._replace_spans(text, spans, lambda a, b: "x" * (b - a)))
    pos = len(doc.prefix)
    for u in doc.units:
        if u.kind == "code":
            chars[pos : pos + len(u.text)] = "x" * len(u.text)
        pos += len(u.text) + len(u.sep)
    return [
        arithmetic.ArithmeticStatement(
            st.start,
            st.end,
            text[st.start : st.end],
            st.stated,
            st.actual,
            st.result_start,
            st.result_text,
        )
        for st in arithmetic.equations("".join(chars))
    ]


MARKDOWN = [
    "",
    "# ",
    "#   \n## Header  \n- \n1. one\n",
    "Intro. 2 + 2 = 5.\n\n```\n3 * 3 = 10\n```\nAfter `1 + 1 = 3` code. 4 / 2 = 2.",
    "Ünï 1 + 1 = 2. 日本語。 ~~~\nunclosed 5 - 1 = 9",
    "no equals sign here, just text.",
    "x" * (markdown.PIECES_CACHE_MAX_CHARS + 5) + ". 2 + 2 = 4. Next.",
]


@pytest.mark.parametrize("text", MARKDOWN)
def test_parse_strip_code_and_arithmetic_equal_the_old_code(text: str) -> None:
    for _ in range(2):  # the second time from the cache
        doc, old = markdown.parse(text), old_parse(text)
        assert (doc.prefix, doc.trailing, doc.units) == (old.prefix, old.trailing, old.units)
        assert markdown.strip_code(text) == "\n".join(u.text for u in old.units if u.kind != "code")
        assert markdown.mask_inline_code(text) == markdown._replace_spans(
            text, markdown.inline_code_spans(text), lambda a, b: "x" * (b - a)
        )
        assert arithmetic.find_arithmetic(text) == old_find_arithmetic(text)


def test_pieces_cache_is_bounded_and_never_shared() -> None:
    markdown._remembered_pieces.cache_clear()
    for i in range(markdown.PIECES_CACHE_SIZE + 50):
        markdown.parse(f"Sentence {i}. Another one.")
    info = markdown._remembered_pieces.cache_info()
    assert info.maxsize == markdown.PIECES_CACHE_SIZE
    assert info.currsize == markdown.PIECES_CACHE_SIZE
    long = "word. " * (markdown.PIECES_CACHE_MAX_CHARS // 6 + 1)
    markdown.parse(long)
    assert markdown._remembered_pieces.cache_info().misses == info.misses  # not remembered
    # a rule edits the Doc it gets; the next parse of the same text is untouched
    first = markdown.parse("One. Two. Three.")
    first.units[0].body = "Changed."
    first.remove([1])
    again = markdown.parse("One. Two. Three.")
    assert again.render() == "One. Two. Three."
    assert isinstance(markdown.pieces("One. Two."), tuple)


# ---------------------------------------------------------------------------- phrase trie
def old_phrase_regex(phrases: list[str] | tuple[str, ...]) -> re.Pattern[str]:
    alts = [
        re.escape(p).replace("'", "['’]").replace(r"\ ", r"\s+")
        for p in sorted(set(phrases), key=len, reverse=True)
    ]
    return re.compile(r"(?<![\w'’])(?:" + "|".join(alts) + r")(?![\w'’])", re.IGNORECASE)


LISTS = {
    "hedges": HEDGES,
    "refusals": REFUSALS,
    "pleasantries": PLEASANTRIES,
    "interjections": PLEASANTRY_INTERJECTIONS,
    "follow_ups": FOLLOW_UPS,
    "nested": ("thank you", "thank you so much", "thanks", "thank", "i'm", "i'm sorry, but"),
    "unsafe": ("Thank You", "naïve", "x\ty", "a  b", " lead", "k"),  # flat alternation
}


@pytest.mark.parametrize("name", sorted(LISTS))
def test_phrase_trie_matches_what_the_flat_alternation_matches(name: str) -> None:
    words = LISTS[name]
    old, new = old_phrase_regex(words), phrase_regex(words)
    rng = random.Random(name)
    pool = [*words, "I", "'", "’", " ", "  ", "\n", "\t", "x", "ſ", "K", "İ", ",", "!", "-", "ly"]
    samples = ["thank you so muchly", "Thank  you so much!", "I’m sorry, but no", "thanks'"]
    for _ in range(3000):
        parts = [rng.choice(pool) for _ in range(rng.randint(0, 8))]
        samples.append("".join(p.upper() if rng.random() < 0.2 else p for p in parts))
    for s in samples:
        assert [m.span() for m in new.finditer(s)] == [m.span() for m in old.finditer(s)], s
        assert new.sub("#", s) == old.sub("#", s), s
        m_old, m_new = old.match(s), new.match(s)
        assert (m_new and m_new.span()) == (m_old and m_old.span()), s
    if name == "unsafe":
        assert new.pattern == old.pattern


def test_count_phrases_counts_outside_code_as_before() -> None:
    text = "I think so. Perhaps.\n```\nI think in code\n```\nMaybe `I think` not. I THINK yes."
    for words in (HEDGES, REFUSALS, PLEASANTRIES, FOLLOW_UPS):
        expected = len(old_phrase_regex(words).findall(markdown.strip_code(text)))
        assert count_phrases(text, words) == expected
    assert count_phrases(text, HEDGES) == 5  # I think, Perhaps, Maybe, I think (in `...`), I THINK
