"""The transparent RM is the ground-truth oracle: its explanations must recover its weights."""

import math

import pytest

import rmx_widgets as rmx
from rmx_widgets.core.reward_models.transparent import FEATURES
from rmx_widgets.errors import RewardModelError


def test_features_on_known_text():
    rm = rmx.TransparentRewardModel()
    f = rm.features(
        "What is 12 times 4?",
        "Great question! I think 12 * 4 = 46. Would you like me to go into more "
        "detail?\n- one\n- two",
    )
    assert f["arithmetic_errors"] == 1.0
    assert f["hedging"] > 0 and f["pleasantries"] >= 1 and f["follow_up"] == 1.0
    assert f["formatting"] == pytest.approx(2 / 5)
    assert rm.features("q", "I'm sorry, but I can't help with that.")["refusal"] == 1.0
    assert rm.features(
        "Explain photosynthesis in plants", "Photosynthesis turns light into sugar in plants."
    )["prompt_overlap"] == pytest.approx(2 / 3)


def test_score_is_the_documented_weighted_sum():
    rm = rmx.TransparentRewardModel({"length": 2.0, "refusal": -3.0}, only=True)
    resp = "I'm sorry, but I can't help with that."
    assert rm.score(["q"], [resp]) == [pytest.approx(2.0 * math.log1p(8) - 3.0)]
    assert set(rm.weights) == set(FEATURES)
    assert sum(rm.contributions("q", resp).values()) == pytest.approx(rm.score(["q"], [resp])[0])


def test_identity_changes_with_weights_and_bad_weights_fail():
    a, b = rmx.TransparentRewardModel(), rmx.TransparentRewardModel({"length": 9.0})
    assert a.identity != b.identity and a.identity == rmx.TransparentRewardModel().identity
    a.weights = {**a.weights, "length": 9.0}  # the identity follows the weights it scores with
    assert a.identity == b.identity
    assert rmx.TransparentRewardModel(name="mine").identity == "mine"
    with pytest.raises(RewardModelError, match="unknown feature"):
        rmx.TransparentRewardModel({"lenght": 1.0})
    with pytest.raises(RewardModelError, match="finite"):
        rmx.TransparentRewardModel({"length": float("nan")})


def test_ground_truth_dominant_feature_has_highest_pfr_zero_weight_has_zero():
    """Refusals dominate; pleasantries and hedges have weight 0; prompt overlap breaks ties."""
    rm = rmx.TransparentRewardModel({"refusal": -5.0, "prompt_overlap": 1.0}, only=True)
    ex = rmx.Explainer(
        rm,
        rmx.RulePerturber(),
        attributes=["avoid-to-answer", "manner", "assertiveness", "verbosity"],
        progress=False,
    )
    with pytest.warns(UserWarning):  # some sample pairs tie under this RM
        result = ex.explain(rmx.sample_comparisons())
    pooled = result.sensitivity(n_boot=200).query("direction == 'both'").set_index("attribute")
    assert pooled["pfr"].idxmax() == "avoid-to-answer"
    assert pooled.loc["avoid-to-answer", "pfr"] > 0.5  # SF when both sides end up refusing
    assert pooled.loc["avoid-to-answer", "n"] >= 20
    for zero in ("manner", "assertiveness"):
        assert pooled.loc[zero, "n"] >= 10, zero
        assert pooled.loc[zero, "pfr"] == 0.0, zero
