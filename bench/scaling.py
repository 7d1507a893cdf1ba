"""Scaling: wall time and peak memory for 100, 1,000 and 10,000 comparisons.

Runs the offline pipeline (transparent RM + rule perturber, 4 attributes) through
``Explainer.explain_to``, which streams the explanation table to Parquet/JSONL and keeps only
its text-free columns, each size in a fresh process so peak RSS is that run's own. Cost should
grow linearly with the number of comparisons (time per comparison flat) and memory should stay
flat (peak RSS above the import baseline barely moves between 1,000 and 10,000).

Run: python bench/scaling.py [--sizes 100,1000,10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    import rmx_widgets as rmx
    from rmx_widgets.core.data import Comparison
    # the baseline includes every library the run uses, so growth is the run's own
    import rmx_widgets.core.explain, rmx_widgets.core.report, rmx_widgets.core.sensitivity
    import pyarrow.parquet

    n, out = int(sys.argv[1]), sys.argv[2]
    base = rmx.sample_comparisons()
    # distinct texts per copy, so nothing is served from a cache
    def tagged(prompt, i):
        if isinstance(prompt, str):
            return f"[{i}] " + prompt
        return [*prompt[:-1], {"role": "user", "content": f"[{i}] " + prompt[-1]["content"]}]
    comps = [Comparison(id=f"{c.id}-{i}", prompt=tagged(c.prompt, i),
                        response_a=c.response_a + f" (v{i})", response_b=c.response_b + f" (v{i})")
             for i, c in ((i, base[i % len(base)]) for i in range(n))]
    import gc; gc.collect()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ex = rmx.Explainer(rmx.TransparentRewardModel(), rmx.RulePerturber(),
                       attributes=["verbosity", "assertiveness", "avoid-to-answer", "manner"],
                       store=out + "/store.sqlite", progress=False, batch_size=64)
    t0 = time.perf_counter()
    run = ex.explain_to(comps, out, report=False)
    dt = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": n, "rows": run.summary["rows"], "seconds": dt,
                      "rss_before_mib": rss0 / 1024, "rss_peak_mib": rss1 / 1024}))
""")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,10000")
    args = ap.parse_args(argv)
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(n), tmp],
                check=True,
                capture_output=True,
                text=True,
            )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(
        f"{'comparisons':>11} {'rows':>7} {'seconds':>8} {'ms/comparison':>14} "
        f"{'RSS before':>11} {'peak RSS':>9} {'growth':>8}"
    )
    for r in rows:
        print(
            f"{r['n']:>11} {r['rows']:>7} {r['seconds']:>8.2f} "
            f"{1000 * r['seconds'] / r['n']:>14.2f} {r['rss_before_mib']:>9.0f}Mi "
            f"{r['rss_peak_mib']:>7.0f}Mi {r['rss_peak_mib'] - r['rss_before_mib']:>6.0f}Mi"
        )
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        print(
            f"\ntime per comparison, largest/smallest: "
            f"{(b['seconds'] / b['n']) / (a['seconds'] / a['n']):.2f} (1.0 = linear)"
        )
        print(
            f"peak-RSS growth during the run, largest vs smallest: "
            f"{b['rss_peak_mib'] - b['rss_before_mib']:.0f} MiB vs "
            f"{a['rss_peak_mib'] - a['rss_before_mib']:.0f} MiB for {b['n'] // a['n']}x the work"
        )


if __name__ == "__main__":
    main()
