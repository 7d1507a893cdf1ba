"""The bad-input corpus (tests/bad_inputs/cases.json): every case through the Python API and,
where it can be given on the command line, through ``python -m rmx_widgets.cli explain``.

The API must raise the typed error of the manifest with a message naming file, row and field;
the CLI must exit 2 with exactly one ``rmx: error:`` line carrying the same message, no
traceback, and leave no partial output behind. Cases that are not errors (ties, truncation,
perturbers that return nothing useful) must be reported per row instead.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_faults import FaultyLLMServer

import rmx_widgets as rmx
from rmx_widgets import errors
from rmx_widgets.core.attributes import resolve_attributes
from rmx_widgets.core.perturbers.base import BasePerturber, PerturbationResult
from rmx_widgets.core.store import Store

HERE = Path(__file__).parent / "bad_inputs"
MANIFEST = json.loads((HERE / "cases.json").read_text())
CASES = {c["id"]: c for c in MANIFEST["cases"]}
VALID = HERE / "data" / "valid_pairs.jsonl"
OUTPUTS = (
    "table.parquet",
    "table.jsonl",
    "originals.csv",
    "sensitivity.csv",
    "summary.json",
    "report.html",
)


def _ids(kind: str, **extra) -> list[str]:
    return [
        c["id"]
        for c in MANIFEST["cases"]
        if c["kind"] == kind and all(c.get(k) == v for k, v in extra.items())
    ]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def hash_rm(prompts, responses):
    return [int(hashlib.md5(r.encode()).hexdigest()[:6], 16) / 1e6 for r in responses]


def good_perturb(prompt, response, attribute, direction):
    return f"{response} ({attribute.name} {direction}, changed)"


# -- value cases: RM callables and perturbers ------------------------------------------------

RM_CALLABLES = {
    "too_few": lambda p, r: [1.0],
    "too_many": lambda p, r: [float(i) for i in range(len(r) + 1)],
    "nan": lambda p, r: [math.nan] + [1.0] * (len(r) - 1),
    "inf": lambda p, r: [1.0, math.inf] + [1.0] * (len(r) - 2),
    "neg_inf": lambda p, r: [-math.inf] * len(r),
    "strings": lambda p, r: ["high"] * len(r),
    "scalar": lambda p, r: 0.5,
    "none": lambda p, r: None,
    "dict": lambda p, r: dict.fromkeys(range(len(r)), 1.0),
    "bools": lambda p, r: [0.5, True] + [0.5] * (len(r) - 2),
    "numpy_bools": lambda p, r: np.ones(len(r), dtype=bool),
    "numeric_strings": lambda p, r: ["0.5"] * len(r),
    "column": lambda p, r: np.zeros((len(r), 1)),
    "nan_on_rewrites": lambda p, r: [
        math.nan if x.endswith("changed)") else v for x, v in zip(r, hash_rm(p, r))
    ],
    # unnamed, capturing what cannot be fingerprinted: no cache identity (pass name=)
    "closure_over_lock": (lambda lock: lambda p, r: [1.0] * len(r) if lock else [])(
        threading.Lock()
    ),
}


class _WrongCount(BasePerturber):
    identity = "wrong-count:v1"

    def perturb_batch(self, requests, on_result=None):
        return [PerturbationResult(requests[0].response + " x")]


class _BadIndex(BasePerturber):
    identity = "bad-index:v1"

    def perturb_batch(self, requests, on_result=None):
        out = [PerturbationResult(r.response + " x") for r in requests]
        on_result(7, out[0])
        return out


PERTURBERS = {
    "unchanged": lambda p, r, a, d: r,
    "empty": lambda p, r, a, d: "",
    "whitespace": lambda p, r, a, d: " \n\t",
    "none": lambda p, r, a, d: None,
    "number": lambda p, r, a, d: 42,
    "raises": lambda p, r, a, d: {}["no such key"],
    "surrogate": lambda p, r, a, d: "ok \ud83d",
    "nul": lambda p, r, a, d: r + " \x00 more",
    "escape_codes": lambda p, r, a, d: r + " \x1b[2J\x1b[31mred",
    "raises_surrogate": lambda p, r, a, d: int("bad \ud83d"),
    "wrong_count": _WrongCount(),
    "bad_index": _BadIndex(),
    "closure_over_lock": (lambda lock: lambda p, r, a, d: r + "!" if lock else r)(threading.Lock()),
}


def test_manifest_covers_the_issue_list():
    kinds = {c["kind"] for c in MANIFEST["cases"]}
    assert len(MANIFEST["cases"]) >= 30
    assert kinds == {
        "data",
        "accepted",
        "tie",
        "truncation",
        "attributes",
        "rm_name",
        "rm_spec",  # RM specs of every kind (dpo:, pairwise:, llm-judge:, vllm:, :head=)
        "rm_callable",
        "perturber_callable",
        "llm",
        "flag",
        "report",
        "output",  # output paths that would destroy a file: tests/robustness/test_outputs.py
        "file_fault",  # full or corrupt store, pickle weights: test_file_faults.py
    }
    for c in MANIFEST["cases"]:
        if "file" in c and c["id"] != "missing-file":
            assert (HERE / c["file"]).exists(), c["id"]
        if c.get("error"):
            assert issubclass(getattr(errors, c["error"]), errors.RMXError), c["id"]
    assert set(RM_CALLABLES) == {
        c["callable"] for c in MANIFEST["cases"] if c["kind"] == "rm_callable"
    }
    assert set(PERTURBERS) == {
        c["callable"] for c in MANIFEST["cases"] if c["kind"] == "perturber_callable"
    }


# -- the CLI, run once per case (concurrently) -----------------------------------------------


def _rm_of(case: dict, tmp: Path, models: dict[str, Path]) -> str:
    """The case's RM spec, its ``@empty_dir`` / ``@tiny_rm`` (one output) /
    ``@multi_objective_rm`` (three named outputs) placeholders replaced by real paths."""
    rm = case.get("rm", "transparent")
    if rm == "@empty_dir":
        return str(tmp / "empty_dir")
    for token, path in models.items():
        rm = rm.replace(token, str(path))
    return rm


def _cli_argv(case: dict, out: Path, tmp: Path, models: dict[str, Path]) -> list[str]:
    data = case.get("file") or "data/valid_pairs.jsonl"
    argv = [
        sys.executable,
        "-m",
        "rmx_widgets.cli",
        "explain",
        "--data",
        str(HERE / data),
        "--out",
        str(out),
        "--no-report",
        "--attributes",
        case.get("attributes") or "verbosity,manner",
    ]
    if case.get("attributes_file"):
        argv += ["--attributes-file", str(HERE / case["attributes_file"])]
        if not case.get("attributes"):
            argv.remove("--attributes")
            argv.remove("verbosity,manner")
    rm = _rm_of(case, tmp, models)
    if case["kind"] == "truncation":
        argv += [
            "--rm",
            str(models["@tiny_rm"]),
            "--max-length",
            str(case["max_length"]),
            "--device",
            "cpu",
        ]
    else:
        argv += ["--rm", rm]
    return argv


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["HF_HUB_OFFLINE"] = "1"
    return env


# Loading torch takes seconds per process, so the cases whose CLI run needs it go through
# ``rmx_widgets.cli.main`` in this process (same code, same exit code and stderr) except the
# hub-name case, which also runs as a real subprocess.
IN_PROCESS = {"local-path-missing", "local-dir-not-a-model", "over-long-response"}


@pytest.fixture(scope="module")
def cli(tmp_path_factory, tiny_decoder_rm, tiny_multi_objective_rm):
    """Every CLI-capable case except the LLM ones; id -> (CompletedProcess, out dir).

    Subprocesses run in parallel; ``IN_PROCESS`` cases call ``main`` with captured streams.
    """
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "empty_dir").mkdir()
    jobs, local = {}, {}
    models = {"@tiny_rm": tiny_decoder_rm, "@multi_objective_rm": tiny_multi_objective_rm}
    for c in MANIFEST["cases"]:
        kinds = ("data", "accepted", "tie", "truncation", "attributes", "rm_name", "rm_spec")
        if c["kind"] in kinds and (c.get("cli") or c["kind"] in ("tie", "truncation")):
            out = tmp / c["id"] / "out"
            argv = _cli_argv(c, out, tmp, models)
            in_process = c["id"] in IN_PROCESS or c["kind"] == "rm_spec"  # (torch loaded once)
            (local if in_process else jobs)[c["id"]] = (argv, out)
    results = {cid: (_main_in_process(argv[3:], tmp), out) for cid, (argv, out) in local.items()}

    def run(item):
        cid, (argv, out) = item
        return (
            cid,
            subprocess.run(argv, capture_output=True, text=True, env=_env(), cwd=tmp, timeout=180),
            out,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        results.update({cid: (proc, out) for cid, proc, out in pool.map(run, jobs.items())})
    results["@cwd"] = (None, tmp)
    results["@models"] = (None, models)  # type: ignore[assignment]
    return results


def _main_in_process(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    import contextlib
    import io
    import warnings

    from rmx_widgets.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_env = os.getcwd(), os.environ.get("HF_HUB_OFFLINE")
    os.chdir(cwd)
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            warnings.catch_warnings(),
        ):
            code = main(argv)
    finally:
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def _assert_cli_error(
    proc: subprocess.CompletedProcess, out: Path, case: dict, api_message: str | None
) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    errs = [ln for ln in lines if ln.startswith("rmx: error:")]
    assert len(errs) == 1 and lines[-1] == errs[0], proc.stderr
    assert all(ln.startswith(("rmx: error:", "rmx: warning:")) for ln in lines), proc.stderr
    assert re.search(case["match"], errs[0]), errs[0]
    if api_message is not None:  # the same message as the Python API's exception
        assert api_message in errs[0]
    if case.get("partial", "none") == "none":
        assert not out.exists(), list(out.iterdir())
    else:
        assert not any((out / name).exists() for name in OUTPUTS)


# -- data files ----------------------------------------------------------------------------


@pytest.mark.parametrize("cid", _ids("data"))
def test_bad_data_file(cid, cli):
    case = CASES[cid]
    path = str(HERE / case["file"])
    with pytest.raises(errors.DataError) as info:
        rmx.load_comparisons(path)
    e = info.value
    assert re.search(case["match"], str(e)), str(e)
    assert (e.row, e.field) == (case["row"], case["field"])
    assert str(e).startswith(path)  # names the file first
    proc, out = cli[cid]
    _assert_cli_error(proc, out, case, _one_line(str(e)))


def test_accepted_bom_file(cli):
    case = CASES["utf8-bom-accepted"]
    comps = rmx.load_comparisons(HERE / case["file"])
    assert len(comps) == case["comparisons"] and comps[0].prompt == "What is 2 + 2?"
    proc, out = cli[case["id"]]
    assert proc.returncode == 0, proc.stderr
    assert (out / "table.parquet").exists()


# -- ties ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cid", _ids("tie"))
def test_ties_are_reported(cid, cli):
    case = CASES[cid]
    ex = rmx.Explainer(
        rmx.TransparentRewardModel(),
        rmx.RulePerturber(),
        attributes=["avoid-to-answer"],
        progress=False,
    )
    with pytest.warns(UserWarning, match=case["match"] if case["cli_exit"] == 0 else "tie"):
        res = ex.explain(HERE / case["file"])
    assert sorted(res.ties["comparison_id"]) == case["ties"]
    assert len(res.table) == case["rows"] and res.summary()["ties"] == len(case["ties"])
    proc, out = cli[cid]
    if case["cli_exit"] == 2:
        _assert_cli_error(proc, out, case, None)
    else:
        assert proc.returncode == 0, proc.stderr
        assert re.search(case["match"], proc.stderr)
        assert f"{len(case['ties'])} ties" in proc.stdout
        originals = pd.read_csv(out / "originals.csv")
        assert sorted(originals.loc[originals["tie"], "comparison_id"]) == case["ties"]


# -- truncation ----------------------------------------------------------------------------


def test_over_long_response_is_flagged_per_row(cli, tiny_decoder_rm, tmp_path):
    case = CASES["over-long-response"]
    rm = rmx.HFRewardModel(tiny_decoder_rm, max_length=case["max_length"], device="cpu")
    ex = rmx.Explainer(
        rm, good_perturb, attributes=["verbosity"], store=tmp_path / "s.sqlite", progress=False
    )
    with pytest.warns(UserWarning, match="truncated"):
        res = ex.explain(HERE / case["file"])
    o = res.originals.set_index("comparison_id")
    t = res.table
    for cid, flagged in case["truncated"].items():
        assert bool(o.loc[cid, "truncated_a"] or o.loc[cid, "truncated_b"]) == flagged
        assert t.loc[t["comparison_id"] == cid, "truncated"].tolist() == [flagged] * 2
    assert res.summary()["truncated_rows"] == 2
    # the flag is stored with the score, so a resumed run reports it without rescoring
    again = rmx.Explainer(
        rm, good_perturb, attributes=["verbosity"], store=tmp_path / "s.sqlite", progress=False
    ).explain(HERE / case["file"])
    assert again.stats.scores_computed == 0
    pd.testing.assert_frame_equal(again.table, res.table)

    proc, out = cli[case["id"]]
    assert proc.returncode == 0, proc.stderr
    assert "rows used inputs the RM truncated" in proc.stdout
    table = pd.read_parquet(out / "table.parquet")
    assert table.groupby("comparison_id")["truncated"].all().to_dict() == case["truncated"]


# -- attributes ----------------------------------------------------------------------------


@pytest.mark.parametrize("cid", _ids("attributes"))
def test_bad_attributes(cid, cli):
    case = CASES[cid]
    api_message = None
    if case.get("api", True):
        spec: list = case["attributes"].split(",") if case.get("attributes") else []
        if case.get("attributes_file"):
            spec += json.loads((HERE / case["attributes_file"]).read_text())
        with pytest.raises(errors.AttributeSpecError) as info:
            rmx.Explainer(hash_rm, good_perturb, attributes=spec, progress=False)
        assert re.search(case["match"], str(info.value))
        with pytest.raises(errors.AttributeSpecError):
            resolve_attributes(spec)
        api_message = _one_line(str(info.value))
    proc, out = cli[cid]
    _assert_cli_error(proc, out, case, api_message)
    if case.get("attributes_file") and not case.get("attributes"):
        assert str(HERE / case["attributes_file"]) in proc.stderr  # the file is named


# -- reward models by name -----------------------------------------------------------------


@pytest.mark.parametrize("cid", _ids("rm_name"))
def test_unloadable_reward_model(cid, cli, monkeypatch):
    case = CASES[cid]
    proc, out = cli[cid]
    _assert_cli_error(proc, out, case, None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cwd = cli["@cwd"][1]
    monkeypatch.chdir(cwd)  # where the CLI ran, so relative paths resolve alike
    name = str(cwd / "empty_dir") if case["rm"] == "@empty_dir" else case["rm"]
    with pytest.raises(errors.RewardModelError) as info:
        rmx.HFRewardModel(name, device="cpu")
    assert re.search(case["match"], _one_line(str(info.value)))
    assert _one_line(str(info.value)) in proc.stderr  # the same message


@pytest.mark.parametrize("cid", _ids("rm_spec"))
def test_bad_reward_model_spec(cid, cli, monkeypatch):
    """A spec the CLI's --rm and ``reward_model_from_spec`` share fails in one line, the same
    line in both, before anything is loaded or written."""
    from rmx_widgets.core.specs import reward_model_from_spec

    case = CASES[cid]
    proc, out = cli[cid]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    models = cli["@models"][1]
    with pytest.raises(getattr(errors, case["error"])) as info:
        reward_model_from_spec(_rm_of(case, cli["@cwd"][1], models), device="cpu")
    message = _one_line(str(info.value))
    assert re.search(case["match"], message), message
    _assert_cli_error(proc, out, case, message)


# -- RM and perturber callables (Python API only: the CLI takes names, not functions) -------


@pytest.mark.parametrize("cid", _ids("rm_callable"))
def test_bad_reward_callable(cid, tmp_path):
    case = CASES[cid]
    with pytest.raises(errors.RewardModelError, match=case["match"]):  # noqa: PT012
        ex = rmx.Explainer(
            RM_CALLABLES[case["callable"]],
            good_perturb,
            attributes=["verbosity"],
            store=tmp_path / "s.sqlite",
            progress=False,
        )  # an RM without a cache identity is refused here, a bad output in explain
        ex.explain(VALID)
    store = Store(tmp_path / "s.sqlite")
    assert store.open_claims() == 0
    finite = all(math.isfinite(r) for (r,) in store._db.execute("SELECT reward FROM scores"))
    assert finite  # nothing bad was cached
    expected_scores = 4 if case["callable"] == "nan_on_rewrites" else 0
    assert store.counts()["scores"] == expected_scores


@pytest.mark.parametrize("cid", _ids("perturber_callable"))
def test_bad_perturber_callable(cid, tmp_path):
    case = CASES[cid]

    def explainer():
        return rmx.Explainer(
            hash_rm,
            PERTURBERS[case["callable"]],
            attributes=["verbosity"],
            store=tmp_path / "s.sqlite",
            progress=False,
        )

    if case.get("error"):
        with pytest.raises(getattr(errors, case["error"]), match=case["match"]):
            explainer().explain(VALID)  # a perturber without a cache identity: at explainer()
        assert Store(tmp_path / "s.sqlite").open_claims() == 0
        return
    res = explainer().explain(VALID)
    t = res.table
    assert len(t) == 4 and (t["outcome"] == "failed").all()
    assert set(t["failure_kind"]) == {case["failure"]}  # the kind declared where it failed
    assert res.summary()["failures_by_reason"] == {case["failure"]: 4}


# -- LLM perturbers through the fake server: API and CLI --------------------------------------


@pytest.mark.parametrize("cid", _ids("llm"))
def test_llm_perturber_bad_replies(cid, tmp_path, monkeypatch):
    case = CASES[cid]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FaultyLLMServer() as server:
        server.default = case["behaviour"]
        pert = rmx.OpenAIPerturber(
            "fake", base_url=server.url, max_retries=1, backoff_base=0.01, concurrency=4
        )
        ex = rmx.Explainer(
            rmx.TransparentRewardModel(), pert, attributes=["verbosity"], progress=False
        )
        api_message = None
        if case.get("error"):
            with pytest.raises(getattr(errors, case["error"]), match=case["match"]) as info:
                ex.explain(VALID)
            api_message = _one_line(str(info.value))
        else:
            res = ex.explain(VALID)
            assert (res.table["outcome"] == "failed").all() and len(res.table) == 4
            assert res.summary()["failures_by_reason"] == {case["failure"]: 4}
            assert res.stats.perturber_stats["retries"] == 4  # max_retries=1, 4 requests
        out = tmp_path / "out"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "rmx_widgets.cli",
                "explain",
                "--data",
                str(VALID),
                "--rm",
                "transparent",
                "--perturber",
                "openai",
                "--model",
                "fake",
                "--base-url",
                server.url,
                "--attributes",
                "verbosity",
                "--out",
                str(out),
                "--no-report",
            ],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=120,
        )
    if case.get("error"):
        _assert_cli_error(proc, out, case, api_message)
    else:
        assert proc.returncode == 0, proc.stderr
        assert f"4 failed (4 {case['failure']})" in proc.stdout
        assert "retries" in proc.stdout and "Traceback" not in proc.stderr
        table = pd.read_parquet(out / "table.parquet")
        assert (table["outcome"] == "failed").all() and table["failure_reason"].notna().all()


# -- numeric flags (refused by the parser, before anything is loaded or written) -------------


def _flag_argv(case: dict, out: Path) -> list[str]:
    argv = [sys.executable, "-m", "rmx_widgets.cli", case["command"], "--out", str(out)]
    if case["command"] != "demo":
        argv += ["--data", str(VALID), "--rm", "transparent", "--no-report"]
    if case["command"] == "evaluate":
        argv += ["--perturber", "rules"]
    return argv + case["args"]


@pytest.mark.parametrize("cid", _ids("flag"))
def test_bad_numeric_flag(cid, tmp_path):
    case = CASES[cid]
    out = tmp_path / "out"
    proc = subprocess.run(
        _flag_argv(case, out),
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=120,
    )
    _assert_cli_error(proc, out, case, None)
    assert list(tmp_path.iterdir()) == []  # no store, no runs/ folder, nothing


# -- rmx report on files that are not explanation tables -------------------------------------


@pytest.mark.parametrize("cid", _ids("report"))
def test_report_of_a_bad_table(cid, tmp_path):
    from rmx_widgets.core.table_io import read_table

    case = CASES[cid]
    path = HERE / case["file"]
    with pytest.raises(getattr(errors, case["error"]), match=case["match"]) as info:
        read_table(path)
    assert str(info.value).startswith(str(path))  # names the file first
    out = tmp_path / "out"
    argv = ["report", "--table", str(path), "--out", str(out / "report.html")]
    proc = _main_in_process(argv, tmp_path)
    _assert_cli_error(proc, out, case, _one_line(str(info.value)))


# -- other accepted files (the CSV loader reads every cell as text; large cells are fine) ----


@pytest.mark.parametrize("cid", [c for c in _ids("accepted") if c != "utf8-bom-accepted"])
def test_accepted_file(cid, cli):
    case = CASES[cid]
    comps = rmx.load_comparisons(HERE / case["file"])
    assert len(comps) == case["comparisons"]
    if "response_a" in case:
        assert comps[0].response_a == case["response_a"]
    if "response_a_chars" in case:
        assert len(comps[0].response_a) == case["response_a_chars"]
    proc, out = cli[cid]
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and (out / "table.parquet").exists()
