"""``explain_to``'s half of a run: the rows stream to files as they land, none kept whole.

A run written to disk is the path for huge runs, so nothing here grows with the full rows: each
landed batch is written to Parquet + JSONL (``TableWriter``) and only its text-free columns are
kept (``slim_table``: all that sensitivity and rankings need; the report reads its examples back
from the Parquet file), the null table streams the same way, and the effects' rows are kept
without their back-rewritten texts. A failed or interrupted run leaves no file under its final
name. The run itself (``execute``) is the Explainer's one loop, handed these three sinks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.effects_run import concat_effect_rows
from rmx_widgets.core.result import ExplanationResult, RunStats, SavedRun, write_run_files
from rmx_widgets.core.rows import TABLE_COLUMNS
from rmx_widgets.core.table_io import NULL_TABLE_STEM, TableWriter

Land = Callable[[pd.DataFrame], None]
Executed = tuple[list[Comparison], list[Attribute], pd.DataFrame, RunStats]


def stream_run_to(
    out_dir: str | Path,
    execute: Callable[[Land, Land | None, Land], Executed],
    make_result: Callable[[pd.DataFrame, Executed, pd.DataFrame | None], ExplanationResult],
    *,
    with_null: bool,
    effects: bool,
    report: bool,
    valid_only: bool,
) -> SavedRun:
    """Run ``execute(land, land_null, land_effects)`` into ``out_dir`` and write the run's
    files; ``make_result(slim table, executed, slim null table)`` is the result
    they are computed from."""
    writer = TableWriter(out_dir)
    effect_frames: list[pd.DataFrame] = []  # without texts: memory stays flat
    null_writer = TableWriter(out_dir, name=NULL_TABLE_STEM) if with_null else None
    try:
        executed = execute(
            writer.write,
            null_writer.write if null_writer else None,
            lambda rows: effect_frames.append(rows.drop(columns=["back_perturbed"])),
        )
        writer.close(empty_columns=TABLE_COLUMNS)
        if null_writer is not None and executed[3].null_perturber is None:  # it did not run
            null_writer.abort()
            null_writer = None
        if null_writer is not None:
            null_writer.close(empty_columns=TABLE_COLUMNS)
    except BaseException:
        writer.abort()
        if null_writer is not None:
            null_writer.abort()
        raise
    slim = writer.slim_table()
    null_slim = null_writer.slim_table() if null_writer is not None else None
    result = make_result(slim, executed, null_slim)
    saved = write_run_files(
        writer,
        slim,
        result,
        report=report,
        example_rows=writer.rows_for,
        null_writer=null_writer,
        valid_only=valid_only,
    )
    saved.effects_table = concat_effect_rows(effect_frames) if effects else None
    return saved
