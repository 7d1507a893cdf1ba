"""clarity (formatting): worse flattens a markdown list into a run-on sentence, better turns
enumerated sentences (First/Then/Finally) or an inline 'x: a, b, and c' into a list."""

from __future__ import annotations

import re

from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.perturbers.rules.common import Ctx, done, list_runs, marker_rank
from rmx_widgets.core.perturbers.rules.stock import DISCOURSE_MARKERS
from rmx_widgets.core.text.markdown import Doc, Unit, stronger
from rmx_widgets.core.text.words import capitalize, ensure_period, lower_first, words

# Markers whose removal leaves a grammatical sentence (used when building a list).
_STRIPPABLE_MARKERS = tuple(m for m in DISCOURSE_MARKERS if m not in ("start by", "begin by"))
_STRIPPABLE_RE = re.compile(
    r"^(\W*)(?:"
    + "|".join(re.escape(m) for m in sorted(_STRIPPABLE_MARKERS, key=len, reverse=True))
    + r")\b\s*,?\s*",
    re.IGNORECASE,
)


def clarity_worse(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Join the items of one list into 'a, b, and c.' (after a colon: in lower case)."""
    lists = list_runs(doc)
    if not lists:
        return PerturbationResult.failed(
            "no markdown list (two or more items) to flatten", FailureKind.NOT_APPLICABLE
        )
    run = lists[ctx.rng.randrange(len(lists))]
    context = ctx.prompt + "\n" + ctx.response
    parts = []
    for k, i in enumerate(run):
        part = re.sub(r"\s+", " ", doc.units[i].body).strip().rstrip(".;,:")
        parts.append(part if k == 0 else lower_first(part, context))
    prev = doc.units[run[0] - 1] if run[0] > 0 else None
    after_colon = prev is not None and prev.kind == "sentence" and prev.body.rstrip().endswith(":")
    if after_colon:
        parts[0] = lower_first(parts[0], context)
    joined = (
        parts[0] + " and " + parts[1]
        if len(parts) == 2
        else ", ".join(parts[:-1]) + ", and " + parts[-1]
    )
    sentence = Unit(
        "sentence",
        ensure_period(capitalize(joined) if not after_colon else joined),
        doc.units[run[-1]].sep,
    )
    if after_colon and prev is not None:
        prev.sep = " "
    doc.units[run[0] : run[-1] + 1] = [sentence]
    return done(doc)


def _strip_marker(body: str) -> str:
    m = _STRIPPABLE_RE.match(body)
    if not m or m.end() >= len(body):
        return body
    return m.group(1) + capitalize(body[m.end() :])


def _to_numbered_list(units: list[Unit], i: int, last_marked: int) -> None:
    """Replace sentences ``i..last_marked`` by a numbered list, one item per marked sentence
    (unmarked ones join the item before them)."""
    items: list[str] = []
    for k in range(i, last_marked + 1):
        body = units[k].body.strip()
        if marker_rank(body) is not None or not items:
            items.append(_strip_marker(body))
        else:
            items[-1] += " " + body
    new_units = [Unit("item", b, "\n", f"{n}. ") for n, b in enumerate(items, 1)]
    new_units[-1].sep = stronger(units[last_marked].sep, "\n\n")
    if i > 0:
        prev = units[i - 1]
        prev.sep = "\n" if prev.body.rstrip().endswith(":") else stronger(prev.sep, "\n\n")
    units[i : last_marked + 1] = new_units


def _number_enumeration(units: list[Unit]) -> bool:
    """Number the first run of consecutive sentences with two or more discourse markers;
    False when there is none."""
    i = 0
    while i < len(units):
        if units[i].kind == "sentence" and marker_rank(units[i].body) is not None:
            j = i
            last_marked = i
            n_marked = 0
            while j < len(units) and units[j].kind == "sentence":
                if marker_rank(units[j].body) is not None:
                    n_marked += 1
                    last_marked = j
                j += 1
            if n_marked >= 2:
                _to_numbered_list(units, i, last_marked)
                return True
            i = j
        else:
            i += 1
    return False


def _inline_list(u: Unit) -> list[Unit] | None:
    """'Pack these: a, b, and c.' as a lead sentence and a bulleted list, or None."""
    m = re.match(r"^(?P<lead>[^:`]{3,}?):\s+(?P<rest>[^:`]+?)(?P<end>[.!])?$", u.body.strip())
    if not m:
        return None
    parts = [p.strip() for p in m.group("rest").split(",")]
    parts = [re.sub(r"^(?:and|or)\s+", "", p) for p in parts if p]
    if len(parts) == 2 and re.search(r"\s(?:and|or)\s", parts[-1]):
        a, b = re.split(r"\s(?:and|or)\s", parts[-1], maxsplit=1)
        parts = [parts[0], a.strip(), b.strip()]
    if len(parts) < 3 or any(not 1 <= len(words(p)) <= 6 for p in parts):
        return None
    out = [Unit("sentence", m.group("lead") + ":", "\n")]
    out += [Unit("item", p, "\n", "- ") for p in parts]
    out[-1].sep = stronger(u.sep, "\n\n")  # a following paragraph must not join the list
    return out


def clarity_better(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Number enumerated sentences, else bullet the first inline list."""
    if _number_enumeration(doc.units):
        return done(doc)
    for i, u in enumerate(doc.units):
        if u.kind != "sentence":
            continue
        new = _inline_list(u)
        if new:
            doc.units[i : i + 1] = new
            return done(doc)
    return PerturbationResult.failed(
        "no enumerated sentences (First/Then/Finally) or inline lists ('x: a, b, and c') to "
        "format as a list",
        FailureKind.NOT_APPLICABLE,
    )
