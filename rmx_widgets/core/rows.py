"""The rows of a run's two tables: the scored originals, the planned rewrites and what each
rewrite became (the explanation table, DESIGN.md §2).

Kept apart from the Explainer because this is the method's arithmetic, not its plumbing: how the
RM's own preference orders a pair, which side is rewritten in which direction, how a margin is
measured and when a rewrite counts as a counterfactual (CF: the RM's preference flips) or a
semifactual (SF: it holds). Everything here is a pure function of typed inputs, so it can be
read and checked by hand without a store, a model or a perturber.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from rmx_widgets.core import metrics
from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.confounders import length_change
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.perturbers.base import PerturbationRequest, PerturbationResult

#: The explanation table's columns, in order. ``failure_kind`` (added after 0.1) is the
#: ``FailureKind`` value of a failed row, chosen where the failure was created. Appended after
#: it: ``length_change`` (the rewrite's words minus the original's, NaN for a failed row, see
#: ``core.confounders``), ``human_preferred`` (the input's human label, "a"/"b"/None) and
#: ``rm_agrees_with_human`` (the RM's preferred == the human's; <NA> without a human label).
TABLE_COLUMNS = [
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
    "truncated",
    "failure_kind",
    "length_change",
    "human_preferred",
    "rm_agrees_with_human",
    "valid",
    "validity_reason",
]
#: Appended last: ``valid`` (pandas nullable boolean: the rewrite judge's verdict, True / False;
#: <NA> when no judge ran, the judge could not decide, or the rewrite failed) and
#: ``validity_reason`` (the judge's one-line reason; missing without a verdict); filled by
#: ``core.validity_pass`` for the main table only (the null table's rows are not judged).

# ``truncated``: the RM cut (to its maximum length) at least one of the inputs this row's margins
# come from (the original, the rewrite or the other response); see ``last_truncated`` in
# ``reward_models/base.py``.
ORIGINALS_COLUMNS = [
    "comparison_id",
    "reward_a",
    "reward_b",
    "preferred",
    "margin",
    "tie",
    "truncated_a",
    "truncated_b",
    "human_preferred",
    "rm_agrees_with_human",
]


def human_label(comparison: Comparison) -> str | None:
    """The comparison's human label, "a" or "b"; None when it has none."""
    h = comparison.human_preferred
    return h if h in ("a", "b") else None


def rm_agrees(preferred: str | None, human: str | None) -> bool | None:
    """Whether the RM prefers the response the human chose; None (not known) without a human
    label or without an RM preference (a tie)."""
    if human not in ("a", "b") or preferred not in ("a", "b"):
        return None
    return preferred == human


def originals_table(
    comps: Sequence[Comparison], rewards: Sequence[float], truncated: Sequence[bool], tie_eps: float
) -> pd.DataFrame:
    """One row per comparison, ordered by the RM: ``rewards``/``truncated`` hold the two
    responses of each comparison in turn (a0, b0, a1, b1, ...). A pair closer than ``tie_eps``
    is a tie: it has no preference to explain (and ``rm_agrees_with_human`` is <NA>)."""
    rows = []
    for i, c in enumerate(comps):
        ra, rb = rewards[2 * i], rewards[2 * i + 1]
        tie = abs(ra - rb) < tie_eps
        preferred = None if tie else ("a" if ra > rb else "b")
        rows.append(
            {
                "comparison_id": c.id,
                "reward_a": ra,
                "reward_b": rb,
                "preferred": preferred,
                "margin": abs(ra - rb),
                "tie": tie,
                "truncated_a": truncated[2 * i],
                "truncated_b": truncated[2 * i + 1],
                "human_preferred": human_label(c),
                "rm_agrees_with_human": rm_agrees(preferred, human_label(c)),
            }
        )
    frame = pd.DataFrame(rows, columns=ORIGINALS_COLUMNS)
    frame["rm_agrees_with_human"] = frame["rm_agrees_with_human"].astype("boolean")
    return frame


@dataclass(frozen=True)
class PlannedRewrite:
    """One rewrite a run needs: one response of a comparison, along one attribute.

    ``side`` is ``"chosen"`` for the response the RM prefers (rewritten ``"worse"``) and
    ``"rejected"`` for the other (rewritten ``"better"``); ``original``/``other`` are the
    rewritten response and the one it is compared against, with their rewards. ``preferred``
    is ``"a"`` or ``"b"``; ``originals_truncated`` says the RM cut either original response.
    ``margin_before`` is set for a pairwise judge (``core.pairwise_run``), which measures the
    margin itself (its logit) and has no rewards (NaN); for a scalar RM it is ``None`` and the
    margin is the reward difference (``margin``).
    """

    comparison: Comparison
    side: str
    attribute: Attribute
    direction: str
    original: str
    other: str
    reward_original: float
    reward_other: float
    preferred: str
    originals_truncated: bool = False
    margin_before: float | None = None

    @property
    def request(self) -> PerturbationRequest:
        """What the perturber is asked for."""
        return PerturbationRequest(
            self.comparison.prompt, self.original, self.attribute, self.direction
        )

    def margin(self, reward: float) -> float:
        """The RM's margin for its original preference if this side scored ``reward``:
        positive while the preference holds, negative once it flips."""
        if self.side == "chosen":
            return reward - self.reward_other
        return self.reward_other - reward


#: Which comparisons a run explains: every one the RM prefers a side of ("all", the default),
#: or only those where the RM agrees ("agree") or disagrees ("disagree") with the human label.
RESTRICT_CHOICES = ("all", "agree", "disagree")


def check_restrict(restrict: str, comps: Sequence[Comparison]) -> str:
    """``restrict`` when it is valid for ``comps``: "agree"/"disagree" compare the RM with the
    human label, so every comparison must have one (a clear error says how many lack it)."""
    if restrict not in RESTRICT_CHOICES:
        raise RMXError(f"restrict must be one of {', '.join(RESTRICT_CHOICES)}; got {restrict!r}.")
    if restrict != "all":
        missing = [c.id for c in comps if human_label(c) is None]
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (" …" if len(missing) > 5 else "")
            raise RMXError(
                f"restrict={restrict!r} compares the RM's preference with the human label, but "
                f"{len(missing)} of {len(comps)} comparison(s) have no human label ({shown}). "
                "Load data with chosen/rejected columns (the human's choice), drop the "
                "unlabelled comparisons, or use restrict='all'."
            )
    return restrict


def _restricted_out(c: Comparison, preferred: str | None, restrict: str) -> bool:
    """Whether ``restrict`` leaves a (non-tie) comparison out of the run."""
    if restrict == "all":
        return False
    return rm_agrees(preferred, human_label(c)) is not (restrict == "agree")


def skipped_by_restrict(
    comps: Sequence[Comparison], originals: pd.DataFrame, restrict: str = "all"
) -> int:
    """How many comparisons the RM prefers a side of that ``restrict`` leaves unexplained
    (ties are counted as ties, not here)."""
    by_id = originals.set_index("comparison_id")
    return sum(
        not by_id.loc[c.id, "tie"] and _restricted_out(c, by_id.loc[c.id, "preferred"], restrict)
        for c in comps
    )


def plan_rewrites(
    comps: Sequence[Comparison],
    attrs: Sequence[Attribute],
    originals: pd.DataFrame,
    restrict: str = "all",
    *,
    pairwise: bool = False,
) -> list[PlannedRewrite]:
    """Every rewrite the job needs, grouped by comparison (so batches finish comparisons);
    ties (see ``originals_table``) and the comparisons ``restrict`` leaves out
    (``RESTRICT_CHOICES``) are skipped. ``pairwise``: the originals are a pairwise judge's,
    whose margin (``margin`` column) is each rewrite's ``margin_before``."""
    by_id = originals.set_index("comparison_id")
    items: list[PlannedRewrite] = []
    for c in comps:
        o = by_id.loc[c.id]
        if o["tie"] or _restricted_out(c, o["preferred"], restrict):
            continue
        a_wins = o["preferred"] == "a"
        win, lose = (c.response_a, c.response_b) if a_wins else (c.response_b, c.response_a)
        rw, rl = (o["reward_a"], o["reward_b"]) if a_wins else (o["reward_b"], o["reward_a"])
        cut = bool(o.get("truncated_a", False)) or bool(o.get("truncated_b", False))
        before = float(o["margin"]) if pairwise else None
        pref = o["preferred"]
        for attr in attrs:
            items.append(
                PlannedRewrite(c, "chosen", attr, "worse", win, lose, rw, rl, pref, cut, before)
            )
            items.append(
                PlannedRewrite(c, "rejected", attr, "better", lose, win, rl, rw, pref, cut, before)
            )
    return items


@dataclass(frozen=True)
class Rewritten:
    """What became of one planned rewrite: the perturber's (checked) result and, when it is a
    rewrite, the RM's reward for it and whether the RM cut it to score it. ``margin`` is the
    margin_after a pairwise judge measured directly (its reward is NaN); ``None`` for a scalar
    RM, whose margin_after is computed from ``reward``."""

    planned: PlannedRewrite
    result: PerturbationResult
    reward: float | None = None
    truncated: bool = False
    margin: float | None = None

    def __post_init__(self) -> None:
        if (self.reward is None) != (self.result.text is None):
            raise ValueError(
                "a rewrite has a reward and a failed rewrite has none; got "
                f"reward={self.reward!r} for {self.result!r}"
            )


def explanation_rows(
    rewritten: Sequence[Rewritten], *, embedder: metrics.Embedder, perturber: str, rm: str
) -> pd.DataFrame:
    """The explanation-table rows (``TABLE_COLUMNS``) of a batch, distances included.

    A failed rewrite is a row too (outcome ``"failed"``, its reason and kind, NaN numbers), so
    coverage is measured rather than hidden. Semantic distances are embedded in one call.
    """
    sem = metrics.semantic_distances(
        [r.planned.original for r in rewritten], [r.result.text for r in rewritten], embedder
    )
    rows = []
    for r, distance in zip(rewritten, sem):
        it, text = r.planned, r.result.text
        if text is None or r.reward is None:  # (both or neither, see ``Rewritten``)
            reward = margin_after = syntactic = semantic = math.nan
            outcome = "failed"
        else:
            reward = r.reward
            margin_after = it.margin(reward) if r.margin is None else r.margin
            outcome = "CF" if margin_after < 0 else "SF"
            syntactic = metrics.syntactic_distance(it.original, text)
            semantic = float(distance)
        kind = r.result.kind
        rows.append(
            {
                "comparison_id": it.comparison.id,
                "prompt": it.comparison.prompt_text,
                "preferred": it.preferred,
                "side": it.side,
                "attribute": it.attribute.name,
                "direction": it.direction,
                "original": it.original,
                "perturbed": text,
                "reward_original": it.reward_original,
                "reward_perturbed": reward,
                "reward_other": it.reward_other,
                "margin_before": it.margin(it.reward_original)
                if it.margin_before is None
                else it.margin_before,
                "margin_after": margin_after,
                "outcome": outcome,
                "failure_reason": r.result.failure,
                "syntactic_distance": syntactic,
                "semantic_distance": semantic,
                "perturber": perturber,
                "rm": rm,
                "truncated": bool(it.originals_truncated or r.truncated),
                "failure_kind": kind.value if text is None and kind is not None else None,
                "length_change": length_change(it.original, text),
                "human_preferred": human_label(it.comparison),
                "rm_agrees_with_human": rm_agrees(it.preferred, human_label(it.comparison)),
                "valid": None,
                "validity_reason": None,
            }
        )
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    frame["length_change"] = frame["length_change"].astype(float)
    frame["rm_agrees_with_human"] = frame["rm_agrees_with_human"].astype("boolean")
    frame["valid"] = frame["valid"].astype("boolean")
    # text with missing values, as Parquet reads it back (an all-None column would be objects)
    frame["validity_reason"] = frame["validity_reason"].astype("str")
    return frame


def concat_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The landed batches as one table (an empty one with every column if none landed)."""
    if frames:
        return pd.concat(frames, ignore_index=True)
    return pd.DataFrame({c: pd.Series(dtype=object) for c in TABLE_COLUMNS})
