import pytest

import rmx_widgets as rmx
from rmx_widgets.core.attributes import resolve_attributes
from rmx_widgets.errors import AttributeSpecError


def test_fifteen_defaults_with_definitions_and_both_directions():
    names = [a.name for a in rmx.DEFAULT_ATTRIBUTES]
    assert len(names) == 15 == len(set(names))
    assert {"verbosity", "correctness", "avoid-to-answer", "manner"} <= set(names)
    for a in rmx.DEFAULT_ATTRIBUTES:
        assert len(a.definition) > 40 and a.worse and a.better
        assert a.describe("worse") != a.describe("better")


def test_custom_attributes_and_resolution():
    custom = rmx.Attribute("humour", "How funny the response is, through wit or wordplay.")
    got = resolve_attributes(
        ["verbosity", custom, {"name": "rhyme", "definition": "Whether the lines rhyme."}]
    )
    assert [a.name for a in got] == ["verbosity", "humour", "rhyme"]
    assert "humour" in custom.describe("better")
    assert resolve_attributes("verbosity, manner")[1].name == "manner"
    assert len(resolve_attributes(None)) == 15
    edited = rmx.Attribute("humour", "How funny the response is, judged by a strict critic.")
    assert edited.fingerprint != custom.fingerprint


@pytest.mark.parametrize(
    "spec, match",
    [
        (["verbositty"], "Did you mean 'verbosity'"),
        (["verbosity", "verbosity"], "given twice"),
        ([{"name": "x"}], "needs 'name' and 'definition'"),
        ([], "no attributes"),
    ],
)
def test_bad_attribute_specs(spec, match):
    with pytest.raises(AttributeSpecError, match=match):
        resolve_attributes(spec)


def test_attribute_validation():
    with pytest.raises(AttributeSpecError, match="definition"):
        rmx.Attribute("wit", "  ")
    with pytest.raises(AttributeSpecError, match="not valid"):
        rmx.Attribute("Bad Name", "A perfectly fine definition here.")
    with pytest.raises(AttributeSpecError, match="direction"):
        rmx.DEFAULT_ATTRIBUTES[0].describe("sideways")
