"""Multi-objective RMs: ``HFRewardModel(objectives=...)`` on a tiny random three-output model
saved with ``save_pretrained`` (tiny_models.build_multi_objective_rm), every reward checked
against the model's own logits computed here input by input; the per-objective rewards cached
like scores; ``objective.<name>.delta`` and ``objective_effects`` by hand. Nothing here touches
the network."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from objective_rms import TwoObjectives
from table_factory import comparison, table
from tiny_models import OBJECTIVES, build_multi_objective_rm
from transformers import AutoTokenizer, LlamaForSequenceClassification

import rmx_widgets as rmx
from rmx_widgets.core.data import comparisons_from_records
from rmx_widgets.core.errors import RewardModelError, RMXError
from rmx_widgets.core.objectives import format_objective_effects, objective_effects
from rmx_widgets.core.reward_models.base import (
    MultiObjectiveRewardModel,
    ObjectiveScores,
    checked_objective_scores,
    objective_identity,
)
from rmx_widgets.core.reward_models.hf import HFRewardModel
from rmx_widgets.core.specs import reward_model_from_spec
from rmx_widgets.core.store import Store

PROMPTS = ["Hi?", "What is the capital of France?", "Tell me a joke.", "Hi?"]
RESPONSES = ["Hello!", "Paris is the capital of France.", "I'm sorry, I can't.", "Hey there."]


def _logits(path, prompts, responses) -> list[list[float]]:
    """Each input's three outputs, one unpadded forward pass per input, tokens by hand."""
    tok = AutoTokenizer.from_pretrained(path)
    model = LlamaForSequenceClassification.from_pretrained(path).eval()
    out = []
    for p, r in zip(prompts, responses):
        text = tok.apply_chat_template(
            [{"role": "user", "content": p}, {"role": "assistant", "content": r}], tokenize=False
        )
        ids = torch.tensor([tok(text)["input_ids"]])
        with torch.no_grad():
            out.append(model(input_ids=ids).logits[0].tolist())
    return out


def _max_diff(a, b) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def expected(tiny_multi_objective_rm):
    return _logits(tiny_multi_objective_rm, PROMPTS, RESPONSES)


def test_all_objectives_and_their_mean(tiny_multi_objective_rm, expected):
    rm = HFRewardModel(tiny_multi_objective_rm, device="cpu", objectives="all")
    assert isinstance(rm, MultiObjectiveRewardModel) and isinstance(rm, HFRewardModel)
    assert rm.objectives == OBJECTIVES
    got = rm.score_objectives(PROMPTS, RESPONSES)
    for j, name in enumerate(OBJECTIVES):
        assert _max_diff(got.objectives[name], [row[j] for row in expected]) < 1e-4
    mean = [sum(row) / 3 for row in expected]
    assert _max_diff(got.combined, mean) < 1e-4
    assert _max_diff(rm.score(PROMPTS, RESPONSES), mean) < 1e-4
    assert rm.identity.endswith(":objectives=helpfulness,correctness,verbosity")
    # the same rewards with prompt-prefix sharing off (shared prefixes run once otherwise)
    plain = HFRewardModel(
        tiny_multi_objective_rm, device="cpu", objectives="all", prefix_sharing=False
    )
    again = plain.score_objectives(PROMPTS, RESPONSES)
    assert _max_diff(again.combined, got.combined) < 1e-4


def test_weights_and_a_head_make_the_combined_reward(tiny_multi_objective_rm, expected):
    weighted = HFRewardModel(
        tiny_multi_objective_rm, device="cpu", objectives={"verbosity": -1.0, "helpfulness": 2.0}
    )
    assert weighted.objectives == ("verbosity", "helpfulness")
    got = weighted.score_objectives(PROMPTS, RESPONSES)
    assert _max_diff(got.combined, [2.0 * r[0] - r[2] for r in expected]) < 1e-4
    assert _max_diff(got.objectives["verbosity"], [r[2] for r in expected]) < 1e-4
    headed = HFRewardModel(tiny_multi_objective_rm, device="cpu", objectives="all", head=1)
    assert _max_diff(headed.score(PROMPTS, RESPONSES), [r[1] for r in expected]) < 1e-4
    # every combination has its own identity (cache key), none the plain head's
    plain = HFRewardModel(tiny_multi_objective_rm, device="cpu", head=1)
    ids = {weighted.identity, headed.identity, plain.identity}
    assert len(ids) == 3 and not isinstance(plain, MultiObjectiveRewardModel)


def test_specs_take_objectives(tiny_multi_objective_rm, expected):
    path = str(tiny_multi_objective_rm)
    rm = reward_model_from_spec(f"{path}:objectives=helpfulness,verbosity", device="cpu")
    assert isinstance(rm, MultiObjectiveRewardModel)
    assert rm.objectives == ("helpfulness", "verbosity")
    assert _max_diff(rm.score(PROMPTS, RESPONSES), [(r[0] + r[2]) / 2 for r in expected]) < 1e-4
    rm = reward_model_from_spec(f"{path}:objectives=correctness=3,verbosity=-0.5", device="cpu")
    assert _max_diff(rm.score(PROMPTS, RESPONSES), [3 * r[1] - 0.5 * r[2] for r in expected]) < 1e-4
    rm = reward_model_from_spec(f"{path}:head=2:objectives=all", device="cpu")
    assert _max_diff(rm.score(PROMPTS, RESPONSES), [r[2] for r in expected]) < 1e-4


def test_names_come_from_the_config_or_the_user(tmp_path):
    path = build_multi_objective_rm(tmp_path / "unnamed", labels=False)
    rm = HFRewardModel(path, device="cpu", objectives="all")
    assert rm.objectives == ("LABEL_0", "LABEL_1", "LABEL_2")
    named = HFRewardModel(path, device="cpu", objectives=["helpful", "honest", "brief"])
    assert named.objectives == ("helpful", "honest", "brief")
    by_hand = _logits(path, PROMPTS[:2], RESPONSES[:2])
    got = named.score_objectives(PROMPTS[:2], RESPONSES[:2])
    assert _max_diff(got.objectives["brief"], [r[2] for r in by_hand]) < 1e-4
    with pytest.raises(RewardModelError, match=r"its config names none: give 3 names"):
        HFRewardModel(path, device="cpu", objectives=["helpful", "honest"])


def test_bad_objectives_fail_in_one_line(tiny_multi_objective_rm, tiny_decoder_rm):
    cases = [
        (tiny_multi_objective_rm, {"objectives": ["harmlessness"]}, "unknown objective"),
        (tiny_decoder_rm, {"objectives": "all"}, "needs a model with several outputs"),
        (tiny_multi_objective_rm, {"objectives": []}, "at least one output"),
        (tiny_multi_objective_rm, {"objectives": ["verbosity", "verbosity"]}, "distinct"),
        (tiny_multi_objective_rm, {"objectives": {"verbosity": math.inf}}, "finite number"),
        (tiny_multi_objective_rm, {"objectives": "all", "head": 3}, "out of range"),
        (tiny_multi_objective_rm, {"objectives": "all", "head": "value_head"}, "an integer"),
    ]
    for path, kwargs, match in cases:
        with pytest.raises(RewardModelError, match=match) as info:
            HFRewardModel(path, device="cpu", **kwargs)
        assert "\n" not in str(info.value)


def test_explain_keeps_each_objective_change_cached(tiny_multi_objective_rm, tmp_path):
    comps = comparisons_from_records(
        [
            {
                "prompt": "How do I boil an egg?",
                "response_a": "Boil water, add the egg and cook it for nine minutes.",
                "response_b": "I'm sorry, but I can't help with that.",
            },
            {
                "prompt": "Sort a list?",
                "response_a": "Use sorted(items).",
                "response_b": "Perhaps you could try sorted(items), I think.",
            },
        ]
    )
    store = tmp_path / "store.sqlite"
    rm = HFRewardModel(tiny_multi_objective_rm, device="cpu", objectives="all")
    rules = rmx.perturber_from_spec("rules")
    explainer = rmx.Explainer(rm, rules, ["verbosity", "manner"], store=store, progress=False)
    result = explainer.explain(comps)
    t = result.table
    ok = t[t["outcome"] != "failed"]
    assert len(ok) and (t["outcome"] == "failed").any()
    by_id = {c.id: c.prompt for c in comps}
    after = _logits(
        tiny_multi_objective_rm, [by_id[i] for i in ok["comparison_id"]], ok["perturbed"]
    )
    before = _logits(
        tiny_multi_objective_rm, [by_id[i] for i in ok["comparison_id"]], ok["original"]
    )
    for j, name in enumerate(OBJECTIVES):
        want = [a[j] - b[j] for a, b in zip(after, before)]
        assert _max_diff(ok[f"objective.{name}.delta"].tolist(), want) < 1e-4
        assert t.loc[t["outcome"] == "failed", f"objective.{name}.delta"].isna().all()
    # the combined reward is the mean of the three, as the margins show
    mean_after = [sum(a) / 3 for a in after]
    assert _max_diff(ok["reward_perturbed"].tolist(), mean_after) < 1e-4
    # every objective's reward was stored beside the combined score, by one pass: a new model
    # on the same store scores nothing and reads the same changes
    n_inputs = 2 * len(comps) + len(ok)
    assert Store(store).counts()["scores"] == n_inputs * (1 + len(OBJECTIVES))
    fresh = HFRewardModel(tiny_multi_objective_rm, device="cpu", objectives="all")
    again = rmx.Explainer(fresh, rules, ["verbosity", "manner"], store=store, progress=False)
    rerun = again.explain(comps)
    assert rerun.stats.scores_computed == 0 and fresh.stats["forward_passes"] == 0
    pd.testing.assert_frame_equal(
        rerun.table.filter(like="objective."), result.table.filter(like="objective.")
    )
    effects = result.objective_effects()
    cell = effects[(effects["attribute"] == "verbosity") & (effects["direction"] == "worse")]
    rows = ok[(ok["attribute"] == "verbosity") & (ok["direction"] == "worse")]
    got = cell.set_index("objective").loc["helpfulness"]
    assert got["n"] == len(rows)
    if len(rows):
        assert got["mean_delta"] == pytest.approx(rows["objective.helpfulness.delta"].mean())


def test_objective_effects_by_hand():
    t = table(
        comparison("c1", 2.0, {"verbosity": (1.0, None), "manner": (None, None)})
        + comparison("c2", 2.0, {"verbosity": (-1.0, 0.5), "manner": (None, None)})
    )
    # rows: c1 v worse, c1 v better (failed), c1 m worse/better (failed), c2 v worse, c2 v
    # better, c2 m worse/better (failed)
    t["objective.helpfulness.delta"] = [0.5, math.nan, math.nan, math.nan, -1.5, 2.0] + [
        math.nan
    ] * 2
    t["objective.verbosity.delta"] = [1.0, math.nan, math.nan, math.nan, 3.0, -4.0] + [math.nan] * 2
    e = objective_effects(t).set_index(["attribute", "direction", "objective"])
    assert e.loc[("verbosity", "worse", "helpfulness"), "mean_delta"] == (0.5 - 1.5) / 2
    assert e.loc[("verbosity", "worse", "verbosity"), "mean_delta"] == (1.0 + 3.0) / 2
    assert e.loc[("verbosity", "worse", "helpfulness"), "n"] == 2
    better = e.loc[("verbosity", "better", "verbosity")]
    assert (better["mean_delta"], better["n"], better["n_failed"]) == (-4.0, 1, 1)
    # every rewrite failed: not measured (NaN), n 0, failures counted
    manner = e.loc[("manner", "worse", "helpfulness")]
    assert math.isnan(manner["mean_delta"]) and (manner["n"], manner["n_failed"]) == (0, 2)
    lines = format_objective_effects(t)
    assert lines[0].split() == ["attribute", "direction", "helpfulness", "verbosity", "n", "failed"]
    manner_line = next(ln for ln in lines if ln.startswith("manner") and "worse" in ln)
    assert manner_line.count("not measured") == 2 and manner_line.split()[-2:] == ["0", "2"]
    with pytest.raises(RMXError, match="no objective.<name>.delta columns"):
        objective_effects(table(comparison("c1", 1.0, {"verbosity": (1.0, 1.0)})))


def test_a_foreign_multi_objective_rm_is_checked_and_explained():
    rm = TwoObjectives()
    assert isinstance(rm, MultiObjectiveRewardModel)
    got = checked_objective_scores(rm, ["p"], ["Is it? Yes."])
    assert got == ObjectiveScores([3.0 - 2.0], {"length": [3.0], "questions": [1.0]})
    with pytest.raises(RewardModelError, match="non-finite score"):
        checked_objective_scores(TwoObjectives("nan"), ["p"], ["a"])
    with pytest.raises(RewardModelError, match=r"the objectives \['length', 'questions'\]"):
        checked_objective_scores(TwoObjectives("names"), ["p"], ["a"])
    comps = comparisons_from_records(
        [{"prompt": "Hi?", "response_a": "Hello there, how are you today?", "response_b": "Hi?"}]
    )
    result = rmx.Explainer(rm, rmx.perturber_from_spec("rules"), ["verbosity"], progress=False)
    t = result.explain(comps).table
    for _, r in t[t["outcome"] != "failed"].iterrows():
        want = len(r["perturbed"].split()) - len(r["original"].split())
        assert r["objective.length.delta"] == want
    assert objective_identity(rm.identity, "length") == "two-objectives:v1#objective=length"
