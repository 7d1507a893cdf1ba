"""Streaming a run in chunks: time per comparison and peak memory at 1k, 10k, 100k comparisons.

A run scores, plans and runs its comparisons ``chunk`` at a time (``core/chunks.py``). Each size
runs the offline pipeline (transparent RM + rule perturber, 4 attributes, batch_size 64) through
``Explainer.explain_to``, the path for huge runs, in a fresh process so peak RSS
(``ru_maxrss``) is that run's own; the baseline is taken after every library the run uses is
imported and the synthetic comparisons are built (distinct texts per copy of the sample data,
so nothing is served from a cache). Side by side on the smaller sizes the same run as one chunk
(``chunk=n``: every original scored and every rewrite planned before the first batch, the
shape of a run before chunking). At 1k the chunked run uses chunks of 100 (the default chunk,
1024, would make it one chunk) and its table is checked equal, row for row, to the one-chunk
run's.

Targets: time per comparison flat across sizes; peak memory under 1 GB at 100k.

Run: python bench/streaming.py [--quick] [--out bench/results/streaming_cpu.txt]
(--quick: 1k and 10k only.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    import rmx_widgets as rmx
    from rmx_widgets.core.data import Comparison
    import rmx_widgets.core.explain, rmx_widgets.core.report, rmx_widgets.core.sensitivity
    import pyarrow.parquet

    n, chunk, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    base = rmx.sample_comparisons()
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
                       store=out + "/store.sqlite", progress=False, batch_size=64, chunk=chunk)
    t0 = time.perf_counter()
    run = ex.explain_to(comps, out, report=False)
    dt = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": n, "chunk": chunk, "rows": run.summary["rows"], "seconds": dt,
                      "rss_before_mib": rss0 / 1024, "rss_peak_mib": rss1 / 1024}))
""")


def run_one(n: int, chunk: int, out: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(chunk), out],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def tables_equal(a: str, b: str) -> int:
    """The two runs' tables, read back from their Parquet files, equal row for row."""
    import pandas as pd

    from rmx_widgets.core.table_io import read_table

    ta, tb = read_table(Path(a) / "table.parquet"), read_table(Path(b) / "table.parquet")
    pd.testing.assert_frame_equal(ta, tb)
    return len(ta)


def main(argv: list[str] | None = None) -> None:
    from rmx_widgets.core.chunks import DEFAULT_CHUNK

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1k and 10k comparisons only")
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args(argv)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    one_chunk_sizes = {1_000, 10_000}  # the old shape: memory grows, so not at 100k
    rows, checked = [], None
    for n in sizes:
        chunk = 100 if n == sizes[0] else DEFAULT_CHUNK  # several chunks at every size
        with tempfile.TemporaryDirectory() as chunked, tempfile.TemporaryDirectory() as whole:
            rows.append({**run_one(n, chunk, chunked), "chunked": True})
            if n in one_chunk_sizes:
                rows.append({**run_one(n, n, whole), "chunked": False})
                if n == sizes[0]:
                    checked = tables_equal(chunked, whole)
    lines = [
        "bench/streaming.py: explain_to, transparent RM + rule perturber, 4 attributes, "
        f"batch_size 64, chunk 100 at 1k, else {DEFAULT_CHUNK} (the default); chunk = n: one "
        "chunk; one process per run",
        f"{'comparisons':>11} {'chunk':>7} {'rows':>7} {'seconds':>8} {'ms/comparison':>14} "
        f"{'RSS before':>11} {'peak RSS':>9} {'growth':>8}",
    ]
    for r in rows:
        lines.append(
            f"{r['n']:>11} {r['chunk']:>7} {r['rows']:>7} {r['seconds']:>8.2f} "
            f"{1000 * r['seconds'] / r['n']:>14.3f} {r['rss_before_mib']:>9.0f}Mi "
            f"{r['rss_peak_mib']:>7.0f}Mi {r['rss_peak_mib'] - r['rss_before_mib']:>6.0f}Mi"
        )
    chunked = [r for r in rows if r["chunked"]]
    small, big = chunked[0], chunked[-1]
    ratio = (big["seconds"] / big["n"]) / (small["seconds"] / small["n"])
    lines.append(
        f"\nchunked, time per comparison {big['n']:,} / {small['n']:,}: {ratio:.2f}x "
        f"(target: flat, about 1); peak RSS at {big['n']:,}: {big['rss_peak_mib']:.0f} MiB "
        f"(target: under 1 GB at 100,000)"
    )
    for n in sorted(one_chunk_sizes & set(sizes)):
        c = next(r for r in rows if r["n"] == n and r["chunked"])
        w = next(r for r in rows if r["n"] == n and not r["chunked"])
        lines.append(
            f"at {n:,}: one chunk / chunked, growth {w['rss_peak_mib'] - w['rss_before_mib']:.0f}"
            f" / {c['rss_peak_mib'] - c['rss_before_mib']:.0f} MiB, time "
            f"{w['seconds'] / c['seconds']:.2f}x"
        )
    lines.append(
        f"tables chunked vs one chunk at {sizes[0]:,}: equal ({checked} rows, row for row)"
    )
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
