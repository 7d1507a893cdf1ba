"""The offline default embedder: hashed word unigrams and bigrams, L2-normalised.

It lives apart from ``metrics`` (which re-exports it) because making it fast takes some
machinery: an offline run embeds every original once per rewrite and every rewrite shares
most of its words with its original, so hashing each word again was a fifth of the run.

The vectors are bit-for-bit what the plain loop gave (``bench/hostside.py`` keeps that loop as
its baseline and checks it), so semantic distances, and every table and cache that holds them,
are unchanged:

* each distinct feature (a word or a word pair) is hashed once per process, in a bounded LRU
  (``FEATURE_CACHE_SIZE`` entries); the hash is dim-independent, so every dim shares it;
* a text that occurs several times in one call is embedded once and its row copied;
* a row's entries are sums of +1 and -1, i.e. small integers, which float64 adds exactly in
  any order, so summing them with ``np.bincount`` gives the same numbers as the loop, and the
  norm and the division are the same operations on the same numbers.
"""

from __future__ import annotations

import functools
import hashlib
import itertools

import numpy as np

from rmx_widgets.core.edit_distance import TOKEN
from rmx_widgets.core.errors import RMXError

#: Distinct features whose hash is kept (about 100 bytes each: ~6 MB when full). English text
#: has far fewer distinct words; bigrams beyond it are hashed again, never wrongly.
FEATURE_CACHE_SIZE = 1 << 16


@functools.lru_cache(maxsize=FEATURE_CACHE_SIZE)
def feature_hash(feature: str) -> int:
    """A stable 64-bit hash of one feature (not Python's salted ``hash``): the same number on
    every machine and in every process."""
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def features(text: str) -> list[str]:
    """The features of ``text``: its lower-cased words (punctuation dropped), then each pair
    of consecutive words joined by a space."""
    words = [w.lower() for w in TOKEN.findall(text) if w[0].isalnum() or w[0] == "_"]
    return words + [f"{u} {v}" for u, v in itertools.pairwise(words)]


class HashingEmbedder:
    """Offline default embedder: hashed word unigrams + bigrams, L2-normalised.

    Lexical, not semantic: two paraphrases with no words in common are far apart. It exists so
    that the toolkit computes a distance with no model download and the same number on every
    machine (a stable hash, not Python's salted ``hash``). Case is ignored and punctuation is
    dropped, so the vector reflects word content rather than formatting. Each feature adds
    +1 or -1 (one hash bit picks the sign, so that collisions cancel on average instead of
    adding up) at the index its hash picks.
    """

    def __init__(self, dim: int = 1024) -> None:
        if not isinstance(dim, int) or dim < 2:
            raise RMXError(f"HashingEmbedder dim must be an integer >= 2, got {dim!r}.")
        self.dim = dim

    def _row(self, text: str) -> np.ndarray:
        """The unnormalised vector of one text: per index, the sum of its features' signs."""
        hashes = np.fromiter(map(feature_hash, features(text)), dtype=np.uint64)
        index = (hashes >> np.uint64(1)) % np.uint64(self.dim)
        signs = np.where(hashes & np.uint64(1), 1.0, -1.0)
        return np.bincount(index.astype(np.intp), weights=signs, minlength=self.dim)

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        first: dict[str, int] = {}
        for i, text in enumerate(texts):
            seen = first.setdefault(text, i)
            out[i] = out[seen] if seen != i else self._row(text)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def __repr__(self) -> str:
        return f"HashingEmbedder(dim={self.dim})"
