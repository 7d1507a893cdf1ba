"""Declared expectations (as CheckList does for NLP models): what a good RM should do, per
attribute, checked row by row against an explanation table.

Two kinds, each judged on the table's columns, one verdict per row of the attribute:

- ``Expectation(attr, "prefers", "better")`` ("prefers correctness"): the RM should prefer the
  attribute's ``better`` pole, i.e. every rewrite should move the RM's margin the way the
  rewrite's direction points: Δ = margin_after − margin_before < 0 for both sides (a "worse"
  rewrite of the chosen response should lower its reward; a "better" rewrite of the rejected
  response should raise its reward, which also lowers the margin). Pass: Δ < −tol; fail:
  Δ > +tol; a tie (|Δ| ≤ tol: the RM did not react) is excluded and counted.
  ``"prefers", "worse"`` is the mirror (pass: Δ > +tol).
- ``Expectation(attr, "invariant")`` ("invariant to verbosity"): the RM's preference should not
  flip. Pass: margin_after > tol (outcome SF); fail: margin_after < −tol (a flip, outcome CF);
  a rewrite that lands on a tie (|margin_after| ≤ tol) is excluded and counted.

Failed rewrites (outcome "failed") are excluded and counted apart: they measure the perturber,
not the RM. ``pass_rate = n_pass / n`` with n = n_pass + n_fail and a Wilson score interval;
with n = 0 the rate and interval are NaN ("not measured") and ``note`` says why. Severity of a
row is |Δ| (how far the margin moved), so :func:`failing` lists the worst failures first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rmx_widgets.core.attributes import DEFAULT_ATTRIBUTES
from rmx_widgets.core.errors import OptionError
from rmx_widgets.core.intervals import wilson_interval
from rmx_widgets.core.metrics import require_columns

KINDS = ("prefers", "invariant")
#: below this a margin change (prefers) or a margin (invariant) counts as a tie; the
#: Explainer's default ``tie_eps``
DEFAULT_TOL = 1e-6
EXPECTATION_COLUMNS = [
    "expectation",
    "attribute",
    "kind",
    "direction",
    "n",
    "n_pass",
    "n_fail",
    "pass_rate",
    "ci_low",
    "ci_high",
    "n_ties",
    "n_failed_rewrites",
    "n_excluded",
    "note",
]
_COUNT_COLUMNS = ("n", "n_pass", "n_fail", "n_ties", "n_failed_rewrites", "n_excluded")
_NEEDED = ["comparison_id", "attribute", "direction", "outcome", "margin_before", "margin_after"]
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}\Z")
#: adjectives a compact form may use for the default attributes ("prefers correct")
ALIASES = {
    "helpful": "helpfulness",
    "correct": "correctness",
    "coherent": "coherence",
    "complex": "complexity",
    "verbose": "verbosity",
    "relevant": "relevance",
    "clear": "clarity",
    "informative": "informativeness",
    "engaging": "engagement",
    "assertive": "assertiveness",
    "harmless": "harmlessness",
    "sensitive": "sensitivity",
    "neutral": "neutrality",
}
_FORMS = (
    "'prefers ATTRIBUTE', 'prefers better ATTRIBUTE', 'prefers worse ATTRIBUTE' or "
    "'invariant to ATTRIBUTE' (e.g. 'prefers correct', 'invariant to verbosity')"
)


def _shown(text: object) -> str:
    """User text for an error message: repr (control characters escaped), at most 80 chars."""
    s = repr(text)
    return s if len(s) <= 80 else s[:77] + "..."


def _attribute_name(word: str) -> str:
    return ALIASES.get(word, word)


@dataclass(frozen=True)
class Expectation:
    """What a good RM should do for one attribute: ``kind`` "prefers" (with ``direction``
    "better", the default, or "worse": the pole the RM should prefer) or "invariant" (its
    preference should not flip). See the module docstring for the per-row verdicts."""

    attribute: str
    kind: str
    direction: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.attribute, str) or not _NAME.match(self.attribute):
            raise OptionError(
                f"expectation attribute {_shown(self.attribute)} is not an attribute name "
                "(lower-case letters, digits, '-' or '_')."
            )
        if self.kind not in KINDS:
            raise OptionError(
                f"expectation kind must be 'prefers' or 'invariant'; got {_shown(self.kind)}."
            )
        if self.kind == "prefers":
            direction = "better" if self.direction is None else self.direction
            if direction not in ("better", "worse"):
                raise OptionError(
                    "a 'prefers' expectation's direction must be 'better' or 'worse'; got "
                    f"{_shown(self.direction)}."
                )
            object.__setattr__(self, "direction", direction)
        elif self.direction is not None:
            raise OptionError(
                f"an 'invariant' expectation takes no direction; got {_shown(self.direction)}."
            )

    @classmethod
    def parse(cls, text: str) -> Expectation:
        """The compact form: ``_FORMS`` (case and spacing ignored); anything else is an
        :class:`OptionError` naming the text."""
        if not isinstance(text, str):
            raise OptionError(f"an expectation must be text or an Expectation; got {_shown(text)}.")
        words = text.strip().lower().split()
        bad = OptionError(f"cannot read the expectation {_shown(text)}; write {_FORMS}.")
        if len(words) == 2 and words[0] == "prefers":
            name, direction = words[1], "better"
        elif len(words) == 3 and words[0] == "prefers" and words[1] in ("better", "worse"):
            name, direction = words[2], words[1]
        elif len(words) == 3 and words[:2] == ["invariant", "to"]:
            name, direction = words[2], None
        else:
            raise bad
        if not _NAME.match(name):
            raise bad
        kind = "invariant" if direction is None else "prefers"
        return cls(_attribute_name(name), kind, direction)

    @property
    def label(self) -> str:
        """The canonical compact form, e.g. "prefers correctness", "invariant to verbosity"."""
        if self.kind == "invariant":
            return f"invariant to {self.attribute}"
        if self.direction == "worse":
            return f"prefers worse {self.attribute}"
        return f"prefers {self.attribute}"

    def __str__(self) -> str:
        return self.label


def as_expectations(items: Iterable[Expectation | str] | Expectation | str) -> list[Expectation]:
    """Expectations from ``Expectation`` objects and/or compact strings."""
    if isinstance(items, (Expectation, str)):
        items = [items]
    return [e if isinstance(e, Expectation) else Expectation.parse(e) for e in items]


def check_known(expectations: Sequence[Expectation], known: Iterable[str]) -> None:
    """Refuse (:class:`OptionError`) an expectation whose attribute is not in ``known``."""
    names = list(dict.fromkeys(known))
    for e in expectations:
        if e.attribute not in names:
            raise OptionError(
                f"the expectation {e.label!r} names an unknown attribute {e.attribute!r}; "
                f"known here: {', '.join(names) or 'none'}."
            )


def verdicts(
    table: pd.DataFrame, expectation: Expectation, tol: float = DEFAULT_TOL
) -> pd.DataFrame:
    """The attribute's rows of ``table`` with ``verdict`` ("pass", "fail", "tie", "failed
    rewrite") and ``severity`` (|margin_after − margin_before|, NaN for a failed rewrite)."""
    require_columns(table, _NEEDED, "expectations")
    rows = table[table["attribute"] == expectation.attribute].copy()
    before = pd.to_numeric(rows["margin_before"], errors="coerce").astype(float)
    after = pd.to_numeric(rows["margin_after"], errors="coerce").astype(float)
    change = after - before
    failed = (rows["outcome"] == "failed").to_numpy() | ~np.isfinite(change.to_numpy())
    if expectation.kind == "invariant":
        score = after.to_numpy()  # > tol: the preference held
    else:
        sign = -1.0 if expectation.direction == "better" else 1.0
        score = sign * change.to_numpy()  # > tol: the margin moved the expected way
    verdict = np.where(score > tol, "pass", np.where(score < -tol, "fail", "tie"))
    rows["verdict"] = np.where(failed, "failed rewrite", verdict)
    rows["severity"] = np.where(failed, np.nan, np.abs(change.to_numpy()))
    return rows


def check_expectations(
    table: pd.DataFrame,
    expectations: Iterable[Expectation | str] | Expectation | str,
    *,
    confidence: float = 0.95,
    tol: float = DEFAULT_TOL,
    known: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per expectation (``EXPECTATION_COLUMNS``): n (judged rows), n_pass, n_fail,
    pass_rate with its Wilson interval at ``confidence``, n_ties and n_failed_rewrites (both
    excluded, n_excluded their sum), and a ``note`` when nothing could be judged (n = 0: NaN
    rate, "not measured"). An attribute neither in the table nor in ``known`` (default: the
    default attributes) is an :class:`OptionError`; one known but not in the table is
    not measured."""
    exps = as_expectations(expectations)
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise OptionError(f"confidence must be strictly between 0 and 1; got {confidence!r}.")
    require_columns(table, _NEEDED, "expectations")
    present = list(pd.unique(table["attribute"].dropna()))
    names = [a.name for a in DEFAULT_ATTRIBUTES] if known is None else list(known)
    check_known(exps, [*present, *names])
    records = []
    for e in exps:
        counts = verdicts(table, e, tol)["verdict"].value_counts()
        n_pass, n_fail = int(counts.get("pass", 0)), int(counts.get("fail", 0))
        n_ties, n_failed = int(counts.get("tie", 0)), int(counts.get("failed rewrite", 0))
        n = n_pass + n_fail
        low, high = wilson_interval(np.array([n_pass]), np.array([n]), confidence)
        records.append(
            {
                "expectation": e.label,
                "attribute": e.attribute,
                "kind": e.kind,
                "direction": e.direction,
                "n": n,
                "n_pass": n_pass,
                "n_fail": n_fail,
                "pass_rate": n_pass / n if n else math.nan,
                "ci_low": float(low[0]),
                "ci_high": float(high[0]),
                "n_ties": n_ties,
                "n_failed_rewrites": n_failed,
                "n_excluded": n_ties + n_failed,
                "note": _note(e, n, n_ties, n_failed, present),
            }
        )
    out = pd.DataFrame(records, columns=EXPECTATION_COLUMNS)
    return out.astype(dict.fromkeys(_COUNT_COLUMNS, np.int64))


def _note(e: Expectation, n: int, ties: int, failed: int, present: list) -> str | None:
    if n:
        return None
    if e.attribute not in present:
        return "not measured: the attribute was not explained in this table"
    if ties and failed:
        return f"not measured: {ties} tie(s) and {failed} failed rewrite(s), nothing to judge"
    if ties:
        return f"not measured: every rewrite ({ties}) was a tie"
    return f"not measured: every rewrite ({failed}) failed"


def failing(
    table: pd.DataFrame,
    expectation: Expectation | str,
    *,
    tol: float = DEFAULT_TOL,
    all_rows: bool = False,
) -> pd.DataFrame:
    """The rows that fail ``expectation``, most severe (largest |margin change|) first, with
    ``verdict`` and ``severity`` columns; ``all_rows=True`` keeps every row of the attribute,
    failures first, then passes, ties and failed rewrites."""
    (e,) = as_expectations(expectation)
    rows = verdicts(table, e, tol)
    if not all_rows:
        rows = rows[rows["verdict"] == "fail"]
    rank = rows["verdict"].map({"fail": 0, "pass": 1, "tie": 2, "failed rewrite": 3})
    order = np.lexsort((-rows["severity"].fillna(-1.0).to_numpy(), rank.to_numpy()))
    return rows.iloc[order].reset_index(drop=True)


def summary_lines(frame: pd.DataFrame) -> list[str]:
    """One plain line per expectation, for the CLI summary."""
    lines = []
    for r in frame.itertuples(index=False):
        excluded = (
            f"{r.n_excluded} excluded ({r.n_ties} ties, {r.n_failed_rewrites} failed rewrites)"
        )
        if r.n == 0:
            lines.append(f"  {r.expectation}: {r.note}; {excluded}")
            continue
        lines.append(
            f"  {r.expectation}: {r.n_pass}/{r.n} pass ({r.pass_rate:.0%}, "
            f"95% CI {r.ci_low:.0%}–{r.ci_high:.0%}), {r.n_fail} fail; {excluded}"
        )
    return lines


#: the public name of :func:`failing` (``rmx.failing_examples(table, expectation)``)
failing_examples = failing
