"""coherence: worse shuffles sentences and list items, better orders sentences by their
discourse markers (First, Second, Next/Then, Finally)."""

from __future__ import annotations

import random

from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.perturbers.rules.common import Ctx, done, list_runs, marker_rank
from rmx_widgets.core.text.markdown import Doc


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


def coherence_worse(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Permute the sentences among the sentence slots, and the items of each list (markers
    stay in place)."""
    # Sentences that introduce a list or code block (ending in ':') stay in place.
    sentences = [
        i
        for i, u in enumerate(doc.units)
        if u.kind == "sentence" and not u.body.rstrip().endswith(":")
    ]
    groups = ([sentences] if len(sentences) >= 2 else []) + list_runs(doc)
    if not groups:
        return PerturbationResult.failed(
            "fewer than two sentences or list items outside code to reorder",
            FailureKind.NOT_APPLICABLE,
        )
    for g in groups:
        bodies = [doc.units[i].body for i in g]
        for i, b in zip(g, _permute(bodies, ctx.rng)):
            doc.units[i].body = b
    return done(doc)


def coherence_better(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Reorder the units that open with a discourse marker into marker order."""
    marked = [
        (i, r)
        for i, u in enumerate(doc.units)
        if u.editable and (r := marker_rank(u.body)) is not None
    ]
    if len(marked) < 2:
        return PerturbationResult.failed(
            "fewer than two sentences with discourse markers (First/Then/Finally) to order by",
            FailureKind.NOT_APPLICABLE,
        )
    order = sorted(marked, key=lambda t: t[1])
    if [i for i, _ in order] == [i for i, _ in marked]:
        return PerturbationResult.failed(
            "the sentences with discourse markers are already in order", FailureKind.NOT_APPLICABLE
        )
    bodies = [doc.units[i].body for i, _ in order]
    for (slot, _), body in zip(marked, bodies):
        doc.units[slot].body = body
    return done(doc)
