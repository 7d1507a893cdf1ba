"""Issue 14's smaller widget defects, checked on widget state: RMCompare's default labels and
the Explorer's ETA after a resume."""

from __future__ import annotations

import html
import json
import re
import time

import pytest
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.core.errors import OptionError
from rmx_widgets.core.result import RunStats
from rmx_widgets.widgets import Explorer, RMCompare
from rmx_widgets.widgets.rm_compare import rm_label
from rmx_widgets.widgets.run_progress import RunClock

# -- RMCompare without names= ----------------------------------------------------------------


def _result(score, comps=COMPS):
    return rmx.Explainer(score, perturb, attributes=ATTRS, progress=False).explain(comps)


def _chart_text(cmp: RMCompare) -> str:
    return json.dumps(cmp.chart.chart.chart.to_dict())


def test_rm_compare_labels_rms_by_name_not_by_hash():
    def length_hater(prompts, responses):
        return [len(r) / 10 for r in responses]

    a, b = _result(rm), _result(length_hater)
    assert re.search(r"[0-9a-f]{12}$", a.rm) and re.search(r"[0-9a-f]{12}$", b.rm)  # hashes
    cmp = RMCompare(a, b)
    # ``rm`` is a module-level function: its name; the closure too
    assert cmp.names == ("rm", "length_hater")
    header = cmp.children[0].value
    assert "<b>rm</b> vs <b>length_hater</b>" in header
    chart = _chart_text(cmp)
    for identity in (a.rm, b.rm):
        digest = identity.rsplit(":", 1)[-1]
        assert digest not in header and digest not in chart and identity not in cmp.names
    assert '"length_hater"' in chart
    assert set(cmp.view.visible_ids) <= set(cmp.contrasting_ids)


def test_rm_compare_hash_only_identities_read_rm_a_rm_b_and_twins_are_told_apart():
    anon_a = _result(lambda p, r: [-len(x) / 10 for x in r])
    anon_b = _result(lambda p, r: [len(x) / 10 for x in r])
    cmp = RMCompare(anon_a, anon_b)
    assert cmp.names == ("RM A", "RM B")
    assert "RM A" in _chart_text(cmp) and "<b>RM A</b> vs <b>RM B</b>" in cmp.children[0].value
    # the same RM twice (before: two identical toggle options; now two identical card columns)
    same = RMCompare(anon_a, anon_a)
    assert same.names == ("RM A", "RM B")
    named = _result(rm)
    twins = RMCompare(named, named)
    assert twins.names == ("rm (A)", "rm (B)")
    cards = html.unescape(twins.cards.value)
    assert "rm (A): " in cards and "rm (B): " in cards
    # names= as given, but two equal ones cannot label two RMs
    assert RMCompare(named, anon_a, names=("mine", "theirs")).names == ("mine", "theirs")
    with pytest.raises(OptionError, match="names= must differ"):
        RMCompare(named, anon_a, names=("x", "x"))


@pytest.mark.parametrize(
    ("identity", "label"),
    [
        ("hf:/models/Skywork-Reward-V2:bfloat16", "Skywork-Reward-V2"),
        ("hf:org/rm-7b:float32:head=1", "rm-7b"),
        ("hf:/models/rm-7b/:float32:max_length=512", "rm-7b"),
        ("callable:tests.widgets.mod.<locals>.my_rm:0123456789ab", "my_rm"),
        ("callable:tests.widgets.mod.<lambda>:0123456789ab", None),
        ("transparent:v1:0123456789", None),
        ("helpful:w0123456789", "helpful"),
        ("helpful-rm:v2", "helpful-rm"),
        ("dpo:policy=hf:/ckpt/policy-7b:bfloat16,ref=hf:/ckpt/ref:bfloat16:beta=0.1", "policy-7b"),
    ],
)
def test_rm_label(identity, label):
    assert rm_label(identity) == label


# -- the ETA after a resume --------------------------------------------------------------------


def _stats(done, cached):
    return RunStats(work_items=100, work_done=done, perturbations_cached=cached)


def test_run_clock_times_only_computed_work():
    now = [0.0]
    clock = RunClock(lambda: now[0])
    clock.start()
    assert clock.remaining(100) is None  # nothing measured: not 0 seconds
    now[0] = 0.01  # 40 rows straight from the store
    clock.update(_stats(40, 40))
    assert clock.streaming_cached and clock.cached == 40 and clock.remaining(100) is None
    now[0] = 10.01  # 10 computed rewrites in 10 s: 1 s each, 50 to go -> 50 s
    clock.update(_stats(50, 40))
    assert not clock.streaming_cached and clock.remaining(100) == pytest.approx(50.0)
    now[0] = 15.01  # a mixed batch: 5 cached + 5 computed in 5 s -> still 1 s per computed one
    clock.update(_stats(60, 45))
    assert clock.computed == 15 and clock.remaining(100) == pytest.approx(40.0)
    now[0] = 15.02  # more cached rows do not speed the estimate up
    clock.update(_stats(80, 65))
    assert clock.streaming_cached and clock.remaining(100) == pytest.approx(20.0)
    # the old estimate, elapsed / done x left, would say 15.02 / 80 x 20 = 3.8 s here


def test_explorer_eta_after_a_resume_uses_the_computed_rate(tmp_path, monkeypatch):
    store = tmp_path / "store.sqlite"
    now = [1000.0]

    def one_second_each(prompt, response, attribute, direction):
        now[0] += 1.0  # every computed rewrite costs one (fake) second; cached ones nothing
        return perturb(prompt, response, attribute, direction)

    def explainer():
        ticking = rmx.CallablePerturber(one_second_each, name="toy-ticking:v1")  # one cache key
        return rmx.Explainer(
            rm, ticking, attributes=ATTRS, store=store, batch_size=1, progress=False
        )

    # a half-filled store: the first six of the twelve comparisons ran before
    explainer().explain(COMPS[:6])
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    exp = Explorer(explainer(), COMPS, redraw_every=1e9, null_perturber=None)  # few redraws
    statuses: list[str] = []
    exp.status.observe(lambda ch: statuses.append(ch["new"]), "value")
    exp.run()
    result = exp.wait(120)
    assert result is not None and exp.error is None, exp.error
    assert result.stats.perturbations_cached == 48 and result.stats.perturbations_computed == 48
    progress = [s for s in statuses if " rewrites" in s and "ETA" in s]
    assert len(progress) == 48  # one per batch of two rewrites
    # the 24 batches of the six cached comparisons: said so, and no made-up ETA
    for i, status in enumerate(progress[:24]):
        assert status.startswith(f"{2 * (i + 1)}/96 rewrites · resuming: {2 * (i + 1)} cached")
        assert status.endswith("ETA not measured yet")
    # then each computed rewrite took 1 s: the ETA is 1 s per rewrite still to come
    for i, status in enumerate(progress[24:]):
        done = 50 + 2 * i
        left = 96 - done
        eta = f"{left // 60}m{left % 60:02d}s" if left >= 60 else f"{left}s"
        assert status.startswith(f"{done}/96 rewrites · 48 from the store"), status
        assert status.endswith(f"ETA {eta}"), status


def test_explorer_summary_names_the_judge_kind():
    """Issue 15: the Explorer's summary says whether margins are reward differences (a scalar
    RM) or logit P(a ≻ b) (a pairwise judge)."""
    comps = rmx.sample_comparisons()[:2]
    scalar = Explorer(rmx.Explainer(rmx.TransparentRewardModel(), rmx.RulePerturber()), comps)
    assert "RM (margins are reward differences)" in scalar.summary.value
    judge = rmx.PairwiseRewardModel(lambda p, a, b: [0.7] * len(a), name="const-judge:v1")
    pairwise = Explorer(rmx.Explainer(judge, rmx.RulePerturber()), comps)
    assert "pairwise judge (margins are logit P(a ≻ b))" in pairwise.summary.value
    assert "const-judge:v1" in pairwise.summary.value
