"""Hand edits (perturber ``manual``) are left out of τ, the local rankings and coverage, as
sensitivity() leaves them out: a person's probes are no sample of the perturber's rewrites."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rmx_widgets.core.compare import pfr_counts
from rmx_widgets.core.hand_edits import hand_edit_rows, without_hand_edits
from rmx_widgets.core.metrics import coverage
from rmx_widgets.core.representatives import local_rankings


def _row(cid: str, attribute: str, outcome: str, perturber: str = "rule") -> dict:
    after = -1.0 if outcome == "CF" else 0.5
    return {
        "comparison_id": cid,
        "attribute": attribute,
        "side": "chosen",
        "direction": "worse",
        "outcome": outcome,
        "margin_before": 1.0,
        "margin_after": after,
        "perturber": perturber,
    }


# two comparisons, x and y rewritten once each, all SF, then two hand-made CFs of y
RUN = [_row(c, a, "SF") for c in ("c1", "c2") for a in ("x", "y")]
EDITS = [_row("c1", "y", "CF", "manual"), _row("c2", "y", "CF", "manual/rule")]
TABLE = pd.DataFrame(RUN + EDITS)


def test_which_rows_are_hand_edits():
    assert list(hand_edit_rows(TABLE)) == [False] * 4 + [True, True]
    assert len(without_hand_edits(TABLE)) == 4
    plain = TABLE.drop(columns=["perturber"])  # a table saved before the column existed
    assert without_hand_edits(plain) is plain


def test_tau_counts_ignore_hand_edits():
    counts = pfr_counts(TABLE, ["c1", "c2"])
    # by hand: each comparison has one successful run rewrite per attribute, none flipped
    assert counts.attributes == ["x", "y"]
    assert np.array_equal(counts.rewrites, [[1, 1], [1, 1]])
    assert np.array_equal(counts.flips, [[0, 0], [0, 0]])  # with the edits y would be 1, 1


def test_local_rankings_ignore_hand_edits():
    local = local_rankings(TABLE)
    # by hand: per comparison, x and y each 0 flips of 1 rewrite, margin 1 -> 0.5 (drop 0.5)
    assert list(local["n"]) == [1, 1, 1, 1]
    assert list(local["flips"]) == [0, 0, 0, 0]
    assert local["margin_drop"].tolist() == [0.5] * 4


def test_coverage_ignores_hand_edits():
    chosen = coverage(TABLE).set_index("side").loc["chosen"]
    # by hand: 2 comparisons, no run CF on the chosen side (the edits' CFs would make it 2/2),
    # an SF in each, 4 rewrites, none failed
    assert chosen["n_comparisons"] == 2
    assert chosen["cf_coverage"] == 0.0 and chosen["sf_coverage"] == 1.0
    assert (chosen["n_rewrites"], chosen["n_failed"]) == (4, 0)


def test_objective_effects_ignore_hand_edits():
    from rmx_widgets.core.objectives import objective_effects

    # run rewrites change the objective by -0.5 each; the two hand edits by -2.0 (their CFs)
    table = TABLE.assign(**{"objective.safety.delta": [-0.5] * 4 + [-2.0, -2.0]})
    by = objective_effects(table).set_index(["attribute", "direction"])
    # by hand: y worse over its 2 run rewrites only: mean -0.5, n 2 (with the edits: -1.25, 4)
    assert (by.loc[("y", "worse"), "mean_delta"], by.loc[("y", "worse"), "n"]) == (-0.5, 2)
    assert by.loc[("x", "worse"), "n"] == 2
