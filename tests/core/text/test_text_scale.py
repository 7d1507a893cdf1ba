"""One long response cannot stall a job: a 300 KB prose response and 50 KB tokens without
spaces (base64, a run of dots, a run of backticks) are parsed, scored by the transparent RM and
rewritten by the rule perturber in bounded time (these took seconds to minutes, or never
finished, while the parser was quadratic)."""

from __future__ import annotations

import base64
import random
import time

import pytest

from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.rules import RulePerturber
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel
from rmx_widgets.core.text.markdown import parse

BOUND_S = 10.0  # generous: well under 1 s each on an idle core
ATTRIBUTES = ("assertiveness", "correctness", "manner", "engagement")


def prose(n: int) -> str:
    rng = random.Random(3)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(2000)
    ] + ["e.g.", "Mr.", "`x`", '"quoted.', 'text."', "2 + 2 = 5", "perhaps", "I think"]
    out: list[str] = []
    size = 0
    while size < n:
        s = " ".join(rng.choice(words) for _ in range(rng.randint(4, 30)))
        s = s[0].upper() + s[1:] + rng.choice([".", ".", "!", "?", "...", ". b"])
        s += rng.choice([" ", " ", " ", "\n", "\n\n", "\n- ", "\n1. "])
        out.append(s)
        size += len(s)
    return "".join(out)[:n]


TEXTS = {
    "prose-300KB": prose(300_000),
    "one-paragraph-lowercase-300KB": prose(300_000).lower().replace("\n", " "),
    "base64-50KB": base64.b64encode(random.Random(1).randbytes(37_500)).decode(),
    "dots-50KB": "." * 50_000,
    "backticks-50KB": "`" * 50_000,
    "newlines-50KB": "a\n" + "\n" * 50_000 + "- b",
}


@pytest.mark.parametrize("name", list(TEXTS))
def test_long_response_is_parsed_scored_and_perturbed_in_bounded_time(name: str) -> None:
    text = TEXTS[name]
    t0 = time.perf_counter()
    doc = parse(text)
    t1 = time.perf_counter()
    (score,) = TransparentRewardModel().score(["Tell me about the text."], [text])
    t2 = time.perf_counter()
    requests = [
        PerturbationRequest("Tell me about the text.", text, get_attribute(a), d)
        for a in ATTRIBUTES
        for d in ("worse", "better")
    ]
    results = RulePerturber().perturb_batch(requests)
    t3 = time.perf_counter()
    print(
        f"{name}: parse {t1 - t0:.2f} s ({len(doc.units)} units), score {t2 - t1:.2f} s, "
        f"{len(requests)} rule rewrites {t3 - t2:.2f} s"
    )
    assert doc.render() == text.rstrip() or doc.render() == text
    assert score == score  # a number, not NaN
    assert len(results) == len(requests)
    assert t3 - t0 < BOUND_S, f"{name} took {t3 - t0:.1f} s"
