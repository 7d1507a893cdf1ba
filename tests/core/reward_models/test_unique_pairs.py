"""``unique_pairs``: the one de-duplication step every local scorer (HF, DPO, vLLM) runs."""

from __future__ import annotations

import pytest

from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.hf.encoding import unique_pairs

CHAT = [{"role": "user", "content": "hi"}]


def test_first_seen_order_and_the_index_of_every_input():
    prompts = ["p", "p", "q", "p", CHAT, [dict(m) for m in CHAT]]
    responses = ["a", "b", "a", "a", "a", "a"]
    u_prompts, u_responses, inverse = unique_pairs(prompts, responses)
    assert u_prompts == ["p", "p", "q", CHAT]  # the two chats render alike: one pair
    assert u_responses == ["a", "b", "a", "a"]
    assert inverse == [0, 1, 2, 0, 3, 3]


def test_empty_batch_and_mismatched_lengths():
    assert unique_pairs([], []) == ([], [], [])
    with pytest.raises(RewardModelError, match="2 prompts but 1 responses"):
        unique_pairs(["p", "q"], ["a"])
