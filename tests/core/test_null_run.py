"""The null perturber's run: the same rewrites as the main run, attribute-blind, cached, saved.

These tests check the null TABLE and its files; the statistics computed from it (null_pfr,
excess, p-values) are tested with ``core.sensitivity``.
"""

import threading

import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.explain import TABLE_COLUMNS, Explainer
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.null_run import null_from_spec, null_skip_reason, resolve_null_perturber
from rmx_widgets.core.perturbers.base import BasePerturber, PerturbationResult
from rmx_widgets.core.perturbers.random_words import RandomWordPerturber
from rmx_widgets.core.perturbers.rules import RulePerturber
from rmx_widgets.core.result import ExplanationResult
from rmx_widgets.core.table_io import null_table_beside, read_table
from rmx_widgets.errors import PerturberError

KEY = ["comparison_id", "attribute", "direction"]
ATTRS = ["verbosity", "manner"]


class Counting:
    """An RM that scores by length and counts what it scores; a perturber that counts."""

    def __init__(self):
        self.scored = 0
        self.perturbed = 0

    def rm(self, prompts, responses):
        self.scored += len(responses)
        return [float(len(r)) for r in responses]

    def perturb(self, prompt, response, attribute, direction):
        self.perturbed += 1
        return f"{response} [{attribute.name} {direction}]"


class Blind(BasePerturber):
    """An attribute-blind null that appends one word and counts its calls."""

    attribute_aware = False

    def __init__(self, tag="x"):
        self.identity = f"test-blind-null:{tag}"
        self.calls = 0

    def perturb(self, request):
        self.calls += 1
        return PerturbationResult(request.response + " indeed")


COMPS = [
    {"id": f"c{i}", "prompt": f"q{i}", "response_a": "a" * (i + 2), "response_b": "bb" * (i + 3)}
    for i in range(5)
]


def _explainer(counter, null, store=None, batch_size=1):
    return Explainer(
        counter.rm,
        counter.perturb,
        attributes=ATTRS,
        store=store,
        batch_size=batch_size,
        progress=False,
        null_perturber=null,
    )


def _assert_same(a, b):
    """Equal tables, reading a file's NaN in an all-missing text column as None."""
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    norm = [t.astype(object).where(t.notna(), None).reset_index(drop=True) for t in (a, b)]
    pd.testing.assert_frame_equal(norm[0], norm[1], check_dtype=False)


def test_null_rows_pair_one_to_one_with_the_main_rows():
    counter, null = Counting(), Blind()
    res = _explainer(counter, null).explain(COMPS)
    # 5 comparisons x 2 attributes x 2 directions = 20 rows in each table
    assert len(res.table) == 20 and len(res.null_table) == 20
    assert list(res.null_table.columns) == TABLE_COLUMNS
    main = res.table.set_index(KEY).sort_index()
    nul = res.null_table.set_index(KEY).sort_index()
    assert main.index.equals(nul.index) and not nul.index.duplicated().any()
    # the same side, original and original reward, rewritten by the null
    for col in ("side", "original", "reward_original", "reward_other", "margin_before"):
        assert main[col].equals(nul[col]), col
    assert set(res.null_table["perturber"]) == {null.identity}
    assert set(res.table["perturber"]) != {null.identity}
    assert res.null_perturber == null.identity
    assert (res.null_table["perturbed"] == res.null_table["original"] + " indeed").all()
    # scored by the same RM: reward = length, + 7 for " indeed"
    assert (res.null_table["reward_perturbed"] == res.null_table["reward_original"] + 7).all()
    assert null.calls == 20
    s = res.stats
    assert (s.null_work_items, s.null_work_done) == (20, 20)
    assert (s.null_perturbations_computed, s.null_perturbations_cached, s.null_failures) == (
        20,
        0,
        0,
    )
    # the blind null writes the same text for both attributes: 20 rewrites are 10 distinct
    # texts (5 comparisons x 2 sides), so 10 scores computed and 10 answered from the cache;
    # the main run scored its 10 originals + 20 distinct rewrites
    assert (s.null_scores_computed, s.null_scores_cached) == (10, 10)
    assert s.scores_computed == 30
    assert s.perturbations_computed == 20  # the main counters count the main perturber only


def test_without_a_null_there_is_no_null_table():
    res = _explainer(Counting(), None).explain(COMPS)
    assert res.null_table is None and res.null_perturber is None
    assert res.stats.null_perturber is None and res.stats.null_skipped == "no null perturber"
    summary = res.summary()
    assert summary["null_perturber"] is None and summary["null_rows"] is None  # not 0


def test_cached_rerun_computes_no_null_rewrite_and_no_score(tmp_path):
    store = tmp_path / "s.sqlite"
    first = _explainer(Counting(), Blind(), store).explain(COMPS)
    counter, null = Counting(), Blind()
    again = _explainer(counter, null, store).explain(COMPS)
    assert null.calls == 0 and counter.perturbed == 0 and counter.scored == 0
    s = again.stats
    assert (s.null_perturbations_computed, s.null_perturbations_cached) == (0, 20)
    assert (s.null_scores_computed, s.null_scores_cached) == (0, 20)
    assert (s.scores_computed, s.perturbations_computed) == (0, 0)
    pd.testing.assert_frame_equal(again.null_table, first.null_table)


def test_random_word_null_runs_per_attribute_and_direction():
    counter = Counting()
    res = _explainer(counter, RandomWordPerturber(seed=3)).explain(COMPS[:1])
    assert len(res.null_table) == 4
    assert res.null_perturber == RandomWordPerturber(seed=3).identity
    assert set(res.null_table["perturber"]) == {res.null_perturber}


def test_cancel_stops_the_null_too():
    counter, null = Counting(), Blind()
    cancel = threading.Event()
    null_batches = []

    def on_null_batch(frame):
        null_batches.append(frame)
        cancel.set()  # stop after the first null batch

    res = _explainer(counter, null).explain(COMPS, cancel=cancel, on_null_batch=on_null_batch)
    assert len(res.table) == 20  # the main run finished before the null started
    assert len(null_batches) == 1 and len(res.null_table) == 2  # batch_size 1: 2 rewrites
    assert res.stats.cancelled and null.calls == 2 and res.stats.null_work_done == 2


def test_cancel_during_the_main_run_skips_the_null():
    null, cancel = Blind(), threading.Event()
    res = _explainer(Counting(), null).explain(
        COMPS, cancel=cancel, on_batch=lambda f: cancel.set()
    )
    assert len(res.table) == 2 and null.calls == 0
    assert res.null_table is None and res.stats.null_skipped == "the run was cancelled"


def test_attribute_aware_null_is_refused():
    with pytest.raises(PerturberError, match="attribute-aware"):
        _explainer(Counting(), RulePerturber())
    with pytest.raises(PerturberError, match="attribute-aware"):
        resolve_null_perturber(rmx.CallablePerturber(lambda p, r, a, d: r + "!", name="x"))


def test_a_plain_function_as_null_is_declared_blind():
    null = resolve_null_perturber(lambda p, r, a, d: r + " ok")
    assert null is not None and null.attribute_aware is False
    assert resolve_null_perturber(None) is None


def test_null_equal_to_the_perturber_does_not_run():
    blind = Blind("same")
    ex = Explainer(Counting().rm, blind, attributes=ATTRS, progress=False, null_perturber=blind)
    assert null_skip_reason(ex.perturber, ex.null_perturber) is not None
    with pytest.warns(UserWarning, match="null perturber does not run.*itself"):
        res = ex.explain(COMPS[:1])
    assert res.null_table is None and "itself" in res.stats.null_skipped


def test_null_from_spec():
    assert null_from_spec("none") is None and null_from_spec(None) is None
    r = null_from_spec("random", seed=7)
    assert isinstance(r, RandomWordPerturber) and r.seed == 7
    with pytest.raises(PerturberError, match="needs --model"):
        null_from_spec("paraphrase")
    with pytest.raises(PerturberError, match="use one of"):
        null_from_spec("rules")


def test_explain_to_streams_the_null_table(tmp_path):
    counter, null = Counting(), Blind()
    run = _explainer(counter, null, tmp_path / "s.sqlite").explain_to(
        COMPS, tmp_path / "out", report=False
    )
    out = tmp_path / "out"
    assert run.paths["null_table_parquet"] == out / "null_table.parquet"
    assert run.paths["null_table_jsonl"] == out / "null_table.jsonl"
    on_disk = pd.read_parquet(out / "null_table.parquet")
    jsonl = pd.read_json(out / "null_table.jsonl", lines=True)
    assert len(on_disk) == len(jsonl) == 20 and list(on_disk.columns) == TABLE_COLUMNS
    assert set(on_disk["perturber"]) == {null.identity}
    assert not list(out.glob("*.partial"))
    assert run.null_perturber == null.identity and len(run.null_table) == 20
    assert "perturbed" not in run.null_table  # slim, like the main table in memory
    assert run.summary["null_rows"] == 20 and run.summary["null_perturber"] == null.identity
    assert run.summary["run_null_perturbations_computed"] == 20
    # the same file as explain() + save() writes
    mem = _explainer(Counting(), Blind(), tmp_path / "s.sqlite").explain(COMPS)
    saved = mem.save(tmp_path / "saved", report=False)
    pd.testing.assert_frame_equal(on_disk, pd.read_parquet(saved["null_table_parquet"]))
    _assert_same(on_disk, mem.null_table)
    assert null_table_beside(out / "table.parquet") is not None


def test_explain_to_without_a_null_writes_no_null_files(tmp_path):
    run = _explainer(Counting(), None).explain_to(COMPS, tmp_path / "out", report=False)
    assert "null_table_parquet" not in run.paths and run.null_table is None
    assert not (tmp_path / "out" / "null_table.parquet").exists()
    assert null_table_beside(tmp_path / "out" / "table.parquet") is None


def test_save_and_load_round_trip(tmp_path):
    res = _explainer(Counting(), Blind()).explain(COMPS)
    paths = res.save(tmp_path / "saved", report=False)
    assert paths["null_table_parquet"].exists() and paths["null_table_jsonl"].exists()
    back = null_table_beside(paths["table_parquet"])
    _assert_same(back, res.null_table)
    from_jsonl = null_table_beside(paths["table_jsonl"])
    assert len(from_jsonl) == 20 and list(from_jsonl.columns) == TABLE_COLUMNS
    assert len(read_table(paths["table_parquet"])) == 20
    # a result without a null saves no null files
    plain = ExplanationResult(
        table=res.table,
        originals=res.originals,
        comparisons=res.comparisons,
        attributes=res.attributes,
        rm=res.rm,
        perturber=res.perturber,
    )
    plain_paths = plain.save(tmp_path / "plain", report=False)
    assert "null_table_parquet" not in plain_paths
    assert not (tmp_path / "plain" / "null_table.parquet").exists()


def test_sensitivity_uses_the_attached_null_unless_told(monkeypatch):
    res = _explainer(Counting(), Blind()).explain(COMPS[:2])
    seen = []

    def spy(table, null, **kwargs):
        seen.append((null, kwargs))
        return pd.DataFrame()

    monkeypatch.setattr("rmx_widgets.core.result.sensitivity_with_null", spy)
    res.sensitivity(n_boot=10)
    res.sensitivity(null=None)
    other = res.null_table.iloc[:1]
    res.sensitivity(null=other)
    assert seen[0][0] is res.null_table and seen[0][1] == {"n_boot": 10}
    assert seen[1][0] is None
    assert seen[2][0] is other


def test_with_null_copies_the_explainer():
    ex = _explainer(Counting(), None)
    with_null = ex.with_null(Blind())
    assert ex.null_perturber is None and with_null.null_perturber is not None
    assert with_null.store is ex.store and with_null.rm is ex.rm
    assert len(with_null.explain(COMPS[:1]).null_table) == 4


def test_failed_null_rewrites_are_counted_beside_the_rate():
    class FailsOnShort(Blind):
        def perturb(self, request):
            if request.response == "aa":  # c0's response_a, once per attribute
                return PerturbationResult.failed("too short for a test", FailureKind.OTHER)
            return super().perturb(request)

    res = _explainer(Counting(), FailsOnShort()).explain(COMPS)
    # c0's "aa" is rewritten once per attribute (2 attributes) -> 2 failed null rows of 20
    assert res.stats.null_failures == 2
    s = res.summary()
    assert (s["null_rows"], s["null_failed"]) == (20, 2)
    assert s["null_cf"] + s["null_sf"] == 18
    assert s["null_failures_by_reason"] == {"other": 2}
    assert res.stats.failures_by_reason == {}  # the main run's failures stay apart


def test_a_run_without_a_null_removes_an_earlier_null(tmp_path):
    out = tmp_path / "out"
    _explainer(Counting(), Blind()).explain_to(COMPS, out, report=False)
    assert (out / "null_table.parquet").exists()
    _explainer(Counting(), None).explain_to(COMPS, out, report=False)
    assert not (out / "null_table.parquet").exists() and not (out / "null_table.jsonl").exists()


def test_explain_to_with_a_null_that_cannot_run_writes_no_null(tmp_path):
    blind = Blind("same")
    ex = Explainer(Counting().rm, blind, attributes=ATTRS, progress=False, null_perturber=blind)
    with pytest.warns(UserWarning, match="itself"):
        run = ex.explain_to(COMPS, tmp_path / "out", report=False)
    assert run.null_table is None and "null_table_parquet" not in run.paths
    assert not list((tmp_path / "out").glob("null_table*"))
