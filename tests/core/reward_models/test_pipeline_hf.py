"""The whole pipeline on tiny random transformers RMs loaded through from_pretrained."""

import numpy as np
import pytest

import rmx_widgets as rmx

ATTRS = ["verbosity", "assertiveness", "avoid-to-answer", "manner"]


@pytest.fixture(scope="module")
def comps():
    return rmx.sample_comparisons()[:8]


@pytest.mark.parametrize(
    "fixture", ["tiny_decoder_rm", "tiny_decoder_rm_no_template", "tiny_encoder_rm"]
)
def test_pipeline_on_tiny_rm(request, comps, fixture, tmp_path):
    rm = rmx.HFRewardModel(str(request.getfixturevalue(fixture)), device="cpu")
    ex = rmx.Explainer(
        rm, rmx.RulePerturber(), attributes=ATTRS, store=tmp_path / "s.sqlite", progress=False
    )
    result = ex.explain(comps)
    t = result.table
    assert len(t) == len(comps) * len(ATTRS) * 2 - 2 * len(ATTRS) * len(result.ties)
    ok = t[t.outcome != "failed"]
    assert len(ok) > 0 and set(ok.outcome) <= {"CF", "SF"}
    # labels follow the margins, and rewards are the model's own scores
    assert ((ok.margin_after < 0) == (ok.outcome == "CF")).all()
    direct = rm.score([c.prompt for c in comps], [c.response_a for c in comps])
    got = result.originals.set_index("comparison_id").loc[[c.id for c in comps], "reward_a"]
    np.testing.assert_allclose(got.to_numpy(), direct, atol=1e-4)
    sample = ok.iloc[0]
    prompt = next(c.prompt for c in comps if c.id == sample.comparison_id)
    assert rm.score([prompt], [sample.perturbed])[0] == pytest.approx(
        sample.reward_perturbed, abs=1e-4
    )
    assert t.rm.iloc[0] == rm.identity and t.perturber.iloc[0] == "rules:v1"
    sens = result.sensitivity(n_boot=100)
    assert set(sens.attribute) == set(ATTRS)
