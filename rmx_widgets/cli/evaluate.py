"""``rmx evaluate``: the paper's study (explanation quality against baselines, RM vs RM).

Every ``--data``, ``--rm`` and ``--perturber`` may be repeated and named (``NAME=...``); the
engine's :func:`~rmx_widgets.core.study.run.evaluate` does the work. ``--preset paper`` fills
in the paper's data sets, sampling and methods (:mod:`rmx_widgets.core.study.preset`), so only
``--rm`` and ``--model`` are needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmx_widgets.cli import options
from rmx_widgets.cli.console import one_line
from rmx_widgets.core.errors import OptionError, RMXError
from rmx_widgets.core.study.preset import PAPER_DATASETS, PRESETS

if TYPE_CHECKING:
    from rmx_widgets.core.data import Comparison
    from rmx_widgets.core.study.result import StudyResult


def add_parser(sub: Any) -> None:
    v = sub.add_parser(
        "evaluate",
        help="the paper's study: explanation quality against baselines and RM vs RM, on your data",
        description="Without --preset: your --data, --rm and --perturber. With --preset paper: "
        "the paper's data sets (hh-rlhf-helpful, hh-rlhf-harmless: HH-RLHF test splits; "
        "helpsteer2: HelpSteer2 validation), 5 x 30 disjoint comparisons and the methods llm "
        "(--model), random, paraphrase (same LLM) and polyjuice (skipped with its reason where "
        "it cannot load), on your --rm. Example: rmx evaluate --preset paper --rm "
        "Skywork/Skywork-Reward-V2-Llama-3.1-8B --model gpt-4o-mini "
        "--data hh-rlhf-helpful=hh-rlhf/ --data helpsteer2=HelpSteer2/validation.jsonl.gz",
    )
    v.add_argument(
        "--preset",
        choices=PRESETS,
        default=None,
        help="paper: the paper's data sets, sampling and baselines (see above); --data, "
        "--perturber, --seeds, --per-seed and --attributes override it (recorded in study.json)",
    )
    v.add_argument(
        "--data",
        action="append",
        help="comparisons file, or NAME=PATH; repeat for several data sets. With --preset "
        f"paper: NAME=PATH, NAME one of {', '.join(PAPER_DATASETS)}, PATH a .jsonl(.gz) file "
        "or a folder in the hub's layout (a copy of Anthropic/hh-rlhf holding "
        "helpful-base/test.jsonl.gz, of nvidia/HelpSteer2 holding validation.jsonl.gz), read "
        "by the public loader; a data set not given is loaded from the hub",
    )
    v.add_argument(
        "--rm", required=True, action="append", help=options.RM_SPEC + "; repeat for each RM"
    )
    v.add_argument(
        "--perturber",
        action="append",
        help=options.PERTURBER_SPEC + "; repeat for each perturber (with --preset: instead "
        "of the preset's methods)",
    )
    v.add_argument("--out", default="runs/study", help="output folder (default runs/study)")
    s = v.add_argument_group("study")
    s.add_argument(
        "--seeds",
        type=options.POSITIVE_INT,
        default=None,
        help="how many seeded samples, at least 1 (default 5, the paper's)",
    )
    s.add_argument(
        "--per-seed",
        type=options.POSITIVE_INT,
        default=None,
        help="comparisons per sample, at least 1 (default 30, the paper's)",
    )
    s.add_argument(
        "--primary",
        default=None,
        help="perturber for the RM-vs-RM part (default: first attribute perturber)",
    )
    s.add_argument(
        "--k",
        type=options.POSITIVE_INT,
        default=5,
        help="examples per RM and per pair, at least 1 (default 5)",
    )
    s.add_argument(
        "--n-boot",
        type=options.POSITIVE_INT,
        default=1000,
        help="bootstrap draws for PFR CIs, at least 1 (default 1000)",
    )
    options.add_llm_options(v)
    options.add_judge_options(v)  # the one definition `rmx explain` shares
    options.add_attribute_options(v, default="those every attribute perturber supports")
    options.add_run_options(
        v, limit="only the first N of each data set", no_report="skip report.html"
    )
    options.add_model_options(v)
    options.add_force_option(v)
    v.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from rmx_widgets.core.outputs import OutputLock, check_outputs
    from rmx_widgets.core.specs import perturbers_from_specs, reward_models_from_specs, split_name
    from rmx_widgets.core.study.result import StudyResult

    _check_required(args)
    options.check_judge(args)  # --valid-only without --judge, --judge llm without an LLM
    out = Path(args.out)
    names = StudyResult.file_names(not args.no_report)
    store = Path(args.store) if args.store else out / "store.sqlite"
    check_outputs(
        [split_name(spec)[1] for spec in args.data or []],
        [out / n for n in names] + [store, out],
    )
    # cheapest first, the RMs (which load their weights) last: the perturbers load lazily,
    # the preset's data may come from the hub
    attributes = options.attributes(args)
    llm = _preset_llm(args)
    perturbers = (
        perturbers_from_specs(args.perturber, **options.perturber_options(args))
        if args.perturber
        else None
    )
    datasets = _datasets(args) if args.preset is None else _preset_data(args)
    judge = options.judge(args)
    rms = reward_models_from_specs(args.rm, **options.rm_options(args))
    with OutputLock(out):  # a second study into this folder refuses before any work
        _evaluate(args, datasets, attributes, rms, perturbers, llm, out, store, judge)


def _check_required(args: argparse.Namespace) -> None:
    """Without a preset --data and --perturber are required; with one, the preset's LLM
    perturber needs --model unless --perturber replaces the methods."""
    if args.preset is None:
        missing = [f for f, v in (("--data", args.data), ("--perturber", args.perturber)) if not v]
        if missing:
            raise OptionError(
                f"{' and '.join(missing)} required (or --preset {PRESETS[0]} for the paper's "
                "data sets and methods)."
            )
    elif not args.perturber and not args.model:
        raise OptionError(
            f"--preset {args.preset} needs --model: the attribute-aware LLM, which also writes "
            "the paraphrase baseline (or --perturber to choose the methods yourself)."
        )


def _preset_data(args: argparse.Namespace) -> Any:
    """The preset's data sets (``preset.paper_data``), the ``--data NAME=PATH`` ones from local
    files through the public loaders and the others from the hub, loaded before any model."""
    from rmx_widgets.core.specs import split_name
    from rmx_widgets.core.study.preset import paper_data

    sources: dict[str, str] = {}
    for spec in args.data or []:
        name, path = split_name(spec)
        if name not in PAPER_DATASETS:
            raise OptionError(
                f"with --preset {args.preset}, --data is NAME=PATH with NAME one of "
                f"{', '.join(PAPER_DATASETS)}; got {spec!r}."
            )
        if name in sources:
            raise OptionError(f"two --data are both named {name!r}.")
        sources[name] = path
    return paper_data(sources, limit=args.limit)


def _preset_llm(args: argparse.Namespace) -> Any:
    """The preset's attribute-aware LLM perturber (``llm`` on ``--model``), or None when there
    is no preset or ``--perturber`` replaces its methods."""
    if args.preset is None or args.perturber:
        return None
    from rmx_widgets.core.specs import perturber_from_spec

    return perturber_from_spec("llm", **options.perturber_options(args))


def _evaluate(
    args: argparse.Namespace,
    datasets: Any,
    attributes: Any,
    rms: Any,
    perturbers: Any,
    llm: Any,
    out: Path,
    store: Path,
    judge: Any = None,
) -> None:
    from rmx_widgets.core.outputs import claim_outputs
    from rmx_widgets.core.study.result import StudyResult
    from rmx_widgets.core.study.run import evaluate

    claim_outputs(out, StudyResult.file_names(not args.no_report), force=args.force)
    study = evaluate(
        datasets,
        rms,
        perturbers,
        preset=args.preset,
        llm=llm,
        attributes=attributes,
        seeds=args.seeds,
        per_seed=args.per_seed,
        store=store,
        primary=args.primary,
        k=args.k,
        n_boot=args.n_boot,
        batch_size=args.batch_size,
        embedder=options.embedder(args),
        progress=sys.stderr.isatty(),
        judge=judge,
        valid_only=args.valid_only,
    )
    _print_preset(study)
    _print_judge(study)
    _print_notes(study)
    _print_tables(study)
    paths = study.save(out, report=not args.no_report, force=args.force)
    print("\nWrote " + ", ".join(str(p) for p in paths.values()))


def _print_preset(study: StudyResult) -> None:
    """What the preset chose, and what the flags overrode (study.json has the details)."""
    record = study.config.get("preset")
    if not record:
        return
    data = record["datasets"]
    where = (
        "; ".join(f"{n}: {d['comparisons']} from {d['source']}" for n, d in data.items())
        if isinstance(data, dict)
        else "your --data"
    )
    overrides = ", ".join(record["overrides"]) or "none"
    print(f"preset {record['name']}: {where}; overridden: {overrides}")


def _print_judge(study: StudyResult) -> None:
    """The rewrite judge's verdicts per data set, RM and judged perturber (all its rewrites,
    Table 1's "valid rewrites"), and what --valid-only changed; nothing without --judge."""
    if not study.judge:
        return
    from rmx_widgets.core.validity_rates import valid_text

    judged = ", ".join(study.config.get("judged", [])) or "no perturber"
    print(f"Rewrite judge {study.judge} (judging {judged}; baselines are not judged):")
    s = study.quality_summary
    rows = s[(s["side"] == "both") & (s["kind"] == "CF")]
    for r in rows.to_dict("records"):
        if r["perturber"] not in study.config.get("judged", []):
            continue
        print(
            f"  [{r['dataset']}] {r['rm']} × {r['perturber']}: valid "
            f"{valid_text(r['n_valid'], r['n_judged'])} of judged rewrites, "
            f"{int(r['n_failed'])} of {int(r['n_rewrites'])} failed"
        )
    if study.valid_only:
        print(
            "--valid-only: coverage, distances and diversity of the judged perturbers count "
            "only CFs/SFs whose rewrite was judged valid, and the sensitivity, tau and "
            "examples use valid rewrites only (sensitivity.csv n = valid rewrites)."
        )


def _datasets(args: argparse.Namespace) -> dict[str, list[Comparison]]:
    """``{name: comparisons}`` from the ``--data`` options (each cut to ``--limit``), every
    file loaded and validated before any model loads."""
    from rmx_widgets.core.data import load_comparisons
    from rmx_widgets.core.specs import split_name

    datasets = {}
    for spec in args.data:
        name, path = split_name(spec)
        name = name or Path(path).stem
        if name in datasets:
            raise RMXError(f"two --data are both named {name!r}; write NAME=PATH.")
        comps = load_comparisons(path)
        datasets[name] = comps[: args.limit] if args.limit is not None else comps
    return datasets


def _print_notes(study: StudyResult) -> None:
    """Say which perturbers were skipped and how many comparisons each RM left out as ties."""
    for name, reason in study.skipped.items():
        print(f"skipped perturber {name}: {one_line(reason)}")
    agreement = study.agreement
    for rm in study.rms:
        column = f"preferred_{rm}"
        if column in agreement and agreement[column].isna().any():
            print(
                f"{int(agreement[column].isna().sum())} comparisons are ties for {rm}: not "
                "explained, left out of its coverage (see agreement.csv)."
            )


def _print_tables(study: StudyResult) -> None:
    """The paper's Table 1 and Table 2, the main quality table and the RMs' τ matrix of every
    data set."""
    import textwrap

    import pandas as pd

    with pd.option_context(
        "display.max_rows",
        200,
        "display.width",
        160,
        "display.max_columns",
        30,
        "display.float_format",
        "{:.3f}".format,
    ):
        for ds in study.datasets:
            for number in (1, 2):
                table = study.paper_table(number, ds, formatted=True)
                print("\n" + textwrap.fill(f"[{ds}] {study.paper_table_caption(number, ds)}", 100))
                print(table.to_string(index=False) if len(table) else "no explanations")
            print(f"\n[{ds}] explanation quality, side 'both' ({study.se_note(ds)})")
            print(study.main_table(ds, side="both").to_string(index=False))
            if len(study.tau):
                print(
                    f"\n[{ds}] Kendall's tau between the RMs' attribute rankings "
                    f"(perturber {study.primary}, comparisons all RMs agree on)"
                )
                print(study.tau_matrix(ds).to_string())
