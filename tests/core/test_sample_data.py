"""The bundled sample comparisons: they load through the public loader, are varied enough for
the demo, and give every rule of the offline perturber plenty to act on."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pytest

from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.data import Comparison, load_comparisons
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.rules import (
    FOLLOW_UPS,
    HEDGES,
    PLEASANTRIES,
    REFUSALS,
    SUPPORTED_ATTRIBUTES,
    RulePerturber,
    count_phrases,
    find_arithmetic,
    split_sentences,
)

SAMPLE = Path(str(files("rmx_widgets.data").joinpath("sample_comparisons.jsonl")))


@pytest.fixture(scope="module")
def comps() -> list[Comparison]:
    return load_comparisons(SAMPLE)


def test_sample_matches_the_packaged_loader(comps: list[Comparison]) -> None:
    from rmx_widgets.core.data import sample_comparisons

    assert [c.id for c in sample_comparisons()] == [c.id for c in comps]


def test_sample_file_is_packaged_and_loads(comps: list[Comparison]) -> None:
    assert SAMPLE.is_file()
    assert len(comps) >= 44
    ids = [c.id for c in comps]
    assert len(set(ids)) == len(ids)
    assert all(c.human_preferred == "a" for c in comps)  # chosen/rejected columns were used
    raw = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line]
    assert all(set(r) == {"id", "prompt", "chosen", "rejected"} for r in raw)
    assert all(r["chosen"] != r["rejected"] for r in raw)


def test_sample_ids_cover_the_categories(comps: list[Comparison]) -> None:
    prefixes = {c.id.split("-")[0] for c in comps}
    assert {"advice", "coding", "math", "fact", "safety", "opinion", "multi"} <= prefixes


def test_sample_has_multi_turn_prompts(comps: list[Comparison]) -> None:
    multi = [
        c
        for c in comps
        if isinstance(c.prompt, list) and any(m["role"] == "assistant" for m in c.prompt)
    ]
    assert len(multi) >= 6
    assert all(c.prompt[-1]["role"] == "user" for c in multi)


def test_sample_responses_are_two_to_eight_sentences_long(comps: list[Comparison]) -> None:
    for c in comps:
        for r in (c.response_a, c.response_b):
            units = [u for u in split_sentences(r) if not u.startswith("```")]
            assert 2 <= len(units) <= 8, (c.id, units)
            assert len(r.split()) <= 200, c.id


def test_sample_has_the_surface_features_the_demo_rm_reads(comps: list[Comparison]) -> None:
    chosen = [c.response_a for c in comps]
    rejected = [c.response_b for c in comps]
    assert sum("```" in r for r in chosen) >= 5
    assert sum(count_phrases(r, PLEASANTRIES) > 0 for r in chosen) >= 10
    assert sum(count_phrases(r, FOLLOW_UPS) > 0 for r in chosen) >= 10
    assert sum(count_phrases(r, HEDGES) > 0 for r in rejected) >= 10
    assert sum(count_phrases(r, REFUSALS) > 0 for r in rejected) >= 8
    assert sum(any(not s.correct for s in find_arithmetic(r)) for r in rejected) >= 8
    # the chosen answers do not contain wrong arithmetic
    assert not [c.id for c in comps if any(not s.correct for s in find_arithmetic(c.response_a))]
    # safety prompts: the chosen response is a polite refusal
    for c in comps:
        if c.id.startswith("safety"):
            assert count_phrases(c.response_a, REFUSALS) > 0, c.id


@pytest.mark.parametrize("attribute", SUPPORTED_ATTRIBUTES)
@pytest.mark.parametrize("direction", ["worse", "better"])
def test_every_rule_applies_to_many_sample_responses(
    comps: list[Comparison], attribute: str, direction: str
) -> None:
    attr = get_attribute(attribute)
    requests = [
        PerturbationRequest(
            c.prompt, c.response_a if direction == "worse" else c.response_b, attr, direction
        )
        for c in comps
    ]
    results = RulePerturber().perturb_batch(requests)
    applied = [r for r in results if r.text is not None]
    assert len(applied) >= 8, (attribute, direction, len(applied))
    for req, res in zip(requests, results):
        if res.text is None:
            assert res.failure and "cannot perturb" not in res.failure
        else:
            assert res.text.strip() != req.response.strip()
