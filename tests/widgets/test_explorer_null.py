"""The Explorer's null perturber: offline random words by default, or none, and it says which."""

import html

import pytest
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.core.perturbers.base import BasePerturber, PerturbationResult
from rmx_widgets.core.perturbers.random_words import RandomWordPerturber
from rmx_widgets.errors import PerturberError
from rmx_widgets.widgets import Explorer

KEY = ["comparison_id", "attribute", "direction"]


class Blind(BasePerturber):
    attribute_aware = False
    identity = "test-blind:v1"

    def perturb(self, request):
        return PerturbationResult(request.response + " indeed")


def _explainer(**kw):
    return rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False, **kw)


def test_default_runs_the_offline_random_null_and_says_so():
    exp = Explorer(_explainer(), COMPS, redraw_every=0.0)
    identity = RandomWordPerturber().identity
    assert exp.runner.null_perturber.identity == identity
    assert exp.explainer.null_perturber is None  # the user's explainer is left as it was
    assert (
        exp.null_status == f"Null perturber {identity} (attribute-blind) runs after the perturber."
    )
    assert exp.null_label.value == f"<span class='rmx-null'>{html.escape(exp.null_status)}</span>"
    seen = []
    exp.observe(lambda ch: seen.append(ch["new"]), "null_status")
    exp.run()
    result = exp.wait(60)
    assert exp.error is None and result.null_perturber == identity
    # 12 comparisons x 4 attributes x 2 directions, paired with the main rows
    assert len(result.null_table) == len(result.table) == 96
    pairs = result.null_table.set_index(KEY).sort_index().index
    assert pairs.equals(result.table.set_index(KEY).sort_index().index)
    s = result.summary()
    assert exp.null_status == (
        f"Null perturber {identity} ran on the same rewrites: 96 rewrites — "
        f"{s['null_cf']} CF, {s['null_sf']} SF, {s['null_failed']} failed."
    )
    assert any("running" in v for v in seen)  # updated while the null ran
    assert exp.status.value.startswith("done: 96 rewrites")


def test_none_skips_the_null_and_says_why():
    exp = Explorer(_explainer(), COMPS, null_perturber=None)
    assert exp.null_status == "Null perturber: skipped (null_perturber=None)."
    exp.run()
    result = exp.wait(60)
    assert result.null_table is None and exp.null_status.startswith("Null perturber: skipped")


def test_the_explainers_own_null_and_a_given_one():
    exp = Explorer(_explainer(null_perturber=Blind()), COMPS)
    assert exp.runner.null_perturber.identity == "test-blind:v1"
    exp = Explorer(_explainer(), COMPS, null_perturber=Blind())
    assert exp.runner.null_perturber.identity == "test-blind:v1"
    with pytest.raises(PerturberError, match="attribute-aware"):
        Explorer(_explainer(), COMPS, null_perturber=rmx.RulePerturber())
    with pytest.raises(ValueError, match="use 'auto', 'random'"):
        Explorer(_explainer(), COMPS, null_perturber="paraphrase")


def test_a_null_equal_to_the_perturber_is_skipped():
    ex = rmx.Explainer(rm, RandomWordPerturber(), attributes=ATTRS, progress=False)
    exp = Explorer(ex, COMPS)
    assert exp.runner.null_perturber is None
    assert "the null perturber is the perturber itself" in exp.null_status


def test_cancel_during_the_null_says_how_far_it_got():
    class CancelsTheRun(Blind):
        def perturb(self, request):
            exp.cancel()  # pressed while the first null batch runs
            return super().perturb(request)

    exp = Explorer(_explainer(batch_size=1), COMPS, null_perturber=CancelsTheRun())
    exp.run()
    result = exp.wait(60)
    assert result.stats.cancelled and len(result.table) == 96
    # batch_size 1: the batch in flight (one comparison-attribute, 2 rewrites) lands, then stop
    assert len(result.null_table) == 2
    assert exp.null_status == "Null perturber test-blind:v1: cancelled after 2/96 rewrites."
    assert exp.status.value.startswith("cancelled")


def test_the_null_label_escapes_the_identity():
    class Sneaky(Blind):
        identity = "<img src=x onerror=alert(1)>"

    exp = Explorer(_explainer(), COMPS, null_perturber=Sneaky())
    assert "<img" in exp.null_status and "<img" not in exp.null_label.value
    assert "&lt;img" in exp.null_label.value
