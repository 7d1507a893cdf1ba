"""Confounders of a flip rate: how much of an attribute's PFR is a change of length.

A rewrite that makes a response worse on, say, clarity may also make it shorter, and many RMs
prefer longer responses; the flip is then the RM reacting to length as much as to the attribute.
Two numbers make that visible:

* ``length_change`` (per explanation-table row): the rewrite's length minus the original's, in
  word tokens (:func:`rmx_widgets.core.text.words.words`); NaN for a failed rewrite. Words, not
  the RM's tokens: the table must not depend on which RM's tokenizer ran, so that the tables of
  two RMs explained on the same rewrites are comparable row by row (and a table can be
  re-analysed without loading a model).
* the length-controlled flip rate (per attribute and direction): the PFR among the successful
  rewrites whose length changed by less than ``LENGTH_CONTROL`` (10 %) of the original's word
  count, |length_change| / words(original) < 0.10. Exactly 10 % is excluded. At tiny lengths
  the bound is below one word: an original of fewer than 11 words qualifies only with a net
  change of 0 words (a one-word edit of a 5-word text is 20 %; of a 10-word text exactly 10 %),
  and an empty original (0 words) never qualifies. ``n_length_controlled`` counts the
  qualifying rewrites; the rate is NaN ("not measured") when none qualifies.

Tables written before ``length_change`` existed (old Parquet files, hand-made tables) get it
computed from their ``original``/``perturbed`` texts; without the texts (and without a slim
table's ``original_words``, see ``core.table_io``) the length-controlled columns are <NA>/NaN,
never an error.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

from rmx_widgets.core.text.words import words

#: A rewrite is length-controlled when |length_change| < LENGTH_CONTROL × words(original).
LENGTH_CONTROL = 0.10
#: The columns :func:`length_controlled` returns beside ``attribute`` and ``direction``.
LENGTH_COLUMNS = ["pfr_length_controlled", "n_length_controlled"]
#: The per-row word count of the original response a slim table (no texts) keeps instead of
#: ``original``, so that it can still be length-controlled.
ORIGINAL_WORDS = "original_words"


def word_count(text: object) -> float:
    """Word tokens in ``text`` (see :func:`words`); NaN when there is no text."""
    if not isinstance(text, str):
        return math.nan
    return float(len(words(text)))


def length_change(original: object, perturbed: object) -> float:
    """words(perturbed) − words(original); NaN when either text is missing (a failed row)."""
    return word_count(perturbed) - word_count(original)


def row_length_changes(table: pd.DataFrame) -> pd.Series:
    """Each row's ``length_change``: the column where it has a value, else computed from the
    ``original``/``perturbed`` texts when the table has them; NaN for failed rows and where
    neither is available."""
    if "length_change" in table:
        change = pd.to_numeric(table["length_change"], errors="coerce").astype(float)
    else:
        change = pd.Series(np.nan, index=table.index, dtype=float)
    if "original" in table and "perturbed" in table and change.isna().any():
        missing = change.isna()
        change = change.copy()
        change[missing] = [
            length_change(o, p)
            for o, p in zip(table.loc[missing, "original"], table.loc[missing, "perturbed"])
        ]
    if "outcome" in table:
        change = change.where(table["outcome"] != "failed")
    return change


def original_word_counts(table: pd.DataFrame) -> pd.Series:
    """Each row's original word count: from ``original`` when present, else a slim table's
    ``original_words`` column; NaN where neither is there."""
    if "original" in table:
        # Each original is rewritten along every attribute: count each distinct text once.
        counts = {t: word_count(t) for t in pd.unique(table["original"]) if isinstance(t, str)}
        return table["original"].map(counts).astype(float)
    if ORIGINAL_WORDS in table:
        return pd.to_numeric(table[ORIGINAL_WORDS], errors="coerce").astype(float)
    return pd.Series(np.nan, index=table.index, dtype=float)


def has_length_information(table: pd.DataFrame) -> bool:
    """Whether the table can say how long its rewrites are: a ``length_change`` column or both
    texts, and the original's length (its text, or a slim table's ``original_words``)."""
    has_change = "length_change" in table or ("original" in table and "perturbed" in table)
    return has_change and ("original" in table or ORIGINAL_WORDS in table)


def is_length_controlled(table: pd.DataFrame) -> pd.Series:
    """Per row: True when the successful rewrite changed length by less than LENGTH_CONTROL of
    the original's words, False when it did not (or the original has 0 words), <NA> when it
    cannot be told (failed row, or no length information)."""
    change = row_length_changes(table)
    n = original_word_counts(table)
    known = change.notna() & n.notna()
    # |Δ| / n < 0.10 rather than |Δ| < 0.10 · n: the division of two integers rounds to the
    # nearest double, so exactly 10 % compares equal to LENGTH_CONTROL (0.10 · 30 does not).
    ratio = change.abs() / n.where(n > 0)
    inside = (ratio < LENGTH_CONTROL).fillna(False)
    out = pd.Series(pd.NA, index=table.index, dtype="boolean")
    out[known] = inside[known]
    return out


def length_controlled(table: pd.DataFrame, directions: tuple[str, ...]) -> pd.DataFrame:
    """``attribute, direction, pfr_length_controlled, n_length_controlled`` per attribute
    (first-appearance order) and direction (``directions``, where ``"both"`` pools the others).

    ``n_length_controlled`` is the number of successful, length-controlled rewrites (0 when
    none qualifies, <NA> when the table has no length information, see
    :func:`has_length_information`); the rate is
    CF / n_length_controlled among them, NaN when n is 0 or unknown.
    """
    attributes = list(pd.unique(table["attribute"])) if "attribute" in table else []
    controlled = is_length_controlled(table) if len(table) else pd.Series(dtype="boolean")
    measurable = has_length_information(table)
    # one pass over the controlled rows' (attribute, direction, CF) cells, not a copy of the
    # whole table's rows masked once per attribute and direction (bench/widgets.py's 20,000
    # rows: 39 -> 35 ms; most of what is left is counting the originals' words)
    n_of: Counter = Counter()
    cf_of: Counter = Counter()
    if len(table):
        keep = controlled.fillna(False).to_numpy(dtype=bool)
        names = table["attribute"].to_numpy()[keep]
        sides = table["direction"].to_numpy()[keep]
        flips = table["outcome"].to_numpy()[keep] == "CF"
        for name, direction, flip in zip(names.tolist(), sides.tolist(), flips.tolist()):
            keys = [(name, "both")] if direction == "both" else [(name, direction), (name, "both")]
            for key in keys:  # "both" pools every direction of the attribute
                n_of[key] += 1
                cf_of[key] += int(flip)
    records = []
    for name in attributes:
        for direction in directions:
            n, cf = n_of[(name, direction)], cf_of[(name, direction)]
            rate = cf / n if n > 0 else math.nan
            records.append((name, direction, rate, n if measurable else pd.NA))
    out = pd.DataFrame.from_records(records, columns=["attribute", "direction", *LENGTH_COLUMNS])
    return out.astype({"pfr_length_controlled": float, "n_length_controlled": "Int64"})
