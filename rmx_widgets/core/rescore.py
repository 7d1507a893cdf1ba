"""Edit and rescore (LIT's datapoint editor, the What-If Tool): one hand-made text, scored and
turned into explanation-table rows exactly as a run would.

A reader who sees a rewrite flip (or hold) the RM's preference asks "and if I change this word?".
Three edits answer it, each for one comparison:

* an edited **rewrite** (a row of the table, its text changed by hand), and
* a **written** rewrite (typed by hand for a chosen attribute and side): both are a rewrite of
  that side, scored against the unchanged other response;
* an edited **original** response: the edit itself is a rewrite of that side (attribute
  ``EDIT_ATTRIBUTE``), and every rewrite of the comparison is then re-derived against the
  edited pair (new originals, new margins, outcomes and distances).

Nothing here re-implements the method: the edited pair is ordered by ``rows.originals_table``
(or a pairwise judge's ``PairwisePass.originals``), the rewrite is a ``rows.PlannedRewrite`` from
``rows.plan_rewrites``, and its row is ``rows.explanation_rows`` of a ``rows.Rewritten``. Scores
go through ``CachedRewardModel`` (or the judge's ``CachedPairwiseJudge``) on the run's store, so a
rescored text is cached and keyed like any other score and asking twice costs no model call. The
hand-made text is never stored as a perturbation: its rows carry the perturber identity
``HAND_EDIT`` ("manual"; re-derived rows ``manual/<perturber>``), so no perturber's cache or
figures ever see it.

An edit that cannot be rescored (empty, too long, unchanged, a tie, an RM other than the
table's) raises ``RescoreError`` whose message is one line the widget shows as it is.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from rmx_widgets.core import metrics
from rmx_widgets.core.attributes import Attribute, get_attribute
from rmx_widgets.core.cached import CachedRewardModel, checked_result
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.errors import AttributeSpecError, RMXError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.hand_edits import HAND_EDIT
from rmx_widgets.core.pairwise_run import PairwisePass
from rmx_widgets.core.perturbers.base import PerturbationRequest, PerturbationResult
from rmx_widgets.core.result import RunStats
from rmx_widgets.core.reward_models.base import RewardModel, as_reward_model
from rmx_widgets.core.rows import (
    TABLE_COLUMNS,
    PlannedRewrite,
    Rewritten,
    explanation_rows,
    originals_table,
    plan_rewrites,
)
from rmx_widgets.core.store import Store

#: ``HAND_EDIT`` (``rows``): the perturber identity of every hand-made text, "manual"; a rewrite
#: typed or edited by a person is nobody's perturbation, so it never joins a perturber's cache.
#: The longest text one edit may rescore (characters): an RM scores it in one forward pass and
#: the widget echoes it, so a pasted book is refused with a one-line reason instead.
MAX_EDIT_CHARS = 20_000
#: The attribute of the row an edited original response becomes (its rewrite of that side).
EDIT_ATTRIBUTE = Attribute(
    "hand-edit", "A hand edit of an original response, rescored in place of the original."
)
SIDES = ("chosen", "rejected")
EditKind = Literal["original", "rewrite", "write"]


class RescoreError(RMXError):
    """An edit that cannot be rescored; the message is one line that says why."""


@dataclass(frozen=True)
class Rescored:
    """What one edit became.

    ``rows`` are explanation-table rows (``TABLE_COLUMNS``): the edit itself first, then (for an
    edited original) every rewrite of the comparison re-derived against the edited pair.
    ``row_ids[i]`` is the table row that ``rows`` row ``i`` replaces (the edited rewrite, or a
    re-derived one); ``None`` for a new row. ``originals`` is the edited pair's originals row
    (an edited original only); ``note`` says in one line what happened.
    """

    kind: EditKind
    comparison_id: str
    rows: pd.DataFrame
    row_ids: list[int | None]
    note: str
    originals: pd.DataFrame | None = None


def check_text(text: Any, original: str, *, what: str = "the original") -> str:
    """``text`` when it can be rescored as a rewrite of ``original``: the checks every rewrite of
    a run gets (``checked_result``: plain text, not empty, not ``original`` unchanged) and at most
    ``MAX_EDIT_CHARS`` characters; else ``RescoreError`` saying which check failed."""
    if not isinstance(text, str):
        raise RescoreError(f"the edited text must be text, got {type(text).__name__}.")
    if len(text) > MAX_EDIT_CHARS:
        raise RescoreError(
            f"the edited text has {len(text):,} characters; at most {MAX_EDIT_CHARS:,} can be "
            "rescored."
        )
    result = check_rewrite_text(original, text)
    if result.kind is FailureKind.EMPTY:
        raise RescoreError("the edited text is empty: type a response to rescore.")
    if result.kind is FailureKind.UNCHANGED:
        raise RescoreError(f"the edited text is {what} unchanged: change it before rescoring.")
    if result.text is None:
        raise RescoreError(f"the edited text cannot be rescored: {result.failure}.")
    return text


def check_rewrite_text(original: str, text: str) -> PerturbationResult:
    """The run's own check of a rewrite (what ``CachedPerturber`` stores)."""
    return checked_result(PerturbationRequest("", original, EDIT_ATTRIBUTE, "worse"), text)


def attribute_named(name: Any, known: Sequence[Attribute] = ()) -> Attribute:
    """The attribute ``name`` of a run (one of ``known``, else a built-in one); a name the run's
    table holds but neither knows gets a stand-in (rows use only the name)."""
    if not isinstance(name, str) or not name:
        raise RescoreError("pick the attribute the rewrite is for.")
    for a in known:
        if a.name == name:
            return a
    try:
        return get_attribute(name)
    except AttributeSpecError:
        pass
    try:
        return Attribute(name, f"The attribute {name!r} of the run's table.")
    except AttributeSpecError as e:
        raise RescoreError(str(e)) from None


class Rescorer:
    """Rescore hand edits with ``rm`` through ``store`` (the run's: the same cache keys).

    ``rm`` is a reward model, a callable or a pairwise judge (``PairwiseJudge``: margins are
    logit P, as in ``core.pairwise_run``). ``embedder`` and ``tie_eps`` should be the run's
    (``from_explainer`` takes all four from an ``Explainer``), so distances and ties match.
    """

    def __init__(
        self,
        rm: Any,
        store: Store | None = None,
        *,
        embedder: metrics.Embedder | None = None,
        tie_eps: float = 1e-6,
    ) -> None:
        self.rm: RewardModel = as_reward_model(rm)
        self.store = store if store is not None else Store(None)
        self.embedder = embedder or metrics.HashingEmbedder()
        self.tie_eps = tie_eps
        self._scores = CachedRewardModel(self.rm, self.store)
        self._pairs = PairwisePass.of(self.rm, self.store)

    @classmethod
    def from_explainer(cls, explainer: Any) -> Rescorer:
        """A rescorer with an Explainer's RM, store, embedder and tie threshold."""
        return cls(
            explainer.rm, explainer.store, embedder=explainer.embedder, tie_eps=explainer.tie_eps
        )

    @property
    def identity(self) -> str:
        """The RM's identity (the table's ``rm`` column for the rows it makes)."""
        return self.rm.identity

    # -- the edits ------------------------------------------------------------------------
    def rewrite(
        self,
        comparison: Comparison,
        attribute: Attribute | str,
        side: str,
        text: str,
        *,
        originals: pd.DataFrame | None = None,
        row_id: int | None = None,
        previous: str | None = None,
        attributes: Sequence[Attribute] = (),
    ) -> Rescored:
        """A rewrite of ``side`` ("chosen": the response the RM prefers, rewritten worse;
        "rejected": the other, rewritten better) for ``attribute``, typed or edited by hand.
        ``row_id`` / ``previous``: the table row it edits and that row's text (an edited
        rewrite; refused unchanged); without them it is a written rewrite."""
        if side not in SIDES:
            raise RescoreError(f"side must be 'chosen' or 'rejected', got {side!r}.")
        attr = (
            attribute
            if isinstance(attribute, Attribute)
            else attribute_named(attribute, attributes)
        )
        pair = self._scored_pair(comparison, originals)
        planned = next(
            p
            for p in plan_rewrites([comparison], [attr], pair, pairwise=self._pairwise)
            if p.side == side
        )
        text = check_text(text, planned.original, what=f"the {side} response")
        if previous is not None and text.strip() == previous.strip():
            raise RescoreError("the edited text is the rewrite unchanged: change it first.")
        rows = self._rows([planned], [PerturbationResult(text)], [HAND_EDIT])
        kind: EditKind = "rewrite" if row_id is not None else "write"
        return Rescored(
            kind, comparison.id, rows, [row_id], _outcome_note(rows.iloc[0], "the rewrite")
        )

    def original(
        self,
        comparison: Comparison,
        response: str,
        text: str,
        rewrites: pd.DataFrame | None = None,
        *,
        originals: pd.DataFrame | None = None,
        attributes: Sequence[Attribute] = (),
    ) -> Rescored:
        """``comparison`` with response ``response`` ("a" or "b") replaced by ``text``.

        The edit itself is a rewrite of that side (attribute ``EDIT_ATTRIBUTE``: a CF when it
        flips the RM's preference). ``rewrites`` (the comparison's table rows; their index is
        kept in ``row_ids``) are re-derived against the edited pair when it keeps the RM's
        preference; a tie or a flipped preference leaves them as they were (the note says so:
        their directions were planned for the original preference)."""
        if response not in ("a", "b"):
            raise RescoreError(f"response must be 'a' or 'b', got {response!r}.")
        pair = self._scored_pair(comparison, originals)
        preferred = pair["preferred"].iloc[0]
        side = "chosen" if response == preferred else "rejected"
        old = comparison.response_a if response == "a" else comparison.response_b
        text = check_text(text, old, what=f"response {response.upper()}")
        planned = next(
            p
            for p in plan_rewrites([comparison], [EDIT_ATTRIBUTE], pair, pairwise=self._pairwise)
            if p.side == side
        )
        edit = self._rows([planned], [PerturbationResult(text)], [HAND_EDIT])
        if response == "a":
            edited = dataclasses.replace(comparison, response_a=text)
        else:
            edited = dataclasses.replace(comparison, response_b=text)
        new_pair = self.score_originals([edited])
        note = _outcome_note(edit.iloc[0], f"the edited response {response.upper()}")
        frames: list[pd.DataFrame] = [edit]
        ids: list[int | None] = [None]
        mine = _rows_of(rewrites, comparison.id)
        self._check_rm(mine)
        if bool(new_pair["tie"].iloc[0]):
            note += " The edited pair is a tie: its rewrites are not re-derived."
        elif new_pair["preferred"].iloc[0] != preferred:
            note += (
                " The RM now prefers the other response: the rewrites, planned for the original "
                "preference, are not re-derived."
            )
        elif len(mine):
            frames.append(self._rederive(edited, new_pair, mine, attributes))
            ids += [int(i) for i in mine.index]
            note += f" {len(mine)} rewrite(s) re-derived against the edited pair."
        rows = pd.concat(frames, ignore_index=True)
        return Rescored("original", comparison.id, rows, ids, note, new_pair)

    # -- helpers --------------------------------------------------------------------------
    @property
    def _pairwise(self) -> bool:
        return self._pairs is not None

    def score_originals(self, comps: Sequence[Comparison]) -> pd.DataFrame:
        """The originals rows of ``comps``, ordered by the RM as the run orders them."""
        if self._pairs is not None:
            return self._pairs.originals(comps, self.tie_eps, RunStats())
        scored = self._scores.score(
            [c.prompt for c in comps for _ in (0, 1)],
            [r for c in comps for r in (c.response_a, c.response_b)],
        )
        return originals_table(comps, scored.values, scored.truncated, self.tie_eps)

    def _scored_pair(self, comparison: Comparison, originals: pd.DataFrame | None) -> pd.DataFrame:
        """The comparison's originals row (given, else scored through the cache); a tie has no
        preference, so nothing about it can flip."""
        if not isinstance(comparison, Comparison):
            raise RescoreError(f"expected a Comparison, got {type(comparison).__name__}.")
        pair = None
        if originals is not None and "comparison_id" in originals:
            pair = originals[originals["comparison_id"] == comparison.id]
        if pair is None or pair.empty:
            pair = self.score_originals([comparison])
        pair = pair.reset_index(drop=True).iloc[:1]
        if bool(pair["tie"].iloc[0]):
            raise RescoreError(
                f"comparison {comparison.id} is a tie for {self.identity}: there is no "
                "preference for an edit to flip."
            )
        return pair

    def _check_rm(self, rows: pd.DataFrame) -> None:
        other = sorted({str(r) for r in rows.get("rm", ())} - {self.identity})
        if other:
            raise RescoreError(
                f"these rewrites were scored by {other[0]}, not by {self.identity}: rescore "
                "them with the RM that made them."
            )

    def _rederive(
        self,
        edited: Comparison,
        pair: pd.DataFrame,
        rows: pd.DataFrame,
        attributes: Sequence[Attribute],
    ) -> pd.DataFrame:
        """``rows`` (rewrites of ``edited`` before the edit) as the run would have made them
        against the edited pair: the same rewrite texts, checked and scored anew."""
        attrs = [attribute_named(n, attributes) for n in dict.fromkeys(rows["attribute"])]
        plan = {
            (p.attribute.name, p.side): p
            for p in plan_rewrites([edited], attrs, pair, pairwise=self._pairwise)
        }
        planned, results = [], []
        for r in rows.to_dict(orient="records"):
            p = plan[(r["attribute"], r["side"])]
            planned.append(p)
            if isinstance(r["perturbed"], str):
                results.append(checked_result(p.request, r["perturbed"]))
            else:
                kind = r.get("failure_kind")
                known = kind in FailureKind._value2member_map_
                reason = str(r.get("failure_reason") or "failed")
                fail = FailureKind(kind) if known else FailureKind.OTHER
                results.append(PerturbationResult(None, reason, fail))
        who = [f"{HAND_EDIT}/{r}" for r in rows["perturber"]]
        return self._rows(planned, results, who)

    def _rows(
        self,
        planned: Sequence[PlannedRewrite],
        results: Sequence[PerturbationResult],
        perturbers: Sequence[str],
    ) -> pd.DataFrame:
        """``explanation_rows`` of ``planned``'s ``results``, scored through the cache; each
        row's ``perturber`` is the matching one of ``perturbers``."""
        if self._pairs is not None:
            rewritten = self._pairs.rewritten(planned, results, RunStats())
        else:
            ok = [i for i, r in enumerate(results) if r.text is not None]
            scored = self._scores.score(
                [planned[i].comparison.prompt for i in ok], [results[i].text or "" for i in ok]
            )
            reward = dict(zip(ok, scored.values))
            cut = dict(zip(ok, scored.truncated))
            rewritten = [
                Rewritten(p, res, reward.get(i), cut.get(i, False))
                for i, (p, res) in enumerate(zip(planned, results))
            ]
        frame = explanation_rows(
            rewritten, embedder=self.embedder, perturber=HAND_EDIT, rm=self.identity
        )
        frame["perturber"] = list(perturbers)
        return frame


def _rows_of(rewrites: pd.DataFrame | None, comparison_id: str) -> pd.DataFrame:
    if rewrites is None or rewrites.empty or "comparison_id" not in rewrites:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    return rewrites[rewrites["comparison_id"] == comparison_id]


def _outcome_note(row: pd.Series, what: str) -> str:
    """One line: the edit's outcome and margin, as the table would read it."""
    margin = row["margin_after"]
    if not isinstance(margin, float) or math.isnan(margin):
        return f"{what} could not be scored."
    verdict = "flips the RM's preference (CF)" if row["outcome"] == "CF" else "keeps it (SF)"
    return f"{what} {verdict}: margin {row['margin_before']:+.3f} → {margin:+.3f}."


__all__ = [
    "EDIT_ATTRIBUTE",
    "HAND_EDIT",
    "MAX_EDIT_CHARS",
    "RescoreError",
    "Rescored",
    "Rescorer",
    "attribute_named",
    "check_text",
]
