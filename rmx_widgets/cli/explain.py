"""``rmx demo`` and ``rmx explain``: one RM, one perturber, the explanation table.

Both stream the table batch by batch into a store, then write the table, the sensitivity
summary and (unless ``--no-report``) the HTML report; outputs land only after a run succeeds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rmx_widgets.cli import options
from rmx_widgets.core.errors import DataError
from rmx_widgets.core.null_run import NULL_SPECS


def add_parsers(sub: Any) -> None:
    d = sub.add_parser("demo", help="explain the bundled samples offline (transparent RM, rules)")
    d.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    d.add_argument(
        "--attributes",
        default=None,
        help="comma-separated attributes (default: all the rules support)",
    )
    options.add_batch_size(d)
    options.add_null_options(d, ("random", "none"))
    options.add_force_option(d)
    d.set_defaults(func=cmd_demo)

    e = sub.add_parser("explain", help="explain a real RM on your comparisons")
    e.add_argument("--data", required=True, help=".jsonl/.json/.csv/.parquet comparisons")
    e.add_argument("--rm", required=True, help=options.RM_SPEC)
    e.add_argument("--perturber", default="rules", help=options.PERTURBER_SPEC + "; default rules")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument(
        "--retry-failed", action="store_true", help="recompute rewrites that failed in earlier runs"
    )
    options.add_llm_options(e)
    options.add_attribute_options(e, default="all 15")
    options.add_run_options(
        e,
        limit="only the first N comparisons",
        no_report="skip report.html (the slowest output; `rmx report` writes it later)",
    )
    options.add_model_options(e)
    options.add_null_options(e, NULL_SPECS)
    options.add_restrict_option(e)
    options.add_judge_options(e)
    options.add_engine_options(e)
    e.add_argument(
        "--effects",
        action="store_true",
        help="also rewrite each rewrite back (worse <-> better) and write effects.csv: each "
        "attribute's naive and corrected (RATE) effect on the reward (about twice the cost)",
    )
    e.add_argument(
        "--expect",
        action="append",
        default=None,
        metavar="EXPECTATION",
        help="a declared expectation, repeatable: 'prefers ATTRIBUTE' (e.g. 'prefers correct') "
        "or 'invariant to ATTRIBUTE'; pass rates go to the summary, expectations.csv and the "
        "report",
    )
    e.add_argument(
        "--by",
        default=None,
        metavar="FIELD",
        help="also print the sensitivity once per value of FIELD, an extra column of the input "
        "(e.g. domain, subset, source): the table's slice.FIELD column, with each slice's n "
        "and failures",
    )
    options.add_force_option(e)
    e.set_defaults(func=cmd_explain)


def cmd_demo(args: argparse.Namespace) -> None:
    from rmx_widgets.core.data import sample_comparisons
    from rmx_widgets.core.perturbers.rules import RulePerturber
    from rmx_widgets.core.reward_models.transparent import TransparentRewardModel

    perturber = RulePerturber()
    attributes = args.attributes or list(perturber.supported_attributes)
    print(
        "rmx demo: the bundled sample comparisons, the transparent demo RM (a documented "
        "weighted sum of text features, not a learned model) and the offline rule perturber."
    )
    _run(
        sample_comparisons(),
        TransparentRewardModel(),
        perturber,
        attributes,
        Path(args.out),
        None,
        args.batch_size,
        source="the bundled samples",
        null=options.null_perturber(args),
        force=args.force,
    )


def cmd_explain(args: argparse.Namespace) -> None:
    from rmx_widgets.core.data import load_comparisons
    from rmx_widgets.core.specs import perturber_from_spec, reward_model_from_spec

    expectations = _expectations(args)  # a bad --expect fails before anything is read
    options.check_judge(args)  # so do --valid-only without --judge, --judge llm without an LLM
    engine = options.engine(args)  # so do --engine ray without Ray, --address without it
    check_run_outputs(
        Path(args.out), [args.data], args.store, report=not args.no_report, expectations=True
    )
    comps = load_comparisons(args.data)
    if args.limit is not None:
        comps = comps[: args.limit]
    from rmx_widgets.core.rows import check_restrict

    check_restrict(args.restrict, comps)  # missing human labels fail before any model loads
    if args.by is not None:  # so does a slice the input does not have
        from rmx_widgets.core.slices import check_slice_field

        check_slice_field(args.by, comps)
    attributes = options.attributes(args)
    if attributes is not None:  # unknown names fail before any model loads
        from rmx_widgets.core.attributes import resolve_attributes

        attributes = resolve_attributes(attributes)
    if expectations:
        from rmx_widgets.core.attributes import DEFAULT_ATTRIBUTES
        from rmx_widgets.core.expectations import check_known

        run_attrs = attributes if attributes is not None else DEFAULT_ATTRIBUTES
        check_known(expectations, [a.name for a in run_attrs])
    options.check_null(args)
    if engine == "local":
        rm = reward_model_from_spec(args.rm, **options.rm_options(args))
    else:  # built on the scoring actors only: the driver never loads the weights
        rm = engine.remote_reward_model(args.rm, options.rm_options(args))
    perturber = perturber_from_spec(args.perturber, **options.perturber_options(args))
    null = options.null_perturber(args, perturber)
    judge = options.judge(args)
    _run(
        comps,
        rm,
        perturber,
        attributes,
        Path(args.out),
        Path(args.store) if args.store else None,
        args.batch_size,
        args.retry_failed,
        source=str(args.data),
        report=not args.no_report,
        embedder=options.embedder(args),
        null=null,
        restrict=args.restrict,
        force=args.force,
        effects=args.effects,
        expectations=expectations,
        judge=judge,
        valid_only=args.valid_only,
        by=args.by,
        engine=engine,
    )


def _expectations(args: argparse.Namespace) -> list[Any]:
    """The parsed ``--expect`` flags (an ``OptionError`` names a bad one)."""
    if not args.expect:
        return []
    from rmx_widgets.core.expectations import as_expectations

    return as_expectations(args.expect)


def check_run_outputs(
    out: Path, inputs: list[Any], store: Any, *, report: bool, expectations: bool = False
) -> None:
    """Refuse, before anything is loaded or written, a run whose outputs (the run's files in
    ``out``, the store) would overwrite one of its ``inputs``."""
    from rmx_widgets.core.outputs import check_outputs
    from rmx_widgets.core.result import run_file_names

    outputs = [out / name for name in run_file_names(report, expectations, effects=True)]
    outputs += [Path(store) if store else out / "store.sqlite", out]
    check_outputs(inputs, outputs)


def _run(
    data: Any,
    rm: Any,
    perturber: Any,
    attributes: Any,
    out: Path,
    store: Path | None,
    batch_size: int,
    retry_failed: bool = False,
    source: str = "the data",
    report: bool = True,
    embedder: Any = None,
    null: Any = None,
    restrict: str = "all",
    force: bool = False,
    effects: bool = False,
    expectations: Any = (),
    judge: Any = None,
    valid_only: bool = False,
    by: str | None = None,
    engine: Any = "local",
) -> None:
    from rmx_widgets.core.outputs import OutputLock

    created = not out.exists()
    with OutputLock(out):  # before the store opens: a second run refuses, writing nothing
        try:
            _run_locked(
                data,
                rm,
                perturber,
                attributes,
                out,
                store,
                batch_size,
                retry_failed,
                source,
                report,
                embedder,
                null,
                restrict,
                force,
                list(expectations),
                effects,
                judge,
                valid_only,
                by,
                engine,
            )
        except BaseException:
            # still holding the lock, so no other run is using the folder we remove
            _remove_if_only_bookkeeping(out, created)
            raise


def _remove_if_only_bookkeeping(out: Path, created: bool) -> None:
    """A run that failed before writing anything leaves no folder behind: remove ``out`` when
    this run created it and it holds only rmx's lock and manifest files."""
    from rmx_widgets.core.outputs import LOCK_NAME, MANIFEST_NAME

    if created and out.is_dir() and {p.name for p in out.iterdir()} <= {LOCK_NAME, MANIFEST_NAME}:
        import shutil

        shutil.rmtree(out, ignore_errors=True)


def _run_locked(
    data: Any,
    rm: Any,
    perturber: Any,
    attributes: Any,
    out: Path,
    store: Path | None,
    batch_size: int,
    retry_failed: bool,
    source: str,
    report: bool,
    embedder: Any,
    null: Any,
    restrict: str,
    force: bool,
    expectations: list[Any],
    effects: bool = False,
    judge: Any = None,
    valid_only: bool = False,
    by: str | None = None,
    engine: Any = "local",
) -> None:
    from rmx_widgets.core.effects_run import EFFECTS_FILE, write_effects_csv
    from rmx_widgets.core.explain import Explainer
    from rmx_widgets.core.null_run import null_skip_reason
    from rmx_widgets.core.outputs import claim_outputs, remove_stale
    from rmx_widgets.core.result import run_file_names

    names = run_file_names(report, bool(expectations), effects)
    claim_outputs(out, names, force=force)  # before the store is created

    explainer = Explainer(
        rm,
        perturber,
        attributes=attributes,
        store=store or out / "store.sqlite",
        batch_size=batch_size,
        embedder=embedder,
        progress=sys.stderr.isatty(),
        restrict=restrict,
        effects=effects,
        judge=judge,
        engine=engine,
    )
    skipped = "--null none" if null is None else null_skip_reason(explainer.perturber, null)
    if skipped is None:
        explainer = explainer.with_null(null)

    def refuse_all_ties(originals: Any, stats: Any) -> None:
        # called per chunk with the originals so far: only the last chunk's call has them all
        # (and if every earlier chunk was all ties, no rewrite has run yet)
        whole = len(originals) == stats.comparisons
        if whole and len(originals) and bool(originals["tie"].all()):
            raise DataError(
                f"every comparison ({len(originals)}) is a tie for "
                f"{explainer.rm.identity} (|margin| < {explainer.tie_eps}), so "
                "there is nothing to explain; check that the two responses of each "
                "comparison differ.",
                source=source,
            )

    run = explainer.explain_to(
        data,
        out,
        report=report and not expectations,  # with expectations the report is written below
        retry_failed=retry_failed,
        on_start=refuse_all_ties,
        force=force,
        valid_only=valid_only,
    )
    expected = _write_expectations(run, out, expectations, report)
    _print_summary(run.summary)
    _print_null(run.summary, skipped or run.stats.null_skipped)
    _print_judge(run.summary)
    _print_sensitivity(run.sensitivity)
    _print_by_slice_and_objectives(run, out, by, valid_only)
    _print_expectations(expected)
    paths = list(run.paths.values())
    if effects:
        table = run.effects()
        paths.append(write_effects_csv(out, table))
        _print_effects(table, run.summary)
    else:
        remove_stale(out, EFFECTS_FILE)
    print("\nWrote " + ", ".join(str(p) for p in paths))


def _write_expectations(run: Any, out: Path, expectations: list[Any], report: bool) -> Any:
    """With declared expectations: their table (OUT/expectations.csv, atomic, through the
    shared CSV writer) and the report with their section; ``None`` without. A run without them
    removes the expectations.csv an earlier run into the folder wrote."""
    path = out / "expectations.csv"
    if not expectations:
        from rmx_widgets.core.outputs import remove_stale

        remove_stale(out, path.name)
        return None
    from rmx_widgets.core.csv_io import write_csv
    from rmx_widgets.core.expectations import check_expectations
    from rmx_widgets.core.outputs import atomic_path
    from rmx_widgets.core.table_io import read_table

    table = read_table(run.paths["table_parquet"])
    frame = check_expectations(table, expectations)
    with atomic_path(path) as tmp:
        write_csv(frame, tmp)
    run.paths["expectations"] = path
    if report:
        from rmx_widgets.core.report import write_report

        run.paths["report"] = write_report(
            table,
            out / "report.html",
            sens=run.sensitivity,
            summary=run.summary,
            title=f"rmx-widgets report — {run.summary['rm']}",
            expectations=expectations,
        )
    return frame


def _print_expectations(frame: Any) -> None:
    if frame is None:
        return
    from rmx_widgets.core.expectations import summary_lines

    print("\nDeclared expectations (per rewrite; ties and failed rewrites excluded)")
    for line in summary_lines(frame):
        print(line)


def _print_summary(s: Mapping[str, Any]) -> None:
    """What the run did: outcomes, failures by reason, what was computed or cached, and the
    LLM's requests and the RM's truncations when there were any."""
    kinds = ", ".join(f"{n} {k}" for k, n in s["failures_by_reason"].items())
    failed = f"{s['failed']} failed" + (f" ({kinds})" if kinds else "")
    ties = f" ({s['ties']} ties, not explained; see originals.csv)" if s["ties"] else ""
    if s.get("run_skipped_by_restrict"):
        ties += f" ({s['run_skipped_by_restrict']} left out by --restrict)"
    print(
        f"\n{s['comparisons']} comparisons{ties}, {s['rows']} new comparisons: "
        f"{s['cf']} CF, {s['sf']} SF, "
        f"{failed}; "
        f"{s['run_perturbations_computed']} rewrites and {s['run_scores_computed']} scores "
        f"computed, {s['run_perturbations_cached']} rewrites and {s['run_scores_cached']} "
        "scores from the store."
    )
    pstats = s.get("run_perturber_stats") or {}
    if pstats.get("http_requests"):
        print(
            f"LLM: {pstats['http_requests']} HTTP requests, {pstats.get('retries', 0)} "
            f"retries, {pstats.get('failures', 0)} failed rewrites."
        )
    if s["truncated_rows"]:
        print(
            f"{s['truncated_rows']} rows used inputs the RM truncated to its maximum length "
            "(column 'truncated'); their rewards describe part of the text."
        )


def _print_null(s: Mapping[str, Any], skipped: str | None) -> None:
    """One line: which null perturber ran on the same rewrites, or why none did."""
    if s["null_perturber"] is None:
        print(f"Null perturber: skipped ({skipped or 'not run'}).")
        return
    print(
        f"Null perturber {s['null_perturber']} (attribute-blind) on the same rewrites: "
        f"{s['null_cf']} CF, {s['null_sf']} SF, {s['null_failed']} failed; "
        f"{s['run_null_perturbations_computed']} rewrites and {s['run_null_scores_computed']} "
        "scores computed (null_table.parquet)."
    )


def _print_judge(s: Mapping[str, Any]) -> None:
    """One line: the rewrite judge's verdicts and what they cost (nothing without a judge)."""
    if not s.get("judge"):
        return
    rate = s["valid_rate"]
    shown = "not measured" if rate is None else f"{rate:.2f}"
    print(
        f"Rewrite judge {s['judge']}: {s['valid']} valid, {s['judged'] - s['valid']} invalid "
        f"of {s['judged']} judged rewrites (valid rate {shown}), "
        f"{s['run_judged_undecided']} undecided (not counted); "
        f"{s['run_verdicts_computed']} verdicts computed, {s['run_verdicts_cached']} from the "
        "store (columns valid, validity_reason)."
    )
    if s.get("sensitivity_valid_only"):
        print(
            "--valid-only: the sensitivity below, sensitivity.csv and the report count only "
            "the rewrites the judge found valid (n = valid rewrites, so failed there is "
            "failed / (valid + failed))."
        )


def _print_by_slice_and_objectives(run: Any, out: Path, by: str | None, valid_only: bool) -> None:
    """With ``by``: the sensitivity of each slice (core.slices), n and failures in every row;
    for a multi-objective RM: each objective's mean change per attribute (core.objectives)."""
    from rmx_widgets.core.objectives import format_objective_effects, objective_columns
    from rmx_widgets.core.slices import sensitivity_by, slice_rows, slice_values
    from rmx_widgets.core.table_io import read_table

    table = read_table(out / "table.parquet")
    if by is not None:
        sens = sensitivity_by(table, run.null_table, by, valid_only=valid_only)
        column = str(sens.columns[0])
        for value in slice_values(table, column):
            part = slice_rows(sens, column, value).drop(columns=[column])
            shown = "(missing)" if value is None else repr(value)
            n = slice_rows(table, column, value)["comparison_id"].nunique()
            _print_sensitivity(part, title=f"{column} = {shown}: {n} comparison(s)")
    if objective_columns(table):
        print("\nObjectives (mean change of each objective's reward for the rewritten side)")
        for line in format_objective_effects(table):
            print(line)


def _print_sensitivity(sens: Any, title: str | None = None) -> None:
    """The pooled rows, one attribute a line, with the cells of every other face (the
    Explorer's summary, the report, the static view: ``core.summary_table``): n, failed, CF,
    SF, the valid-rewrite rate when a rewrite judge ran, PFR [interval], null PFR, excess,
    Holm p, the significance marker and the length-controlled PFR, with the "too few" / "not
    measured" marks and the one legend (``summary_legend``)."""
    from rmx_widgets.core.summary_table import (
        summary_legend,
        summary_table,
        summary_text_columns,
    )

    rows = summary_table(sens, ("both",))
    columns = summary_text_columns(sens)
    header = ["attribute", *columns.values()]
    lines = [[str(r["attribute"]), *(str(r[c]) for c in columns)] for _, r in rows.iterrows()]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    if title is None:
        print("\nGlobal sensitivity (pooled over directions; PFR = preference flip rate)")
    else:
        print(f"\nSlice {title}")
    for line in [header, *lines]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
    if title is None:  # a slice's table reads as the global one above it
        print(summary_legend(sens))


def _print_effects(table: Any, s: Mapping[str, Any]) -> None:
    """The effects table (core.effects.format_effects) with what its back-rewrites cost."""
    from rmx_widgets.core.effects import format_effects

    print(
        "\nEffect on the reward (units of the RM's reward spread; naive = rewrite - original, "
        "corrected (RATE) = rewrite - its rewrite back; 95% bootstrap intervals)"
    )
    for line in format_effects(table):
        print(line)
    print(
        f"{s['run_effects_work_items']} back-rewrites, {s['run_effects_failures']} failed "
        "(left out); "
        f"{s['run_effects_perturbations_computed']} rewrites and "
        f"{s['run_effects_scores_computed']} scores computed (effects.csv)."
    )
