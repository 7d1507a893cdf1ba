"""``LLMJudge(mode="score")`` on the local fake chat-completions server with scripted replies
and logprobs: the rating, the probability-weighted mean rating (by hand), strict parsing,
errors naming the item, the key kept out of everything, the identity, the cache and the spec."""

from __future__ import annotations

import json
import math
import re

import pytest
from judge_server import JudgeServer, lp

import rmx_widgets as rmx
from rmx_widgets.core.reward_models.base import RewardModel, checked_scores
from rmx_widgets.core.reward_models.llm_judge import (
    JUDGE_SCORE_VERSION,
    SCORE_SYSTEM_PROMPT,
    AnswerError,
    LLMJudge,
    LLMJudgeError,
    LLMPairwiseJudge,
    LLMScoreJudge,
    parse_rating,
    score_messages,
    weighted_rating,
)
from rmx_widgets.errors import OptionError, RewardModelError

KEY_ENV = "RMX_TEST_LLM_JUDGE_KEY"
KEY = "sk-llmjudge-SECRET-0123456789abcdef"


@pytest.fixture
def server():
    with JudgeServer() as s:
        yield s


def judge(server, **kw) -> LLMScoreJudge:
    kw.setdefault("max_retries", 1)
    j = rmx.LLMJudge(
        "fake", base_url=server.url, mode="score", api_key_env=KEY_ENV, backoff_base=0.0, **kw
    )
    assert isinstance(j, LLMScoreJudge)
    return j


def test_the_mode_picks_the_class_and_the_protocol():
    score = rmx.LLMJudge("m", base_url="http://127.0.0.1:9/v1", mode="score")
    pair = rmx.LLMJudge("m", base_url="http://127.0.0.1:9/v1")  # pairwise by default
    assert "LLMJudge" in rmx.__all__
    assert isinstance(score, LLMScoreJudge) and isinstance(score, LLMJudge)
    assert isinstance(pair, LLMPairwiseJudge) and isinstance(pair, LLMJudge)
    assert isinstance(score, RewardModel) and not isinstance(score, rmx.PairwiseRewardModel)
    from rmx_widgets.core.reward_models.pairwise import PairwiseJudge

    assert not isinstance(score, PairwiseJudge) and isinstance(pair, PairwiseJudge)
    with pytest.raises(RewardModelError, match="pairwise judge"):
        pair.score(["p"], ["r"])


def test_identity_names_mode_version_model_host_port_and_settings():
    url = "http://127.0.0.1:8123/v1"
    base = rmx.LLMJudge("m", base_url=url, mode="score")
    assert base.identity == f"llm-judge:score:{JUDGE_SCORE_VERSION}:openai:m@127.0.0.1:8123"
    others = {
        rmx.LLMJudge("m", base_url=url).identity,
        rmx.LLMJudge("m2", base_url=url, mode="score").identity,
        rmx.LLMJudge("m", base_url="http://127.0.0.1:8124/v1", mode="score").identity,
        rmx.LLMJudge("m", base_url=url, mode="score", temperature=0.7).identity,
        rmx.LLMJudge("m", base_url=url, mode="score", top_logprobs=0).identity,
        rmx.LLMJudge("m", base_url=url, mode="score", scale=(1, 5)).identity,
    }
    assert len(others | {base.identity}) == 7
    assert rmx.LLMJudge("m", base_url=url, mode="score", temperature=0.7).identity.endswith(
        "@127.0.0.1:8123:temperature=0.7"
    )
    assert rmx.LLMJudge("m", base_url=url, mode="score", scale=(1, 5)).identity.endswith(
        ":scale=1-5"
    )


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"mode": "rank"}, "mode must be 'pairwise' or 'score'"),
        ({"mode": "score", "scale": (1, 10)}, "0 <= low < high <= 9"),
        ({"mode": "score", "scale": (5, 5)}, "0 <= low < high <= 9"),
        ({"mode": "score", "top_logprobs": 21}, "top_logprobs must be an integer from 0"),
        ({"mode": "score", "top_logprobs": -1}, "top_logprobs must be an integer from 0"),
    ],
)
def test_bad_options_are_one_line(kw, match):
    with pytest.raises(OptionError, match=match):
        rmx.LLMJudge("m", base_url="http://127.0.0.1:9/v1", **kw)


@pytest.mark.parametrize("reply", ["7", " 7\n", "\n7"])
def test_a_bare_rating_is_accepted(reply):
    assert parse_rating(reply) == 7


@pytest.mark.parametrize(
    "reply",
    ["", "0", "10", "7.5", "07", "seven", "Rating: 7", "7/9", '{"rating": 7}', "7 7", "-1", None],
)
def test_anything_but_one_integer_of_the_scale_is_refused(reply):
    with pytest.raises(AnswerError, match="not one integer from 1 to 9"):
        parse_rating(reply)


def test_the_prompt_is_visible_versioned_and_bounded():
    long = "x" * 9000
    msgs = score_messages("How do I grow basil?", long, (1, 5))
    assert msgs[0] == {"role": "system", "content": SCORE_SYSTEM_PROMPT}
    user = msgs[1]["content"]
    assert "from 1 (worst) to 5 (best)" in user and "How do I grow basil?" in user
    assert "x" * 8000 in user and "x" * 8001 not in user and "9,000 characters" in user


def test_without_logprobs_the_reward_is_the_rating(server):
    server.script("R-PLAIN", ["say:7"])
    server.script("R-OTHER", ["say: 3 "])
    j = judge(server, top_logprobs=0)
    assert j.score(["p"] * 2, ["a R-PLAIN", "b R-OTHER"]) == [7.0, 3.0]
    body = server.requests_with("R-PLAIN")[0].body
    assert "logprobs" not in body and "top_logprobs" not in body and body["temperature"] == 0.0
    assert j.stats["verdict_answers"] == 2 and j.stats["logprob_answers"] == 0


def test_with_logprobs_the_reward_is_the_probability_weighted_mean_rating(server):
    top = [("7", -0.2), (" 8", -1.9), ("6", -2.5), ("x", -3.0), ("10", -3.5)]
    server.script("R-LP", [lp("7", top)])
    j = judge(server)
    (got,) = checked_scores(j, ["p"], ["a R-LP"])
    # by hand: only 6, 7 and 8 are ratings of the 1-9 scale ("x", "10" are not)
    p6, p7, p8 = math.exp(-2.5), math.exp(-0.2), math.exp(-1.9)
    assert got == pytest.approx((6 * p6 + 7 * p7 + 8 * p8) / (p6 + p7 + p8), abs=1e-12)
    body = server.requests_with("R-LP")[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert j.stats["logprob_answers"] == 1


def test_the_server_gives_only_the_top_k_asked_for(server):
    top = [("7", -0.2), ("8", -1.9), ("6", -2.5)]
    server.script("R-K", [lp("7", top)])
    (got,) = judge(server, top_logprobs=2).score(["p"], ["a R-K"])
    p7, p8 = math.exp(-0.2), math.exp(-1.9)
    assert got == pytest.approx((7 * p7 + 8 * p8) / (p7 + p8), abs=1e-12)


def test_a_rating_with_blank_tokens_first_and_logprobs_of_another_answer(server):
    top = [("4", -0.1), ("5", -2.4)]
    server.script("R-BLANK", [lp(" 4", tokens=[[" ", [[" ", -0.01]]], ["4", top]])])
    server.script("R-MISMATCH", [lp("4", tokens=[["5", top]])])  # not the reply's token
    got = judge(server).score(["p"] * 2, ["a R-BLANK", "b R-MISMATCH"])
    p4, p5 = math.exp(-0.1), math.exp(-2.4)
    assert got[0] == pytest.approx((4 * p4 + 5 * p5) / (p4 + p5), abs=1e-12)
    assert got[1] == 4.0


def test_logprobs_asked_for_but_not_sent_fall_back_to_the_rating(server):
    server.script("R-NONE", ["say:2"])
    j = judge(server)
    assert j.score(["p"], ["a R-NONE"]) == [2.0]
    assert j.stats["verdict_answers"] == 1


def test_weighted_rating_degenerate_cases_by_hand():
    assert weighted_rating(None, 3) is None
    assert weighted_rating((), 3) is None
    assert weighted_rating((("3", (("x", -0.1),)),), 3) is None  # no rating among them
    only = (("3", (("3", -0.7),)),)
    assert weighted_rating(only, 3) == pytest.approx(3.0)  # one rating: itself
    tied = (("3", (("3", math.log(0.5)), ("5", math.log(0.5)))),)
    assert weighted_rating(tied, 3) == pytest.approx(4.0)


def test_an_unparseable_reply_is_retried_then_an_error_naming_the_item(server):
    server.script("R-OK", ["say:5"])
    server.script("R-BAD", ["say:Rating: 7 out of 9, because it is helpful"] * 5)
    with pytest.raises(
        LLMJudgeError, match=r"1 of 2 items; item 1 \(response .b R-BAD.\): the reply .Rating: 7"
    ) as e:
        judge(server).score(["p"] * 2, ["a R-OK", "b R-BAD"])
    assert "gave up after 2 attempts" in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, RewardModelError)
    assert len(server.requests_with("R-BAD")) == 2


def test_a_long_reply_is_quoted_bounded(server):
    server.script("R-LONG", ["say:" + "blah " * 500])
    with pytest.raises(LLMJudgeError) as e:
        judge(server, max_retries=0).score(["p"], ["R-LONG"])
    assert len(str(e.value)) < 400 and "…" in str(e.value)


def test_a_retry_recovers_an_unparseable_reply(server):
    server.script("R-RETRY", ["say:eight", "say:8"])
    j = judge(server)
    assert j.score(["p"], ["R-RETRY"]) == [8.0]
    assert j.stats["retries"] == 1 and j.stats["http_requests"] == 2


def test_malformed_logprobs_are_a_broken_reply_not_half_read(server):
    bad = {"content": [{"token": "7", "top_logprobs": [{"token": "7", "logprob": "x"}]}]}
    server.script("R-MAL", ["rawlp:" + json.dumps({"say": "7", "logprobs": bad})] * 3)
    with pytest.raises(LLMJudgeError, match="logprobs are malformed.*not a number"):
        judge(server).score(["p"], ["R-MAL"])


def test_failed_requests_are_an_error_too(server):
    server.script("R-500", ["500"] * 3)
    with pytest.raises(LLMJudgeError, match="item 0 .*: HTTP 500"):
        judge(server).score(["p"], ["R-500"])


def test_the_key_is_sent_but_never_in_identity_messages_or_errors(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    server.script("R-KEY", ["say:6"])
    server.script("R-ECHO", ["echo_key"])
    j = judge(server)
    assert j.score(["p"], ["R-KEY"]) == [6.0]
    sent = server.requests_with("R-KEY")[0]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in str(sent.body) and KEY not in j.identity and KEY not in repr(j)
    assert KEY not in str(vars(j)) and KEY not in str(vars(j.client))
    with pytest.raises(LLMJudgeError) as e:
        j.score(["p"], ["R-ECHO"])
    assert "bad request; you sent" in str(e.value) and KEY not in str(e.value)
    assert KEY[:12] not in str(e.value)


_RESPONSE = re.compile(r"<response>\n(.*?)\n</response>", re.DOTALL)


def _rating(response: str) -> tuple[int, int]:
    """The scripted judge's rating of a response and its runner-up (by its length)."""
    r = 1 + len(response) % 9
    return r, (9 if r == 1 else r - 1)


def test_scores_are_cached_through_the_explainers_store(server, tmp_path):
    def answer(user_text):
        r, alt = _rating(_RESPONSE.search(user_text).group(1))
        return lp(str(r), [(str(r), -0.3), (str(alt), -1.5)])

    server.answer = answer
    comps = rmx.sample_comparisons()[:3]

    def run():
        ex = rmx.Explainer(
            judge(server),
            rmx.RulePerturber(),
            attributes=["verbosity"],
            store=tmp_path / "s.sqlite",
            progress=False,
        )
        return ex.explain(comps)

    first = run()
    sent = len(server.requests)
    assert sent > 0 and first.stats.scores_computed == sent
    p, q = math.exp(-0.3), math.exp(-1.5)
    for c, got in zip(
        comps, first.originals.set_index("comparison_id").loc[[c.id for c in comps]]["reward_a"]
    ):
        r, alt = _rating(c.response_a)
        assert got == pytest.approx((r * p + alt * q) / (p + q), abs=1e-12)
    second = run()
    assert len(server.requests) == sent  # a rerun sends 0 requests
    assert second.stats.scores_computed == 0 and second.stats.scores_cached > 0
    assert second.table["rm"].iloc[0].startswith("llm-judge:score:")


def test_the_spec(server):
    spec = f"llm-judge:fake,mode=score,base_url={server.url}"
    rm = rmx.reward_model_from_spec(spec)
    assert isinstance(rm, LLMScoreJudge) and rm.client.base_url == server.url
    assert rm.identity == judge(server).identity
    pair = rmx.reward_model_from_spec(f"llm-judge:llama3:8b,base_url={server.url}")
    assert isinstance(pair, LLMPairwiseJudge) and pair.client.model == "llama3:8b"
    keyed = rmx.reward_model_from_spec("llm-judge:org/m,api_key_env=MY_KEY,mode=pairwise")
    assert keyed.client.api_key_env == "MY_KEY" and "@api.openai.com" in keyed.identity


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("llm-judge:", "give the model first"),
        ("llm-judge:mode=score", "give the model first"),
        ("llm-judge:m,mode=rank", "mode='rank' is not pairwise or score"),
        ("llm-judge:m,temperature=1", "unknown key 'temperature'"),
        ("llm-judge:m,mode=score,mode=score", "mode is given twice"),
        ("llm-judge:m,score", "'score' is not key=value"),
        ("llm-judge:m,base_url=ftp://x", "base_url must start with http"),
    ],
)
def test_bad_specs_are_one_line(spec, match):
    with pytest.raises(rmx.errors.RMXError, match=match) as e:
        rmx.reward_model_from_spec(spec)
    assert "\n" not in str(e.value)


def test_rmx_explain_takes_the_spec_and_help_names_it(server, tmp_path):
    from rmx_widgets.cli import main
    from rmx_widgets.cli.options import RM_SPEC

    assert "llm-judge:MODEL[,mode=pairwise|score][,base_url=URL]" in RM_SPEC
    server.answer = lambda text: "say:" + str(_rating(_RESPONSE.search(text).group(1))[0])
    data = tmp_path / "c.jsonl"
    rows = [
        {"id": c.id, "prompt": c.prompt, "chosen": c.response_a, "rejected": c.response_b}
        for c in rmx.sample_comparisons()[:2]
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    spec = f"llm-judge:fake,mode=score,base_url={server.url}"
    argv = ["explain", "--data", str(data), "--rm", spec, "--perturber", "rules"]
    assert main([*argv, "--attributes", "verbosity", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert str(summary["rm"]).startswith("llm-judge:score:") and len(server.requests) > 0


def test_a_judge_pickles_and_copies_with_its_identity_and_mode():
    import copy
    import pickle

    for mode in ("score", "pairwise"):
        j = rmx.LLMJudge("m", "http://127.0.0.1:9/v1", mode)
        for twin in (pickle.loads(pickle.dumps(j)), copy.copy(j)):
            assert type(twin) is type(j) and twin.identity == j.identity and twin.mode == mode


def test_client_argument_mistakes_are_reward_model_errors():
    with pytest.raises(RewardModelError, match="LLMJudge: .*base_url must start with http"):
        rmx.LLMJudge("m", base_url="localhost:8000")
    with pytest.raises(RewardModelError, match="LLMJudge: .*needs a model name"):
        rmx.LLMJudge("", base_url="http://127.0.0.1:9/v1", mode="score")


def test_the_key_reaches_no_file_of_a_run(server, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    server.answer = lambda text: "say:" + str(_rating(_RESPONSE.search(text).group(1))[0])
    server.script(rmx.sample_comparisons()[0].response_a[:40], ["echo_key"])
    ex = rmx.Explainer(
        judge(server),
        rmx.RulePerturber(),
        attributes=["verbosity"],
        store=tmp_path / "s.sqlite",
        progress=False,
    )
    with pytest.raises(LLMJudgeError) as e:  # the echoed key is masked in the error
        ex.explain(rmx.sample_comparisons()[:2])
    assert "you sent" in str(e.value) and KEY not in str(e.value)
    ex.explain(rmx.sample_comparisons()[1:3]).save(tmp_path / "out")
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
