"""The Ray engine (issue 16): the same job on 1 and 2 CPU actors, and in-process for reference.

One job, a tiny random Llama RM (``HFRewardModel``, built offline and loaded by every actor
from its spec) with the offline rule perturber, run on a local Ray cluster started here
(loopback) with ``RayEngine(workers=1)`` and ``RayEngine(workers=2)``, and on the in-process
engine. Each run gets a fresh in-memory store, so every rewrite and score is computed; only
``explain`` is timed (the actors are started and have loaded the model before the clock
starts: their start-up is printed apart). Rounds are interleaved, the order rotating each
round, so a change of load on a shared machine hits every method alike; each round checks the
three tables equal (texts and CF / SF labels exactly, rewards within 1e-4: float32 noise
of another batch composition). Quoted:
medians with [min-max]; the ratio is median(1 worker) / median(2 workers), > 1 when two
workers are faster. On a machine with fewer free cores than workers the ratio says so: two
actors cannot run faster than the cores they share.

Run: python bench/ray.py [--quick] [--rounds 5] [--out bench/results/ray_cpu.txt]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# this file is ray.py: with its folder first on sys.path, ``import ray`` would import itself
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
import ray  # noqa: E402

sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "helpers"))  # the tiny offline model builders

from machine import cpu_name  # noqa: E402
from tiny_models import build_decoder_rm  # noqa: E402

import rmx_widgets as rmx  # noqa: E402
from rmx_widgets.core.perturbers.rules import RulePerturber  # noqa: E402
from rmx_widgets.core.specs import reward_model_from_spec  # noqa: E402

ATTRIBUTES = ["verbosity", "assertiveness", "manner", "clarity"]


def comparisons(n: int) -> list[dict[str, str]]:
    return [
        {
            "id": f"c{i:04d}",
            "prompt": f"How should I approach problem number {i}? Please explain the steps.",
            "response_a": f"Sure! Here is step {i}. I think it might work, perhaps, if you "
            f"first check the inputs and then try again carefully with {i * 3} items.",
            "response_b": f"- do {i}\n- then check {i * 7}\nThe answer is {i * 3}. It is "
            "definitely right, and you should absolutely trust it.",
        }
        for i in range(n)
    ]


def spread(ts: list[float]) -> str:
    return f"{statistics.median(ts):6.2f} s [{min(ts):.2f}-{max(ts):.2f}]"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smaller job, 3 rounds")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5)")
    ap.add_argument("--comparisons", type=int, default=None, help="default 64 (24 --quick)")
    ap.add_argument("--batch-size", type=int, default=8, help="the Explainer's batch_size")
    ap.add_argument("--hidden", type=int, default=256, help="the tiny RM's hidden size")
    ap.add_argument("--layers", type=int, default=4, help="the tiny RM's layers")
    ap.add_argument("--out", default=None, help="also write the report to this file")
    args = ap.parse_args(argv)
    import torch

    from rmx_widgets.core.engines.ray_engine import RayEngine

    warnings.simplefilter("ignore", UserWarning)
    torch.set_num_threads(1)  # as each num_cpus=1 actor runs (Ray sets OMP_NUM_THREADS=1)
    rounds = args.rounds or (3 if args.quick else 5)
    n = args.comparisons or (24 if args.quick else 64)
    comps = comparisons(n)
    lines = [
        f"bench/ray.py  {time.strftime('%Y-%m-%d %H:%M')}  {cpu_name()}, "
        f"{os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.2f}",
        f"Job: {n} comparisons x {len(ATTRIBUTES)} attributes x 2 sides = "
        f"{n * len(ATTRIBUTES) * 2} rewrites (rule perturber) + {2 * n} originals, each "
        f"scored by a random Llama RM ({args.layers} layers, hidden {args.hidden}, fp32, "
        f"1 torch thread per process); batch_size {args.batch_size}; Ray {version('ray')}, "
        "local cluster, num_cpus=2, loopback.",
        f"Medians of {rounds} interleaved rounds with [min-max]; only explain() is timed.",
        "",
    ]
    print("\n".join(lines), flush=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    times: dict[str, list[float]] = {"in-process": [], "ray, 1 worker": [], "ray, 2 workers": []}
    startup: dict[str, list[float]] = {k: [] for k in times}
    worst = 0.0  # the largest |margin_after| difference from the in-process table
    try:
        with tempfile.TemporaryDirectory() as tmp:
            spec = (
                f"hf:{build_decoder_rm(Path(tmp) / 'rm', layers=args.layers, hidden=args.hidden)}"
            )
            rm = reward_model_from_spec(spec, device="cpu")
            names = list(times)
            for r in range(rounds):
                tables: dict[str, pd.DataFrame] = {}
                for name in names[r % 3 :] + names[: r % 3]:
                    t0 = time.perf_counter()
                    engine: Any = "local"
                    if name != "in-process":
                        workers = 1 if "1 worker" in name else 2
                        engine = RayEngine(
                            workers=workers, rm_spec=spec, rm_options={"device": "cpu"}
                        )
                    ex = rmx.Explainer(
                        rm,
                        RulePerturber(),
                        attributes=ATTRIBUTES,
                        batch_size=args.batch_size,
                        progress=False,
                        engine=engine,
                    )
                    startup[name].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    tables[name] = ex.explain(comps).table
                    times[name].append(time.perf_counter() - t0)
                    if ex.engine is not None:
                        ex.engine.close()
                base = tables["in-process"].reset_index(drop=True)
                for table in tables.values():
                    got = table.reset_index(drop=True)
                    pd.testing.assert_frame_equal(
                        got, base, check_exact=False, rtol=1e-4, atol=1e-4
                    )
                    assert got["outcome"].equals(base["outcome"])  # every CF / SF label
                    diff = (got["margin_after"] - base["margin_after"]).abs().max()
                    worst = max(worst, float(diff) if pd.notna(diff) else 0.0)
                print(
                    f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
                    flush=True,
                )
    finally:
        ray.shutdown()
    for name, ts in times.items():
        lines.append(f"{name:15s} {spread(ts)}   (start-up, not timed: {spread(startup[name])})")
    one, two = statistics.median(times["ray, 1 worker"]), statistics.median(times["ray, 2 workers"])
    lines += [
        "",
        f"1 worker / 2 workers: {one / two:.2f}x (median ratio; > 1: two workers faster)",
        f"in-process / 1 worker: {statistics.median(times['in-process']) / one:.2f}x "
        "(> 1: one Ray worker is faster than in-process, its scoring overlapping the driver's "
        "row building; < 1: Ray's overhead dominates)",
        f"Tables equal in every round ({rounds} rounds, 3 runs each): every text and CF / SF "
        f"label identical, rewards within float32 noise (largest margin difference "
        f"{worst:.1e}; the actors score other batch compositions).",
        f"Load average at the end {os.getloadavg()[0]:.2f} (this machine's 2 cores are shared "
        "with other jobs: a ratio measured under load is a lower bound of what free cores give).",
    ]
    print("\n".join(lines[-8:]))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
