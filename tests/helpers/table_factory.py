"""Build small explanation tables by hand for tests.

Tests of the analysis layer assert numbers computed by hand, so they need tables whose margins
are chosen directly rather than produced by a model. :func:`row` takes the two margins that
matter (before and after the perturbation) and derives every other column the way the
Explainer does, so the rows are internally consistent (rewards, direction, outcome).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd

COLUMNS = [
    "comparison_id",
    "prompt",
    "preferred",
    "side",
    "attribute",
    "direction",
    "original",
    "perturbed",
    "reward_original",
    "reward_perturbed",
    "reward_other",
    "margin_before",
    "margin_after",
    "outcome",
    "failure_reason",
    "syntactic_distance",
    "semantic_distance",
    "perturber",
    "rm",
]


def row(
    comparison_id: str,
    attribute: str,
    side: str,
    margin_before: float,
    margin_after: float | None,
    *,
    preferred: str = "a",
    prompt: str | None = None,
    original: str | None = None,
    perturbed: str | None = None,
    rm: str = "rm-a",
    perturber: str = "hand",
    failure_reason: str = "unparseable LLM output",
    syntactic_distance: float = math.nan,
    semantic_distance: float = math.nan,
) -> dict:
    """One explanation-table row. ``margin_after=None`` makes a failed perturbation.

    Rewards are fixed as reward(chosen) = margin_before and reward(rejected) = 0, so that
    margin_after follows the Explainer's definition for either side.
    """
    if side not in ("chosen", "rejected"):
        raise ValueError(f"side must be 'chosen' or 'rejected', got {side!r}")
    failed = margin_after is None
    reward_chosen, reward_rejected = float(margin_before), 0.0
    if side == "chosen":
        reward_original, reward_other = reward_chosen, reward_rejected
        reward_perturbed = math.nan if failed else reward_other + margin_after
    else:
        reward_original, reward_other = reward_rejected, reward_chosen
        reward_perturbed = math.nan if failed else reward_other - margin_after
    if original is None:
        original = f"{side} response of {comparison_id}"
    if perturbed is None and not failed:
        perturbed = f"{original} ({attribute} {'worse' if side == 'chosen' else 'better'})"
    return {
        "comparison_id": comparison_id,
        "prompt": prompt if prompt is not None else f"prompt of {comparison_id}",
        "preferred": preferred,
        "side": side,
        "attribute": attribute,
        "direction": "worse" if side == "chosen" else "better",
        "original": original,
        "perturbed": None if failed else perturbed,
        "reward_original": reward_original,
        "reward_perturbed": reward_perturbed,
        "reward_other": reward_other,
        "margin_before": float(margin_before),
        "margin_after": math.nan if failed else float(margin_after),
        "outcome": "failed" if failed else ("CF" if margin_after < 0 else "SF"),
        "failure_reason": failure_reason if failed else None,
        "syntactic_distance": math.nan if failed else syntactic_distance,
        "semantic_distance": math.nan if failed else semantic_distance,
        "perturber": perturber,
        "rm": rm,
    }


def table(rows: Iterable[Mapping]) -> pd.DataFrame:
    """A DataFrame with exactly the explanation-table columns, in order, numeric columns float."""
    df = pd.DataFrame(list(rows), columns=COLUMNS)
    for col in (
        "reward_original",
        "reward_perturbed",
        "reward_other",
        "margin_before",
        "margin_after",
        "syntactic_distance",
        "semantic_distance",
    ):
        df[col] = df[col].astype(float)
    return df


def comparison(
    comparison_id: str,
    margin_before: float,
    afters: Mapping[str, tuple[float | None, float | None]],
    **kwargs,
) -> list[dict]:
    """All rows of one comparison: ``afters[attribute] = (margin_after chosen, rejected)``.

    Use ``None`` for a failed perturbation; leave an attribute out to skip it entirely.
    """
    rows = []
    for attribute, (after_chosen, after_rejected) in afters.items():
        rows.append(row(comparison_id, attribute, "chosen", margin_before, after_chosen, **kwargs))
        rows.append(
            row(comparison_id, attribute, "rejected", margin_before, after_rejected, **kwargs)
        )
    return rows


# The sliced table the slice tests count by hand: five comparisons, one rewrite per side for
# "verbosity", their domain in ``slice.domain`` (c5 has none).
DOMAIN = {"c1": "math", "c2": "math", "c3": "chat", "c4": "code", "c5": None}


def domain_table() -> pd.DataFrame:
    """c1: worse CF, better SF; c2: worse SF, better failed; c3: the slice of one comparison;
    c4: every rewrite failed; c5: no domain (its ``slice.domain`` is the string of a missing
    value, as ``astype("str")`` makes it; callers that need a real missing value set it)."""
    rows = (
        comparison("c1", 2.0, {"verbosity": (-1.0, 1.0)})
        + comparison("c2", 4.0, {"verbosity": (3.0, None)})
        + comparison("c3", 1.0, {"verbosity": (-0.5, 0.5)})
        + comparison("c4", 3.0, {"verbosity": (None, None)})
        + comparison("c5", 2.0, {"verbosity": (1.0, -1.0)})
    )
    t = table(rows)
    t["slice.domain"] = t["comparison_id"].map(DOMAIN).astype("str")
    return t
