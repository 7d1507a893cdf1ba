"""The ``pairwise:`` RM specs: an importable judge function, the Bradley–Terry judge of a scalar
RM spec, and one clear line for each mistake."""

import math

import pytest

import rmx_widgets as rmx
from rmx_widgets.core.reward_models.base import PairwiseJudge
from rmx_widgets.core.reward_models.pairwise import BradleyTerryJudge, PairwiseRewardModel
from rmx_widgets.errors import RewardModelError

JUDGE_MODULE = """
def prefer(prompts, responses_a, responses_b):
    return [0.9 if len(a) > len(b) else 0.1 for a, b in zip(responses_a, responses_b)]

NOT_A_FUNCTION = 3
"""


@pytest.fixture
def judge_module(tmp_path, monkeypatch):
    (tmp_path / "planted_pair_judges.py").write_text(JUDGE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "planted_pair_judges"


def test_an_importable_function_is_a_pairwise_judge(judge_module):
    judge = rmx.reward_model_from_spec(f"pairwise:{judge_module}:prefer")
    assert isinstance(judge, PairwiseRewardModel) and isinstance(judge, PairwiseJudge)
    assert judge.identity.startswith("callable:planted_pair_judges.prefer:")
    assert judge.prefer(["p"], ["long"], ["s"]) == [0.9]
    named = rmx.reward_model_from_spec(f"mine=pairwise:{judge_module}:prefer")
    assert named.identity == "mine"


def test_bt_of_a_scalar_spec_by_hand():
    judge = rmx.reward_model_from_spec("pairwise:bt:transparent:length=1")
    assert isinstance(judge, BradleyTerryJudge)
    rm = rmx.reward_model_from_spec("transparent:length=1")
    assert judge.identity == f"bt({rm.identity})"
    a, b = "one two three four", "one"
    ra, rb = rm.score(["p", "p"], [a, b])
    assert judge.prefer(["p"], [a], [b]) == [pytest.approx(1 / (1 + math.exp(-(ra - rb))))]
    with pytest.raises(RewardModelError, match="is a pairwise judge.*no reward"):
        judge.score(["p"], [a])


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("pairwise", "use pairwise:MODULE:FUNCTION"),
        ("pairwise:bt", "use pairwise:MODULE:FUNCTION"),
        ("pairwise:onlymodule", "use pairwise:MODULE:FUNCTION"),
        ("pairwise:no_such_module_xyz:fn", "cannot import 'no_such_module_xyz'"),
        ("pairwise:{m}:missing", "planted_pair_judges has no 'missing'"),
        ("pairwise:{m}:NOT_A_FUNCTION", "NOT_A_FUNCTION is not callable"),
    ],
)
def test_bad_pairwise_specs_get_one_line(judge_module, spec, match):
    with pytest.raises(RewardModelError, match=match) as e:
        rmx.reward_model_from_spec(spec.format(m=judge_module))
    assert "\n" not in str(e.value)


def test_bt_of_a_pairwise_judge_is_refused(judge_module):
    judge = rmx.reward_model_from_spec(f"pairwise:{judge_module}:prefer")
    with pytest.raises(RewardModelError, match="already a pairwise judge"):
        BradleyTerryJudge(judge)
