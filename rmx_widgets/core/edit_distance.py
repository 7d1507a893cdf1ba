"""The token edit distance behind ``syntactic_distance``, bounded in time and memory.

The exact Levenshtein distance of two token sequences costs ``n x m`` cells (bit-parallel in
rapidfuzz, but still quadratic): two 300 k-word responses take minutes and a 200 MB one never
finishes. So one long pair cannot stall a job:

1. a pair whose texts total at most ``LONG_TEXT`` characters is tokenised as a whole; a longer
   one first loses its common character prefix and suffix (cut where no token spans the cut,
   so the tokens are unchanged) and the rest is tokenised piece by piece into a compact code
   string;
2. if ``n x m <= EXACT_CELLS`` (about 31 k tokens each), the distance is the exact one, the
   same number as always;
3. otherwise the common token prefix and suffix are dropped (they cost nothing) and the rest
   is exact when it fits ``EXACT_CELLS``, or when its distance is within the band that
   ``APPROXIMATE_CELLS`` cells allow (rapidfuzz's banded algorithm: a long response with a
   localised rewrite);
4. only a long pair that differs a lot is left: its distance is an upper bound (the two
   sequences cut into proportional pieces, each pair of pieces aligned exactly), flagged
   ``exact=False`` and announced by one warning.

A pair costs at most about ``EXACT_CELLS`` cells (about a second), or linear time for very long
pairs (a band and pieces of one machine word), plus linear tokenisation. The upper bound is
crude when a long pair is shifted by many scattered insertions: it aligns proportional pieces.
"""

from __future__ import annotations

import re
import warnings
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

#: cells (token pairs) of one exact alignment at most; bigger pairs use steps 3-4 above
EXACT_CELLS = 10**9
#: cells of the banded check and of the upper bound each (steps 3-4), so a pair never costs
#: much more than one exact alignment of ``EXACT_CELLS``
APPROXIMATE_CELLS = EXACT_CELLS // 4
#: pairs of texts longer than this (characters, both together) are tokenised in pieces
LONG_TEXT = 2_000_000
_PIECE = 1 << 20  # characters per tokenisation piece of a long text
_BLOCK = 1 << 16  # characters compared at once when looking for a common affix

# The token of ``metrics.tokenize``: words (keeping in-word apostrophes) or one punctuation mark.
TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
# A position no token spans: before whitespace or a punctuation mark other than an apostrophe.
_BOUNDARY = re.compile(r"[^\w'’]")
# Code points for token ids in a code string, skipping the surrogates (they cannot be encoded).
_SURROGATES = range(0xD800, 0xE000)
_MAX_CODES = 0x110000 - len(_SURROGATES)

APPROXIMATE_WARNING = (
    "syntactic_distance: a pair of responses is too long and too different for the exact "
    f"token edit distance within its bound ({EXACT_CELLS:.0e} token pairs); its distance is "
    "an upper bound (see rmx_widgets.core.edit_distance)."
)


@dataclass(frozen=True)
class EditDistance:
    """``distance`` edits between two token sequences, the longer of which has ``length``
    tokens; ``exact`` is ``False`` when ``distance`` is an upper bound (a very long pair)."""

    distance: int
    length: int
    exact: bool = True

    @property
    def normalized(self) -> float:
        """``distance / length`` in [0, 1]; 0 for two empty texts."""
        return self.distance / self.length if self.length else 0.0


def token_edit_distance(a: str, b: str) -> EditDistance:
    """The token-level Levenshtein distance of ``a`` and ``b``, bounded (module docstring)."""
    if a == b:
        return EditDistance(0, _count(a, 0, len(a)))
    if len(a) + len(b) <= LONG_TEXT:
        ta, tb = TOKEN.findall(a), TOKEN.findall(b)
        length = max(len(ta), len(tb))
        if len(ta) * len(tb) <= EXACT_CELLS:
            return EditDistance(Levenshtein.distance(ta, tb), length)
        return _bounded(*_strip_tokens(ta, tb), length)
    i, ja, jb = _common_affixes(a, b)
    affix = _count(a, 0, i) + _count(a, ja, len(a))
    ra, rb = _encode_pair(a[i:ja], b[i:jb])
    return _bounded(ra, rb, affix + max(len(ra), len(rb)))


def _bounded(ra: Sequence, rb: Sequence, length: int) -> EditDistance:
    """Steps 3-4: ``ra``/``rb`` are the sequences without their common affixes."""
    n, m = len(ra), len(rb)
    if n * m <= EXACT_CELLS:
        return EditDistance(Levenshtein.distance(ra, rb), length)
    # A band of 31 fits one machine word (2 x 31 + 1 <= 64): linear, however long the pair.
    band = max(31, APPROXIMATE_CELLS // (2 * max(n, m)))
    d = Levenshtein.distance(ra, rb, score_cutoff=band)
    if d <= band:
        return EditDistance(d, length)
    size = max(64, APPROXIMATE_CELLS // max(n, m))  # pieces of 64 tokens: one word each
    pieces = -(-max(n, m) // size)
    upper = sum(
        Levenshtein.distance(
            ra[k * n // pieces : (k + 1) * n // pieces], rb[k * m // pieces : (k + 1) * m // pieces]
        )
        for k in range(pieces)
    )
    warnings.warn(APPROXIMATE_WARNING, UserWarning, stacklevel=4)
    return EditDistance(max(band + 1, min(upper, max(n, m))), length, exact=False)


def _strip_tokens(ta: list[str], tb: list[str]) -> tuple[list[str], list[str]]:
    """``ta`` and ``tb`` without their common prefix and suffix (same distance)."""
    p, short = 0, min(len(ta), len(tb))
    while p < short and ta[p] == tb[p]:
        p += 1
    s = 0
    while s < short - p and ta[-1 - s] == tb[-1 - s]:
        s += 1
    return ta[p : len(ta) - s], tb[p : len(tb) - s]


def _common_affixes(a: str, b: str) -> tuple[int, int, int]:
    """``(i, ja, jb)`` with ``a[:i] == b[:i]`` and ``a[ja:] == b[jb:]``, each cut before a
    boundary character (``_BOUNDARY``: no token spans it), ``i <= ja`` and ``i <= jb``."""
    short = min(len(a), len(b))
    p = 0
    while p + _BLOCK <= short and a[p : p + _BLOCK] == b[p : p + _BLOCK]:
        p += _BLOCK
    while p < short and a[p] == b[p]:
        p += 1
    i = _last_boundary(a, p)
    limit, la, lb = short - i, len(a), len(b)
    s = 0
    while s + _BLOCK <= limit and a[la - s - _BLOCK : la - s] == b[lb - s - _BLOCK : lb - s]:
        s += _BLOCK
    while s < limit and a[la - 1 - s] == b[lb - 1 - s]:
        s += 1
    ja = _next_boundary(a, la - s, la)
    return i, ja, lb - (la - ja)


def _last_boundary(text: str, end: int) -> int:
    """The last boundary position before ``end`` (0, an empty prefix, when there is none)."""
    start = end
    while start > 0:
        start = max(0, start - _BLOCK)
        found = [m.start() for m in _BOUNDARY.finditer(text, start, end)]
        if found:
            return found[-1]
    return 0


def _next_boundary(text: str, start: int, end: int) -> int:
    """The first boundary position in ``text[start:end]`` (``end`` when there is none)."""
    m = _BOUNDARY.search(text, start, end)
    return m.start() if m else end


def _pieces(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """``(pos, endpos)`` spans of ``text[start:end]``, about ``_PIECE`` long, cut before a
    boundary character so that each span tokenises on its own."""
    while start < end:
        cut = end if start + _PIECE >= end else _next_boundary(text, start + _PIECE, end)
        yield start, cut
        start = cut


def _count(text: str, start: int, end: int) -> int:
    return sum(len(TOKEN.findall(text, s, e)) for s, e in _pieces(text, start, end))


class _TooManyTokens(Exception):
    pass


def _encode_pair(a: str, b: str) -> tuple[Sequence, Sequence]:
    """The tokens of ``a`` and ``b`` as one character each, one code per distinct token (a
    code string: rapidfuzz's fastest input, 4 bytes a token), or as arrays of ids when there
    are more distinct tokens than code points."""
    codes: dict[str, str] = {}
    try:
        return _encode(a, codes), _encode(b, codes)
    except _TooManyTokens:
        ids: dict[str, int] = {}
        return _encode_ids(a, ids), _encode_ids(b, ids)


def _encode(text: str, codes: dict[str, str]) -> str:
    out: list[str] = []
    for s, e in _pieces(text, 0, len(text)):
        tokens = TOKEN.findall(text, s, e)
        for tok in dict.fromkeys(tokens).keys() - codes.keys():
            n = len(codes)
            if n >= _MAX_CODES:
                raise _TooManyTokens
            codes[tok] = chr(n if n < _SURROGATES.start else n + len(_SURROGATES))
        out.append("".join(map(codes.__getitem__, tokens)))
    return "".join(out)


def _encode_ids(text: str, ids: dict[str, int]) -> array[int]:
    out = array("q")
    for s, e in _pieces(text, 0, len(text)):
        out.extend(ids.setdefault(t, len(ids)) for t in TOKEN.findall(text, s, e))
    return out
