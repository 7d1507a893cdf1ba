"""The random word-level perturbation: an attribute-blind baseline for the evaluation.

If attribute-targeted rewrites flip a reward model's preference no more often than random edits
of the same size, the flips say little about the attribute. ``RandomWordPerturber`` makes such
edits: it replaces, deletes or inserts a fixed fraction of the response's words, chosen at
random, and never reads the attribute's name, definition or direction for *what* to change.

Each (response, attribute, direction) slot still gets its own draw: the random generator is
seeded with a SHA-256 of the seed, the response, the attribute name and the direction. The
Explainer asks every perturber once per slot, so an attribute-blind perturber that gave the same
text for every slot would be scored as one sample repeated, not as many random samples; with a
per-slot seed the baseline gets as many independent draws as the method, reproducibly.

Words are whitespace-separated tokens with at least one letter; punctuation stays attached
(a replaced word keeps its surrounding brackets and commas, a deleted sentence-final word hands
its full stop to the word before it). Numbers, list markers, inline code and fenced code blocks
are never touched, and line breaks survive deletions.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import (
    BasePerturber,
    PerturbationRequest,
    PerturbationResult,
)

VERSION = "v1"
OPERATIONS: tuple[str, ...] = ("replace", "delete", "insert")

#: Common English words used as replacements and insertions (with the response's own words).
COMMON_WORDS: tuple[str, ...] = (
    "the",
    "a",
    "an",
    "and",
    "or",
    "but",
    "so",
    "of",
    "to",
    "in",
    "on",
    "at",
    "for",
    "with",
    "from",
    "by",
    "about",
    "as",
    "into",
    "over",
    "after",
    "before",
    "under",
    "between",
    "it",
    "this",
    "that",
    "these",
    "those",
    "they",
    "we",
    "you",
    "he",
    "she",
    "there",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "have",
    "has",
    "had",
    "do",
    "does",
    "did",
    "can",
    "could",
    "will",
    "would",
    "should",
    "may",
    "might",
    "must",
    "make",
    "take",
    "give",
    "find",
    "know",
    "think",
    "see",
    "come",
    "go",
    "get",
    "use",
    "time",
    "year",
    "people",
    "way",
    "day",
    "thing",
    "world",
    "life",
    "hand",
    "part",
    "place",
    "case",
    "point",
    "group",
    "number",
    "fact",
    "idea",
    "water",
    "house",
    "book",
    "good",
    "new",
    "first",
    "last",
    "long",
    "great",
    "little",
    "old",
    "big",
    "high",
    "small",
    "large",
    "next",
    "early",
    "young",
    "important",
    "few",
    "public",
    "same",
    "very",
    "also",
    "just",
    "only",
    "then",
    "now",
    "well",
    "even",
    "still",
    "often",
    "here",
    "never",
    "always",
    "really",
    "quite",
    "almost",
    "perhaps",
    "again",
    "together",
)

_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.DOTALL | re.MULTILINE)
_PIECE = re.compile(r"(\s*)(\S+)")
_LETTER = re.compile(r"[^\W\d_]")
_CORE = re.compile(r"^(?P<pre>\W*)(?P<core>.*?)(?P<suf>\W*)$", re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?;:]+$")


@dataclass
class _Token:
    space: str  # whitespace before the token
    text: str
    segment: int  # index of the prose segment it belongs to


def _slot_rng(seed: int, request: PerturbationRequest) -> random.Random:
    key = "\x1f".join((str(seed), request.response, request.attribute.name, request.direction))
    return random.Random(int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big"))


def _is_word(text: str) -> bool:
    return "`" not in text and bool(_LETTER.search(text))


def _split(text: str) -> tuple[str, str, str]:
    m = _CORE.match(text)
    assert m is not None  # the pattern matches every string
    return m.group("pre"), m.group("core"), m.group("suf")


def _match_case(word: str, like: str) -> str:
    if like[:1].isupper() and not (len(like) > 1 and like.isupper()):
        return word[:1].upper() + word[1:]
    if len(like) > 1 and like.isupper():
        return word.upper()
    return word


class RandomWordPerturber(BasePerturber):
    """Replace, delete or insert ``fraction`` of a response's words at random (at least one).

    ``operations`` is any non-empty subset of ``("replace", "delete", "insert")``; each edit
    picks one of them uniformly. Replacement and inserted words are drawn from the response's
    own words plus ``vocabulary`` (default: ``COMMON_WORDS``). ``seed`` changes every draw;
    it is part of ``identity`` with the version, the fraction and the operations, because
    ``identity`` is the cache key of the rewrites.
    """

    attribute_aware = False

    def __init__(
        self,
        fraction: float = 0.15,
        seed: int = 0,
        operations: Sequence[str] = OPERATIONS,
        vocabulary: Sequence[str] | None = None,
    ) -> None:
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, (int, float))
            or not 0 < fraction <= 1
        ):
            raise PerturberError(
                f"fraction must be a number in (0, 1], the share of the "
                f"response's words to edit; got {fraction!r}."
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise PerturberError(f"seed must be an integer, got {seed!r}.")
        if isinstance(operations, str):
            operations = (operations,)
        ops = tuple(dict.fromkeys(operations))
        unknown = [op for op in ops if op not in OPERATIONS]
        if not ops or unknown:
            raise PerturberError(
                f"operations must be a non-empty subset of {OPERATIONS}; got {tuple(operations)!r}."
            )
        if vocabulary is None:
            vocab = COMMON_WORDS
            vocab_tag = ""
        else:
            if isinstance(vocabulary, str):
                raise PerturberError("vocabulary must be a sequence of words, not one string.")
            vocab = tuple(vocabulary)
            bad = [
                w
                for w in vocab
                if not isinstance(w, str) or not w.strip() or any(c.isspace() for c in w)
            ]
            if not vocab or bad:
                raise PerturberError(
                    "vocabulary must be a non-empty sequence of single words "
                    f"(no spaces); these are not: {bad[:5]!r}."
                )
            digest = hashlib.sha256("\x1f".join(vocab).encode("utf-8")).hexdigest()[:8]
            vocab_tag = f":v{digest}"
        self.fraction = float(fraction)
        self.seed = seed
        self.operations = ops
        self.vocabulary = vocab
        self.identity = (
            f"random-words:{VERSION}:f{self.fraction:g}:s{seed}:"
            f"{''.join(op[0] for op in ops)}{vocab_tag}"
        )

    def __repr__(self) -> str:
        return (
            f"RandomWordPerturber(fraction={self.fraction:g}, seed={self.seed}, "
            f"operations={self.operations!r})"
        )

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        """One random edit of ``request.response`` (the attribute only seeds the draw)."""
        text = request.response
        if not isinstance(text, str) or not text.strip():
            return PerturbationResult.failed(
                "empty response: there are no words to edit", FailureKind.EMPTY
            )
        segments, tokens, tails = self._tokenise(text)
        words = [i for i, t in enumerate(tokens) if _is_word(t.text)]
        if not words:
            return PerturbationResult.failed(
                "no words outside code and numbers to edit in this response",
                FailureKind.NOT_APPLICABLE,
            )
        rng = _slot_rng(self.seed, request)
        n_edits = min(len(words), max(1, round(self.fraction * len(words))))
        targets = sorted(rng.sample(words, n_edits))
        plan = {i: rng.choice(self.operations) for i in targets}
        if sum(op == "delete" for op in plan.values()) == len(words):
            return PerturbationResult.failed(
                "deleting every word would leave nothing of the response; use a smaller "
                "fraction or add 'replace'/'insert' to operations",
                FailureKind.NOT_APPLICABLE,
            )
        pool = self._pool(tokens, words)
        edited = self._apply(tokens, plan, pool, rng)
        return PerturbationResult(self._join(segments, edited, tails))

    # -- tokens ----------------------------------------------------------------------------

    @staticmethod
    def _tokenise(text: str) -> tuple[list[str], list[_Token], list[str]]:
        """Split into code blocks (kept verbatim) and prose tokens.

        Returns ``segments`` (code blocks verbatim; each prose piece as a ``"\\x00{n}"``
        placeholder for prose segment ``n``), the prose tokens, and each prose segment's
        trailing whitespace.
        """
        segments: list[str] = []
        tokens: list[_Token] = []
        tails: list[str] = []
        pos = 0
        pieces: list[tuple[bool, str]] = []
        for m in _FENCE.finditer(text):
            pieces.append((True, text[pos : m.start()]))
            pieces.append((False, m.group(0)))
            pos = m.end()
        pieces.append((True, text[pos:]))
        for is_prose, piece in pieces:
            if not is_prose:
                segments.append(piece)
                continue
            seg = len(tails)
            end = 0
            for m in _PIECE.finditer(piece):
                tokens.append(_Token(m.group(1), m.group(2), seg))
                end = m.end()
            tails.append(piece[end:])
            segments.append(f"\x00{seg}")
        return segments, tokens, tails

    @staticmethod
    def _join(segments: list[str], tokens: list[_Token], tails: list[str]) -> str:
        prose: list[list[str]] = [[] for _ in tails]
        for t in tokens:
            prose[t.segment].append(t.space + t.text)
        out = []
        for s in segments:
            if s.startswith("\x00"):
                seg = int(s[1:])
                out.append("".join(prose[seg]) + tails[seg])
            else:
                out.append(s)
        return "".join(out)

    def _pool(self, tokens: list[_Token], words: list[int]) -> list[str]:
        """Candidate words: the response's own (letters only, lower case) and the vocabulary,
        in a fixed order so that the same seed gives the same draw."""
        own = {_split(tokens[i].text)[1].lower() for i in words}
        own = {w for w in own if w and _LETTER.search(w) and not any(c.isspace() for c in w)}
        return sorted(own) + [w for w in self.vocabulary if w not in own]

    @staticmethod
    def _draw(pool: list[str], rng: random.Random, avoid: str) -> str:
        choices = [w for w in pool if w.lower() != avoid.lower()]
        return rng.choice(choices or ["something"])

    def _apply(
        self, tokens: list[_Token], plan: dict[int, str], pool: list[str], rng: random.Random
    ) -> list[_Token]:
        out: list[_Token] = []
        carry: _Token | None = None  # a deleted token whose whitespace the next one inherits
        for i, tok in enumerate(tokens):
            op = plan.get(i)
            if (
                carry is not None
                and carry.segment == tok.segment
                and carry.space.count("\n") >= tok.space.count("\n")
            ):
                tok = _Token(carry.space, tok.text, tok.segment)
            carry = None
            if op == "delete":
                pre, core, suf = _split(tok.text)
                prev = out[-1] if out and out[-1].segment == tok.segment else None
                ends_sentence = _SENTENCE_END.search(suf)
                if prev is not None and ends_sentence and "\n" not in tok.space:
                    p_pre, p_core, p_suf = _split(prev.text)
                    if p_core and not _SENTENCE_END.search(p_suf):
                        prev.text = p_pre + p_core + suf
                carry = tok
                continue
            if op == "replace":
                pre, core, suf = _split(tok.text)
                new = _match_case(self._draw(pool, rng, core), core)
                out.append(_Token(tok.space, pre + new + suf, tok.segment))
                continue
            out.append(_Token(tok.space, tok.text, tok.segment))
            if op == "insert":
                out.append(_Token(" ", self._draw(pool, rng, ""), tok.segment))
        return out
