"""Edit and rescore (core.rescore) on a transparent RM whose rewards are computed by hand.

The RM is ``TransparentRewardModel({"length": 1}, only=True)``: reward = log(1 + words). The
comparison's responses have 3 words (a, reward log 4) and 1 word (b, reward log 2), so the RM
prefers a with margin log 4 − log 2 = log 2. The toy perturber appends three words to a worse
rewrite and two to a better one.
"""

from __future__ import annotations

import math

import pytest

import rmx_widgets as rmx
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.rescore import (
    EDIT_ATTRIBUTE,
    HAND_EDIT,
    MAX_EDIT_CHARS,
    RescoreError,
    Rescorer,
)
from rmx_widgets.core.reward_models.pairwise import BradleyTerryJudge
from rmx_widgets.core.rows import TABLE_COLUMNS
from rmx_widgets.core.store import Store

L = math.log
COMP = Comparison("c1", "tell me", "one two three", "one")


def _rm():
    return rmx.TransparentRewardModel({"length": 1.0}, only=True, name="len")


def _perturb(prompt, response, attribute, direction):
    return response + (" extra words here" if direction == "worse" else " more words")


def _run(rm=None, store=None):
    ex = rmx.Explainer(rm or _rm(), _perturb, attributes=["verbosity"], store=store, progress=False)
    return ex, ex.explain([COMP])


def test_a_written_rewrite_is_scored_like_a_run_row_by_hand():
    ex, res = _run()
    out = Rescorer.from_explainer(ex).rewrite(
        COMP, "verbosity", "rejected", "one two three four five", originals=res.originals
    )
    assert out.kind == "write" and out.row_ids == [None] and out.comparison_id == "c1"
    assert list(out.rows.columns) == TABLE_COLUMNS and len(out.rows) == 1
    row = out.rows.iloc[0]
    assert (row["side"], row["direction"], row["attribute"]) == ("rejected", "better", "verbosity")
    assert row["perturber"] == HAND_EDIT and row["rm"] == _rm().identity
    assert row["reward_original"] == pytest.approx(L(2))
    assert row["reward_perturbed"] == pytest.approx(L(6))
    assert row["reward_other"] == pytest.approx(L(4))
    assert row["margin_before"] == pytest.approx(L(4) - L(2))
    assert row["margin_after"] == pytest.approx(L(4) - L(6))  # < 0: the preference flips
    assert row["outcome"] == "CF" and row["length_change"] == 4
    assert row["syntactic_distance"] > 0 and "CF" in out.note


def test_an_edited_rewrite_matches_the_run_when_it_is_the_same_text():
    """Rescoring the perturber's own text (as a hand edit of another rewrite) gives the run's
    numbers exactly: the same row building, the same cache keys."""
    ex, res = _run()
    run_row = res.table[res.table["side"] == "chosen"].iloc[0]
    out = Rescorer.from_explainer(ex).rewrite(
        COMP,
        "verbosity",
        "chosen",
        run_row["perturbed"],
        originals=res.originals,
        row_id=0,
        previous="something else",
    )
    row = out.rows.iloc[0]
    assert out.kind == "rewrite" and out.row_ids == [0]
    for col in (
        "reward_perturbed",
        "margin_before",
        "margin_after",
        "syntactic_distance",
        "semantic_distance",
        "outcome",
        "length_change",
    ):
        assert row[col] == run_row[col], col
    assert row["perturber"] == HAND_EDIT != run_row["perturber"]


def test_the_score_is_cached_in_the_runs_store_and_asking_twice_costs_no_call(tmp_path):
    calls = []

    def rm(prompts, responses):
        calls.append(list(responses))
        return [float(len(r.split())) for r in responses]

    store = Store(tmp_path / "s.sqlite")
    ex, res = _run(rmx.CallableRewardModel(rm, name="words:v1"), store)
    before = len(calls)
    resc = Rescorer.from_explainer(ex)
    resc.rewrite(COMP, "verbosity", "chosen", "one two", originals=res.originals)
    assert calls[before:] == [["one two"]]  # only the new text is scored
    resc.rewrite(COMP, "verbosity", "chosen", "one two", originals=None)
    assert len(calls) == before + 1  # the originals and the text came from the store
    key = ex._scores.key(COMP.prompt, "one two")  # the run's own key for that text
    assert store.get_scores([key]) == {key: 2.0}


def test_an_edited_original_rederives_every_rewrite_against_the_edited_pair():
    ex, res = _run()
    by_side = res.table.set_index("side")
    assert by_side.loc["rejected", "outcome"] == "SF"  # "one more words": log 4 vs log 4 = 0
    out = Rescorer.from_explainer(ex).original(
        COMP, "a", "one two", res.table, originals=res.originals
    )
    assert out.kind == "original" and out.row_ids == [None, *res.table.index]
    edit, rest = out.rows.iloc[0], out.rows.iloc[1:].set_index("side")
    assert edit["attribute"] == EDIT_ATTRIBUTE.name and edit["side"] == "chosen"
    assert edit["reward_perturbed"] == pytest.approx(L(3))
    assert edit["margin_after"] == pytest.approx(L(3) - L(2)) and edit["outcome"] == "SF"
    new = out.originals.iloc[0]
    assert (new["reward_a"], new["reward_b"]) == pytest.approx((L(3), L(2)))
    assert new["preferred"] == "a" and new["margin"] == pytest.approx(L(3) - L(2))
    chosen = rest.loc["chosen"]  # the perturber's text, now a rewrite of "one two"
    assert chosen["original"] == "one two" and chosen["reward_original"] == pytest.approx(L(3))
    assert chosen["margin_before"] == pytest.approx(L(3) - L(2))
    assert chosen["margin_after"] == pytest.approx(L(7) - L(2))
    assert chosen["perturber"] == f"{HAND_EDIT}/{res.table['perturber'].iloc[0]}"
    rejected = rest.loc["rejected"]  # judged against the edited a: log 3 − log 4 < 0
    assert rejected["reward_other"] == pytest.approx(L(3))
    assert rejected["margin_after"] == pytest.approx(L(3) - L(4)) and rejected["outcome"] == "CF"
    assert "re-derived" in out.note


def test_an_edit_that_flips_or_ties_the_pair_does_not_rederive():
    ex, res = _run()
    resc = Rescorer.from_explainer(ex)
    flip = resc.original(COMP, "b", "a b c d e f g", res.table, originals=res.originals)
    assert flip.rows.iloc[0]["side"] == "rejected" and flip.rows.iloc[0]["outcome"] == "CF"
    assert flip.rows.iloc[0]["margin_after"] == pytest.approx(L(4) - L(8))
    assert len(flip.rows) == 1 and "now prefers the other response" in flip.note
    tie = resc.original(COMP, "a", "x", res.table, originals=res.originals)  # log 2 = log 2
    assert tie.originals.iloc[0]["tie"] and len(tie.rows) == 1 and "tie" in tie.note


def test_a_rewrite_equal_to_the_edited_original_fails_as_the_run_would_fail_it():
    ex, res = _run()
    chosen_text = res.table.set_index("side").loc["chosen", "perturbed"]
    out = Rescorer.from_explainer(ex).original(COMP, "a", chosen_text, res.table)
    rest = out.rows.iloc[1:].set_index("side")
    assert rest.loc["chosen", "outcome"] == "failed"  # now the original unchanged
    assert rest.loc["chosen", "failure_kind"] == "unchanged"
    assert math.isnan(rest.loc["chosen", "margin_after"])
    assert rest.loc["rejected", "outcome"] == "SF"  # log 7 − log 4 > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("one", "unchanged"),
        ("x" * (MAX_EDIT_CHARS + 1), "at most 20,000"),
        ("bad \x1b[31m escape", "cannot be rescored"),
        (7, "must be text"),
    ],
)
def test_invalid_edits_are_refused_with_one_line(text, message):
    ex, _res = _run()
    with pytest.raises(RescoreError, match=message) as err:
        Rescorer.from_explainer(ex).rewrite(COMP, "verbosity", "rejected", text)
    assert "\n" not in str(err.value)


def test_other_refusals_are_one_line():
    ex, res = _run()
    resc = Rescorer.from_explainer(ex)
    with pytest.raises(RescoreError, match="side must be"):
        resc.rewrite(COMP, "verbosity", "left", "abc")
    with pytest.raises(RescoreError, match="pick the attribute"):
        resc.rewrite(COMP, "", "chosen", "abc")
    with pytest.raises(RescoreError, match="not valid"):
        resc.rewrite(COMP, "Bad Name!", "chosen", "abc")
    with pytest.raises(RescoreError, match="response must be"):
        resc.original(COMP, "c", "abc")
    with pytest.raises(RescoreError, match="rewrite unchanged"):
        resc.rewrite(COMP, "verbosity", "chosen", "abc d", row_id=0, previous="abc d ")
    tie = Comparison("t", "p", "same words", "other words")
    with pytest.raises(RescoreError, match="is a tie"):
        resc.rewrite(tie, "verbosity", "chosen", "abc")
    other = Rescorer(rmx.TransparentRewardModel())
    with pytest.raises(RescoreError, match="scored by len:w[0-9a-f]+, not by"):
        other.original(COMP, "a", "one two", res.table)


def test_a_pairwise_judge_rescores_with_logit_margins_by_hand():
    """The Bradley–Terry judge of the length RM: logit P(a ≻ b) = r(a) − r(b), so the logit
    margins are the reward differences above; rewards are NaN (a judge has none)."""
    ex, res = _run(BradleyTerryJudge(_rm()))
    resc = Rescorer.from_explainer(ex)
    out = resc.rewrite(COMP, "verbosity", "rejected", "one two three four five")
    row = out.rows.iloc[0]
    assert math.isnan(row["reward_perturbed"]) and row["rm"] == f"bt({_rm().identity})"
    assert row["margin_before"] == pytest.approx(L(4) - L(2))
    assert row["margin_after"] == pytest.approx(L(4) - L(6)) and row["outcome"] == "CF"
    edited = resc.original(COMP, "a", "one two", res.table, originals=res.originals)
    rest = edited.rows.iloc[1:].set_index("side")
    assert rest.loc["rejected", "margin_after"] == pytest.approx(L(3) - L(4))
    assert rest.loc["rejected", "outcome"] == "CF"
    assert edited.originals.iloc[0]["margin"] == pytest.approx(L(3) - L(2))
