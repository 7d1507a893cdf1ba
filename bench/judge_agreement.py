"""Agreement of the offline rewrite judge (``FeatureJudge``) with planted truth.

The planted set (``core.validity.planted``) is built from the bundled sample comparisons for
the nine attributes the rule perturber supports (worse on the chosen response, better on the
rejected one): the rule perturber's rewrite (truth: valid), the rule perturber's rewrite for
the opposite direction presented as the asked one, the original with one word replaced, and a
``RandomWordPerturber`` edit (15 % of the words, seed 0) (truth: invalid).

Printed per attribute, per kind and overall: n, n undecided (verdict None, never counted right
or wrong), n judged, agreement = matches / judged with its 95 % Wilson interval ("not
measured" when nothing was judged), false-valid (judged valid, truly invalid) and
false-invalid counts. Deterministic; a few seconds on one core.

Run: python bench/judge_agreement.py [--out bench/results/judge_agreement.txt]
      [--min-length-change 0.05] [--min-count-change 1] [--max-length-factor 1.5]
      [--min-kept 0.85]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from rmx_widgets.core.data import sample_comparisons
from rmx_widgets.core.intervals import wilson_interval
from rmx_widgets.core.validity.features import FeatureJudge
from rmx_widgets.core.validity.planted import agreement, planted_rewrites


def _table(title: str, rows: list[dict]) -> list[str]:
    out = [
        f"## {title}",
        f"{'group':<16}{'n':>6}{'undecided':>11}{'judged':>8}  {'agreement (95% Wilson)':<26}"
        f"{'false-valid':>12}{'false-invalid':>15}",
    ]
    for r in rows:
        if r["judged"]:
            matches = round(r["agreement"] * r["judged"])
            lo, hi = wilson_interval(np.array([matches]), np.array([r["judged"]]), 0.95)
            agree = f"{r['agreement']:.3f} ({lo[0]:.3f}-{hi[0]:.3f})"
        else:
            agree = "not measured"
        out.append(
            f"{r['group']:<16}{r['n']:>6}{r['undecided']:>11}{r['judged']:>8}  {agree:<26}"
            f"{r['false_valid']:>12}{r['false_invalid']:>15}"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--min-length-change", type=float, default=0.05)
    parser.add_argument("--min-count-change", type=int, default=1)
    parser.add_argument("--max-length-factor", type=float, default=1.5)
    parser.add_argument("--min-kept", type=float, default=0.85)
    args = parser.parse_args()
    judge = FeatureJudge(
        min_length_change=args.min_length_change,
        min_count_change=args.min_count_change,
        max_length_factor=args.max_length_factor,
        min_kept=args.min_kept,
    )
    comps = sample_comparisons()
    t0 = time.perf_counter()
    planted = planted_rewrites(comps)
    t1 = time.perf_counter()
    verdicts = judge.judge_batch([p.request for p in planted])
    t2 = time.perf_counter()
    lines = [
        f"# rewrite-judge agreement with planted truth ({time.strftime('%Y-%m-%d %H:%M')})",
        f"judge: {judge.identity}",
        f"planted: {len(planted)} rewrites from {len(comps)} bundled comparisons "
        f"(built in {t1 - t0:.1f} s; judged in {t2 - t1:.1f} s, "
        f"{1000 * (t2 - t1) / max(1, len(planted)):.2f} ms per rewrite)",
        *_table("per attribute", agreement(planted, verdicts, by="attribute")),
        *_table(
            "per kind (truth: rule valid; opposite, one-word, random invalid)",
            [r for r in agreement(planted, verdicts, by="kind") if r["group"] != "all"],
        ),
    ]
    overall = agreement(planted, verdicts)[-1]
    agree = overall["agreement"]
    lines.append(
        f"overall: agreement {'not measured' if math.isnan(agree) else f'{agree:.3f}'} on "
        f"{overall['judged']} judged of {overall['n']} ({overall['undecided']} undecided)"
    )
    text = "\n".join(lines)
    print(text, flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
