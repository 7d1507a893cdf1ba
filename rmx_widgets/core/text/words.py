"""Words, content words and casing, the way the rules and features tokenise text."""

from __future__ import annotations

import re

from rmx_widgets.core.text.markdown import mask_inline_code
from rmx_widgets.core.text.wordlists import STOPWORDS


def words(s: str) -> list[str]:
    """Word tokens: a letter or digit, then word characters, apostrophes and hyphens."""
    return re.findall(r"[A-Za-z0-9][\w'’-]*", s)


def stem(w: str) -> str:
    """A crude, lower-case stem ('berries' → 'berry', 'cooking' → 'cook') so that inflected
    forms of a word count as the same content word."""
    w = w.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    for suf, rep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)] + rep
    return w


def content_words(s: str) -> set[str]:
    """Stems of the words of three or more letters that are not stopwords (inline code
    excluded): what a sentence is about."""
    s = mask_inline_code(s)
    return {
        stem(w)
        for w in re.findall(r"[A-Za-z][A-Za-z'’-]*", s)
        if w.lower().replace("’", "'") not in STOPWORDS and len(w) >= 3
    }


def capitalize(s: str) -> str:
    """Upper-case the first letter, skipping leading quotes, brackets and emphasis marks."""
    for i, ch in enumerate(s):
        if ch.isalpha():
            return s[:i] + ch.upper() + s[i + 1 :]
        if ch not in " \t\"'“‘(*_":
            return s
    return s


def lower_first(s: str, context: str) -> str:
    """Lower-case the first word unless it looks like a name (capitalised mid-sentence
    somewhere in ``context``) or an acronym/'I'."""
    m = re.match(r"([A-Z])([a-z][\w'’-]*)", s)
    if not m:
        return s
    word = m.group(0)
    if re.search(r"[a-z,;:]\s+" + re.escape(word) + r"\b", context):
        return s
    return s[0].lower() + s[1:]


def ensure_period(s: str) -> str:
    """``s`` without trailing space, ending in sentence (or code/colon) punctuation."""
    s = s.rstrip()
    return s if s.endswith((".", "!", "?", ":", "`")) else s + "."
