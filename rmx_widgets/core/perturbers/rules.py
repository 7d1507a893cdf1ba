"""Offline, deterministic rule perturbations: explanations without an LLM.

``RulePerturber`` rewrites a response along one attribute with hand-written, inspectable rules.
It needs no network, no GPU and no API key, so the demo, the tutorials and the test suite can
run the whole pipeline anywhere, and every rewrite can be explained by reading this file. The
price is coverage: a rule only fires when the response has something it can act on, and when it
has nothing it says so with a specific failure reason instead of returning the text unchanged.

Rules (``worse`` rewrites a chosen response, ``better`` a rejected one):

- **verbosity** — worse: add a generic padding sentence at the start and restate one content
  sentence right after itself ("To restate the key point: ..."). better: cut filler sentences,
  restatements whose content words already appear elsewhere, and near-duplicate sentences.
- **assertiveness** — worse: hedge every other plain sentence (up to three): "probably",
  "perhaps" or "possibly" after its first auxiliary ("is" → "is probably"), else a trailing
  ", I think" / ", I believe". better: remove hedges ("I
  think", "perhaps", "probably", "it seems", "I'm not sure, but", ...), turn "might be" /
  "may be" / "could be" into "is"/"are" and "might" into "will".
- **avoid-to-answer** — worse: replace the response with a refusal ("I'm sorry, but I can't
  help with that."). better: delete refusal sentences, keep the clause after a "but" in a
  refusal sentence, drop a dangling "However,"/"That said," and fail if no answer remains.
- **manner** — worse: delete greetings, thanks and pleasantry sentences ("Great question!",
  "I hope this helps!") and pleasantry prefixes ("Thanks for asking, ..."). Stock praise of the
  question is treated as a pleasantry because the manner definition covers it (warmth, social
  register); there is no separate sycophancy rule, since no default attribute defines one.
  better: add a greeting and a courteous close where missing.
- **coherence** — worse: a seeded, non-identity permutation of the sentences (among sentence
  slots) and of the items of each list (markers stay in place). better: reorder sentences that
  start with discourse markers (First, Second, Next/Then, Finally) into marker order; fails
  when there are fewer than two such sentences or they are already in order.
- **relevance** — worse: splice a true but off-topic sentence ("On an unrelated note, ...")
  into the middle of the response, chosen so it shares no content word with prompt or
  response. better: remove sentences that open with a digression marker ("By the way",
  "Incidentally", "Fun fact", ...) and share no content word with the prompt (word overlap
  alone is too weak: short on-topic steps often share no word with the question).
- **correctness** — worse: make one claim false, in this order of preference: change the result
  of an "a op b = c" statement, swap a fact from a small table (Paris → Lyon, 100 degrees → 90
  degrees, ...), or change a number. better: recompute wrong "a op b = c" statements and fix
  wrong capital cities and boiling/freezing points of water.
- **engagement** — worse: remove follow-up invitations ("Let me know if ...", "Would you like
  ...") and questions to the user. better: append "Would you like me to go into more detail?"
  unless the response already invites follow-up.
- **clarity** — worse: flatten a markdown list into one run-on sentence. better: turn sentences
  enumerated with First/Then/Finally into a numbered list, or an inline "x: a, b, and c"
  enumeration into a bulleted list.

Other attributes (helpfulness, complexity, informativeness, harmlessness, sensitivity,
neutrality and user-defined ones) are not supported: there is no honest surface rule for them.

Every rule leaves fenced code blocks and inline code untouched. Randomness (which sentence,
which permutation, which stock phrase) comes from a ``random.Random`` seeded with a SHA-256 of
the response, the attribute and the direction, so the same request always gives the same text.
The phrase lists (``HEDGES``, ``REFUSALS``, ``PLEASANTRIES``, ``FOLLOW_UPS``) are module
constants so that a transparent reward model can count exactly what these rules add and remove.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from rmx_widgets.core.attributes import DIRECTIONS, Attribute
from rmx_widgets.core.perturbers.base import (
    BasePerturber,
    PerturbationRequest,
    PerturbationResult,
)

# --------------------------------------------------------------------------------------------
# Phrase lists (lower case; an apostrophe also matches a typographic one)
# --------------------------------------------------------------------------------------------

HEDGES: tuple[str, ...] = (
    "i think", "i believe", "i guess", "i suppose", "i'm not sure", "i am not sure",
    "not entirely sure", "it seems", "as far as i know", "if i'm not mistaken",
    "if i remember correctly", "perhaps", "probably", "possibly", "maybe", "arguably",
    "might", "may be", "could be",
)

REFUSALS: tuple[str, ...] = (
    "i'm sorry, but i can't", "i'm sorry, but i cannot", "i'm afraid i can't",
    "i can't help with", "i cannot help with", "i can't help you with", "i can't help create",
    "i cannot help create", "i can't create", "i cannot create", "i can't write", "i won't write",
    "i can't assist with", "i cannot assist with", "i can't provide", "i cannot provide",
    "i can't give", "i cannot give", "i can't answer", "i cannot answer", "i can't share",
    "i won't help", "i will not help", "i won't provide", "i will not provide",
    "i'm unable to", "i am unable to", "i'm not able to", "i am not able to",
    "i won't be able to", "i must decline", "as an ai", "i don't have personal opinions",
    "i do not have personal opinions", "i'm not comfortable", "i am not comfortable",
)

PLEASANTRIES: tuple[str, ...] = (
    "hello", "hi there", "hi", "hey there", "hey", "good morning", "good afternoon", "greetings",
    "thanks for asking", "thank you for asking", "thanks for the question",
    "thank you for the question", "thanks for reaching out", "thank you for reaching out",
    "thanks again for asking", "thanks again", "thank you again", "thanks so much",
    "thank you so much", "thank you", "thanks",
    "great question", "good question", "excellent question", "what a great question",
    "what a thoughtful question", "that's a great question", "that's a good question",
    "happy to help", "i'd be happy to help", "i'd be glad to help", "glad you asked",
    "i'm glad you asked", "i hope this helps", "i hope that helps", "hope this helps",
    "hope that helps", "i hope you understand", "good luck", "best of luck", "happy coding",
    "happy baking",
    "have a great day", "have a nice day", "you're welcome", "my pleasure", "congratulations",
    "welcome", "enjoy your trip", "enjoy your meal",
)

FOLLOW_UPS: tuple[str, ...] = (
    "let me know", "feel free to ask", "feel free to reach out", "feel free to follow up",
    "would you like", "do you want me to", "want me to", "shall i", "should i go",
    "if you have any other questions", "if you have any more questions",
    "if you have any questions", "if you have more questions", "happy to go into more detail",
    "happy to explain", "i can also", "just ask", "does that help", "does this help",
    "does this make sense", "does that make sense", "is there anything else",
    "if you'd like, i can", "if you'd like, i could", "if you want, i can",
)

#: Interjections that are pleasantries only when they make up a whole sentence ("Sure!").
PLEASANTRY_INTERJECTIONS: tuple[str, ...] = (
    "sure", "of course", "certainly", "absolutely", "gladly", "no problem",
)

FOLLOW_UP_QUESTION = "Would you like me to go into more detail?"
REFUSAL_RESPONSES: tuple[str, ...] = (
    "I'm sorry, but I can't help with that.",
    "I'm sorry, but I can't help with that request.",
    "I'm afraid I can't help with that.",
)
GREETINGS: tuple[str, ...] = (
    "Hello, and thank you for the question!",
    "Hi there, thanks for asking!",
    "Hello, thanks for reaching out!",
)
CLOSINGS: tuple[str, ...] = (
    "I hope this helps!",
    "I hope this helps, and thanks again for asking!",
    "Thank you again, and I hope this helps!",
)
PADDING_SENTENCES: tuple[str, ...] = (
    "This is a good thing to ask about, and there are a few points worth keeping in mind here.",
    "There are a few things worth considering when it comes to this topic.",
    "Let me walk through this carefully and explain everything that is relevant here.",
)
RESTATEMENT_PREFIX = "To restate the key point: "
OFF_TOPIC_SENTENCES: tuple[str, ...] = (
    "On an unrelated note, octopuses have three hearts and blue blood.",
    "Incidentally, bananas are botanically classified as berries.",
    "As an aside, a group of flamingos is called a flamboyance.",
    "On an unrelated note, a day on Venus lasts longer than a year on Venus.",
    "Incidentally, honeybees tell each other where flowers are with a waggle dance.",
    "As an aside, the Eiffel Tower grows a few centimetres taller in summer heat.",
)

#: Discourse markers that announce a position in a sequence, with their rank.
DISCOURSE_MARKERS: dict[str, int] = {
    "first of all": 0, "first": 0, "firstly": 0, "to begin": 0, "to start": 0,
    "start by": 0, "begin by": 0, "second": 1, "secondly": 1, "next": 2, "then": 2,
    "after that": 2, "afterwards": 2, "afterward": 2, "third": 3, "thirdly": 3,
    "fourth": 4, "fifth": 5, "finally": 9, "lastly": 9, "in the end": 9,
}
# Markers whose removal leaves a grammatical sentence (used when building a list).
_STRIPPABLE_MARKERS = tuple(m for m in DISCOURSE_MARKERS if m not in ("start by", "begin by"))

#: Named facts the correctness rule may falsify: (correct, wrong), matched as whole words.
FACT_SWAPS: tuple[tuple[str, str], ...] = (
    ("Paris", "Lyon"), ("Canberra", "Sydney"), ("Ottawa", "Toronto"), ("Tokyo", "Osaka"),
    ("Berlin", "Munich"), ("Madrid", "Barcelona"), ("Rome", "Milan"),
    ("Brasília", "Rio de Janeiro"), ("Brasilia", "Rio de Janeiro"), ("Nairobi", "Mombasa"),
    ("New Delhi", "Mumbai"),
    ("100 degrees", "90 degrees"), ("100 °C", "90 °C"), ("212 degrees", "200 degrees"),
    ("32 degrees", "40 degrees"), ("Jupiter", "Saturn"), ("Mercury", "Mars"),
    ("Pacific", "Atlantic"), ("Everest", "K2"), ("Shakespeare", "Marlowe"),
    ("Neil Armstrong", "Buzz Aldrin"), ("oxygen", "nitrogen"), ("1969", "1971"),
    ("1945", "1947"), ("1789", "1793"), ("Leonardo da Vinci", "Michelangelo"),
)

#: Capital cities the correctness rule can check ("The capital of X is Y", "Y is the capital of X").
CAPITALS: dict[str, str] = {
    "France": "Paris", "Australia": "Canberra", "Canada": "Ottawa", "Japan": "Tokyo",
    "Germany": "Berlin", "Spain": "Madrid", "Italy": "Rome", "Brazil": "Brasília",
    "Kenya": "Nairobi", "India": "New Delhi", "Egypt": "Cairo", "Mexico": "Mexico City",
    "Turkey": "Ankara", "Switzerland": "Bern", "Portugal": "Lisbon", "Norway": "Oslo",
    "Argentina": "Buenos Aires", "South Korea": "Seoul", "China": "Beijing",
    "United Kingdom": "London", "Russia": "Moscow", "Nigeria": "Abuja", "Peru": "Lima",
}
_CAPITAL_ALIASES = {"Brasilia": "Brasília"}

STOPWORDS: frozenset[str] = frozenset("""
a about above after again against all also am an and any are aren't as at be because been
before being below between both but by can can't cannot could couldn't did didn't do does
doesn't doing don't down during each even ever every few for from further get gets getting
give given go goes going good got had hadn't has hasn't have haven't having he her here hers
herself him himself his how however i i'd i'll i'm i've if in into is isn't it it's its itself
just keep know let let's like make makes many may me might more most much must my myself need
needs no nor not now of off often on once one only or other our ours ourselves out over own
per please quite rather really same see she should shouldn't so some something still such sure
take than that that's the their theirs them themselves then there there's these they they're
thing things think this those though through thus to too under until up upon us use used
using very want was wasn't way we we're well were weren't what what's when where whether which
while who whom why will with within without won't would wouldn't yes yet you you'd you'll
you're you've your yours yourself yourselves also usually always never generally simply
""".split())


def _phrase_regex(phrases: Iterable[str]) -> re.Pattern[str]:
    """Whole-phrase, case-insensitive alternation, longest first so 'thank you so much' wins
    over 'thank you'; spaces match any whitespace and apostrophes match typographic ones."""
    alts = []
    for p in sorted(set(phrases), key=len, reverse=True):
        esc = re.escape(p).replace("'", "['’]").replace(r"\ ", r"\s+")
        alts.append(esc)
    return re.compile(r"(?<![\w'’])(?:" + "|".join(alts) + r")(?![\w'’])", re.IGNORECASE)


_HEDGE_RE = _phrase_regex(HEDGES)
_REFUSAL_RE = _phrase_regex(REFUSALS)
_PLEASANTRY_RE = _phrase_regex(PLEASANTRIES)
_INTERJECTION_RE = _phrase_regex(PLEASANTRY_INTERJECTIONS)
_FOLLOW_UP_RE = _phrase_regex(FOLLOW_UPS)


@functools.lru_cache(maxsize=64)
def _cached_phrase_regex(phrases: tuple[str, ...]) -> re.Pattern[str]:
    return _phrase_regex(phrases)


def count_phrases(text: str, phrases: Iterable[str]) -> int:
    """How many times any of ``phrases`` occurs in ``text`` outside code, matched the way the
    rules match them (whole words, case-insensitive). For reward-model features."""
    return len(_cached_phrase_regex(tuple(phrases)).findall(_strip_code(text)))


# --------------------------------------------------------------------------------------------
# Document model: code blocks, list items, headers and sentences with their separators
# --------------------------------------------------------------------------------------------

_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_ITEM = re.compile(r"^([-*+]|\d{1,3}[.)])([ \t]+)(?=\S)")
_HEADER = re.compile(r"^(#{1,6})([ \t]+)")
_STATIC = re.compile(r"^(?:\||>|(?:\*[ \t]*){3,}$|(?:-[ \t]*){3,}$|(?:_[ \t]*){3,}$)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]*_]*(?=\s)")
_ABBREV = frozenset("mr mrs ms dr prof sr jr st vs etc e.g i.e cf approx inc ltd co mt u.s u.k "
                    "a.m p.m d.c jan feb aug sept oct nov dec est dept ca al".split())
_ABBREV_BEFORE_NUMBER = frozenset("no fig vol p pp ch sec".split())


@dataclass
class _Unit:
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
class _Doc:
    prefix: str
    units: list[_Unit] = field(default_factory=list)
    trailing: str = ""

    def render(self) -> str:
        if not self.units:
            return ""
        inner = "".join(u.text + u.sep for u in self.units[:-1]) + self.units[-1].text
        return self.prefix + inner + self.trailing

    def remove(self, indices: Iterable[int]) -> None:
        """Drop units, keeping the strongest separator so paragraph breaks survive."""
        drop = set(indices)
        kept: list[_Unit] = []
        for i, u in enumerate(self.units):
            if i in drop:
                if kept:
                    kept[-1].sep = _stronger(kept[-1].sep, u.sep)
                continue
            kept.append(u)
        self.units = kept

    def insert_after(self, index: int, unit: _Unit, same_paragraph: bool) -> None:
        """Insert ``unit`` after ``units[index]`` (index -1: at the start)."""
        if index < 0:
            unit.sep = " " if same_paragraph else "\n\n"
            self.units.insert(0, unit)
            return
        prev = self.units[index]
        unit.sep = prev.sep if index < len(self.units) - 1 else "\n\n"
        prev.sep = " " if same_paragraph else _stronger(prev.sep, "\n\n")
        self.units.insert(index + 1, unit)


def _stronger(a: str, b: str) -> str:
    return b if b.count("\n") > a.count("\n") else a


def _mask_inline_code(s: str) -> str:
    """Same-length copy of ``s`` with inline code replaced by 'x', so offsets stay valid."""
    return _INLINE_CODE.sub(lambda m: "x" * len(m.group(0)), s)


def _strip_code(text: str) -> str:
    doc = _parse(text)
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


def _sentence_spans(p: str) -> list[tuple[int, int]]:
    """Sentence boundaries in one paragraph: end punctuation followed by whitespace and a
    non-lower-case character, except after abbreviations, initials and inside inline code."""
    masked = _mask_inline_code(p)
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(masked):
        k = m.end()
        while k < len(p) and p[k].isspace():
            k += 1
        if k >= len(p):
            break
        nxt = p[k]
        inside = masked[start:m.end()]
        if (nxt.islower() or _is_abbreviation(masked[start:m.start()], m.group(0), nxt)
                or inside.count('"') % 2 == 1 or inside.count("“") > inside.count("”")):
            continue  # not an end: lower case next, an abbreviation, or inside a quotation
        spans.append((start, m.end()))
        start = k
    end = len(p.rstrip())
    if end > start:
        spans.append((start, end))
    return spans


def _parse(text: str) -> _Doc:
    """Split a response into units whose concatenation with separators is the text again."""
    pieces: list[tuple[int, int, str, str]] = []  # start, end, kind, marker
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
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        content_end = ls + len(line.rstrip())
        if not stripped:
            flush()
            i += 1
            continue
        fence = _FENCE_OPEN.match(line)
        if fence:
            flush()
            mark = fence.group(1)
            j = i + 1
            while j < len(lines):
                cand = text[lines[j][0]:lines[j][1]].strip()
                if cand and set(cand) == {mark[0]} and len(cand) >= len(mark):
                    break
                j += 1
            last = min(j, len(lines) - 1)
            end = lines[last][0] + len(text[lines[last][0]:lines[last][1]].rstrip())
            pieces.append((ls + indent, end, "code", ""))
            i = last + 1
            continue
        body = line.lstrip()
        item = _ITEM.match(body)
        header = _HEADER.match(body) if not item else None
        if item or header:
            flush()
            m = item or header
            end = content_end
            j = i + 1
            if item:  # indented continuation lines belong to the item
                while j < len(lines):
                    nxt = text[lines[j][0]:lines[j][1]].rstrip("\n")
                    n_indent = len(nxt) - len(nxt.lstrip())
                    if (not nxt.strip() or n_indent < 2 or _ITEM.match(nxt.lstrip())
                            or _FENCE_OPEN.match(nxt)):
                        break
                    end = lines[j][0] + len(nxt.rstrip())
                    j += 1
            pieces.append((ls + indent, end, "item" if item else "header", m.group(0)))
            i = j
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

    if not pieces:
        return _Doc(prefix=text)
    doc = _Doc(prefix=text[:pieces[0][0]], trailing=text[pieces[-1][1]:])
    for n, (s, e, kind, marker) in enumerate(pieces):
        sep = text[e:pieces[n + 1][0]] if n + 1 < len(pieces) else ""
        raw = text[s:e]
        doc.units.append(_Unit(kind, raw[len(marker):], sep, marker))
    return doc


def split_sentences(text: str) -> list[str]:
    """The units the rules work on, in order: sentences, list items, headers and whole code
    blocks (a code block is never split)."""
    return [u.text for u in _parse(text).units]


# --------------------------------------------------------------------------------------------
# Classification helpers
# --------------------------------------------------------------------------------------------

_FILLER_WORDS = frozenset("and so again very much really too you for all a lot the".split())


def _words(s: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9][\w'’-]*", s)


def _stem(w: str) -> str:
    w = w.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    for suf, rep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)] + rep
    return w


def _content_words(s: str) -> set[str]:
    s = _mask_inline_code(s)
    return {_stem(w) for w in re.findall(r"[A-Za-z][A-Za-z'’-]*", s)
            if w.lower().replace("’", "'") not in STOPWORDS and len(w) >= 3}


def _strip_pleasantry_prefix(s: str) -> str | None:
    """'Thanks for asking, the answer is 42.' → 'The answer is 42.'; None if no such prefix."""
    m = re.match(r"\s*((?:" + _PLEASANTRY_RE.pattern + r")[\s,]*)+[,!—–-]\s*", s,
                 re.IGNORECASE)
    if not m or m.end() >= len(s):
        return None
    rest = s[m.end():]
    if not re.search(r"[A-Za-z]", rest):
        return None
    return _capitalize(rest)


def _is_pleasantry(s: str) -> bool:
    """A sentence with no content besides social phrases, or a short one opening with one."""
    if _PLEASANTRY_RE.search(s) is None and _INTERJECTION_RE.fullmatch(s.strip(" !.,")) is None:
        return False
    rest = _INTERJECTION_RE.sub(" ", _PLEASANTRY_RE.sub(" ", s))
    if all(w.lower() in _FILLER_WORDS for w in _words(rest)):
        return True
    words = _words(s)
    opens = _PLEASANTRY_RE.match(s.strip())
    return bool(opens and len(words) <= 7 and not re.search(r"\d", s)
                and not re.match(r"\s*thanks\s+to\b", s, re.IGNORECASE)
                and "," not in s[opens.end():opens.end() + 2])


def _is_refusal(s: str) -> bool:
    return _REFUSAL_RE.search(s) is not None


def _is_follow_up(s: str) -> bool:
    s = s.strip()
    if _FOLLOW_UP_RE.search(s):
        return True
    return s.endswith("?") and re.search(r"\byou(?:r|rs)?\b", s, re.IGNORECASE) is not None


def _is_social(s: str) -> bool:
    """Pleasantries, follow-ups and refusals: text that carries no answer content."""
    return _is_pleasantry(s) or _is_follow_up(s) or _is_refusal(s)


def _capitalize(s: str) -> str:
    for i, ch in enumerate(s):
        if ch.isalpha():
            return s[:i] + ch.upper() + s[i + 1:]
        if ch not in " \t\"'“‘(*_":
            return s
    return s


def _lower_first(s: str, context: str) -> str:
    """Lower-case the first word unless it looks like a name (capitalised mid-sentence
    somewhere in ``context``) or an acronym/'I'."""
    m = re.match(r"([A-Z])([a-z][\w'’-]*)", s)
    if not m:
        return s
    word = m.group(0)
    if re.search(r"[a-z,;:]\s+" + re.escape(word) + r"\b", context):
        return s
    return s[0].lower() + s[1:]


def _ensure_period(s: str) -> str:
    s = s.rstrip()
    return s if s.endswith((".", "!", "?", ":", "`")) else s + "."


def _with_masked_code(s: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to ``s`` with inline code swapped for private-use placeholders."""
    saved: list[str] = []

    def keep(m: re.Match[str]) -> str:
        saved.append(m.group(0))
        return "\ue000" + chr(0xE100 + len(saved) - 1) + "\ue001"

    out = fn(_INLINE_CODE.sub(keep, s))
    return re.sub("\ue000(.)\ue001", lambda m: saved[ord(m.group(1)) - 0xE100], out)


@dataclass
class _Ctx:
    prompt: str
    response: str
    rng: random.Random


Rule = Callable[[_Doc, _Ctx], PerturbationResult]


def _done(doc: _Doc) -> PerturbationResult:
    return PerturbationResult(doc.render())


def _has_answer(doc: _Doc) -> bool:
    return any(u.kind in ("code", "item", "header", "static")
               or (u.kind == "sentence" and not _is_social(u.body)) for u in doc.units)


# --------------------------------------------------------------------------------------------
# verbosity
# --------------------------------------------------------------------------------------------

_RESTATEMENT_OPENER = re.compile(
    r"^\W*(?:to restate the key point|in other words|to put it another way|to restate|to repeat|"
    r"to reiterate|to summari[sz]e|to sum up|in summary|in short|as (?:i )?(?:mentioned|said|"
    r"noted)(?: (?:above|earlier|before))?|once again|again|simply put|put simply|all in all|"
    r"in conclusion|basically|essentially)\b", re.IGNORECASE)
_FILLER_SENTENCE = re.compile(
    r"^(?:this is an? (?:good|great|important|interesting|common) (?:question|topic|thing)"
    r"|there are (?:many|several|a few) (?:things|factors|points) to (?:consider|keep in mind)"
    r"|it is important to (?:think|be careful) about this|let me explain)[.!]?$", re.IGNORECASE)
_PADDING_NORMAL = {p.lower() for p in PADDING_SENTENCES}


def _verbosity_worse(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    content = [i for i, u in enumerate(doc.units) if u.kind == "sentence"
               and not _is_social(u.body) and not u.body.rstrip().endswith(("?", ":"))
               and len(_words(u.body)) >= 4]
    if content:
        i = content[ctx.rng.randrange(len(content))]
        restated = RESTATEMENT_PREFIX + _ensure_period(doc.units[i].body.strip())
        doc.insert_after(i, _Unit("sentence", restated), same_paragraph=True)
    padding = PADDING_SENTENCES[ctx.rng.randrange(len(PADDING_SENTENCES))]
    first = next((i for i, u in enumerate(doc.units)
                  if not (u.kind == "sentence" and _is_pleasantry(u.body))), len(doc.units))
    if first < len(doc.units) and doc.units[first].kind == "sentence":
        doc.insert_after(first - 1, _Unit("sentence", padding), same_paragraph=True)
    else:
        doc.insert_after(first - 1, _Unit("sentence", padding), same_paragraph=False)
    return _done(doc)


def _verbosity_better(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    drop: set[int] = set()
    sentences = [i for i, u in enumerate(doc.units) if u.kind == "sentence"]
    for i in sentences:
        body = doc.units[i].body.strip()
        if body.lower() in _PADDING_NORMAL or _FILLER_SENTENCE.match(body):
            drop.add(i)
    for i in sentences:
        if i in drop:
            continue
        body = doc.units[i].body
        if _RESTATEMENT_OPENER.match(body):
            own = _content_words(_RESTATEMENT_OPENER.sub("", body))
            rest: set[str] = set()
            for j, u in enumerate(doc.units):
                if j != i and j not in drop and u.kind != "code":
                    rest |= _content_words(u.body)
            if own and len(own & rest) / len(own) >= 0.5:
                drop.add(i)
    kept: list[int] = []
    for i in sentences:
        if i in drop:
            continue
        a = doc.units[i].body.lower()
        if len(_words(a)) >= 5 and any(
                fuzz.token_sort_ratio(a, doc.units[j].body.lower()) >= 85 for j in kept):
            drop.add(i)
        else:
            kept.append(i)
    if not drop:
        return PerturbationResult.failed(
            "no redundant sentences (restatements, filler or near-duplicates) to cut")
    doc.remove(drop)
    if not _has_answer(doc):
        return PerturbationResult.failed("cutting the redundant sentences would leave no answer")
    return _done(doc)


# --------------------------------------------------------------------------------------------
# assertiveness
# --------------------------------------------------------------------------------------------

_AUX_AFTER = re.compile(r"(?<=\s)(is|are|was|were|will|can|should|would)(?=\s)(?!\s+not\b)")
_HEDGE_WORDS = ("probably", "perhaps", "possibly")
_HEDGE_TAILS = (", I think", ", I believe")


def _hedge(body: str, rng: random.Random) -> str:
    def edit(s: str) -> str:
        m = _AUX_AFTER.search(s)
        if m:
            word = _HEDGE_WORDS[rng.randrange(len(_HEDGE_WORDS))]
            return s[:m.end()] + " " + word + s[m.end():]
        tail = _HEDGE_TAILS[rng.randrange(len(_HEDGE_TAILS))]
        core = s.rstrip()
        trail = s[len(core):]
        if core.endswith(("\"", "”", "'", "’", "`", ":")):
            return s  # a trailing hedge would land inside a quotation or before a colon
        m2 = re.search(r"[.!]+[)\]*_]*$", core)
        if m2:
            return core[:m2.start()] + tail + core[m2.start():] + trail
        return core + tail + trail

    return _with_masked_code(body, edit)


def _assertiveness_worse(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    eligible = [i for i, u in enumerate(doc.units) if u.editable and not _is_social(u.body)
                and not u.body.rstrip().endswith(("?", ":")) and len(_words(u.body)) >= 3
                and not _HEDGE_RE.search(u.body)]
    if not eligible:
        return PerturbationResult.failed(
            "no plain, unhedged statements outside code to hedge")
    offset = ctx.rng.randrange(2) if len(eligible) > 1 else 0
    picked = eligible[offset::2][:3]
    changed = 0
    for i in picked + [i for i in eligible if i not in picked]:
        new = _hedge(doc.units[i].body, ctx.rng)
        if new != doc.units[i].body:
            doc.units[i].body = new
            changed += 1
            if changed == len(picked):
                break
    if not changed:
        return PerturbationResult.failed("no statement outside code and quotations can take a "
                                         "hedge")
    return _done(doc)


_PLURAL_SUBJECTS = frozenset("they we you these those both many some several".split())


def _be_for(prev_word: str) -> str:
    w = prev_word.lower()
    if w == "i":
        return "am"
    if w in _PLURAL_SUBJECTS or (w.endswith("s") and not w.endswith(("ss", "is", "us"))
                                 and w not in ("this", "its", "it's", "has", "was")):
        return "are"
    return "is"


def _past_be(present: str) -> str:
    return "were" if present == "are" else "was"


_UNHEDGE_STEPS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str] | str], ...] = (
    (re.compile(r"(?:,\s*)?\b(?:but\s+)?(?:I'm|I am) not (?:entirely |completely |totally |100% )?"
                r"sure(?:,)? but\s*,?\s*", re.I), ""),
    (re.compile(r",\s*(?:I think|I believe|I guess|I suppose|it seems|if I'm not mistaken|"
                r"if I remember correctly|as far as I know|probably|perhaps|possibly|maybe|"
                r"arguably)\s*(?=[,.!?;:]|$)", re.I), ""),
    (re.compile(r",\s*(?:perhaps|probably|possibly|maybe|arguably|I think),\s*", re.I), " "),
    (re.compile(r"\b(?:I think|I believe|I guess|I suppose|it seems(?: to me)?|"
                r"as far as I know|if I'm not mistaken|if I remember correctly)"
                r"(?:\s+that\b|\s+like\b)?\s*,?\s*", re.I), ""),
    (re.compile(r"\b(?:probably|perhaps|possibly|maybe|arguably)\b,?\s*", re.I), ""),
    (re.compile(r",?\s*(?:but|though|although)\s+(?:I'm|I am) not (?:entirely |completely )?sure"
                r"(?: about that| of that)?(?=[.!?]|$)", re.I), ""),
    (re.compile(r"\b(?:might|may|could) be able to\b", re.I), "can"),
    (re.compile(r"(\b[\w'’]+\s+)(?:might|may|could) have been\b", re.I),
     lambda m: m.group(1) + _past_be(_be_for(m.group(1).strip()))),
    (re.compile(r"(\b[\w'’]+\s+)(?:might|may|could)( not)? be\b", re.I),
     lambda m: m.group(1) + _be_for(m.group(1).strip()) + (m.group(2) or "")),
    (re.compile(r"\b(?:might|may) want to\b", re.I), "should"),
    (re.compile(r"\bmight\b", re.I), "will"),
)


def _unhedge(body: str) -> str:
    def edit(s: str) -> str:
        lead = len(s) - len(s.lstrip())
        for pattern, repl in _UNHEDGE_STEPS:
            s = pattern.sub(repl, s)
        s = re.sub(r"[ \t]{2,}", " ", s)
        s = re.sub(r"\s+([,.!?;:])", r"\1", s)
        s = re.sub(r",\s*,", ",", s)
        s = re.sub(r"^(\s*)[,;]\s*", r"\1", s)
        return s[:lead] + _capitalize(s[lead:])

    return _with_masked_code(body, edit)


def _assertiveness_better(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    changed = False
    for u in doc.units:
        if u.editable and _HEDGE_RE.search(u.body):
            new = _unhedge(u.body)
            if new != u.body:
                u.body, changed = new, True
    if not changed:
        return PerturbationResult.failed("no hedges (might, perhaps, I think, ...) to remove")
    return _done(doc)


# --------------------------------------------------------------------------------------------
# avoid-to-answer
# --------------------------------------------------------------------------------------------

_CONNECTOR = re.compile(r"^(?:however|that said|but|still|nevertheless|instead)\s*,?\s+",
                        re.IGNORECASE)


def _avoid_worse(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    if any(_is_refusal(u.body) for u in doc.units if u.editable) and not _has_answer(doc):
        return PerturbationResult.failed("the response is already a refusal")
    return PerturbationResult(REFUSAL_RESPONSES[ctx.rng.randrange(len(REFUSAL_RESPONSES))])


def _avoid_better(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    drop: set[int] = set()
    strip_next = False
    found = False
    for i, u in enumerate(doc.units):
        if not u.editable:
            strip_next = False
            continue
        if strip_next and i not in drop:
            new = _CONNECTOR.sub("", u.body)
            if new != u.body:
                u.body = _capitalize(new)
        strip_next = False
        m = _REFUSAL_RE.search(u.body)
        if not m:
            continue
        found = True
        but = re.search(r"(?:,|;)?\s+but\s+|;\s*however,?\s+", u.body[m.end():], re.IGNORECASE)
        if but:
            rest = u.body[m.end() + but.end():]
            if len(_words(rest)) >= 3 and not _is_refusal(rest):
                u.body = _capitalize(rest)
                continue
        drop.add(i)
        strip_next = True
    if not found:
        return PerturbationResult.failed("no refusal or deflection sentences to remove")
    doc.remove(drop)
    if not doc.units or not _has_answer(doc):
        return PerturbationResult.failed(
            "the response is only a refusal; removing it leaves no answer")
    return _done(doc)


# --------------------------------------------------------------------------------------------
# manner
# --------------------------------------------------------------------------------------------

def _manner_worse(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    drop: set[int] = set()
    changed = False
    for i, u in enumerate(doc.units):
        if u.kind != "sentence":
            continue
        if _is_pleasantry(u.body):
            drop.add(i)
            continue
        rest = _strip_pleasantry_prefix(u.body)
        if rest is not None:
            if _is_pleasantry(rest):
                drop.add(i)
            else:
                u.body, changed = rest, True
    if not drop and not changed:
        return PerturbationResult.failed("no greetings, thanks or pleasantries to strip")
    doc.remove(drop)
    if not doc.units or not _has_answer(doc):
        return PerturbationResult.failed("the response is only pleasantries; nothing would remain")
    return _done(doc)


def _manner_better(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    sentences = [u for u in doc.units if u.kind == "sentence"]
    first, last = doc.units[0], doc.units[-1]
    has_greeting = first.kind == "sentence" and (
        _is_pleasantry(first.body) or _strip_pleasantry_prefix(first.body) is not None)
    has_close = any(_is_pleasantry(u.body) for u in sentences[-2:]) and last.kind == "sentence"
    if has_greeting and has_close:
        return PerturbationResult.failed("the response already opens with a greeting and closes "
                                         "courteously")
    if not has_close:
        close = CLOSINGS[ctx.rng.randrange(len(CLOSINGS))]
        doc.insert_after(len(doc.units) - 1, _Unit("sentence", close),
                         same_paragraph=last.kind == "sentence")
    if not has_greeting:
        greet = GREETINGS[ctx.rng.randrange(len(GREETINGS))]
        doc.insert_after(-1, _Unit("sentence", greet), same_paragraph=first.kind == "sentence")
    return _done(doc)


# --------------------------------------------------------------------------------------------
# coherence
# --------------------------------------------------------------------------------------------

def _permute(values: list[str], rng: random.Random) -> list[str]:
    """A seeded permutation that differs from the input whenever that is possible."""
    if len(set(values)) < 2:
        return list(values)
    for _ in range(20):
        out = list(values)
        rng.shuffle(out)
        if out != values:
            return out
    return values[1:] + values[:1]


def _coherence_worse(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    # Sentences that introduce a list or code block (ending in ':') stay in place.
    sentences = [i for i, u in enumerate(doc.units)
                 if u.kind == "sentence" and not u.body.rstrip().endswith(":")]
    groups = ([sentences] if len(sentences) >= 2 else []) + _list_runs(doc)
    if not groups:
        return PerturbationResult.failed(
            "fewer than two sentences or list items outside code to reorder")
    for g in groups:
        bodies = [doc.units[i].body for i in g]
        for i, b in zip(g, _permute(bodies, ctx.rng)):
            doc.units[i].body = b
    return _done(doc)


_MARKER_RE = re.compile(
    r"^\W*(" + "|".join(re.escape(m) for m in sorted(DISCOURSE_MARKERS, key=len, reverse=True))
    + r")(?=[\s,])", re.IGNORECASE)


def _marker_rank(body: str) -> int | None:
    m = _MARKER_RE.match(body)
    return DISCOURSE_MARKERS[m.group(1).lower()] if m else None


def _coherence_better(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    marked = [(i, r) for i, u in enumerate(doc.units)
              if u.editable and (r := _marker_rank(u.body)) is not None]
    if len(marked) < 2:
        return PerturbationResult.failed(
            "fewer than two sentences with discourse markers (First/Then/Finally) to order by")
    order = sorted(marked, key=lambda t: t[1])
    if [i for i, _ in order] == [i for i, _ in marked]:
        return PerturbationResult.failed("the sentences with discourse markers are already in "
                                         "order")
    bodies = [doc.units[i].body for i, _ in order]
    for (slot, _), body in zip(marked, bodies):
        doc.units[slot].body = body
    return _done(doc)


# --------------------------------------------------------------------------------------------
# relevance
# --------------------------------------------------------------------------------------------

_DIGRESSION = re.compile(
    r"^\W*(?:on an unrelated note|on a side note|on another note|unrelated(?:ly)?|incidentally|"
    r"as an aside|by the way|fun fact|side note|speaking of which|random(?:ly)?)\b",
    re.IGNORECASE)


def _relevance_worse(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    taken = _content_words(ctx.prompt) | _content_words(ctx.response)
    start = ctx.rng.randrange(len(OFF_TOPIC_SENTENCES))
    choice = None
    for k in range(len(OFF_TOPIC_SENTENCES)):
        cand = OFF_TOPIC_SENTENCES[(start + k) % len(OFF_TOPIC_SENTENCES)]
        if not (_content_words(_DIGRESSION.sub("", cand)) & taken):
            choice = cand
            break
    if choice is None:
        return PerturbationResult.failed("every stock off-topic sentence overlaps the prompt or "
                                         "response")
    sentences = [i for i, u in enumerate(doc.units) if u.kind == "sentence"]
    content = [i for i in sentences[:-1] if not _is_social(doc.units[i].body)
               and not doc.units[i].body.rstrip().endswith(":")]
    if content:
        at = content[ctx.rng.randrange(len(content))]
        doc.insert_after(at, _Unit("sentence", choice), same_paragraph=True)
    elif len(sentences) >= 2:
        at = sentences[ctx.rng.randrange(len(sentences) - 1)]
        doc.insert_after(at, _Unit("sentence", choice), same_paragraph=True)
    elif sentences:
        doc.insert_after(sentences[0], _Unit("sentence", choice), same_paragraph=True)
    else:
        doc.insert_after(len(doc.units) - 1, _Unit("sentence", choice), same_paragraph=False)
    return _done(doc)


def _relevance_better(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    # Word overlap alone is too weak a signal (short on-topic steps such as "Cook for 9
    # minutes." share no word with "How do I boil an egg?"), so a sentence is only judged
    # off-topic when it also announces itself as a digression.
    prompt_words = _content_words(ctx.prompt)
    drop: set[int] = set()
    for i, u in enumerate(doc.units):
        if u.kind != "sentence" or not _DIGRESSION.match(u.body) or _is_social(u.body):
            continue
        words = _content_words(_DIGRESSION.sub("", u.body))
        if len(words) >= 2 and not (words & prompt_words):
            drop.add(i)
    if not drop:
        return PerturbationResult.failed("no digression ('By the way', 'Incidentally', ...) that "
                                         "shares no content word with the prompt")
    doc.remove(drop)
    if not _has_answer(doc):
        return PerturbationResult.failed("removing the unrelated sentences would leave no answer")
    return _done(doc)


# --------------------------------------------------------------------------------------------
# correctness
# --------------------------------------------------------------------------------------------

_NUM = r"\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_EQUATION = re.compile(
    rf"(?<![\w.,$])({_NUM})\s*([+\-−*/×÷]|(?<=\s)x(?=\s))\s*({_NUM})\s*=\s*(-?{_NUM})"
    r"(?![\w%]|[.,]\d)")
_NUMBER = re.compile(r"(?<![\w.,\-])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w]|[.,]\d)")


@dataclass(frozen=True)
class ArithmeticStatement:
    """One 'a op b = c' statement found in prose; ``actual`` is what a op b really is."""

    start: int
    end: int
    text: str
    stated: float
    actual: float
    result_start: int
    result_text: str

    @property
    def correct(self) -> bool:
        decimals = len(self.result_text.split(".")[1]) if "." in self.result_text else 0
        tol = 1e-9 if decimals == 0 else 0.5 * 10 ** -decimals + 1e-9
        return abs(self.stated - self.actual) <= tol


def _num_value(s: str) -> float:
    return float(s.replace("$", "").replace(",", ""))


def _equations(s: str) -> list[ArithmeticStatement]:
    out = []
    for m in _EQUATION.finditer(s):
        before, after = s[:m.start()], s[m.end():]
        if re.search(r"[+\-−*/×÷(^)]\s*$", before) or re.match(r"\s*[+\-−*/×÷=^]", after):
            continue  # part of a longer expression: not a simple statement
        a, op, b = _num_value(m.group(1)), m.group(2), _num_value(m.group(3))
        if op == "+":
            actual = a + b
        elif op in "-−":
            actual = a - b
        elif op in "*×x":
            actual = a * b
        else:
            if b == 0:
                continue
            actual = a / b
        out.append(ArithmeticStatement(m.start(), m.end(), m.group(0), _num_value(m.group(4)),
                                       actual, m.start(4), m.group(4)))
    return out


def find_arithmetic(text: str) -> list[ArithmeticStatement]:
    """Every simple 'a op b = c' statement outside code (fenced and inline), with offsets into
    ``text``. Chained expressions ('2 + 3 + 4 = 9') are skipped, not misjudged."""
    doc = _parse(text)
    chars = list(_mask_inline_code(text))
    pos = len(doc.prefix)
    for u in doc.units:
        if u.kind == "code":
            chars[pos:pos + len(u.text)] = "x" * len(u.text)
        pos += len(u.text) + len(u.sep)
    return [ArithmeticStatement(st.start, st.end, text[st.start:st.end], st.stated, st.actual,
                                st.result_start, st.result_text)
            for st in _equations("".join(chars))]


def _format_number(value: float, like: str) -> str:
    dollar = "$" if "$" in like else ""
    sign = "-" if value < 0 else ""
    value = abs(value)
    decimals = len(like.split(".")[1]) if "." in like else 0
    comma = "," if "," in like else ""
    if decimals and abs(round(value, decimals) - value) < 1e-9:
        body = f"{value:{comma}.{decimals}f}"  # keep the stated precision, e.g. money
    elif abs(value - round(value)) < 1e-9:
        body = f"{int(round(value)):{comma}d}"
    else:
        body = f"{value:{comma}.4f}".rstrip("0").rstrip(".")
    return sign + dollar + body


def _corrupt_number(s: str) -> str:
    neg = s.startswith("-")
    core = s.lstrip("-")
    dollar = "$" if core.startswith("$") else ""
    core = core.lstrip("$")
    comma = "," in core
    decimals = len(core.split(".")[1]) if "." in core else 0
    v = float(core.replace(",", ""))
    if decimals:
        new = round(v * 1.5, decimals)
        if new == v:
            new = v + 10 ** -decimals
        body = f"{new:,.{decimals}f}" if comma else f"{new:.{decimals}f}"
    else:
        n = int(v)
        if 1000 <= n <= 2100 and not comma:
            n2 = n + 2
        elif n < 10:
            n2 = n + 2
        else:
            n2 = n + max(1, round(n * 0.2))
        body = f"{n2:,}" if comma else str(n2)
    return ("-" if neg else "") + dollar + body


def _fact_regex(fact: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])" + re.escape(fact) + r"(?![\w])")


_FACT_PATTERNS = [(_fact_regex(a), b) for a, b in FACT_SWAPS]


def _correctness_worse(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    editable = [i for i, u in enumerate(doc.units) if u.editable]

    def masked(i: int) -> str:
        return _mask_inline_code(doc.units[i].body)

    eqs = [(i, st) for i in editable for st in _equations(masked(i))]
    if eqs:
        i, st = eqs[ctx.rng.randrange(len(eqs))]
        body = doc.units[i].body
        end = st.result_start + len(st.result_text)
        doc.units[i].body = body[:st.result_start] + _corrupt_number(st.result_text) + body[end:]
        return _done(doc)
    # A swap whose wrong value is already in the text would read as a repetition, not an error.
    facts = [(i, m, wrong) for i in editable for pat, wrong in _FACT_PATTERNS
             if wrong not in ctx.response for m in pat.finditer(masked(i))]
    if facts:
        i, m, wrong = facts[ctx.rng.randrange(len(facts))]
        body = doc.units[i].body
        doc.units[i].body = body[:m.start()] + wrong + body[m.end():]
        return _done(doc)
    nums = [(i, m) for i in editable for m in _NUMBER.finditer(masked(i))]
    if nums:
        i, m = nums[ctx.rng.randrange(len(nums))]
        body = doc.units[i].body
        doc.units[i].body = body[:m.start()] + _corrupt_number(m.group(0)) + body[m.end():]
        return _done(doc)
    return PerturbationResult.failed(
        "no arithmetic, known facts or numbers outside code to make incorrect")


_PLACE = r"[A-Z][\wí]+(?: [A-Z][\wí]+)*"
_CAPITAL_CLAIMS = (
    re.compile(rf"\bcapital(?: city)? of (?:the )?(?P<country>{_PLACE}) is (?P<city>{_PLACE})"),
    re.compile(rf"(?P<city>{_PLACE}) is the capital(?: city)? of (?:the )?(?P<country>{_PLACE})"),
)
_WATER_CLAIMS = (
    (re.compile(r"\b(?:water )?boils at (?P<v>\d+)\s?(?:degrees Celsius|°C|degrees C)\b", re.I),
     "100"),
    (re.compile(r"\bboiling point(?: of water)? is (?P<v>\d+)\s?(?:degrees Celsius|°C)", re.I),
     "100"),
    (re.compile(r"\bboiling point(?: of water)? is (?P<v>\d+)\s?(?:degrees Fahrenheit|°F)", re.I),
     "212"),
    (re.compile(r"\b(?:water )?boils at (?P<v>\d+)\s?(?:degrees Fahrenheit|°F|degrees F)\b", re.I),
     "212"),
    (re.compile(r"\b(?:water )?freezes at (?P<v>\d+)\s?(?:degrees Celsius|°C|degrees C)\b", re.I),
     "0"),
    (re.compile(r"\b(?:water )?freezes at (?P<v>\d+)\s?(?:degrees Fahrenheit|°F|degrees F)\b",
                re.I), "32"),
)


def _fix_facts(s: str) -> str:
    for pat in _CAPITAL_CLAIMS:
        def fix(m: re.Match[str]) -> str:
            country, city = m.group("country"), m.group("city")
            right = CAPITALS.get(country)
            if right is None or _CAPITAL_ALIASES.get(city, city) == right:
                return m.group(0)
            a, b = m.span("city")
            return m.group(0)[:a - m.start()] + right + m.group(0)[b - m.start():]
        s = pat.sub(fix, s)
    for pat, right in _WATER_CLAIMS:
        s = pat.sub(lambda m: m.group(0)[:m.start("v") - m.start()] + right
                    + m.group(0)[m.end("v") - m.start():], s)
    return s


def _correctness_better(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    n_checked = 0
    changed = False
    for u in doc.units:
        if not u.editable:
            continue

        def edit(s: str) -> str:
            nonlocal n_checked
            sts = _equations(s)
            n_checked += len(sts)
            for st in reversed(sts):
                if not st.correct:
                    end = st.result_start + len(st.result_text)
                    s = s[:st.result_start] + _format_number(st.actual, st.result_text) + s[end:]
            return _fix_facts(s)

        new = _with_masked_code(u.body, edit)
        if new != u.body:
            u.body, changed = new, True
    if not changed:
        if n_checked:
            return PerturbationResult.failed(
                f"all {n_checked} arithmetic statement(s) are already correct and no known "
                "fact is wrong")
        return PerturbationResult.failed(
            "no 'a op b = c' arithmetic or known facts (capitals, boiling points) to check")
    return _done(doc)


# --------------------------------------------------------------------------------------------
# engagement
# --------------------------------------------------------------------------------------------

def _engagement_worse(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    drop = {i for i, u in enumerate(doc.units) if u.editable and _is_follow_up(u.body)}
    if not drop:
        return PerturbationResult.failed(
            "no follow-up invitations or questions to the user to remove")
    doc.remove(drop)
    if not doc.units or not _has_answer(doc):
        return PerturbationResult.failed("the response is only a follow-up question; nothing "
                                         "would remain")
    return _done(doc)


def _engagement_better(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    if any(u.editable and _is_follow_up(u.body) for u in doc.units):
        return PerturbationResult.failed("the response already invites follow-up")
    last = doc.units[-1]
    doc.insert_after(len(doc.units) - 1, _Unit("sentence", FOLLOW_UP_QUESTION),
                     same_paragraph=last.kind == "sentence")
    return _done(doc)


# --------------------------------------------------------------------------------------------
# clarity (formatting)
# --------------------------------------------------------------------------------------------

def _list_runs(doc: _Doc) -> list[list[int]]:
    """Unit indices of each markdown list (two or more consecutive items)."""
    runs: list[list[int]] = []
    run: list[int] = []
    for i, u in enumerate(doc.units + [_Unit("static", "")]):
        if u.kind == "item":
            run.append(i)
            continue
        if len(run) >= 2:
            runs.append(run)
        run = []
    return runs


def _clarity_worse(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    lists = _list_runs(doc)
    if not lists:
        return PerturbationResult.failed("no markdown list (two or more items) to flatten")
    run = lists[ctx.rng.randrange(len(lists))]
    context = ctx.prompt + "\n" + ctx.response
    parts = []
    for k, i in enumerate(run):
        part = re.sub(r"\s+", " ", doc.units[i].body).strip().rstrip(".;,:")
        parts.append(part if k == 0 else _lower_first(part, context))
    prev = doc.units[run[0] - 1] if run[0] > 0 else None
    after_colon = prev is not None and prev.kind == "sentence" and prev.body.rstrip().endswith(":")
    if after_colon:
        parts[0] = _lower_first(parts[0], context)
    joined = parts[0] + " and " + parts[1] if len(parts) == 2 else \
        ", ".join(parts[:-1]) + ", and " + parts[-1]
    sentence = _Unit("sentence", _ensure_period(_capitalize(joined) if not after_colon
                                                else joined), doc.units[run[-1]].sep)
    if after_colon and prev is not None:
        prev.sep = " "
    doc.units[run[0]:run[-1] + 1] = [sentence]
    return _done(doc)


def _strip_marker(body: str) -> str:
    pat = re.compile(r"^(\W*)(?:" + "|".join(re.escape(m) for m in sorted(
        _STRIPPABLE_MARKERS, key=len, reverse=True)) + r")\b\s*,?\s*", re.IGNORECASE)
    m = pat.match(body)
    if not m or m.end() >= len(body):
        return body
    return m.group(1) + _capitalize(body[m.end():])


def _clarity_better(doc: _Doc, ctx: _Ctx) -> PerturbationResult:
    units = doc.units
    i = 0
    while i < len(units):
        if units[i].kind == "sentence" and _marker_rank(units[i].body) is not None:
            j = i
            last_marked = i
            n_marked = 0
            while j < len(units) and units[j].kind == "sentence":
                if _marker_rank(units[j].body) is not None:
                    n_marked += 1
                    last_marked = j
                j += 1
            if n_marked >= 2:
                items: list[str] = []
                for k in range(i, last_marked + 1):
                    body = units[k].body.strip()
                    if _marker_rank(body) is not None or not items:
                        items.append(_strip_marker(body))
                    else:
                        items[-1] += " " + body
                new_units = [_Unit("item", b, "\n", f"{n}. ") for n, b in enumerate(items, 1)]
                new_units[-1].sep = _stronger(units[last_marked].sep, "\n\n")
                if i > 0:
                    prev = units[i - 1]
                    prev.sep = "\n" if prev.body.rstrip().endswith(":") else \
                        _stronger(prev.sep, "\n\n")
                units[i:last_marked + 1] = new_units
                return _done(doc)
            i = j
        else:
            i += 1
    for i, u in enumerate(units):
        if u.kind != "sentence":
            continue
        new = _inline_list(u)
        if new:
            units[i:i + 1] = new
            return _done(doc)
    return PerturbationResult.failed(
        "no enumerated sentences (First/Then/Finally) or inline lists ('x: a, b, and c') to "
        "format as a list")


def _inline_list(u: _Unit) -> list[_Unit] | None:
    m = re.match(r"^(?P<lead>[^:`]{3,}?):\s+(?P<rest>[^:`]+?)(?P<end>[.!])?$", u.body.strip())
    if not m:
        return None
    parts = [p.strip() for p in m.group("rest").split(",")]
    parts = [re.sub(r"^(?:and|or)\s+", "", p) for p in parts if p]
    if len(parts) == 2 and re.search(r"\s(?:and|or)\s", parts[-1]):
        a, b = re.split(r"\s(?:and|or)\s", parts[-1], maxsplit=1)
        parts = [parts[0], a.strip(), b.strip()]
    if len(parts) < 3 or any(not 1 <= len(_words(p)) <= 6 for p in parts):
        return None
    out = [_Unit("sentence", m.group("lead") + ":", "\n")]
    out += [_Unit("item", p, "\n", "- ") for p in parts]
    out[-1].sep = _stronger(u.sep, "\n\n")  # a following paragraph must not join the list
    return out


# --------------------------------------------------------------------------------------------
# The perturber
# --------------------------------------------------------------------------------------------

_RULES: dict[str, dict[str, Rule]] = {
    "verbosity": {"worse": _verbosity_worse, "better": _verbosity_better},
    "assertiveness": {"worse": _assertiveness_worse, "better": _assertiveness_better},
    "avoid-to-answer": {"worse": _avoid_worse, "better": _avoid_better},
    "manner": {"worse": _manner_worse, "better": _manner_better},
    "coherence": {"worse": _coherence_worse, "better": _coherence_better},
    "relevance": {"worse": _relevance_worse, "better": _relevance_better},
    "correctness": {"worse": _correctness_worse, "better": _correctness_better},
    "engagement": {"worse": _engagement_worse, "better": _engagement_better},
    "clarity": {"worse": _clarity_worse, "better": _clarity_better},
}

SUPPORTED_ATTRIBUTES: tuple[str, ...] = tuple(_RULES)


class RulePerturber(BasePerturber):
    """Deterministic, offline perturbations by hand-written rules (see the module docstring).

    Attributes are matched by name; a user-defined attribute with one of these names gets the
    same rule. ``identity`` carries a version so cached rewrites are redone when rules change.
    """

    identity = "rules:v1"
    supported_attributes: tuple[str, ...] = SUPPORTED_ATTRIBUTES

    def supports(self, attribute: Attribute) -> bool:
        return attribute.name in _RULES

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        name = request.attribute.name
        if name not in _RULES:
            return PerturbationResult.failed(f"{self.identity} cannot perturb attribute '{name}'")
        if request.direction not in DIRECTIONS:
            return PerturbationResult.failed(
                f"direction must be 'worse' or 'better', got {request.direction!r}")
        if not request.response.strip():
            return PerturbationResult.failed("the response is empty")
        seed = hashlib.sha256("\x1f".join(
            (request.response, name, request.direction)).encode("utf-8")).digest()
        ctx = _Ctx(request.prompt_text, request.response,
                   random.Random(int.from_bytes(seed[:8], "big")))
        doc = _parse(request.response)
        if not doc.units:
            return PerturbationResult.failed("the response has no text to rewrite")
        result = _RULES[name][request.direction](doc, ctx)
        if result.text is not None and result.text.strip() == request.response.strip():
            return PerturbationResult.failed(
                f"the {name} rule ({request.direction}) found nothing to change")
        return result
