"""Which objectives an attribute moves: per-objective reward changes of a multi-objective RM.

A multi-objective RM (``MultiObjectiveRewardModel``: ArmoRM-style, one head per objective) is
explained by its combined reward like any RM; beside it, every row of the explanation table
keeps each objective's change, ``objective.<name>.delta``:

    objective.<name>.delta = r_name(prompt, rewrite) − r_name(prompt, original)

the change of that objective's reward for the rewritten side (the chosen response for a
``worse`` rewrite, the rejected one for ``better``), NaN for a failed rewrite. So a
verbosity rewrite that leaves the combined preference in place but moves ``correctness`` is
visible. The objective rewards come from the store (``CachedRewardModel.objective_scores``),
written by the same forward pass as the combined score, so no input is scored twice.

``objective_effects`` summarises the columns per attribute × direction × objective: the mean
change, n (successful rewrites with a measured change) and the failed rewrites; the mean is
NaN, "not measured", where n is 0. Directions are kept apart because making a response worse
and making the other better move an objective in opposite directions, so pooling them would
cancel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.hand_edits import without_hand_edits

if TYPE_CHECKING:
    from rmx_widgets.core.cached import CachedRewardModel
    from rmx_widgets.core.rows import PlannedRewrite

PREFIX, SUFFIX = "objective.", ".delta"
EFFECT_COLUMNS = ["attribute", "direction", "objective", "mean_delta", "n", "n_failed"]


def objective_column(name: str) -> str:
    """The table column of one objective's change: ``objective.<name>.delta``."""
    return f"{PREFIX}{name}{SUFFIX}"


def objective_columns(table: pd.DataFrame) -> dict[str, str]:
    """objective name → its column, for the ``objective.<name>.delta`` columns of ``table``,
    in table order."""
    names = [str(c) for c in table.columns]
    return {
        c[len(PREFIX) : -len(SUFFIX)]: c
        for c in names
        if c.startswith(PREFIX) and c.endswith(SUFFIX) and len(c) > len(PREFIX) + len(SUFFIX)
    }


def with_objective_deltas(
    frame: pd.DataFrame, batch: Sequence[PlannedRewrite], scores: CachedRewardModel
) -> pd.DataFrame:
    """``frame`` (the rows of ``batch``, in order) with an ``objective.<name>.delta`` column
    per objective of ``scores.rm``; unchanged for an RM with no objectives."""
    if not scores.objectives:
        return frame
    ok = [i for i, text in enumerate(frame["perturbed"]) if isinstance(text, str)]
    prompts = [batch[i].comparison.prompt for i in ok]
    texts = [frame["perturbed"].iat[i] for i in ok] + [batch[i].original for i in ok]
    got = scores.objective_scores(prompts + prompts, texts)
    out = frame.copy()
    for name, values in got.items():
        delta = [math.nan] * len(frame)
        for j, i in enumerate(ok):
            delta[i] = values[j] - values[len(ok) + j]
        out[objective_column(name)] = pd.Series(delta, index=frame.index, dtype=float)
    return out


def objective_effects(table: pd.DataFrame) -> pd.DataFrame:
    """Mean ``objective.<name>.delta`` per attribute × direction × objective
    (``EFFECT_COLUMNS``): ``mean_delta`` over the ``n`` successful rewrites with a finite
    change, ``n_failed`` the failed rewrites of that attribute and direction; ``mean_delta`` is
    NaN ("not measured") when n is 0. Hand edits are left out, as from every figure. Raises
    ``RMXError`` for a table with no objective columns (its RM declared no objectives)."""
    columns = objective_columns(table)
    if not columns:
        raise RMXError(
            "this table has no objective.<name>.delta columns: its RM declared no objectives "
            "(load a multi-objective RM with HFRewardModel(..., objectives=...))."
        )
    table = without_hand_edits(table)  # a reader's probes are not a sample (core.hand_edits)
    records = []
    failed = table["outcome"] == "failed"
    for attribute in pd.unique(table["attribute"]):
        for direction in ("worse", "better"):
            cell = (table["attribute"] == attribute) & (table["direction"] == direction)
            n_failed = int((cell & failed).sum())
            for name, col in columns.items():
                values = pd.to_numeric(table.loc[cell & ~failed, col], errors="coerce")
                values = values[values.map(math.isfinite)] if len(values) else values
                n = len(values)
                mean = math.fsum(values) / n if n else math.nan
                records.append((attribute, direction, name, mean, n, n_failed))
    return pd.DataFrame(records, columns=EFFECT_COLUMNS)


def format_objective_effects(table: pd.DataFrame) -> list[str]:
    """:func:`objective_effects` as aligned text lines for a terminal, one line per attribute
    × direction: each objective's mean change (``+0.123``, or "not measured"), then n and
    the failed rewrites."""
    effects = objective_effects(table)
    names = list(pd.unique(effects["objective"]))
    header = ["attribute", "direction", *names, "n", "failed"]
    lines = [header]
    for (attribute, direction), cell in effects.groupby(["attribute", "direction"], sort=False):
        means = dict(zip(cell["objective"], cell["mean_delta"]))
        n = int(cell["n"].max())
        lines.append(
            [
                str(attribute),
                str(direction),
                *(f"{means[o]:+.3f}" if math.isfinite(means[o]) else "not measured" for o in names),
                str(n),
                str(int(cell["n_failed"].iloc[0])),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
