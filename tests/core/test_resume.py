"""A run killed with SIGKILL resumes from the store: same table, no finished work redone."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

JOB = textwrap.dedent("""
    import sys, time, hashlib
    import rmx_widgets as rmx

    store, log, out = sys.argv[1], sys.argv[2], sys.argv[3]

    # the log path is read from argv inside the functions, not captured: a captured global's
    # value is part of an unnamed function's cache identity, and the clean run logs elsewhere
    def rm(prompts, responses):
        with open(sys.argv[2], "a") as f:
            f.write("score %d\\n" % len(responses))
        return [int(hashlib.md5(r.encode()).hexdigest()[:6], 16) / 1e6 for r in responses]

    def perturb(prompt, response, attribute, direction):
        time.sleep(0.01)
        with open(sys.argv[2], "a") as f:
            f.write("perturb\\n")
        return response + " (" + attribute.name + ", " + direction + ")"

    comps = [{"id": "c%02d" % i, "prompt": "question %d" % i, "response_a": "answer %d" % i,
              "response_b": "reply %d" % (i * 7)} for i in range(24)]
    ex = rmx.Explainer(rm, perturb, attributes=["verbosity", "manner"], store=store,
                       batch_size=2, progress=False)
    ex.explain(comps).table.to_parquet(out)
""")


def _count(log, kind):
    if not os.path.exists(log):
        return 0
    with open(log) as f:
        lines = f.read().split("\n")
    if kind == "perturb":
        return sum(1 for line in lines if line == "perturb")
    return sum(int(line.split()[1]) for line in lines if line.startswith("score"))


def _run(tmp_path, name, store, log, kill_after=None):
    script = tmp_path / "job.py"
    script.write_text(JOB)
    out = tmp_path / f"{name}.parquet"
    proc = subprocess.Popen([sys.executable, str(script), str(store), str(log), str(out)])
    if kill_after is None:
        assert proc.wait(timeout=120) == 0
        return pd.read_parquet(out)
    deadline = time.time() + 60
    while _count(log, "perturb") < kill_after and proc.poll() is None:
        assert time.time() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return None


@pytest.mark.parametrize("kill_points", [[5], [17, 40]])
def test_sigkill_then_resume_matches_clean_run(tmp_path, kill_points):
    clean = _run(tmp_path, "clean", tmp_path / "clean.sqlite", tmp_path / "clean.log")
    n_perturb, n_score = (
        _count(tmp_path / "clean.log", "perturb"),
        _count(tmp_path / "clean.log", "score"),
    )
    assert n_perturb == 96  # 24 comparisons x 2 attributes x 2 sides

    store, log = tmp_path / "killed.sqlite", tmp_path / "killed.log"
    for k in kill_points:
        _run(tmp_path, "killed", store, log, kill_after=k)
        from rmx_widgets.core.store import Store

        assert Store(store).integrity_check() == "ok"
    resumed = _run(tmp_path, "resumed", store, log)
    pd.testing.assert_frame_equal(resumed, clean)
    # at most the in-flight batch (2 comparisons x 2 attributes x 2 sides) is redone per kill
    assert _count(log, "perturb") <= n_perturb + 8 * len(kill_points)
    assert _count(log, "score") <= n_score + 8 * len(kill_points)


def test_streamed_results_are_committed_before_the_batch_returns(tmp_path):
    """With ``on_result``, each rewrite is in the store (visible to another connection) the
    moment it is reported, not when the batch ends."""
    import sqlite3

    import rmx_widgets as rmx
    from rmx_widgets.core.perturbers.base import BasePerturber, PerturbationResult

    path = tmp_path / "s.sqlite"
    seen = []

    class Watching(BasePerturber):
        identity = "watching:v1"

        def perturb(self, req):
            db = sqlite3.connect(path)
            seen.append(db.execute("SELECT COUNT(*) FROM perturbations").fetchone()[0])
            db.close()
            return PerturbationResult(req.response + " (more)")

    comps = [
        {"id": f"c{i}", "prompt": f"p{i}", "response_a": f"a{i} x", "response_b": f"b{i} yy"}
        for i in range(3)
    ]
    rmx.Explainer(
        lambda p, r: [float(len(x)) for x in r],
        Watching(),
        attributes=["verbosity"],
        store=path,
        batch_size=8,
        progress=False,
    ).explain(comps)
    assert seen == [0, 1, 2, 3, 4, 5]  # one batch of 6, each earlier result already stored


def test_perturber_without_on_result_is_stored_per_batch(tmp_path):
    import rmx_widgets as rmx
    from rmx_widgets.core.perturbers.base import PerturbationResult, as_perturber
    from rmx_widgets.core.store import Store

    class Plain:
        identity = "plain:v1"

        def __init__(self):
            self.calls = 0

        def perturb_batch(self, requests):
            self.calls += len(requests)
            return [PerturbationResult(r.response + " (more)") for r in requests]

    plain = Plain()
    assert not as_perturber(plain).streams_results  # it only has identity + perturb_batch
    comps = [{"id": "c1", "prompt": "p", "response_a": "a x", "response_b": "b yy"}]
    rm = lambda p, r: [float(len(x)) for x in r]  # noqa: E731
    first = rmx.Explainer(
        rm, plain, attributes=["verbosity"], store=tmp_path / "s.sqlite", progress=False
    ).explain(comps)
    again = rmx.Explainer(
        rm, plain, attributes=["verbosity"], store=tmp_path / "s.sqlite", progress=False
    ).explain(comps)
    assert plain.calls == 2 and again.stats.perturbations_cached == 2
    pd.testing.assert_frame_equal(first.table, again.table)
    assert Store(tmp_path / "s.sqlite").open_claims() == 0


def test_version_1_store_is_migrated_in_place(tmp_path):
    import sqlite3

    from rmx_widgets.core.store import SCHEMA_VERSION, Store

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema', '1');
        CREATE TABLE scores (key TEXT PRIMARY KEY, rm TEXT NOT NULL, reward REAL NOT NULL,
                             created REAL NOT NULL);
        INSERT INTO scores VALUES ('k1', 'rm', 1.5, 0);
    """)
    db.commit()
    db.close()
    s = Store(path)
    assert s.get_scores(["k1"]) == {"k1": 1.5} and s.get_truncated(["k1"]) == set()
    s.put_scores([("k2", "rm", 2.0, True)])
    assert s.get_truncated(["k1", "k2"]) == {"k2"}
    assert (
        s._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0]
        == SCHEMA_VERSION
        == "2"
    )
    assert s.integrity_check() == "ok"
