"""``FeatureJudge``: an offline judge that measures the text feature each rule targets.

The rule perturber (``perturbers/rules``) changes one documented surface feature per attribute;
this judge counts that feature in the original and in the rewrite with the same counters
(``core.text``), so it can tell, without a model, whether a rewrite moved the feature the asked
way and left the rest of the response alone. It is a *surface* judge: it checks the features
below, not meaning, so it says nothing (``supports`` is False, the verdict ``None``) about
attributes that have no such feature (helpfulness, complexity, informativeness, harmlessness,
sensitivity, neutrality, user-defined names).

Features, and which way is *worse* (each attribute's ``worse`` / ``better`` text says so):

- **verbosity**: words (``text.words.words``); worse = more words (padding), better = fewer.
  The count must move by at least ``min_length_change`` of the original's words (and by one
  word at least).
- **assertiveness**: hedge phrases (``HEDGES``); worse = more, better = fewer.
- **avoid-to-answer**: refusal phrases (``REFUSALS``); worse = more, better = fewer.
- **manner**: pleasantries (``PLEASANTRIES``); worse = fewer (stripped), better = more.
- **engagement**: follow-up units (``phrases.is_follow_up``: an invitation or a question to the
  user); worse = fewer, better = more.
- **relevance**: off-topic sentences: a sentence of two or more content words that shares none
  with the prompt and has fewer than half of them anywhere else in the response; worse = more,
  better = fewer.
- **correctness**: false ``a op b = c`` statements (``text.arithmetic``); worse = more, better =
  fewer. Other claims (facts, plain numbers) are not checked: when the rewrite leaves every
  arithmetic statement as it was, the verdict is ``None``.
- **clarity**: list items (markdown units); worse = fewer (a list flattened), better = more.
- **coherence**: the units must be a reordering of the original's (the same sentences and items,
  whitespace aside); worse = at least one unit out of place, without fewer discourse-marker
  inversions (First/Then/Finally out of order); better = fewer inversions.

Counts other than words must move by at least ``min_count_change``.

**Other qualities stayed put.** Each attribute's own material (its hedges, refusal sentences,
pleasantry sentences, follow-ups, off-topic sentences) is set aside in both texts, and the rest
(unit bodies, so list markers do not count) is compared as a multiset of lower-case words: the
rewrite's residual length must be within ``max_length_factor`` of the original's (either way),
and the words both share must be at least ``min_kept`` of the longer residual. verbosity is
about length, so it skips the length test and asks that ``min_kept`` of the *shorter* text's
words are in the longer one (padding adds, cutting removes, neither rewrites the rest).
avoid-to-answer *worse* replaces the answer by a refusal, so nothing else is asked of it.

Everything is a count over the two texts (linear in their length), and the reason is one line
with the measured numbers.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rmx_widgets.core.attributes import DIRECTIONS, Attribute
from rmx_widgets.core.data import render_prompt
from rmx_widgets.core.errors import OptionError
from rmx_widgets.core.perturbers.rules.common import marker_rank
from rmx_widgets.core.text.arithmetic import find_arithmetic
from rmx_widgets.core.text.markdown import Unit, parse
from rmx_widgets.core.text.phrases import (
    HEDGE_RE,
    PLEASANTRY_RE,
    REFUSAL_RE,
    count_phrases,
    is_follow_up,
    is_pleasantry,
    phrase_regex,
    strip_pleasantry_prefix,
)
from rmx_widgets.core.text.wordlists import (
    HEDGES,
    PLEASANTRIES,
    PLEASANTRY_INTERJECTIONS,
    REFUSALS,
)
from rmx_widgets.core.text.words import content_words, words
from rmx_widgets.core.validity.base import JudgeRequest, Verdict

VERSION = "v1"
_INTERJECTION_RE = phrase_regex(PLEASANTRY_INTERJECTIONS)
# what the avoid-to-answer rule keeps of "I can't X, but Y": the clause after the "but"
_BUT = re.compile(r"(?:,|;)?\s+but\s+|;\s*however,?\s+", re.IGNORECASE)


@dataclass(frozen=True)
class _Texts:
    """One request's texts, parsed once."""

    prompt: str
    original: str
    rewrite: str
    units_o: list[Unit]
    units_r: list[Unit]


@dataclass(frozen=True)
class _Feature:
    """How one attribute is measured: ``count(text, units, prompt)``, its unit name, the sign
    of a *worse* rewrite (+1: worse means more), which units are its own material
    (``own(units, prompt)``: a flag per unit) and which phrases in the other units are
    (``strip``), both left out of the comparison of the rest."""

    count: Callable[[str, list[Unit], str], int]
    unit: str
    worse_sign: int
    own: Callable[[list[Unit], str], list[bool]] | None = None
    strip: re.Pattern[str] | None = None
    strip_prefix: bool = False
    refusal_clause: bool = False


def _n_words(text: str, units: list[Unit], prompt: str) -> int:
    return len(words(text))


def _hedges(text: str, units: list[Unit], prompt: str) -> int:
    return count_phrases(text, HEDGES)


def _refusals(text: str, units: list[Unit], prompt: str) -> int:
    return count_phrases(text, REFUSALS)


def _pleasantries(text: str, units: list[Unit], prompt: str) -> int:
    """Pleasantry phrases, plus sentences that are only an interjection ("Sure!")."""
    alone = sum(
        1
        for u in units
        if u.kind == "sentence" and _INTERJECTION_RE.fullmatch(u.body.strip(" !.,")) is not None
    )
    return count_phrases(text, PLEASANTRIES) + alone


def _follow_ups(text: str, units: list[Unit], prompt: str) -> int:
    return sum(1 for u in units if u.editable and is_follow_up(u.body))


def _off_topic_flags(units: list[Unit], prompt: str) -> list[bool]:
    """Per unit: an off-topic sentence (see the module docstring)."""
    want = content_words(prompt)
    own = [content_words(u.body) if u.kind != "code" else set() for u in units]
    seen = Counter(w for ws in own for w in ws)
    flags = []
    for u, ws in zip(units, own):
        if u.kind != "sentence" or len(ws) < 2 or ws & want:
            flags.append(False)
            continue
        elsewhere = sum(1 for w in ws if seen[w] > 1)
        flags.append(elsewhere * 2 < len(ws))
    return flags


def _off_topic(text: str, units: list[Unit], prompt: str) -> int:
    return sum(_off_topic_flags(units, prompt))


def _flags(test: Callable[[Unit], bool]) -> Callable[[list[Unit], str], list[bool]]:
    return lambda units, prompt: [test(u) for u in units]


def _false_statements(text: str, units: list[Unit], prompt: str) -> int:
    return sum(not st.correct for st in find_arithmetic(text))


def _list_items(text: str, units: list[Unit], prompt: str) -> int:
    return sum(1 for u in units if u.kind == "item")


FEATURES: dict[str, _Feature] = {
    "verbosity": _Feature(_n_words, "words", +1),
    "assertiveness": _Feature(_hedges, "hedge phrases", +1, strip=HEDGE_RE),
    "avoid-to-answer": _Feature(_refusals, "refusal phrases", +1, refusal_clause=True),
    "manner": _Feature(
        _pleasantries,
        "pleasantries",
        -1,
        own=_flags(lambda u: u.kind == "sentence" and is_pleasantry(u.body)),
        strip=PLEASANTRY_RE,
        strip_prefix=True,
    ),
    "engagement": _Feature(
        _follow_ups, "follow-ups", -1, own=_flags(lambda u: u.editable and is_follow_up(u.body))
    ),
    "relevance": _Feature(_off_topic, "off-topic sentences", +1, own=_off_topic_flags),
    "correctness": _Feature(_false_statements, "false 'a op b = c' statements", +1),
    "clarity": _Feature(_list_items, "list items", -1),
}
#: The attributes this judge has a feature for (coherence is measured on the units' order).
SUPPORTED_ATTRIBUTES: tuple[str, ...] = (*FEATURES, "coherence")


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _norm(s: str) -> str:
    return " ".join(s.split())


def _inversions(units: list[Unit]) -> int:
    """Pairs of discourse-marked units out of marker order (ranks are 0..9: linear)."""
    seen = [0] * 10
    inv = 0
    for u in units:
        if not u.editable:
            continue
        r = marker_rank(u.body)
        if r is None:
            continue
        inv += sum(seen[r + 1 :])
        seen[r] += 1
    return inv


class FeatureJudge:
    """Judges rewrites of the rule perturber's attributes by their text features, offline.

    Thresholds (keyword-only; see the module docstring for what each attribute counts):

    - ``min_length_change`` (0.05): verbosity must change the word count by at least this
      fraction of the original's words (and one word at least).
    - ``min_count_change`` (1): any other count must move by at least this many.
    - ``max_length_factor`` (1.5): apart from the attribute's own material, the rewrite's words
      must be within this factor of the original's, longer or shorter.
    - ``min_kept`` (0.85): apart from the attribute's own material, the words the two texts
      share must be at least this fraction of the longer one's (verbosity: the shorter one's).

    ``identity`` names the version and every threshold, so verdicts cached under one setting
    are never reused for another.
    """

    def __init__(
        self,
        *,
        min_length_change: float = 0.05,
        min_count_change: int = 1,
        max_length_factor: float = 1.5,
        min_kept: float = 0.85,
    ) -> None:
        if not _number(min_length_change) or not 0 <= min_length_change < 1:
            raise OptionError(
                f"min_length_change must be a fraction in [0, 1), got {min_length_change!r}."
            )
        if isinstance(min_count_change, bool) or not isinstance(min_count_change, int):
            raise OptionError(f"min_count_change must be a whole number, got {min_count_change!r}.")
        if min_count_change < 1:
            raise OptionError(f"min_count_change must be at least 1, got {min_count_change!r}.")
        if not _number(max_length_factor) or max_length_factor < 1:
            raise OptionError(
                f"max_length_factor must be a number of at least 1, got {max_length_factor!r}."
            )
        if not _number(min_kept) or not 0 <= min_kept <= 1:
            raise OptionError(f"min_kept must be a fraction in [0, 1], got {min_kept!r}.")
        self.min_length_change = float(min_length_change)
        self.min_count_change = min_count_change
        self.max_length_factor = float(max_length_factor)
        self.min_kept = float(min_kept)
        self.identity = (
            f"features-judge:{VERSION}:len{self.min_length_change:g}:n{min_count_change}"
            f":f{self.max_length_factor:g}:k{self.min_kept:g}"
        )

    def __repr__(self) -> str:
        return (
            f"FeatureJudge(min_length_change={self.min_length_change:g}, "
            f"min_count_change={self.min_count_change}, "
            f"max_length_factor={self.max_length_factor:g}, min_kept={self.min_kept:g})"
        )

    def supports(self, attribute: Attribute) -> bool:
        return attribute.name in SUPPORTED_ATTRIBUTES

    def judge_batch(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        return [self.judge(r) for r in requests]

    def judge(self, request: JudgeRequest) -> Verdict:
        """The verdict on one rewrite (see the module docstring)."""
        name = request.attribute.name
        if name not in SUPPORTED_ATTRIBUTES:
            return Verdict(None, f"FeatureJudge has no text feature for attribute '{name}'")
        if request.direction not in DIRECTIONS:
            return Verdict(
                None, f"direction must be 'worse' or 'better', got {request.direction!r}"
            )
        t = _Texts(
            render_prompt(request.prompt),
            request.original,
            request.rewrite,
            parse(request.original).units,
            parse(request.rewrite).units,
        )
        if name == "coherence":
            return self._coherence(t, request.direction)
        return self._counted(name, FEATURES[name], t, request.direction)

    # -- counted features -----------------------------------------------------------------

    def _counted(self, name: str, f: _Feature, t: _Texts, direction: str) -> Verdict:
        before = f.count(t.original, t.units_o, t.prompt)
        after = f.count(t.rewrite, t.units_r, t.prompt)
        sign = f.worse_sign if direction == "worse" else -f.worse_sign
        asked = f"asked: {direction} = {'more' if sign > 0 else 'fewer'}"
        head = f"{name}: {before} → {after} {f.unit} ({asked})"
        if name == "correctness" and _statements(t.original) == _statements(t.rewrite):
            return Verdict(
                None,
                f"{head}: the rewrite left every 'a op b = c' statement as it was, and this "
                "judge checks no other claim",
            )
        if name == "avoid-to-answer" and direction == "worse":
            return self._avoid_worse(head, after, t)
        moved = (after - before) * sign
        need = (
            max(1, math.ceil(self.min_length_change * before))
            if name == "verbosity"
            else self.min_count_change
        )
        if moved == 0:
            return Verdict(False, f"{head}: unchanged")
        if moved < 0:
            return Verdict(False, f"{head}: moved the opposite way")
        if moved < need:
            return Verdict(False, f"{head}: moved by {moved}, less than the {need} asked")
        problem, kept = self._others(name, f, t)
        if problem:
            return Verdict(False, f"{head} ✓ but {problem}")
        return Verdict(True, f"{head} ✓; {_pct(kept)} of the other words kept")

    def _residual(self, f: _Feature | None, units: list[Unit], prompt: str) -> Counter[str]:
        """The words of the units that are not the attribute's own material."""
        own = f.own(units, prompt) if f is not None and f.own is not None else None
        bag: Counter[str] = Counter()
        for i, u in enumerate(units):
            if own is not None and own[i]:
                continue
            body = u.body
            if f is not None and f.refusal_clause:
                body = _answer_part(body)
            if f is not None and f.strip_prefix:
                body = strip_pleasantry_prefix(body) or body
            if f is not None and f.strip is not None:
                body = f.strip.sub(" ", body)
            bag.update(w.lower() for w in words(body))
        return bag

    def _shares(self, name: str, f: _Feature | None, t: _Texts) -> tuple[int, int, float]:
        """(residual words of the original, of the rewrite, share kept)."""
        a = self._residual(f, t.units_o, t.prompt)
        b = self._residual(f, t.units_r, t.prompt)
        na, nb = sum(a.values()), sum(b.values())
        common = sum((a & b).values())
        base = min(na, nb) if name == "verbosity" else max(na, nb)
        return na, nb, (common / base if base else 1.0)

    def _others(self, name: str, f: _Feature | None, t: _Texts) -> tuple[str | None, float]:
        """(why the rest of the response did not stay put or None, the share kept)."""
        na, nb, kept = self._shares(name, f, t)
        if name != "verbosity":
            if (na == 0) != (nb == 0):
                return f"the rest of the response went from {na} to {nb} words", kept
            if na and max(na, nb) > self.max_length_factor * min(na, nb):
                return (
                    f"the rest of the response changed length: {na} → {nb} words "
                    f"(over ×{self.max_length_factor:g})"
                ), kept
        if kept < self.min_kept:
            return f"other words changed: {_pct(kept)} kept (< {_pct(self.min_kept)})", kept
        return None, kept

    def _avoid_worse(self, head: str, after: int, t: _Texts) -> Verdict:
        """A refusal replaces the answer: the rewrite must hold a refusal phrase and at most
        half the answer words (outside refusal sentences) the original had."""
        a, b = _answer_words(t.units_o), _answer_words(t.units_r)
        head = f"{head}, {a} → {b} answer words"
        if after == 0:
            return Verdict(False, f"{head}: no refusal in the rewrite")
        if b * 2 > a:
            return Verdict(False, f"{head}: most of the answer is still there")
        return Verdict(True, f"{head} ✓")

    # -- coherence ------------------------------------------------------------------------

    def _coherence(self, t: _Texts, direction: str) -> Verdict:
        bodies_o = [_norm(u.body) for u in t.units_o]
        bodies_r = [_norm(u.body) for u in t.units_r]
        inv_o, inv_r = _inversions(t.units_o), _inversions(t.units_r)
        if Counter(bodies_o) != Counter(bodies_r):
            kept = sum((Counter(bodies_o) & Counter(bodies_r)).values())
            n = max(len(bodies_o), len(bodies_r))
            return Verdict(
                False,
                f"coherence: the units are not a reordering of the original's ({kept} of {n} "
                "kept as they were): the edit rewrote text, not its order",
            )
        moved = sum(a != b for a, b in zip(bodies_o, bodies_r))
        if direction == "worse":
            head = (
                f"coherence: {moved} of {len(bodies_o)} units out of place, "
                f"marker inversions {inv_o} → {inv_r} (asked: worse = disordered)"
            )
            if inv_r < inv_o:
                return Verdict(False, f"{head}: moved the opposite way")
            if moved == 0:
                return Verdict(False, f"{head}: unchanged")
            return Verdict(True, f"{head} ✓")
        head = f"coherence: {inv_o} → {inv_r} marker inversions (asked: better = fewer)"
        if moved == 0:
            return Verdict(False, f"{head}: unchanged")
        if inv_r > inv_o:
            return Verdict(False, f"{head}: moved the opposite way")
        if inv_r == inv_o:
            if inv_o == 0:
                return Verdict(
                    None,
                    f"{head}: {moved} units moved, but there are no discourse markers to tell "
                    "a better order",
                )
            return Verdict(False, f"{head}: the order changed, its marker inversions did not")
        if inv_o - inv_r < self.min_count_change:
            return Verdict(False, f"{head}: moved less than asked")
        return Verdict(True, f"{head} ✓")


def _answer_part(body: str) -> str:
    """A sentence without its refusal: "" for a refusal sentence, but the clause after its
    "but" when there is one ("I can't X, but Y" → "Y"); any other sentence as it is."""
    m = REFUSAL_RE.search(body)
    if m is None:
        return body
    but = _BUT.search(body, m.end())
    return body[but.end() :] if but else ""


def _answer_words(units: list[Unit]) -> int:
    return sum(len(words(_answer_part(u.body))) for u in units if u.kind != "code")


def _statements(text: str) -> list[str]:
    return [_norm(st.text) for st in find_arithmetic(text)]


def _number(x: object) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)


__all__ = ["SUPPORTED_ATTRIBUTES", "FeatureJudge"]
