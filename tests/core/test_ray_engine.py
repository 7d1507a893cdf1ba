"""engine="ray" on a local Ray cluster (loopback, 2 CPUs) started here: the table is the
in-process engine's, a killed actor is recovered with nothing stored twice, and a killed driver
resumes recomputing nothing stored (in either direction between the engines)."""

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

import rmx_widgets as rmx  # noqa: E402
from rmx_widgets.core.engines.ray_engine import (  # noqa: E402
    RayEngine,
    RayMultiObjectiveRewardModel,
    RayPerturber,
    RayRewardModel,
)
from rmx_widgets.core.perturbers.rules import RulePerturber  # noqa: E402
from rmx_widgets.core.reward_models.base import BaseRewardModel, ObjectiveScores  # noqa: E402
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel  # noqa: E402
from rmx_widgets.core.store import Store  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.filterwarnings("ignore::UserWarning")]

ATTRS = ["verbosity", "assertiveness", "manner"]


@pytest.fixture(scope="module")
def cluster():
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors cannot import it
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _comps(n):
    return [
        {
            "id": f"c{i:02d}",
            "prompt": f"How do I do task {i}?",
            "response_a": f"Sure! Here is step {i}. I think it might work, perhaps.",
            "response_b": f"- do {i}\n- then check {i * 7}\nThe answer is {i * 3}.",
        }
        for i in range(n)
    ]


class RecordingStore(Store):
    """A store that remembers every key written, to prove nothing is stored twice."""

    def __init__(self, path):
        super().__init__(path)
        self.written: list[str] = []

    def put_scores(self, rows):
        rows = list(rows)
        self.written += [r[0] for r in rows]
        super().put_scores(rows)

    def put_perturbations(self, rows):
        rows = list(rows)
        self.written += [r[0] for r in rows]
        super().put_perturbations(rows)


def _local(comps, tmp_path, rm=None, name="local"):
    ex = rmx.Explainer(
        rm or TransparentRewardModel(),
        RulePerturber(),
        attributes=ATTRS,
        store=tmp_path / f"{name}.sqlite",
        batch_size=2,
        progress=False,
    )
    return ex.explain(comps)


def _same(a, b, **kw):
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), **kw)


def test_table_equals_the_in_process_run(cluster, tmp_path):
    comps = _comps(6)
    local = _local(comps, tmp_path)
    engine = RayEngine(workers=2)
    try:
        ex = rmx.Explainer(
            TransparentRewardModel(),
            RulePerturber(),
            attributes=ATTRS,
            store=tmp_path / "ray.sqlite",
            batch_size=2,
            progress=False,
            engine=engine,
        )
        assert isinstance(ex.rm, RayRewardModel) and isinstance(ex.perturber, RayPerturber)
        assert len(ex.rm.pool.actors) == 2 and len(ex.perturber.pool.actors) == 2
        got = ex.explain(comps)
    finally:
        engine.close()
    _same(got.table, local.table)
    _same(got.originals, local.originals)
    # the same keys: every stored row of one run is a row of the other
    assert Store(tmp_path / "ray.sqlite").counts() == Store(tmp_path / "local.sqlite").counts()
    assert got.stats.perturbations_computed == local.stats.perturbations_computed == 6 * 3 * 2
    assert local.table["perturbed"].notna().sum() >= 18  # real rewrites, not only failures


def test_tiny_hf_rm_built_on_the_actors_from_its_spec(cluster, tmp_path, tiny_decoder_rm):
    from rmx_widgets.core.specs import reward_model_from_spec

    spec = f"hf:{tiny_decoder_rm}"
    comps = _comps(4)
    local = _local(comps, tmp_path, rm=reward_model_from_spec(spec, device="cpu"))
    engine = RayEngine(workers=2, rm_spec=spec, rm_options={"device": "cpu"})
    try:
        ex = rmx.Explainer(
            reward_model_from_spec(spec, device="cpu"),
            RulePerturber(),
            attributes=ATTRS,
            store=tmp_path / "ray.sqlite",
            batch_size=2,
            progress=False,
            engine=engine,
        )
        assert ex.rm.pool.recipe.spec == spec and ex.rm.pool.recipe.obj is None
        got = ex.explain(comps)
    finally:
        engine.close()
    # floats within float32 noise (another batch composition, another thread count); every
    # label and text identical
    _same(got.table, local.table, check_exact=False, rtol=1e-5, atol=1e-5)
    assert (got.table["outcome"] == local.table["outcome"]).all()
    _same(got.originals, local.originals, check_exact=False, rtol=1e-5, atol=1e-5)


class TwoObjectives(BaseRewardModel):
    """A multi-objective RM in plain Python: words and question marks (and characters, so
    the comparisons are not ties)."""

    identity = "two-objectives:v1"
    objectives = ("length", "questions")

    def score_objectives(self, prompts, responses):
        length = [float(len(r.split())) for r in responses]
        questions = [float(r.count("?")) for r in responses]
        combined = [a - 2 * b + 0.01 * len(r) for a, b, r in zip(length, questions, responses)]
        return ObjectiveScores(combined, {"length": length, "questions": questions})

    def score(self, prompts, responses):
        return self.score_objectives(prompts, responses).combined


def test_multi_objective_rm_keeps_its_objective_columns(cluster, tmp_path):
    comps = _comps(4)
    local = _local(comps, tmp_path, rm=TwoObjectives())
    engine = RayEngine(workers=2)
    try:
        ex = rmx.Explainer(
            TwoObjectives(),
            RulePerturber(),
            attributes=ATTRS,
            store=tmp_path / "ray.sqlite",
            batch_size=2,
            progress=False,
            engine=engine,
        )
        assert isinstance(ex.rm, RayMultiObjectiveRewardModel)
        got = ex.explain(comps)
    finally:
        engine.close()
    assert {"objective.length.delta", "objective.questions.delta"} <= set(local.table.columns)
    assert local.table["objective.length.delta"].notna().sum() >= 8
    _same(got.table, local.table)


def test_actor_with_another_identity_is_refused(cluster):
    from rmx_widgets.core.engines import EngineError

    engine = RayEngine(workers=1, rm_spec="transparent:length=1")
    try:
        with pytest.raises(EngineError, match="another key"):
            rmx.Explainer(TransparentRewardModel(), RulePerturber(), progress=False, engine=engine)
    finally:
        engine.close()


def test_killed_actors_are_recovered_and_nothing_is_stored_twice(cluster, tmp_path):
    # 4 batches: the 4th is submitted only after the kill, its chunks on every listed actor
    # (the dead one included), so both pools meet a dead actor whatever the timing
    comps = _comps(8)
    local = _local(comps, tmp_path)
    engine = RayEngine(workers=2)
    store = RecordingStore(tmp_path / "ray.sqlite")
    try:
        ex = rmx.Explainer(
            TransparentRewardModel(),
            RulePerturber(),
            attributes=ATTRS,
            store=store,
            batch_size=2,
            progress=False,
            engine=engine,
        )
        killed = []

        def kill_after_first_batch(frame):
            if not killed:  # the next batches' rewrites are in flight now (the lookahead)
                killed.append(ex.rm.pool.actors[0])
                ray.kill(ex.rm.pool.actors[0])
                ray.kill(ex.perturber.pool.actors[0])

        got = ex.explain(comps, on_batch=kill_after_first_batch)
        assert killed
        assert ex.rm.pool.restarts == 1 and ex.perturber.pool.restarts == 1
        assert ex.rm.pool.retried_chunks >= 1 and ex.perturber.pool.retried_chunks >= 1
        assert len(ex.rm.pool.actors) == 2 and killed[0] not in ex.rm.pool.actors
    finally:
        engine.close()
    _same(got.table, local.table)
    assert len(store.written) == len(set(store.written))  # every key written once
    assert store.counts() == Store(tmp_path / "local.sqlite").counts()
    assert store.open_claims() == 0


def test_study_started_in_process_resumes_on_ray(cluster, tmp_path):
    comps = _comps(6)
    full = _local(comps, tmp_path, name="full")
    _local(comps[:3], tmp_path, name="shared")  # the laptop did half the study
    before = Store(tmp_path / "shared.sqlite").counts()
    engine = RayEngine(workers=2)
    try:
        got = rmx.Explainer(
            TransparentRewardModel(),
            RulePerturber(),
            attributes=ATTRS,
            store=tmp_path / "shared.sqlite",
            batch_size=2,
            progress=False,
            engine=engine,
        ).explain(comps)
    finally:
        engine.close()
    _same(got.table, full.table)
    assert got.stats.perturbations_computed == 3 * 3 * 2  # only the other half
    assert before["perturbations"] == 3 * 3 * 2
    assert got.stats.scores_cached >= 3 * 2  # the laptop's originals


JOB = textwrap.dedent("""
    import json, sys, time
    import rmx_widgets as rmx
    from rmx_widgets.core.engines.ray_engine import RayEngine
    from rmx_widgets.core.perturbers.base import BasePerturber, PerturbationResult
    from rmx_widgets.core.reward_models.transparent import TransparentRewardModel

    address, store, out, engine = sys.argv[1:5]

    class Slow(BasePerturber):
        identity = "slow-suffix:v1"

        def perturb(self, req):
            time.sleep(0.03)
            return PerturbationResult(f"{req.response} ({req.attribute.name}, {req.direction})")

    comps = [{"id": "c%02d" % i, "prompt": "question %d" % i, "response_a": "answer %d" % i,
              "response_b": "a longer reply %d" % (i * 7)} for i in range(16)]
    if engine == "ray":
        import ray
        ray.init(address=address, log_to_driver=False)
        engine = RayEngine(workers=2)
    res = rmx.Explainer(TransparentRewardModel(), Slow(), attributes=["verbosity", "manner"],
                        store=store, batch_size=2, progress=False, engine=engine).explain(comps)
    res.table.to_parquet(out)
    with open(out + ".json", "w") as f:
        json.dump({"perturbations": res.stats.perturbations_computed,
                   "scores": res.stats.scores_computed}, f)
""")


def _job(tmp_path, cluster, store, out, engine, kill_at=None):
    script = tmp_path / "job.py"
    script.write_text(JOB)
    args = [sys.executable, str(script), cluster, str(store), str(out), engine]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE)
    if kill_at is None:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        return json.loads(open(str(out) + ".json").read())
    deadline = time.time() + 90
    while _stored(store) < kill_at and proc.poll() is None:
        assert time.time() < deadline
        time.sleep(0.02)
    assert proc.poll() is None, "the job ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return None


def _stored(store):
    try:
        with sqlite3.connect(store) as db:
            return db.execute("SELECT COUNT(*) FROM perturbations").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("first, then", [("ray", "ray"), ("ray", "local")])
def test_driver_killed_then_resumed_recomputes_nothing_stored(cluster, tmp_path, first, then):
    clean = _job(tmp_path, cluster, tmp_path / "clean.sqlite", tmp_path / "clean.parquet", "local")
    assert clean["perturbations"] == 16 * 2 * 2
    store = tmp_path / "killed.sqlite"
    _job(tmp_path, cluster, store, tmp_path / "killed.parquet", first, kill_at=12)
    assert Store(store).integrity_check() == "ok"
    stored = Store(store).counts()
    assert 12 <= stored["perturbations"] < 64
    resumed = _job(tmp_path, cluster, store, tmp_path / "resumed.parquet", then)
    _same(
        pd.read_parquet(tmp_path / "resumed.parquet"), pd.read_parquet(tmp_path / "clean.parquet")
    )
    # nothing the killed driver stored is computed again
    assert resumed["perturbations"] == 64 - stored["perturbations"]
    assert resumed["scores"] == clean["scores"] - stored["scores"]


def test_cli_engine_ray_writes_the_local_table(cluster, tmp_path):
    from pathlib import Path

    from rmx_widgets.cli import main

    data = Path(__file__).parents[1] / "robustness" / "bad_inputs" / "data" / "valid_pairs.jsonl"
    base = ["explain", "--data", str(data), "--rm", "transparent", "--no-report"]
    base += ["--attributes", ",".join(ATTRS)]
    assert main([*base, "--out", str(tmp_path / "local")]) == 0
    assert main([*base, "--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"]) == 0
    local = pd.read_parquet(tmp_path / "local" / "table.parquet")
    _same(pd.read_parquet(tmp_path / "ray" / "table.parquet"), local)
    assert len(local) > 0


def _refuse_driver_loads(monkeypatch):
    """Loading an HF model in this (the driver's) process fails the test; the actors are
    other processes and load as usual."""
    from rmx_widgets.core.reward_models.hf.loading import ModelSource

    def refuse(*args, **kwargs):
        raise AssertionError("the driver loaded the reward model")

    monkeypatch.setattr(ModelSource, "load", refuse)


def test_remote_reward_model_is_never_loaded_by_the_driver(
    cluster, tmp_path, tiny_decoder_rm, monkeypatch
):
    from rmx_widgets.core.specs import reward_model_from_spec

    spec = f"hf:{tiny_decoder_rm}"
    comps = _comps(4)
    in_process = reward_model_from_spec(spec, device="cpu")
    local = _local(comps, tmp_path, rm=in_process)
    _refuse_driver_loads(monkeypatch)
    engine = RayEngine(workers=2)
    try:
        rm = engine.remote_reward_model(spec, {"device": "cpu"})
        assert rm.identity == in_process.identity  # the actors' copy names the same key
        assert rm.pool.recipe.identity == in_process.identity  # replacements held to it
        ex = rmx.Explainer(
            rm,
            RulePerturber(),
            attributes=ATTRS,
            store=tmp_path / "ray.sqlite",
            batch_size=2,
            progress=False,
            engine=engine,
        )
        assert ex.rm is rm and len(engine.pools) == 2  # no second scoring pool
        got = ex.explain(comps)
    finally:
        engine.close()
    _same(got.table, local.table, check_exact=False, rtol=1e-5, atol=1e-5)
    assert (got.table["outcome"] == local.table["outcome"]).all()
    assert Store(tmp_path / "ray.sqlite").counts() == Store(tmp_path / "local.sqlite").counts()


def test_cli_engine_ray_loads_the_rm_on_the_actors_only(
    cluster, tmp_path, tiny_decoder_rm, monkeypatch
):
    from pathlib import Path

    from rmx_widgets.cli import main

    data = Path(__file__).parents[1] / "robustness" / "bad_inputs" / "data" / "valid_pairs.jsonl"
    base = ["explain", "--data", str(data), "--rm", f"hf:{tiny_decoder_rm}", "--no-report"]
    base += ["--attributes", ",".join(ATTRS), "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "local")]) == 0
    _refuse_driver_loads(monkeypatch)
    assert main([*base, "--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"]) == 0
    local = pd.read_parquet(tmp_path / "local" / "table.parquet")
    got = pd.read_parquet(tmp_path / "ray" / "table.parquet")
    _same(got, local, check_exact=False, rtol=1e-5, atol=1e-5)
    assert len(local) > 0


class PidIdentity(BaseRewardModel):
    """An RM whose identity differs in every process: two workers disagree."""

    @property
    def identity(self):
        import os

        return f"pid-rm:{os.getpid()}"

    def score(self, prompts, responses):
        return [0.0] * len(responses)


def test_workers_with_different_identities_are_refused(cluster):
    from rmx_widgets.core.engines import EngineError, Recipe
    from rmx_widgets.core.engines.ray_pool import ActorPool

    with pytest.raises(EngineError, match="different identities"):
        ActorPool(Recipe("rm", None, obj=PidIdentity()), 2, {"num_cpus": 0})
    pool = ActorPool(Recipe("rm", None, obj=PidIdentity()), 1, {"num_cpus": 0})
    try:  # one worker: its identity is adopted, so a replacement must match it (it cannot)
        adopted = pool.recipe.identity
        assert adopted is not None and adopted.startswith("pid-rm:")
        assert pool.describe().identity == adopted
    finally:
        pool.close()
