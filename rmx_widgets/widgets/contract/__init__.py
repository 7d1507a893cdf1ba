"""The widget contract: what each anywidget front end and its Python model say to each other.

A widget's payload lives in three places (its traitlets, the payload builders in _convert.py,
the TypeScript that renders it); left alone they drift, and a renamed field shows up as a blank
cell in the browser, not as an error. So the payload is declared once, here, as TypedDicts:

* per widget, its synced traits (``<Widget>State``) and the custom messages its front end sends
  back (``...Message``);
* the records inside those traits (a rewrite ``Row``, the ``ShownComparison``, ...).

``python -m rmx_widgets.widgets.contract`` writes it as a JSON schema, ``js/src/contract.json``
(committed); ``npm run contract`` (js/scripts/contract_types.mjs) turns that file into the
front end's types, ``js/src/lib/contract.ts``. tests/widgets/test_contract.py fails when the
JSON falls behind this module or a widget's traits or payloads leave it, and
js/test/contract.test.ts when the TypeScript falls behind the JSON.

Only plain typing here (no Jupyter): the schema can be built without a kernel.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass
from pathlib import Path
from typing import (
    Any,
    Literal,
    TypedDict,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

# -- enumerations ---------------------------------------------------------------------------
Side = Literal["chosen", "rejected"]
Direction = Literal["worse", "better"]
Outcome = Literal["CF", "SF", "failed"]
SideFilter = Literal["all", "chosen", "rejected"]
OutcomeFilter = Literal["all", "CF", "SF", "failed"]
Preferred = Literal["a", "b"]
ExampleKind = Literal["representative", "contrasting"]
ExportFormat = Literal["csv", "jsonl"]
Reading = Literal["not measured", "too few", "ok"]
EditKind = Literal["original", "rewrite", "write"]
ValidityFilter = Literal["all", "valid", "invalid", "unjudged"]
SortDirection = Literal["asc", "desc"]
TableFormat = Literal["csv", "parquet"]
ColumnKind = Literal["text", "number", "boolean"]

ENUMS: dict[str, Any] = {
    "Side": Side,
    "Direction": Direction,
    "Outcome": Outcome,
    "SideFilter": SideFilter,
    "OutcomeFilter": OutcomeFilter,
    "Preferred": Preferred,
    "ExampleKind": ExampleKind,
    "ExportFormat": ExportFormat,
    "Reading": Reading,
    "EditKind": EditKind,
    "ValidityFilter": ValidityFilter,
    "SortDirection": SortDirection,
    "TableFormat": TableFormat,
    "ColumnKind": ColumnKind,
}
"""Named so that both sides share one spelling (``Outcome`` in TypeScript is this Literal)."""


# -- records inside the traits --------------------------------------------------------------
class Row(TypedDict):
    """One rewrite of one response: a row of the explanation table (NaN sent as null)."""

    row_id: int
    side: Side
    attribute: str
    direction: Direction
    original: str
    perturbed: str | None
    reward_original: float | None
    reward_perturbed: float | None
    reward_other: float | None
    margin_before: float | None
    margin_after: float | None
    outcome: Outcome
    failure_reason: str | None


class Turn(TypedDict):
    """One message of a (possibly multi-turn) prompt."""

    role: str
    content: str


class ShownComparison(TypedDict):
    """The comparison on screen, with its position among the visible ones and its rewards;
    ``human_preferred`` is the input's human label (None: the data has none)."""

    id: str
    index: int
    total: int
    prompt_turns: list[Turn]
    response_a: str
    response_b: str
    reward_a: float | None
    reward_b: float | None
    preferred: Preferred | None
    margin: float | None
    tie: bool
    human_preferred: Preferred | None


class Filters(TypedDict):
    """The ComparisonView's row filters; an empty attribute means every attribute."""

    attribute: str
    side: SideFilter
    outcome: OutcomeFilter


class LinkedFilters(TypedDict):
    """The RewriteTable's Attribute and Side filters, the ones it shares with the chart and
    the ComparisonView (the Explorer links them); an empty attribute means every attribute."""

    attribute: str
    side: SideFilter


class ShownEdit(TypedDict):
    """A hand edit of the comparison on screen, rescored by the RM (core.rescore). ``row`` is
    its explanation-table row (an edited original as a rewrite of its side, attribute
    "hand-edit"); ``target_row`` the table row an edited rewrite replaces (-1: none);
    ``response`` the edited original response (None for a rewrite); ``rederived`` the
    comparison's rewrites re-derived against an edited pair (each ``row_id`` the table row it
    re-derives); ``note`` one line saying what happened."""

    edit_id: int
    kind: EditKind
    target_row: int
    response: Preferred | None
    row: Row
    rederived: list[Row]
    note: str


class PickerAttribute(TypedDict):
    """An attribute the AttributePicker offers; ``custom`` when the user added it."""

    name: str
    definition: str
    custom: bool


class Example(TypedDict):
    """A representative or contrasting comparison to annotate, with its texts and rewrites.
    ``response_chosen`` is the response the RM prefers (``rm_preferred``, "a"/"b"), not
    necessarily the human's: ``human_preferred`` is the input's label (None: none) and
    ``rm_agrees_with_human`` None when either is missing; the rewards are the RM's of the two
    originals and ``margin`` their difference."""

    comparison_id: str
    kind: ExampleKind
    score: float | None
    prompt: str
    response_chosen: str
    response_rejected: str
    rows: list[Row]
    rm_preferred: Preferred | None
    human_preferred: Preferred | None
    rm_agrees_with_human: bool | None
    reward_chosen: float | None
    reward_rejected: float | None
    margin: float | None


class Annotation(TypedDict):
    """What is saved for one example; ``updated`` is epoch seconds."""

    tags: list[str]
    note: str
    updated: float


class SummaryRow(TypedDict):
    """One attribute's pooled sensitivity row as every face shows it: its reading mark and the
    text cells core.readability made (n, failed rate, PFR [interval], null PFR, excess, Holm p,
    significance), in the order of `headers`."""

    attribute: str
    reading: Reading
    cells: list[str]
    #: the slice the row belongs to when the summary is split (``split_by``); null: the rows
    #: missing the field, or no split
    split_value: str | None


class TableColumn(TypedDict):
    """A column of the RewriteTable: its field in ``TableRow``, its header and its kind
    (what it sorts and filters as)."""

    field: str
    title: str
    kind: ColumnKind


class TableRow(TypedDict):
    """One rewrite as a RewriteTable row (core.table_query.COLUMNS, then the table's own slice
    and objective columns in ``extra_text`` / ``extra_numbers``; NaN sent as null);
    ``margin_change`` is margin_after - margin_before, ``perturbed`` is cut to
    ``MAX_CELL_CHARS`` with an ellipsis (the detail view shows it whole)."""

    row_id: int
    comparison_id: str
    attribute: str
    side: Side
    direction: Direction
    outcome: Outcome
    margin_before: float | None
    margin_after: float | None
    margin_change: float | None
    syntactic_distance: float | None
    semantic_distance: float | None
    length_change: float | None
    valid: bool | None
    perturbed: str | None
    failure_reason: str | None
    #: who made the rewrite: the perturber's identity, or ``manual`` for a hand edit
    perturber: str | None
    #: the table's own text columns (``slice.<field>``: the input's domain, source, ...), keyed
    #: by their field in ``RewriteTableState.columns``
    extra_text: dict[str, str | None]
    #: the table's own number columns (``objective.<name>.delta``), keyed likewise
    extra_numbers: dict[str, float | None]


class SortKey(TypedDict):
    """One sort key of a page request, the first the most significant."""

    column: str
    dir: SortDirection


class RangeBound(TypedDict):
    """Keep rows whose numeric ``column`` lies in [low, high]; a null bound is open."""

    column: str
    low: float | None
    high: float | None


class TableFilters(TypedDict):
    """The RewriteTable's filters (ANDed); an empty attribute means every attribute."""

    attribute: str
    side: SideFilter
    outcome: OutcomeFilter
    validity: ValidityFilter
    ranges: list[RangeBound]


# -- synced traits, per widget --------------------------------------------------------------
class ComparisonViewState(TypedDict):
    """ComparisonView's traits: Python filters and pages, the browser shows one page; `empty`
    is what to say when no row is shown (no run yet, or no row matches the filters). The
    `edit_*` traits are edit and rescore: the edits of the comparison on screen, the attributes
    a rewrite can be written for, whether editing is possible (else `edit_unavailable` says
    why), a rescore in flight, its status line and its error (one line), and how many edits
    the view holds."""

    comparison: ShownComparison | None
    rows: list[Row]
    attribute_options: list[str]
    filters: Filters
    index: int
    page: int
    page_size: int
    n_rows: int
    empty: str
    edits_shown: list[ShownEdit]
    edit_attributes: list[str]
    can_edit: bool
    edit_unavailable: str
    edit_busy: bool
    edit_status: str
    edit_error: str
    n_edits: int


class AttributePickerState(TypedDict):
    """AttributePicker's traits; ``error`` is the last rejected custom attribute's reason."""

    attributes: list[PickerAttribute]
    selected: list[str]
    error: str


class AnnotatorState(TypedDict):
    """Annotator's traits; ``annotations`` is keyed by comparison id."""

    examples: list[Example]
    index: int
    annotations: dict[str, Annotation]
    tag_options: list[str]
    status: str


class SensitivitySummaryState(TypedDict):
    """SensitivitySummary's traits: the pooled rows, the cells' headers, the legend line (min
    n, alpha, Holm), what to say when there are no rows yet, and the slice field the rows
    are split by ("" when not split: one row per attribute)."""

    rows: list[SummaryRow]
    headers: list[str]
    legend: str
    empty: str
    split_by: str


class RewriteTableState(TypedDict):
    """RewriteTable's traits: the columns (the fixed ones, then this table's slices and
    objective changes), the attributes to filter by, how many rows the
    table holds (before filters), the page size, the selected row (-1: none; the Explorer
    opens it in the ComparisonView), `reselections` (bumped when the selected row is picked
    again, so the Explorer reopens it), `data_version` (bumped when the table changes: the
    browser asks for its page again), the last export's status line, what to say when
    the table has no rows, and `linked_filters`: the filter bar's Attribute and Side, synced
    both ways (the bar shows what the kernel sets and asks for page 1 again; a change made in
    the bar is written here, where the Explorer hears it)."""

    columns: list[TableColumn]
    attribute_options: list[str]
    n_rows: int
    page_size: int
    selected_row: int
    reselections: int
    data_version: int
    export_status: str
    empty: str
    linked_filters: LinkedFilters


# -- messages from the browser --------------------------------------------------------------
class AddAttributeMessage(TypedDict):
    """AttributePicker: validate and add a custom attribute."""

    type: Literal["add"]
    name: str
    definition: str


class SaveAnnotationMessage(TypedDict):
    """Annotator: save the tags and note of one example."""

    type: Literal["save"]
    comparison_id: str
    tags: list[str]
    note: str


class ExportMessage(TypedDict):
    """Annotator: write every annotation to the export directory."""

    type: Literal["export"]
    format: ExportFormat


class RescoreMessage(TypedDict):
    """ComparisonView: rescore an edit in the background. ``kind`` "original": response
    ``response`` ("a"/"b") edited; "rewrite": table row ``row_id`` edited; "write": a rewrite
    typed for ``attribute`` and ``side``. Unused fields are "" (``row_id`` -1)."""

    type: Literal["rescore"]
    kind: EditKind
    comparison_id: str
    row_id: int
    response: str
    attribute: str
    side: str
    text: str


class UndoEditMessage(TypedDict):
    """ComparisonView: drop one edit (its id)."""

    type: Literal["undo"]
    edit_id: int


class PageRequestMessage(TypedDict):
    """RewriteTable: ask for page ``page`` (1-based) of the rows the sort, search (at most
    200 characters) and filters leave; the kernel answers with a ``PageReply`` carrying the
    same ``request_id``."""

    type: Literal["page"]
    request_id: int
    page: int
    page_size: int
    sort: list[SortKey]
    search: str
    filters: TableFilters


class ExportTableMessage(TypedDict):
    """RewriteTable: write the filtered slice to the export folder (next free name)."""

    type: Literal["export"]
    format: TableFormat


# -- messages from the kernel ---------------------------------------------------------------
class PageReply(TypedDict):
    """RewriteTable: the answer to a ``PageRequestMessage``: one page of rows, the number of
    matching rows (``total``) and pages; ``error`` is one line when the request was refused
    (then no rows)."""

    type: Literal["page"]
    request_id: int
    page: int
    page_size: int
    last_page: int
    total: int
    rows: list[TableRow]
    error: str


@dataclass(frozen=True)
class WidgetContract:
    """One widget: its synced traits, the messages its front end may send and the replies
    its kernel side sends back."""

    state: type
    messages: tuple[type, ...] = ()
    replies: tuple[type, ...] = ()


WIDGETS: dict[str, WidgetContract] = {
    "ComparisonView": WidgetContract(ComparisonViewState, (RescoreMessage, UndoEditMessage)),
    "AttributePicker": WidgetContract(AttributePickerState, (AddAttributeMessage,)),
    "Annotator": WidgetContract(AnnotatorState, (SaveAnnotationMessage, ExportMessage)),
    "SensitivitySummary": WidgetContract(SensitivitySummaryState),
    "RewriteTable": WidgetContract(
        RewriteTableState, (PageRequestMessage, ExportTableMessage), (PageReply,)
    ),
}


def fields(record: type) -> tuple[str, ...]:
    """A record's field names in declaration order (the order the JSON and TypeScript keep)."""
    return tuple(get_type_hints(record))


# -- the JSON schema ------------------------------------------------------------------------
SCHEMA_PATH = Path(__file__).resolve().parents[3] / "js" / "src" / "contract.json"
"""Where the schema is committed, in a source checkout (the wheel needs only this module)."""
_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _type_schema(tp: Any) -> dict[str, Any]:
    """JSON schema of one field type; only what both ends can spell is accepted."""
    for name, enum in ENUMS.items():
        if tp == enum:
            return _ref(name)
    if is_typeddict(tp):
        return _ref(tp.__name__)
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
    if origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        return {"anyOf": [_type_schema(inner), {"type": "null"}]}
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0])}
    if origin is dict and args[0] is str:
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    raise TypeError(
        f"the widget contract cannot express {tp!r}: use str, int, float, bool, "
        "a Literal, a TypedDict, list[...], dict[str, ...] or X | None."
    )


def _record_schema(record: type) -> dict[str, Any]:
    hints = get_type_hints(record)
    text = " ".join((record.__doc__ or "").split()).replace("``", "`")  # Markdown for TS
    return {
        "description": text,
        "type": "object",
        "properties": {name: _type_schema(tp) for name, tp in hints.items()},
        "required": list(hints),
        "additionalProperties": False,
    }


def _records() -> list[type]:
    """Every TypedDict the widgets reach, once each, in the order they are reached."""
    seen: dict[str, type] = {}

    def visit(tp: Any) -> None:
        if is_typeddict(tp):
            if tp.__name__ in seen:
                return
            seen[tp.__name__] = tp
            for field_type in get_type_hints(tp).values():
                visit(field_type)
        else:
            for arg in get_args(tp):
                visit(arg)

    for widget in WIDGETS.values():
        for record in (widget.state, *widget.messages, *widget.replies):
            visit(record)
    return list(seen.values())


def schema() -> dict[str, Any]:
    """The contract as a JSON schema (draft 2020-12): ``$defs`` plus a ``widgets`` index."""
    defs: dict[str, Any] = {name: {"enum": list(get_args(enum))} for name, enum in ENUMS.items()}
    defs.update({r.__name__: _record_schema(r) for r in _records()})
    widgets: dict[str, Any] = {}
    for name, w in WIDGETS.items():
        entry: dict[str, Any] = {
            "state": _ref(w.state.__name__),
            "messages": [_ref(m.__name__) for m in w.messages],
        }
        if w.replies:  # only the widgets that answer: the other entries stay as they were
            entry["replies"] = [_ref(r.__name__) for r in w.replies]
        widgets[name] = entry
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": "Generated from rmx_widgets/widgets/contract by "
        "`python -m rmx_widgets.widgets.contract`; do not edit by hand.",
        "title": "rmx-widgets widget contract",
        "widgets": widgets,
        "$defs": defs,
    }


def schema_text() -> str:
    """The schema exactly as committed (two-space indent, trailing newline)."""
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"
