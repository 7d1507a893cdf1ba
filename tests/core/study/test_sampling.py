"""The study's seeded samples and the standard error they allow (issue 11, defect 4).

Seeds independently drawn from a data set no larger than ``per_seed`` are the same sample, and
the seed-to-seed standard error of identical samples is 0 by construction ("± 0.000"). The
seeds now draw disjointly while the data allows, say when they cannot, and the summary then
reports the standard error over the distinct comparisons. Every expected value below is
worked out by hand.
"""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest

from rmx_widgets.core.study.inputs import sample_ids, sampling_mode
from rmx_widgets.core.study.quality import ratio_se, summarise
from rmx_widgets.core.study.report import study_report_html
from rmx_widgets.core.study.result import POOLED_COLUMNS, QUALITY_COLUMNS
from rmx_widgets.core.study.run import evaluate

ATTRS = [
    {"name": "a", "definition": "how good it is"},
    {"name": "b", "definition": "an attribute the RM ignores"},
]
COMPS = [
    {"id": "c1", "prompt": "p1", "chosen": "good", "rejected": "meh"},
    {"id": "c2", "prompt": "p2", "chosen": "good good good", "rejected": "bad"},
    {"id": "c3", "prompt": "p3", "chosen": "same", "rejected": "also same"},  # a tie
]


def counting_rm(prompts, responses):
    return [float(r.split().count("good") - r.split().count("bad")) for r in responses]


def hand_perturber(prompt, response, attribute, direction):
    if attribute.name == "a":
        return response + (" bad bad" if direction == "worse" else " good good good")
    if direction == "worse":
        return response + " x"
    return response  # unchanged: a failed rewrite


def test_sampling_mode_by_hand():
    assert sampling_mode(150, 5, 30) == "disjoint"  # 150 = 5 × 30
    assert sampling_mode(149, 5, 30) == "overlapping"
    assert sampling_mode(31, 5, 30) == "overlapping"
    assert sampling_mode(30, 5, 30) == "single sample"  # every seed takes all 30
    assert sampling_mode(3, 2, 30) == "single sample"
    assert sampling_mode(1000, 1, 30) == "single sample"  # one seed is one sample


def test_the_papers_five_by_thirty_are_150_distinct_comparisons():
    ids = [f"c{i:03d}" for i in range(150)]
    samples = sample_ids(ids, [0, 1, 2, 3, 4], 30)
    assert [len(v) for v in samples.values()] == [30] * 5
    drawn = [i for v in samples.values() for i in v]
    assert len(set(drawn)) == 150  # no comparison in two seeds
    assert samples == sample_ids(ids, [0, 1, 2, 3, 4], 30)  # seeded: the same every time
    # more data: still disjoint, and each sample keeps the data's order
    big = sample_ids([f"c{i:03d}" for i in range(400)], range(5), 30)
    assert len({i for v in big.values() for i in v}) == 150
    assert all(v == sorted(v) for v in big.values())


def test_overlapping_seeds_overlap_as_little_as_possible():
    # 50 comparisons, 5 seeds × 30 = 150 draws: each comparison is drawn 150 / 50 = 3 times
    # (least used first: 30 fresh | 20 fresh + 10 | 30 of the 40 once-used | 10 + 20 | 30)
    ids = [f"c{i}" for i in range(50)]
    samples = sample_ids(ids, range(5), 30)
    counts = pd.Series([i for v in samples.values() for i in v]).value_counts()
    assert set(counts) == {3} and len(counts) == 50
    assert all(len(set(v)) == 30 for v in samples.values())  # no repeat within a seed


def test_single_sample_every_seed_takes_all():
    samples = sample_ids(["a", "b", "c"], [7, 8], 5)
    assert samples == {7: ["a", "b", "c"], 8: ["a", "b", "c"]}


def test_identical_seeds_no_longer_give_zero_standard_error():
    """The defect: two seeds of the same 3 comparisons gave coverage 0.500 ± 0.000. Now the
    study warns and the ± is over the 2 explained comparisons (c3 is a tie): chosen-side CF
    found = [1 (c1), 0 (c2)], mean 0.5, se = std([1, 0], ddof=1) / sqrt(2) = 0.7071 / 1.4142
    = 0.5."""
    with pytest.warns(UserWarning, match="every seed uses all of them"):
        study = evaluate(
            COMPS,
            {"count": counting_rm},
            {"hand": hand_perturber},
            attributes=ATTRS,
            seeds=[0, 1],
            per_seed=3,
            progress=False,
            n_boot=0,
        )
    s = study.quality_summary.set_index(["side", "kind"])
    cf = s.loc[("chosen", "CF")]
    assert cf["n_seeds"] == 2 and cf["sampling"] == "single sample"
    assert cf["se_over"] == "comparisons"
    assert cf["coverage"] == pytest.approx(0.5)
    assert cf["coverage_se"] == pytest.approx(0.5)  # was 0.0: std of two identical seeds
    assert cf["n_comparisons"] == 2 and cf["n_ties"] == 1 and cf["coverage_n"] == 2
    # failed rewrites: each comparison's rejected side has 2 rewrites (a, b better), the
    # b-better one fails: f = (1, 1), n = (2, 2) → rate 2/4 = 0.5, residuals 1 − 0.5·2 = 0,
    # so its se over comparisons is 0 (every comparison fails exactly half)
    rej = s.loc[("rejected", "CF")]
    assert (rej["n_rewrites"], rej["n_failed"]) == (4, 2)
    assert rej["failed_rate"] == pytest.approx(0.5) and rej["failed_rate_se"] == pytest.approx(0)
    # the chosen side never fails: 0 of 4
    assert cf["failed_rate"] == pytest.approx(0.0) and cf["n_rewrites"] == 4
    main = study.main_table(side="chosen")
    assert main.loc[0, "CF coverage"] == "0.500 ± 0.500"
    assert main.loc[0, "± s.e. over"] == "comparisons"
    assert study.sampling == {"data": "single sample"}
    assert study.config["sampling"] == {"data": "single sample"}
    assert "single sample" in study.se_note() and "fewer than 2 seeds × 3" in study.se_note()
    page = study_report_html(study)
    assert "<td>sampling</td>" in page and "data: single sample" in page
    assert "standard error over the distinct sampled comparisons" in page


def test_disjoint_seeds_use_the_seed_to_seed_standard_error():
    """Four comparisons, two seeds of two: disjoint. c1 and c5 flip on the chosen side (found
    1), c2 and c6 do not (found 0); the summary is the mean and se of the per-seed coverages,
    computed here from which comparisons each seed drew."""
    comps = [
        *COMPS[:2],
        {"id": "c5", "prompt": "p5", "chosen": "good", "rejected": "meh"},
        {"id": "c6", "prompt": "p6", "chosen": "good good good", "rejected": "bad"},
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # disjoint: no warning
        study = evaluate(
            comps,
            {"count": counting_rm},
            {"hand": hand_perturber},
            attributes=ATTRS,
            seeds=[0, 1],
            per_seed=2,
            progress=False,
            n_boot=0,
        )
    a, b = study.samples["data"].values()
    assert not set(a) & set(b) and set(a) | set(b) == {"c1", "c2", "c5", "c6"}
    flips = {"c1": 1.0, "c5": 1.0, "c2": 0.0, "c6": 0.0}
    cov_a = (flips[a[0]] + flips[a[1]]) / 2
    cov_b = (flips[b[0]] + flips[b[1]]) / 2
    cf = study.quality_summary.set_index(["side", "kind"]).loc[("chosen", "CF")]
    assert cf["sampling"] == "disjoint" and cf["se_over"] == "seeds"
    assert cf["coverage"] == pytest.approx((cov_a + cov_b) / 2)
    # two values: sd = |x − y| / sqrt(2), se = sd / sqrt(2) = |x − y| / 2
    assert cf["coverage_se"] == pytest.approx(abs(cov_a - cov_b) / 2)
    assert cf["n_comparisons"] == 4 and cf["n_rewrites"] == 8  # 4 comparisons × 2 attributes


def _quality(seed, n_comparisons, n_rewrites, n_failed, coverage):
    row = dict.fromkeys(QUALITY_COLUMNS, math.nan)
    row.update(
        dataset="d", rm="r", perturber="p", seed=seed, side="both", kind="CF", n_ties=0,
        n_comparisons=n_comparisons, n_rewrites=n_rewrites, n_failed=n_failed,
        failed_rate=n_failed / n_rewrites, coverage=coverage,
    )  # fmt: skip
    return row


def _pooled(**values):
    row = dict.fromkeys(POOLED_COLUMNS, math.nan)
    row.update(dataset="d", rm="r", perturber="p", side="both", kind="CF", **values)
    return row


def test_failed_rate_is_averaged_over_seeds_like_the_other_figures():
    """Seed 0: 2 failed of 4 rewrites (0.5); seed 1: 0 of 2 (its sample had a tie). Averaged
    over seeds like coverage: (0.5 + 0)/2 = 0.25 (not the pooled 2/6 = 0.333), se =
    |0.5 − 0| / 2 = 0.25; coverage (1 + 0)/2 = 0.5, se 0.5. Counts are the distinct ones."""
    quality = pd.DataFrame([_quality(0, 2, 4, 2, 1.0), _quality(1, 1, 2, 0, 0.0)])
    pooled = pd.DataFrame(
        [_pooled(n_comparisons=3, n_ties=1, n_rewrites=6, n_failed=2, coverage_n=3)]
    )
    row = summarise(quality, pooled, {"d": "disjoint"}).iloc[0]
    assert row["failed_rate"] == pytest.approx(0.25)
    assert row["failed_rate_se"] == pytest.approx(0.25)
    assert row["coverage"] == pytest.approx(0.5) and row["coverage_se"] == pytest.approx(0.5)
    assert (row["n_rewrites"], row["n_failed"], row["n_comparisons"]) == (6, 2, 3)
    assert row["se_over"] == "seeds"
    # the same seeds overlapping: the pooled figures over the distinct comparisons are used
    pooled_vals = _pooled(failed_rate=2 / 6, failed_rate_se=0.1, coverage=0.6, coverage_se=0.2)
    row = summarise(quality, pd.DataFrame([pooled_vals]), {"d": "overlapping"}).iloc[0]
    assert row["failed_rate"] == pytest.approx(1 / 3) and row["failed_rate_se"] == 0.1
    assert row["coverage"] == pytest.approx(0.6) and row["coverage_se"] == pytest.approx(0.2)
    assert row["se_over"] == "comparisons" and row["sampling"] == "overlapping"


def test_ratio_se_by_hand():
    # (failed, rewrites) = (1, 2), (0, 2), (2, 4): r = 3/8; residuals f − r·n = 0.25, −0.75,
    # 0.5; Σ² = 0.0625 + 0.5625 + 0.25 = 0.875; / (k(k − 1) = 6) = 0.145833; sqrt = 0.381881;
    # / n̄ = 8/3 → 0.143205
    assert ratio_se([1, 0, 2], [2, 2, 4]) == pytest.approx(0.381881 / (8 / 3), rel=1e-5)
    # equal denominators: the se of the per-comparison rates 0.5, 0, 0.5 = 0.2887 / sqrt(3)
    assert ratio_se([1, 0, 1], [2, 2, 2]) == pytest.approx(
        pd.Series([0.5, 0, 0.5]).std() / math.sqrt(3)
    )
    assert math.isnan(ratio_se([1], [2]))  # one comparison: no spread
    assert math.isnan(ratio_se([0, 1], [0, 2]))  # the one without rewrites does not count
    assert ratio_se([2, 2], [2, 2]) == 0.0  # all failed everywhere: no spread, rate 1
