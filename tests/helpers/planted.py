"""The planted ground truth shared by the study's tests: transparent RMs whose weights we set.

Each rule attribute below moves one transparent feature: pleasantries (manner), follow-up
invitations (engagement), hedges (assertiveness), off-topic sentences (relevance). PLANTED
weights them a factor of three apart in that order, REVERSED flips the order, and a little
length weight gives every comparison a margin to overcome. On the sample data with the rule
perturber the study must recover the planted order (tests/core/study/test_evaluate.py).
"""

from __future__ import annotations

from rmx_widgets.core.reward_models.transparent import TransparentRewardModel

PLANTED_ORDER = ["manner", "engagement", "assertiveness", "relevance"]
PLANTED_WEIGHTS = [13.5, 4.5, 1.5, 0.5]  # |weight| of each attribute's feature, in that order
PLANTED = {
    "pleasantries": 13.5,
    "follow_up": 4.5,
    "hedging": -1.5,
    "off_topic": -0.5,
    "length": 0.4,
}
REVERSED = {
    "pleasantries": 0.5,
    "follow_up": 1.5,
    "hedging": -4.5,
    "off_topic": -13.5,
    "length": 0.4,
}


def planted_rms(copy_name: str = "copy") -> dict[str, TransparentRewardModel]:
    """planted, a same-weights copy (τ with planted must be 1) and reversed (τ negative)."""
    return {
        "planted": TransparentRewardModel(PLANTED, only=True),
        copy_name: TransparentRewardModel(PLANTED, only=True, name="planted-copy"),
        "reversed": TransparentRewardModel(REVERSED, only=True),
    }
