"""One strict JSON decoder for everything read from outside: a repeated key is an error, and
absurdly nested text is a one-line error in each reader, never a RecursionError traceback."""

import json

import pytest

from rmx_widgets.core.data import load_comparisons
from rmx_widgets.core.discovery import DiscoveryReplyError, parse_discovery_reply
from rmx_widgets.core.errors import DataError
from rmx_widgets.core.perturbers.prompts import parse_reply
from rmx_widgets.core.strict_json import DuplicateKeyError, loads_unique

DEEP = "[" * 100_000 + "]" * 100_000


def test_a_repeated_key_is_refused_at_any_depth():
    assert loads_unique('{"a": 1, "b": {"c": 2}}') == {"a": 1, "b": {"c": 2}}
    assert json.loads('{"a": 1, "a": 2}') == {"a": 2}  # what the standard decoder does
    with pytest.raises(DuplicateKeyError) as e:
        loads_unique('{"a": 1, "b": [{"c": 2, "c": 3}]}')
    assert e.value.key == "c"
    with pytest.raises(json.JSONDecodeError):
        loads_unique('{"a": "x\ny"}')  # raw control characters only with strict=False
    assert loads_unique('{"a": "x\ny"}', strict=False) == {"a": "x\ny"}


def test_a_deeply_nested_data_line_is_one_data_error(tmp_path):
    data = tmp_path / "deep.jsonl"
    data.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n' + DEEP + "\n")
    with pytest.raises(DataError, match="nested too deeply") as e:
        load_comparisons(data)
    assert e.value.row == 2


def test_deeply_nested_llm_replies_are_reasons_not_crashes():
    result = parse_reply(DEEP, "the original response")
    assert result.text is None and "nested too deeply" in result.failure
    with pytest.raises(DiscoveryReplyError, match="nested too deeply"):
        parse_discovery_reply(DEEP)
    with pytest.raises(DiscoveryReplyError, match="gives the key 'name' twice"):
        parse_discovery_reply('[{"name": "a", "name": "b", "definition": "d"}]')
