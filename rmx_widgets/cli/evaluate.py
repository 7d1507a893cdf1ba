"""``rmx evaluate``: the paper's study (explanation quality against baselines, RM vs RM).

Every ``--data``, ``--rm`` and ``--perturber`` may be repeated and named (``NAME=...``); the
engine's :func:`~rmx_widgets.core.study.run.evaluate` does the work.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmx_widgets.cli import options
from rmx_widgets.cli.console import one_line
from rmx_widgets.core.errors import RMXError

if TYPE_CHECKING:
    from rmx_widgets.core.data import Comparison
    from rmx_widgets.core.study.result import StudyResult


def add_parser(sub: Any) -> None:
    v = sub.add_parser(
        "evaluate",
        help="the paper's study: explanation quality against baselines and RM vs RM, on your data",
    )
    v.add_argument(
        "--data",
        required=True,
        action="append",
        help="comparisons file, or NAME=PATH; repeat for several data sets",
    )
    v.add_argument(
        "--rm", required=True, action="append", help=options.RM_SPEC + "; repeat for each RM"
    )
    v.add_argument(
        "--perturber",
        required=True,
        action="append",
        help=options.PERTURBER_SPEC + "; repeat for each perturber",
    )
    v.add_argument("--out", default="runs/study", help="output folder (default runs/study)")
    s = v.add_argument_group("study")
    s.add_argument(
        "--seeds",
        type=options.POSITIVE_INT,
        default=5,
        help="how many seeded samples, at least 1 (default 5)",
    )
    s.add_argument(
        "--per-seed",
        type=options.POSITIVE_INT,
        default=30,
        help="comparisons per sample, at least 1 (default 30)",
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

    out = Path(args.out)
    names = StudyResult.file_names(not args.no_report)
    store = Path(args.store) if args.store else out / "store.sqlite"
    check_outputs(
        [split_name(spec)[1] for spec in args.data], [out / n for n in names] + [store, out]
    )
    datasets = _datasets(args)
    attributes = options.attributes(args)
    rms = reward_models_from_specs(args.rm, **options.rm_options(args))
    perturbers = perturbers_from_specs(args.perturber, **options.perturber_options(args))
    with OutputLock(out):  # a second study into this folder refuses before any work
        _evaluate(args, datasets, attributes, rms, perturbers, out, store)


def _evaluate(
    args: argparse.Namespace,
    datasets: Any,
    attributes: Any,
    rms: Any,
    perturbers: Any,
    out: Path,
    store: Path,
) -> None:
    from rmx_widgets.core.outputs import claim_outputs
    from rmx_widgets.core.study.result import StudyResult
    from rmx_widgets.core.study.run import evaluate

    claim_outputs(out, StudyResult.file_names(not args.no_report), force=args.force)
    study = evaluate(
        datasets,
        rms,
        perturbers,
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
    )
    _print_notes(study)
    _print_tables(study)
    paths = study.save(out, report=not args.no_report, force=args.force)
    print("\nWrote " + ", ".join(str(p) for p in paths.values()))


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
