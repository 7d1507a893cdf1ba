"""ComparisonView: one comparison, its rewrites, word-level diffs, CF / SF badges.

Python holds the explanation table and does every filter and page cut; the browser receives
only the comparison on screen and one page of its rows. That keeps the comm payload small for
tables of tens of thousands of rows and lets the Explorer push new batches cheaply.

Edit and rescore (LIT's datapoint editor): with an RM (``rm=``: an RM, an ``Explainer`` or a
``core.rescore.Rescorer``; the Explorer passes its own), the reader edits an original response
or a rewrite, or writes a rewrite for an attribute and side, and the RM rescores it on a worker
thread (``core.rescore``: the run's rows, cache and store); the new row appears in place,
labelled as edited. ``edits`` gives every edit back as table rows; ``undo`` drops one.

``slice_filter`` (kernel-side only) keeps the rows of one slice of the input, ``("slice.domain",
"math")`` (``None`` for the rows missing the field; ``()`` every row): the Explorer sets it
from a bar of its chart split by that slice and says so above the view, with a way back.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, cast

import anywidget
import pandas as pd
import traitlets
from traitlets import TraitType

from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.rescore import Rescored, Rescorer
from rmx_widgets.core.result import ExplanationResult
from rmx_widgets.core.rows import TABLE_COLUMNS
from rmx_widgets.core.slices import PREFIX
from rmx_widgets.core.store import Store
from rmx_widgets.widgets import static_view
from rmx_widgets.widgets._assets import bundle
from rmx_widgets.widgets._convert import (
    comparison_payload,
    ordered_unique,
    originals_by_id,
    rows_payload,
)
from rmx_widgets.widgets.contract import EditKind, Filters, Row, ShownComparison, ShownEdit

_NO_FILTER = Filters(attribute="", side="all", outcome="all")


class ComparisonView(anywidget.AnyWidget):
    """Synced traits: ``contract.ComparisonViewState``."""

    _esm = bundle("comparison_view.js")
    _css = bundle("widgets.css")

    # traitlets types a Dict trait as dict[K, V]; the casts name the contract record it holds.
    comparison = cast(
        "TraitType[ShownComparison | None, ShownComparison | None]",
        traitlets.Dict(allow_none=True, default_value=None).tag(sync=True),
    )
    rows: traitlets.List[Row] = traitlets.List().tag(sync=True)
    attribute_options: traitlets.List[str] = traitlets.List().tag(sync=True)
    filters = cast(
        "TraitType[Filters, Filters]", traitlets.Dict(default_value=dict(_NO_FILTER)).tag(sync=True)
    )
    index = traitlets.Int(0).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    page_size = traitlets.Int(20).tag(sync=True)
    n_rows = traitlets.Int(0).tag(sync=True)
    empty = traitlets.Unicode("").tag(sync=True)
    edits_shown: traitlets.List[ShownEdit] = traitlets.List().tag(sync=True)
    edit_attributes: traitlets.List[str] = traitlets.List().tag(sync=True)
    can_edit = traitlets.Bool(False).tag(sync=True)
    edit_unavailable = traitlets.Unicode("").tag(sync=True)
    edit_busy = traitlets.Bool(False).tag(sync=True)
    edit_status = traitlets.Unicode("").tag(sync=True)
    edit_error = traitlets.Unicode("").tag(sync=True)
    n_edits = traitlets.Int(0).tag(sync=True)
    #: () every row, or (slice column, value): only that slice's rows (not synced: the
    #: browser receives only the rows the kernel keeps; the Explorer shows the choice)
    slice_filter: traitlets.Tuple = traitlets.Tuple()

    #: what ``empty`` says before any rewrite is there (the Explorer names its Run button)
    no_run_text = "No rewrites yet: run an explanation to see them here."
    NO_MATCH_TEXT = "No rewrite rows match these filters. Clear filters to see them all."
    NO_ROWS_TEXT = "No rewrites of this comparison in the table (ties are not explained)."

    def __init__(
        self,
        result=None,
        *,
        comparisons: Sequence[Comparison] | None = None,
        table: pd.DataFrame | None = None,
        originals: pd.DataFrame | None = None,
        page_size: int = 20,
        rm: Any = None,
        store: str | Store | None = None,
        attributes: Sequence[Attribute] | None = None,
        **kwargs,
    ) -> None:
        self._comparisons: dict[str, Comparison] = {}
        self._order: list[str] = []
        self._table = pd.DataFrame()
        self._originals: dict = {}
        self._visible: list[str] = []
        self._rescorer = _rescorer(rm, store)
        known = attributes if attributes is not None else getattr(result, "attributes", None)
        self._attributes: list[Attribute] = list(known or [])
        self._edits: dict[int, Rescored] = {}
        self._next_edit = 1
        self._edit_lock = threading.Lock()
        self._edit_thread: threading.Thread | None = None
        self._kept_in: ExplanationResult | None = None
        super().__init__(page_size=page_size, **kwargs)
        if isinstance(result, ExplanationResult):
            self.keep_edits_in(result)
        if result is not None:
            comparisons, table, originals = result.comparisons, result.table, result.originals
        self.set_data(comparisons or [], table, originals)
        self.on_msg(self._on_msg)

    # -- data in ---------------------------------------------------------------------------
    def static_html(self) -> str:
        """The comparison on screen and this page of its rewrites, escaped, for outputs
        without a widget manager (nbconvert, GitHub)."""
        return static_view.comparison_html(self.comparison, self.rows, self.n_rows, self.empty)

    def _repr_mimebundle_(self, **kwargs: dict) -> tuple[dict, dict] | None:
        """The live view plus :meth:`static_html` (see static_view)."""
        return static_view.with_static_pair(
            super()._repr_mimebundle_(**kwargs),
            static_view.page([self.static_html()], "Comparison"),
            static_view.comparison_plain(self.comparison, self.n_rows, self.empty),
        )

    def set_data(
        self,
        comparisons: Sequence[Comparison],
        table: pd.DataFrame | None,
        originals: pd.DataFrame | None = None,
    ) -> None:
        """Replace what the view shows (the Explorer calls this after every landed batch)."""
        self._comparisons = {c.id: c for c in comparisons}
        self._order = [c.id for c in comparisons]
        self._table = table if table is not None else pd.DataFrame()
        self._originals = originals_by_id(originals)
        attrs = ordered_unique(self._table["attribute"]) if "attribute" in self._table else []
        with self.hold_sync():
            self.attribute_options = attrs
            self.edit_attributes = ordered_unique([*(a.name for a in self._attributes), *attrs])
            self.can_edit, self.edit_unavailable = self._edit_availability()
            self._refresh()

    @property
    def table(self) -> pd.DataFrame:
        return self._table

    @property
    def visible_ids(self) -> list[str]:
        """Comparisons the filters leave (all of them when no filter is set)."""
        return list(self._visible)

    def show_attribute(self, attribute: str | None) -> None:
        """Filter to one attribute (``None`` clears); the SensitivityChart click lands here."""
        self.filters = {**self.filters, "attribute": attribute or ""}

    def show_row(self, row_id: int) -> bool:
        """Bring table row ``row_id`` on screen: its comparison and the page that holds it
        (the rewrite table's selection lands here). The filters that would hide the row are
        cleared first, only those (the Explorer links Attribute and Side to the chart and the
        table: clearing them all would undo the reader's choice there); ``False`` when the
        table has no such row."""
        if row_id not in self._table.index:
            return False
        with self.hold_sync():
            if row_id not in self._matching().index:
                row = self._table.loc[row_id]
                f = Filters(**{**_NO_FILTER, **self.filters})
                self.filters = Filters(
                    attribute=f["attribute"] if row["attribute"] == f["attribute"] else "",
                    side=f["side"] if row["side"] == f["side"] else "all",
                    outcome=f["outcome"] if row["outcome"] == f["outcome"] else "all",
                )
            cid = self._table.at[row_id, "comparison_id"]
            if cid not in self._visible:
                return False
            self.index = self._visible.index(cid)
            rows = self._matching()
            positions = rows.index[rows["comparison_id"] == cid]
            self.page = int(positions.get_loc(row_id)) // self.page_size
        return True

    # -- reactions -------------------------------------------------------------------------
    @traitlets.validate("slice_filter")
    def _valid_slice(self, proposal: dict) -> tuple:
        """() or (a ``slice.`` column, its text or None); anything else is refused."""
        value = tuple(proposal["value"])
        if value == ():
            return value
        ok = len(value) == 2 and isinstance(value[0], str) and value[0].startswith(PREFIX)
        if not ok or not (value[1] is None or isinstance(value[1], str)):
            raise traitlets.TraitError(
                f"slice_filter is () or (slice column, value), got {value!r:.80}."
            )
        return value

    @traitlets.observe("filters", "slice_filter")
    def _on_filters(self, change) -> None:
        with self.hold_sync():
            self.page = 0
            self._refresh(keep_id=True)

    @traitlets.observe("index")
    def _on_index(self, change) -> None:
        with self.hold_sync():
            self.page = 0
            self._refresh()

    @traitlets.observe("page", "page_size")
    def _on_page(self, change) -> None:
        self._refresh()

    def _matching(self) -> pd.DataFrame:
        t = self._table
        if t.empty:
            return t
        f = {**_NO_FILTER, **self.filters}
        mask = pd.Series(True, index=t.index)
        if self.slice_filter:
            column, value = self.slice_filter
            if column not in t.columns:
                return t.iloc[0:0]  # a slice of a column this table lacks: none of its rows
            mask &= t[column].isna() if value is None else t[column] == value
        if f["attribute"]:
            mask &= t["attribute"] == f["attribute"]
        if f["side"] != "all":
            mask &= t["side"] == f["side"]
        if f["outcome"] != "all":
            mask &= t["outcome"] == f["outcome"]
        return t[mask]

    def _empty_text(self, filtered: bool) -> str:
        """Why no row is shown: nothing ran yet, the filters leave nothing, or this comparison
        has no rewrites (it was a tie, or left out); the browser shows it in place of rows."""
        if self._table.empty:
            return self.no_run_text
        return self.NO_MATCH_TEXT if filtered else self.NO_ROWS_TEXT

    def clear_filters(self) -> None:
        """Back to every row (the browser's Clear filters button does the same)."""
        self.filters = Filters(**_NO_FILTER)

    def _refresh(self, keep_id: bool = False) -> None:
        current = self.comparison["id"] if (keep_id and self.comparison) else None
        matching = self._matching()
        filtered = {**_NO_FILTER, **self.filters} != _NO_FILTER or bool(self.slice_filter)
        if filtered:
            have = set(matching["comparison_id"]) if not matching.empty else set()
            self._visible = [cid for cid in self._order if cid in have]
        else:
            self._visible = list(self._order)
        self.empty = self._empty_text(filtered)
        if not self._visible:
            with self.hold_sync():
                self.comparison, self.rows, self.n_rows = None, [], 0
                self._show_edits()
            return
        index = self.index
        if current in self._visible:
            index = self._visible.index(current)
        index = min(max(index, 0), len(self._visible) - 1)
        cid = self._visible[index]
        rows = matching[matching["comparison_id"] == cid] if not matching.empty else matching
        n_pages = max(1, -(-len(rows) // self.page_size))
        page = min(max(self.page, 0), n_pages - 1)
        shown = rows.iloc[page * self.page_size : (page + 1) * self.page_size]
        with self.hold_sync():
            self.index, self.page = index, page
            self.comparison = comparison_payload(
                self._comparisons[cid], self._originals.get(cid), index, len(self._visible)
            )
            self.rows = rows_payload(shown)
            self.n_rows = len(rows)
            self._show_edits()

    # -- edit and rescore ------------------------------------------------------------------
    #: an edit of the comparison on screen is shown in place; at most this many per comparison
    MAX_SHOWN_EDITS = 50
    NO_RM_TEXT = (
        "Edit and rescore needs the reward model: build the view with rm=... "
        "(the Explorer passes its own)."
    )

    @property
    def edits(self) -> pd.DataFrame:
        """Every edit's rows, with the explanation table's columns (``TABLE_COLUMNS``); the
        index (``edit``) is the edit's id, shared by an edited original and the rewrites it
        re-derived. Hand-made texts have perturber ``manual`` (re-derived rows
        ``manual/<perturber>``), so they never mix with a perturber's rows by accident."""
        with self._edit_lock:
            edits = list(self._edits.items())
        frames = [e.rows.set_axis([eid] * len(e.rows)) for eid, e in edits]
        if not frames:
            return pd.DataFrame(columns=TABLE_COLUMNS).rename_axis("edit")
        return pd.concat(frames).rename_axis("edit")

    def keep_edits_in(self, result: ExplanationResult | None) -> None:
        """Keep every edit in ``result`` (``ExplanationResult.keep_edits``) from now on, after
        each rescore and undo, so ``result.table`` and its exports carry them (no figure counts
        them); the view built with ``result=`` does this for it. ``None`` stops it."""
        self._kept_in = result
        self._keep_edits()

    def _keep_edits(self) -> None:
        if self._kept_in is not None:
            mine = self.edits
            self._kept_in.keep_edits(mine[mine["rm"] == self._kept_in.rm])

    @property
    def edit_log(self) -> list[Rescored]:
        """The edits (``core.rescore.Rescored``: kind, rows, the table rows they replace,
        note), oldest first."""
        with self._edit_lock:
            return list(self._edits.values())

    def rescore(
        self,
        text: str,
        *,
        row_id: int | None = None,
        response: str | None = None,
        attribute: str | None = None,
        side: str | None = None,
        comparison_id: str | None = None,
    ) -> threading.Thread | None:
        """Rescore one edit on a worker thread (``wait_edit`` joins it): rewrite ``row_id``'s
        text edited, response ``response`` ("a"/"b") edited, or a rewrite written for
        ``attribute`` and ``side``; of the comparison on screen unless ``comparison_id``.
        Returns the thread, or ``None`` when the edit was refused (``edit_error`` says why)."""
        kind: EditKind = (
            "rewrite" if row_id is not None else "original" if response is not None else "write"
        )
        cid = comparison_id or (self.comparison["id"] if self.comparison else "")
        reason = self.edit_unavailable if not self.can_edit else None
        if reason is None and self.edit_busy:
            reason = "a rescore is already running: wait for it to finish."
        if reason is None and cid not in self._comparisons:
            reason = f"no comparison {cid!r} in this view."
        if reason is not None:
            self.edit_error = reason
            return None
        args = (kind, cid, text, row_id, response, attribute, side)
        with self.hold_sync():
            self.edit_busy, self.edit_error = True, ""
            self.edit_status = (
                f"rescoring with {self._rescorer.identity if self._rescorer else ''}…"
            )
        self._edit_thread = threading.Thread(
            target=self._rescore_work, args=args, daemon=True, name="rmx-rescore"
        )
        self._edit_thread.start()
        return self._edit_thread

    def wait_edit(self, timeout: float | None = None) -> None:
        """Wait for the rescore in flight (if any)."""
        if self._edit_thread is not None:
            self._edit_thread.join(timeout)

    def undo(self, edit_id: int | None = None) -> bool:
        """Drop edit ``edit_id`` (the latest one by default); False when there is none."""
        with self._edit_lock:
            if edit_id is None and self._edits:
                edit_id = max(self._edits)
            found = self._edits.pop(edit_id, None) if edit_id is not None else None
        if found is None:
            return False
        self._keep_edits()
        with self.hold_sync():
            self.edit_error = ""
            self.edit_status = f"undid edit {edit_id}."
            self._show_edits()
        return True

    def _edit_availability(self) -> tuple[bool, str]:
        """Whether this view can rescore, and why not: it needs the RM that made its rows."""
        if self._rescorer is None:
            return False, self.NO_RM_TEXT
        made = set(self._table["rm"].astype(str)) if "rm" in self._table else set()
        if made and self._rescorer.identity not in made:
            return False, (
                f"Edit and rescore needs the RM of these rows ({sorted(made)[0]}), "
                f"not {self._rescorer.identity}."
            )
        return True, ""

    def _rescore_work(
        self,
        kind: EditKind,
        cid: str,
        text: str,
        row_id: int | None,
        response: str | None,
        attribute: str | None,
        side: str | None,
    ) -> None:
        status = error = ""
        try:
            done = self._compute_edit(kind, cid, text, row_id, response, attribute, side)
            with self._edit_lock:
                edit_id, self._next_edit = self._next_edit, self._next_edit + 1
                self._edits[edit_id] = done
            self._keep_edits()
            status = f"edit {edit_id}: {done.note}"
        except RMXError as e:
            error = _one_line(str(e))
        except Exception as e:  # shown in the widget, never a silent dead thread
            error = _one_line(f"{type(e).__name__}: {e}")
        finally:  # one message: the browser sees the edit and the end of the rescore together
            with self.hold_sync():
                self.edit_error, self.edit_status = error, status
                self._show_edits()
                self.edit_busy = False

    def _compute_edit(
        self,
        kind: EditKind,
        cid: str,
        text: str,
        row_id: int | None,
        response: str | None,
        attribute: str | None,
        side: str | None,
    ) -> Rescored:
        assert self._rescorer is not None  # (rescore checked can_edit)
        comp = self._comparisons[cid]
        o = self._originals.get(cid)
        originals = pd.DataFrame([o]) if o is not None else None
        table = self._table
        if kind == "original":
            rows = table[table["comparison_id"] == cid] if "comparison_id" in table else None
            return self._rescorer.original(
                comp, str(response), text, rows, originals=originals, attributes=self._attributes
            )
        previous = None
        if kind == "rewrite":
            if row_id not in table.index or table.at[row_id, "comparison_id"] != cid:
                raise RMXError(f"no rewrite row {row_id} in comparison {cid}.")
            row = table.loc[row_id]
            attribute, side = str(row["attribute"]), str(row["side"])
            previous = row["perturbed"] if isinstance(row["perturbed"], str) else None
        return self._rescorer.rewrite(
            comp,
            str(attribute or ""),
            str(side or ""),
            text,
            originals=originals,
            row_id=row_id,
            previous=previous,
            attributes=self._attributes,
        )

    def _show_edits(self) -> None:
        """The edits of the comparison on screen, as the browser shows them in place."""
        cid = self.comparison["id"] if self.comparison else None
        with self._edit_lock:
            mine = [(i, e) for i, e in self._edits.items() if e.comparison_id == cid]
            n_edits = len(self._edits)
        self.n_edits = n_edits  # outside the lock: its observers may read self.edits
        shown = mine[-self.MAX_SHOWN_EDITS :]
        self.edits_shown = [_shown_edit(i, e, self._table) for i, e in shown]

    def _on_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "undo":
            if not self.undo(_int(content.get("edit_id"))):
                self.edit_error = "that edit is no longer there."
        elif content.get("type") == "rescore":
            kind = content.get("kind")
            text = content.get("text")
            if not isinstance(text, str):
                self.edit_error = "the edited text must be text."
                return
            self.rescore(
                text,
                row_id=_int(content.get("row_id")) if kind == "rewrite" else None,
                response=str(content.get("response", "")) if kind == "original" else None,
                attribute=str(content.get("attribute", "")),
                side=str(content.get("side", "")),
                comparison_id=str(content.get("comparison_id", "")) or None,
            )


def _rescorer(rm: Any, store: str | Store | None) -> Rescorer | None:
    """What rescores the view's edits: ``rm`` as given (a ``Rescorer``, an ``Explainer``: its
    RM, store and embedder) or an RM / callable through ``store`` (in memory without one)."""
    if rm is None or isinstance(rm, Rescorer):
        return rm
    from rmx_widgets.core.explain import Explainer

    if isinstance(rm, Explainer):
        return Rescorer.from_explainer(rm)
    return Rescorer(rm, store if isinstance(store, Store) or store is None else Store(store))


def _same_row(table: pd.DataFrame, row_id: int, row: pd.Series) -> bool:
    """Whether table row ``row_id`` is still the rewrite ``row`` re-derives or edits (a new run
    replaces the table, and its row ids may then name other rewrites)."""
    if row_id not in table.index:
        return False
    t = table.loc[row_id]
    return all(t.get(k) == row[k] for k in ("comparison_id", "attribute", "side"))


def _shown_edit(edit_id: int, e: Rescored, table: pd.DataFrame) -> ShownEdit:
    """The edit as the browser shows it; rows whose table row is gone (or is another rewrite
    now) are not attached to a card: an edited rewrite then shows as a written one."""
    pairs = zip(e.row_ids, e.rows.iterrows())
    ids = [i if i is not None and _same_row(table, i, r) else -1 for i, (_, r) in pairs]
    rows = rows_payload(e.rows.set_axis(ids))
    target = ids[0] if e.kind == "rewrite" else -1
    kind: EditKind = "write" if e.kind == "rewrite" and target == -1 else e.kind
    first = e.rows.iloc[0]
    response = None
    if e.kind == "original" and e.originals is not None:
        # the edited side's letter: the RM's preferred one for the chosen side, else the other
        pref = str(first["preferred"])
        response = pref if first["side"] == "chosen" else ("b" if pref == "a" else "a")
    return ShownEdit(
        edit_id=edit_id,
        kind=kind,
        target_row=target,
        response="a" if response == "a" else "b" if response == "b" else None,
        row=rows[0],
        rederived=[r for r in rows[1:] if r["row_id"] != -1],
        note=e.note,
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _one_line(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= 300 else line[:299] + "…"
