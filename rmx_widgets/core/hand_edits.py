"""Hand edits: which rows of an explanation table a person typed rather than a perturber made.

A rewrite typed or edited in the comparison view (``core.rescore``) is stored with perturber
``manual`` (rows re-derived against an edited original: ``manual/<perturber>``) and can be kept
in a table (``result.keep_edits``) so the reader sees it beside the run's rows. It is nobody's
perturbation: a person chose it while reading the results, so every figure (sensitivity,
τ between RMs, representatives, coverage) leaves it out, or the rates would lean towards
whatever the reader was probing. This module is the one test of "is a hand edit"; it imports
nothing of the package so that every figure's module can use it.
"""

from __future__ import annotations

import pandas as pd

#: The perturber identity of every hand-made text.
HAND_EDIT = "manual"


def hand_edit_rows(table: pd.DataFrame) -> pd.Series:
    """Which rows of ``table`` are hand edits (perturber ``manual`` or ``manual/...``); all
    False for a table without a ``perturber`` column."""
    if "perturber" not in table.columns:
        return pd.Series(False, index=table.index)
    perturber = table["perturber"].astype("str")
    return (perturber == HAND_EDIT) | perturber.str.startswith(HAND_EDIT + "/").fillna(False)


def without_hand_edits(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` less its hand edits: the rows every figure is computed on."""
    edits = hand_edit_rows(table)
    return table[~edits] if bool(edits.any()) else table
