"""The study's shared store vs one independent run per RM, side by side.

``rmx.evaluate`` explains every (RM, perturber) through one store, so a rewrite that two RMs
both need (they prefer the same response, so they ask for the same "worse" and "better"
rewrites) is generated once. The naive way runs the study once per RM, each with its own
cache. Both ways run here on the same comparisons and perturbers; the perturber is the rule
perturber wrapped with a fixed simulated latency per rewrite (an LLM call's cost, without a
server), and counts what it is asked. Checks: each RM's quality figures are identical both
ways.

Run: python bench/study.py [--quick] [--latency-ms 5]. Prints figures; asserts correctness.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_name  # noqa: E402

import rmx_widgets as rmx  # noqa: E402
from rmx_widgets.core.perturbers.base import (  # noqa: E402
    PerturbationRequest,
    PerturbationResult,
)

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


class SlowRules:
    """The rule perturber with ``latency`` seconds per request, counting requests."""

    def __init__(self, latency: float) -> None:
        self.rules = rmx.RulePerturber()
        self.identity = f"{self.rules.identity}+bench"
        self.supported_attributes = self.rules.supported_attributes
        self.latency = latency
        self.requests = 0

    def perturb_batch(self, requests: Sequence[PerturbationRequest]) -> list[PerturbationResult]:
        self.requests += len(requests)
        time.sleep(self.latency * len(requests))
        return self.rules.perturb_batch(requests)


def rms() -> dict:
    return {
        "planted": rmx.TransparentRewardModel(PLANTED, only=True),
        "reversed": rmx.TransparentRewardModel(REVERSED, only=True),
        "demo": rmx.TransparentRewardModel(),
    }


def run(comparisons: list, latency: float, shared: bool) -> tuple[pd.DataFrame, int, float]:
    models = rms()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if shared:
            pert = SlowRules(latency)
            study = rmx.evaluate(comparisons, models, {"rules": pert}, progress=False, n_boot=0)
            quality, asked = study.quality, pert.requests
        else:
            frames, asked = [], 0
            for name, rm in models.items():
                pert = SlowRules(latency)  # its own run, its own cache
                study = rmx.evaluate(
                    comparisons, {name: rm}, {"rules": pert}, progress=False, n_boot=0
                )
                frames.append(study.quality)
                asked += pert.requests
            quality = pd.concat(frames, ignore_index=True)
    return quality, asked, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="half the sample comparisons")
    parser.add_argument(
        "--latency-ms", type=float, default=5.0, help="simulated cost of one rewrite (default 5 ms)"
    )
    args = parser.parse_args()
    comparisons = rmx.sample_comparisons()
    if args.quick:
        comparisons = comparisons[: len(comparisons) // 2]
    latency = args.latency_ms / 1000
    print(
        f"machine: {cpu_name()}; {len(comparisons)} comparisons, 3 transparent RMs, the rule "
        f"perturber at {args.latency_ms:g} ms per rewrite, 5 seeds × 30"
    )
    ours, asked_ours, t_ours = run(comparisons, latency, shared=True)
    naive, asked_naive, t_naive = run(comparisons, latency, shared=False)
    key = ["rm", "seed", "side", "kind"]
    a = ours.sort_values(key).reset_index(drop=True)
    b = naive.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    print(f"one study, shared store : {asked_ours:5d} rewrites asked, {t_ours:6.2f} s")
    print(f"one run per RM          : {asked_naive:5d} rewrites asked, {t_naive:6.2f} s")
    print(
        f"ratio (per-RM / shared) : {asked_naive / asked_ours:.2f}× rewrites, "
        f"{t_naive / t_ours:.2f}× time; quality figures identical"
    )


if __name__ == "__main__":
    main()
