"""assertiveness: worse hedges plain statements, better removes hedges."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.perturbers.rules.common import Ctx, done
from rmx_widgets.core.text.markdown import Doc, with_masked_code
from rmx_widgets.core.text.phrases import HEDGE_RE, is_social
from rmx_widgets.core.text.words import capitalize, words

_AUX_AFTER = re.compile(r"(?<=\s)(is|are|was|were|will|can|should|would)(?=\s)(?!\s+not\b)")
_HEDGE_WORDS = ("probably", "perhaps", "possibly")
_HEDGE_TAILS = (", I think", ", I believe")


def _hedge(body: str, rng: random.Random) -> str:
    """'X is Y.' → 'X is probably Y.'; without an auxiliary, 'X Y.' → 'X Y, I think.'."""

    def edit(s: str) -> str:
        m = _AUX_AFTER.search(s)
        if m:
            word = _HEDGE_WORDS[rng.randrange(len(_HEDGE_WORDS))]
            return s[: m.end()] + " " + word + s[m.end() :]
        tail = _HEDGE_TAILS[rng.randrange(len(_HEDGE_TAILS))]
        core = s.rstrip()
        trail = s[len(core) :]
        if core.endswith(('"', "”", "'", "’", "`", ":")):
            return s  # a trailing hedge would land inside a quotation or before a colon
        m2 = re.search(r"[.!]+[)\]*_]*$", core)
        if m2:
            return core[: m2.start()] + tail + core[m2.start() :] + trail
        return core + tail + trail

    return with_masked_code(body, edit)


def assertiveness_worse(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Hedge every other plain, unhedged statement, up to three."""
    eligible = [
        i
        for i, u in enumerate(doc.units)
        if u.editable
        and not is_social(u.body)
        and not u.body.rstrip().endswith(("?", ":"))
        and len(words(u.body)) >= 3
        and not HEDGE_RE.search(u.body)
    ]
    if not eligible:
        return PerturbationResult.failed(
            "no plain, unhedged statements outside code to hedge", FailureKind.NOT_APPLICABLE
        )
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
        return PerturbationResult.failed(
            "no statement outside code and quotations can take a hedge", FailureKind.NOT_APPLICABLE
        )
    return done(doc)


_PLURAL_SUBJECTS = frozenset(
    {"they", "we", "you", "these", "those", "both", "many", "some", "several"}
)


def _be_for(prev_word: str) -> str:
    """The present form of 'to be' that agrees with the word before it."""
    w = prev_word.lower()
    if w == "i":
        return "am"
    if w in _PLURAL_SUBJECTS or (
        w.endswith("s")
        and not w.endswith(("ss", "is", "us"))
        and w not in ("this", "its", "it's", "has", "was")
    ):
        return "are"
    return "is"


def _past_be(present: str) -> str:
    return "were" if present == "are" else "was"


_UNHEDGE_STEPS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str] | str], ...] = (
    (
        re.compile(
            r"(?:,\s*)?\b(?:but\s+)?(?:I'm|I am) not (?:entirely |completely |totally |100% )?"
            r"sure(?:,)? but\s*,?\s*",
            re.I,
        ),
        "",
    ),
    (
        re.compile(
            r",\s*(?:I think|I believe|I guess|I suppose|it seems|if I'm not mistaken|"
            r"if I remember correctly|as far as I know|probably|perhaps|possibly|maybe|"
            r"arguably)\s*(?=[,.!?;:]|$)",
            re.I,
        ),
        "",
    ),
    (re.compile(r",\s*(?:perhaps|probably|possibly|maybe|arguably|I think),\s*", re.I), " "),
    (
        re.compile(
            r"\b(?:I think|I believe|I guess|I suppose|it seems(?: to me)?|"
            r"as far as I know|if I'm not mistaken|if I remember correctly)"
            r"(?:\s+that\b|\s+like\b)?\s*,?\s*",
            re.I,
        ),
        "",
    ),
    (re.compile(r"\b(?:probably|perhaps|possibly|maybe|arguably)\b,?\s*", re.I), ""),
    (
        re.compile(
            r",?\s*(?:but|though|although)\s+(?:I'm|I am) not (?:entirely |completely )?sure"
            r"(?: about that| of that)?(?=[.!?]|$)",
            re.I,
        ),
        "",
    ),
    (re.compile(r"\b(?:might|may|could) be able to\b", re.I), "can"),
    (
        re.compile(r"(\b[\w'’]+\s+)(?:might|may|could) have been\b", re.I),
        lambda m: m.group(1) + _past_be(_be_for(m.group(1).strip())),
    ),
    (
        re.compile(r"(\b[\w'’]+\s+)(?:might|may|could)( not)? be\b", re.I),
        lambda m: m.group(1) + _be_for(m.group(1).strip()) + (m.group(2) or ""),
    ),
    (re.compile(r"\b(?:might|may) want to\b", re.I), "should"),
    (re.compile(r"\bmight\b", re.I), "will"),
)


def _unhedge(body: str) -> str:
    """Apply every unhedging step in order, then tidy the spaces and commas they leave."""

    def edit(s: str) -> str:
        lead = len(s) - len(s.lstrip())
        for pattern, repl in _UNHEDGE_STEPS:
            s = pattern.sub(repl, s)
        s = re.sub(r"[ \t]{2,}", " ", s)
        s = re.sub(r"\s+([,.!?;:])", r"\1", s)
        s = re.sub(r",\s*,", ",", s)
        s = re.sub(r"^(\s*)[,;]\s*", r"\1", s)
        return s[:lead] + capitalize(s[lead:])

    return with_masked_code(body, edit)


def assertiveness_better(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Remove hedges from every unit that has one."""
    changed = False
    for u in doc.units:
        if u.editable and HEDGE_RE.search(u.body):
            new = _unhedge(u.body)
            if new != u.body:
                u.body, changed = new, True
    if not changed:
        return PerturbationResult.failed(
            "no hedges (might, perhaps, I think, ...) to remove", FailureKind.NOT_APPLICABLE
        )
    return done(doc)
