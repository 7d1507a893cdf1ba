"""The streaming pipeline (issue 16): one Explainer run, generation and scoring overlapped.

One job, timed five ways on the same inputs, in interleaved rounds (the order rotates each
round, so a change of load from other processes on a shared machine hits every method alike):

* ``generation``: the pipeline's generation stage alone (``core.pipeline.stream_rewrites``
  through ``CachedPerturber`` on an in-memory store, the Explainer's batches and lookahead),
  ``OpenAIPerturber`` against a local OpenAI-compatible server answering after a fixed delay
  (``tests/helpers/fake_llm_server.py``, run in its own process so it takes no GIL from us);
* ``thread pool``: the same requests as a careful user would write them by hand, a
  ``ThreadPoolExecutor`` of ``concurrency`` workers posting over one pooled ``httpx.Client``
  (the baseline ``generation`` must reach, not a sequential loop);
* ``scoring``: the RM alone on the same work: the originals, then the rewrites in the
  Explainer's batches (``CachedRewardModel`` on an in-memory store), a tiny random Llama RM
  (``HFRewardModel``, built offline);
* ``batch loop``: ``Explainer.explain`` with ``lookahead=0``: rewrite a batch, score it, then
  the next (the previous commit's loop, with this commit's reused HTTP client);
* ``pipeline``: ``Explainer.explain`` with the default lookahead (rewrites stream ahead).

Every round checks the batch loop's and the pipeline's tables equal (``assert_frame_equal``).
The bound ``max(generation, scoring)`` is what a perfect overlap of the two costs would take
(each must happen in full). The pipeline scores a chunk's originals in growing pieces, so only
the first piece (``batch_size`` comparisons) is scored before the first rewrite is requested;
``originals + max(generation, rewrite scoring)``, also printed, is the bound of the earlier
design that scored every original first (a reference: the pipeline may now beat it). Quoted:
medians with [min-max] over the rounds; the machine's load average is printed at both ends.

Run: python bench/pipeline.py [--quick] [--rounds 5] [--out bench/results/pipeline_cpu.txt]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
HELPERS = ROOT / "tests" / "helpers"
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(HELPERS))  # the tiny offline model builders

from machine import cpu_name  # noqa: E402
from tiny_models import build_decoder_rm  # noqa: E402

import rmx_widgets as rmx  # noqa: E402
from rmx_widgets.core.cached import CachedPerturber, CachedRewardModel  # noqa: E402
from rmx_widgets.core.perturbers.openai import OpenAIPerturber  # noqa: E402
from rmx_widgets.core.perturbers.prompts import parse_reply  # noqa: E402
from rmx_widgets.core.pipeline import default_ahead, stream_rewrites  # noqa: E402
from rmx_widgets.core.reward_models.hf import HFRewardModel  # noqa: E402
from rmx_widgets.core.store import Store  # noqa: E402

SERVER = """
import sys
sys.path.insert(0, sys.argv[2])
from fake_llm_server import FakeLLMServer
server = FakeLLMServer(delay=float(sys.argv[1])).start()
print(server.url, flush=True)
sys.stdin.read()  # until the bench closes our stdin
"""
ATTRIBUTES = ["verbosity", "manner", "assertiveness", "clarity"]


def comparisons(n: int) -> list[dict[str, str]]:
    words = [
        "the",
        "model",
        "answers",
        "each",
        "question",
        "with",
        "care",
        "and",
        "some",
        "detail",
        "about",
        "it",
    ]
    out = []
    for i in range(n):
        body = " ".join(words[(i + k) % len(words)] for k in range(24 + i % 9))
        out.append(
            {
                "id": f"c{i:04d}",
                "prompt": f"Question {i}: explain topic {i % 17} to a new student.",
                "response_a": f"Answer {i}: {body}.",
                "response_b": f"Reply {i}: {body[: len(body) // 2]}.",
            }
        )
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def spread(ts: list[float]) -> str:
    return f"{statistics.median(ts):6.2f} s [{min(ts):.2f}-{max(ts):.2f}]"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smaller job, 3 rounds")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5)")
    ap.add_argument("--comparisons", type=int, default=None, help="default 48 (16 --quick)")
    ap.add_argument("--delay", type=float, default=0.1, help="the server's seconds per request")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8, help="the Explainer's batch_size")
    ap.add_argument("--hidden", type=int, default=256, help="the tiny RM's hidden size")
    ap.add_argument("--layers", type=int, default=4, help="the tiny RM's layers")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--out", default=None, help="also write the report to this file")
    args = ap.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 5)
    n = args.comparisons or (16 if args.quick else 48)
    torch.set_num_threads(args.threads)
    comps = comparisons(n)
    lines = [
        f"bench/pipeline.py  {time.strftime('%Y-%m-%d %H:%M')}  {cpu_name()}, "
        f"{os.cpu_count()} cores, torch threads {args.threads}; "
        f"load average at start {os.getloadavg()[0]:.2f}",
        f"Job: {n} comparisons x {len(ATTRIBUTES)} attributes x 2 sides = "
        f"{n * len(ATTRIBUTES) * 2} rewrites; fake server delay {args.delay:g} s per request "
        f"(own process), OpenAIPerturber concurrency {args.concurrency}, batch_size "
        f"{args.batch_size}; RM: random Llama, {args.layers} layers, hidden {args.hidden}.",
        f"Medians of {rounds} interleaved rounds with [min-max].",
        "",
    ]
    print("\n".join(lines), flush=True)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.delay), str(HELPERS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            rm_path = build_decoder_rm(Path(tmp) / "rm", layers=args.layers, hidden=args.hidden)
            rm = HFRewardModel(rm_path, device="cpu")
            lines += run(comps, rm, url, args, rounds)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(10)
    lines.append(f"Load average at the end {os.getloadavg()[0]:.2f}.")
    print(lines[-1])
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


def run(comps: list[dict[str, str]], rm: Any, url: str, args: Any, rounds: int) -> list[str]:
    def perturber() -> OpenAIPerturber:
        return OpenAIPerturber("fake", base_url=url, concurrency=args.concurrency)

    def explainer(lookahead: int | None) -> rmx.Explainer:
        return rmx.Explainer(
            rm,
            perturber(),
            attributes=ATTRIBUTES,
            batch_size=args.batch_size,
            progress=False,
            lookahead=lookahead,
        )

    probe = explainer(None)
    loaded = probe._comparisons(comps)
    originals = probe.score_originals(loaded)
    items = probe.plan(loaded, probe.attributes, originals)
    size = 2 * args.batch_size
    batches = [items[s : s + size] for s in range(0, len(items), size)]
    ahead = default_ahead(probe.perturber, size)

    def generation() -> list[Any]:
        cached = CachedPerturber(perturber(), Store(None))
        return [r for got in stream_rewrites(batches, cached, ahead) for r in got.values]

    rewrites = generation()
    assert all(r.text is not None for r in rewrites), "the fake server failed a request"
    texts = iter([r.text for r in rewrites])
    scored_batches = [[(it.comparison.prompt, next(texts)) for it in b] for b in batches]

    def scoring() -> tuple[float, float]:
        scores = CachedRewardModel(rm, Store(None))
        t_orig, _ = timed(
            lambda: scores.score(
                [c.prompt for c in loaded for _ in (0, 1)],
                [r for c in loaded for r in (c.response_a, c.response_b)],
            )
        )
        t_rew, _ = timed(
            lambda: [scores.score([p for p, _ in b], [t for _, t in b]) for b in scored_batches]
        )
        return t_orig, t_rew

    payloads = [probe.perturber._payload(it.request) for it in items]  # type: ignore[attr-defined]

    def thread_pool() -> list[str | None]:
        limits = httpx.Limits(max_connections=args.concurrency)
        with httpx.Client(base_url=url, limits=limits, timeout=60) as client:

            def post(i: int) -> str | None:
                reply = client.post("chat/completions", json=payloads[i]).json()
                content = reply["choices"][0]["message"]["content"]
                return parse_reply(content, items[i].request.response).text

            with ThreadPoolExecutor(args.concurrency) as pool:
                return list(pool.map(post, range(len(items))))

    assert thread_pool() == [r.text for r in rewrites]  # the same rewrites by hand
    times: dict[str, list[float]] = {
        k: [] for k in ("generation", "thread pool", "scoring", "batch loop", "pipeline")
    }
    orig_times: list[float] = []
    rewrite_score_times: list[float] = []
    order = list(times)
    for r in range(rounds):
        tables: dict[str, pd.DataFrame] = {}
        for name in order[r % len(order) :] + order[: r % len(order)]:
            if name == "generation":
                dt, _ = timed(generation)
            elif name == "thread pool":
                dt, _ = timed(thread_pool)
            elif name == "scoring":
                dt, (t_orig, t_rew) = timed(scoring)
                orig_times.append(t_orig)
                rewrite_score_times.append(t_rew)
            else:
                ex = explainer(0 if name == "batch loop" else None)
                dt, res = timed(lambda ex=ex: ex.explain(comps))
                tables[name] = res.table
            times[name].append(dt)
        pd.testing.assert_frame_equal(tables["batch loop"], tables["pipeline"])
    out = [f"{name:<12} {spread(ts)}" for name, ts in times.items()]
    bound = [max(g, s) for g, s in zip(times["generation"], times["scoring"])]
    tight = [o + max(g, s) for o, g, s in zip(orig_times, times["generation"], rewrite_score_times)]
    per_round = [p / b for p, b in zip(times["pipeline"], bound)]
    tight_round = [p / b for p, b in zip(times["pipeline"], tight)]
    loop_round = [lo / p for lo, p in zip(times["batch loop"], times["pipeline"])]
    gen_round = [t / g for t, g in zip(times["thread pool"], times["generation"])]

    def ratio(name: str, values: list[float], target: str) -> str:
        m = statistics.median(values)
        return f"{name:<52} {m:5.2f}x [{min(values):.2f}-{max(values):.2f}]  {target}"

    out += [
        "",
        f"(scoring = originals {spread(orig_times)} + rewrites {spread(rewrite_score_times)}; "
        f"lookahead {ahead} batches of {size} rewrites)",
        ratio("pipeline / max(generation, scoring)", per_round, "(target <= 1.15)"),
        ratio("pipeline / (originals + max(generation, rewrite scoring))", tight_round, ""),
        ratio("batch loop / pipeline (speed-up)", loop_round, ""),
        ratio("generation throughput / thread pool's (pool s / gen s)", gen_round, "(>= 0.9)"),
        "",
        f"Tables of the batch loop and the pipeline equal in all {rounds} rounds "
        f"({len(tables['pipeline'])} rows); thread pool rewrites equal to the perturber's.",
    ]
    print("\n".join(out), flush=True)
    return out


if __name__ == "__main__":
    main()
