"""The Annotator's exports: one row per example, and where a file may be written.

Kept apart from the widget because an export is a file contract, read without the notebook:
its columns say which response the RM preferred (``response_chosen`` is the RM's choice, not
necessarily the human's), the human label and whether the two agree, so a reader of the CSV
cannot mistake the RM's "chosen" for the data's. An export never replaces an existing file
unless asked (``force``): an earlier export may hold annotations of other examples, and losing
it silently is what a person clicking Export twice would not expect. The Export button picks a
fresh name instead (``annotations-2.csv``, ...).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from rmx_widgets.core.csv_io import write_csv
from rmx_widgets.core.errors import OptionError, OutputError
from rmx_widgets.core.outputs import atomic_path, check_outputs, claim_outputs
from rmx_widgets.widgets._convert import clean
from rmx_widgets.widgets.contract import Annotation, Example

EXPORT_FIELDS = (
    "comparison_id",
    "kind",
    "score",
    "tags",
    "note",
    "updated",
    "rm",
    "rm_preferred",
    "human_preferred",
    "rm_agrees_with_human",
    "reward_chosen",
    "reward_rejected",
    "margin",
    "prompt",
    "response_chosen",
    "response_rejected",
)
"""The export's columns. ``response_chosen``/``reward_chosen`` are the RM's preferred response
("a" or "b" in ``rm_preferred``); ``human_preferred`` is the input's label (empty: none) and
``rm_agrees_with_human`` True/False (empty when either preference is missing)."""

EXPORT_FORMATS = ("csv", "jsonl")
MAX_EXPORT_COPIES = 10_000
"""How many numbered names the Export button tries before it gives up (a folder that full of
exports is a mistake worth an error, not a loop)."""


def export_frame(
    examples: Sequence[Example], annotations: Mapping[str, Annotation], rm: str
) -> pd.DataFrame:
    """Annotations joined with the examples' texts, labels and rewards (one row per example)."""
    rows = []
    for e in examples:
        a = annotations.get(e["comparison_id"])
        rows.append(
            {
                "comparison_id": e["comparison_id"],
                "kind": e["kind"],
                "score": e["score"],
                "tags": list(a["tags"]) if a else [],
                "note": a["note"] if a else "",
                "updated": a["updated"] if a else None,
                "rm": rm,
                "rm_preferred": e["rm_preferred"],
                "human_preferred": e["human_preferred"],
                "rm_agrees_with_human": e["rm_agrees_with_human"],
                "reward_chosen": e["reward_chosen"],
                "reward_rejected": e["reward_rejected"],
                "margin": e["margin"],
                "prompt": e["prompt"],
                "response_chosen": e["response_chosen"],
                "response_rejected": e["response_rejected"],
            }
        )
    frame = pd.DataFrame(rows, columns=list(EXPORT_FIELDS))
    frame["rm_agrees_with_human"] = frame["rm_agrees_with_human"].astype("boolean")
    return frame


def export_format(path: Path, format: str | None) -> str:
    """``format`` or the path's suffix; one clear error for anything but csv / jsonl."""
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in EXPORT_FORMATS:
        raise OptionError(f"export format must be csv or jsonl, got {fmt!r}.")
    return fmt


def free_export_path(folder: Path, stem: str, fmt: str) -> Path:
    """``folder/stem.fmt``, or the first of ``stem-2.fmt``, ``stem-3.fmt``, ... that does not
    exist yet: what the Export button writes, so a second click never replaces the first."""
    first = folder / f"{stem}.{fmt}"
    if not first.exists():
        return first
    for i in range(2, MAX_EXPORT_COPIES + 1):
        path = folder / f"{stem}-{i}.{fmt}"
        if not path.exists():
            return path
    raise OutputError(
        f"{folder} already holds {MAX_EXPORT_COPIES} {stem}-N.{fmt} exports; "
        "export to another folder."
    )


def write_export(
    frame: pd.DataFrame, path: Path, fmt: str, store_path: Path | None, *, force: bool
) -> Path:
    """Write CSV (tags joined by ';') or JSONL (tags as a list), atomically. An existing file
    is replaced only with ``force`` (rmx's own earlier export included); the annotation store
    is never an export path."""
    check_outputs([store_path], [path])
    if path.exists() and not force:
        raise OutputError(
            f"{path} exists; pass force=True to replace it, or choose another path "
            "(the Export button writes the next free name, e.g. annotations-2.csv)."
        )
    claim_outputs(path.parent, [path.name], force=force)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            write_csv(
                frame.assign(tags=frame["tags"].map(";".join)), tmp, quoting=csv.QUOTE_NONNUMERIC
            )
        else:
            with tmp.open("w", encoding="utf-8") as f:
                for rec in frame.to_dict(orient="records"):
                    out = {k: v if isinstance(v, list) else _json_value(v) for k, v in rec.items()}
                    f.write(json.dumps(out, ensure_ascii=False) + "\n")
    return path


def _json_value(value: object) -> object:
    """NaN / <NA> / None → None, numpy scalars → Python."""
    if value is pd.NA:
        return None
    return clean(value)
