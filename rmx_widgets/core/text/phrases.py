"""Matching the phrase lists, and telling social sentences from answer content.

A sentence is *social* when it carries no answer: a pleasantry ("Great question!"), a
follow-up invitation ("Let me know if ...") or a refusal. The rules use this to decide what they
may pad, hedge or delete, and the transparent RM counts the same phrases with ``count_phrases``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from rmx_widgets.core.text.markdown import strip_code
from rmx_widgets.core.text.wordlists import (
    FOLLOW_UPS,
    HEDGES,
    PLEASANTRIES,
    PLEASANTRY_INTERJECTIONS,
    REFUSALS,
)
from rmx_widgets.core.text.words import capitalize, words

_APOSTROPHE = "['’]"
_SPACE = r"\s+"
_EDGE = r"(?<![\w'’])", r"(?![\w'’])"  # a phrase is whole words: no word character around


def _atoms(phrase: str) -> list[str]:
    """The regex atoms that match ``phrase``: each character escaped, an apostrophe matching a
    typographic one too, a space matching any run of whitespace."""
    return [_APOSTROPHE if c == "'" else _SPACE if c == " " else re.escape(c) for c in phrase]


def _trie_safe(phrase: str) -> bool:
    """Whether ``phrase`` can go into the trie (see ``phrase_regex``): lower-case ASCII, no
    whitespace but single inner spaces. For these no text character matches two different
    atoms (an ASCII letter's case-insensitive matches are its own two cases and a few
    non-ASCII letters that match no other ASCII letter), so the phrases matching at a
    position all lie on one path of the trie."""
    return (
        phrase.isascii()
        and phrase == phrase.lower()
        and phrase == phrase.strip()
        and "  " not in phrase
        and not any(c.isspace() and c != " " for c in phrase)
    )


def _trie_pattern(phrases: Iterable[str]) -> str:
    """One alternation per trie node, longer continuations before the end of a phrase."""
    root: dict[str, dict] = {}
    for p in phrases:
        node = root
        for atom in _atoms(p):
            node = node.setdefault(atom, {})
        node[""] = {}  # a phrase ends here

    def render(node: dict[str, dict]) -> str:
        alts = [atom + render(child) for atom, child in sorted(node.items()) if atom]
        if "" in node:
            alts.append("")  # tried last: a longer phrase wins, as in longest-first order
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return render(root)


def phrase_regex(phrases: Iterable[str]) -> re.Pattern[str]:
    """Whole-phrase, case-insensitive alternation, longest first so 'thank you so much' wins
    over 'thank you'; spaces match any whitespace and apostrophes match typographic ones.

    The phrases are compiled as a trie (one alternation per shared prefix) rather than as a
    flat alternation of every phrase, which the regex engine would try one by one at every
    word start (that was most of the transparent RM's time). It matches exactly what the flat
    longest-first alternation matches: at a position every matching phrase lies on one path
    of the trie (``_trie_safe``), deeper nodes are tried first and the engine backtracks to
    a shorter phrase when the whole-word check after a longer one fails. Phrases outside
    ``_trie_safe`` (any a caller passes) keep the flat alternation."""
    unique = sorted(set(phrases), key=len, reverse=True)
    if unique and all(_trie_safe(p) for p in unique):
        body = _trie_pattern(unique)
    else:
        body = "(?:" + "|".join("".join(_atoms(p)) for p in unique) + ")"
    return re.compile(_EDGE[0] + body + _EDGE[1], re.IGNORECASE)


HEDGE_RE = phrase_regex(HEDGES)
REFUSAL_RE = phrase_regex(REFUSALS)
PLEASANTRY_RE = phrase_regex(PLEASANTRIES)
_INTERJECTION_RE = phrase_regex(PLEASANTRY_INTERJECTIONS)
_FOLLOW_UP_RE = phrase_regex(FOLLOW_UPS)
_FILLER_WORDS = frozenset(
    {"and", "so", "again", "very", "much", "really", "too", "you", "for", "all", "a", "lot", "the"}
)


@functools.lru_cache(maxsize=64)
def _cached_phrase_regex(phrases: tuple[str, ...]) -> re.Pattern[str]:
    return phrase_regex(phrases)


def count_phrases(text: str, phrases: Iterable[str]) -> int:
    """How many times any of ``phrases`` occurs in ``text`` outside code, matched the way the
    rules match them (whole words, case-insensitive). For reward-model features."""
    return len(_cached_phrase_regex(tuple(phrases)).findall(strip_code(text)))


def strip_pleasantry_prefix(s: str) -> str | None:
    """'Thanks for asking, the answer is 42.' → 'The answer is 42.'; None if no such prefix."""
    m = re.match(r"\s*((?:" + PLEASANTRY_RE.pattern + r")[\s,]*)+[,!—–-]\s*", s, re.IGNORECASE)
    if not m or m.end() >= len(s):
        return None
    rest = s[m.end() :]
    if not re.search(r"[A-Za-z]", rest):
        return None
    return capitalize(rest)


def is_pleasantry(s: str) -> bool:
    """A sentence with no content besides social phrases, or a short one opening with one."""
    if PLEASANTRY_RE.search(s) is None and _INTERJECTION_RE.fullmatch(s.strip(" !.,")) is None:
        return False
    rest = _INTERJECTION_RE.sub(" ", PLEASANTRY_RE.sub(" ", s))
    if all(w.lower() in _FILLER_WORDS for w in words(rest)):
        return True
    n_words = len(words(s))
    opens = PLEASANTRY_RE.match(s.strip())
    return bool(
        opens
        and n_words <= 7
        and not re.search(r"\d", s)
        and not re.match(r"\s*thanks\s+to\b", s, re.IGNORECASE)
        and "," not in s[opens.end() : opens.end() + 2]
    )


def is_refusal(s: str) -> bool:
    """Whether ``s`` contains a refusal or deflection phrase."""
    return REFUSAL_RE.search(s) is not None


def is_follow_up(s: str) -> bool:
    """An invitation to follow up, or a question addressed to the user."""
    s = s.strip()
    if _FOLLOW_UP_RE.search(s):
        return True
    return s.endswith("?") and re.search(r"\byou(?:r|rs)?\b", s, re.IGNORECASE) is not None


def is_social(s: str) -> bool:
    """Pleasantries, follow-ups and refusals: text that carries no answer content."""
    return is_pleasantry(s) or is_follow_up(s) or is_refusal(s)
