"""``LLMAttributeJudge`` against the local fake chat-completions server with scripted replies:
verdicts from strict JSON only, every malformed reply and failed request undecided with its
reason, fatal errors raised, the prompt visible and bounded, the key never in a reason."""

from __future__ import annotations

import json

import pytest
from fake_chat_server import FakeChatServer, say

import rmx_widgets as rmx
from rmx_widgets import errors
from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.validity import JudgeRequest, LLMAttributeJudge, RewriteJudge, Verdict
from rmx_widgets.core.validity.llm import (
    JUDGE_SYSTEM_PROMPT,
    JUDGE_VERSION,
    MAX_REPLY_CHARS,
    MAX_TEXT_CHARS,
    JudgeReplyError,
    judge_messages,
    parse_judge_reply,
)

KEY_ENV = "RMX_TEST_JUDGE_KEY"
KEY = "sk-judge-SECRET-0123456789abcdef"


def reply(attribute: str = "moved_as_asked", others: str = "kept", reason: str = "ok") -> str:
    return json.dumps({"attribute": attribute, "others": others, "reason": reason})


def req(marker: str, attribute: str = "verbosity", direction: str = "worse") -> JudgeRequest:
    original = f"Water basil when the soil is dry. {marker}"
    rewrite = f"Water basil when the soil is dry, as said before, when dry. {marker}"
    return JudgeRequest(
        "How do I grow basil?", original, rewrite, get_attribute(attribute), direction
    )


def llm(server, **kw) -> rmx.OpenAIPerturber:
    kw.setdefault("max_retries", 1)
    return rmx.OpenAIPerturber(
        "fake", base_url=server.url, backoff_base=0.0, api_key_env=KEY_ENV, **kw
    )


@pytest.fixture
def chat():
    with FakeChatServer() as s:
        yield s


SCRIPTS = {
    "J-VALID": (
        say(reply(reason="padded with a restatement")),
        True,
        "moved as asked, others kept: padded with a restatement",
    ),
    "J-OTHERS": (
        say(reply(others="changed", reason="also changed facts")),
        False,
        "moved as asked, others changed: also changed facts",
    ),
    "J-OPPOSITE": (
        say(reply("moved_opposite", reason="shorter")),
        False,
        "moved opposite, others kept: shorter",
    ),
    "J-UNCHANGED": (
        say(reply("unchanged", reason="same text")),
        False,
        "unchanged, others kept: same text",
    ),
    "J-FENCED": (
        say("```json\n" + reply(reason="fine") + "\n```"),
        True,
        "moved as asked, others kept: fine",
    ),
}


def test_verdicts_follow_the_two_answers(chat, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    for marker, (plan, _, _) in SCRIPTS.items():
        chat.script(marker, plan)
    judge = LLMAttributeJudge(llm(chat))
    assert isinstance(judge, RewriteJudge)
    verdicts = judge.judge_batch([req(m) for m in SCRIPTS])
    assert verdicts == [Verdict(valid, reason) for _, valid, reason in SCRIPTS.values()]
    assert len(chat.requests) == len(SCRIPTS)  # one request each, none retried
    assert judge.judge_batch([]) == []


BAD = {
    "J-DUP": (
        '{"attribute": "moved_as_asked", "others": "kept", "others": "changed", "reason": "x"}',
        "gives the key 'others' twice",
    ),
    "J-EXTRA": (
        json.dumps({"attribute": "unchanged", "others": "kept", "reason": "x", "score": 3}),
        "unknown key(s) 'score'",
    ),
    "J-MISSING": (json.dumps({"attribute": "unchanged", "reason": "x"}), "lacks 'others'"),
    "J-PROSE": ("Sure! Here is my verdict: " + reply(), "not JSON"),
    "J-AFTER": (reply() + "\nHope this helps.", "not JSON"),
    "J-TWOFENCES": ("```json\n" + reply() + "\n```\n```json\n" + reply() + "\n```", "not JSON"),
    "J-VALUE": (reply(attribute="improved"), "'attribute' is 'improved', not one of"),
    "J-OTHERSVAL": (reply(others="mostly"), "'others' is 'mostly'"),
    "J-LIST": (json.dumps([reply()]), "JSON list, not an object"),
    "J-LONGREASON": (reply(reason="x" * 301), "'reason' has 301 characters, over 300"),
    "J-HUGE": (reply() + " " * MAX_REPLY_CHARS, f"over {MAX_REPLY_CHARS:,}"),
    "J-CONTROL": (reply(reason="bad \x1b[31m"), "'reason' holds"),
    "J-EMPTYREASON": (reply(reason="  "), "'reason' is not a non-empty string"),
}


def test_unusable_replies_are_undecided_with_the_reason_after_a_retry(chat, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    for marker, (text, _) in BAD.items():
        chat.script(marker, say(text, text))
    verdicts = LLMAttributeJudge(llm(chat)).judge_batch([req(m) for m in BAD])
    for (marker, (_, why)), v in zip(BAD.items(), verdicts):
        assert v.valid is None, marker
        assert v.reason.startswith("judge reply unparseable: "), (marker, v.reason)
        assert why in v.reason, (marker, v.reason)
        assert len(chat.requests_with(marker)) == 2, marker  # max_retries=1
        assert "\n" not in v.reason


def test_a_failed_request_is_undecided_and_the_rest_of_the_batch_is_judged(chat, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    chat.script("J-500", ["500", "500"])
    chat.script("J-OK", say(reply(reason="fine")))
    got = LLMAttributeJudge(llm(chat)).judge_batch([req("J-500"), req("J-OK")])
    assert got[0].valid is None
    assert got[0].reason.startswith("judge request failed: ")
    assert "500" in got[0].reason and "gave up after 2 attempts" in got[0].reason
    assert got[1] == Verdict(True, "moved as asked, others kept: fine")


def test_errors_that_fail_every_request_are_raised(chat, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    chat.default = "401"
    with pytest.raises(errors.AuthenticationError) as info:
        LLMAttributeJudge(llm(chat)).judge_batch([req("J-AUTH")])
    assert KEY not in str(info.value)
    unreachable = rmx.OpenAIPerturber(
        "fake", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2, api_key_env=KEY_ENV
    )
    with pytest.raises(errors.PerturberError, match="cannot reach the LLM server"):
        LLMAttributeJudge(unreachable).judge_batch([req("J-DOWN")])


def test_the_prompt_is_the_visible_template_with_definition_and_direction(chat, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    chat.script("J-SEEN", say(reply()))
    r = req("J-SEEN", "assertiveness", "better")
    LLMAttributeJudge(llm(chat)).judge_batch([r])
    (sent,) = chat.requests_with("J-SEEN")
    assert sent.body["messages"] == judge_messages(r)
    system, user = (m["content"] for m in sent.body["messages"])
    assert system == JUDGE_SYSTEM_PROMPT
    attr = get_attribute("assertiveness")
    assert attr.definition in user
    assert attr.better in user and attr.worse not in user
    assert "make the response better on this quality" in user
    assert f"<original>\n{r.original}\n</original>" in user
    assert f"<rewrite>\n{r.rewrite}\n</rewrite>" in user
    assert "How do I grow basil?" in user


def test_long_texts_are_cut_with_a_marker():
    long = "word " * 10_000  # 50,000 characters
    r = JudgeRequest("Q?", long, long + "more", get_attribute("verbosity"), "worse")
    user = judge_messages(r)[1]["content"]
    assert "the text has 50,000 characters, the first 8,000 shown" in user
    assert "the text has 50,004 characters" in user
    assert len(user) < 3 * MAX_TEXT_CHARS + 3000


def test_the_key_never_appears_in_reasons_identity_or_repr(chat, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    chat.script("J-ECHO", say(reply(others="changed", reason=f"key {KEY} seen")))
    judge = LLMAttributeJudge(llm(chat))
    (v,) = judge.judge_batch([req("J-ECHO")])
    (sent,) = chat.requests_with("J-ECHO")
    assert sent.headers["authorization"] == f"Bearer {KEY}"  # sent, as a header only
    assert KEY not in json.dumps(sent.body)
    assert v.valid is False and KEY not in v.reason and "***" in v.reason
    assert KEY not in judge.identity and KEY not in repr(judge)


def test_identity_names_prompt_version_model_host_and_settings(chat):
    base = LLMAttributeJudge(llm(chat)).identity
    assert base == f"llm-judge:{JUDGE_VERSION}:openai:fake@127.0.0.1:{chat.port}"
    warm = LLMAttributeJudge(llm(chat, temperature=0.7)).identity
    assert warm != base and "temperature=0.7" in warm
    assert (
        LLMAttributeJudge(llm(chat), name="my-judge:v2").identity
        == "llm-judge:judge-v1:my-judge:v2"
    )


def test_a_function_llm(monkeypatch):
    seen: list[list[dict[str, str]]] = []

    def fn(messages):
        seen.append(messages)
        text = messages[1]["content"]
        if "J-BOOM" in text:
            raise RuntimeError("backend\nexploded")
        if "J-NONE" in text:
            return None
        return reply("moved_opposite", reason="it got shorter")

    judge = LLMAttributeJudge(fn)
    assert judge.identity.startswith("llm-judge:judge-v1:callable:")
    got = judge.judge_batch([req("J-A"), req("J-BOOM"), req("J-NONE")])
    assert got[0] == Verdict(False, "moved opposite, others kept: it got shorter")
    assert got[1] == Verdict(None, "judge request failed: RuntimeError: backend exploded")
    assert got[2] == Verdict(None, "judge request failed: the LLM returned no text")
    assert seen[0] == judge_messages(req("J-A"))

    def fatal(messages):
        raise errors.PerturberError("the server is gone")

    with pytest.raises(errors.PerturberError, match="the server is gone"):
        LLMAttributeJudge(fatal, name="fatal:v1").judge_batch([req("J-A")])
    with pytest.raises(errors.PerturberError, match="needs an LLM client with chat_batch"):
        LLMAttributeJudge(rmx.RulePerturber())


def test_parse_judge_reply_directly():
    assert parse_judge_reply(reply(reason="a  b\tc")) == Verdict(
        True, "moved as asked, others kept: a b c"
    )
    for bad in (None, "", "   ", "[]", "{}", '{"attribute": 1, "others": "kept", "reason": "x"}'):
        with pytest.raises(JudgeReplyError):
            parse_judge_reply(bad)
    with pytest.raises(JudgeReplyError, match="over 2,000"):
        parse_judge_reply("[" * 1500 + "]" * 1500)  # the size bound comes before decoding
