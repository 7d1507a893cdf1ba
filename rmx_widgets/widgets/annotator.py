"""Annotator: tag and note representative (and contrasting) examples, saved at once.

Every Save is one SQLite transaction in the project's store, keyed by comparison and RM, so a
kernel that dies right after a save keeps it and reopening the notebook shows it again.
Exports carry the examples' texts so a CSV can be read without the notebook.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import anywidget
import pandas as pd
import traitlets

from rmx_widgets.core.compare import contrasting_examples
from rmx_widgets.core.csv_io import write_csv
from rmx_widgets.core.explain import ExplanationResult
from rmx_widgets.core.outputs import atomic_path, check_outputs, claim_outputs
from rmx_widgets.core.representatives import representatives
from rmx_widgets.core.store import Store
from rmx_widgets.widgets._assets import bundle
from rmx_widgets.widgets._convert import clean, rows_payload
from rmx_widgets.widgets.contract import Annotation, Example, ExampleKind

DEFAULT_TAGS = ("expected", "surprising", "RM bug")
EXPORT_FIELDS = (
    "comparison_id",
    "kind",
    "score",
    "tags",
    "note",
    "updated",
    "rm",
    "prompt",
    "response_chosen",
    "response_rejected",
)


class Annotator(anywidget.AnyWidget):
    """Synced traits: ``contract.AnnotatorState``; messages: ``SaveAnnotationMessage``,
    ``ExportMessage``."""

    _esm = bundle("annotator.js")
    _css = bundle("widgets.css")

    examples: traitlets.List[Example] = traitlets.List().tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)
    annotations: traitlets.Dict[str, Annotation] = traitlets.Dict().tag(sync=True)
    tag_options: traitlets.List[str] = traitlets.List(list(DEFAULT_TAGS)).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        result: ExplanationResult,
        store: str | Path | Store,
        *,
        k: int = 5,
        contrast_with: ExplanationResult | None = None,
        tags: tuple[str, ...] = DEFAULT_TAGS,
        export_dir: str | Path = ".",
    ) -> None:
        super().__init__(tag_options=list(tags))
        self.result = result
        self.store = store if isinstance(store, Store) else Store(store)
        self.rm = result.rm
        self.export_dir = Path(export_dir)
        picks: list[tuple[ExampleKind, dict[str, Any]]] = [
            ("representative", r)
            for r in representatives(result.table, k=k).to_dict(orient="records")
        ]
        if contrast_with is not None:
            picks += [
                ("contrasting", r)
                for r in contrasting_examples(result.table, contrast_with.table, k=k).to_dict(
                    orient="records"
                )
            ]
        self.examples = [self._example(kind, rec) for kind, rec in picks]
        self._load()
        self.on_msg(self._on_msg)

    def _example(self, kind: ExampleKind, rec: dict[str, Any]) -> Example:
        cid = rec["comparison_id"]
        rows = self.result.table[self.result.table["comparison_id"] == cid]
        chosen = rows[rows["side"] == "chosen"]
        rejected = rows[rows["side"] == "rejected"]
        return Example(
            comparison_id=cid,
            kind=kind,
            score=clean(rec.get("tau")),
            prompt=rows["prompt"].iloc[0],
            response_chosen=chosen["original"].iloc[0] if len(chosen) else "",
            response_rejected=rejected["original"].iloc[0] if len(rejected) else "",
            rows=rows_payload(rows[rows["outcome"] != "failed"]),
        )

    def _load(self) -> None:
        self.annotations = {
            a["comparison_id"]: Annotation(tags=a["tags"], note=a["note"], updated=a["updated"])
            for a in self.store.annotations(rm=self.rm)
        }

    # -- actions (also callable from Python) -----------------------------------------------
    def save(self, comparison_id: str, tags: list[str], note: str) -> None:
        if comparison_id not in {e["comparison_id"] for e in self.examples}:
            raise ValueError(f"{comparison_id!r} is not one of this annotator's examples.")
        clean_tags = [t.strip() for t in dict.fromkeys(tags) if t and t.strip()]
        self.store.save_annotation(comparison_id, self.rm, clean_tags, note)
        self._load()
        self.status = f"saved {comparison_id} at {time.strftime('%H:%M:%S')}"

    def frame(self) -> pd.DataFrame:
        """Annotations joined with the examples' texts (one row per example)."""
        rows = []
        for e in self.examples:
            a = self.annotations.get(e["comparison_id"])
            rows.append(
                {
                    "comparison_id": e["comparison_id"],
                    "kind": e["kind"],
                    "score": e["score"],
                    "tags": list(a["tags"]) if a else [],
                    "note": a["note"] if a else "",
                    "updated": a["updated"] if a else None,
                    "rm": self.rm,
                    "prompt": e["prompt"],
                    "response_chosen": e["response_chosen"],
                    "response_rejected": e["response_rejected"],
                }
            )
        return pd.DataFrame(rows, columns=list(EXPORT_FIELDS))

    def export(self, path: str | Path, format: str | None = None, *, force: bool = False) -> Path:
        """Write CSV (tags joined by ';') or JSONL (tags as a list), atomically. An existing
        file that rmx did not write (an earlier export is rmx's) is replaced only with
        ``force``; the annotation store is never an export path."""
        path = Path(path)
        fmt = format or path.suffix.lstrip(".").lower()
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"export format must be csv or jsonl, got {fmt!r}.")
        check_outputs([self.store.path], [path])
        frame = self.frame()
        claim_outputs(path.parent, [path.name], force=force)
        with atomic_path(path) as tmp:
            if fmt == "csv":
                write_csv(
                    frame.assign(tags=frame["tags"].map(";".join)),
                    tmp,
                    quoting=csv.QUOTE_NONNUMERIC,
                )
            else:
                with tmp.open("w", encoding="utf-8") as f:
                    for rec in frame.to_dict(orient="records"):
                        f.write(
                            json.dumps(
                                {
                                    k: clean(v) if not isinstance(v, list) else v
                                    for k, v in rec.items()
                                },
                                ensure_ascii=False,
                            )
                            + "\n"
                        )
        return path

    def _on_msg(self, widget, content, buffers) -> None:
        if not isinstance(content, dict):
            return
        try:
            if content.get("type") == "save":
                self.save(
                    str(content["comparison_id"]),
                    list(content.get("tags", [])),
                    str(content.get("note", "")),
                )
            elif content.get("type") == "export":
                fmt = content.get("format", "csv")
                path = self.export(self.export_dir / f"annotations.{fmt}", fmt)
                self.status = f"exported {len(self.examples)} examples to {path}"
        except Exception as e:  # shown in the widget's status line
            self.status = f"error: {e}"
