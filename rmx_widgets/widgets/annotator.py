"""Annotator: tag and note representative (and contrasting) examples, saved at once.

Every Save is one SQLite transaction in the project's store, keyed by comparison and RM, so a
kernel that dies right after a save keeps it and reopening the notebook shows it again. The
front end also saves a changed note or tag when the annotator leaves an example (Next / Prev)
rather than dropping it. Each example carries the RM's preference, the human label and the
rewards, so "chosen" is never mistaken for the data's choice. Exports (annotator_export.py)
carry the examples' texts so a CSV can be read without the notebook, and never replace a file
silently.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anywidget
import pandas as pd
import traitlets

from rmx_widgets.core.compare import contrasting_examples
from rmx_widgets.core.explain import ExplanationResult
from rmx_widgets.core.representatives import representatives
from rmx_widgets.core.store import Store
from rmx_widgets.widgets import static_view
from rmx_widgets.widgets._assets import bundle
from rmx_widgets.widgets._convert import clean, originals_by_id, rows_payload
from rmx_widgets.widgets.annotator_export import (
    export_format,
    export_frame,
    free_export_path,
    write_export,
)
from rmx_widgets.widgets.contract import Annotation, Example, ExampleKind, Preferred

DEFAULT_TAGS = ("expected", "surprising", "RM bug")


def _label(value: Any) -> Preferred | None:
    """The response letter "a" or "b"; None for anything else (no label, a tie, NaN)."""
    return "a" if value == "a" else "b" if value == "b" else None


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
        self._originals = originals_by_id(result.originals)
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
        first = rows.iloc[0]
        o = self._originals.get(cid, {})
        rm_pref = _label(o.get("preferred", first.get("preferred")))
        human = _label(o.get("human_preferred", first.get("human_preferred")))
        rewards = {"a": clean(o.get("reward_a")), "b": clean(o.get("reward_b"))}
        other = {"a": "b", "b": "a"}
        return Example(
            comparison_id=cid,
            kind=kind,
            score=clean(rec.get("tau")),
            prompt=rows["prompt"].iloc[0],
            response_chosen=chosen["original"].iloc[0] if len(chosen) else "",
            response_rejected=rejected["original"].iloc[0] if len(rejected) else "",
            rows=rows_payload(rows[rows["outcome"] != "failed"]),
            rm_preferred=rm_pref,
            human_preferred=human,
            rm_agrees_with_human=None if rm_pref is None or human is None else rm_pref == human,
            reward_chosen=rewards[rm_pref] if rm_pref else None,
            reward_rejected=rewards[other[rm_pref]] if rm_pref else None,
            margin=clean(o.get("margin")),
        )

    def _repr_mimebundle_(self, **kwargs: dict) -> tuple[dict, dict] | None:
        """The live view plus the examples as a static table (nbconvert, GitHub)."""
        return static_view.with_static_pair(
            super()._repr_mimebundle_(**kwargs),
            static_view.page(
                [static_view.examples_html(self.examples, self.annotations)], "Annotator"
            ),
            f"Annotator: {len(self.examples)} example(s), {len(self.annotations)} annotated",
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
        """Annotations joined with the examples' texts, the RM's and the human's preference and
        the rewards (one row per example; columns ``annotator_export.EXPORT_FIELDS``)."""
        return export_frame(self.examples, self.annotations, self.rm)

    def export(self, path: str | Path, format: str | None = None, *, force: bool = False) -> Path:
        """Write CSV (tags joined by ';') or JSONL (tags as a list), atomically. An existing
        file, an earlier export included, is replaced only with ``force``; the annotation
        store is never an export path."""
        path = Path(path)
        return write_export(
            self.frame(), path, export_format(path, format), self.store.path, force=force
        )

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
                fmt = export_format(Path("annotations"), str(content.get("format", "csv")))
                first = self.export_dir / f"annotations.{fmt}"
                path = self.export(free_export_path(self.export_dir, "annotations", fmt), fmt)
                kept = f" ({first.name} was kept)" if path != first else ""
                self.status = f"exported {len(self.examples)} examples to {path}{kept}"
        except Exception as e:  # shown in the widget's status line
            self.status = f"error: {e}"
