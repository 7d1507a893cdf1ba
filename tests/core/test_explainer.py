"""The Explainer on hand-checkable cases: every label, margin and PFR computed by hand."""

import math

import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.data import load_comparisons
from rmx_widgets.core.explain import TABLE_COLUMNS, PlannedRewrite, failures_by_reason
from rmx_widgets.core.failures import FailureKind, legacy_failure_kind
from rmx_widgets.core.perturbers.base import (
    BasePerturber,
    CallablePerturber,
    PerturbationRequest,
    PerturbationResult,
    Perturber,
    ProtocolPerturber,
    as_perturber,
)
from rmx_widgets.core.reward_models.base import (
    CallableRewardModel,
    ProtocolRewardModel,
    RewardModel,
    as_reward_model,
)
from rmx_widgets.errors import PerturberError, RewardModelError

REWARDS = {
    # comparison c1: A (2.0) beats B (1.0)
    "A": 2.0,
    "B": 1.0,
    "A|verbosity|worse": 0.5,  # 0.5 - 1.0 < 0  -> CF
    "B|verbosity|better": 1.5,  # 2.0 - 1.5 > 0  -> SF
    "A|manner|worse": 1.5,  # SF
    "B|manner|better": 3.0,  # CF
    # comparison c2: D (4.0) beats C (1.0)
    "C": 1.0,
    "D": 4.0,
    "D|verbosity|worse": 3.0,  # SF
    "C|verbosity|better": 5.0,  # CF
    "C|manner|better": 0.9,  # SF; D|manner|worse is returned unchanged -> failed
    # comparison c3: a tie
    "E": 1.0,
    "F": 1.0,
}


class Counting:
    def __init__(self):
        self.rm_calls = 0
        self.rm_pairs = 0
        self.perturb_calls = 0

    def rm(self, prompts, responses):
        self.rm_calls += 1
        self.rm_pairs += len(responses)
        return [REWARDS[r] for r in responses]

    def perturb(self, prompt, response, attribute, direction):
        self.perturb_calls += 1
        if response == "D" and attribute.name == "manner":
            return "D"
        return f"{response}|{attribute.name}|{direction}"


COMPS = [
    {"id": "c1", "prompt": "p1", "response_a": "A", "response_b": "B"},
    {"id": "c2", "prompt": "p2", "response_a": "C", "response_b": "D"},
    {"id": "c3", "prompt": "p3", "response_a": "E", "response_b": "F"},
]


def _explain(counter, store=None):
    ex = rmx.Explainer(
        counter.rm, counter.perturb, attributes=["verbosity", "manner"], store=store, progress=False
    )
    with pytest.warns(UserWarning, match="1 comparison.*tie.*c3"):
        return ex.explain(COMPS)


def test_labels_margins_and_pfr_by_hand():
    counter = Counting()
    res = _explain(counter)
    t = res.table.set_index(["comparison_id", "attribute", "side"])
    assert len(res.table) == 8  # 2 comparisons x 2 attributes x 2 sides; the tie has none
    expect = {
        ("c1", "verbosity", "chosen"): ("CF", 1.0, -0.5),
        ("c1", "verbosity", "rejected"): ("SF", 1.0, 0.5),
        ("c1", "manner", "chosen"): ("SF", 1.0, 0.5),
        ("c1", "manner", "rejected"): ("CF", 1.0, -1.0),
        ("c2", "verbosity", "chosen"): ("SF", 3.0, 2.0),
        ("c2", "verbosity", "rejected"): ("CF", 3.0, -1.0),
        ("c2", "manner", "rejected"): ("SF", 3.0, 3.1),
    }
    for key, (outcome, before, after) in expect.items():
        row = t.loc[key]
        assert row["outcome"] == outcome, key
        assert row["margin_before"] == pytest.approx(before)
        assert row["margin_after"] == pytest.approx(after)
    failed = t.loc[("c2", "manner", "chosen")]
    assert failed["outcome"] == "failed" and "unchanged" in failed["failure_reason"]
    assert math.isnan(failed["reward_perturbed"])
    assert t.loc[("c2", "verbosity", "chosen"), "direction"] == "worse"
    assert t.loc[("c2", "verbosity", "chosen"), "original"] == "D"
    assert res.originals.set_index("comparison_id").loc["c2", "preferred"] == "b"
    assert list(res.ties["comparison_id"]) == ["c3"]

    sens = res.sensitivity(n_boot=200).set_index(["attribute", "direction"])
    by_hand = {
        ("verbosity", "worse"): (0.5, 2),
        ("verbosity", "better"): (0.5, 2),
        ("verbosity", "both"): (0.5, 4),
        ("manner", "worse"): (0.0, 1),
        ("manner", "better"): (0.5, 2),
        ("manner", "both"): (1 / 3, 3),
    }
    for key, (pfr, n) in by_hand.items():
        assert sens.loc[key, "pfr"] == pytest.approx(pfr), key
        assert sens.loc[key, "n"] == n, key
    # mean margin change in units of the reward spread: the originals A 2, B 1 (c1) and D 4,
    # C 1 (c2; the tie c3 is not in the table) have mean 2 and sample sd
    # sqrt((0 + 1 + 4 + 1) / 3) = sqrt(2); verbosity pooled: (-1.5 - 0.5 - 1 - 4) / 4 / sqrt(2)
    assert sens.loc[("verbosity", "both"), "mean_margin_change"] == pytest.approx(
        (-1.5 - 0.5 - 1 - 4) / 4 / math.sqrt(2)
    )


def test_originals_scored_once_and_second_run_makes_no_model_calls(tmp_path):
    counter = Counting()
    first = _explain(counter, store=tmp_path / "s.sqlite")
    # 6 originals + 7 successful rewrites, each scored exactly once
    assert counter.rm_pairs == 13 and counter.perturb_calls == 8
    again = Counting()
    second = _explain(again, store=tmp_path / "s.sqlite")
    assert again.rm_calls == 0 and again.perturb_calls == 0
    assert second.stats.perturbations_cached == 8 and second.stats.scores_computed == 0
    assert second.table.equals(first.table)


def test_cancel_keeps_landed_batches():
    import threading

    counter = Counting()
    cancel = threading.Event()
    ex = rmx.Explainer(
        counter.rm,
        counter.perturb,
        attributes=["verbosity", "manner"],
        batch_size=1,
        progress=False,
    )
    seen = []

    def on_batch(frame):
        seen.append(len(frame))
        cancel.set()

    with pytest.warns(UserWarning):
        res = ex.explain(COMPS, cancel=cancel, on_batch=on_batch)
    assert seen == [2] and len(res.table) == 2 and res.stats.cancelled


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda p, r: [1.0], "returned 1 scores for 6"),
        (lambda p, r: [float("nan")] * len(r), "non-finite"),
        (lambda p, r: ["x"] * len(r), "non-numeric"),
    ],
)
def test_bad_reward_callables_raise_typed_errors(bad, match):
    ex = rmx.Explainer(bad, Counting().perturb, attributes=["verbosity"], progress=False)
    with pytest.raises(RewardModelError, match=match):
        ex.explain(COMPS)


@pytest.mark.parametrize(
    "output, reason", [("", "empty"), (None, "not text"), ("A", "unchanged"), (42, "not text")]
)
def test_bad_perturber_outputs_become_failed_rows(output, reason):
    def perturb(prompt, response, attribute, direction):
        return output if response == "A" else f"{response}|{attribute.name}|{direction}"

    ex = rmx.Explainer(Counting().rm, perturb, attributes=["verbosity"], progress=False)
    with pytest.warns(UserWarning):
        t = ex.explain(COMPS).table
    row = t[(t.comparison_id == "c1") & (t.side == "chosen")].iloc[0]
    assert row["outcome"] == "failed" and reason in row["failure_reason"]


def test_perturber_exception_is_recorded_not_raised():
    def perturb(prompt, response, attribute, direction):
        raise ValueError("boom")

    ex = rmx.Explainer(Counting().rm, perturb, attributes=["verbosity"], progress=False)
    with pytest.warns(UserWarning):
        t = ex.explain(COMPS).table
    assert set(t["outcome"]) == {"failed"} and t["failure_reason"].str.contains("boom").all()


# -- failure kinds: chosen where the failure is created, never re-parsed from the text ---------


class _Resetting(BasePerturber):
    """Fails every request with a reason the legacy classifier would call a connection error."""

    identity = "resetting:v1"

    def perturb(self, request):
        return PerturbationResult.failed("connection reset", FailureKind.EXCEPTION)


def test_declared_failure_kind_is_reported_through_store_table_and_parquet(tmp_path):
    assert legacy_failure_kind("connection reset") is FailureKind.CONNECTION  # the text's guess
    ex = rmx.Explainer(
        Counting().rm,
        _Resetting(),
        attributes=["verbosity"],
        store=tmp_path / "s.sqlite",
        progress=False,
    )
    with pytest.warns(UserWarning):
        first = ex.explain(COMPS)
    # failure_kind follows truncated; the confounder columns are appended after it
    assert list(first.table.columns) == TABLE_COLUMNS
    assert TABLE_COLUMNS[TABLE_COLUMNS.index("truncated") :] == [
        "truncated",
        "failure_kind",
        "length_change",
        "human_preferred",
        "rm_agrees_with_human",
        "valid",
        "validity_reason",
    ]
    assert set(first.table["failure_kind"]) == {"exception"}
    assert first.summary()["failures_by_reason"] == {"exception": 4}
    assert first.stats.failures_by_reason == {"exception": 4}
    with pytest.warns(UserWarning):  # from the store this time: the kind came back with it
        again = rmx.Explainer(
            Counting().rm,
            _Resetting(),
            attributes=["verbosity"],
            store=tmp_path / "s.sqlite",
            progress=False,
        ).explain(COMPS)
    assert again.stats.perturbations_cached == 4 and again.stats.perturbations_computed == 0
    assert again.summary()["failures_by_reason"] == {"exception": 4}
    saved = pd.read_parquet(first.save(tmp_path / "out", report=False)["table_parquet"])
    assert failures_by_reason(saved) == {"exception": 4}
    # a table written before the column existed is classified from its reason texts
    assert failures_by_reason(saved.drop(columns=["failure_kind"])) == {"connection": 4}


def test_successful_rows_have_no_failure_kind():
    t = _explain(Counting()).table
    assert t.loc[t["outcome"] != "failed", "failure_kind"].isna().all()
    assert list(t.loc[t["outcome"] == "failed", "failure_kind"]) == ["unchanged"]


# -- what the Explainer accepts: everything ends with the declared capabilities ---------------


class _Bare:
    """A foreign perturber with only the minimal protocol (no base class, no on_result)."""

    identity = "bare:v1"

    def perturb_batch(self, requests):
        counter = Counting()
        return [
            PerturbationResult(counter.perturb(r.prompt_text, r.response, r.attribute, r.direction))
            for r in requests
        ]


class _BareRM:
    identity = "bare-rm:v1"

    def score(self, prompts, responses):
        return [REWARDS[r] for r in responses]


def test_minimal_protocol_objects_get_declared_defaults():
    pert, rm = as_perturber(_Bare()), as_reward_model(_BareRM())
    assert isinstance(pert, ProtocolPerturber) and isinstance(pert, Perturber)
    assert pert.identity == "bare:v1" and not pert.streams_results and pert.attribute_aware
    assert pert.supports(get_attribute("verbosity")) and pert.why_unavailable() is None
    assert dict(pert.stats) == {}
    assert isinstance(rm, ProtocolRewardModel) and isinstance(rm, RewardModel)
    assert rm.identity == "bare-rm:v1" and list(rm.last_truncated) == []
    assert rm.why_unavailable() is None and dict(rm.stats) == {}
    seen = []
    req = PerturbationRequest("p", "A", get_attribute("verbosity"), "worse")
    assert pert.perturb_batch([req], on_result=lambda i, r: seen.append(i))[
        0
    ].text == "A|verbosity|worse" and seen == [0]  # told when the batch is back
    with pytest.warns(UserWarning):
        res = rmx.Explainer(
            _BareRM(), _Bare(), attributes=["verbosity", "manner"], progress=False
        ).explain(COMPS)
    assert res.perturber == "bare:v1" and res.rm == "bare-rm:v1"
    assert len(res.table) == 8 and res.stats.perturber_stats == {}


def test_declared_objects_are_used_as_they_are_and_callables_wrapped():
    rule, transparent = rmx.RulePerturber(), rmx.TransparentRewardModel()
    assert as_perturber(rule) is rule and as_reward_model(transparent) is transparent
    assert isinstance(as_perturber(Counting().perturb), CallablePerturber)
    assert isinstance(as_reward_model(Counting().rm), CallableRewardModel)
    with pytest.raises(PerturberError, match="neither a perturber"):
        as_perturber(42)
    with pytest.raises(RewardModelError, match="neither a reward model"):
        as_reward_model("not a model")


def test_plan_is_public_planned_rewrites():
    ex = rmx.Explainer(Counting().rm, Counting().perturb, attributes=["verbosity"], progress=False)
    comps = load_comparisons(COMPS)
    with pytest.warns(UserWarning):
        originals = ex.score_originals(comps)
    plan = ex.plan(comps, ex.attributes, originals)
    assert all(isinstance(p, PlannedRewrite) for p in plan) and len(plan) == 4
    first = plan[0]
    assert (first.side, first.direction, first.original, first.other) == (
        "chosen",
        "worse",
        "A",
        "B",
    )
    assert first.margin(first.reward_original) == pytest.approx(1.0)
    assert first.request == PerturbationRequest("p1", "A", get_attribute("verbosity"), "worse")
