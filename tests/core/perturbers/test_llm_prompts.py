"""The LLM perturbation prompt (content, versioning) and its strict reply parser."""

from __future__ import annotations

import json

import pytest

from rmx_widgets.core.attributes import Attribute, get_attribute
from rmx_widgets.core.errors import AttributeSpecError
from rmx_widgets.core.failures import FailureKind, legacy_failure_kind
from rmx_widgets.core.perturbers import prompts
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.prompts import (
    TEMPLATE_VERSION,
    ReplyParseError,
    build_messages,
    extract_reply,
    parse_reply,
)

ORIGINAL = "Paris is the capital of France. I hope this helps!"


def _req(direction: str = "worse", prompt=None, attribute=None) -> PerturbationRequest:
    return PerturbationRequest(
        prompt if prompt is not None else "What is the capital of France?",
        ORIGINAL,
        attribute or get_attribute("verbosity"),
        direction,
    )


def test_template_is_versioned_and_visible():
    assert TEMPLATE_VERSION == "v2"
    assert "{response}" in prompts.USER_TEMPLATE and "{definition}" in prompts.USER_TEMPLATE
    assert "JSON" in prompts.SYSTEM_PROMPT


@pytest.mark.parametrize("direction", ["worse", "better"])
def test_build_messages_carries_everything_the_model_needs(direction):
    attr = get_attribute("verbosity")
    msgs = build_messages(_req(direction))
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"] == prompts.SYSTEM_PROMPT
    user = msgs[1]["content"]
    assert "What is the capital of France?" in user
    assert f"<response>\n{ORIGINAL}\n</response>" in user
    assert attr.definition in user
    assert attr.describe(direction) in user
    assert f"make the response {direction} overall" in user
    assert "Locate" in user and "Edit" in user and '"rewritten"' in user
    other = "better" if direction == "worse" else "worse"
    assert attr.describe(other) not in user


def test_build_messages_with_custom_attribute_chat_prompt_and_braces():
    attr = Attribute("pirate-speak", "How much the response sounds like a pirate {arr}.")
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hi {name}"},
    ]
    user = build_messages(_req("better", prompt=chat, attribute=attr))[1]["content"]
    assert "System: Be brief.\n\nUser: Say hi {name}" in user
    assert "pirate {arr}." in user
    assert "Make the response better with respect to pirate-speak." in user
    merged = build_messages(_req(attribute=attr), system=False)
    assert len(merged) == 1 and merged[0]["role"] == "user"
    assert merged[0]["content"].startswith(prompts.SYSTEM_PROMPT)


def test_bad_direction_is_rejected():
    with pytest.raises(AttributeSpecError):
        build_messages(_req("sideways"))


GOOD = {"locate": ["I hope this helps!"], "rewritten": "Paris is the capital of France."}


@pytest.mark.parametrize(
    "reply",
    [
        json.dumps(GOOD),
        "  \n" + json.dumps(GOOD, indent=2) + "\n",
        "```json\n" + json.dumps(GOOD) + "\n```",
        "```\n" + json.dumps(GOOD) + "\n```",
        '{"locate": [], "rewritten": "Paris is the capital of France."}',
        '{"rewritten": "Paris is the capital of France."}',
    ],
)
def test_parse_accepts_the_object_alone_or_in_one_fence(reply):
    res = parse_reply(reply, ORIGINAL)
    assert res.text == "Paris is the capital of France." and res.failure is None


def test_extract_keeps_located_spans_and_literal_newlines():
    parsed = extract_reply('{"locate": ["a", "b"], "rewritten": "line 1\nline 2"}')
    assert parsed.locate == ["a", "b"] and parsed.rewritten == "line 1\nline 2"


REJECTED = [
    ("Sure! " + json.dumps(GOOD), "not a JSON object"),
    (json.dumps(GOOD) + " Hope that helps.", "not a JSON object"),
    ("Here you go:\n```json\n" + json.dumps(GOOD) + "\n```", "not a JSON object"),
    ('{"locate": ["x"], "rewritten": "trunc', "not a JSON object"),
    ("", "empty"),
    ("[1, 2]", "not an object"),
    ('{"locate": ["x"]}', "no 'rewritten'"),
    ('{"locate": [], "rewritten": 42}', "not a string"),
    ('{"locate": [], "rewritten": null}', "not a string"),
    ('{"locate": [], "rewritten": "   "}', "'rewritten' field is empty"),
    ('{"locate": "x", "rewritten": "new text"}', "not a list of strings"),
]


@pytest.mark.parametrize("reply, reason", REJECTED)
def test_parse_rejects_anything_else_with_a_reason(reply, reason):
    res = parse_reply(reply, ORIGINAL)
    assert res.text is None
    assert res.failure.startswith("unparseable reply") and reason in res.failure
    with pytest.raises(ReplyParseError):
        extract_reply(reply)


def test_unchanged_rewrite_is_a_failure():
    res = parse_reply(json.dumps({"locate": [], "rewritten": ORIGINAL + "\n"}), ORIGINAL)
    assert res.text is None and "unchanged" in res.failure
    assert res.kind is FailureKind.UNCHANGED


@pytest.mark.parametrize("reply, reason", REJECTED)
def test_parse_failures_name_their_kind(reply, reason):
    """Nothing to parse, or no rewrite in it, is EMPTY; any other bad reply is UNPARSEABLE (the
    kinds the old classifier gave these reasons, now chosen where the reply is rejected)."""
    res = parse_reply(reply, ORIGINAL)
    expected = FailureKind.EMPTY if "empty" in reason else FailureKind.UNPARSEABLE
    assert res.kind is expected and legacy_failure_kind(res.failure) is expected
    with pytest.raises(ReplyParseError) as info:
        extract_reply(reply)
    assert info.value.kind is expected
