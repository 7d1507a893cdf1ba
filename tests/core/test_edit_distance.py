"""The token edit distance is bounded (issue 12, scale limits) and unchanged on normal inputs.

Before: 20 k / 80 k / 320 k-word pairs took 6 / 13 / 86 s and a 200 MB one never finished. Now
every pair costs at most about ``EXACT_CELLS`` cells plus linear tokenisation; pairs of normal
size get exactly the number the old implementation (kept below as the reference) gave.
"""

from __future__ import annotations

import random
import re
import time
import warnings

import pytest
from rapidfuzz.distance import Levenshtein

import rmx_widgets as rmx
from rmx_widgets.core import edit_distance
from rmx_widgets.core.edit_distance import token_edit_distance
from rmx_widgets.core.metrics import syntactic_distance, syntactic_distances

_OLD_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


def reference(a: str, b: str) -> float:
    """``syntactic_distance`` as it was before the bound (unbounded, quadratic)."""
    return float(Levenshtein.normalized_distance(_OLD_TOKEN.findall(a), _OLD_TOKEN.findall(b)))


def _words(rng: random.Random, n: int) -> str:
    vocab = ["the", "cat", "don't", "naïve", "日本", "x_1", "42", "it’s", "Ünïcode", "a"]
    punct = ["", "", "", ".", ",", "!", "?", " -", "'", "\n", "  "]
    return " ".join(rng.choice(vocab) + rng.choice(punct) for _ in range(n))


def _edit(rng: random.Random, text: str, edits: int) -> str:
    toks = text.split(" ")
    for _ in range(edits):
        i = rng.randrange(len(toks) + 1)
        op = rng.choice("rdi")
        if op == "r" and i < len(toks):
            toks[i] = rng.choice(["dog", "perhaps,", "!!", "can't"])
        elif op == "d" and i < len(toks):
            del toks[i]
        else:
            toks.insert(i, rng.choice(["very", "indeed.", "—", "o'clock"]))
    return " ".join(toks)


def _examples():
    rng = random.Random(12)
    pairs = [
        ("", ""),
        ("", "Hello."),
        ("Hello.", ""),
        ("don't stop!", "don't stop?"),
        ("A B C D", "A B X D"),
        ("same text", "same text"),
        ("   ", "\n\t"),
        ("日本語 テキスト", "日本語のテキスト!"),
        ("it’s o'clock", "it's o’clock"),
    ]
    for comp in rmx.sample_comparisons()[:6]:
        for side in ("response_a", "response_b"):
            text = getattr(comp, side)
            pairs.append((text, _edit(rng, text, 3)))
    for n in (1, 5, 40, 300, 2000):
        base = _words(rng, n)
        pairs += [(base, _edit(rng, base, k)) for k in (1, 4, n // 3 + 1)]
        pairs.append((base, _words(rng, n)))
    return pairs


def test_normal_inputs_give_exactly_the_old_distance():
    for a, b in _examples():
        got = token_edit_distance(a, b)
        assert got.exact
        assert syntactic_distance(a, b) == reference(a, b), (a[:40], b[:40])
    a, b = zip(*_examples())
    assert list(syntactic_distances(list(a), list(b))) == [reference(x, y) for x, y in zip(a, b)]


@pytest.mark.parametrize("long_text", [0, 60])
def test_the_bounded_paths_are_exact_or_an_upper_bound(monkeypatch, long_text):
    """With tiny limits every path runs on small inputs: affix stripping at token-safe cuts,
    piecewise encoding, the band and the upper bound."""
    monkeypatch.setattr(edit_distance, "EXACT_CELLS", 400)
    monkeypatch.setattr(edit_distance, "APPROXIMATE_CELLS", 400)
    monkeypatch.setattr(edit_distance, "LONG_TEXT", long_text)
    monkeypatch.setattr(edit_distance, "_PIECE", 7)
    monkeypatch.setattr(edit_distance, "_BLOCK", 5)
    exact = approximate = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for a, b in _examples():
            got = token_edit_distance(a, b)
            want = Levenshtein.distance(_OLD_TOKEN.findall(a), _OLD_TOKEN.findall(b))
            assert got.length == max(len(_OLD_TOKEN.findall(a)), len(_OLD_TOKEN.findall(b)))
            if got.exact:
                exact += 1
                assert got.distance == want, (a[:40], b[:40])
                assert got.normalized == reference(a, b)
            else:
                approximate += 1
                assert want <= got.distance <= got.length
    assert exact > 20 and approximate > 3
    assert sum("upper bound" in str(w.message) for w in caught) == approximate


def _pair(words: int, related: bool) -> tuple[str, str]:
    rng = random.Random(words)
    vocab = [f"w{i}" for i in range(5000)] + [".", ",", "don't"]
    a = " ".join(rng.choice(vocab) for _ in range(words))
    if not related:
        return a, " ".join(rng.choice(vocab) for _ in range(words))
    toks = a.split(" ")
    toks[0], toks[len(toks) // 2], toks[-1] = "Hello", "changed", "bye"
    return a, " ".join(toks)


@pytest.mark.parametrize("related", [True, False])
def test_a_200k_word_pair_finishes_quickly(related):
    a, b = _pair(200_000, related)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = token_edit_distance(a, b)
    # ~1 s on an idle core, ~6 s on 2 cores at load 11 (the old code: minutes)
    assert time.perf_counter() - start < 30
    assert got.length == 200_000 and 0 <= got.normalized <= 1
    if related:  # a localised rewrite of a long response stays exact
        assert got.exact and got.distance == 3
    else:
        assert not got.exact and got.distance > 0.9 * got.length


def test_a_long_response_with_a_small_edit_is_exact_and_linear():
    """Megabytes that differ in one place: the common affixes are cut off as text."""
    unit = "Lorem ipsum, dolor sit amet. "
    a = unit * 200_000  # 5.8 MB, 1.4 M tokens
    b = a[: len(unit) * 100_000] + "Extra words here. " + a[len(unit) * 100_000 :]
    start = time.perf_counter()
    got = token_edit_distance(a, b)
    assert time.perf_counter() - start < 30
    assert got.exact and got.distance == 4 and got.length == len(_OLD_TOKEN.findall(b))
