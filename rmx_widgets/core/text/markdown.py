"""A response as a list of units (sentences, list items, headers, code blocks) and separators.

Rules edit one unit and render the rest as it was: each unit keeps its exact separator
(" ", "\\n", "\\n\\n", ...) and its list or header marker. A fenced code block is one unit
that no rule edits, and inline code is masked before any pattern is matched, so code is never
rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_ITEM = re.compile(r"^([-*+]|\d{1,3}[.)])([ \t]+)(?=\S)")
_HEADER = re.compile(r"^(#{1,6})([ \t]+)")
_STATIC = re.compile(r"^(?:\||>|(?:\*[ \t]*){3,}$|(?:-[ \t]*){3,}$|(?:_[ \t]*){3,}$)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]*_]*(?=\s)")
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


def mask_inline_code(s: str) -> str:
    """Same-length copy of ``s`` with inline code replaced by 'x', so offsets stay valid."""
    return INLINE_CODE.sub(lambda m: "x" * len(m.group(0)), s)


def with_masked_code(s: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to ``s`` with inline code swapped for private-use placeholders."""
    saved: list[str] = []

    def keep(m: re.Match[str]) -> str:
        saved.append(m.group(0))
        return "\ue000" + chr(0xE100 + len(saved) - 1) + "\ue001"

    out = fn(INLINE_CODE.sub(keep, s))
    return re.sub("\ue000(.)\ue001", lambda m: saved[ord(m.group(1)) - 0xE100], out)


def strip_code(text: str) -> str:
    """``text`` without its fenced code blocks, for features that must not count code."""
    doc = parse(text)
    return "\n".join(u.text for u in doc.units if u.kind != "code")


def _is_abbreviation(before: str, punct: str, nxt: str) -> bool:
    if not punct.startswith(".") or len(punct.rstrip("\"'”’)]*_")) > 1:
        return False
    m = re.search(r"(\S+)$", before)
    if not m:
        return False
    token = m.group(1).lstrip("(\"'“‘*_")
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
    for m in _BOUNDARY.finditer(masked):
        k = m.end()
        while k < len(p) and p[k].isspace():
            k += 1
        if k >= len(p):
            break
        nxt = p[k]
        inside = masked[start : m.end()]
        if (
            nxt.islower()
            or _is_abbreviation(masked[start : m.start()], m.group(0), nxt)
            or inside.count('"') % 2 == 1
            or inside.count("“") > inside.count("”")
        ):
            continue  # not an end: lower case next, an abbreviation, or inside a quotation
        spans.append((start, m.end()))
        start = k
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


def parse(text: str) -> Doc:
    """Split a response into units whose concatenation with separators is the text again."""
    pieces = _pieces(text)
    if not pieces:
        return Doc(prefix=text)
    doc = Doc(prefix=text[: pieces[0][0]], trailing=text[pieces[-1][1] :])
    for n, (s, e, kind, marker) in enumerate(pieces):
        sep = text[e : pieces[n + 1][0]] if n + 1 < len(pieces) else ""
        raw = text[s:e]
        doc.units.append(Unit(kind, raw[len(marker) :], sep, marker))
    return doc


def split_sentences(text: str) -> list[str]:
    """The units the rules work on, in order: sentences, list items, headers and whole code
    blocks (a code block is never split)."""
    return [u.text for u in parse(text).units]
