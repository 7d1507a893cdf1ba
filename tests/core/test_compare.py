"""RM vs RM (core.compare): the one definition of an agreed comparison, Kendall's τ between
rankings, contrasting examples and ``rmx.compare``, on hand-built tables and preferences."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import table_factory as tf
from scipy import stats

import rmx_widgets as rmx
from rmx_widgets.core import compare as cmp
from rmx_widgets.core.compare import (
    RMComparison,
    agreeing_comparisons,
    agreement,
    compare_tables,
    contrasting_examples,
    contrasting_pairs,
    kendall_tau,
    pairwise_tau,
    pfr_tau,
    preferences,
    tau_b_rows,
)
from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.sensitivity import ranking, sensitivity


def prefs(values: dict) -> pd.Series:
    """A preferences series by hand: comparison_id -> 'a' / 'b' / None (a tie)."""
    return pd.Series(values, dtype=object)


def get(sens: pd.DataFrame, attribute: str, direction: str) -> pd.Series:
    rows = sens[(sens["attribute"] == attribute) & (sens["direction"] == direction)]
    assert len(rows) == 1
    return rows.iloc[0]


# -- agreement: a tie for none of the RMs, and the same preference for all ---------------------
def test_agreement_of_two_rms_by_hand():
    a = prefs({"same": "a", "other": "a", "tie_b": "b", "both_b": "b", "only_a": "a"})
    b = prefs({"same": "a", "other": "b", "tie_b": None, "both_b": "b"})  # only_a: not scored
    agreed = agreement([a, b])
    assert list(agreed.index) == ["same", "other", "tie_b", "both_b", "only_a"]  # a's order
    assert agreed.to_dict() == {
        "same": True,
        "other": False,
        "tie_b": False,
        "both_b": True,
        "only_a": False,
    }
    assert agreed.dtype == bool


def test_a_tie_for_every_rm_is_not_agreed():
    both_tie = prefs({"c": None})
    assert not agreement([both_tie, both_tie])["c"]


def test_one_rm_agrees_on_everything_it_does_not_tie():
    agreed = agreement([prefs({"x": "a", "y": "b", "z": None})])
    assert agreed.to_dict() == {"x": True, "y": True, "z": False}


def test_all_rms_must_agree_with_three():
    a = prefs({"c1": "a", "c2": "a", "c3": "b"})
    b = prefs({"c1": "a", "c2": "a", "c3": "b"})
    c = prefs({"c1": "a", "c2": "b", "c3": "b"})
    assert agreement([a, b, c]).to_dict() == {"c1": True, "c2": False, "c3": True}
    # the pairs: a and b agree everywhere, a and c only where c does not differ
    assert agreement([a, b]).all()
    assert agreement([a, c]).to_dict() == {"c1": True, "c2": False, "c3": True}


def test_agreement_judges_the_given_ids_in_their_order():
    a, b = prefs({"c1": "a", "c2": "b"}), prefs({"c2": "b", "c1": "a"})
    assert list(agreement([a, b], ids=["c2", "missing", "c1"]).items()) == [
        ("c2", True),
        ("missing", False),
        ("c1", True),
    ]


def test_agreement_needs_at_least_one_rm():
    with pytest.raises(RMXError, match="at least one reward model"):
        agreement([])


def test_preferences_from_a_table_and_from_originals():
    table = tf.table(
        tf.comparison("c1", 1.0, {"x": (0.5, 0.5), "y": (0.5, 0.5)})
        + tf.comparison("c2", 1.0, {"x": (0.5, 0.5)}, preferred="b")
    )
    assert preferences(table).to_dict() == {"c1": "a", "c2": "b"}
    originals = pd.DataFrame(
        {"comparison_id": ["c1", "c2"], "preferred": ["a", None], "tie": [False, True]}
    )
    pref = preferences(originals)
    assert pref["c1"] == "a" and pd.isna(pref["c2"])
    with pytest.raises(DataError, match="preferred"):
        preferences(table.drop(columns=["preferred"]))


def test_agreeing_comparisons_of_tables_skip_ties_and_disagreements():
    rows_a = (
        tf.comparison("c1", 1.0, {"x": (0.5, 0.5)})
        + tf.comparison("c2", 1.0, {"x": (0.5, 0.5)})
        + tf.comparison("c3", 1.0, {"x": (0.5, 0.5)})
    )
    rows_b = (
        tf.comparison("c1", 1.0, {"x": (0.5, 0.5)}, rm="rm-b")
        + tf.comparison("c2", 1.0, {"x": (0.5, 0.5)}, preferred="b", rm="rm-b")
        + tf.comparison("c3", 1.0, {"x": (0.5, 0.5)}, preferred=None, rm="rm-b")
    )
    table_a, table_b = tf.table(rows_a), tf.table(rows_b)
    assert agreeing_comparisons(table_a, table_b) == ["c1"]
    assert agreeing_comparisons(table_a) == ["c1", "c2", "c3"]
    assert agreeing_comparisons(table_a, table_b, table_a) == ["c1"]


# -- Kendall's τ ------------------------------------------------------------------------------
def test_kendall_tau_of_identical_rankings_is_one():
    tau, p = kendall_tau(["a", "b", "c"], ["a", "b", "c"])
    assert tau == pytest.approx(1.0)
    assert 0.0 < p <= 1.0


def test_kendall_tau_known_rankings():
    assert kendall_tau(["a", "b", "c", "d"], ["a", "b", "c", "d"])[0] == pytest.approx(1.0)
    # only common attributes count: b holds d, c, b, a in that order -> reversed
    assert kendall_tau(["a", "b", "c", "d"], ["d", "x", "c", "b", "a"])[0] == pytest.approx(-1.0)
    # one adjacent swap among 4: 5 concordant, 1 discordant pairs -> (5 - 1) / 6
    tau, p = kendall_tau(["a", "b", "c", "d"], ["b", "a", "c", "d"])
    assert tau == pytest.approx(4 / 6)
    assert 0.0 < p <= 1.0
    tau, p = kendall_tau(["a", "b"], ["c", "a"])
    assert math.isnan(tau) and math.isnan(p)


def pfrs(values: dict) -> pd.Series:
    return pd.Series(values, dtype=float)


def test_pfr_tau_counts_ties_as_ties():
    # identical vectors with a tie: τ-b = 1 (a strict tie-break would order x/y differently)
    tau, _, n, note = pfr_tau(
        pfrs({"x": 0.5, "y": 0.5, "z": 0.0}), pfrs({"x": 0.5, "y": 0.5, "z": 0})
    )
    assert (tau, n, note) == (pytest.approx(1.0), 3, "")
    tau, _, _, note = pfr_tau(
        pfrs({"a": 0.2, "b": 0.1, "c": 0.0}), pfrs({"a": 0.0, "b": 0.1, "c": 0.2})
    )
    assert (tau, note) == (pytest.approx(-1.0), "")


def test_pfr_tau_b_with_one_tie_by_hand():
    x = pfrs({"a": 0.4, "b": 0.2, "c": 0.2, "d": 0.0})
    y = pfrs({"a": 0.1, "b": 0.3, "c": 0.2, "d": 0.0})
    # pairs: ab D, ac D, ad C, bc tied in x, bd C, cd C -> concordant 3, discordant 2;
    # n0 = 6 pairs, n1 = 1 tied in x, n2 = 0 tied in y
    want = (3 - 2) / math.sqrt((6 - 1) * (6 - 0))
    tau, p, n, note = pfr_tau(x, y)
    assert tau == pytest.approx(want) and want == pytest.approx(0.1826, abs=1e-4)
    assert 0 < p <= 1 and n == 4 and note == ""
    # the vectorised τ-b of the bootstrap agrees
    got = tau_b_rows(x.to_numpy()[None, :], y.to_numpy()[None, :])
    assert got == pytest.approx([want])


def test_pfr_tau_of_a_constant_vector_is_undefined_with_a_reason():
    flat = pfrs({"x": 0.0, "y": 0.0, "z": 0.0})
    moving = pfrs({"x": 0.1, "y": 0.2, "z": 0.3})
    tau, p, n, note = pfr_tau(flat, moving, "A", "B")
    assert math.isnan(tau) and math.isnan(p) and n == 3
    assert note == "undefined: A's flip rates are all equal"
    assert pfr_tau(moving, flat, "A", "B")[3] == "undefined: B's flip rates are all equal"
    assert pfr_tau(flat, flat, "A", "B")[3] == "undefined: A's and B's flip rates are all equal"
    assert pfr_tau(flat, flat, "A", "A")[3] == "undefined: A's flip rates are all equal"
    # only attributes measured by both count (NaN = not measured)
    tau, _, n, note = pfr_tau(pfrs({"x": 0.1, "y": np.nan}), pfrs({"x": 0.2, "y": 0.3}), "A", "B")
    assert math.isnan(tau) and n == 1
    assert note == "undefined: fewer than two attributes measured by both A and B"


def test_tau_b_rows_matches_scipy_with_ties_and_gaps():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(50, 6)).astype(float) / 4
    y = rng.integers(0, 4, size=(50, 6)).astype(float) / 4
    x[::7, 2] = np.nan
    got = tau_b_rows(x, y)
    for row in range(50):
        keep = np.isfinite(x[row]) & np.isfinite(y[row])
        xs, ys = x[row][keep], y[row][keep]
        if len(set(xs)) < 2 or len(set(ys)) < 2:
            assert math.isnan(got[row])
        else:
            assert got[row] == pytest.approx(stats.kendalltau(xs, ys, variant="b").statistic)


def tie_break_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both RMs: PFR x = y = 1/2, z = 0 on c1, c2. A's x rewrites move the margin more than
    its y rewrites (mean change -1.25 vs -0.8), B's the other way, so the tie-broken rankings
    are x, y, z and y, x, z."""
    big, small = (-1.0, 0.5), (-0.5, 0.9)
    a_rows, b_rows = [], []
    for cid in ("c1", "c2"):
        a_rows += tf.comparison(cid, 1.0, {"x": big, "y": small, "z": (0.5, 0.5)}, rm="rm-A")
        b_rows += tf.comparison(cid, 1.0, {"x": small, "y": big, "z": (0.5, 0.5)}, rm="rm-B")
    return tf.table(a_rows), tf.table(b_rows)


def test_identical_flip_rates_give_tau_one_whatever_the_margins():
    table_a, table_b = tie_break_tables()
    result = compare_tables(table_a, table_b, n_boot=200)
    assert (result.ranking_a, result.ranking_b) == (["x", "y", "z"], ["y", "x", "z"])
    # the strict rankings would say (2 concordant - 1 discordant) / 3 = 1/3
    assert kendall_tau(result.ranking_a, result.ranking_b)[0] == pytest.approx(1 / 3)
    assert result.tau == pytest.approx(1.0) and result.tau_note == ""
    # c1 and c2 are identical, so every resample has the same vectors: [1, 1]
    assert (result.tau_low, result.tau_high, result.n_boot_undefined) == (1.0, 1.0, 0)


def test_nothing_flips_gives_no_tau():
    rows_a = tf.comparison("c1", 1.0, {"x": (0.5, 0.5), "y": (0.2, 0.8)}, rm="rm-A")
    rows_b = tf.comparison("c1", 1.0, {"x": (0.9, 0.5), "y": (0.3, 0.8)}, rm="rm-B")
    result = compare_tables(tf.table(rows_a), tf.table(rows_b), n_boot=50)
    assert math.isnan(result.tau) and math.isnan(result.p_value)
    assert math.isnan(result.tau_low) and math.isnan(result.tau_high)
    assert result.tau_note == "undefined: rm-A's and rm-B's flip rates are all equal"


def test_tau_bootstrap_drops_and_counts_undefined_resamples():
    # both RMs: c1 flips x (both sides) and holds y; c2 holds both. Full sample: x 1/2, y 0
    # -> τ 1. A resample {c2, c2} has x = y = 0 (constant: undefined, dropped); any other
    # resample has x > 0 = y -> τ 1.
    a_rows, b_rows = [], []
    for rm, rows in (("rm-A", a_rows), ("rm-B", b_rows)):
        rows += tf.comparison("c1", 1.0, {"x": (-1.0, -1.0), "y": (0.5, 0.5)}, rm=rm)
        rows += tf.comparison("c2", 1.0, {"x": (0.5, 0.5), "y": (0.5, 0.5)}, rm=rm)
    result = compare_tables(tf.table(a_rows), tf.table(b_rows), n_boot=400, seed=5)
    assert result.tau == pytest.approx(1.0)
    assert (result.tau_low, result.tau_high) == (1.0, 1.0)
    # the same draws by hand: comparison index 1 (c2) drawn twice
    draws = np.random.default_rng(5).integers(0, 2, size=(400, 2))
    want = int((draws == 1).all(axis=1).sum())
    assert result.n_boot_undefined == want and 60 < want < 140  # about 400 / 4


def test_tau_interval_contains_estimate_and_is_seeded():
    table_a, table_b = random_rm_tables()
    r1 = compare_tables(table_a, table_b, n_boot=300, seed=2)
    r2 = compare_tables(table_a, table_b, n_boot=300, seed=2)
    assert (r1.tau_low, r1.tau_high) == (r2.tau_low, r2.tau_high)
    assert r1.tau_low <= r1.tau <= r1.tau_high and r1.tau_low < r1.tau_high


def random_rm_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    tables = []
    for rm in ("rm-A", "rm-B"):
        rows = []
        for c in range(30):
            effects = {a: (float(rng.normal(0.3, 1)), float(rng.normal(0.3, 1))) for a in "pqrst"}
            rows += tf.comparison(f"c{c:02d}", 1.0, effects, rm=rm)
        tables.append(tf.table(rows))
    return tables[0], tables[1]


def test_pairwise_tau_is_a_full_symmetric_matrix():
    table_a, table_b = tie_break_tables()
    reversed_rows = []
    for cid in ("c1", "c2"):  # PFR x = 0, y = 1/2, z = 1: the reverse order of A's
        reversed_rows += tf.comparison(
            cid, 1.0, {"x": (0.5, 0.5), "y": (-1.0, 0.5), "z": (-1.0, -1.0)}, rm="rm-C"
        )
    flat_rows = tf.comparison("c1", 1.0, {"x": (0.5, 0.5), "y": (0.5, 0.5)}, rm="rm-D")
    flat_rows += tf.comparison("c2", 1.0, {"x": (0.5, 0.5), "y": (0.5, 0.5)}, rm="rm-D")
    tables = {"A": table_a, "B": table_b, "C": tf.table(reversed_rows), "D": tf.table(flat_rows)}
    rows = pairwise_tau(tables, n_boot=100)
    assert list(rows.columns) == [
        "rm_a",
        "rm_b",
        "tau",
        "p_value",
        "n_attributes",
        "tau_low",
        "tau_high",
        "tau_note",
        "n_boot_undefined",
    ]
    matrix = rows.pivot(index="rm_a", columns="rm_b", values="tau")
    assert np.diag(matrix.loc[["A", "B", "C"], ["A", "B", "C"]]) == pytest.approx([1, 1, 1])
    assert matrix.loc["A", "B"] == matrix.loc["B", "A"] == pytest.approx(1.0)
    # A: x = y = 1/2 > z = 0; C: x = 0 < y = 1/2 < z = 1. Pairs: xy tied in A, xz D, yz D
    # -> (0 - 2) / sqrt((3 - 1)(3 - 0))
    assert matrix.loc["A", "C"] == pytest.approx(-2 / math.sqrt(6))
    notes = rows.set_index(["rm_a", "rm_b"])["tau_note"]
    # D measures only x and y; on those A is constant too (x = y = 1/2), C is not (0, 1/2)
    assert notes[("A", "D")] == "undefined: A's and D's flip rates are all equal"
    assert notes[("C", "D")] == "undefined: D's flip rates are all equal"
    assert notes[("D", "D")] == "undefined: D's flip rates are all equal"
    assert notes[("A", "C")] == ""
    assert math.isnan(matrix.loc["A", "D"]) and math.isnan(matrix.loc["D", "D"])
    n = rows.set_index(["rm_a", "rm_b"])["n_attributes"]
    assert (n[("A", "B")], n[("A", "D")], n[("D", "D")]) == (3, 2, 2)
    assert pairwise_tau({}).empty


# -- contrasting examples ---------------------------------------------------------------------
def contrasting_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """x1: both RMs rank a, b, c (tau 1); x2: B ranks the reverse (tau -1); x3: B prefers the
    other response, so it is never a contrasting example however different."""
    forward = {"a": (-1.0, -1.0), "b": (-1.0, 0.5), "c": (0.5, 0.5)}
    backward = {"c": (-1.0, -1.0), "b": (-1.0, 0.5), "a": (0.5, 0.5)}
    table_a = tf.table(
        tf.comparison("x1", 1.0, forward)
        + tf.comparison("x2", 1.0, forward)
        + tf.comparison("x3", 1.0, forward)
    )
    table_b = tf.table(
        tf.comparison("x1", 1.0, forward, rm="rm-b")
        + tf.comparison("x2", 1.0, backward, rm="rm-b")
        + tf.comparison("x3", 1.0, backward, preferred="b", rm="rm-b")
    )
    return table_a, table_b


def test_contrasting_examples_pick_the_disagreeing_comparison():
    table_a, table_b = contrasting_tables()
    out = contrasting_examples(table_a, table_b, k=5)
    assert list(out["comparison_id"]) == ["x2", "x1"]
    assert out["tau"].tolist() == pytest.approx([-1.0, 1.0])
    assert list(out["n_attributes"]) == [3, 3]
    assert list(contrasting_examples(table_a, table_b, k=1)["comparison_id"]) == ["x2"]
    with pytest.raises(RMXError, match="k must be"):
        contrasting_examples(table_a, table_b, k=0)


def test_contrasting_pairs_rank_every_pair_once():
    table_a, table_b = contrasting_tables()
    out = contrasting_pairs({"A": table_a, "B": table_b, "A2": table_a}, k=1)
    assert list(out.columns) == [
        "rm_a",
        "rm_b",
        "rank",
        "comparison_id",
        "tau",
        "p",
        "n_attributes",
    ]
    assert list(zip(out["rm_a"], out["rm_b"], out["comparison_id"])) == [
        ("A", "B", "x2"),
        ("A", "A2", "x1"),
        ("B", "A2", "x2"),
    ]
    assert list(out["rank"]) == [1, 1, 1]
    assert contrasting_pairs({"A": table_a}).empty


# -- compare_tables and rmx.compare -----------------------------------------------------------
def two_rm_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """RM A: x flips both sides, y flips the chosen side only, z never (in c1..c4).
    RM B on c1..c3: z flips both, y chosen only, x never -> ranking z, y, x. On c4 B prefers the
    other response and has 20 extra flipping x rows, which would put x first if c4 counted."""
    a_rows, b_rows = [], []
    for cid in ("c1", "c2", "c3", "c4"):
        a_rows += tf.comparison(
            cid, 1.0, {"x": (-1.0, -1.0), "y": (-1.0, 0.5), "z": (0.5, 0.5)}, rm="rm-A"
        )
    for cid in ("c1", "c2", "c3"):
        b_rows += tf.comparison(
            cid, 1.0, {"x": (0.5, 0.5), "y": (-1.0, 0.5), "z": (-1.0, -1.0)}, rm="rm-B"
        )
    b_rows += tf.comparison(
        "c4", 1.0, {"x": (-1.0, -1.0), "y": (0.5, 0.5), "z": (0.5, 0.5)}, preferred="b", rm="rm-B"
    )
    b_rows += [tf.row("c4", "x", "chosen", 1.0, -1.0, preferred="b", rm="rm-B") for _ in range(20)]
    return tf.table(a_rows), tf.table(b_rows)


def test_compare_tables_restricts_tau_to_agreeing_comparisons():
    table_a, table_b = two_rm_tables()
    # on the full B table, x ranks first (22 of 28 rewrites flip)
    assert ranking(sensitivity(table_b, n_boot=0))[0] == "x"
    result = compare_tables(table_a, table_b, k=2, n_boot=100)
    assert isinstance(result, RMComparison)
    assert result.n_agree == 3 and result.n_common == 4
    assert result.ranking_a == ["x", "y", "z"]
    assert result.ranking_b == ["z", "y", "x"]
    assert result.tau == pytest.approx(-1.0)
    assert (result.name_a, result.name_b) == ("rm-A", "rm-B")
    # sens_a / sens_b describe each full table (c4 included)
    assert get(result.sens_a, "x", "both")["n"] == 8
    assert get(result.sens_b, "x", "both")["n"] == 28
    # every agreeing comparison has reversed local rankings; ties broken by id
    assert list(result.contrasting["comparison_id"]) == ["c1", "c2"]
    assert result.contrasting["tau"].tolist() == pytest.approx([-1.0, -1.0])


def test_compare_tables_without_shared_comparisons_is_an_error():
    table_a, _ = two_rm_tables()
    other = tf.table(tf.comparison("zz", 1.0, {"x": (1.0, 1.0)}))
    with pytest.raises(DataError, match="share no comparison_id"):
        compare_tables(table_a, other)


def test_rmx_compare_is_compare_tables_on_the_results():
    assert rmx.compare is cmp.compare
    comps = rmx.sample_comparisons()[:12]
    perturber = rmx.RulePerturber()
    attrs = ["manner", "engagement", "assertiveness", "relevance"]
    rm_a = rmx.TransparentRewardModel({"pleasantries": 3.0, "hedging": -1.0, "length": 0.2})
    rm_b = rmx.TransparentRewardModel({"hedging": -3.0, "pleasantries": 0.5, "length": 0.2})
    res_a = rmx.Explainer(rm_a, perturber, attributes=attrs, progress=False).explain(comps)
    res_b = rmx.Explainer(rm_b, perturber, attributes=attrs, progress=False).explain(comps)
    got = rmx.compare(res_a, res_b, k=3)
    want = compare_tables(res_a.table, res_b.table, k=3)
    assert (got.n_agree, got.ranking_a, got.ranking_b) == (
        want.n_agree,
        want.ranking_a,
        want.ranking_b,
    )
    assert got.tau == pytest.approx(want.tau)
    agreed = agreement([preferences(res_a.originals), preferences(res_b.originals)])
    assert got.n_agree == int(agreed.sum())  # tables and originals: the same definition
