"""Attribute discovery (``rmx.discover_attributes``) on the local fake chat server with
scripted replies: counts computed by hand, ranking and ties, strict parsing, failures counted,
and the attributes file it yields round-trips through the loader."""

from __future__ import annotations

import json
import warnings

import pytest
from fake_chat_server import FakeChatServer, say

import rmx_widgets as rmx
from rmx_widgets import errors
from rmx_widgets.core.attributes import get_attribute, resolve_attributes
from rmx_widgets.core.discovery import (
    COUNT_COLUMNS,
    DISCOVERY_TEMPLATE,
    DiscoveryReplyError,
    normalise_name,
    parse_discovery_reply,
)

MARKERS = ("Q-ALPHA", "Q-BRAVO", "Q-CHARLIE", "Q-DELTA", "Q-ECHO")


def q(name: str, definition: str | None = None) -> dict[str, str]:
    return {
        "name": name,
        "definition": definition or f"How much the response shows {name.lower()}.",
        "worse": f"Make it show less {name.lower()}.",
        "better": f"Make it show more {name.lower()}.",
    }


def comps() -> list[rmx.Comparison]:
    return [
        rmx.Comparison(f"c{i}", f"Tell me about {m}.", f"A long answer {i}.", f"Short {i}.")
        for i, m in enumerate(MARKERS, start=1)
    ]


#: the replies, per comparison, and what they fold to (by hand):
#:   c1: conciseness, politeness, factual-accuracy
#:   c2: conciseness, factual-accuracy, use-of-example
#:   c3: conciseness, use-of-example, politeness (twice in the reply: counted once)
#:   c4: malformed -> failed
#:   c5: verbosity (built-in), factual-accuracy
#: counts: conciseness 3, factual-accuracy 3, politeness 2, use-of-example 2, verbosity 1
REPLIES = {
    "Q-ALPHA": [
        q("Conciseness", "How briefly the response makes its point, without padding."),
        q("Politeness"),
        q("Factual Accuracy"),
    ],
    "Q-BRAVO": [
        q("conciseness", "A second, later definition that must not win."),
        q("factual_accuracy"),
        q("Use of Examples"),
    ],
    "Q-CHARLIE": [q("CONCISENESS"), q("use of example"), q("Politeness"), q("politeness")],
    "Q-ECHO": [q("Verbosity", "Not the built-in definition at all."), q("factual-accuracy")],
}
EXPECTED = [
    ("conciseness", 3),
    ("factual-accuracy", 3),
    ("politeness", 2),
    ("use-of-example", 2),
    ("verbosity", 1),
]


@pytest.fixture
def chat():
    with FakeChatServer() as s:
        for marker, reply in REPLIES.items():
            s.script(marker, say(reply))
        s.script("Q-DELTA", say("Sure! The qualities are conciseness and tone.") * 2)
        yield s


def llm(server, **kw) -> rmx.OpenAIPerturber:
    kw.setdefault("max_retries", 1)
    return rmx.OpenAIPerturber("fake", base_url=server.url, backoff_base=0.0, **kw)


def test_counts_ranking_and_top_k_match_the_hand_count(chat):
    res = rmx.discover_attributes(comps(), llm(chat), k=3)
    assert (res.n_asked, res.n_failed) == (5, 1)
    assert list(res.counts.columns) == list(COUNT_COLUMNS)
    assert list(zip(res.counts["name"], res.counts["count"])) == EXPECTED
    # ties (3 and 3, 2 and 2) are broken by name; shares are over the 4 usable replies
    assert list(res.counts["share"]) == [0.75, 0.75, 0.5, 0.5, 0.25]
    assert [a.name for a in res.attributes] == ["conciseness", "factual-accuracy", "politeness"]
    assert list(res.counts["selected"]) == [True, True, True, False, False]
    first = res.attributes[0]  # the first proposal's texts, in data order
    assert first.definition == "How briefly the response makes its point, without padding."
    assert (first.worse, first.better) == ("Make it show less conciseness.",) + (
        "Make it show more conciseness.",
    )
    variants = dict(zip(res.counts["name"], res.counts["variants"]))
    assert variants["conciseness"] == "CONCISENESS; Conciseness; conciseness"
    assert variants["use-of-example"] == "Use of Examples; use of example"
    assert res.template == DISCOVERY_TEMPLATE.tag == "discover-v1"


def test_the_malformed_reply_is_retried_then_counted_not_fatal(chat):
    res = rmx.discover_attributes(comps(), llm(chat), k=3)
    assert len(chat.requests_with("Q-DELTA")) == 2  # one retry (max_retries=1), then given up
    assert [cid for cid, _ in res.failures] == ["c4"]
    assert "unusable discovery reply: the reply is not JSON" in res.failures[0][1]


def test_k_larger_than_the_distinct_names_keeps_them_all(chat):
    res = rmx.discover_attributes(comps(), llm(chat), k=50)
    assert [a.name for a in res.attributes] == [n for n, _ in EXPECTED]
    assert res.counts["selected"].all()


def test_a_builtin_name_becomes_the_builtin_attribute(chat):
    res = rmx.discover_attributes(comps(), llm(chat), k=50)
    verbosity = res.attributes[-1]
    assert verbosity == get_attribute("verbosity")  # not the reply's own definition
    assert dict(zip(res.counts["name"], res.counts["builtin"])) == {
        "conciseness": False,
        "factual-accuracy": False,
        "politeness": False,
        "use-of-example": False,
        "verbosity": True,
    }


def test_the_records_load_back_as_the_same_attributes_without_warnings(chat, tmp_path):
    res = rmx.discover_attributes(comps(), llm(chat), k=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "redefines the built-in" warning
        loaded = resolve_attributes(json.loads(res.to_json()))
    assert loaded == res.attributes


def test_one_request_per_sampled_comparison_through_the_client(chat):
    client = llm(chat)
    res = rmx.discover_attributes(comps(), client, k=3, sample=2, seed=3)
    assert res.n_asked == 2
    asked = [m for m in MARKERS if chat.requests_with(m)]
    assert len(asked) == 2  # the malformed Q-DELTA, if drawn, is asked twice (one retry)
    assert len(chat.requests) == 2 + ("Q-DELTA" in asked)
    sent = chat.requests[0].body
    assert sent["model"] == "fake" and sent["messages"][0]["role"] == "system"
    assert "<response_a>" in sent["messages"][1]["content"]
    assert client.stats["requests"] >= 2


def test_sample_is_deterministic_and_in_data_order():
    seen: list[list[str]] = []

    def fn(messages):
        seen[-1].append(next(m for m in MARKERS if m in messages[-1]["content"]))
        return json.dumps([q("Tone")])

    for _ in range(2):
        seen.append([])
        rmx.discover_attributes(comps(), fn, sample=3, seed=7)
    assert seen[0] == seen[1] and len(seen[0]) == 3
    assert seen[0] == sorted(seen[0], key=MARKERS.index)


def test_no_comparisons_and_bad_options_are_refused():
    fn = lambda messages: json.dumps([q("Tone")])  # noqa: E731
    with pytest.raises(errors.DataError, match="no comparisons to ask about"):
        rmx.discover_attributes([], fn)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(errors.OptionError, match="k must be a whole number"):
            rmx.discover_attributes(comps(), fn, k=bad)
        with pytest.raises(errors.OptionError, match="sample must be a whole number"):
            rmx.discover_attributes(comps(), fn, sample=bad)
    with pytest.raises(errors.PerturberError, match="needs an LLM client with chat_batch"):
        rmx.discover_attributes(comps(), rmx.RulePerturber())


def test_every_reply_unusable_is_an_error_naming_the_first_reason():
    with pytest.raises(errors.PerturberError, match="none of the 5 discovery replies.*not JSON"):
        rmx.discover_attributes(comps(), lambda messages: "no idea")


# -- strict parsing and names -------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, folded",
    [
        ("Conciseness", "conciseness"),
        ("  Use of Examples ", "use-of-example"),
        ("factual_accuracy", "factual-accuracy"),
        ("Tone / Style", "tone-style"),
        ("avoid to answer", "avoid-to-answer"),
        ("Accuracies", "accuracy"),
        ("politeness", "politeness"),
        ("analysis", "analysis"),
        ("status", "status"),
        ("Details", "detail"),
        ("Emojis", "emojis"),  # "-is" stays, as in "analysis"
        ("its", "its"),
        ("Ｃｌａｒｉｔｙ", "clarity"),  # NFKC folds full-width letters
        ("!!!", None),
        ("3d-ness", None),
        ("x" * 65, None),
    ],
)
def test_normalise_name(raw, folded):
    assert normalise_name(raw) == folded


GOOD = json.dumps([q("Tone")])


@pytest.mark.parametrize(
    "reply, match",
    [
        ("", "the reply is empty"),
        ("Tone, clarity", "not JSON"),
        ('{"name": "tone"}', "JSON dict, not a list"),
        ("[]", "lists 0 qualities"),
        (json.dumps([q(f"q{i}") for i in range(21)]), "lists 21 qualities"),
        ('[{"name": "a", "name": "b", "definition": "x", "worse": "y", "better": "z"}]', "twice"),
        (json.dumps([{**q("Tone"), "why": "x"}]), "unknown key"),
        (json.dumps([{k: v for k, v in q("Tone").items() if k != "worse"}]), "lacks 'worse'"),
        (json.dumps([{**q("Tone"), "better": ""}]), "'better' is not a non-empty string"),
        (json.dumps([{**q("Tone"), "worse": 3}]), "'worse' is not a non-empty string"),
        (json.dumps([q("Tone", "Short.")]), "shorter than a sentence"),
        (json.dumps([q("Tone", "Tone \x1b[31mred\x1b[0m of the reply.")]), "holds"),
        (json.dumps([q("???")]), "folds to no valid attribute name"),
        (json.dumps(["tone"]), "quality 0 is JSON str"),
    ],
)
def test_strict_parsing_rejects_the_whole_reply(reply, match):
    with pytest.raises(DiscoveryReplyError, match=match):
        parse_discovery_reply(reply)


def test_a_fenced_list_is_accepted():
    (p,) = parse_discovery_reply(f"```json\n{GOOD}\n```")
    assert (p.raw_name, p.name) == ("Tone", "tone")
