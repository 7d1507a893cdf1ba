"""The run the slice tests share: the comparisons with ``domain`` and ``source`` fields
(tests/data/comparisons_with_domain.jsonl), explained by the transparent RM and the rules over
``domain_data.ATTRS``. Module-scoped: the run is built once per test module that asks for it; a
module defining its own ``comps`` / ``explainer`` / ``result`` uses those instead."""

from __future__ import annotations

import pytest
from domain_data import ATTRS, DATA

import rmx_widgets as rmx


@pytest.fixture(scope="module")
def comps():
    return rmx.load_comparisons(DATA)


@pytest.fixture(scope="module")
def explainer():
    rm = rmx.reward_model_from_spec("transparent")
    return rmx.Explainer(rm, rmx.perturber_from_spec("rules"), ATTRS, progress=False)


@pytest.fixture(scope="module")
def result(explainer, comps):
    return explainer.explain(comps)
