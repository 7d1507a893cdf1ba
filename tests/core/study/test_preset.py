"""``evaluate(preset="paper")`` offline: the paper's three data sets from local files in the
public formats, 5 × 30 disjoint seeds, the LLM method and its baselines on the local fake
chat-completions server, Polyjuice skipped with its reason.

The data (``public_formats``) is built so the answer is known: the preferred response holds
the word "step" 1 more time than the other in every third comparison and 3 more otherwise, and
the planted RM counts "step" and moves by 2 when the fake LLM tags a rewrite ``[worse:…]`` /
``[better:…]``. So the LLM method flips exactly the comparisons ``i % 3 == 0``, on both sides,
and every coverage figure of it can be written down from the comparison ids alone.
"""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pytest
from fake_llm_server import FakeLLMServer
from public_formats import offline_hub, write_paper_data

import rmx_widgets as rmx
from rmx_widgets.core.errors import DataError, OptionError, PerturberError, RMXError
from rmx_widgets.core.perturbers.random_words import RandomWordPerturber
from rmx_widgets.core.study import preset
from rmx_widgets.core.study.run import evaluate

NAMES = ["hh-rlhf-helpful", "hh-rlhf-harmless", "helpsteer2"]
# every local file holds one row the loader skips, and says so (checked in the first test)
pytestmark = pytest.mark.filterwarnings("ignore:.*skipped 1 (rows|prompts):UserWarning")


def step_rm(prompts, responses):
    """The planted RM: "step"s, ±2 for the fake LLM's direction tag."""
    return [
        r.split().count("step") + 2 * r.count("[better:") - 2 * r.count("[worse:")
        for r in responses
    ]


def index(comparison_id: str) -> int:
    """The comparison's number i in the builders (HelpSteer2 ids name its first row, 2i)."""
    row = int(comparison_id.rsplit("/", 1)[1])
    return row // 2 if comparison_id.startswith("helpsteer2/") else row


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("preset")
    with pytest.MonkeyPatch.context() as mp, FakeLLMServer() as server:
        offline_hub(mp, tmp)
        sources = write_paper_data(tmp / "data")
        llm = rmx.OpenAIPerturber(model="fake-model", base_url=server.url)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            study = evaluate(
                rms={"steps": step_rm},
                preset="paper",
                llm=llm,
                data_files=sources,
                attributes=["verbosity"],
                n_boot=50,
                progress=False,
            )
        paths = study.save(tmp / "out", report=False)
        return study, [str(w.message) for w in caught], server.requests, paths, sources


def test_three_data_sets_five_disjoint_seeds_of_thirty(paper):
    study, messages, _, _, _ = paper
    assert study.datasets == NAMES
    assert study.config["datasets"] == dict.fromkeys(NAMES, 150)
    assert study.sampling == dict.fromkeys(NAMES, "disjoint")
    assert study.config["seeds"] == [0, 1, 2, 3, 4] and study.config["per_seed"] == 30
    for name in NAMES:
        samples = study.samples[name]
        assert sorted(samples) == [0, 1, 2, 3, 4]
        assert all(len(ids) == 30 for ids in samples.values())
        union = set().union(*samples.values())
        assert len(union) == 150  # disjoint: 5 × 30 distinct comparisons
    # no "fewer than seeds × per_seed" warning; each loader's skipped row is reported
    assert not any("fewer than" in m for m in messages)
    assert sum("skipped 1 rows" in m for m in messages) == 2  # the two HH-RLHF files
    assert sum("skipped 1 prompts: 1 × the two responses tie" in m for m in messages) == 1


def test_methods_baselines_and_polyjuice_skipped(paper):
    study, _, requests, _, _ = paper
    config = study.config
    assert list(config["perturbers"]) == ["llm", "random", "paraphrase", "polyjuice"]
    assert config["baselines"] == ["random", "paraphrase", "polyjuice"]
    assert config["primary"] == "llm" and config["null"] == "random"
    assert config["perturbers"]["paraphrase"].endswith(":paraphrase-v2")
    assert "fake-model" in config["perturbers"]["paraphrase"]  # the same LLM
    assert list(study.skipped) == ["polyjuice"]
    assert "uw-hai/polyjuice is not in the local cache" in study.skipped["polyjuice"]
    assert set(study.quality["perturber"]) == {"llm", "random", "paraphrase"}
    for name in NAMES:
        q = study.quality[study.quality["dataset"] == name]
        assert set(q["perturber"]) == {"llm", "random", "paraphrase"}
    # 3 data sets × 150 comparisons × 2 sides × 1 attribute, for the method and the paraphrase
    attribute_prompts = [r for r in requests if "Quality: verbosity" in r.user_text]
    assert len(attribute_prompts) == 900 and len(requests) == 1800


def test_preset_recorded_in_config_and_study_json(paper):
    study, _, _, paths, sources = paper
    record = study.config["preset"]
    assert record["name"] == "paper"
    assert (record["seeds"], record["per_seed"]) == (5, 30)
    assert record["overrides"] == {"attributes": "given"}
    assert record["methods"]["paraphrase"] == "baseline (same LLM)"
    data = record["datasets"]
    assert list(data) == NAMES
    assert {n: (d["loader"], d["subset"], d["split"]) for n, d in data.items()} == {
        "hh-rlhf-helpful": ("load_hh_rlhf", "helpful-base", "test"),
        "hh-rlhf-harmless": ("load_hh_rlhf", "harmless-base", "test"),
        "helpsteer2": ("load_helpsteer2", None, "validation"),
    }
    assert data["hh-rlhf-helpful"]["rows_read"] == 151 and data["helpsteer2"]["rows_read"] == 302
    assert data["helpsteer2"]["skipped"] == {"the two responses tie on helpfulness": 1}
    assert str(sources["hh-rlhf-harmless"]) in data["hh-rlhf-harmless"]["source"]
    assert all(d["comparisons"] == 150 and d["limit"] is None for d in data.values())
    saved = json.loads(paths["study"].read_text())
    assert saved["preset"] == json.loads(json.dumps(record))
    assert saved["skipped"]["polyjuice"] == study.skipped["polyjuice"]


def _cell(study, dataset, perturber, side, kind, seed=None):
    frame = study.quality if seed is not None else study.quality_summary
    mask = (
        (frame["dataset"] == dataset)
        & (frame["perturber"] == perturber)
        & (frame["side"] == side)
        & (frame["kind"] == kind)
    )
    if seed is not None:
        mask &= frame["seed"] == seed
    rows = frame[mask]
    assert len(rows) == 1
    return rows.iloc[0]


def test_llm_coverage_by_hand_from_the_planted_data(paper):
    """The LLM's rewrite flips comparison i iff i % 3 == 0 (on either side, so on both): a
    seed's CF coverage is the share of such i in its sample, its s.e. the sample's."""
    study, _, _, _, _ = paper
    for name in NAMES:
        per_seed = []
        for seed, ids in study.samples[name].items():
            flips = np.array([index(i) % 3 == 0 for i in ids], dtype=float)
            assert 0 < flips.mean() < 1  # both outcomes in every sample
            se = flips.std(ddof=1) / math.sqrt(len(flips))
            for side in ("chosen", "rejected", "either", "both"):
                cf = _cell(study, name, "llm", side, "CF", seed)
                assert cf["n_comparisons"] == 30 and cf["n_ties"] == 0
                assert cf["coverage"] == pytest.approx(flips.mean())
                assert cf["coverage_se"] == pytest.approx(se)
            sf = _cell(study, name, "llm", "chosen", "SF", seed)
            assert sf["coverage"] == pytest.approx(1 - flips.mean())
            per_seed.append(flips.mean())
        # disjoint seeds: the summary is the mean of the 5 seeds ± their standard error
        summary = _cell(study, name, "llm", "both", "CF")
        assert summary["n_seeds"] == 5 and summary["se_over"] == "seeds"
        assert summary["coverage"] == pytest.approx(np.mean(per_seed))
        assert summary["coverage_se"] == pytest.approx(np.std(per_seed, ddof=1) / math.sqrt(5))
    # the paraphrase carries no direction tag: the planted RM never moves, nothing flips
    for name in NAMES:
        assert _cell(study, name, "paraphrase", "either", "CF")["coverage"] == 0.0


def test_a_quality_cell_by_hand_from_the_table_and_per_comparison(paper):
    """One cell recomputed from the explanation table: per comparison, a CF is found on the
    chosen side when one of its rows there is a CF (``per_comparison`` says the same), the
    seed's coverage is the mean over its sample and its syntactic distance the mean, over the
    comparisons with a CF, of each one's mean CF distance."""
    study, _, _, _, _ = paper
    name, seed = "hh-rlhf-harmless", 2
    ids = study.samples[name][seed]
    table = study.tables[(name, "steps", "llm")]
    chosen = table[table["side"] == "chosen"]
    found = [bool((chosen.loc[chosen["comparison_id"] == i, "outcome"] == "CF").any()) for i in ids]
    pc = study.per_comparison
    pc = pc[
        (pc["dataset"] == name)
        & (pc["perturber"] == "llm")
        & (pc["side"] == "chosen")
        & (pc["kind"] == "CF")
    ].set_index("comparison_id")
    assert [bool(pc.loc[i, "found"]) for i in ids] == found
    cell = _cell(study, name, "llm", "chosen", "CF", seed)
    assert cell["coverage"] == pytest.approx(np.mean(found))
    cfs = chosen[chosen["comparison_id"].isin(ids) & (chosen["outcome"] == "CF")]
    per = cfs.groupby("comparison_id")["syntactic_distance"].mean()
    assert len(per) == sum(found) > 0
    assert cell["syntactic"] == pytest.approx(per.mean())
    assert cell["syntactic_se"] == pytest.approx(per.std(ddof=1) / math.sqrt(len(per)))
    assert cell["syntactic_n"] == len(per)
    # the random baseline's word edits never move the planted RM by 2: no CF, distance not
    # measured (NaN, not 0)
    rnd = _cell(study, name, "random", "chosen", "CF", seed)
    assert rnd["coverage"] == 0.0 and math.isnan(rnd["syntactic"]) and rnd["syntactic_n"] == 0


# --- overrides and errors (no LLM calls) -----------------------------------------------------


@pytest.fixture
def sources(tmp_path, monkeypatch):
    offline_hub(monkeypatch, tmp_path)
    return write_paper_data(tmp_path / "data")


def test_overrides_are_used_and_recorded(sources):
    study = evaluate(
        rms={"steps": step_rm},
        preset="paper",
        perturbers={"random": RandomWordPerturber()},
        data_files=sources,
        seeds=[1, 2],
        per_seed=10,
        attributes=["verbosity"],
        n_boot=0,
        progress=False,
    )
    assert study.datasets == NAMES
    assert all(sorted(s) == [1, 2] for s in study.samples.values())
    assert all(len(ids) == 10 for s in study.samples.values() for ids in s.values())
    record = study.config["preset"]
    assert record["overrides"] == {
        "seeds": [1, 2],
        "per_seed": 10,
        "attributes": "given",
        "perturbers": "given",
    }
    assert record["methods"] == "given" and list(record["datasets"]) == NAMES
    assert list(study.config["perturbers"]) == ["random"] and study.skipped == {}


def test_preloaded_data_with_a_limit_warns_that_seeds_overlap(sources):
    data = preset.paper_data(sources, limit=40)
    assert isinstance(data, preset.PresetData) and list(data) == NAMES
    with pytest.warns(UserWarning, match=r"has 40 comparisons, fewer than 5 seeds × per_seed=30"):
        study = evaluate(
            data,
            {"steps": step_rm},
            preset="paper",
            perturbers=[RandomWordPerturber()],
            attributes=["verbosity"],
            n_boot=0,
            progress=False,
        )
    assert study.sampling == dict.fromkeys(NAMES, "overlapping")
    record = study.config["preset"]
    assert "comparisons" not in record["overrides"]  # the preset's own data, cut by limit
    assert all(d["limit"] == 40 and d["comparisons"] == 40 for d in record["datasets"].values())

    own = evaluate(
        {"mine": list(data["helpsteer2"])},
        {"steps": step_rm},
        preset="paper",
        perturbers=[RandomWordPerturber()],
        seeds=1,
        attributes=["verbosity"],
        n_boot=0,
        progress=False,
    )
    assert own.datasets == ["mine"]
    assert own.config["preset"]["datasets"] == "given"
    assert own.config["preset"]["overrides"]["comparisons"] == "given"


def test_no_preset_keeps_the_paper_defaults():
    comps = [
        {"id": f"c{i}", "prompt": "p", "chosen": "step " * (i + 2), "rejected": "x"}
        for i in range(3)
    ]
    with pytest.warns(UserWarning, match="every seed uses all of them"):
        study = evaluate(
            comps,
            [step_rm],
            [RandomWordPerturber()],
            attributes=["verbosity"],
            n_boot=0,
            progress=False,
        )
    assert study.config["seeds"] == [0, 1, 2, 3, 4] and study.config["per_seed"] == 30
    assert study.config["preset"] is None


def test_mistakes_are_one_clear_error_before_anything_loads(tmp_path, sources):
    llm = rmx.OpenAIPerturber(model="m", base_url="http://127.0.0.1:9/v1")
    rms = {"steps": step_rm}
    missing = {"helpsteer2": tmp_path / "nowhere"}
    with pytest.raises(OptionError, match=r"^unknown preset 'papr'; the presets are: paper\.$"):
        evaluate(rms=rms, preset="papr", llm=llm)
    with pytest.raises(OptionError, match="needs llm=: the attribute-aware LLM perturber"):
        evaluate(rms=rms, preset="paper", data_files=missing)
    with pytest.raises(PerturberError, match="ParaphrasePerturber wraps an LLM perturber"):
        evaluate(rms=rms, preset="paper", llm=rmx.RulePerturber(), data_files=missing)
    with pytest.raises(OptionError, match="RandomWordPerturber is attribute-blind"):
        evaluate(rms=rms, preset="paper", llm=RandomWordPerturber(), data_files=missing)
    with pytest.raises(OptionError, match=r"give llm= .* or perturbers= .*, not both"):
        evaluate(rms=rms, preset="paper", llm=llm, perturbers=[RandomWordPerturber()])
    with pytest.raises(OptionError, match=r"give data_files= .* or comparisons= .*, not both"):
        evaluate(
            [{"prompt": "p", "chosen": "a", "rejected": "b"}],
            rms,
            preset="paper",
            llm=llm,
            data_files=missing,
        )
    with pytest.raises(
        OptionError,
        match=r"'hh-rlhf', not a data set of the paper preset; use "
        "hh-rlhf-helpful, hh-rlhf-harmless, helpsteer2",
    ):
        evaluate(rms=rms, preset="paper", llm=llm, data_files={"hh-rlhf": "x"})
    with pytest.raises(OptionError, match="maps the paper's data set names"):
        evaluate(rms=rms, preset="paper", llm=llm, data_files=str(tmp_path))
    with pytest.raises(RMXError, match=r"^seeds must be at least 1"):
        evaluate(rms=rms, preset="paper", llm=llm, data_files=missing, seeds=0)
    with pytest.raises(RMXError, match=r"^per_seed must be a positive integer, got 2\.5"):
        evaluate(rms=rms, preset="paper", llm=llm, data_files=missing, per_seed=2.5)
    with pytest.raises(OptionError, match="needs reward models"):
        evaluate(preset="paper", llm=llm)
    with pytest.raises(OptionError, match="are options of preset='paper'"):
        evaluate([{"prompt": "p", "chosen": "a", "rejected": "b"}], rms, [step_rm], llm=llm)
    with pytest.raises(OptionError, match="needs comparisons= and perturbers=, or preset="):
        evaluate(rms=rms)
    # a local source that is not there fails in its loader, naming the split
    with pytest.raises(DataError, match=re.escape("nowhere") + ".*cannot load split 'validation'"):
        evaluate(rms=rms, preset="paper", llm=llm, data_files={**sources, **missing})
    # offline, a data set not given locally comes from the hub, and says how to give it
    with pytest.raises(DataError, match=r"Anthropic/hh-rlhf: cannot load split 'test'.*data_files"):
        preset.paper_data({"helpsteer2": sources["helpsteer2"]})


def test_report_names_the_preset_and_its_overrides(paper, tmp_path):
    from html.parser import HTMLParser

    from rmx_widgets.core.study.report import write_study_report

    class Cells(HTMLParser):
        """The text of every table cell, in document order."""

        def __init__(self) -> None:
            super().__init__()
            self.cells: list[str] = []
            self.inside = False

        def handle_starttag(self, tag, attrs):
            if tag in ("td", "th"):
                self.inside = True
                self.cells.append("")

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self.inside = False

        def handle_data(self, data):
            if self.inside:
                self.cells[-1] += data

    page = Cells()
    page.feed(write_study_report(paper[0], tmp_path / "report.html").read_text(encoding="utf-8"))
    value = page.cells[page.cells.index("preset") + 1]
    assert value == "paper (5 × 30 per data set; overridden: attributes=given)"
