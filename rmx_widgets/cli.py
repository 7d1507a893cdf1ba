"""The command-line face: ``rmx demo | explain | report``.

A thin layer over the engine: it parses arguments, builds the RM and perturber, runs the
Explainer and prints the sensitivity table. User mistakes (``RMXError``) print one readable
message and exit 2 — no traceback; Ctrl-C exits 130 and says the store keeps what landed.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from rmx_widgets.core.errors import RMXError


def _build_rm(args: argparse.Namespace) -> Any:
    if args.rm == "transparent":
        from rmx_widgets.core.reward_models.transparent import TransparentRewardModel

        return TransparentRewardModel()
    from rmx_widgets.core.reward_models.hf import HFRewardModel

    return HFRewardModel(args.rm, device=args.device, dtype=args.dtype,
                         max_length=args.max_length, trust_remote_code=args.trust_remote_code)


def _build_perturber(args: argparse.Namespace) -> Any:
    if args.perturber == "rules":
        from rmx_widgets.core.perturbers.rules import RulePerturber

        return RulePerturber()
    if not args.model:
        raise RMXError(f"--perturber {args.perturber} needs --model (e.g. gpt-4o, or a local "
                       "model path for hf).")
    if args.perturber == "openai":
        from rmx_widgets.core.perturbers.openai import OpenAIPerturber

        return OpenAIPerturber(model=args.model, base_url=args.base_url,
                               concurrency=args.concurrency)
    from rmx_widgets.core.perturbers.hf import HFPerturber

    return HFPerturber(args.model, device=args.device, trust_remote_code=args.trust_remote_code)


def _print_sensitivity(sens: Any) -> None:
    import pandas as pd

    pooled = sens[sens["direction"] == "both"]
    with pd.option_context("display.max_rows", 200, "display.width", 120,
                           "display.float_format", "{:.3f}".format):
        print("\nGlobal sensitivity (pooled over directions; PFR = preference flip rate)")
        print(pooled.drop(columns=["direction"]).to_string(index=False))


def _run(data: Any, rm: Any, perturber: Any, attributes: Any, out: Path, store: Path | None,
         batch_size: int, retry_failed: bool = False) -> None:
    from rmx_widgets.core.explain import Explainer

    explainer = Explainer(rm, perturber, attributes=attributes,
                          store=store or out / "store.sqlite", batch_size=batch_size)
    result = explainer.explain(data, retry_failed=retry_failed)
    s = result.summary()
    print(f"\n{s['comparisons']} comparisons ({s['ties']} ties), {s['rows']} new comparisons: "
          f"{s['cf']} CF, {s['sf']} SF, {s['failed']} failed; "
          f"{s['run_perturbations_computed']} rewrites and {s['run_scores_computed']} scores "
          f"computed, {s['run_perturbations_cached']} rewrites and {s['run_scores_cached']} "
          "scores from the store.")
    if result.stats.work_items == 0:
        raise RMXError("nothing to explain: every comparison is a tie for this RM.")
    _print_sensitivity(result.sensitivity())
    paths = result.save(out)
    print("\nWrote " + ", ".join(str(p) for p in paths.values()))


def cmd_demo(args: argparse.Namespace) -> None:
    from rmx_widgets.core.data import sample_comparisons
    from rmx_widgets.core.perturbers.rules import RulePerturber
    from rmx_widgets.core.reward_models.transparent import TransparentRewardModel

    perturber = RulePerturber()
    attributes = args.attributes or list(perturber.supported_attributes)
    print("rmx demo: the bundled sample comparisons, the transparent demo RM (a documented "
          "weighted sum of text features, not a learned model) and the offline rule perturber.")
    _run(sample_comparisons(), TransparentRewardModel(), perturber, attributes,
         Path(args.out), None, args.batch_size)


def cmd_explain(args: argparse.Namespace) -> None:
    from rmx_widgets.core.data import load_comparisons

    comps = load_comparisons(args.data)
    if args.limit:
        comps = comps[: args.limit]
    _run(comps, _build_rm(args), _build_perturber(args), args.attributes, Path(args.out),
         Path(args.store) if args.store else None, args.batch_size, args.retry_failed)


def cmd_report(args: argparse.Namespace) -> None:
    import pandas as pd

    from rmx_widgets.core.report import write_report

    src = Path(args.table)
    if not src.exists():
        raise RMXError(f"{src}: no such file; give the table.parquet of a run.")
    table = pd.read_parquet(src) if src.suffix == ".parquet" else pd.read_json(src, lines=True)
    path = write_report(table, args.out, title=args.title)
    print(f"Wrote {path}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rmx", description="Contrastive explanations for reward "
                                "models: which attributes of a response drive an RM's "
                                "preferences.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="explain the bundled samples offline (transparent RM, rules)")
    d.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    d.add_argument("--attributes", default=None,
                   help="comma-separated attributes (default: all the rules support)")
    d.add_argument("--batch-size", type=int, default=32)
    d.set_defaults(func=cmd_demo)

    e = sub.add_parser("explain", help="explain a real RM on your comparisons")
    e.add_argument("--data", required=True, help=".jsonl/.json/.csv/.parquet comparisons")
    e.add_argument("--rm", required=True,
                   help="hub name or local path of a sequence-classification RM, or 'transparent'")
    e.add_argument("--perturber", choices=["rules", "openai", "hf"], default="rules")
    e.add_argument("--model", help="LLM for --perturber openai (e.g. gpt-4o) or hf (path/name)")
    e.add_argument("--base-url", default=None,
                   help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (vLLM, Ollama, "
                        "TGI); the API key is read from OPENAI_API_KEY")
    e.add_argument("--attributes", default=None, help="comma-separated (default: all 15)")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--store", default=None, help="SQLite store (default OUT/store.sqlite)")
    e.add_argument("--device", default=None, help="cuda, cpu, cuda:1 … (default: cuda if any)")
    e.add_argument("--dtype", default=None, help="bf16, fp16 or fp32 (default bf16 on GPU)")
    e.add_argument("--max-length", type=int, default=None)
    e.add_argument("--batch-size", type=int, default=32, help="comparisons' rewrites per batch")
    e.add_argument("--concurrency", type=int, default=16, help="parallel LLM requests")
    e.add_argument("--limit", type=int, default=None, help="only the first N comparisons")
    e.add_argument("--retry-failed", action="store_true",
                   help="recompute rewrites that failed in earlier runs")
    e.add_argument("--trust-remote-code", action="store_true",
                   help="run Python code shipped in the model repository (off by default)")
    e.set_defaults(func=cmd_explain)

    r = sub.add_parser("report", help="write the HTML report of a saved table")
    r.add_argument("--table", required=True, help="table.parquet or table.jsonl of a run")
    r.add_argument("--out", required=True, help="HTML file to write")
    r.add_argument("--title", default="rmx-widgets report")
    r.set_defaults(func=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _show_warning
            args.func(args)
    except RMXError as e:
        print(f"rmx: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rmx: interrupted; finished batches are in the store, rerun to resume.",
              file=sys.stderr)
        return 130
    return 0


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    print(f"rmx: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
