"""Scoring throughput: HFRewardModel.score against the naive ways, side by side.

    python bench/scoring.py [--quick] [--out bench/results/scoring_cpu.txt]
    python bench/scoring.py --device cuda --model llama8b [--peak-tflops 989]

CPU mode (default): one run builds a small random Llama RM and a small random DeBERTa-v2 RM
offline, generates one synthetic Explainer-shaped workload from a fixed seed (comparisons x
attributes x 2 sides + the two originals, all of one prompt sharing it), and times, on the same
model and inputs:

  naive     tokenise + forward one pair at a time (torch.no_grad), in data order;
  batch16   fixed batches of 16 in data order, padded to the longest (what a plain
            DataLoader / text-classification pipeline does);
  ours      HFRewardModel.score over the whole workload (one call);
  ours-noshare  the same with prompt-prefix sharing off;
  packed    a reference without sharing, not a bound: the same number of real tokens run as
            batches of equal-length sequences (no padding, no mask, tensors prebuilt, no
            tokenisation); ours-noshare can match or beat it (it also runs without a mask).

Every method's rewards are checked against ours (max abs diff printed and asserted). The naive
and batch16 loops are timed on randomly drawn whole comparisons (all their pairs, in data order,
so batch16 pads as it would on the real workload) and their per-pair rate extrapolated; this is
printed. Every time is the median of interleaved rounds, printed with its range. Figures:
pairs/s, real tokens/s (tokens of the pairs scored), tokens the model actually processed
(padding included, a shared prefix counted once), and ratios. The decoder section also puts the
prefix's keys/values read in place (after) beside the expanded cache (before) on the longest
prompt's group: key/value bytes and peak heap growth per pass, rows and tokens per pass, time,
rewards checked equal (``kv_sharing.py``).

CUDA mode: an 8B Llama-architecture RM with random bf16 weights built directly on the GPU
(nothing downloaded), scored by HFRewardModel; prints tokens/s and MFU against the GPU's dense
bf16 peak (FLOPs = 2 x params x tokens + causal attention 2 x layers x hidden x seq^2 per seq).
With vLLM installed, the same pairs are then scored by VLLMRewardModel and both timings are
printed side by side with the max abs reward difference vs VLLM_HF_TOLERANCE
(``scoring_vllm.py``). Without a GPU it prints "skipped: ..." and exits 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kv_sharing import kv_sharing_lines
from bench.models import TextGen
from bench.scoring_vllm import vllm_side_by_side

N_ATTRIBUTES = 15
REPEATS = 3  # every method: the median of 3 interleaved rounds


# --------------------------------------------------------------------------- workload
@dataclass
class Workload:
    prompts: list[Any]
    responses: list[str]
    comparisons: int


def make_workload(
    n_comparisons: int,
    tokenizer: Any,
    seed: int = 0,
    prompt_median: int = 300,
    prompt_sigma: float = 0.75,
    prompt_range: tuple[int, int] = (20, 1000),
    response_median: int = 100,
    response_sigma: float = 0.6,
    response_range: tuple[int, int] = (20, 400),
) -> Workload:
    """Explainer-shaped pairs: for each comparison, (prompt, a), (prompt, b) and 15 rewrites
    of each side. Lengths are drawn in *tokenizer tokens* (the unit the cost is in), not words:
    prompts lognormal (median 300, clipped to 20-1,000; 30 % multi-turn with a system message,
    the length split over the turns), responses lognormal (median 100, clipped to 20-400).
    Rewrites keep most of the original and change a span, as an LLM rewrite would."""
    gen = TextGen(seed)
    rng = random.Random(seed + 1)

    def text_of(n_tokens: int) -> str:
        """Synthetic text of exactly ``n_tokens`` tokens on its own: generated with spare
        words, then cut at the character offset where token ``n_tokens`` ends."""
        while True:
            text = gen.text(n_tokens + 8)
            enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            if len(enc["input_ids"]) >= n_tokens:
                return text[: enc["offset_mapping"][n_tokens - 1][1]]

    prompts: list[Any] = []
    responses: list[str] = []
    for _ in range(n_comparisons):
        p_tokens = gen.lognormal_int(prompt_median, prompt_sigma, *prompt_range)
        if rng.random() < 0.3:
            turns = rng.choice((3, 5))
            system = min(20, p_tokens // 4)
            shares = [rng.random() + 0.2 for _ in range(turns)]
            rest = p_tokens - system - 3 * (turns + 1)  # ~3 template tokens per message
            roles = ["user", "assistant"] * 3
            prompt: Any = [{"role": "system", "content": text_of(max(1, system))}] + [
                {"role": roles[k], "content": text_of(max(1, round(rest * w / sum(shares))))}
                for k, w in enumerate(shares)
            ]
        else:
            prompt = text_of(p_tokens)
        sides = [
            text_of(gen.lognormal_int(response_median, response_sigma, *response_range))
            for _ in range(2)
        ]
        for side in sides:
            prompts.append(prompt)
            responses.append(side)
        for side in sides:
            base = side.split(" ")
            for _ in range(N_ATTRIBUTES):
                a = rng.randrange(len(base))
                b = min(len(base), a + rng.randint(1, max(2, len(base) // 3)))
                new = gen.text(max(1, round((b - a) * rng.uniform(0.6, 1.5)))).split(" ")
                prompts.append(prompt)
                responses.append(" ".join(base[:a] + new + base[b:]))
    return Workload(prompts, responses, n_comparisons)


# --------------------------------------------------------------------------- methods
class Timing(NamedTuple):
    """One method's median wall-clock seconds over the rounds, their range, and its result."""

    seconds: float
    low: float
    high: float
    result: Any

    @property
    def spread(self) -> str:
        return f"median of {REPEATS}, range {self.low:.2f}-{self.high:.2f} s"


def timed_rounds(methods: dict[str, Any], repeats: int) -> dict[str, Timing]:
    """Median wall-clock time of each method over ``repeats`` interleaved rounds, its range,
    and its last result.

    The methods run interleaved (round 1: all of them, round 2: all of them, ...), not one
    after the other: other processes share these cores and their load drifts over minutes, so
    timing method A now and method B five minutes later compares the machine's load, not the
    methods. The median, not the best round, is quoted so one lucky round cannot flatter a
    method; the range says how much the rounds disagreed."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    out: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in methods.items():
            t = time.perf_counter()
            out[name] = fn()
            times[name].append(time.perf_counter() - t)
    return {
        name: Timing(statistics.median(ts), min(ts), max(ts), out[name])
        for name, ts in times.items()
    }


def whole_comparisons_sample(n_pairs: int, max_pairs: int, seed: int) -> list[int]:
    """Indices of randomly drawn *whole* comparisons (all their pairs, in data order).

    The per-example and batch-of-16 loops are too slow to time on every pair, so they run on a
    sample. Sampling single pairs at random would mix lengths that never sit next to each other
    in a real run and pad batch16 to about 2x the real tokens, where data order pads it about
    1.1x: the baseline would be slower than what a careful user runs. Whole comparisons in
    data order keep batch16's padding what it is on the real workload."""
    per = 2 + 2 * N_ATTRIBUTES
    n_comps = n_pairs // per
    k = max(1, min(n_comps, max_pairs // per))
    picked = sorted(random.Random(seed).sample(range(n_comps), k))
    return [c * per + j for c in picked for j in range(per)]


def naive_scores(rm: Any, prompts: list[Any], responses: list[str]) -> tuple[list[float], int]:
    """The obvious loop: format, tokenise, forward, one pair at a time."""
    import torch

    tok, model, out, tokens = rm.tokenizer, rm.model, [], 0
    for p, r in zip(prompts, responses):
        enc = _encode_plain(rm, [p], [r], padding=False)
        tokens += enc["input_ids"].numel()
        with torch.no_grad():
            out.append(float(model(**enc).logits[0, 0]))
    del tok
    return out, tokens


def batch16_scores(
    rm: Any, prompts: list[Any], responses: list[str], batch: int = 16
) -> tuple[list[float], int]:
    """Fixed-size batches in data order, each padded to its longest member (right padding)."""
    import torch

    out: list[float] = []
    tokens = 0
    for k in range(0, len(prompts), batch):
        enc = _encode_plain(rm, prompts[k : k + batch], responses[k : k + batch], padding=True)
        tokens += enc["input_ids"].numel()
        with torch.no_grad():
            out.extend(rm.model(**enc).logits[:, 0].float().tolist())
    return out, tokens


def _encode_plain(rm: Any, prompts: list[Any], responses: list[str], padding: bool) -> Any:
    """What a user writes by hand: chat template (decoder) or text pair (encoder)."""
    tok = rm.tokenizer
    kw = {"return_tensors": "pt", "padding": padding}
    if rm.is_encoder:
        texts = [
            p
            if isinstance(p, str)
            else "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in p)
            for p in prompts
        ]
        return tok(texts, list(responses), **kw)
    texts = [
        tok.apply_chat_template(
            ([{"role": "user", "content": p}] if isinstance(p, str) else list(p))
            + [{"role": "assistant", "content": r}],
            tokenize=False,
        )
        for p, r in zip(prompts, responses)
    ]
    return tok(texts, add_special_tokens=False, **kw)


def packed_forward_seconds(
    rm: Any, lengths: list[int], token_budget: int = 16384, max_batch: int = 64
) -> tuple[float, int]:
    """Time the pad-free lower bound: the same real tokens, batched under the same budget as
    rows of equal length (each batch's mean length), no attention mask, tensors built before
    the clock starts."""
    import torch

    order = sorted(lengths, reverse=True)
    shapes, batch = [], []
    for n in order:
        if batch and (len(batch) >= max_batch or (len(batch) + 1) * batch[0] > token_budget):
            shapes.append((len(batch), round(sum(batch) / len(batch))))
            batch = []
        batch.append(n)
    if batch:
        shapes.append((len(batch), round(sum(batch) / len(batch))))
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randint(10, len(rm.tokenizer), s, generator=gen) for s in shapes]
    with torch.inference_mode():
        rm.model(input_ids=inputs[-1])  # warm-up
        start = time.perf_counter()
        for ids in inputs:
            rm.model(input_ids=ids)
        secs = time.perf_counter() - start
    return secs, sum(r * w for r, w in shapes)


# --------------------------------------------------------------------------- reporting
class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)


def _median_run(runs: list[tuple[float, int]]) -> tuple[float, int]:
    """The packed forward's own clock (its tensors are built before it starts): median round."""
    ordered = sorted(runs)
    return ordered[len(ordered) // 2]


def _row(
    rep: Report, name: str, pairs: int, secs: float, real: int, processed: int, note: str = ""
) -> float:
    """Print one method's line; return its real tokens per second, the rate every ratio uses:
    the sampled methods run other pairs than ``ours``, and pairs/s would credit a sample of
    shorter pairs as speed."""
    rep(
        f"  {name:<13} {pairs / secs:9.1f} pairs/s {real / secs:10.0f} real tok/s "
        f"{processed:>10,d} tok processed ({processed / max(real, 1):.2f}x real)  {note}"
    )
    return real / secs


def _check(rep: Report, name: str, got: list[float], ref: list[float], tol: float) -> None:
    diff = max(abs(a - b) for a, b in zip(got, ref))
    rep(f"  check {name}: max |diff| vs ours = {diff:.2e} over {len(got)} pairs (tol {tol:g})")
    assert diff < tol, f"{name} disagrees with HFRewardModel.score: {diff}"


def pass_line(rep: Report, name: str, stats: dict[str, int]) -> None:
    """Print the shape of one run's forward passes (HFRewardModel.stats): how many of each
    kind, and rows and tokens per pass (mean and max). Whether a pass could fill an
    accelerator is a matter of this shape, so it is visible on a CPU too."""
    from rmx_widgets.core.reward_models.hf.batching import pass_shape

    sh = pass_shape(stats)
    if sh["mean_rows_per_pass"] is None:
        rep(f"  passes {name}: none run (not measured)")
        return
    rep(
        f"  passes {name}: {stats['forward_passes']} forward passes ({stats['prefix_passes']} "
        f"prefix, {stats['continuation_passes']} continuation, {stats['full_passes']} full); "
        f"rows/pass mean {sh['mean_rows_per_pass']:.1f} max {sh['max_rows_per_pass']}; "
        f"tokens/pass mean {sh['mean_tokens_per_pass']:.0f} max {sh['max_tokens_per_pass']}"
    )


def tokenisation_line(rep: Report, rm: Any, work: Workload) -> None:
    """Per-pair render + tokenise time of the whole workload, whole texts (every pair
    re-tokenises its prompt: the path before the prompt-head cache) against a cold
    prompt-head cache (the first pair of each prompt learns its head), interleaved rounds;
    the two must give identical inputs."""
    from rmx_widgets.core.reward_models.hf.encoding import InputEncoder

    def encoder(cache: int | None) -> Any:
        kw = {} if cache is None else {"prompt_cache": cache}
        return InputEncoder(rm.tokenizer, rm.architecture, "bench", rm._use_token_types, **kw)

    res = timed_rounds(
        {
            "whole": lambda: encoder(0).encode(work.prompts, work.responses, rm.max_length),
            "cached": lambda: encoder(None).encode(work.prompts, work.responses, rm.max_length),
        },
        REPEATS,
    )
    assert res["whole"].result == res["cached"].result, "prompt-head cache changed the inputs"
    n = len(work.prompts)
    w, c = res["whole"], res["cached"]
    rep(
        f"  tokenisation (render + tokenise, {n} pairs, {work.comparisons} prompts, cold cache):"
        f" whole texts {w.seconds / n * 1e6:.0f} us/pair ({w.spread}), prompt-head cache "
        f"{c.seconds / n * 1e6:.0f} us/pair ({c.spread}): {w.seconds / c.seconds:.1f}x; "
        "identical input ids"
    )


def machine(rep: Report) -> None:
    import torch
    import transformers
    from machine import cpu_name

    cpu = cpu_name()
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    rep(
        f"machine: {cpu}; {os.cpu_count()} logical cores; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads used); transformers {transformers.__version__}; "
        f"python {platform.python_version()}"
    )
    rep(f"load average at start (1/5/15 min): {' / '.join(f'{x:.2f}' for x in load)}")


# --------------------------------------------------------------------------- CPU bench
def bench_decoder(
    rep: Report, path: Path, work: Workload, subset: int, noshare_comps: int, tol: float
) -> None:
    from rmx_widgets.core.reward_models.hf import HFRewardModel

    rm = HFRewardModel(path, device="cpu")
    n = len(work.prompts)
    enc = rm._encode(work.prompts, work.responses)
    lengths = [len(e.input_ids) for e in enc]
    real = sum(lengths)
    p_lens = sorted({id(p): e.prompt_len for p, e in zip(work.prompts, enc)}.values())
    rep(
        f"\n== decoder RM (Llama, {rm.model.config.num_hidden_layers} layers, hidden "
        f"{rm.model.config.hidden_size}, {sum(x.numel() for x in rm.model.parameters()):,} params,"
        f" fp32, attn={rm.attn_implementation})"
    )
    rep(
        f"  workload: {work.comparisons} comparisons x ({N_ATTRIBUTES} attributes x 2 sides + 2 "
        f"originals) = {n} pairs, {real:,} real tokens; prompt tokens median "
        f"{p_lens[len(p_lens) // 2]}, max {p_lens[-1]}; full input median "
        f"{sorted(lengths)[n // 2]}, max {max(lengths)}"
    )

    rm.score(work.prompts[:64], work.responses[:64])  # warm-up (allocator, kernels)
    ours_rm = HFRewardModel(path, device="cpu")

    def run_ours() -> list[float]:
        ours_rm.stats = dict.fromkeys(ours_rm.stats, 0)
        return ours_rm.score(work.prompts, work.responses)

    idx = whole_comparisons_sample(n, subset, seed=7)
    sp, sr = [work.prompts[i] for i in idx], [work.responses[i] for i in idx]
    sub_real = sum(lengths[i] for i in idx)

    # Without sharing: ours-noshare vs the packed forward, on the first comparisons.
    m = min(n, noshare_comps * (2 + 2 * N_ATTRIBUTES))
    ns_rm = HFRewardModel(path, device="cpu", prefix_sharing=False)

    def run_ns() -> list[float]:
        ns_rm.stats = dict.fromkeys(ns_rm.stats, 0)
        return ns_rm.score(work.prompts[:m], work.responses[:m])

    packed_runs: list[tuple[float, int]] = []  # its own clock: tensors are built before it starts
    res = timed_rounds(
        {
            "ours": run_ours,
            "naive": lambda: naive_scores(rm, sp, sr),
            "batch16": lambda: batch16_scores(rm, sp, sr),
            "ours-noshare": run_ns,
            "packed": lambda: packed_runs.append(
                packed_forward_seconds(rm, lengths[:m], ns_rm.token_budget, ns_rm.max_batch_size)
            ),
        },
        REPEATS,
    )
    t_ours, ours = res["ours"].seconds, res["ours"].result
    t_naive, (naive, naive_tok) = res["naive"].seconds, res["naive"].result
    t_b16, (b16, b16_tok) = res["batch16"].seconds, res["batch16"].result
    t_ns, ns = res["ours-noshare"].seconds, res["ours-noshare"].result
    t_packed, packed_tok = _median_run(packed_runs)
    st = ours_rm.stats
    rep(
        f"  ours: token budget {ours_rm.token_budget}, {st['prefix_groups']} prompt groups "
        f"shared, {st['prefix_fallbacks']} fell back, {st['prefix_tokens_saved']:,} prefix "
        f"tokens not recomputed, {st['forward_passes']} forward passes"
    )
    pass_line(rep, "ours", st)
    pass_line(rep, "ours-noshare", ns_rm.stats)
    tokenisation_line(rep, ours_rm, work)
    kv_sharing_lines(rep, path, work.prompts, work.responses, pass_line, REPEATS, tol)
    ns_real = sum(lengths[:m])

    rep(
        f"  -- all {n} pairs (ours) / {len(idx)} pairs of randomly drawn whole comparisons in "
        "data order (naive, batch16; per-pair rate extrapolated to the workload)"
    )
    r_ours = _row(
        rep,
        "ours",
        n,
        t_ours,
        real,
        st["tokens_processed"],
        f"{t_ours:.1f} s ({res['ours'].spread})",
    )
    r_naive = _row(
        rep,
        "naive",
        len(idx),
        t_naive,
        sub_real,
        naive_tok,
        f"subset {t_naive:.1f} s -> ~{t_naive * n / len(idx):.0f} s for all "
        f"({res['naive'].spread})",
    )
    r_b16 = _row(
        rep,
        "batch16",
        len(idx),
        t_b16,
        sub_real,
        b16_tok,
        f"subset {t_b16:.1f} s -> ~{t_b16 * n / len(idx):.0f} s for all ({res['batch16'].spread})",
    )
    rep(f"  -- without prefix sharing: first {m} pairs ({m // (2 + 2 * N_ATTRIBUTES)} comparisons)")
    r_ns = _row(
        rep,
        "ours-noshare",
        m,
        t_ns,
        ns_real,
        ns_rm.stats["tokens_processed"],
        f"{t_ns:.1f} s ({res['ours-noshare'].spread})",
    )
    r_packed = _row(rep, "packed", m, t_packed, ns_real, packed_tok, f"{t_packed:.1f} s")
    _check(rep, "naive", naive, [ours[i] for i in idx], tol)
    _check(rep, "batch16", b16, [ours[i] for i in idx], tol)
    _check(rep, "ours-noshare", ns, ours[:m], tol)
    rep(
        f"  RATIOS decoder: ours/naive = {r_ours / r_naive:.1f}x   ours/batch16 = "
        f"{r_ours / r_b16:.1f}x   ours-noshare/packed = {r_ns / r_packed:.2f}   "
        f"ours/ours-noshare = {r_ours / r_ns:.1f}x   (real tok/s)"
    )
    rep(
        f"  work: ours runs {st['tokens_processed'] / real:.2f} of the real tokens, so on a CPU "
        f"(same cost per token at any batch size) ours/naive is bounded by about "
        f"{real / st['tokens_processed']:.1f}x; load now "
        f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def bench_encoder(
    rep: Report, path: Path, work: Workload, subset: int, comps: int, tol: float
) -> None:
    from rmx_widgets.core.reward_models.hf import HFRewardModel

    m = min(len(work.prompts), comps * (2 + 2 * N_ATTRIBUTES))
    prompts, responses = work.prompts[:m], work.responses[:m]
    rm = HFRewardModel(path, device="cpu")
    enc = rm._encode(prompts, responses)
    lengths = [len(e.input_ids) for e in enc]
    real = sum(lengths)
    rep(
        f"\n== encoder RM (DeBERTa-v2, {rm.model.config.num_hidden_layers} layers, hidden "
        f"{rm.model.config.hidden_size}, {sum(x.numel() for x in rm.model.parameters()):,} "
        f"params, fp32, attn={rm.attn_implementation}; text pairs, no prefix sharing)"
    )
    rep(
        f"  workload: first {comps} comparisons = {m} pairs, {real:,} real tokens, "
        f"{sum(e.truncated for e in enc)} truncated"
    )
    rm.score(prompts[:32], responses[:32])  # warm-up
    ours_rm = HFRewardModel(path, device="cpu")

    def run_ours() -> list[float]:
        ours_rm.stats = dict.fromkeys(ours_rm.stats, 0)
        return ours_rm.score(prompts, responses)

    idx = whole_comparisons_sample(m, subset, seed=8)
    sp, sr = [prompts[i] for i in idx], [responses[i] for i in idx]
    sub_real = sum(lengths[i] for i in idx)
    packed_runs: list[tuple[float, int]] = []
    res = timed_rounds(
        {
            "ours": run_ours,
            "naive": lambda: naive_scores(rm, sp, sr),
            "batch16": lambda: batch16_scores(rm, sp, sr),
            "packed": lambda: packed_runs.append(
                packed_forward_seconds(rm, lengths, ours_rm.token_budget, ours_rm.max_batch_size)
            ),
        },
        REPEATS,
    )
    t_ours, ours = res["ours"].seconds, res["ours"].result
    t_naive, (naive, naive_tok) = res["naive"].seconds, res["naive"].result
    t_b16, (b16, b16_tok) = res["batch16"].seconds, res["batch16"].result
    t_packed, packed_tok = _median_run(packed_runs)
    rep(
        f"  ours: token budget {ours_rm.token_budget}, {ours_rm.stats['forward_passes']} "
        "forward passes"
    )
    pass_line(rep, "ours", ours_rm.stats)
    rep(
        f"  -- {m} pairs (ours, packed) / {len(idx)} pairs of randomly drawn whole comparisons "
        "in data order (naive, batch16; per-pair rate extrapolated)"
    )
    r_ours = _row(
        rep,
        "ours",
        m,
        t_ours,
        real,
        ours_rm.stats["tokens_processed"],
        f"{t_ours:.1f} s ({res['ours'].spread})",
    )
    r_naive = _row(
        rep,
        "naive",
        len(idx),
        t_naive,
        sub_real,
        naive_tok,
        f"subset {t_naive:.1f} s ({res['naive'].spread})",
    )
    r_b16 = _row(
        rep,
        "batch16",
        len(idx),
        t_b16,
        sub_real,
        b16_tok,
        f"subset {t_b16:.1f} s ({res['batch16'].spread})",
    )
    r_packed = _row(rep, "packed", m, t_packed, real, packed_tok, f"{t_packed:.1f} s")
    _check(rep, "naive", naive, [ours[i] for i in idx], tol)
    _check(rep, "batch16", b16, [ours[i] for i in idx], tol)
    rep(
        f"  RATIOS encoder: ours/naive = {r_ours / r_naive:.1f}x   ours/batch16 = "
        f"{r_ours / r_b16:.1f}x   ours/packed = {r_ours / r_packed:.2f}   (real tok/s)"
    )


def bench_dtype(
    rep: Report, path: Path, label: str, prompts: list[Any], responses: list[str]
) -> None:
    """HFRewardModel.score in bf16 against fp32 on the CPU, same model and inputs, interleaved
    rounds: the speed ratio (bf16 matrix units, e.g. AMX, make the difference) and the reward
    error relative to the reward spread (the standard deviation of the fp32 rewards over the
    workload), since a reward is only ever read against other rewards."""
    import torch

    from rmx_widgets.core.reward_models.hf import HFRewardModel

    fp32 = HFRewardModel(path, device="cpu")
    bf16 = HFRewardModel(path, device="cpu", dtype="bf16")
    assert bf16.dtype == torch.bfloat16 and fp32.dtype == torch.float32
    for rm in (fp32, bf16):
        rm.score(prompts[:32], responses[:32])  # warm-up
    res = timed_rounds(
        {
            "fp32": lambda: fp32.score(prompts, responses),
            "bf16": lambda: bf16.score(prompts, responses),
        },
        REPEATS,
    )
    ref, got = res["fp32"].result, res["bf16"].result
    spread = statistics.pstdev(ref)
    errors = sorted(abs(a - b) for a, b in zip(got, ref))
    n = len(ref)
    rep(
        f"\n== {label}: {n} pairs; prefix sharing fp32 {fp32.prefix_sharing}, bf16 "
        f"{bf16.prefix_sharing}"
    )
    rep(f"  fp32 {res['fp32'].seconds:.2f} s ({res['fp32'].spread})")
    rep(f"  bf16 {res['bf16'].seconds:.2f} s ({res['bf16'].spread})")
    rep(
        f"  RATIO {label}: bf16/fp32 speed = {res['fp32'].seconds / res['bf16'].seconds:.2f}x; "
        f"|bf16 - fp32| max {errors[-1]:.4f}, median {statistics.median(errors):.4f} = "
        f"{errors[-1] / spread:.2%} / {statistics.median(errors) / spread:.2%} of the reward "
        f"spread (sd of the fp32 rewards {spread:.4f}, n={n})"
    )


def run_cpu_dtype(args: argparse.Namespace) -> Report:
    """``--dtype bf16``: bf16 vs fp32 for the decoder and encoder RMs on the quick or full
    workload (the other methods are the fp32 bench's)."""
    import subprocess

    import torch

    from bench.models import build_decoder_rm, build_encoder_rm

    torch.set_num_threads(args.threads)
    rep = Report()
    rep(
        f"bench/scoring.py --dtype bf16 {'--quick' if args.quick else '(full)'}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    machine(rep)
    flags = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    amx = sorted({w for w in flags.split() if w.startswith("amx")})
    rep(f"bf16 matrix units: {', '.join(amx) if amx else 'no AMX flags in lscpu'}")
    comps = 12 if args.quick else 60
    with tempfile.TemporaryDirectory() as tmp:
        from transformers import AutoTokenizer

        dec = build_decoder_rm(Path(tmp) / "dec")
        enc = build_encoder_rm(Path(tmp) / "enc")
        work = make_workload(comps, AutoTokenizer.from_pretrained(dec), seed=args.seed)
        bench_dtype(rep, dec, "decoder RM (Llama 4x256)", work.prompts, work.responses)
        m = (4 if args.quick else 12) * (2 + 2 * N_ATTRIBUTES)
        bench_dtype(rep, enc, "encoder RM (DeBERTa-v2)", work.prompts[:m], work.responses[:m])
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    rep(f"\nload average at end (1/5/15 min): {' / '.join(f'{x:.2f}' for x in load)}")
    return rep


def run_cpu(args: argparse.Namespace) -> Report:
    import torch

    from bench.models import build_decoder_rm, build_encoder_rm

    torch.set_num_threads(args.threads)
    rep = Report()
    rep(
        f"bench/scoring.py {'--quick' if args.quick else '(full)'}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    machine(rep)
    comps = 12 if args.quick else 200
    subset = 40 if args.quick else 300
    noshare = 6 if args.quick else 20
    enc_comps = 4 if args.quick else 12
    with tempfile.TemporaryDirectory() as tmp:
        from transformers import AutoTokenizer

        dec = build_decoder_rm(Path(tmp) / "dec")
        enc = build_encoder_rm(Path(tmp) / "enc")
        # Both RMs use the same BPE tokenizer (same corpus and seed): lengths are in its tokens.
        work = make_workload(comps, AutoTokenizer.from_pretrained(dec), seed=args.seed)
        bench_decoder(rep, dec, work, subset, noshare, args.tol)
        bench_encoder(rep, enc, work, subset // 2, enc_comps, args.tol)
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    rep(
        f"\nload average at end (1/5/15 min): {' / '.join(f'{x:.2f}' for x in load)} "
        "(other processes share these cores; ratios are measured within one run)"
    )
    return rep


# --------------------------------------------------------------------------- CUDA bench
def run_cuda(args: argparse.Namespace) -> Report:
    import torch

    from bench.models import build_llama8b_rm
    from rmx_widgets.core.reward_models.hf import HFRewardModel

    rep = Report()
    if not torch.cuda.is_available():
        rep(
            f"skipped: --device cuda needs a CUDA GPU (and vLLM for the side by side); torch "
            f"{torch.__version__} sees none here. Run the CPU bench without --device."
        )
        return rep
    rep(f"bench/scoring.py --device cuda --model {args.model}; {time.strftime('%Y-%m-%d %H:%M')}")
    rep(
        f"gpu: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; "
        f"peak dense bf16 = {args.peak_tflops:g} TFLOP/s (--peak-tflops)"
    )
    comps = 20 if args.quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        model = build_llama8b_rm(Path(tmp) / "llama8b", device="cuda")
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(Path(tmp) / "llama8b")
        work = make_workload(comps, tok, seed=args.seed)
        cfg = model.config
        params = sum(p.numel() for p in model.parameters())
        rep(
            f"model: Llama {cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, "
            f"{params / 1e9:.2f} B params, bf16, random weights"
        )
        hf: tuple[list[float], float] | None = None
        for sharing in (True, False):
            rm = HFRewardModel.from_model(
                model,
                tok,
                name=f"llama8b-random-{sharing}",
                token_budget=args.token_budget,
                prefix_sharing=sharing,
            )
            rep(f"  attention: {rm.attn_implementation}; prefix sharing: {rm.prefix_sharing}")
            rm.score(work.prompts[:64], work.responses[:64])  # warm-up
            rm.stats = dict.fromkeys(rm.stats, 0)
            torch.cuda.synchronize()
            t = time.perf_counter()
            scores = rm.score(work.prompts, work.responses)
            torch.cuda.synchronize()
            secs = time.perf_counter() - t
            hf = hf or (scores, secs)  # the prefix-sharing run, for the vLLM side by side
            enc = rm._encode(work.prompts, work.responses)
            real = sum(len(e.input_ids) for e in enc)
            processed = rm.stats["tokens_processed"]
            # Useful work = what a full-sequence forward of the real tokens costs.
            layers, hidden = cfg.num_hidden_layers, cfg.hidden_size
            flops_real = sum(
                2 * params * len(e.input_ids) + 2 * layers * hidden * len(e.input_ids) ** 2
                for e in enc
            )
            rep(
                f"  {len(enc)} pairs, {real:,} real tokens, {processed:,} processed, "
                f"{secs:.1f} s: {len(enc) / secs:.1f} pairs/s, {real / secs:,.0f} real tok/s, "
                f"{processed / secs:,.0f} processed tok/s"
            )
            pass_line(rep, f"sharing={sharing}", rm.stats)
            rep(
                f"  effective TFLOP/s (full-sequence FLOPs of the real tokens / time) = "
                f"{flops_real / secs / 1e12:.1f}; "
                f"MFU = {flops_real / secs / 1e12 / args.peak_tflops:.1%}"
                + (
                    "  (above the hardware bound is possible: prefix sharing skips work)"
                    if sharing
                    else ""
                )
            )
        assert hf is not None
        vllm_side_by_side(rep, model, Path(tmp) / "llama8b", work, *hf)
    return rep


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small workload (about a minute)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument(
        "--model",
        choices=("small", "llama8b"),
        help="small: the random 4-layer RMs (CPU, default); llama8b: 8B random RM (CUDA, default)",
    )
    ap.add_argument(
        "--peak-tflops",
        type=float,
        default=989.0,
        help="dense bf16 peak of the GPU for MFU (H100 SXM: 989)",
    )
    ap.add_argument("--token-budget", type=int, default=32768)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--dtype",
        default="fp32",
        choices=("fp32", "bf16"),
        help="CPU only: bf16 times HFRewardModel in bf16 against fp32 (speed and reward error)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-3, help="max abs reward diff allowed")
    ap.add_argument("--out", type=Path, help="also write the printed report to this file")
    args = ap.parse_args(argv)
    args.model = args.model or ("llama8b" if args.device == "cuda" else "small")
    if (args.device == "cuda") != (args.model == "llama8b"):
        ap.error("use --device cuda with --model llama8b, and the small models on the CPU")
    if args.device == "cuda":
        rep = run_cuda(args)
    else:
        rep = run_cpu_dtype(args) if args.dtype == "bf16" else run_cpu(args)
    if args.out and not rep.lines[0].startswith("skipped:"):  # never overwrite results
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(rep.lines) + "\n")


if __name__ == "__main__":
    main()
