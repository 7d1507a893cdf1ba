"""Generation throughput: our perturbers vs the way one writes it by hand, side by side.

1. OpenAIPerturber (async, bounded concurrency, one pooled connection set) vs a plain thread
   pool at the same concurrency (the fair baseline) and a sequential loop (one request after
   another over a reused httpx.Client; it only shows latency hiding) against a local
   chat-completions server on 127.0.0.1 that answers every request after a fixed delay — the
   latency-bound regime of a real LLM API. Checks: every request answered exactly once (none
   lost or duplicated on the server or in the results) and all methods give identical rewrites.
2. HFPerturber batched generation (left padding) vs one request at a time, on a tiny random
   causal LM built offline; same requests, generated token ids compared.

Run: python bench/generation.py [--quick]. Prints figures; asserts correctness, not speed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "helpers"))  # tiny offline model builders

from rmx_widgets.core.attributes import get_attribute  # noqa: E402
from rmx_widgets.core.perturbers.base import PerturbationRequest  # noqa: E402
from rmx_widgets.core.perturbers.openai import OpenAIPerturber  # noqa: E402
from rmx_widgets.core.perturbers.prompts import build_messages, parse_reply  # noqa: E402

_ID = re.compile(r"request-(\d+)")
ROUNDS = 3  # interleaved rounds of the pool and ours; medians are printed with their range


class DelayedChatServer:
    """HTTP/1.1 keep-alive chat-completions server answering after ``delay`` seconds.

    It rewrites the request's response deterministically (append " [rewritten N]") and records
    how often each request id arrived and how many TCP connections were opened.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.seen: collections.Counter[int] = collections.Counter()
        self.connections = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0, backlog=512)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop.stop()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = json.loads(await reader.readexactly(length)) if length else {}
                path = lines[0].split(" ")[1]
                if path.endswith("/stats"):  # the bench reads the server's counts here
                    payload = json.dumps(
                        {
                            "seen": dict(self.seen),
                            "connections": self.connections,
                            "max_in_flight": self.max_in_flight,
                        }
                    ).encode()
                    if body.get("reset"):
                        self.reset()
                        self.connections = 1  # this connection stays open
                else:
                    self._in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self._in_flight)
                    await asyncio.sleep(self.delay)
                    self._in_flight -= 1
                    payload = json.dumps(self._reply(body)).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _reply(self, body: dict) -> dict:
        user = body["messages"][-1]["content"]
        n = int(_ID.search(user).group(1))
        self.seen[n] += 1
        original = f"This is response request-{n} about topic {n % 7}."
        content = json.dumps(
            {"locate": [f"request-{n}"], "rewritten": f"{original} [rewritten {n}]"}
        )
        return {
            "id": f"cmpl-{n}",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }

    def reset(self) -> None:
        self.seen.clear()
        self.connections = 0
        self.max_in_flight = 0

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        self._thread.join(10)


class ServerProcess:
    """The delayed server in its own process, as a real server would be: client and server do
    not share one interpreter (and its GIL), so the client's overhead is measured honestly."""

    def __init__(self, delay: float) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(delay)], stdout=subprocess.PIPE, text=True
        )
        self.base_url = self.proc.stdout.readline().strip()
        self._client = httpx.Client(base_url=self.base_url, timeout=30)

    def stats(self, reset: bool = False) -> dict:
        out = self._client.post("/stats", json={"reset": reset}).json()
        out["seen"] = collections.Counter({int(k): v for k, v in out["seen"].items()})
        return out

    def close(self) -> None:
        self._client.close()
        self.proc.kill()
        self.proc.wait()


def make_requests(n: int) -> list[PerturbationRequest]:
    attr = get_attribute("verbosity")
    return [
        PerturbationRequest(
            f"Question {i}?", f"This is response request-{i} about topic {i % 7}.", attr, "worse"
        )
        for i in range(n)
    ]


def _one_call(client: httpx.Client, r: PerturbationRequest) -> str | None:
    resp = client.post(
        "/chat/completions",
        json={"model": "bench", "messages": build_messages(r), "temperature": 0},
    )
    return parse_reply(resp.json()["choices"][0]["message"]["content"], r.response).text


def sequential(base_url: str, requests: list[PerturbationRequest]) -> list[str | None]:
    """What one writes first: a loop of blocking calls over one reused client."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        return [_one_call(client, r) for r in requests]


def thread_pool(
    base_url: str, requests: list[PerturbationRequest], concurrency: int
) -> list[str | None]:
    """What a careful user writes in ten lines: the same blocking call from a thread pool of
    ``concurrency`` workers over one pooled client. The fair baseline for concurrency: a
    sequential loop only measures latency hiding, which any pool gets."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with (
        httpx.Client(base_url=base_url, timeout=60, limits=limits) as client,
        concurrent.futures.ThreadPoolExecutor(concurrency) as pool,
    ):
        return list(pool.map(lambda r: _one_call(client, r), requests))


def loop_thread_schedstat() -> tuple[float, float]:
    """(seconds run on a CPU, seconds waited for one while runnable) of OpenAIPerturber's
    background loop thread, from Linux's /proc schedstat; (0, 0) before the thread exists,
    NaN where the file cannot be read (not Linux). The wait is time the client lost to other
    processes on a busy machine, not time it spent working."""
    thread = next((t for t in threading.enumerate() if t.name == "rmx-openai-loop"), None)
    if thread is None:
        return 0.0, 0.0
    try:
        with open(f"/proc/self/task/{thread.native_id}/schedstat") as f:
            ran, waited = f.read().split()[:2]
    except (OSError, ValueError):
        return float("nan"), float("nan")
    return int(ran) / 1e9, int(waited) / 1e9


def bench_openai(n: int, delay: float, concurrency: int) -> dict:
    server = ServerProcess(delay)
    reqs = make_requests(n)
    try:
        server.stats(reset=True)
        t0 = time.perf_counter()
        seq = sequential(server.base_url, reqs)
        t_seq = time.perf_counter() - t0
        seq_stats = server.stats(reset=True)
        pert = OpenAIPerturber(model="bench", base_url=server.base_url, concurrency=concurrency)
        # the pool and ours: ROUNDS interleaved rounds (the sequential loop, 100x slower, once)
        pool_times: list[float] = []
        our_times: list[float] = []
        pool_cpu: list[float] = []  # the client process's CPU seconds (the server runs apart)
        our_cpu: list[float] = []
        loop_ran: list[float] = []
        loop_waited: list[float] = []
        lost: list[int] = []
        dup: list[int] = []
        first: dict = {}
        for _ in range(ROUNDS):
            c0, t0 = time.process_time(), time.perf_counter()
            pooled = thread_pool(server.base_url, reqs, concurrency)
            pool_times.append(time.perf_counter() - t0)
            pool_cpu.append(time.process_time() - c0)
            server.stats(reset=True)
            s0 = loop_thread_schedstat()
            c0, t0 = time.process_time(), time.perf_counter()
            ours = [r.text for r in pert.perturb_batch(reqs)]
            our_times.append(time.perf_counter() - t0)
            our_cpu.append(time.process_time() - c0)
            s1 = loop_thread_schedstat()
            loop_ran.append(s1[0] - s0[0])
            loop_waited.append(s1[1] - s0[1])
            st = server.stats(reset=True)
            first = first if pool_times[1:] else st  # connections opened: the first round's
            lost += [i for i in range(n) if st["seen"][i] == 0]
            dup += [i for i, c in st["seen"].items() if c > 1]
        t_pool, t_ours = statistics.median(pool_times), statistics.median(our_times)
        assert not lost and not dup, (lost, dup)
        assert all(seq_stats["seen"].get(i) == 1 for i in range(n))
        assert ours == seq == pooled and all(t is not None for t in ours), "results differ"
        return {
            "n": n,
            "delay_s": delay,
            "concurrency": concurrency,
            "sequential_s": t_seq,
            "ours_s": t_ours,
            "pool_s": t_pool,
            "ratio": t_seq / t_ours,
            "ratio_pool": t_pool / t_ours,
            "pool_range": (min(pool_times), max(pool_times)),
            "ours_range": (min(our_times), max(our_times)),
            "pool_cpu_ms": 1000 * statistics.median(pool_cpu) / n,
            "ours_cpu_ms": 1000 * statistics.median(our_cpu) / n,
            "loop_ran_s": statistics.median(loop_ran),
            "loop_waited_s": statistics.median(loop_waited),
            "lost": len(lost),
            "duplicated": len(dup),
            "connections_ours": first["connections"] - 1,
            "connections_sequential": seq_stats["connections"] - 1,
            "max_in_flight": max(st["max_in_flight"], first["max_in_flight"]),
            "retries": pert.stats["retries"],
        }
    finally:
        server.close()


def bench_hf(n: int, batch_size: int, max_new_tokens: int) -> dict:
    import torch
    from tiny_models import build_causal_lm

    from rmx_widgets.core.perturbers.hf import HFPerturber

    torch.manual_seed(0)
    path = build_causal_lm(tempfile.mkdtemp(prefix="rmx-bench-lm-"))
    reqs = make_requests(n)
    batched = HFPerturber(
        str(path), device="cpu", batch_size=batch_size, max_new_tokens=max_new_tokens
    )
    single = HFPerturber(str(path), device="cpu", batch_size=1, max_new_tokens=max_new_tokens)
    texts = [batched._chat_text(r) for r in reqs]
    t0 = time.perf_counter()
    out_b = []
    for i in range(0, n, batch_size):
        out_b.extend(batched.generate_batch(texts[i : i + batch_size]))
    t_b = time.perf_counter() - t0
    t0 = time.perf_counter()
    out_s = [single.generate_batch([t])[0] for t in texts]
    t_s = time.perf_counter() - t0
    same = sum(a == b for a, b in zip(out_b, out_s))
    return {
        "n": n,
        "batch_size": batch_size,
        "max_new_tokens": max_new_tokens,
        "one_at_a_time_s": t_s,
        "batched_s": t_b,
        "ratio": t_s / t_b,
        "identical_outputs": same,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller workload")
    ap.add_argument("--requests", type=int, default=None)
    ap.add_argument("--delay", type=float, default=0.1, help="server delay per request (s)")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--serve", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve is not None:  # child process: run the server until killed
        server = DelayedChatServer(args.serve)
        print(server.base_url, flush=True)
        threading.Event().wait()
    import torch

    torch.set_num_threads(2)
    n = args.requests or (64 if args.quick else 192)
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )
    o = bench_openai(n, args.delay, args.concurrency)
    print(f"\nOpenAI-compatible server, {o['n']} requests, {o['delay_s'] * 1000:.0f} ms per reply")
    print(
        f"  sequential loop          {o['sequential_s']:7.2f} s  "
        f"({o['n'] / o['sequential_s']:6.1f} req/s, {o['connections_sequential']} connection(s))"
    )
    print(
        f"  thread pool of {o['concurrency']:<3}       {o['pool_s']:7.2f} s  "
        f"({o['n'] / o['pool_s']:6.1f} req/s, one pooled httpx.Client; median of {ROUNDS}, "
        f"range {o['pool_range'][0]:.2f}-{o['pool_range'][1]:.2f} s)"
    )
    print(
        f"  OpenAIPerturber c={o['concurrency']:<3}    {o['ours_s']:7.2f} s  "
        f"({o['n'] / o['ours_s']:6.1f} req/s, {o['connections_ours']} connections, "
        f"{o['max_in_flight']} in flight at most; median of {ROUNDS}, range "
        f"{o['ours_range'][0]:.2f}-{o['ours_range'][1]:.2f} s)"
    )
    print(
        f"  ratio ours/sequential    {o['ratio']:7.1f}x   (latency hiding only)  lost {o['lost']}, "
        f"duplicated {o['duplicated']}, retries {o['retries']}; results identical"
    )
    print(
        f"  ratio ours/thread pool   {o['ratio_pool']:7.2f}x   (the fair baseline: >= 0.9 means "
        "the async client costs nothing over a pool)"
    )
    print(
        f"  client CPU per request   pool {o['pool_cpu_ms']:.2f} ms, "
        f"ours {o['ours_cpu_ms']:.2f} ms (process CPU time / requests, median of {ROUNDS})"
    )
    waited = (
        "not measured (no /proc schedstat)"
        if o["loop_waited_s"] != o["loop_waited_s"]
        else f"ran {o['loop_ran_s']:.2f} s, waited {o['loop_waited_s']:.2f} s for a CPU"
    )
    print(
        f"  ours' one loop thread    {waited} (median of {ROUNDS}; the pool's "
        f"{o['concurrency']} threads wait in parallel)"
    )
    h = bench_hf(16 if args.quick else 32, 16, 24 if args.quick else 48)
    print(
        f"\nHFPerturber on a tiny random causal LM, {h['n']} requests, "
        f"{h['max_new_tokens']} new tokens each (CPU)"
    )
    print(f"  one request at a time    {h['one_at_a_time_s']:7.2f} s")
    print(f"  batched (batch {h['batch_size']}, left pad) {h['batched_s']:5.2f} s")
    print(
        f"  ratio batched/one-by-one {h['ratio']:7.1f}x   identical generations "
        f"{h['identical_outputs']}/{h['n']}"
    )


if __name__ == "__main__":
    main()
