"""A run killed with SIGKILL resumes from the store: same table, no finished work redone."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

JOB = textwrap.dedent('''
    import sys, time, hashlib
    import rmx_widgets as rmx

    store, log, out = sys.argv[1], sys.argv[2], sys.argv[3]

    def rm(prompts, responses):
        with open(log, "a") as f:
            f.write("score %d\\n" % len(responses))
        return [int(hashlib.md5(r.encode()).hexdigest()[:6], 16) / 1e6 for r in responses]

    def perturb(prompt, response, attribute, direction):
        time.sleep(0.01)
        with open(log, "a") as f:
            f.write("perturb\\n")
        return response + " (" + attribute.name + ", " + direction + ")"

    comps = [{"id": "c%02d" % i, "prompt": "question %d" % i, "response_a": "answer %d" % i,
              "response_b": "reply %d" % (i * 7)} for i in range(24)]
    ex = rmx.Explainer(rm, perturb, attributes=["verbosity", "manner"], store=store,
                       batch_size=2, progress=False)
    ex.explain(comps).table.to_parquet(out)
''')


def _count(log, kind):
    if not os.path.exists(log):
        return 0
    lines = open(log).read().split("\n")
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
    n_perturb, n_score = _count(tmp_path / "clean.log", "perturb"), _count(
        tmp_path / "clean.log", "score")
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
