"""Host-side costs of an offline run (issue 16): the old code path against the new, per row.

An offline run (transparent RM, rule perturber, ``HashingEmbedder``) spends its time in Python:
hashing words for the semantic distance, parsing markdown, counting phrases. The library now
hashes each distinct feature once, embeds a repeated text once per call, remembers the parse of
the last texts and compiles the phrase lists as a trie. The old code is kept here, and only
here, as the BASELINE (copied from the commit before the change, a5654aa), so both run side by
side in one process on the same inputs, and every output is checked equal:

* embedder: ``semantic_distances`` over each batch's (original, rewrite) pairs, the Explainer's
  call; vectors bit-for-bit equal. Twice: on the run's texts (the bundled comparisons copied,
  so words repeat as in a real corpus) and on texts of random words (every word new: the worst
  case for the feature cache);
* rule perturber: ``perturb_batch`` on the run's rewrite requests; texts and failures equal;
* transparent RM: ``score`` on the run's rewrites; scores exactly equal;
* a whole ``Explainer.explain`` (store=None) on N comparisons (1,000; 10,000 with ``--full``),
  nine rule attributes; tables equal.

Timings are medians of interleaved rounds (old, new; then new, old; ...) with their min-max
spread, so a change of load from the other processes on a shared machine hits both alike.
Each new-path round starts with its caches cleared, as a fresh process would.
SQLite costs (one transaction per streamed row) are not part of this bench.

Run: python bench/hostside.py [--quick] [--full] [--rounds 5] [--out FILE]
     python bench/hostside.py --whole-only --sizes 10000 --rounds 3   (the 10 k run alone)
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import random
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_name

import rmx_widgets as rmx
from rmx_widgets.core import hashing, metrics
from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.edit_distance import TOKEN
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.rules import (
    SUPPORTED_ATTRIBUTES,
    assertiveness,
    avoid_to_answer,
    correctness,
    perturber,
)
from rmx_widgets.core.reward_models import transparent
from rmx_widgets.core.text import arithmetic, markdown, phrases, words
from rmx_widgets.core.text.wordlists import (
    FOLLOW_UPS,
    HEDGES,
    PLEASANTRIES,
    PLEASANTRY_INTERJECTIONS,
    REFUSALS,
)

# ============================================================================================
# BASELINE: the old code, copied from commit a5654aa for this comparison only. Not used by the
# library; ``baseline()`` swaps it in where the library looks the functions up.
# ============================================================================================


class BaselineHashingEmbedder:
    """The old ``metrics.HashingEmbedder``: one blake2b per feature occurrence, one Python
    ``+=`` per feature, every text embedded however often it occurs."""

    def __init__(self, dim: int = 1024) -> None:
        self.dim = dim

    def _index(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return (value >> 1) % self.dim, (1.0 if value & 1 else -1.0)

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        for i, text in enumerate(texts):
            ws = [w.lower() for w in TOKEN.findall(text) if w[0].isalnum() or w[0] == "_"]
            features = ws + [f"{u} {v}" for u, v in itertools.pairwise(ws)]
            for feature in features:
                j, sign = self._index(feature)
                out[i, j] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


def baseline_phrase_regex(phrases_: Any) -> re.Pattern[str]:
    """The old flat longest-first alternation of every phrase."""
    alts = []
    for p in sorted(set(phrases_), key=len, reverse=True):
        esc = re.escape(p).replace("'", "['’]").replace(r"\ ", r"\s+")
        alts.append(esc)
    return re.compile(r"(?<![\w'’])(?:" + "|".join(alts) + r")(?![\w'’])", re.IGNORECASE)


def baseline_mask_inline_code(s: str) -> str:
    return markdown._replace_spans(s, markdown.inline_code_spans(s), lambda a, b: "x" * (b - a))


def baseline_parse(text: str) -> markdown.Doc:
    """The old ``parse``: the (unchanged) piece scanner run on every call."""
    pieces = markdown._pieces(text)
    if not pieces:
        return markdown.Doc(prefix=text)
    doc = markdown.Doc(prefix=text[: pieces[0][0]], trailing=text[pieces[-1][1] :])
    for n, (s, e, kind, marker) in enumerate(pieces):
        sep = text[e : pieces[n + 1][0]] if n + 1 < len(pieces) else ""
        raw = text[s:e]
        doc.units.append(markdown.Unit(kind, raw[len(marker) :], sep, marker))
    return doc


def baseline_strip_code(text: str) -> str:
    doc = baseline_parse(text)
    return "\n".join(u.text for u in doc.units if u.kind != "code")


_BASELINE_REGEXES: dict[tuple[str, ...], re.Pattern[str]] = {}


def baseline_count_phrases(text: str, phrases_: Any) -> int:
    key = tuple(phrases_)
    if key not in _BASELINE_REGEXES:  # the old code had an lru_cache here too
        _BASELINE_REGEXES[key] = baseline_phrase_regex(key)
    return len(_BASELINE_REGEXES[key].findall(baseline_strip_code(text)))


def baseline_find_arithmetic(text: str) -> list[arithmetic.ArithmeticStatement]:
    doc = baseline_parse(text)
    chars = list(baseline_mask_inline_code(text))
    pos = len(doc.prefix)
    for u in doc.units:
        if u.kind == "code":
            chars[pos : pos + len(u.text)] = "x" * len(u.text)
        pos += len(u.text) + len(u.sep)
    return [
        arithmetic.ArithmeticStatement(
            st.start,
            st.end,
            text[st.start : st.end],
            st.stated,
            st.actual,
            st.result_start,
            st.result_text,
        )
        for st in arithmetic.equations("".join(chars))
    ]


def baseline_correctness_worse(doc: markdown.Doc, ctx: Any) -> Any:
    """The old ``correctness_worse``: every fact regex run on every unit, each unit masked
    again for every fact."""
    editable = [i for i, u in enumerate(doc.units) if u.editable]

    def masked(i: int) -> str:
        return markdown.mask_inline_code(doc.units[i].body)

    eqs = [(i, st) for i in editable for st in arithmetic.equations(masked(i))]
    if eqs:
        i, st = eqs[ctx.rng.randrange(len(eqs))]
        body = doc.units[i].body
        end = st.result_start + len(st.result_text)
        corrupt = correctness._corrupt_number(st.result_text)
        doc.units[i].body = body[: st.result_start] + corrupt + body[end:]
        return correctness.done(doc)
    patterns = [(pat, wrong) for pat, _, wrong in correctness._FACT_PATTERNS]
    swaps = [(pat, wrong) for pat, wrong in patterns if wrong not in ctx.response]
    facts = [
        (i, m, wrong) for i in editable for pat, wrong in swaps for m in pat.finditer(masked(i))
    ]
    if facts:
        i, m, wrong = facts[ctx.rng.randrange(len(facts))]
        body = doc.units[i].body
        doc.units[i].body = body[: m.start()] + wrong + body[m.end() :]
        return correctness.done(doc)
    nums = [(i, m) for i in editable for m in correctness._NUMBER.finditer(masked(i))]
    if nums:
        i, m = nums[ctx.rng.randrange(len(nums))]
        body = doc.units[i].body
        corrupt = correctness._corrupt_number(m.group(0))
        doc.units[i].body = body[: m.start()] + corrupt + body[m.end() :]
        return correctness.done(doc)
    return correctness.PerturbationResult.failed(
        "no arithmetic, known facts or numbers outside code to make incorrect",
        correctness.FailureKind.NOT_APPLICABLE,
    )


def _baseline_patches() -> list[tuple[Any, str, Any]]:
    """(module, name, old value) for every place the library looks a changed function up."""
    old_hedge = baseline_phrase_regex(HEDGES)
    old_refusal = baseline_phrase_regex(REFUSALS)
    baseline_correctness = {**perturber._RULES["correctness"], "worse": baseline_correctness_worse}
    return [
        (markdown, "parse", baseline_parse),
        (markdown, "strip_code", baseline_strip_code),
        (markdown, "mask_inline_code", baseline_mask_inline_code),
        (words, "mask_inline_code", baseline_mask_inline_code),
        (correctness, "mask_inline_code", baseline_mask_inline_code),
        (perturber, "parse", baseline_parse),
        (phrases, "strip_code", baseline_strip_code),
        (phrases, "count_phrases", baseline_count_phrases),
        (phrases, "HEDGE_RE", old_hedge),
        (phrases, "REFUSAL_RE", old_refusal),
        (phrases, "PLEASANTRY_RE", baseline_phrase_regex(PLEASANTRIES)),
        (phrases, "_INTERJECTION_RE", baseline_phrase_regex(PLEASANTRY_INTERJECTIONS)),
        (phrases, "_FOLLOW_UP_RE", baseline_phrase_regex(FOLLOW_UPS)),
        (assertiveness, "HEDGE_RE", old_hedge),
        (avoid_to_answer, "REFUSAL_RE", old_refusal),
        (transparent, "count_phrases", baseline_count_phrases),
        (transparent, "find_arithmetic", baseline_find_arithmetic),
        (arithmetic, "find_arithmetic", baseline_find_arithmetic),
        (perturber, "_RULES", {**perturber._RULES, "correctness": baseline_correctness}),
    ]


def _cache_hits() -> int:
    """Hits of the new code's caches: must not move while the baseline runs."""
    return markdown._remembered_pieces.cache_info().hits + hashing.feature_hash.cache_info().hits


@contextmanager
def baseline() -> Iterator[None]:
    """Run the library with the BASELINE functions swapped in (restored afterwards)."""
    patches = _baseline_patches()
    saved = [(m, name, getattr(m, name)) for m, name, _ in patches]
    for m, name, old in patches:
        setattr(m, name, old)
    hits = _cache_hits()
    try:
        yield
    finally:
        for m, name, new in saved:
            setattr(m, name, new)
    assert _cache_hits() == hits, "the baseline used a new cache: a patch is missing"


def clear_new_caches() -> None:
    """What a fresh process starts with (the compiled phrase regexes are kept: the old code
    cached those too)."""
    markdown._remembered_pieces.cache_clear()
    hashing.feature_hash.cache_clear()


# ============================================================================================
# Workload and timing
# ============================================================================================


def comparisons(n: int) -> list[Comparison]:
    """``n`` comparisons cycled from the bundled ones with distinct ids and texts (as in
    bench/scaling.py), so nothing is served from the store."""
    base = rmx.sample_comparisons()

    def tagged(prompt: Any, i: int) -> Any:
        if isinstance(prompt, str):
            return f"[{i}] " + prompt
        return [*prompt[:-1], {"role": "user", "content": f"[{i}] " + prompt[-1]["content"]}]

    return [
        Comparison(
            id=f"{c.id}-{i}",
            prompt=tagged(c.prompt, i),
            response_a=c.response_a + f" (v{i})",
            response_b=c.response_b + f" (v{i})",
        )
        for i, c in ((i, base[i % len(base)]) for i in range(n))
    ]


def explain(comps: list[Comparison], old: bool) -> pd.DataFrame:
    embedder = BaselineHashingEmbedder() if old else metrics.HashingEmbedder()
    ex = rmx.Explainer(
        rmx.TransparentRewardModel(),
        rmx.RulePerturber(),
        attributes=list(SUPPORTED_ATTRIBUTES),
        store=None,
        progress=False,
        embedder=embedder,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ex.explain(comps).table


def chunks(items: list[Any], size: int = 64) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def random_word_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Originals of ~40 random 3-9 letter words (almost every word new) and rewrites that
    change a few words, one original per 18 rewrites as in a run."""
    rng = random.Random(seed)

    def word() -> str:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))

    originals, rewrites = [], []
    for _ in range(max(1, n // 18)):
        text = [word() for _ in range(40)]
        for _ in range(18):
            edit = list(text)
            for _ in range(3):
                edit[rng.randrange(len(edit))] = word()
            originals.append(" ".join(text) + ".")
            rewrites.append(" ".join(edit) + ".")
    return originals, rewrites


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleaved(
    old: Callable[[], Any], new: Callable[[], Any], rounds: int, check: Callable[[Any, Any], None]
) -> tuple[list[float], list[float]]:
    """Seconds per round of each; odd rounds run old first, even rounds new first."""
    t_old, t_new = [], []
    for r in range(rounds):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        outs = {}
        for which in order:
            if which == "old":
                with baseline():
                    dt, outs["old"] = timed(old)
                t_old.append(dt)
            else:
                clear_new_caches()
                dt, outs["new"] = timed(new)
                t_new.append(dt)
        check(outs["old"], outs["new"])
    return t_old, t_new


def line(name: str, unit: str, n: int, t_old: list[float], t_new: list[float]) -> str:
    us_old = [1e6 * t / n for t in t_old]
    us_new = [1e6 * t / n for t in t_new]
    m_old, m_new = statistics.median(us_old), statistics.median(us_new)
    ratios = [a / b for a, b in zip(us_old, us_new)]
    return (
        f"{name:<30} {n:>7} {unit:<8} old {m_old:>8.1f} us [{min(us_old):.1f}-{max(us_old):.1f}]"
        f"   new {m_new:>8.1f} us [{min(us_new):.1f}-{max(us_new):.1f}]"
        f"   old/new {m_old / m_new:>5.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"
    )


def _equal_arrays(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape and a.tobytes() == b.tobytes(), "embeddings differ"


def _equal(a: Any, b: Any) -> None:
    assert a == b, "outputs differ"


def _equal_tables(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b)


def components(table: pd.DataFrame, rounds: int) -> list[str]:
    """The embedder, the rule perturber and the RM alone, on the rows of one run."""
    rows = table[["prompt", "original", "perturbed", "attribute", "direction"]]
    ok = rows[rows["perturbed"].notna()]
    pairs = chunks(list(zip(ok["original"], ok["perturbed"])))
    out = []

    def embed(embedder_cls: type) -> Callable[[], list[np.ndarray]]:
        def run() -> list[np.ndarray]:
            e = embedder_cls()
            return [metrics._embed([o for o, _ in c] + [p for _, p in c], e) for c in pairs]

        return run

    t_old, t_new = interleaved(
        embed(BaselineHashingEmbedder),
        embed(metrics.HashingEmbedder),
        rounds,
        lambda a, b: [_equal_arrays(x, y) for x, y in zip(a, b, strict=True)],
    )
    out.append(line("embedder (run's texts)", "rows", len(ok), t_old, t_new))
    out.append(line("  same, per text embedded", "texts", 2 * len(ok), t_old, t_new))
    o, p = random_word_pairs(len(ok))
    fresh = chunks(list(zip(o, p)))

    def embed_fresh(embedder_cls: type) -> Callable[[], list[np.ndarray]]:
        def run() -> list[np.ndarray]:
            e = embedder_cls()
            return [metrics._embed([a for a, _ in c] + [b for _, b in c], e) for c in fresh]

        return run

    t_old, t_new = interleaved(
        embed_fresh(BaselineHashingEmbedder),
        embed_fresh(metrics.HashingEmbedder),
        rounds,
        lambda a, b: [_equal_arrays(x, y) for x, y in zip(a, b, strict=True)],
    )
    out.append(line("embedder (random words)", "rows", len(o), t_old, t_new))

    requests = [
        PerturbationRequest(pr, orig, get_attribute(att), d)
        for pr, orig, att, d in zip(
            rows["prompt"], rows["original"], rows["attribute"], rows["direction"]
        )
    ]
    rules = rmx.RulePerturber()

    def perturb() -> list[tuple[Any, ...]]:
        results = [r for c in chunks(requests) for r in rules.perturb_batch(c)]
        return [(r.text, r.failure, r.kind) for r in results]

    t_old, t_new = interleaved(perturb, perturb, rounds, _equal)
    out.append(line("rule perturber", "requests", len(requests), t_old, t_new))

    rm = rmx.TransparentRewardModel()
    scored = chunks(list(zip(ok["prompt"], ok["perturbed"])))

    def score() -> list[float]:
        return [s for c in scored for s in rm.score([a for a, _ in c], [b for _, b in c])]

    t_old, t_new = interleaved(score, score, rounds, _equal)
    out.append(line("transparent RM", "rewrites", len(ok), t_old, t_new))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 comparisons, 3 rounds")
    ap.add_argument("--full", action="store_true", help="also a whole run of 10,000")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5)")
    ap.add_argument("--out", default=None, help="also write the report to this file")
    ap.add_argument("--sizes", default=None, help="whole-run sizes, e.g. 10000 (overrides)")
    ap.add_argument("--whole-only", action="store_true", help="skip the component timings")
    args = ap.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 5)
    sizes = [200] if args.quick else [1000] + ([10000] if args.full else [])
    if args.sizes:
        sizes = [int(n) for n in args.sizes.split(",")]
    lines = [
        f"bench/hostside.py  {time.strftime('%Y-%m-%d %H:%M')}  {cpu_name()}, "
        f"{os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.2f}",
        "The machine is shared with other processes: figures are medians of interleaved "
        f"rounds ({rounds}) with [min-max]; per row = per explanation-table row.",
        "",
    ]
    print("\n".join(lines), flush=True)
    if not args.whole_only:
        table = explain(comparisons(200 if args.quick else 1000), old=False)
        for text in components(table, rounds):
            print(text, flush=True)
            lines.append(text)
    for n in sizes:
        comps = comparisons(n)
        r = rounds if n <= 1000 else min(rounds, 3)
        shape: list[int] = []
        t_old, t_new = interleaved(
            lambda c=comps: explain(c, old=True),
            lambda c=comps: explain(c, old=False),
            r,
            lambda a, b, rows=shape: _equal_tables(a, b) or rows.append(len(a)),
        )
        n_rows = shape[0]
        text = line(f"Explainer.explain, {n} comps", "rows", n_rows, t_old, t_new)
        text += f"   ({statistics.median(t_old):.1f} s vs {statistics.median(t_new):.1f} s)"
        print(text, flush=True)
        lines.append(text)
    lines += [
        "",
        "All outputs equal (embeddings bit for bit, rewrites, scores, tables). "
        f"Load average at the end {os.getloadavg()[0]:.2f}.",
        "Not covered: the store's one SQLite transaction per streamed row (issue 16).",
    ]
    print("\n".join(lines[-3:]))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
