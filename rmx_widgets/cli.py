"""The command-line face: ``rmx demo | explain | evaluate | report | lab``.

A thin layer over the engine: it parses arguments, builds the RM and perturber, runs the
Explainer and prints the sensitivity table. User mistakes (``RMXError``) and unusable files
(``OSError``) print one readable line, ``rmx: error: ...``, and exit 2 — no traceback; Ctrl-C
exits 130 and says the store keeps what landed. Outputs are written only after a run succeeds,
so a failed run leaves no table, report or summary behind (the store keeps its cache).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from rmx_widgets.core.errors import AttributeSpecError, DataError, RMXError


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


def _attributes(args: argparse.Namespace) -> Any:
    """``--attributes`` names, plus custom attributes from ``--attributes-file``."""
    names = args.attributes
    path = getattr(args, "attributes_file", None)
    if not path:
        return names
    from rmx_widgets.core.attributes import resolve_attributes

    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise AttributeSpecError(f"{p}: cannot read the attributes file ({e.strerror}).") from None
    except UnicodeDecodeError as e:
        raise AttributeSpecError(f"{p}: is not valid UTF-8 (byte {e.start}).") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as e:
        raise AttributeSpecError(f"{p}: is not valid JSON ({e.msg} at line {e.lineno} column "
                                 f"{e.colno}); give a list of {{\"name\", \"definition\"}} "
                                 "objects.") from None
    if not isinstance(spec, list) or not all(isinstance(a, dict) for a in spec):
        raise AttributeSpecError(f"{p}: must hold a JSON list of objects with \"name\" and "
                                 "\"definition\" (optionally \"worse\" and \"better\").")
    custom = []
    for i, item in enumerate(spec):
        try:
            custom.extend(resolve_attributes([item]))
        except AttributeSpecError as e:
            raise AttributeSpecError(f"{p}, attribute {i}: {e}") from None
    return resolve_attributes(([*names.split(",")] if names else []) + custom)


def _print_sensitivity(sens: Any) -> None:
    import pandas as pd

    pooled = sens[sens["direction"] == "both"]
    with pd.option_context("display.max_rows", 200, "display.width", 120,
                           "display.float_format", "{:.3f}".format):
        print("\nGlobal sensitivity (pooled over directions; PFR = preference flip rate)")
        print(pooled.drop(columns=["direction"]).to_string(index=False))


def _run(data: Any, rm: Any, perturber: Any, attributes: Any, out: Path, store: Path | None,
         batch_size: int, retry_failed: bool = False, source: str = "the data",
         report: bool = True, embedder: Any = None) -> None:
    from rmx_widgets.core.explain import Explainer

    explainer = Explainer(rm, perturber, attributes=attributes,
                          store=store or out / "store.sqlite", batch_size=batch_size,
                          embedder=embedder, progress=sys.stderr.isatty())

    def refuse_all_ties(originals: Any, stats: Any) -> None:
        if len(originals) and bool(originals["tie"].all()):
            raise DataError(f"every comparison ({len(originals)}) is a tie for "
                            f"{explainer.rm.identity} (|margin| < {explainer.tie_eps}), so "
                            "there is nothing to explain; check that the two responses of each "
                            "comparison differ.", source=source)

    run = explainer.explain_to(data, out, report=report, retry_failed=retry_failed,
                               on_start=refuse_all_ties)
    s = run.summary
    kinds = ", ".join(f"{n} {k}" for k, n in s["failures_by_reason"].items())
    failed = f"{s['failed']} failed" + (f" ({kinds})" if kinds else "")
    ties = (f" ({s['ties']} ties, not explained; see originals.csv)" if s["ties"] else "")
    print(f"\n{s['comparisons']} comparisons{ties}, {s['rows']} new comparisons: "
          f"{s['cf']} CF, {s['sf']} SF, "
          f"{failed}; "
          f"{s['run_perturbations_computed']} rewrites and {s['run_scores_computed']} scores "
          f"computed, {s['run_perturbations_cached']} rewrites and {s['run_scores_cached']} "
          "scores from the store.")
    pstats = s.get("run_perturber_stats") or {}
    if pstats.get("http_requests"):
        print(f"LLM: {pstats['http_requests']} HTTP requests, {pstats.get('retries', 0)} "
              f"retries, {pstats.get('failures', 0)} failed rewrites.")
    if s["truncated_rows"]:
        print(f"{s['truncated_rows']} rows used inputs the RM truncated to its maximum length "
              "(column 'truncated'); their rewards describe part of the text.")
    _print_sensitivity(run.sensitivity)
    print("\nWrote " + ", ".join(str(p) for p in run.paths.values()))


def cmd_demo(args: argparse.Namespace) -> None:
    from rmx_widgets.core.data import sample_comparisons
    from rmx_widgets.core.perturbers.rules import RulePerturber
    from rmx_widgets.core.reward_models.transparent import TransparentRewardModel

    perturber = RulePerturber()
    attributes = args.attributes or list(perturber.supported_attributes)
    print("rmx demo: the bundled sample comparisons, the transparent demo RM (a documented "
          "weighted sum of text features, not a learned model) and the offline rule perturber.")
    _run(sample_comparisons(), TransparentRewardModel(), perturber, attributes,
         Path(args.out), None, args.batch_size, source="the bundled samples")


def cmd_explain(args: argparse.Namespace) -> None:
    from rmx_widgets.core.data import load_comparisons

    comps = load_comparisons(args.data)
    if args.limit:
        comps = comps[: args.limit]
    attributes = _attributes(args)
    if attributes is not None:  # unknown names fail before any model loads
        from rmx_widgets.core.attributes import resolve_attributes

        attributes = resolve_attributes(attributes)
    _run(comps, _build_rm(args), _build_perturber(args), attributes, Path(args.out),
         Path(args.store) if args.store else None, args.batch_size, args.retry_failed,
         source=str(args.data), report=not args.no_report, embedder=_embedder(args))


_NAMED = re.compile(r"^(?P<name>[^:/=\\]+)=(?P<spec>.+)$")


def _split_name(spec: str) -> tuple[str | None, str]:
    """``NAME=SPEC`` → (NAME, SPEC); a bare SPEC (``transparent:length=1`` included) → (None,
    SPEC): a name never holds ':' or '/', so feature weights and hub paths are not names."""
    m = _NAMED.match(spec.strip())
    return (m.group("name").strip(), m.group("spec").strip()) if m else (None, spec.strip())


def rm_from_spec(spec: str, args: argparse.Namespace) -> tuple[str, Any]:
    """``transparent`` (default weights), ``transparent:feature=weight,...`` (only those
    features) or a hub name / local path of a sequence-classification RM."""
    name, spec = _split_name(spec)
    if spec == "transparent" or spec.startswith("transparent:"):
        from rmx_widgets.core.reward_models.transparent import TransparentRewardModel

        weights: dict[str, float] = {}
        for part in filter(None, spec.partition(":")[2].split(",")):
            feature, eq, value = part.partition("=")
            try:
                weights[feature.strip()] = float(value)
            except ValueError:
                raise RMXError(f"--rm {spec!r}: {part!r} is not feature=weight (e.g. "
                               "transparent:hedging=-1,length=0.4).") from None
            if not eq:
                raise RMXError(f"--rm {spec!r}: {part!r} is not feature=weight.")
        rm = TransparentRewardModel(weights or None, only=bool(weights), name=name)
        return name or (spec if weights else "transparent"), rm
    from rmx_widgets.core.reward_models.hf import HFRewardModel

    return name or spec, HFRewardModel(spec, device=args.device, dtype=args.dtype,
                                       max_length=args.max_length,
                                       trust_remote_code=args.trust_remote_code)


def _llm_backend(args: argparse.Namespace, what: str, **kwargs: Any) -> Any:
    if not args.model:
        raise RMXError(f"--perturber {what} needs --model (an OpenAI-compatible model name, or "
                       "a local model path with --backend hf).")
    if args.backend == "hf":
        from rmx_widgets.core.perturbers.hf import HFPerturber

        return HFPerturber(args.model, device=args.device,
                           trust_remote_code=args.trust_remote_code, **kwargs)
    from rmx_widgets.core.perturbers.openai import OpenAIPerturber

    return OpenAIPerturber(model=args.model, base_url=args.base_url,
                           concurrency=args.concurrency, **kwargs)


def perturber_from_spec(spec: str, args: argparse.Namespace) -> tuple[str, Any]:
    """``rules``, ``random[:fraction]``, ``paraphrase``, ``polyjuice[:name_or_path]`` or
    ``llm`` (the attribute-targeted LLM perturber); the LLM ones use --model/--backend."""
    name, spec = _split_name(spec)
    kind, _, option = spec.partition(":")
    if kind == "rules":
        from rmx_widgets.core.perturbers.rules import RulePerturber

        return name or "rules", RulePerturber()
    if kind == "random":
        from rmx_widgets.core.perturbers.random_words import RandomWordPerturber

        try:
            fraction = float(option) if option else 0.15
        except ValueError:
            raise RMXError(f"--perturber {spec!r}: the fraction must be a number, e.g. "
                           "random:0.2.") from None
        return name or "random", RandomWordPerturber(fraction=fraction)
    if kind == "paraphrase":
        from rmx_widgets.core.perturbers.paraphrase import ParaphrasePerturber

        return name or "paraphrase", ParaphrasePerturber(_llm_backend(args, "paraphrase"))
    if kind == "polyjuice":
        from rmx_widgets.core.perturbers.polyjuice import PolyjuicePerturber

        return name or "polyjuice", PolyjuicePerturber(option or "uw-hai/polyjuice",
                                                        device=args.device)
    if kind == "llm":
        return name or f"llm:{args.model}", _llm_backend(args, "llm")
    raise RMXError(f"--perturber {spec!r}: unknown kind {kind!r}; use rules, random[:fraction], "
                   "paraphrase, polyjuice[:name_or_path] or llm.")


def _embedder(args: argparse.Namespace) -> Any:
    """``hashing`` (offline, lexical; the default) or an encoder's hub name / folder."""
    spec = getattr(args, "embedder", None) or "hashing"
    if spec == "hashing":
        return None
    from rmx_widgets.core.embedders import TransformersEmbedder

    embedder = TransformersEmbedder(spec, device=args.device,
                                    trust_remote_code=args.trust_remote_code)
    embedder.load()  # fail before any rewrite is asked for
    return embedder


def _unique(pairs: list[tuple[str, Any]], flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, obj in pairs:
        if name in out:
            raise RMXError(f"two {flag} are both named {name!r}; name them, e.g. "
                           f"{flag} a=SPEC {flag} b=SPEC.")
        out[name] = obj
    return out


def cmd_evaluate(args: argparse.Namespace) -> None:
    import pandas as pd

    from rmx_widgets.core.data import load_comparisons
    from rmx_widgets.core.evaluate import evaluate

    datasets = {}
    for spec in args.data:
        name, path = _split_name(spec)
        name = name or Path(path).stem
        if name in datasets:
            raise RMXError(f"two --data are both named {name!r}; write NAME=PATH.")
        comps = load_comparisons(path)
        datasets[name] = comps[: args.limit] if args.limit else comps
    attributes = _attributes(args)
    rms = _unique([rm_from_spec(s, args) for s in args.rm], "--rm")
    perturbers = _unique([perturber_from_spec(s, args) for s in args.perturber], "--perturber")
    out = Path(args.out)
    study = evaluate(datasets, rms, perturbers, attributes=attributes, seeds=args.seeds,
                     per_seed=args.per_seed, store=Path(args.store) if args.store
                     else out / "store.sqlite", primary=args.primary, k=args.k,
                     n_boot=args.n_boot, batch_size=args.batch_size,
                     embedder=_embedder(args), progress=sys.stderr.isatty())
    for name, reason in study.skipped.items():
        print(f"skipped perturber {name}: {_one_line(reason)}")
    agreement = study.agreement
    for rm in study.rms:
        column = f"preferred_{rm}"
        if column in agreement and agreement[column].isna().any():
            print(f"{int(agreement[column].isna().sum())} comparisons are ties for {rm}: not "
                  "explained, left out of its coverage (see agreement.csv).")
    with pd.option_context("display.max_rows", 200, "display.width", 160,
                           "display.max_columns", 30, "display.float_format", "{:.3f}".format):
        for ds in study.datasets:
            print(f"\n[{ds}] explanation quality, side 'both' (mean ± s.e. over "
                  f"{len(study.config['seeds'])} seeds × {study.config['per_seed']} comparisons)")
            print(study.main_table(ds, side="both").to_string(index=False))
            if len(study.tau):
                print(f"\n[{ds}] Kendall's tau between the RMs' attribute rankings "
                      f"(perturber {study.primary}, comparisons all RMs agree on)")
                print(study.tau_matrix(ds).to_string())
    paths = study.save(out, report=not args.no_report)
    print("\nWrote " + ", ".join(str(p) for p in paths.values()))


def lab_command(folder: Path, port: int | None = None) -> list[str]:
    """JupyterLab bound to loopback; it prints the URL with its token itself."""
    import os

    cmd = [sys.executable, "-m", "jupyterlab", "--ip", "127.0.0.1", "--no-browser",
           f"--ServerApp.root_dir={folder}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI machines run as root
        cmd.append("--allow-root")
    return cmd + ([f"--port={port}"] if port else [])


def cmd_lab(args: argparse.Namespace) -> None:
    import importlib.util
    import subprocess

    folder = Path(args.dir).resolve()
    if not folder.is_dir():
        raise RMXError(f"{folder}: no such folder; run `rmx lab` from a clone of rmx-widgets "
                       "or pass --dir.")
    if importlib.util.find_spec("jupyterlab") is None:
        raise RMXError("JupyterLab is not installed: pip install 'rmx-widgets[lab]'.")
    raise SystemExit(subprocess.call(lab_command(folder, args.port)))


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
    e.add_argument("--attributes-file", default=None,
                   help="JSON list of custom attributes [{\"name\", \"definition\", "
                        "\"worse\", \"better\"}], used with --attributes if both are given")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--store", default=None, help="SQLite store (default OUT/store.sqlite)")
    e.add_argument("--device", default=None, help="cuda, cpu, cuda:1 … (default: cuda if any)")
    e.add_argument("--dtype", default=None, help="bf16, fp16 or fp32 (default bf16 on GPU)")
    e.add_argument("--max-length", type=int, default=None)
    e.add_argument("--batch-size", type=int, default=32, help="comparisons' rewrites per batch")
    e.add_argument("--concurrency", type=int, default=16, help="parallel LLM requests")
    e.add_argument("--limit", type=int, default=None, help="only the first N comparisons")
    e.add_argument("--embedder", default="hashing",
                   help="semantic distance: 'hashing' (offline, lexical; default) or a sentence "
                        "encoder, e.g. sentence-transformers/all-MiniLM-L6-v2")
    e.add_argument("--no-report", action="store_true",
                   help="skip report.html (the slowest output; `rmx report` writes it later)")
    e.add_argument("--retry-failed", action="store_true",
                   help="recompute rewrites that failed in earlier runs")
    e.add_argument("--trust-remote-code", action="store_true",
                   help="run Python code shipped in the model repository (off by default)")
    e.set_defaults(func=cmd_explain)

    v = sub.add_parser("evaluate", help="the paper's study: explanation quality against "
                       "baselines and RM vs RM, on your data")
    v.add_argument("--data", required=True, action="append",
                   help="comparisons file, or NAME=PATH; repeat for several data sets")
    v.add_argument("--rm", required=True, action="append",
                   help="[NAME=]transparent | transparent:feature=weight,... | hub name or path; "
                        "repeat for each RM")
    v.add_argument("--perturber", required=True, action="append",
                   help="[NAME=]rules | random[:fraction] | paraphrase | polyjuice[:path] | llm; "
                        "repeat for each perturber")
    v.add_argument("--model", help="LLM for paraphrase/llm perturbers")
    v.add_argument("--backend", choices=["openai", "hf"], default="openai",
                   help="how --model is served: an OpenAI-compatible API (default) or local "
                        "transformers")
    v.add_argument("--base-url", default=None,
                   help="OpenAI-compatible server; the key is read from OPENAI_API_KEY")
    v.add_argument("--attributes", default=None,
                   help="comma-separated (default: those every attribute perturber supports)")
    v.add_argument("--attributes-file", default=None, help="JSON list of custom attributes")
    v.add_argument("--seeds", type=int, default=5, help="how many seeded samples (default 5)")
    v.add_argument("--per-seed", type=int, default=30,
                   help="comparisons per sample (default 30)")
    v.add_argument("--primary", default=None,
                   help="perturber for the RM-vs-RM part (default: first attribute perturber)")
    v.add_argument("--k", type=int, default=5, help="examples per RM and per pair")
    v.add_argument("--n-boot", type=int, default=1000, help="bootstrap draws for PFR CIs")
    v.add_argument("--out", default="runs/study", help="output folder (default runs/study)")
    v.add_argument("--store", default=None, help="SQLite store (default OUT/store.sqlite)")
    v.add_argument("--limit", type=int, default=None, help="only the first N of each data set")
    v.add_argument("--device", default=None)
    v.add_argument("--dtype", default=None)
    v.add_argument("--max-length", type=int, default=None)
    v.add_argument("--batch-size", type=int, default=32)
    v.add_argument("--concurrency", type=int, default=16)
    v.add_argument("--embedder", default="hashing",
                   help="semantic distance: 'hashing' (offline, lexical; default) or a sentence "
                        "encoder, e.g. sentence-transformers/all-MiniLM-L6-v2")
    v.add_argument("--no-report", action="store_true", help="skip report.html")
    v.add_argument("--trust-remote-code", action="store_true",
                   help="run Python code shipped in model repositories (off by default)")
    v.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("report", help="write the HTML report of a saved table")
    r.add_argument("--table", required=True, help="table.parquet or table.jsonl of a run")
    r.add_argument("--out", required=True, help="HTML file to write")
    r.add_argument("--title", default="rmx-widgets report")
    r.set_defaults(func=cmd_report)

    lab = sub.add_parser("lab", help="start JupyterLab on the tutorial notebooks (127.0.0.1)")
    lab.add_argument("--dir", default="notebooks", help="folder to open (default notebooks/)")
    lab.add_argument("--port", type=int, default=None)
    lab.set_defaults(func=cmd_lab)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _show_warning
            args.func(args)
    except RMXError as e:
        print(f"rmx: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # an unreadable input, an unwritable output folder, a full disk
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"rmx: error: {where}{_one_line(e.strerror or str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rmx: interrupted; finished batches are in the store, rerun to resume.",
              file=sys.stderr)
        return 130
    return 0


def _one_line(text: str) -> str:
    """Messages may quote multi-line library errors; the CLI prints exactly one line."""
    return " ".join(text.split())


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    print(f"rmx: warning: {_one_line(str(message))}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
