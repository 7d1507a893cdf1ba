"""``rmx attributes discover``: ask an LLM which qualities distinguish the responses of your
comparisons and write the top k as an attributes file (``--attributes-file`` takes it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rmx_widgets.cli import options
from rmx_widgets.core.errors import PerturberError


def add_parsers(sub: Any) -> None:
    a = sub.add_parser("attributes", help="work with attribute lists (discover)")
    asub = a.add_subparsers(dest="attributes_command", metavar="{discover}", required=True)
    d = asub.add_parser(
        "discover",
        help="ask an LLM which qualities distinguish the two responses of each comparison and "
        "write the most often proposed as an attributes file",
    )
    d.add_argument("--data", required=True, help=".jsonl/.json/.csv/.parquet comparisons")
    d.add_argument(
        "--out", required=True, help="attributes file to write (JSON; --attributes-file reads it)"
    )
    d.add_argument(
        "--k", type=options.POSITIVE_INT, default=15, help="attributes to keep, >= 1 (default 15)"
    )
    d.add_argument(
        "--sample",
        type=options.POSITIVE_INT,
        default=None,
        help="ask about N comparisons drawn at random with --seed (default: all)",
    )
    d.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    options.add_llm_options(d)
    options.add_force_option(d)
    d.set_defaults(func=cmd_discover)


def cmd_discover(args: argparse.Namespace) -> None:
    from rmx_widgets.core.outputs import check_file, check_outputs, claim_outputs, write_text

    out = Path(args.out)
    check_outputs([args.data], [out])  # before reading: the data must survive
    if not args.model:
        raise PerturberError(
            "rmx attributes discover needs --model: the name the OpenAI-compatible server "
            "serves, e.g. gpt-4o (with --base-url for a local server)."
        )
    if args.backend not in (None, "openai"):
        raise PerturberError(
            "rmx attributes discover runs on an OpenAI-compatible server (--backend openai, "
            "e.g. vLLM or Ollama with --base-url); --backend hf is not supported."
        )
    from rmx_widgets.core.data import load_comparisons
    from rmx_widgets.core.discovery import discover_attributes
    from rmx_widgets.core.perturbers.openai import OpenAIPerturber

    check_file(out, force=args.force)  # a file rmx did not write: refused before any request
    comps = load_comparisons(args.data)
    llm = OpenAIPerturber(
        model=args.model,
        base_url=args.base_url,
        concurrency=args.concurrency,
        allow_insecure_http=args.allow_insecure_http,
    )
    result = discover_attributes(comps, llm, k=args.k, sample=args.sample, seed=args.seed)
    claim_outputs(out.parent, [out.name], force=args.force)  # reruns replace it without --force
    write_text(out, result.to_json())
    print(
        f"Asked about {result.n_asked} comparisons ({result.n_failed} unusable replies); "
        f"{len(result.counts)} distinct qualities proposed, kept {len(result.attributes)}:"
    )
    for row in result.counts[result.counts["selected"]].to_dict("records"):
        builtin = " (built-in)" if row["builtin"] else ""
        print(f"  {row['count']:>4}  {row['name']}{builtin}")
    print(f"Wrote {out}")
