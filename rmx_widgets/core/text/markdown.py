"""A response as a list of units (sentences, list items, headers, code blocks) and separators.

Rules edit one unit and render the rest as it was: each unit keeps its exact separator
(" ", "\\n", "\\n\\n", ...) and its list or header marker. A fenced code block is one unit
that no rule edits, and inline code is masked before any pattern is matched, so code is never
rewritten.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_ITEM = re.compile(r"^([-*+]|\d{1,3}[.)])([ \t]+)(?=\S)")
_HEADER = re.compile(r"^(#{1,6})([ \t]+)")
_STATIC = re.compile(r"^(?:\||>|(?:\*[ \t]*){3,}$|(?:-[ \t]*){3,}$|(?:_[ \t]*){3,}$)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
# Only at the start of a run of end punctuation: a match can never start inside a run (the
# run is followed by the same closers either way), and without the look-behind a long run
# with no whitespace after it ("......") was re-scanned from each of its characters.
_BOUNDARY = re.compile(r"(?<![.!?])[.!?]+[\"'”’)\]*_]*(?=\s)")
_ABBREV = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "cf",
        "approx",
        "inc",
        "ltd",
        "co",
        "mt",
        "u.s",
        "u.k",
        "a.m",
        "p.m",
        "d.c",
        "jan",
        "feb",
        "aug",
        "sept",
        "oct",
        "nov",
        "dec",
        "est",
        "dept",
        "ca",
        "al",
    }
)
_ABBREV_BEFORE_NUMBER = frozenset({"no", "fig", "vol", "p", "pp", "ch", "sec"})

_Piece = tuple[int, int, str, str]  # start, end, kind, marker
_Span = tuple[int, int]


@dataclass
class Unit:
    kind: str  # "sentence" | "item" | "header" | "code" | "static"
    body: str
    sep: str = ""
    marker: str = ""  # list marker ("1. ", "- ") or header marker ("## ")

    @property
    def text(self) -> str:
        return self.marker + self.body

    @property
    def editable(self) -> bool:
        return self.kind in ("sentence", "item")


@dataclass
class Doc:
    prefix: str
    units: list[Unit] = field(default_factory=list)
    trailing: str = ""

    def render(self) -> str:
        if not self.units:
            return ""
        inner = "".join(u.text + u.sep for u in self.units[:-1]) + self.units[-1].text
        return self.prefix + inner + self.trailing

    def remove(self, indices: Iterable[int]) -> None:
        """Drop units, keeping the strongest separator so paragraph breaks survive."""
        drop = set(indices)
        kept: list[Unit] = []
        for i, u in enumerate(self.units):
            if i in drop:
                if kept:
                    kept[-1].sep = stronger(kept[-1].sep, u.sep)
                continue
            kept.append(u)
        self.units = kept

    def insert_after(self, index: int, unit: Unit, same_paragraph: bool) -> None:
        """Insert ``unit`` after ``units[index]`` (index -1: at the start)."""
        if index < 0:
            unit.sep = " " if same_paragraph else "\n\n"
            self.units.insert(0, unit)
            return
        prev = self.units[index]
        unit.sep = prev.sep if index < len(self.units) - 1 else "\n\n"
        prev.sep = " " if same_paragraph else stronger(prev.sep, "\n\n")
        self.units.insert(index + 1, unit)


def stronger(a: str, b: str) -> str:
    """The separator with more line breaks (``a`` on a tie)."""
    return b if b.count("\n") > a.count("\n") else a


def inline_code_spans(s: str) -> list[_Span]:
    """The spans ``INLINE_CODE.finditer(s)`` finds, in linear time (the regex backtracks over
    every shorter opening run, which is cubic in a long run of backticks).

    From a scan position inside a run of ``m`` backticks the regex opens with the longest
    ``n <= m`` whose closing run of ``n`` backticks occurs later, and needs ``m - n < n`` (else
    the body would start with the closing run); a later run of ``r`` backticks, the longest
    after this run, closes an opening of ``min(m, r)`` once ``m < 2r``. The body ends at the
    first later run of at least ``n`` backticks, and the scan goes on right after it."""
    runs = [(m.start(), m.end()) for m in re.finditer("`+", s)]
    longest_after = [0] * (len(runs) + 1)  # the longest run among runs[i:]
    for i in range(len(runs) - 1, -1, -1):
        longest_after[i] = max(runs[i][1] - runs[i][0], longest_after[i + 1])
    spans: list[_Span] = []
    i, pos = 0, 0
    while i < len(runs):
        start, end = max(runs[i][0], pos), runs[i][1]
        later = longest_after[i + 1]
        if later == 0:
            break
        start = max(start, end - 2 * later + 1)  # the first start that can open
        n = min(end - start, later)
        k = i + 1
        while runs[k][1] - runs[k][0] < n:
            k += 1
        pos = runs[k][0] + n
        spans.append((start, pos))
        i = k if pos < runs[k][1] else k + 1
    return spans


def mask_inline_code(s: str) -> str:
    """Same-length copy of ``s`` with inline code replaced by 'x', so offsets stay valid."""
    if "`" not in s:
        return s  # no inline code (the common case): nothing to scan
    return mask_spans(s, inline_code_spans(s))


def mask_spans(s: str, spans: list[_Span]) -> str:
    """Same-length copy of ``s`` with each of the (sorted, disjoint) ``spans`` replaced by
    'x', so offsets stay valid."""
    return _replace_spans(s, spans, lambda a, b: "x" * (b - a)) if spans else s


def _replace_spans(s: str, spans: list[_Span], fn: Callable[[int, int], str]) -> str:
    out: list[str] = []
    last = 0
    for a, b in spans:
        out += (s[last:a], fn(a, b))
        last = b
    out.append(s[last:])
    return "".join(out)


def with_masked_code(s: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to ``s`` with inline code swapped for private-use placeholders."""
    saved: list[str] = []

    def keep(a: int, b: int) -> str:
        saved.append(s[a:b])
        return "\ue000" + chr(0xE100 + len(saved) - 1) + "\ue001"

    out = fn(_replace_spans(s, inline_code_spans(s), keep))
    return re.sub("\ue000(.)\ue001", lambda m: saved[ord(m.group(1)) - 0xE100], out)


def strip_code(text: str) -> str:
    """``text`` without its fenced code blocks, for features that must not count code: the
    units' texts (``Unit.text``, built from the pieces as ``parse`` builds it) joined by
    newlines."""
    return "\n".join(
        marker + text[s:e][len(marker) :] for s, e, kind, marker in pieces(text) if kind != "code"
    )


def _last_token(s: str, start: int, end: int) -> str | None:
    """What ``re.search(r"(\\S+)$", s[start:end])`` captures, found by scanning back from
    ``end`` (a search from the front is quadratic in a long sentence)."""
    if end > start and s[end - 1] == "\n":
        end -= 1  # "$" also matches before a final newline
    i = end
    while i > start and not s[i - 1].isspace():
        i -= 1
    return s[i:end] if i < end else None


def _is_abbreviation(s: str, start: int, end: int, punct: str, nxt: str) -> bool:
    """Whether the end punctuation ``punct`` after ``s[start:end]`` ends an abbreviation."""
    if not punct.startswith(".") or len(punct.rstrip("\"'”’)]*_")) > 1:
        return False
    last = _last_token(s, start, end)
    if last is None:
        return False
    token = last.lstrip("(\"'“‘*_")
    low = token.lower()
    if low in _ABBREV or re.fullmatch(r"(?:[a-z]\.)+[a-z]", low):
        return True
    if low in _ABBREV_BEFORE_NUMBER and nxt.isdigit():
        return True
    return len(token) == 1 and token.isupper()  # an initial, as in "J. K. Rowling"


def _sentence_spans(p: str) -> list[_Span]:
    """Sentence boundaries in one paragraph: end punctuation followed by whitespace and a
    non-lower-case character, except after abbreviations, initials and inside inline code."""
    masked = mask_inline_code(p)
    spans: list[_Span] = []
    start = 0
    # Quotation marks in masked[start:counted], counted as the sentence grows, so that a long
    # sentence with many rejected boundaries is not re-counted from its start each time.
    counted = straight = left = right = 0
    for m in _BOUNDARY.finditer(masked):
        k = m.end()
        while k < len(p) and p[k].isspace():
            k += 1
        if k >= len(p):
            break
        nxt = p[k]
        straight += masked.count('"', counted, m.end())
        left += masked.count("“", counted, m.end())
        right += masked.count("”", counted, m.end())
        counted = m.end()
        if (
            nxt.islower()
            or _is_abbreviation(masked, start, m.start(), m.group(0), nxt)
            or straight % 2 == 1
            or left > right
        ):
            continue  # not an end: lower case next, an abbreviation, or inside a quotation
        spans.append((start, m.end()))
        start = counted = k
        straight = left = right = 0
    end = len(p.rstrip())
    if end > start:
        spans.append((start, end))
    return spans


def _fence_end(text: str, lines: list[_Span], i: int, mark: str) -> tuple[int, int]:
    """(end offset, closing line) of the fenced block opened on line ``i``; a fence that is
    never closed runs to the end of the text."""
    j = i + 1
    while j < len(lines):
        cand = text[lines[j][0] : lines[j][1]].strip()
        if cand and set(cand) == {mark[0]} and len(cand) >= len(mark):
            break
        j += 1
    last = min(j, len(lines) - 1)
    return lines[last][0] + len(text[lines[last][0] : lines[last][1]].rstrip()), last


def _item_end(text: str, lines: list[_Span], i: int, end: int) -> tuple[int, int]:
    """(end offset, next line) of the list item on line ``i``: indented continuation lines
    belong to the item."""
    j = i + 1
    while j < len(lines):
        nxt = text[lines[j][0] : lines[j][1]].rstrip("\n")
        n_indent = len(nxt) - len(nxt.lstrip())
        if not nxt.strip() or n_indent < 2 or _ITEM.match(nxt.lstrip()) or _FENCE_OPEN.match(nxt):
            break
        end = lines[j][0] + len(nxt.rstrip())
        j += 1
    return end, j


def _pieces(text: str) -> list[_Piece]:
    """The units' spans in ``text``, line by line: code fences, list items, headers, static
    lines (tables, quotes, rules), and prose paragraphs split into sentences."""
    pieces: list[_Piece] = []
    lines = [(m.start(), m.end()) for m in re.finditer(r"[^\n]*\n?", text) if m.end() > m.start()]
    para: list[int] = []  # [start, end] of the current prose paragraph

    def flush() -> None:
        if para:
            ps, pe = para
            for s, e in _sentence_spans(text[ps:pe]):
                pieces.append((ps + s, ps + e, "sentence", ""))
            para.clear()

    i = 0
    while i < len(lines):
        ls, le = lines[i]
        line = text[ls:le].rstrip("\n")
        indent = len(line) - len(line.lstrip())
        content_end = ls + len(line.rstrip())
        if not line.strip():
            flush()
            i += 1
            continue
        fence = _FENCE_OPEN.match(line)
        if fence:
            flush()
            end, last = _fence_end(text, lines, i, fence.group(1))
            pieces.append((ls + indent, end, "code", ""))
            i = last + 1
            continue
        body = line.lstrip()
        item = _ITEM.match(body)
        block = item or _HEADER.match(body)
        if block:
            flush()
            end, i = _item_end(text, lines, i, content_end) if item else (content_end, i + 1)
            pieces.append((ls + indent, end, "item" if item else "header", block.group(0)))
            continue
        if _STATIC.match(body):
            flush()
            pieces.append((ls + indent, content_end, "static", ""))
            i += 1
            continue
        if not para:
            para[:] = [ls + indent, content_end]
        else:
            para[1] = content_end
        i += 1
    flush()
    return pieces


#: Texts whose pieces are remembered, and the longest text remembered (so the cache holds at
#: most 256 x 32 k characters of keys, about 8 MB, plus their small offset tuples).
PIECES_CACHE_SIZE = 256
PIECES_CACHE_MAX_CHARS = 1 << 15


@functools.lru_cache(maxsize=PIECES_CACHE_SIZE)
def _remembered_pieces(text: str) -> tuple[_Piece, ...]:
    return tuple(_pieces(text))


def pieces(text: str) -> tuple[_Piece, ...]:
    """The units' spans of ``text``: (start, end, kind, marker) in order, ``text[start:end]``
    being the unit's marker and body.

    Remembered for the last ``PIECES_CACHE_SIZE`` texts of at most ``PIECES_CACHE_MAX_CHARS``
    characters, because the same text is parsed many times in a row: the transparent RM reads
    each response five times (four phrase counts outside code and the arithmetic check) and
    the rule perturber parses each original once per attribute. Tuples, so no caller can edit
    what another gets; ``parse`` builds a new ``Doc`` from them every time."""
    if len(text) <= PIECES_CACHE_MAX_CHARS:
        return _remembered_pieces(text)
    return tuple(_pieces(text))


def parse(text: str) -> Doc:
    """Split a response into units whose concatenation with separators is the text again."""
    spans = pieces(text)
    if not spans:
        return Doc(prefix=text)
    doc = Doc(prefix=text[: spans[0][0]], trailing=text[spans[-1][1] :])
    for n, (s, e, kind, marker) in enumerate(spans):
        sep = text[e : spans[n + 1][0]] if n + 1 < len(spans) else ""
        raw = text[s:e]
        doc.units.append(Unit(kind, raw[len(marker) :], sep, marker))
    return doc


def split_sentences(text: str) -> list[str]:
    """The units the rules work on, in order: sentences, list items, headers and whole code
    blocks (a code block is never split)."""
    return [u.text for u in parse(text).units]
