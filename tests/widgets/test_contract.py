"""The Python widgets keep to the one widget contract (rmx_widgets/widgets/contract).

The committed js/src/contract.json must be what the contract generates (the TypeScript types
are generated from that file, see js/test/contract.test.ts), every widget's synced traits must
be the contract's state fields with matching trait kinds, and what the widgets really put on
the wire, and read back from it, must validate against the schema.
"""

import json

import jsonschema
import pytest
import traitlets
from anywidget import AnyWidget
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.widgets import Annotator, AttributePicker, ComparisonView, RewriteTable
from rmx_widgets.widgets.contract import (
    SCHEMA_PATH,
    WIDGETS,
    AddAttributeMessage,
    ExportMessage,
    SaveAnnotationMessage,
    fields,
    schema,
    schema_text,
)
from rmx_widgets.widgets.sensitivity_summary import SensitivitySummary

CLASSES: dict[str, type[AnyWidget]] = {
    "ComparisonView": ComparisonView,
    "AttributePicker": AttributePicker,
    "Annotator": Annotator,
    "SensitivitySummary": SensitivitySummary,
    "RewriteTable": RewriteTable,
}


@pytest.fixture(scope="module")
def result():
    return rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False).explain(COMPS)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    """Validates against one $defs entry of the committed schema (not the generated one)."""
    committed = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": committed["$defs"]})


def _describe(error: jsonschema.ValidationError) -> str:
    """The innermost reason: for a nullable record (anyOf [record, null]), the record's."""
    while error.context:
        error = next(e for e in error.context if e.schema != {"type": "null"})
    return f"{error.json_path}: {error.message}"


def _check_state(widget: AnyWidget, name: str) -> None:
    state_def = WIDGETS[name].state.__name__
    wire = {k: v for k, v in widget.get_state().items() if k in fields(WIDGETS[name].state)}
    errors = [_describe(e) for e in _validator(state_def).iter_errors(json.loads(json.dumps(wire)))]
    assert errors == [], f"{name} state leaves the contract: {errors}"


def test_committed_schema_is_what_contract_py_generates():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        f"{SCHEMA_PATH} is out of date: run `python -m rmx_widgets.widgets.contract`, then "
        "`npm run contract` in js/"
    )
    jsonschema.Draft202012Validator.check_schema(schema())


def test_schema_refuses_a_row_with_a_missing_or_extra_field(result):
    row = ComparisonView(result).rows[0]
    assert _validator("Row").is_valid(row)
    assert not _validator("Row").is_valid({**row, "extra": 1})
    assert not _validator("Row").is_valid({k: v for k, v in row.items() if k != "outcome"})


def _trait_kind(prop: dict) -> tuple[type[traitlets.TraitType], bool]:
    """The traitlets class a schema property needs, and whether it must allow None."""
    if "anyOf" in prop:
        (inner,) = (p for p in prop["anyOf"] if p != {"type": "null"})
        return _trait_kind(inner)[0], True
    if "$ref" in prop:
        return traitlets.Dict, False  # every $ref a trait holds is a record
    kinds = {
        "integer": traitlets.Int,
        "number": traitlets.Float,
        "string": traitlets.Unicode,
        "boolean": traitlets.Bool,
        "array": traitlets.List,
        "object": traitlets.Dict,
    }
    return kinds[prop["type"]], False


@pytest.mark.parametrize("name", list(WIDGETS))
def test_synced_traits_are_the_contract_state(name):
    cls = CLASSES[name]
    synced = set(cls.class_trait_names(sync=True)) - set(AnyWidget.class_trait_names(sync=True))
    assert synced == set(fields(WIDGETS[name].state))
    props = schema()["$defs"][WIDGETS[name].state.__name__]["properties"]
    for trait_name, trait in cls.class_traits(sync=True).items():
        if trait_name not in props:
            continue
        kind, nullable = _trait_kind(props[trait_name])
        assert isinstance(trait, kind), f"{name}.{trait_name} is {type(trait).__name__}"
        assert trait.allow_none == nullable, f"{name}.{trait_name}: allow_none"


def test_comparison_view_payloads_keep_to_the_contract(result):
    view = ComparisonView(result, page_size=2)
    _check_state(view, "ComparisonView")
    view.index, view.page = 1, 1
    _check_state(view, "ComparisonView")
    view.filters = {"attribute": "assertiveness", "side": "rejected", "outcome": "failed"}
    assert view.rows and view.rows[0]["perturbed"] is None
    _check_state(view, "ComparisonView")
    view.filters = {"attribute": "nothing", "side": "all", "outcome": "all"}
    assert view.comparison is None
    _check_state(view, "ComparisonView")
    _check_state(ComparisonView(), "ComparisonView")


def test_attribute_picker_payloads_and_message_keep_to_the_contract():
    picker = AttributePicker(["verbosity"])
    _check_state(picker, "AttributePicker")
    picker._on_msg(
        picker,
        AddAttributeMessage(type="add", name="humour", definition="How funny the response is."),
        [],
    )
    assert picker.error == "" and picker.selected[-1] == "humour"
    _check_state(picker, "AttributePicker")
    picker._on_msg(
        picker, AddAttributeMessage(type="add", name="Bad Name", definition="x" * 20), []
    )
    assert picker.error
    _check_state(picker, "AttributePicker")


def test_annotator_payloads_and_messages_keep_to_the_contract(result, tmp_path):
    def words_rm(prompts, responses):  # agrees with rm on the pairs, for other reasons
        return [-len(x.split()) + (2.0 if "please" in x else 0.0) for x in responses]

    other = rmx.Explainer(words_rm, perturb, attributes=ATTRS, progress=False).explain(COMPS)
    ann = Annotator(result, tmp_path / "s.sqlite", k=2, contrast_with=other, export_dir=tmp_path)
    assert {e["kind"] for e in ann.examples} == {"representative", "contrasting"}
    _check_state(ann, "Annotator")
    cid = ann.examples[0]["comparison_id"]
    ann._on_msg(
        ann, SaveAnnotationMessage(type="save", comparison_id=cid, tags=["odd"], note="n"), []
    )
    assert ann.annotations[cid]["tags"] == ["odd"] and ann.status.startswith("saved")
    _check_state(ann, "Annotator")
    for fmt in ("csv", "jsonl"):
        ann._on_msg(ann, ExportMessage(type="export", format=fmt), [])
        assert ann.status.startswith("exported") and (tmp_path / f"annotations.{fmt}").exists()


def test_sensitivity_summary_payloads_keep_to_the_contract(result):
    from sens_frames import sens_frame

    summary = SensitivitySummary()
    _check_state(summary, "SensitivitySummary")
    for null in ("columns", "na", "absent"):
        summary.show(sens_frame(null))
        _check_state(summary, "SensitivitySummary")
    summary.show(result.sensitivity(n_boot=20))
    _check_state(summary, "SensitivitySummary")


def test_the_reading_literal_is_core_readabilitys():
    from typing import get_args

    from rmx_widgets.core import readability
    from rmx_widgets.widgets.contract import Reading

    assert get_args(Reading) == get_args(readability.Reading)


def test_rewrite_table_state_requests_and_replies_keep_to_the_contract(result):
    table = RewriteTable(result.table)
    _check_state(table, "RewriteTable")
    request = {
        "type": "page",
        "request_id": 1,
        "page": 2,
        "page_size": 3,
        "sort": [{"column": "margin_change", "dir": "desc"}],
        "search": "c1",
        "filters": {
            "attribute": "",
            "side": "all",
            "outcome": "all",
            "validity": "all",
            "ranges": [{"column": "margin_change", "low": None, "high": 0.0}],
        },
    }
    assert _validator("PageRequestMessage").is_valid(request)
    for reply in (table.answer(request), table.answer({**request, "page_size": 10**6})):
        errors = [
            _describe(e) for e in _validator("PageReply").iter_errors(json.loads(json.dumps(reply)))
        ]
        assert errors == []
    assert _validator("ExportTableMessage").is_valid({"type": "export", "format": "parquet"})
    assert WIDGETS["RewriteTable"].replies
