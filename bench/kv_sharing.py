"""Prefix KV sharing in place vs an expanded cache, side by side (part of bench/scoring.py).

Before: every continuation pass got a ``DynamicCache`` of the prompt prefix ``expand()``-ed
over its rows, whose ``update()`` concatenates each layer's new keys/values onto it, writing
the prefix out once per row, under an explicit mask. After (``hf/shared_kv.py``): the prefix
stays at batch 1 and a registered attention function reads it, merging prefix and own-token
attention by log-sum-exp, with no mask. Both paths run here on the same model and inputs:

* one continuation pass of ``rows`` responses of the workload's longest prompt: the bytes of
  keys/values the pass held (``stats['max_kv_bytes_per_pass']``: from the tensors
  themselves), and the peak growth of the process heap during the pass (glibc ``mallinfo2``
  sampled after every torch op, so an op's internal scratch is missed but every tensor it
  returns is counted), its median time, and the rewards checked equal;
* the whole group scored by ``HFRewardModel.score`` (interleaved rounds), rows and tokens per
  forward pass, rewards checked equal.
"""

from __future__ import annotations

import ctypes
import statistics
import time
from collections.abc import Callable
from typing import Any

#: rows in the single-pass measurement: the issue's example shape (14 rows)
ROWS = 14


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _heap_reader() -> Callable[[], int] | None:
    """Bytes the process has allocated from malloc now (in-use arena + mmapped chunks), or
    ``None`` off glibc (then the heap figures print "not measured")."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2

    def read() -> int:
        m = fn()
        return int(m.uordblks + m.hblkhd)

    return read


def peak_heap_growth(run: Callable[[], Any]) -> tuple[Any, int | None]:
    """(``run()``, peak heap bytes above the level at the start, sampled after every torch
    op inside ``run``), or ``None`` for the bytes where the heap cannot be read."""
    from torch.utils._python_dispatch import TorchDispatchMode

    read = _heap_reader()
    if read is None:
        return run(), None

    class Sampler(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.peak = read()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            self.peak = max(self.peak, read())
            return out

    start = read()
    with Sampler() as s:
        result = run()
    return result, s.peak - start


def _median_seconds(
    runs: dict[str, Callable[[], Any]], repeats: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """Median seconds of each run over ``repeats`` interleaved rounds, and its last result."""
    times: dict[str, list[float]] = {k: [] for k in runs}
    out: dict[str, Any] = {}
    for _ in range(repeats):
        for k, fn in runs.items():
            t = time.perf_counter()
            out[k] = fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}, out


def _mib(n: int | None) -> str:
    return "not measured" if n is None else f"{n / 2**20:.1f} MiB"


def kv_sharing_lines(
    rep: Callable[[str], None],
    path: Any,
    prompts: list[Any],
    responses: list[str],
    pass_line: Callable[[Any, str, dict[str, int]], None],
    repeats: int,
    tol: float,
) -> None:
    """Print the in-place vs expanded comparison for the longest prompt's group."""
    from rmx_widgets.core.reward_models.hf import HFRewardModel

    probe, expanded = HFRewardModel(path, device="cpu"), HFRewardModel(path, device="cpu")
    assert probe._sharer is not None and probe._sharer.in_place
    assert expanded._sharer is not None
    expanded._sharer.in_place = False  # the path before, kept for undeclared architectures
    models = {"in-place": probe, "expanded": expanded}
    enc = probe._encode(prompts, responses)
    longest = max(range(len(prompts)), key=lambda i: enc[i].prompt_len or 0)
    members = [i for i in range(len(prompts)) if prompts[i] is prompts[longest]]
    gp, gr = [prompts[i] for i in members], [responses[i] for i in members]
    groups, _ = probe._sharer.plan(gp, [enc[i] for i in members], probe.min_prefix_tokens)
    (prefix_len, group), *_ = groups
    rows = [members[k] for k in group[:ROWS]]
    conts = [enc[i].input_ids[prefix_len:] for i in rows]
    rep(
        f"\n  -- prefix KV in place (after) vs expanded cache (before): the longest prompt "
        f"({prefix_len} shared tokens), {len(gp)} pairs; one pass of {len(rows)} rows, "
        f"continuations up to {max(map(len, conts))} tokens"
    )

    def one_pass(rm: Any) -> list[Any]:
        sh = rm._sharer
        (cache,) = sh.prefix_caches([enc[rows[0]].input_ids[:prefix_len]])
        pools = [sh.pool_index(enc[i].input_ids) - prefix_len for i in rows]
        return sh.forward_shared(cache, prefix_len, conts, pools)

    for rm in models.values():  # warm-up (allocator, kernels), outside the measurements
        one_pass(rm)
    got: dict[str, list[Any]] = {}
    for name, rm in models.items():
        rm.stats = dict.fromkeys(rm.stats, 0)
        got[name], heap = peak_heap_growth(lambda rm=rm: one_pass(rm))
        rep(
            f"  pass {name}: keys/values held {_mib(rm.stats['max_kv_bytes_per_pass'])}; "
            f"peak heap growth {_mib(heap)}"
        )
    runs = {k: (lambda rm=rm: one_pass(rm)) for k, rm in models.items()}
    secs, _ = _median_seconds(runs, repeats)
    diff = max(abs(a - b) for a, b in zip(got["in-place"], got["expanded"]))
    assert diff < tol, f"in-place and expanded KV disagree: {diff}"
    rep(
        f"  pass time (median of {repeats} interleaved): in-place {secs['in-place'] * 1e3:.0f} ms"
        f", expanded {secs['expanded'] * 1e3:.0f} ms ({secs['expanded'] / secs['in-place']:.2f}x)"
        f"; max |diff| {diff:.2e} over {len(rows)} rewards (tol {tol:g})"
    )

    def score(rm: Any) -> list[float]:
        rm.stats = dict.fromkeys(rm.stats, 0)
        return rm.score(gp, gr)

    secs, scores = _median_seconds(
        {k: (lambda rm=rm: score(rm)) for k, rm in models.items()}, repeats
    )
    diff = max(abs(a - b) for a, b in zip(scores["in-place"], scores["expanded"]))
    assert diff < tol, f"in-place and expanded KV disagree on score(): {diff}"
    for name, rm in models.items():
        pass_line(rep, name, rm.stats)
    rep(
        f"  score() of the group: in-place {secs['in-place']:.2f} s, expanded "
        f"{secs['expanded']:.2f} s ({secs['expanded'] / secs['in-place']:.2f}x); keys/values per "
        f"pass max {_mib(models['in-place'].stats['max_kv_bytes_per_pass'])} vs "
        f"{_mib(models['expanded'].stats['max_kv_bytes_per_pass'])}; max |diff| {diff:.2e}"
    )
