"""The null perturber of a run: which one, and whether it may run.

A flip rate alone does not say whether an attribute matters: any edit of a response moves an
RM's margin a little, and a few of those moves flip close preferences. So beside the
attribute perturber the Explainer can run an attribute-blind *null* perturber (random word edits
offline, the paraphrase baseline with an LLM) on the same comparisons, attributes and directions;
its table is the null the sensitivity statistics compare against (rows pair on
``comparison_id, attribute, direction``). A null must not read the attribute, or it would not be
a null: ``resolve_null_perturber`` refuses one that declares ``attribute_aware``.

The run loop itself is the Explainer's (``Explainer.iter_null_batches``): the null goes through
the same caches, so a rerun recomputes nothing and processes sharing a store split its work.
"""

from __future__ import annotations

from typing import Any

from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.perturbers.base import (
    CallablePerturber,
    Perturber,
    ProtocolPerturber,
    as_perturber,
)

#: What ``rmx explain --null`` and ``rmx demo --null`` accept.
NULL_SPECS = ("random", "paraphrase", "none")


def resolve_null_perturber(obj: Any) -> Perturber | None:
    """``obj`` as an attribute-blind perturber, or ``None`` for no null.

    A perturber object must declare ``attribute_aware = False`` (``RandomWordPerturber``,
    ``ParaphrasePerturber``, ``PolyjuicePerturber`` do). A plain function
    ``fn(prompt, response, attribute, direction)`` or a bare object (``identity`` +
    ``perturb_batch``) cannot declare it itself: passing one as the null declares it blind (it
    must ignore ``attribute``; the direction it may use, as the null runs both), unless it
    carries ``attribute_aware = True``.
    """
    if obj is None:
        return None
    declared = getattr(obj, "attribute_aware", None)
    perturber = as_perturber(obj)
    if (
        isinstance(perturber, (CallablePerturber, ProtocolPerturber))
        and perturber is not obj  # wrapped here: passing it as the null declares it blind
        and declared is not True
    ):
        perturber.attribute_aware = False
    if perturber.attribute_aware is not False:
        raise PerturberError(
            f"null_perturber {perturber.identity} is attribute-aware: a null perturber must "
            "ignore the attribute (attribute_aware = False), e.g. RandomWordPerturber() or "
            "the paraphrase baseline (perturber_from_spec('paraphrase', model=...))."
        )
    return perturber


def null_skip_reason(perturber: Perturber, null: Perturber | None) -> str | None:
    """Why a configured null cannot run beside ``perturber`` now, or ``None`` when it can."""
    if null is None:
        return "no null perturber"
    if null.identity == perturber.identity:
        return f"the null perturber is the perturber itself ({null.identity})"
    return null.why_unavailable()


def null_from_spec(spec: str | None, *, seed: int = 0, **llm_options: Any) -> Perturber | None:
    """The null ``rmx explain --null`` names: ``random`` (offline random word edits, ``seed``),
    ``paraphrase`` (the attribute-free LLM baseline, built from ``llm_options`` as
    ``perturber_from_spec`` builds it) or ``none``/``None`` (no null)."""
    if spec is None or spec == "none":
        return None
    if spec == "random":
        from rmx_widgets.core.perturbers.random_words import RandomWordPerturber

        return RandomWordPerturber(seed=seed)
    if spec == "paraphrase":
        from rmx_widgets.core.specs import perturber_from_spec

        return resolve_null_perturber(perturber_from_spec("paraphrase", **llm_options))
    raise PerturberError(f"null perturber {spec!r}: use one of {', '.join(NULL_SPECS)}.")


__all__ = [
    "NULL_SPECS",
    "null_from_spec",
    "null_skip_reason",
    "resolve_null_perturber",
]
