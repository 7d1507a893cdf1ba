"""Calibration of the null test (core.null_test): its family-wise false-positive rate when no
attribute matters, and how often it finds an attribute that does.

Two parts:

1. **Simulated tables** (fast, many seeds). Each run draws C comparisons × A attributes × two
   directions. Every (comparison, direction) has a fragility p ~ Beta(2, 3), the probability
   that *any* edit flips it, shared by all attributes (a fragile comparison flips under every
   rewrite, which is exactly what the null test must not mistake for an effect). A slot's
   rewrite succeeds with the attribute's success rate (0.9 worse, 0.3 better, as on the sample
   data with the rule perturber); the null rewrite succeeds with probability 0.95. Target and
   null outcomes are independent Bernoulli(p) draws under H0. Under H1 one attribute's "worse"
   rewrites flip with p + effect (capped at 1). Reported: the FWER (runs with any significant
   row among the attributes without an effect, after Holm at α = 0.05) with its Wilson
   interval, the detection rate of the planted row, and the coverage of 0 by the excess
   intervals of H0 rows.
2. **The real Explainer** (slow, a few seeds) on the 52 bundled comparisons with the rule
   perturber against ``RandomWordPerturber(seed)``: the planted ``AnyChangeRM`` (no attribute
   matters; FWER) and ``RefusalPenaltyRM`` (avoid-to-answer matters; detection of its worse
   row, false positives elsewhere), from tests/helpers/planted.py.

Run: python bench/null_calibration.py [--quick] [--sims 1000] [--runs 10] [--out FILE]
(defaults: ~15 min on two shared cores; --quick: ~3 min).
Results: bench/results/null_calibration_cpu.txt.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "helpers"))

from machine import cpu_name  # noqa: E402
from planted import AnyChangeRM, RefusalPenaltyRM  # noqa: E402

from rmx_widgets.core.data import sample_comparisons  # noqa: E402
from rmx_widgets.core.explain import Explainer  # noqa: E402
from rmx_widgets.core.null_test import DEFAULT_ALPHA  # noqa: E402
from rmx_widgets.core.perturbers.random_words import RandomWordPerturber  # noqa: E402
from rmx_widgets.core.perturbers.rules import RulePerturber  # noqa: E402
from rmx_widgets.core.sensitivity import sensitivity, wilson_interval  # noqa: E402

SUCCESS = {"worse": 0.9, "better": 0.3}
NULL_SUCCESS = 0.95


def simulate(
    rng: np.random.Generator, n_comp: int, n_attr: int, effect: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A target and a null table; attribute "a0"'s worse rewrites get ``effect`` (0: H0)."""
    cids = np.repeat(np.arange(n_comp), n_attr * 2)
    attrs = np.tile(np.repeat(np.arange(n_attr), 2), n_comp)
    dirs = np.tile(np.array(["worse", "better"]), n_comp * n_attr)
    fragility = rng.beta(2, 3, size=(n_comp, 2))
    p = fragility[cids, (dirs == "better").astype(int)]
    p_target = np.where((attrs == 0) & (dirs == "worse"), np.minimum(1.0, p + effect), p)
    ok_rate = np.where(dirs == "worse", SUCCESS["worse"], SUCCESS["better"])
    n = len(cids)

    def frame(flip_p: np.ndarray, success: np.ndarray) -> pd.DataFrame:
        flips = rng.random(n) < flip_p
        ok = rng.random(n) < success
        outcome = np.where(ok, np.where(flips, "CF", "SF"), "failed")
        return pd.DataFrame(
            {
                "comparison_id": [f"c{c}" for c in cids],
                "attribute": [f"a{a}" for a in attrs],
                "direction": dirs,
                "outcome": outcome,
                "margin_before": 1.0,
                "margin_after": np.where(outcome == "CF", -1.0, 1.0),
                "rm": "sim",
            }
        )

    return frame(p_target, ok_rate), frame(p, np.full(n, NULL_SUCCESS))


def rate(k: int, n: int) -> str:
    low, high = wilson_interval(np.array([k]), np.array([n]), 0.95)
    return f"{k}/{n} = {k / n:.3f} (95% Wilson {low[0]:.3f}-{high[0]:.3f})"


def simulated_part(sims: int, n_comp: int, n_attr: int, effects: list[float], n_boot: int) -> list:
    lines = [
        f"## simulated tables: {sims} runs per setting, {n_comp} comparisons x {n_attr} "
        f"attributes x 2 directions, Holm over all {n_attr * 3} rows, alpha {DEFAULT_ALPHA}"
    ]
    rng = np.random.default_rng(12345)
    fw_h0 = covered = h0_rows = 0
    for i in range(sims):
        table, null = simulate(rng, n_comp, n_attr, 0.0)
        sens = sensitivity(table, null=null, n_boot=n_boot if i < sims // 4 else 0, seed=i)
        fw_h0 += bool(sens["significant"].fillna(False).any())
        if i < sims // 4:
            has = sens["excess_ci_low"].notna()
            h0_rows += int(has.sum())
            inside = (sens["excess_ci_low"] <= 0) & (sens["excess_ci_high"] >= 0)
            covered += int((inside & has).sum())
    lines.append(f"H0 (no attribute matters): family-wise false positives {rate(fw_h0, sims)}")
    lines.append(
        f"H0 excess interval ({n_boot} bootstrap resamples + Newcombe floor) covers 0 in "
        f"{rate(covered, h0_rows)} rows (first {sims // 4} runs)"
    )
    for effect in effects:
        fw_h1 = hit = hit_any = 0
        for _ in range(sims):
            table, null = simulate(rng, n_comp, n_attr, effect)
            sens = sensitivity(table, null=null, n_boot=0).set_index(["attribute", "direction"])
            sig = sens["significant"].fillna(False)
            hit += bool(sig[("a0", "worse")])
            hit_any += bool(sig.xs("a0", level="attribute").any())
            fw_h1 += bool(sig.drop(index="a0", level="attribute").any())
        lines.append(
            f"H1 (a0 worse flips with p + {effect}): detection of a0/worse {rate(hit, sims)}; "
            f"any a0 row {rate(hit_any, sims)}; false positives among the other attributes "
            f"{rate(fw_h1, sims)}"
        )
    return lines


def explainer_part(runs: int) -> list:
    comps = sample_comparisons()
    attrs = list(RulePerturber.supported_attributes)
    lines = [
        f"## real Explainer: {runs} seeds, {len(comps)} bundled comparisons, {len(attrs)} rule "
        f"attributes, RulePerturber vs RandomWordPerturber(seed), Holm over {len(attrs) * 3} rows"
    ]

    def run(rm, seed: int) -> pd.DataFrame:
        tables = [
            Explainer(rm, p, attrs, store=None, progress=False).explain(comps).table
            for p in (RulePerturber(), RandomWordPerturber(seed=seed))
        ]
        return sensitivity(tables[0], null=tables[1], n_boot=200, seed=seed)

    fw = hit = fw_planted = 0
    for seed in range(runs):
        sig = run(AnyChangeRM(comps, salt=seed), seed)["significant"].fillna(False)
        fw += bool(sig.any())
        sens = run(RefusalPenaltyRM(comps, salt=seed), seed)
        sig = sens.set_index(["attribute", "direction"])["significant"].fillna(False)
        hit += bool(sig[("avoid-to-answer", "worse")])
        fw_planted += bool(sig.drop(index="avoid-to-answer", level="attribute").any())
    lines.append(
        f"AnyChangeRM (no attribute matters): family-wise false positives {rate(fw, runs)}"
    )
    lines.append(
        f"RefusalPenaltyRM: detection of avoid-to-answer/worse {rate(hit, runs)}; false "
        f"positives among the other attributes {rate(fw_planted, runs)}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 simulations, 3 seeds")
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10, help="real Explainer seeds")
    parser.add_argument("--comparisons", type=int, default=52)
    parser.add_argument("--attributes", type=int, default=9)
    parser.add_argument("--effect", type=float, nargs="+", default=[0.2, 0.3, 0.5])
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.sims, args.runs = 200, 3
    warnings.simplefilter("ignore", UserWarning)
    start = time.time()
    lines = [f"# null-test calibration ({cpu_name()})"]
    lines += simulated_part(args.sims, args.comparisons, args.attributes, args.effect, args.n_boot)
    print("\n".join(lines), flush=True)
    more = explainer_part(args.runs)
    print("\n".join(more), flush=True)
    lines += more
    lines.append(f"wall time {time.time() - start:.0f} s")
    print(lines[-1])
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
