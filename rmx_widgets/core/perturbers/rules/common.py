"""What every rule shares: its signature, its context, and the tests several rules make."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.perturbers.rules.stock import DISCOURSE_MARKERS
from rmx_widgets.core.text.markdown import Doc, Unit
from rmx_widgets.core.text.phrases import is_social


@dataclass
class Ctx:
    """The request a rule serves: the prompt and original response as text, and the
    request's seeded random generator (every random choice a rule makes comes from it)."""

    prompt: str
    response: str
    rng: random.Random


#: A rule edits the parsed response in place and returns the rendered result, or a failure.
Rule = Callable[[Doc, Ctx], PerturbationResult]


def done(doc: Doc) -> PerturbationResult:
    return PerturbationResult(doc.render())


def has_answer(doc: Doc) -> bool:
    """Whether anything but social sentences is left (code, lists and headers count)."""
    return any(
        u.kind in ("code", "item", "header", "static")
        or (u.kind == "sentence" and not is_social(u.body))
        for u in doc.units
    )


def list_runs(doc: Doc) -> list[list[int]]:
    """Unit indices of each markdown list (two or more consecutive items)."""
    runs: list[list[int]] = []
    run: list[int] = []
    for i, u in enumerate(doc.units + [Unit("static", "")]):
        if u.kind == "item":
            run.append(i)
            continue
        if len(run) >= 2:
            runs.append(run)
        run = []
    return runs


_MARKER_RE = re.compile(
    r"^\W*("
    + "|".join(re.escape(m) for m in sorted(DISCOURSE_MARKERS, key=len, reverse=True))
    + r")(?=[\s,])",
    re.IGNORECASE,
)


def marker_rank(body: str) -> int | None:
    """The rank of the discourse marker ``body`` opens with (First → 0, Finally → 9)."""
    m = _MARKER_RE.match(body)
    return DISCOURSE_MARKERS[m.group(1).lower()] if m else None
