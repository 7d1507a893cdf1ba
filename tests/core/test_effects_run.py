"""The effects pass end to end: a planted RM that rewards an artefact every rewrite adds.

The transparent RM below rewards only an invitation to follow up ("Let me know ...", weight
2) and list structure (which only sets the originals apart). The perturber is blind to the
attribute: in either direction it appends "Let me know (<direction>)." So every rewrite gains
+2 from the artefact and nothing from the attribute: the naive effect is large (+2 / s in both
directions), while a rewrite and its rewrite back both carry the artefact, so the corrected
(RATE) effect is 0.
"""

import json

import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.cli import main
from rmx_widgets.core.effects import EFFECT_ROW_COLUMNS, EFFECTS_COLUMNS
from rmx_widgets.core.perturbers.base import CallablePerturber
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel
from rmx_widgets.core.sensitivity import reward_spread
from rmx_widgets.core.store import Store
from rmx_widgets.errors import OptionError

COMPS = [
    {
        "id": "c1",
        "prompt": "List two fruits.",
        "response_a": "- apple\n- pear",
        "response_b": "Fruit.",
    },
    {"id": "c2", "prompt": "Steps?", "response_a": "- one", "response_b": "- a\n- b\n- c"},
    {"id": "c3", "prompt": "Items?", "response_a": "- w\n- x\n- y\n- z", "response_b": "No."},
]


def _marker(prompt, response, attribute, direction):
    return f"{response} Let me know ({direction})."


def _explainer(store, **kw):
    rm = TransparentRewardModel({"follow_up": 2.0, "formatting": 5.0}, only=True)
    return rmx.Explainer(
        rm,
        CallablePerturber(_marker, name="marker:v1"),
        attributes=["verbosity", "manner"],
        store=store,
        progress=False,
        batch_size=1,
        **kw,
    )


def test_artefact_rm_naive_large_corrected_zero_and_rerun_computes_nothing(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    result = _explainer(store, effects=True).explain(COMPS)
    rows = result.effects_table
    assert list(rows.columns) == EFFECT_ROW_COLUMNS
    assert len(rows) == 12 and not rows["back_failed"].any()
    assert (rows["back_direction"] != rows["direction"]).all()
    assert rows["back_perturbed"].str.count("Let me know").eq(2).all()
    out = result.effects(n_boot=200)
    assert list(out.columns) == EFFECTS_COLUMNS and len(out) == 4
    s = reward_spread(result.table)  # the scale of mean_margin_change
    assert out.attrs["spread"] == pytest.approx(s)
    assert (out["n"] == 3).all() and (out["n_failed"] == 0).all()
    assert out["naive_effect"].tolist() == pytest.approx([2 / s] * 4)
    assert out["naive_effect"].min() > 1.0  # large: over one reward spread
    assert out["corrected_effect"].abs().max() < 1e-9
    assert (out["naive_ci_low"] > 1.0).all()
    assert out["corrected_ci_low"].abs().max() < 1e-9
    assert out["corrected_ci_high"].abs().max() < 1e-9
    st = result.stats
    assert (st.effects_work_items, st.effects_failures) == (12, 0)
    assert st.effects_perturbations_computed == 12
    # the blind perturber writes the same back-rewrite for both attributes: scored once
    assert (st.effects_scores_computed, st.effects_scores_cached) == (6, 6)
    assert st.perturbations_computed == 12  # the main counters count the rewrites only

    again = _explainer(Store(tmp_path / "store.sqlite"), effects=True).explain(COMPS)
    st = again.stats
    assert st.perturbations_computed == st.scores_computed == 0
    assert st.effects_perturbations_computed == st.effects_scores_computed == 0
    assert st.effects_perturbations_cached == st.effects_scores_cached == 12
    pd.testing.assert_frame_equal(again.effects(n_boot=200), out)


def test_without_effects_no_back_rewrites(tmp_path):
    result = _explainer(tmp_path / "s.sqlite").explain(COMPS)
    assert result.effects_table is None and result.stats.effects_work_items == 0
    with pytest.raises(OptionError, match="effects=True"):
        result.effects()


def test_explain_to_keeps_effect_rows_without_texts(tmp_path):
    saved = _explainer(tmp_path / "s.sqlite", effects=True).explain_to(
        COMPS, tmp_path / "out", report=False
    )
    assert "back_perturbed" not in saved.effects_table
    assert saved.effects()["corrected_effect"].abs().max() < 1e-9
    assert saved.summary["run_effects_work_items"] == 12


def test_cli_effects_writes_effects_csv_and_prints_table(tmp_path, capsys):
    data = tmp_path / "pairs.jsonl"
    data.write_text(
        "\n".join(
            json.dumps(
                {"prompt": c["prompt"], "chosen": c["response_a"], "rejected": c["response_b"]}
            )
            for c in COMPS
        )
        + "\n"
    )
    out = tmp_path / "run"
    args = ["explain", "--data", str(data), "--rm", "transparent", "--perturber", "rules"]
    args += ["--attributes", "manner,avoid-to-answer", "--out", str(out), "--no-report"]
    assert main([*args, "--effects"]) == 0
    printed = capsys.readouterr().out
    assert "corrected (RATE)" in printed and "back-rewrites" in printed
    table = pd.read_csv(out / "effects.csv")
    assert list(table.columns) == EFFECTS_COLUMNS and len(table) == 4
    assert main(args) == 0  # without --effects the earlier run's effects.csv goes
    assert "corrected (RATE)" not in capsys.readouterr().out
    assert not (out / "effects.csv").exists()
