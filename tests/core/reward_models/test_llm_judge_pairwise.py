"""``LLMJudge(mode="pairwise")`` on the local fake chat-completions server: P(a ≻ b) from the
answer token's logprobs (by hand) or the verdict, strict A/B parsing, and both orders through
``rmx.Explainer`` on a server scripted with a first-position bias (the disagreement rate and
every P worked out by hand), cached in the store."""

from __future__ import annotations

import math
import re

import pytest
from judge_server import JudgeServer, lp

import rmx_widgets as rmx
from rmx_widgets.core.reward_models.llm_judge import (
    JUDGE_PAIRWISE_VERSION,
    PAIRWISE_SYSTEM_PROMPT,
    AnswerError,
    LLMJudgeError,
    LLMPairwiseJudge,
    pairwise_messages,
    parse_verdict,
    preference_from_logprobs,
)
from rmx_widgets.core.reward_models.pairwise import checked_preferences

KEY_ENV = "RMX_TEST_LLM_JUDGE_KEY"


@pytest.fixture
def server():
    with JudgeServer() as s:
        yield s


def judge(server, **kw) -> LLMPairwiseJudge:
    kw.setdefault("max_retries", 1)
    j = rmx.LLMJudge("fake", base_url=server.url, api_key_env=KEY_ENV, backoff_base=0.0, **kw)
    assert isinstance(j, LLMPairwiseJudge)
    return j


def test_identity_and_the_visible_prompt():
    j = rmx.LLMJudge("m", base_url="http://127.0.0.1:8123/v1", mode="pairwise")
    assert j.identity == f"llm-judge:pairwise:{JUDGE_PAIRWISE_VERSION}:openai:m@127.0.0.1:8123"
    msgs = pairwise_messages("Q?", "first text", "second text")
    assert msgs[0] == {"role": "system", "content": PAIRWISE_SYSTEM_PROMPT}
    user = msgs[1]["content"]
    assert "<response_A>\nfirst text\n</response_A>" in user
    assert "<response_B>\nsecond text\n</response_B>" in user
    assert "A or B, with no other text" in user


@pytest.mark.parametrize("reply", ["A", " B\n"])
def test_a_bare_letter_is_accepted(reply):
    assert parse_verdict(reply) == reply.strip()


@pytest.mark.parametrize(
    "reply", ["", "a", "A.", "AB", "Response A", "[[A]]", '{"winner": "A"}', "C", "A B", None]
)
def test_anything_but_exactly_a_or_b_is_refused(reply):
    with pytest.raises(AnswerError, match="not exactly A or B"):
        parse_verdict(reply)


def test_with_logprobs_p_is_p_a_over_p_a_plus_p_b(server):
    server.script("P-LP", [lp("A", [("A", -0.3), (" B", -1.4), ("C", -2.0), (" A", -3.0)])])
    server.script("P-B", [lp("B", [("B", -0.1), ("A", -2.6)])])
    server.script("P-NOB", [lp("A", [("A", -0.05), ("The", -4.0)])])
    j = judge(server)
    got = checked_preferences(j, ["p"] * 3, ["x P-LP", "y P-B", "z P-NOB"], ["o"] * 3)
    # by hand: "A" and " A" are one answer; "C" is none
    pa, pb = math.exp(-0.3) + math.exp(-3.0), math.exp(-1.4)
    assert got[0] == pytest.approx(pa / (pa + pb), abs=1e-12)
    assert got[1] == pytest.approx(math.exp(-2.6) / (math.exp(-2.6) + math.exp(-0.1)), abs=1e-12)
    assert got[2] == 1.0  # B is not among the top logprobs: p(B) counts 0
    assert j.stats["logprob_answers"] == 3 and j.stats["verdict_answers"] == 0
    body = server.requests_with("P-LP")[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 5


def test_without_logprobs_p_is_the_verdict(server):
    server.script("P-VA", ["say:A"])
    server.script("P-VB", ["say:B"])
    j = judge(server, top_logprobs=0)
    assert j.prefer(["p"] * 2, ["x P-VA", "y P-VB"], ["o", "o"]) == [1.0, 0.0]
    assert "logprobs" not in server.requests_with("P-VA")[0].body
    assert j.stats["verdict_answers"] == 2


def test_preference_degenerate_cases_by_hand():
    assert preference_from_logprobs(None, "A") is None
    assert preference_from_logprobs((("A", (("x", -0.1),)),), "A") is None  # neither A nor B
    assert preference_from_logprobs((("B", (("A", -0.7),)),), "A") is None  # not the answer's
    half = (("A", (("A", math.log(0.5)), ("B", math.log(0.5)))),)
    assert preference_from_logprobs(half, "A") == pytest.approx(0.5)


def test_an_unparseable_verdict_is_an_error_naming_the_item(server):
    server.script("P-GOOD", ["say:B"])
    server.script("P-BAD", ["say:Response A is better."] * 3)
    with pytest.raises(
        LLMJudgeError,
        match=r"item 1 \('y P-BAD' vs 'o'\): the reply 'Response A is better.' is not",
    ):
        judge(server).prefer(["p"] * 2, ["x P-GOOD", "y P-BAD"], ["o", "o"])


# -- both orders through the Explainer ----------------------------------------------------

_TAG = {
    k: re.compile(rf"<{k}>\n(.*?)\n</{k}>", re.DOTALL)
    for k in ("prompt", "response_A", "response_B")
}


def biased_judge(user_text: str) -> str:
    """The scripted judge: the longer response is better. On a DECISIVE prompt it is sure
    (0.9 for the better one, whichever position); on a BIASED prompt it favours the first
    position: 0.8 for A when A is better, and still 0.6 for A when B is better."""
    prompt, a, b = (_TAG[k].search(user_text).group(1) for k in _TAG)
    a_better = len(a) >= len(b)
    if "BIASED" in prompt:
        p_a = 0.8 if a_better else 0.6
        return lp("A", [("A", math.log(p_a)), ("B", math.log(1 - p_a))])
    if a_better:
        return lp("A", [("A", math.log(0.9)), ("B", math.log(0.1))])
    return lp("B", [("B", math.log(0.9)), ("A", math.log(0.1))])


def _comparisons():
    """Five comparisons: (kind, whether a is the longer response)."""
    plan = [("DECISIVE", True), ("BIASED", True), ("DECISIVE", False), ("BIASED", False)]
    plan.append(("DECISIVE", True))
    out = []
    for c, (kind, a_longer) in zip(rmx.sample_comparisons()[:5], plan):
        long, short = sorted((c.response_a, c.response_b), key=len, reverse=True)
        a, b = (long, short) if a_longer else (short, long)
        out.append({"id": c.id, "prompt": f"{kind}: {c.prompt}", "response_a": a, "response_b": b})
    return out


def test_both_orders_through_the_explainer_and_the_position_disagreement_rate(server, tmp_path):
    server.answer = biased_judge
    comps = _comparisons()

    def run():
        ex = rmx.Explainer(
            judge(server),
            rmx.RulePerturber(),
            attributes=["verbosity"],
            store=tmp_path / "s.sqlite",
            progress=False,
        )
        return ex.explain(comps)

    res = run()
    o = res.originals.set_index("comparison_id")
    # by hand, P(first ≻ second) for each order and their average (p_ab + 1 − p_ba) / 2:
    # decisive, a longer: 0.9 / 0.1 -> 0.9;   biased, a longer: 0.8 / 0.6 -> 0.6 (disagree)
    # decisive, b longer: 0.1 / 0.9 -> 0.1;   biased, b longer: 0.6 / 0.8 -> 0.4 (disagree)
    expect = [
        (0.9, 0.1, 0.9, False, "a"),
        (0.8, 0.6, 0.6, True, "a"),
        (0.1, 0.9, 0.1, False, "b"),
        (0.6, 0.8, 0.4, True, "b"),
        (0.9, 0.1, 0.9, False, "a"),
    ]
    for c, (p_ab, p_ba, p, disagree, preferred) in zip(comps, expect):
        row = o.loc[c["id"]]
        assert row["p_a_first"] == pytest.approx(p_ab, abs=1e-12), c["id"]
        assert row["p_b_first"] == pytest.approx(p_ba, abs=1e-12), c["id"]
        assert row["p_a_over_b"] == pytest.approx(p, abs=1e-12), c["id"]
        assert row["margin"] == pytest.approx(abs(math.log(p / (1 - p))), abs=1e-9)
        assert bool(row["position_disagreement"]) is disagree and row["preferred"] == preferred
    assert (res.stats.position_comparisons, res.stats.position_disagreements) == (5, 2)
    assert res.summary()["position_disagreement_rate"] == pytest.approx(2 / 5)
    assert res.stats.rm_kind == "pairwise" and len(res.table) > 0
    assert res.table["rm"].iloc[0].startswith("llm-judge:pairwise:")

    sent = len(server.requests)
    assert sent == res.stats.scores_computed + res.stats.null_scores_computed
    again = run()
    assert len(server.requests) == sent  # a rerun sends 0 requests
    assert again.stats.scores_computed == 0
    assert again.originals["p_a_over_b"].tolist() == res.originals["p_a_over_b"].tolist()


def test_verdicts_only_give_0_half_or_1_and_a_biased_pair_ties(server, tmp_path):
    server.answer = biased_judge  # the verdict is the letter it answers, logprobs not asked
    comps = _comparisons()[:2]
    ex = rmx.Explainer(
        judge(server, top_logprobs=0),
        rmx.RulePerturber(),
        attributes=["verbosity"],
        store=tmp_path / "s.sqlite",
        progress=False,
    )
    with pytest.warns(UserWarning, match="1 comparison.*tie"):
        res = ex.explain(comps)
    o = res.originals.set_index("comparison_id")
    # decisive: A first says A (1), B first says B (0) -> 1.0; biased: A both times -> 0.5
    assert o.loc[comps[0]["id"], "p_a_over_b"] == 1.0
    assert o.loc[comps[1]["id"], "p_a_over_b"] == 0.5
    assert list(o["position_disagreement"]) == [False, True]
    assert res.summary()["position_disagreement_rate"] == pytest.approx(1 / 2)
