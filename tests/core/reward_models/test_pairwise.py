"""Pairwise judges: the protocol, the wrapper's identity, strict checks of what a judge returns,
the debiasing arithmetic (by hand) and the store cache of P(first ≻ second)."""

import math
import sqlite3

import numpy as np
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.pair_scores import CachedPairwiseJudge
from rmx_widgets.core.reward_models.base import RewardModel, as_reward_model
from rmx_widgets.core.reward_models.pairwise import (
    P_CLIP,
    PairwiseJudge,
    PairwiseRewardModel,
    ProtocolPairwiseJudge,
    checked_preferences,
    debiased,
    logit,
    position_disagrees,
)
from rmx_widgets.core.store import STORE_TABLES, Store
from rmx_widgets.errors import RewardModelError


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def _judge(values, name="fixed:v1"):
    return PairwiseRewardModel(lambda p, a, b: values, name=name)


def test_the_wrapper_is_public_declares_the_protocol_and_is_a_reward_model():
    judge = rmx.PairwiseRewardModel(lambda p, a, b: [0.5] * len(a), name="half:v1")
    assert "PairwiseRewardModel" in rmx.__all__
    assert isinstance(judge, PairwiseJudge) and isinstance(judge, RewardModel)
    assert as_reward_model(judge) is judge
    assert judge.identity == "half:v1" and judge.why_unavailable() is None
    with pytest.raises(RewardModelError, match="half:v1 is a pairwise judge.*no reward"):
        judge.score(["p"], ["x"])


def test_a_scalar_rm_does_not_declare_the_pairwise_protocol():
    assert not isinstance(as_reward_model(lambda p, r: [0.0] * len(r)), PairwiseJudge)


def test_identity_from_the_code_when_unnamed_and_distinct_for_different_functions():
    def make(bias):
        return lambda p, a, b: [0.5 + bias] * len(a)

    one, two = PairwiseRewardModel(make(0.1)), PairwiseRewardModel(make(0.2))
    same = PairwiseRewardModel(make(0.1))
    assert one.identity.startswith("callable:") and one.identity != two.identity
    assert one.identity == same.identity


def test_a_function_over_an_unfingerprintable_value_needs_a_name():
    client = object()
    with pytest.raises(RewardModelError, match="name="):
        PairwiseRewardModel(lambda p, a, b: [client is None] * len(a))


def test_a_model_name_and_a_non_callable_are_refused_in_one_line():
    with pytest.raises(RewardModelError, match="no pairwise model class.*fn\\(prompts"):
        PairwiseRewardModel("llm-blender/PairRM")
    with pytest.raises(RewardModelError, match="not callable"):
        PairwiseRewardModel(3)  # type: ignore[arg-type]


def test_a_foreign_object_declaring_identity_and_prefer_is_wrapped():
    class Foreign:
        identity = "foreign-judge:v1"

        def prefer(self, prompts, responses_a, responses_b):
            return [0.75] * len(responses_a)

    rm = as_reward_model(Foreign())
    assert isinstance(rm, ProtocolPairwiseJudge) and isinstance(rm, PairwiseJudge)
    assert rm.identity == "foreign-judge:v1"
    assert checked_preferences(rm, ["p"], ["a"], ["b"]) == [0.75]


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([0.5, math.nan], "returned nan for item 1"),
        ([0.5, 1.5], "returned 1.5 for item 1.*in \\[0, 1\\]"),
        ([-0.1, 0.5], "returned -0.1 for item 0"),
        ([0.5, math.inf], "returned inf for item 1"),
        ([0.5], "returned 1 probabilities for 2 pairs"),
        ([0.5, 0.5, 0.5], "returned 3 probabilities for 2 pairs"),
        ([0.5, "0.7"], "non-numeric probability: item 1.*'0.7' \\(str\\)"),
        ([True, 0.5], "non-numeric probability: item 0.*True \\(bool\\)"),
        ([0.5, None], "non-numeric probability: item 1.*None"),
        (0.5, "returned float"),
        ({"a": 0.5, "b": 0.5}, "returned dict"),
        (np.array([[0.5, 0.5]]), "2-dimensional"),
    ],
)
def test_bad_answers_are_refused_naming_the_item(values, match):
    with pytest.raises(RewardModelError, match=match):
        checked_preferences(_judge(values), ["p", "q"], ["a1", "a2"], ["b1", "b2"])


def test_numpy_answers_and_the_bounds_are_accepted_as_floats():
    got = checked_preferences(_judge(np.array([0.0, 1.0])), ["p", "q"], ["a", "b"], ["c", "d"])
    assert got == [0.0, 1.0] and all(type(v) is float for v in got)


def test_debiasing_removes_a_constant_first_position_bias_exactly():
    # a judge adding c = 0.1 to whichever response it sees first: true P 0.7 is seen as
    # P(a≻b) = 0.8 and P(b≻a) = 0.3 + 0.1 = 0.4; (0.8 + 1 − 0.4) / 2 = 0.7
    assert debiased(0.8, 0.4) == pytest.approx(0.7, abs=1e-15)
    # an unbiased judge is left as it is: P(a≻b) = 0.7, P(b≻a) = 0.3
    assert debiased(0.7, 0.3) == pytest.approx(0.7, abs=1e-15)


def test_position_disagreement_by_hand():
    assert position_disagrees(0.6, 0.55)  # a first: a; b first: b
    assert position_disagrees(0.45, 0.4)  # a first: b; b first: a
    assert not position_disagrees(0.8, 0.3)  # both say a
    assert not position_disagrees(0.2, 0.9)  # both say b
    assert not position_disagrees(0.5, 0.7)  # an order naming no winner disagrees with none


def test_logit_is_clipped_and_antisymmetric():
    assert logit(0.5) == 0.0
    assert logit(_sigmoid(1.3)) == pytest.approx(1.3, abs=1e-12)
    top = math.log((1 - P_CLIP) / P_CLIP)
    assert logit(1.0) == pytest.approx(top) and logit(0.0) == pytest.approx(-top)
    assert math.isfinite(logit(1.0)) and top == pytest.approx(13.8155, abs=1e-4)


class Counting:
    """A judge that counts its calls and the pairs it was asked about."""

    identity = "counting-judge:v1"

    def __init__(self):
        self.calls, self.pairs = 0, []

    def prefer(self, prompts, responses_a, responses_b):
        self.calls += 1
        self.pairs += list(zip(responses_a, responses_b))
        # first-position bias 0.1 on a length preference
        return [min(1.0, 0.1 + _sigmoid(len(a) - len(b))) for a, b in zip(responses_a, responses_b)]


def test_both_orders_are_cached_apart_and_a_rerun_calls_the_judge_zero_times(tmp_path):
    path = tmp_path / "s.sqlite"
    judge = Counting()
    first = CachedPairwiseJudge(as_reward_model(judge), Store(path)).prefer(
        ["p", "p"], ["xx", "y"], ["x", "y"]
    )
    # 2 pairs x 2 orders, but (y, y) is one key in both orders: 3 distinct judgements
    assert judge.calls == 1 and sorted(judge.pairs) == [("x", "xx"), ("xx", "x"), ("y", "y")]
    assert (first.computed, first.cached) == (3, 1)
    p_ab, p_ba = 0.1 + _sigmoid(1), 0.1 + _sigmoid(-1)
    assert first.p_ab[0] == pytest.approx(p_ab) and first.p_ba[0] == pytest.approx(p_ba)
    assert first.p[0] == pytest.approx(_sigmoid(1), abs=1e-12)  # the 0.1 is gone
    assert first.p[1] == pytest.approx(0.5) and first.disagree == [False, True]

    again = Counting()
    second = CachedPairwiseJudge(as_reward_model(again), Store(path)).prefer(
        ["p", "p"], ["xx", "y"], ["x", "y"]
    )
    assert again.calls == 0 and (second.computed, second.cached) == (0, 4)
    assert second.p == first.p and second.disagree == first.disagree
    assert "pair_scores" in STORE_TABLES
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT judge, COUNT(*) FROM pair_scores GROUP BY judge").fetchall()
        assert rows == [("counting-judge:v1", 3)]
        assert db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def test_the_key_covers_judge_prompt_and_order():
    cache = CachedPairwiseJudge(_judge([0.5]), Store(None))
    other = CachedPairwiseJudge(_judge([0.5], name="fixed:v2"), Store(None))
    k = cache.key("p", "a", "b")
    assert (
        len({k, cache.key("p", "b", "a"), cache.key("q", "a", "b"), other.key("p", "a", "b")}) == 4
    )


def test_a_bad_answer_is_never_stored(tmp_path):
    path = tmp_path / "s.sqlite"
    with pytest.raises(RewardModelError, match="returned 2.0 for item 0"):
        CachedPairwiseJudge(_judge([2.0, 0.5]), Store(path)).prefer(["p"], ["a"], ["b"])
    s = Store(path)
    assert s.get_pair_scores([CachedPairwiseJudge(_judge([]), s).key("p", "a", "b")]) == {}
    assert s.open_claims() == 0
