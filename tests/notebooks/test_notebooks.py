"""Execute every tutorial notebook end to end, offline, the way a reader would run it.

Tutorials rot silently: an API rename breaks a notebook that no unit test imports. So each
``notebooks/*.ipynb`` runs top to bottom in a fresh kernel of this environment, in a copy of
the folder (its ``runs/`` artifacts land in a temporary directory, never in the checkout),
with the hub forced offline, an empty Hugging Face cache and no OpenAI key. Any cell error fails
the test; a few key outputs per notebook are checked too, including that the cells needing a
GPU, network or key print ``skipped: …`` instead of failing. Execution times are printed (see
them with ``pytest -s``) and written to ``notebook_times.json`` in pytest's temporary root.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

import rmx_widgets as rmx
from rmx_widgets.core.sensitivity import SENSITIVITY_COLUMNS

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb"))
TUTORIALS = [
    "01_quickstart.ipynb",
    "02_global_sensitivity.ipynb",
    "03_compare_two_rms.ipynb",
    "04_annotate_representatives.ipynb",
    "05_real_models_and_custom_attributes.ipynb",
    "06_reproduce_the_paper.ipynb",
]
CELL_TIMEOUT = 120
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PREFIX_MARK = "RMX_TEST_KERNEL_PREFIX="


class Run:
    """An executed notebook: per-cell text outputs, output MIME types and its folder."""

    def __init__(self, nb: nbformat.NotebookNode, workdir: Path, seconds: float) -> None:
        self.nb = nb
        self.workdir = workdir
        self.seconds = seconds
        self.cells = [_cell_text(c) for c in nb.cells if c.cell_type == "code"]
        self.text = "\n".join(self.cells)
        self.mimes = {
            m
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.get("outputs", [])
            for m in o.get("data", {})
        }

    def lines_starting(self, prefix: str) -> list[str]:
        return [ln.strip() for ln in self.text.splitlines() if ln.strip().startswith(prefix)]


def _cell_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "\n".join(parts)


@pytest.fixture(scope="session")
def times_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "notebook_times.json"


def _execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, times_file: Path) -> Run:
    """Run one notebook in a copy of the notebooks folder, offline, in this env's kernel."""
    workdir = tmp_path / "notebooks"
    workdir.mkdir()
    for path in NOTEBOOKS_DIR.glob("*.ipynb"):  # siblings too, for relative links
        shutil.copy(path, workdir / path.name)
    # The kernel inherits this environment: hub offline, an empty model cache (so the online
    # cells take their "skipped" path even where a developer has the models cached), no key.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)

    nb = nbformat.read(workdir / name, as_version=4)
    # Last cell: report which Python the kernel runs, to prove it is this environment's.
    nb.cells.append(nbformat.v4.new_code_cell(f"import sys; print({PREFIX_MARK!r} + sys.prefix)"))
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        # nbclient waits only 4 s (by default) for a cell's last output messages after its
        # reply and then drops them silently: on a loaded 2-core machine a print at the end
        # of a long cell was lost that way. Wait longer, and fail loudly if one is still late.
        iopub_timeout=60,
        raise_on_iopub_timeout=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the traceback, on any cell error
    seconds = time.perf_counter() - start

    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    times[name] = round(seconds, 2)
    times_file.write_text(json.dumps(times, indent=2, sort_keys=True) + "\n")
    print(f"\n{name}: executed in {seconds:.1f} s (times in {times_file})")
    return Run(nb, workdir, seconds)


# -- per-notebook checks ------------------------------------------------------------------------


def _check_01(run: Run) -> None:
    assert (run.workdir / "runs" / "quickstart.sqlite").exists()
    assert "avoid-to-answer" in run.text  # the sensitivity table was shown


def _check_02(run: Run) -> None:
    assert "most sensitive attribute: manner" in run.text  # the planted feature was found
    assert "ranking, most sensitive first: ['avoid-to-answer'" in run.text
    assert re.search(r"mean 95% CI width: [0-9.]+ with \d+ comparisons", run.text)
    # the null test: refusals flip far more than random rewording (the demo's planted effect)
    significant = re.search(r"significant after Holm: \[(.*?)\]", run.text)
    assert significant and "'avoid-to-answer'" in significant.group(1)
    out = run.workdir / "runs" / "02"
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "vega" in html and "cdn.jsdelivr" not in html
    assert "external scripts or stylesheets: 0" in run.text
    sens = pd.read_csv(out / "sensitivity.csv")
    assert list(sens.columns) == SENSITIVITY_COLUMNS  # the sensitivity() columns, in order
    assert (out / "table.parquet").exists() and (out / "summary.json").exists()


def _check_03(run: Run) -> None:
    m = re.search(
        r"Kendall's tau = (-?\d+\.\d+) \(p = [0-9.]+\) over (\d+) of (\d+) "
        r"comparisons",
        run.text,
    )
    assert m, "notebook 03 did not print Kendall's tau"
    tau, n_agree, n_common = float(m.group(1)), int(m.group(2)), int(m.group(3))
    assert -1.0 <= tau < 1.0  # two RMs with different tastes do not rank identically
    assert 0 < n_agree < n_common  # tau is restricted to the agreeing comparisons
    assert len(run.lines_starting("skipped:")) == 2  # both online cells, no GPU/hub here


def _check_04(run: Run) -> None:
    out = run.workdir / "runs" / "04"
    csv = pd.read_csv(out / "annotations.csv", keep_default_na=False)
    tagged = dict(zip(csv["comparison_id"], csv["tags"]))
    assert sorted(t for t in tagged.values() if t) == ["expected", "surprising"]
    assert set(csv["kind"]) == {"representative", "contrasting"}
    jsonl = pd.read_json(out / "annotations.jsonl", lines=True)
    assert ["surprising"] in jsonl["tags"].tolist()
    from rmx_widgets.core.store import Store

    store = Store(run.workdir / "runs" / "04.sqlite")
    try:
        saved = {a["comparison_id"]: a["tags"] for a in store.annotations()}
    finally:
        store.close()
    assert sorted(t for tags in saved.values() for t in tags) == ["expected", "surprising"]
    assert {cid for cid, tags in tagged.items() if tags} == set(saved)


def _check_05(run: Run) -> None:
    skipped = run.lines_starting("skipped:")
    # hub RM on GPU, OpenAI-compatible LLM, local LLM; DPO on the hub, LLM judge, vLLM
    assert len(skipped) == 6, skipped
    assert sum("OPENAI_API_KEY" in s for s in skipped) == 2  # the LLM perturber and judge
    assert any("VLLMRewardModel needs a CUDA GPU and vLLM" in s for s in skipped)
    assert "sycophancy" in run.text and "humour" in run.text  # custom attributes were used
    assert (run.workdir / "runs" / "05.sqlite").exists()
    _check_05_pairwise(run)
    _check_05_objectives(run)


def _check_05_objectives(run: Run) -> None:
    """The offline multi-objective RM (one objective per transparent feature): a rewrite into
    a refusal moves the refusal objective by exactly the refusal feature's weight (0 -> 1)."""
    m = re.search(
        r"avoid-to-answer, worse: refusal objective ([+-]\d+\.\d+) \(n = (\d+), failed = (\d+)\)",
        run.text,
    )
    assert m, "the objective effects were not printed"
    weight = rmx.TransparentRewardModel().weights["refusal"]
    assert float(m.group(1)) == pytest.approx(weight, abs=5e-4)
    assert int(m.group(2)) + int(m.group(3)) == 52  # every chosen response, rewritten or failed
    assert int(m.group(2)) > 0


def _check_05_pairwise(run: Run) -> None:
    """The offline pairwise judge: its planted attribute found, its planted bias measured."""
    m = re.search(r"pairwise judge, most sensitive first: (\[.*?\])", run.text)
    assert m, "the pairwise judge's ranking was not printed"
    ranking = re.findall(r"'([^']+)'", m.group(1))
    # fewer hedges is planted; refusals (no hedges, short) lose through the length tie-breaker
    assert set(ranking[:2]) == {"assertiveness", "avoid-to-answer"}, ranking
    assert ranking[-1] == "verbosity", ranking  # length alone: a small weight, small changes
    m = re.search(
        r"position disagreement rate: (\d\.\d+) \((\d+) of (\d+) comparisons; "
        r"rewrites: (\d+) of (\d+)\)",
        run.text,
    )
    assert m, "the position disagreement rate was not printed"
    rate, disagree, judged = float(m.group(1)), int(m.group(2)), int(m.group(3))
    assert judged == 52 and abs(rate - disagree / judged) < 5e-4
    assert int(m.group(5)) > 0 and 0 <= int(m.group(4)) <= int(m.group(5))
    # +0.05 for the response read first makes the two orders disagree exactly where the fair
    # (averaged) P is within 0.05 of 0.5: the bias shows, and averaging removed it
    m = re.search(r"averaged P within 0\.05 of 0\.5: (\d+) of (\d+) comparisons", run.text)
    assert m and (int(m.group(1)), int(m.group(2))) == (disagree, judged)
    assert 0 < disagree < judged
    cf = next(c for c in run.cells if "margin_before" in c and "reward_perturbed" in c)
    assert cf.count("NaN") >= 8  # reward_original and reward_perturbed of each CF row shown
    # the RMCompare of the judge and the scalar RM, with the τ it shows in its header
    # (a judge and an RM with different tastes: τ defined but below 1, over the comparisons
    # both prefer the same way, fewer than all 52)
    m = re.search(r"Kendall's tau = (-?\d\.\d+) over (\d+) of (\d+) comparisons; judge", run.text)
    assert m and -1.0 <= float(m.group(1)) < 1.0, "the judge and the RM were not compared"
    assert 0 < int(m.group(2)) < int(m.group(3)) == 52


def _check_06(run: Run) -> None:
    skipped = run.lines_starting("skipped:")
    assert len(skipped) == 4, skipped  # Polyjuice offline, the online study and judge, discovery
    assert any("polyjuice" in s for s in skipped)
    m = re.search(r"Spearman\(planted weights, planted PFR\) = (-?\d+\.\d+)", run.text)
    assert m and float(m.group(1)) >= 0.9, "the planted ranking was not recovered"
    out = run.workdir / "runs" / "06_study"
    quality = pd.read_csv(out / "quality.csv")
    assert set(quality["rm"]) == {"planted", "reversed", "demo"}
    assert set(quality["perturber"]) == {"rules", "random"}
    assert set(quality["seed"]) == {0, 1, 2, 3, 4}
    tau = pd.read_csv(out / "tau.csv").set_index(["rm_a", "rm_b"])["tau"]
    assert tau[("planted", "planted")] == 1.0 and tau[("planted", "reversed")] < 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "vega" in html and "cdn.jsdelivr" not in html
    assert WIDGET_MIME in run.mimes  # the StudyView was displayed
    # past the paper: the effects frame, declared expectations, the planted artefact
    from rmx_widgets.core.effects import EFFECTS_COLUMNS

    assert f"effects columns: {EFFECTS_COLUMNS}" in run.text
    assert (run.workdir / "runs" / "06_effects.sqlite").exists()
    checks = dict(re.findall(r"expectation (.+?): (\d+/\d+ pass, \d+ fail)", run.text))
    assert set(checks) == {"prefers correctness", "invariant to verbosity", "invariant to manner"}
    assert checks["invariant to verbosity"].endswith(" 0 fail")
    assert not checks["invariant to manner"].endswith(" 0 fail")  # its failures are shown
    m = re.search(
        r"artefact RM: naive effect up to (\d+\.\d+), corrected effect at most "
        r"(\d+\.\d+)",
        run.text,
    )
    assert m, "the planted-artefact cell printed no effects"
    assert float(m.group(1)) > 0.5 and float(m.group(2)) < 1e-3  # large naive, ~0 corrected
    _check_06_preset(run)
    _check_06_judge(run)


PAPER_DATASETS = ["hh-rlhf-helpful", "hh-rlhf-harmless", "helpsteer2"]


def _check_06_preset(run: Run) -> None:
    """The paper preset on local files in the public formats: both tables, per data set."""
    from rmx_widgets.core.study.paper_tables import TABLE1_COLUMNS, TABLE2_COLUMNS

    loaded = dict(re.findall(r"^(\S+): load_\w+, split '\w+': (\d+) comparisons", run.text, re.M))
    assert loaded == {"hh-rlhf-helpful": "32", "hh-rlhf-harmless": "19", "helpsteer2": "43"}
    assert "fewer than 5 seeds × per_seed=30" in run.text  # the overlap warning is shown
    out = run.workdir / "runs" / "06_paper"
    for number, columns in ((1, TABLE1_COLUMNS), (2, TABLE2_COLUMNS)):
        table = pd.read_csv(out / f"paper_table{number}.csv")
        assert list(table.columns) == columns
        assert list(dict.fromkeys(table["dataset"])) == PAPER_DATASETS
        for _, rows in table.groupby("dataset"):  # every RM × method, on each data set
            assert sorted(zip(rows["rm"], rows["method"])) == sorted(
                (rm, m) for rm in ("planted", "reversed", "demo") for m in ("rules", "random")
            )
    # the formatted tables were displayed, one of each per data set, with the paper's columns
    for ds in PAPER_DATASETS:
        for number, heads in (
            (1, ("CF Chosen", "CF Both", "SF Rejected", "failed rewrites")),
            (2, ("CF syntactic", "CF semantic", "SF diversity")),
        ):
            cell = next(c for c in run.cells if f"Table {number} · {ds}" in c)
            shown = cell.split(f"Table {number} · {ds}", 1)[1]
            assert all(h in shown.split("Table ")[0] for h in heads), (number, ds)


def _check_06_judge(run: Run) -> None:
    """The rewrite judge: valid rates beside failures, valid_only, agreement with planted truth."""
    rates = {
        name: (int(valid), int(judged), float(rate), int(failed), int(rows))
        for name, valid, judged, rate, failed, rows in re.findall(
            r"^(rules|random): (\d+) of (\d+) judged rewrites valid \(valid rate "
            r"(\d\.\d+)\); (\d+) of (\d+) failed",
            run.text,
            re.M,
        )
    }
    assert set(rates) == {"rules", "random"}
    for valid, judged, rate, failed, rows in rates.values():
        assert judged > 0 and abs(rate - valid / judged) < 5e-4 and 0 <= failed <= rows
    assert rates["rules"][2] >= 0.95 and rates["random"][2] <= 0.2  # targeted vs blind edits
    # a few rows with their validity_reason: invalid (too much else changed) and undecided
    assert "valid=False: assertiveness" in run.text and "other words changed" in run.text
    assert "valid=<NA>: correctness" in run.text
    shrunk = {
        name: (int(a), int(b), int(fa), int(fb))
        for name, a, b, fa, fb in re.findall(
            r"^(rules|random), valid only: n = (\d+) → (\d+) rewrites; n_failed (\d+) → (\d+)",
            run.text,
            re.M,
        )
    }
    assert set(shrunk) == {"rules", "random"}
    for n_all, n_valid, failed_all, failed_valid in shrunk.values():
        assert n_valid < n_all and failed_valid == failed_all  # failures still counted
    assert shrunk["random"][1] <= rates["random"][0]  # only rewrites judged valid remain
    m = re.search(
        r"FeatureJudge agreement with the planted truth: (\d\.\d+) \(n=(\d+), judged (\d+), "
        r"undecided (\d+)",
        run.text,
    )
    assert m, "the agreement with the planted truth was not printed"
    assert float(m.group(1)) >= 0.95
    assert int(m.group(3)) + int(m.group(4)) == int(m.group(2)) > 0


CHECKS: dict[str, Callable[[Run], None]] = dict(
    zip(TUTORIALS, [_check_01, _check_02, _check_03, _check_04, _check_05, _check_06])
)


def test_all_tutorials_are_present() -> None:
    assert [n for n in TUTORIALS if n not in NOTEBOOKS] == []


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_commit_ready(name: str) -> None:
    """Saved without outputs (small diffs, no stale results) and bound to the python3 kernel."""
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code"
    assert all(not c.outputs and c.execution_count is None for c in code), (
        f"{name} was saved with outputs; clear them before committing"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes_offline(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, times_file: Path
) -> None:
    run = _execute(name, tmp_path, monkeypatch, times_file)
    prefix = run.lines_starting(PREFIX_MARK)
    assert prefix == [PREFIX_MARK + sys.prefix], "the kernel is not this environment's Python"
    assert "Traceback" not in run.text
    assert WIDGET_MIME in run.mimes, f"{name} displays no widget"
    check = CHECKS.get(name)
    if check is not None:
        check(run)
