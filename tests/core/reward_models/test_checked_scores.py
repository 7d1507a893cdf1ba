"""``checked_scores``: what an RM may return. Real numbers only (ints, floats, numpy and torch
reals, as a list, tuple, 1-D array or tensor); bools, numeric strings, dicts (whose iteration
gave their keys) and other shapes used to be coerced silently and are refused, naming the item
and what came back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rmx_widgets.core.reward_models.base import as_reward_model, checked_scores
from rmx_widgets.errors import RewardModelError

RESPONSES = ["one", "two", "three"]


def _check(out):
    return checked_scores(as_reward_model(lambda p, r: out), ["p"] * 3, RESPONSES)


@pytest.mark.parametrize(
    "out",
    [
        [1, 2.5, -3],
        (1.0, 2.0, 3.0),
        np.array([1.0, 2.0, 3.0], dtype=np.float32),
        np.array([1, 2, 3], dtype=np.int64),
        [np.float32(1.0), np.int64(2), np.float64(3.0)],
        torch.tensor([1.0, 2.0, 3.0]),
        torch.tensor([1.0, 2.0, 3.0], dtype=torch.bfloat16),
        [torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3)],
        [np.array(1.0), 2.0, 3.0],
    ],
)
def test_real_numbers_are_accepted_as_floats(out):
    got = _check(out)
    assert [type(v) for v in got] == [float] * 3
    assert got[1] in (2.0, 2.5)


@pytest.mark.parametrize(
    ("out", "match"),
    [
        ([1.0, True, 2.0], r"item 1 of the batch is True \(bool\)"),
        (np.array([True, False, True]), r"item 0 of the batch is True \(bool\)"),
        ([np.bool_(True), 1.0, 2.0], r"item 0 of the batch is np\.True_ \(bool\)|\(bool_\)"),
        (torch.tensor([True, False, True]), r"item 0 of the batch is True \(bool\)"),
        ([1.0, 2.0, "1.5"], r"item 2 of the batch is '1\.5' \(str\)"),
        ([1.0, None, 2.0], r"item 1 of the batch is None \(NoneType\)"),
        ([1.0, 2.0, 1 + 2j], r"item 2 of the batch is \(1\+2j\) \(complex\)"),
        ([1.0, [2.0], 3.0], r"item 1 of the batch is \[2\.0\] \(list\)"),
        ([1.0, 2.0, "x" * 500], r"item 2 of the batch is 'x{78}… \(str\)"),
        ({0: 1.0, 1: 2.0, 2: 3.0}, r"returned dict \(\{0: 1\.0.*not a list of scores"),
        ({1.0, 2.0, 3.0}, r"returned set .*not a list of scores"),
        (np.float32(1.0), r"returned float32 .*not a list of scores"),
        (np.zeros((3, 1)), r"returned a 2-dimensional ndarray of shape \(3, 1\).*squeeze"),
        (torch.zeros(3, 1), r"returned a 2-dimensional Tensor of shape \(3, 1\)"),
    ],
)
def test_anything_else_is_refused_naming_the_item(out, match):
    with pytest.raises(RewardModelError, match=match) as info:
        _check(out)
    assert len(str(info.value)) < 400  # what came back is shown bounded
