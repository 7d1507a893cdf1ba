"""The two-step prompt (locate, then edit, in two calls) and per-request reply budgets, through
the real OpenAIPerturber client against a local fake server (tests/helpers/two_step_server.py)."""

from __future__ import annotations

import json
import pickle

import pytest
from two_step_server import TwoStepServer, step_of

from rmx_widgets.cli import main
from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.openai import OpenAIPerturber
from rmx_widgets.core.perturbers.prompts import ATTRIBUTE_TEMPLATE, reply_budget
from rmx_widgets.core.perturbers.two_step import (
    TWO_STEP_TEMPLATE,
    extract_locate,
    parse_edit,
    template_named,
)
from rmx_widgets.core.specs import perturber_from_spec

KEY_ENV = "RMX_TEST_TWO_STEP_KEY"


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with TwoStepServer() as s:
        yield s


def make(server, **kw) -> OpenAIPerturber:
    kw.setdefault("timeout", 5.0)
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("max_retries", 1)
    return OpenAIPerturber("fake-model", base_url=server.url, api_key_env=KEY_ENV, **kw)


def reqs(n: int, tag: str = "row", words: int = 6) -> list[PerturbationRequest]:
    attr = get_attribute("verbosity")
    body = " ".join(["text"] * words)
    return [PerturbationRequest(f"Q{i}?", f"{tag}-{i} {body}.", attr, "worse") for i in range(n)]


# -- the two templates ----------------------------------------------------------------------


def test_both_templates_are_versioned_in_the_identity(fake):
    one = make(fake)
    two = make(fake, template=TWO_STEP_TEMPLATE)
    assert one.identity.endswith(":prompt-v2") and two.identity.endswith(":two-step-v1")
    assert one.identity.rsplit(":", 1)[0] == two.identity.rsplit(":", 1)[0]
    assert one.with_template(TWO_STEP_TEMPLATE).identity == two.identity
    copy = pickle.loads(pickle.dumps(two))  # the template pickles with the perturber
    assert copy.identity == two.identity and copy.template.steps == 2
    assert template_named("one-call") is ATTRIBUTE_TEMPLATE
    assert template_named("two-step") is TWO_STEP_TEMPLATE
    with pytest.raises(PerturberError, match="one-call or two-step"):
        template_named("three-step")
    spec = perturber_from_spec("llm", model="m", base_url=fake.url, template="two-step")
    assert spec.identity.endswith(":two-step-v1")


def test_two_step_sends_two_calls_and_the_located_spans_to_the_second(fake):
    pert = make(fake, template=TWO_STEP_TEMPLATE)
    rs = reqs(4)
    out = pert.perturb_batch(rs)
    assert [o.text for o in out] == [f"{r.response} [edit:worse:verbosity]" for r in rs]
    steps = [step_of(r.user_text) for r in fake.requests]
    assert steps.count("locate") == 4 and steps.count("edit") == 4
    for r in rs:
        locate, edit = fake.requests_with(r.response)
        assert step_of(locate.user_text) == "locate" and step_of(edit.user_text) == "edit"
        assert "<response-spans>" in edit.user_text
        assert json.dumps([r.response.split(" ")[0]], indent=1) in edit.user_text
        assert '"rewritten"' not in locate.user_text  # step 1 asks for spans only
    assert pert.stats["requests"] == 8 and pert.stats["failures"] == 0


@pytest.mark.parametrize(
    ("plan", "step", "calls"),
    [
        (["bad_span", "bad_span"], "step 1 (locate)", 2),  # retried once, then failed
        (["prose", "prose"], "step 1 (locate)", 2),
        (["good", "prose", "prose"], "step 2 (edit)", 3),
        (["good", "cut"], "step 2 (edit)", 2),  # cut: final at once, not retried
    ],
)
def test_a_failed_step_is_a_failed_rewrite_naming_the_step(fake, plan, step, calls):
    pert = make(fake, template=TWO_STEP_TEMPLATE)
    [target, other] = reqs(2)
    fake.script(target.response, plan)
    bad, good = pert.perturb_batch([target, other])
    assert bad.text is None and bad.failure.startswith(f"{step}: "), bad.failure
    assert bad.kind is FailureKind.UNPARSEABLE
    assert good.text == f"{other.response} [edit:worse:verbosity]"
    assert len(fake.requests_with(target.response)) == calls
    assert pert.stats["failures"] == 1
    if "cut" in plan:
        assert "rewrite cut at max_tokens" in bad.failure


def test_the_step_parsers_are_strict():
    original = "The cat sat on the mat."
    assert extract_locate('{"locate": ["cat", "the  mat"]}', original) == ["cat", "the  mat"]
    for reply, why in [
        ('{"locate": ["dog"]}', "does not occur"),
        ('{"locate": []}', "empty"),
        ('{"locate": ["cat"], "rewritten": "x"}', "unexpected key"),
        ('{"locate": ["cat"], "locate": ["mat"]}', "repeats the key"),
        ('Here: {"locate": ["cat"]}', "not a JSON object"),
        ("{}", "no 'locate'"),
        ('{"rewritten": "x"}', "unexpected key"),
    ]:
        with pytest.raises(ValueError, match=why):
            extract_locate(reply, original)
    assert parse_edit('{"rewritten": "The cat sat."}', original).text == "The cat sat."
    assert "unexpected key" in parse_edit('{"locate": [], "rewritten": "x"}', original).failure
    assert parse_edit(json.dumps({"rewritten": original}), original).text is None  # unchanged


def test_other_backends_refuse_the_two_step_template():
    from rmx_widgets.core.perturbers.hf import HFPerturber

    with pytest.raises(PerturberError, match="two-step"):
        HFPerturber("no/such-model", template=TWO_STEP_TEMPLATE)


# -- cost: one-call vs two-step ---------------------------------------------------------------


def test_cost_of_one_call_vs_two_step(fake, capsys):
    n = 6
    cost = {}
    for name, template in [("one-call", ATTRIBUTE_TEMPLATE), ("two-step", TWO_STEP_TEMPLATE)]:
        before = fake.usage()
        pert = make(fake, template=template)
        out = pert.perturb_batch(reqs(n, tag=name, words=40))
        assert all(o.text for o in out)
        after = fake.usage()
        seen = {k: after[k] - before[k] for k in after}
        assert pert.stats["http_requests"] == seen["http_requests"]
        assert pert.stats["prompt_tokens"] == seen["prompt_tokens"]
        cost[name] = {k: pert.stats[k] for k in ("requests", "prompt_tokens", "completion_tokens")}
    with capsys.disabled():
        print(f"\ncost of {n} rewrites on the fake server:")
        for name, c in cost.items():
            per = c["requests"] / n
            print(
                f"  {name:9s} requests={c['requests']} ({per:g}/rewrite) "
                f"prompt_tokens={c['prompt_tokens']} completion_tokens={c['completion_tokens']}"
            )
    assert cost["one-call"]["requests"] == n and cost["two-step"]["requests"] == 2 * n
    # two prompts carry the conversation twice
    assert cost["two-step"]["prompt_tokens"] > 1.8 * cost["one-call"]["prompt_tokens"]
    assert cost["two-step"]["completion_tokens"] > cost["one-call"]["completion_tokens"] * 0.9


# -- long responses -----------------------------------------------------------------------------


def test_reply_budget_is_sized_from_the_response_and_capped():
    assert reply_budget("short", None) == 1024  # never below the old default
    assert reply_budget("x" * 6000, None) == 2000 * 2 + 256
    assert reply_budget("x" * 60000, None, cap=8000) == 8000
    assert reply_budget("x" * 6000, 300) == 300  # a fixed max_tokens is sent as is


def test_a_long_response_gets_a_budget_that_holds_its_rewrite(fake):
    long_req = reqs(1, tag="long", words=1500)  # ~7,500 characters
    sized = make(fake).perturb_batch(long_req)[0]
    assert sized.text and sized.text.endswith("[worse:verbosity]")
    assert fake.requests[-1].body["max_tokens"] == reply_budget(long_req[0].response, None)
    short = make(fake).perturb_batch(reqs(1))[0]
    assert short.text and fake.requests[-1].body["max_tokens"] == 1024  # payload as before
    # the old fixed max_tokens=1024 cannot hold it: the server cuts it, a failed rewrite
    fixed = make(fake, max_tokens=1024)
    cut = fixed.perturb_batch(long_req)[0]
    assert cut.text is None and cut.failure.startswith("rewrite cut at max_tokens=1024")
    assert fixed.stats["http_requests"] == 1  # not retried: the same budget cuts it again
    capped = make(fake, max_tokens_cap=1500)
    assert capped.identity.split(":")[-2].endswith("max_tokens_cap=1500")
    assert capped.perturb_batch(long_req)[0].failure.startswith("rewrite cut at max_tokens=1500")


def test_finish_reason_length_is_never_a_valid_rewrite_even_if_it_parses(fake):
    pert = make(fake)
    [r] = reqs(1)
    fake.script(r.response, ["cut"])
    res = pert.perturb_batch([r])[0]
    assert res.text is None and "rewrite cut at max_tokens=1024" in res.failure
    assert res.kind is FailureKind.UNPARSEABLE and pert.stats["failures"] == 1


def test_default_budget_keeps_the_identity_and_a_fixed_one_names_itself(fake):
    stem = f"openai:fake-model@127.0.0.1:{fake.port}"
    assert make(fake).identity == f"{stem}:prompt-v2"  # the key of the old default 1024
    assert make(fake, max_tokens=1024).identity == f"{stem}:prompt-v2"
    assert make(fake, max_tokens=256).identity == f"{stem}:max_tokens=256:prompt-v2"
    with pytest.raises(PerturberError, match="max_tokens_cap"):
        make(fake, max_tokens_cap=0)


# -- the CLI ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["explain", "evaluate"])
def test_cli_prompt_two_step(tmp_path, fake, monkeypatch, command):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / command
    argv = [command, "--data", "rmx_widgets/data/sample_comparisons.jsonl", "--limit", "2"]
    argv += ["--rm", "transparent", "--perturber", "llm", "--model", "fake-model"]
    argv += ["--base-url", fake.url, "--attributes", "verbosity", "--prompt", "two-step"]
    argv += ["--no-report", "--out", str(out)]
    if command == "explain":
        argv += ["--null", "none"]
    else:
        argv += ["--seeds", "1", "--per-seed", "2", "--n-boot", "10"]
    assert main(argv) == 0
    steps = {step_of(r.user_text) for r in fake.requests}
    assert steps == {"locate", "edit"}
    written = json.loads(
        (out / ("summary.json" if command == "explain" else "study.json")).read_text()
    )
    assert ":two-step-v1" in json.dumps(written)
