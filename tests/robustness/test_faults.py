"""Faults: SIGKILL at random points, two processes on one store, a misbehaving LLM server, and
annotations that survive a kill. Every test reports its figures on stdout (``pytest -s``).

Kill tests run a small job in a child process with a deterministic perturber and RM that log
every result they compute. The parent computes, from those logs, the store key of each result,
so it can check the claim "nothing committed before a kill is ever computed again" exactly,
and count how much in-flight (computed but not yet committed) work a kill cost.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from fake_llm_server import FakeLLMServer, _completion
from hostile_llm_server import HostileHandler

import rmx_widgets as rmx
from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.data import prompt_key
from rmx_widgets.core.store import Store, content_key
from rmx_widgets.errors import AuthenticationError

PERTURBER_ID = "kill-test-perturber:v1"
RM_ID = "kill-test-rm:v1"
ATTRS = ["verbosity", "manner", "clarity"]

# The child job. argv: store, log, out (parquet or "-"), tx_log ("-": no hook), n_comparisons.
# The tx hook sleeps inside every store write transaction, after its statements and before
# COMMIT, so a kill timed on the hook's marker lands in the middle of a write.
JOB = textwrap.dedent(f'''
    import hashlib, json, sys, time
    from contextlib import contextmanager

    import rmx_widgets as rmx
    from rmx_widgets.core.perturbers.base import BasePerturber, PerturbationResult
    from rmx_widgets.core.reward_models.base import BaseRewardModel
    from rmx_widgets.core.store import Store

    store, log, out, tx_log, n = sys.argv[1:6]

    def record(kind, payload):
        with open(log, "a") as f:  # one write() per record
            f.write(kind + "\\t" + json.dumps(payload) + "\\n")

    if tx_log != "-":
        original_tx = Store._lock_and_tx

        @contextmanager
        def slow_tx(self):
            with original_tx(self):
                yield
                with open(tx_log, "a") as f:
                    f.write("T\\n")
                time.sleep(0.005)

        Store._lock_and_tx = slow_tx

    class Perturber(BasePerturber):
        identity = "{PERTURBER_ID}"

        def perturb(self, req):
            time.sleep(0.002)
            text = req.response + " (" + req.attribute.name + ", " + req.direction + ")"
            record("P", [req.prompt_text, req.response, req.attribute.name, req.direction])
            return PerturbationResult(text)

    class RM(BaseRewardModel):
        identity = "{RM_ID}"

        def score(self, prompts, responses):
            time.sleep(0.002)
            out = [int(hashlib.md5(r.encode()).hexdigest()[:6], 16) / 1e6 for r in responses]
            record("S", [[p, r] for p, r in zip(prompts, responses)])
            return out

    comps = [{{"id": "c%02d" % i, "prompt": "question %d" % i,
              "response_a": "answer %d" % i, "response_b": "reply %d" % (i * 7)}}
             for i in range(int(n))]
    ex = rmx.Explainer(RM(), Perturber(), attributes={ATTRS!r}, store=store, batch_size=2,
                       progress=False)
    table = ex.explain(comps).table
    if out != "-":
        table.to_parquet(out)
''')


def _records(log: Path) -> list[tuple[str, list]]:
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        kind, _, payload = line.partition("\t")
        out.append((kind, json.loads(payload)))
    return out


def _computed_keys(log: Path) -> tuple[list[str], list[str]]:
    """Store keys of every perturbation and score the child computed (repeats kept)."""
    perts, scores = [], []
    for kind, payload in _records(log):
        if kind == "P":
            prompt, response, attr, direction = payload
            perts.append(
                content_key(
                    "perturbation",
                    PERTURBER_ID,
                    get_attribute(attr).fingerprint,
                    direction,
                    prompt_key(prompt),
                    response,
                )
            )
        else:
            scores.extend(content_key("score", RM_ID, prompt_key(p), r) for p, r in payload)
    return perts, scores


def _committed(store: Path) -> tuple[set[str], set[str]]:
    db = sqlite3.connect(store)
    try:
        return (
            {k for (k,) in db.execute("SELECT key FROM perturbations")},
            {k for (k,) in db.execute("SELECT key FROM scores")},
        )
    finally:
        db.close()


def _integrity(store: Path) -> str:
    db = sqlite3.connect(store)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def _lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _start(script: Path, store: Path, log: Path, out: str, tx_log: str, n: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), str(store), str(log), out, tx_log, str(n)]
    )


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The job script and the clean run's table and call counts, shared by the tests."""
    root = tmp_path_factory.mktemp("job")
    script = root / "job.py"
    script.write_text(JOB)
    return script


def _clean(script: Path, root: Path, n: int) -> tuple[pd.DataFrame, int, int]:
    log, out = root / f"clean{n}.log", root / f"clean{n}.parquet"
    proc = _start(script, root / f"clean{n}.sqlite", log, str(out), "-", n)
    assert proc.wait(timeout=120) == 0
    perts, scores = _computed_keys(log)
    return pd.read_parquet(out), len(perts), len(scores)


def test_sigkill_at_random_points_then_resume(job, tmp_path):
    """≥ 20 SIGKILLs (after N rewrites, inside a store write, at a random instant); after each,
    integrity_check is ok and nothing committed is recomputed; the resume equals a clean run."""
    n = 40
    clean, clean_perts, clean_scores = _clean(job, tmp_path, n)
    assert clean_perts == n * len(ATTRS) * 2 and len(clean) == clean_perts

    rng = random.Random(20240611)
    store = tmp_path / "killed.sqlite"
    kills, attempts, modes = 0, 0, {"rewrites": 0, "store-write": 0, "instant": 0}
    computed_p: list[str] = []
    computed_s: list[str] = []
    committed_p: set[str] = set()
    committed_s: set[str] = set()
    redone_committed = 0
    t0 = time.monotonic()
    while kills < 22:
        attempts += 1
        assert attempts <= 40, "the job finished before enough kills landed"
        mode = ("rewrites", "store-write", "instant")[attempts % 3]
        log, tx_log = tmp_path / f"run{attempts}.log", tmp_path / f"run{attempts}.tx"
        proc = _start(job, store, log, "-", str(tx_log), n)
        target = {
            "rewrites": rng.randint(1, 10),
            "store-write": rng.randint(2, 14),
            "instant": rng.uniform(0.0, 0.25),
        }[mode]
        started = None
        deadline = time.monotonic() + 60
        while proc.poll() is None:
            assert time.monotonic() < deadline
            if mode == "rewrites":
                hit = sum(1 for k, _ in _records(log) if k == "P") >= target
            elif mode == "store-write":
                hit = _lines(tx_log) >= target  # the child is sleeping inside that write
            else:
                if started is None and _lines(tx_log) > 0:
                    started = time.monotonic()
                hit = started is not None and time.monotonic() - started >= target
            if hit:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
        code = proc.wait()
        if code == -signal.SIGKILL:
            kills += 1
            modes[mode] += 1
        assert _integrity(store) == "ok", f"corrupt after kill {kills} ({mode})"
        perts, scores = _computed_keys(log)
        # nothing that was committed before this run started was computed again in it
        redone_committed += len(set(perts) & committed_p) + len(set(scores) & committed_s)
        computed_p += perts
        computed_s += scores
        committed_p, committed_s = _committed(store)
        if code == 0:
            break

    final_log, out = tmp_path / "final.log", tmp_path / "final.parquet"
    proc = _start(job, store, final_log, str(out), "-", n)
    assert proc.wait(timeout=120) == 0
    perts, scores = _computed_keys(final_log)
    redone_committed += len(set(perts) & committed_p) + len(set(scores) & committed_s)
    computed_p += perts
    computed_s += scores

    resumed = pd.read_parquet(out)
    pd.testing.assert_frame_equal(resumed, clean)
    assert Store(store).open_claims() == 0
    redone_p = len(computed_p) - len(set(computed_p))
    redone_s = len(computed_s) - len(set(computed_s))
    print(
        f"\n[kill] {kills} SIGKILLs landed ({modes}) in {attempts} runs, "
        f"{time.monotonic() - t0:.1f}s; integrity ok after each; results committed before a "
        f"kill and computed again: {redone_committed}; in-flight results lost to a kill and "
        f"recomputed: {redone_p} rewrites, {redone_s} scores; clean run: {clean_perts} "
        f"rewrites, {clean_scores} scores"
    )
    assert kills >= 20 and all(modes.values())
    assert redone_committed == 0
    assert len(set(computed_p)) == clean_perts and len(set(computed_s)) == clean_scores
    # a sequential perturber has one rewrite in flight; an RM call is at most one batch
    # (2 comparisons x 3 attributes x 2 sides) or, once, the originals (2 x 40)
    assert redone_p <= kills
    assert redone_s <= kills * 12 + 2 * n


def test_two_processes_share_one_store(job, tmp_path):
    """Two jobs on one store at once: both tables equal a clean run, the store is intact, and
    the work is split (claims), not doubled."""
    n = 24
    clean, clean_perts, clean_scores = _clean(job, tmp_path, n)
    store = tmp_path / "shared.sqlite"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    outs = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    procs = [_start(job, store, log, str(out), "-", n) for log, out in zip(logs, outs)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    for out in outs:
        pd.testing.assert_frame_equal(pd.read_parquet(out), clean)
    assert _integrity(store) == "ok"
    s = Store(store)
    assert s.counts()["perturbations"] == clean_perts and s.open_claims() == 0
    keys = [_computed_keys(log) for log in logs]
    all_p = keys[0][0] + keys[1][0]
    all_s = keys[0][1] + keys[1][1]
    share = [len(k[0]) for k in keys]
    print(
        f"\n[two processes] rewrites computed {share} (clean {clean_perts}), scores "
        f"{[len(k[1]) for k in keys]} (clean {clean_scores}); duplicates: "
        f"{len(all_p) - len(set(all_p))} rewrites, {len(all_s) - len(set(all_s))} scores"
    )
    assert len(set(all_p)) == clean_perts and len(set(all_s)) == clean_scores
    assert len(all_p) - len(set(all_p)) == 0  # claims are atomic: no race to bound
    assert len(all_s) - len(set(all_s)) == 0


def test_claims_of_a_dead_process_are_taken_over(tmp_path):
    """A claim left by a killed process never blocks: its pid is gone, so it is stale."""
    path = tmp_path / "s.sqlite"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import os, signal
        from rmx_widgets.core.store import Store
        s = Store({str(path)!r})
        assert s.claim(["k1", "k2"]) == {{"k1", "k2"}}
        os.kill(os.getpid(), signal.SIGKILL)
    """),
        ]
    )
    assert proc.wait(timeout=60) == -signal.SIGKILL
    live = Store(path)
    assert live.open_claims() == 2
    assert live.claim(["k1", "k2", "k3"]) == {"k1", "k2", "k3"}
    other = Store(path)  # a second live owner in this process: must wait, not take over
    assert other.claim(["k1", "k4"]) == {"k4"}
    live.put_scores([("k1", "rm", 1.0)])
    live.release(["k2", "k3"])
    other.release(["k4"])
    assert live.open_claims() == 0


# -- LLM server faults ---------------------------------------------------------------------


class FaultyHandler(HostileHandler):
    """The fake server's behaviours plus: reset (RST, no reply), 429ra (Retry-After: 0.3),
    empty (empty content), empty_rewrite, echo_key (a 400 whose body echoes the request's
    Authorization header, as some proxies do)."""

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError):  # our own "reset": keep output clean
            super().handle()

    def _respond(self, rec) -> None:
        b = rec.behaviour
        model = (rec.body or {}).get("model", "fake")
        if b == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return None
        if b == "429ra":
            return self._send(
                429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0.3"}
            )
        if b == "empty":
            return self._send(200, _completion("", model))
        if b == "empty_rewrite":
            return self._send(200, _completion(json.dumps({"locate": [], "rewritten": " "}), model))
        if b == "echo_key":
            return self._send(
                400,
                {
                    "error": {
                        "message": "bad request; you sent " + rec.headers.get("authorization", "")
                    }
                },
            )
        return super()._respond(rec)


class FaultyLLMServer(FakeLLMServer):
    handler_base = FaultyHandler


def _hash_rm(prompts, responses):
    import hashlib

    return [int(hashlib.md5(r.encode()).hexdigest()[:6], 16) / 1e6 for r in responses]


FAULTS = {  # marker in a response -> the server's answers to its 1st, 2nd, ... request
    "m429-": ["429ra", "429ra"],  # rate limited twice, honours Retry-After, succeeds
    "m500-": ["500"] * 5,  # server error on every attempt: recorded failure
    "mreset-": ["reset"],  # connection reset once, then fine
    "mhang-": ["hang"],  # hangs past the timeout once, then fine
    "mtrunc-": ["truncated"] * 5,  # body cut off on every attempt: recorded failure
    "munparse-": ["malformed"] * 5,  # prose instead of JSON on every attempt: failure
}


def _fault_comps() -> list[dict]:
    return [
        {
            "id": f"f{i}",
            "prompt": f"Question {i}?",
            "response_a": f"{m}{i} first answer.",
            "response_b": f"ok-{i} second answer.",
        }
        for i, m in enumerate(FAULTS)
    ]


def test_llm_server_faults_end_to_end(tmp_path, monkeypatch):
    monkeypatch.delenv("RMX_FAULT_KEY", raising=False)
    with FaultyLLMServer(hang_seconds=1.0) as server:
        for marker, plan in FAULTS.items():
            server.script(marker, plan)
        pert = rmx.OpenAIPerturber(
            "fake",
            base_url=server.url,
            api_key_env="RMX_FAULT_KEY",
            max_retries=2,
            timeout=0.3,
            backoff_base=0.01,
            concurrency=4,
        )
        ex = rmx.Explainer(
            _hash_rm, pert, attributes=["verbosity"], store=tmp_path / "s.sqlite", progress=False
        )
        t0 = time.monotonic()
        res = ex.explain(_fault_comps())
        elapsed = time.monotonic() - t0
        t = res.table
        assert len(t) == 12  # every request ends as a row: a rewrite or a recorded failure
        failed = t[t["outcome"] == "failed"]
        assert failed["failure_reason"].str.contains("gave up after 3 attempts").all()
        assert sorted(failed["original"].str.extract(r"^(m\w+-)")[0]) == [
            "m500-",
            "mtrunc-",
            "munparse-",
        ]
        assert res.stats.failures_by_reason == {
            "broken reply": 1,
            "server error": 1,
            "unparseable": 1,
        }
        assert res.summary()["failures_by_reason"] == res.stats.failures_by_reason
        ps = res.stats.perturber_stats
        assert ps["retries"] == 2 + 2 + 1 + 1 + 2 + 2 and ps["http_requests"] == 12 + 10
        assert ps["failures"] == 3 and len(server.requests) == 22
        r429 = server.requests_with("m429-")
        assert [round(b.started - a.started, 1) >= 0.3 for a, b in itertools.pairwise(r429)] == [
            True,
            True,
        ]  # Retry-After honoured
        assert elapsed < 6
        print(
            f"\n[llm faults] 6 kinds injected, {len(server.requests)} HTTP requests, "
            f"{ps['retries']} retries, failures {res.stats.failures_by_reason}, "
            f"{elapsed:.1f}s"
        )

        # the server heals: --retry-failed recomputes only the 3 failures
        for marker in FAULTS:
            server.script(marker, [])
        again = ex.explain(_fault_comps(), retry_failed=True)
        assert (again.table["outcome"] != "failed").all()
        assert again.stats.perturbations_computed == 3
        assert again.stats.perturbations_cached == 9


def test_unstorable_rewrites_are_stored_failures_and_never_asked_again(tmp_path, monkeypatch):
    """A rewrite holding a lone surrogate (valid JSON: ``\\ud83d``) crashed the store insert, so
    every rerun asked the LLM again and crashed again; NUL and terminal escape codes went into
    the table raw. Both are recorded failures now, and a rerun asks the server 0 times."""
    monkeypatch.delenv("RMX_FAULT_KEY", raising=False)
    comps = [{"id": "u1", "prompt": "Q?", "response_a": "msurr- one.", "response_b": "mctrl- two."}]
    with FaultyLLMServer() as server:
        server.script("msurr-", ["surrogate"] * 10)
        server.script("mctrl-", ["control"] * 10)

        def explain():
            pert = rmx.OpenAIPerturber(
                "fake",
                base_url=server.url,
                api_key_env="RMX_FAULT_KEY",
                max_retries=1,
                backoff_base=0.01,
            )
            return rmx.Explainer(
                _hash_rm,
                pert,
                attributes=["verbosity"],
                store=tmp_path / "s.sqlite",
                progress=False,
            ).explain(comps)

        res = explain()
        t = res.table.set_index("original")
        assert (t["outcome"] == "failed").all() and set(t["failure_kind"]) == {"unparseable"}
        assert re.match(
            r"the rewrite holds a lone surrogate at character \d+ \(U\+D83D\), which cannot "
            r"be stored as UTF-8; rewrites must be plain text \(gave up after 2 attempts\)$",
            t.loc["msurr- one.", "failure_reason"],
        )
        reason = t.loc["mctrl- two.", "failure_reason"]
        assert re.search(r"at character \d+ \(U\+001B, ESC", reason) and "\x1b" not in reason
        asked = (len(server.requests_with("msurr-")), len(server.requests_with("mctrl-")))
        assert asked == (2, 2)  # the first attempt and one retry each

        again = explain()
        assert again.stats.perturbations_computed == 0
        assert (len(server.requests_with("msurr-")), len(server.requests_with("mctrl-"))) == asked
        pd.testing.assert_frame_equal(again.table, res.table)


def test_bad_api_key_fails_fast_without_retries(tmp_path, monkeypatch):
    monkeypatch.setenv("RMX_FAULT_KEY", "sk-wrong")
    with FaultyLLMServer() as server:
        server.default = "401"
        pert = rmx.OpenAIPerturber(
            "fake",
            base_url=server.url,
            api_key_env="RMX_FAULT_KEY",
            concurrency=4,
            backoff_base=1.0,
        )
        ex = rmx.Explainer(
            _hash_rm,
            pert,
            attributes=["verbosity", "manner"],
            store=tmp_path / "s.sqlite",
            progress=False,
        )
        t0 = time.monotonic()
        with pytest.raises(AuthenticationError, match="HTTP 401.*RMX_FAULT_KEY.*rejected"):
            ex.explain(_fault_comps())
        assert time.monotonic() - t0 < 2
        assert pert.stats["retries"] == 0 and len(server.requests) <= 4
        s = Store(tmp_path / "s.sqlite")
        assert s.counts()["perturbations"] == 0 and s.open_claims() == 0


def test_streamed_llm_results_survive_a_kill(tmp_path):
    """A child explains through the fake server and is killed mid-batch; the resumed run asks
    the server again only for requests whose replies had not landed in the store."""
    script = tmp_path / "llm_job.py"
    script.write_text(
        textwrap.dedent("""
        import hashlib, sys
        import rmx_widgets as rmx
        url, store, out = sys.argv[1:4]
        def rm(prompts, responses):
            return [int(hashlib.md5(r.encode()).hexdigest()[:6], 16) / 1e6 for r in responses]
        comps = [{"id": f"c{i}", "prompt": f"Q{i}?", "response_a": f"alpha-{i} text.",
                  "response_b": f"beta-{i} words."} for i in range(8)]
        pert = rmx.OpenAIPerturber("fake", base_url=url, api_key_env="RMX_NO_KEY",
                                   concurrency=2)
        ex = rmx.Explainer(rm, pert, attributes=["verbosity", "clarity"], store=store,
                           batch_size=8, progress=False)
        ex.explain(comps).table.to_parquet(out)
    """)
    )
    store = tmp_path / "s.sqlite"
    with FaultyLLMServer(delay=0.03) as server:
        proc = subprocess.Popen([sys.executable, str(script), server.url, str(store), "-"])
        deadline = time.monotonic() + 60
        while sum(1 for r in list(server.requests) if r.ended) < 12:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        first = list(server.requests)
        done, stored = _committed(store)[0], Store(store).counts()["perturbations"]
        assert stored >= 10  # streamed: the batch of 32 had not finished, yet results landed
        proc = subprocess.Popen(
            [sys.executable, str(script), server.url, str(store), str(tmp_path / "out.parquet")]
        )
        assert proc.wait(timeout=60) == 0
        second = server.requests[len(first) :]
    asked_twice = {r.user_text for r in second} & {r.user_text for r in first}
    print(
        f"\n[llm kill] {len(first)} requests before the kill, {stored} stored; "
        f"{len(second)} after; asked again: {len(asked_twice)} (in flight at the kill)"
    )
    assert len(first) + len(second) - len(asked_twice) == 32
    assert len(asked_twice) <= len(first) - stored  # only replies that never reached the store
    assert len(done) == stored
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 32


# -- annotations ---------------------------------------------------------------------------


def test_annotation_save_is_one_transaction_and_survives_sigkill(tmp_path):
    path = tmp_path / "notes.sqlite"
    code = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import os, signal
        from rmx_widgets.core.store import Store
        s = Store({str(path)!r})
        s.save_annotation("c1", "rm-a", ["surprising"], "kept?")
        s.save_annotation("c2", "rm-a", ["expected", "RM bug"], "second")
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint, no atexit
    """),
        ]
    ).returncode
    assert code == -signal.SIGKILL
    got = Store(path).annotations(rm="rm-a")
    assert [(a["comparison_id"], a["tags"], a["note"]) for a in got] == [
        ("c1", ["surprising"], "kept?"),
        ("c2", ["expected", "RM bug"], "second"),
    ]
    assert _integrity(path) == "ok"

    s = Store(tmp_path / "t.sqlite")
    statements: list[str] = []
    s._db.set_trace_callback(statements.append)
    s.save_annotation("c3", "rm-a", ["x"], "one transaction")
    s._db.set_trace_callback(None)
    assert [q.split()[0] for q in statements] == ["BEGIN", "INSERT", "COMMIT"]


def test_store_write_failure_rolls_back_and_releases(tmp_path):
    """A perturber that raises mid-batch (e.g. an unreachable server) leaves no claims and no
    half-written rows; the results it reported before failing are kept."""
    from rmx_widgets.core.errors import PerturberError
    from rmx_widgets.core.perturbers.base import BasePerturber, PerturbationResult

    class Flaky(BasePerturber):
        identity = "flaky:v1"

        def __init__(self):
            self.calls = 0

        def perturb(self, req):
            self.calls += 1
            if self.calls == 3:
                raise PerturberError("the backend went away")
            return PerturbationResult(req.response + " (changed)")

    ex = rmx.Explainer(
        _hash_rm, Flaky(), attributes=["verbosity"], store=tmp_path / "s.sqlite", progress=False
    )
    comps = [
        {"id": f"c{i}", "prompt": f"P{i}", "response_a": f"a{i} x", "response_b": f"b{i} y"}
        for i in range(3)
    ]
    with pytest.raises(PerturberError, match="went away"):
        ex.explain(comps)
    s = Store(tmp_path / "s.sqlite")
    assert s.counts()["perturbations"] == 2 and s.open_claims() == 0
    resumed = Flaky()
    resumed.calls = 10
    ex2 = rmx.Explainer(
        _hash_rm, resumed, attributes=["verbosity"], store=tmp_path / "s.sqlite", progress=False
    )
    assert len(ex2.explain(comps).table) == 6 and resumed.calls == 10 + 4
