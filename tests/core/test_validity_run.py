"""``Explainer(..., judge=...)``: verdicts in the table, cached in the store like rewrites."""

from __future__ import annotations

import shutil
import sqlite3
import warnings
from pathlib import Path

import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.attributes import resolve_attributes
from rmx_widgets.core.errors import OptionError
from rmx_widgets.core.store import Store
from rmx_widgets.core.table_io import read_table
from rmx_widgets.core.validity import CallableJudge, JudgeRequest, Verdict
from rmx_widgets.core.validity.cached import CachedJudge

DATA = Path(__file__).resolve().parents[1] / "data"
ATTRS = ["verbosity", "manner"]


class Judge:
    """Valid when the rewrite has an even number of characters; counts every request it is
    asked; ``undecided`` makes those of one attribute undecided, ``broken`` raises."""

    def __init__(self, name="even/1", undecided=None, broken=False, unsupported=None):
        self.identity = name
        self.asked: list[JudgeRequest] = []
        self.undecided, self.broken, self.unsupported = undecided, broken, unsupported

    def supports(self, attribute):
        return attribute.name != self.unsupported

    def judge_batch(self, requests):
        if self.broken:
            raise ConnectionError("judge server down")
        self.asked.extend(requests)
        return [
            Verdict(None, "cannot tell")
            if r.attribute.name == self.undecided
            else Verdict(len(r.rewrite) % 2 == 0, f"{len(r.rewrite)} characters")
            for r in requests
        ]


def explainer(store, judge=None, **kw):
    return rmx.Explainer(
        rmx.TransparentRewardModel(),
        rmx.RulePerturber(),
        attributes=ATTRS,
        store=store,
        progress=False,
        judge=judge,
        **kw,
    )


def run(store, judge=None, n=6, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return explainer(store, judge, **kw).explain(rmx.sample_comparisons()[:n])


def test_columns_filled_for_successful_rows_only(tmp_path):
    judge = Judge()
    res = run(tmp_path / "s.sqlite", judge)
    t = res.table
    assert list(t.columns[-2:]) == ["valid", "validity_reason"]
    assert str(t["valid"].dtype) == "boolean"
    ok, failed = t[t["outcome"] != "failed"], t[t["outcome"] == "failed"]
    assert len(ok) and len(failed)  # the rules cannot rewrite every sample
    assert ok["valid"].tolist() == [len(p) % 2 == 0 for p in ok["perturbed"]]
    assert ok["validity_reason"].tolist() == [f"{len(p)} characters" for p in ok["perturbed"]]
    assert failed["valid"].isna().all() and failed["validity_reason"].isna().all()
    assert len(judge.asked) == len(ok)  # one request per successful rewrite, none for failures
    asked = {(r.original, r.rewrite, r.attribute.name, r.direction) for r in judge.asked}
    assert asked == set(zip(ok["original"], ok["perturbed"], ok["attribute"], ok["direction"]))
    s = res.stats
    assert (s.judge, s.verdicts_computed, s.verdicts_cached) == ("even/1", len(ok), 0)
    n_valid = int(ok["valid"].sum())
    assert (s.judged_valid, s.judged_invalid, s.judged_undecided) == (
        n_valid,
        len(ok) - n_valid,
        0,
    )
    summary = res.summary()
    assert summary["judge"] == "even/1" and summary["run_judge"] == "even/1"
    assert (summary["judged"], summary["valid"]) == (len(ok), n_valid)
    assert summary["valid_rate"] == pytest.approx(n_valid / len(ok))
    pooled = res.sensitivity(n_boot=0, valid_only=True)
    assert pooled["n"].max() <= n_valid  # passed through to sensitivity()
    assert (pooled["n_judged"] > 0).any()


def test_without_a_judge_columns_are_missing_values(tmp_path):
    res = run(tmp_path / "s.sqlite")
    assert res.table["valid"].isna().all() and res.table["validity_reason"].isna().all()
    assert res.stats.judge is None and res.summary()["valid_rate"] is None
    assert res.sensitivity(n_boot=0)["valid_rate"].isna().all()
    with pytest.raises(OptionError, match="needs judged rewrites"):
        res.sensitivity(n_boot=0, valid_only=True)


def test_rerun_asks_the_judge_nothing_and_keys_of_rewrites_are_unchanged(tmp_path):
    store = tmp_path / "s.sqlite"
    run(store)  # no judge: rewrites and scores cached
    judge = Judge()
    first = run(store, judge)
    assert first.stats.perturbations_computed == 0 and first.stats.scores_computed == 0
    n_ok = int((first.table["outcome"] != "failed").sum())
    assert len(judge.asked) == first.stats.verdicts_computed == n_ok
    again = Judge()
    second = run(store, again)
    assert again.asked == []  # every verdict from the store
    assert (second.stats.verdicts_computed, second.stats.verdicts_cached) == (0, n_ok)
    pd.testing.assert_series_equal(second.table["valid"], first.table["valid"])
    pd.testing.assert_series_equal(second.table["validity_reason"], first.table["validity_reason"])
    other = Judge(name="even/2")  # another identity: its own verdicts
    run(store, other)
    assert len(other.asked) == n_ok
    with _open(store) as s:
        judges = {j for (j,) in s._db.execute("SELECT DISTINCT judge FROM verdicts")}
        assert judges == {"even/1", "even/2"} and s.open_claims() == 0


class _open:
    """A Store as a context manager (closed after the test looks)."""

    def __init__(self, path):
        self.store = Store(path)

    def __enter__(self):
        return self.store

    def __exit__(self, *exc):
        self.store.close()


def test_undecided_verdicts_are_not_stored_and_asked_again(tmp_path):
    store = tmp_path / "s.sqlite"
    judge = Judge(undecided="manner")
    first = run(store, judge)
    t = first.table
    manner_ok = t[(t["attribute"] == "manner") & (t["outcome"] != "failed")]
    verbosity_ok = t[(t["attribute"] == "verbosity") & (t["outcome"] != "failed")]
    assert len(manner_ok) and manner_ok["valid"].isna().all()
    assert set(manner_ok["validity_reason"]) == {"cannot tell"}
    assert first.stats.judged_undecided == len(manner_ok)
    again = Judge()
    second = run(store, again)
    assert {r.attribute.name for r in again.asked} == {"manner"}
    assert len(again.asked) == len(manner_ok)
    assert second.stats.verdicts_cached == len(verbosity_ok)
    sens = first.sensitivity(n_boot=0)
    manner = sens[(sens["attribute"] == "manner") & (sens["direction"] == "both")].iloc[0]
    assert manner["n_judged"] == 0 and pd.isna(manner["valid_rate"])  # undecided: not judged


def test_a_failing_judge_leaves_rows_undecided_and_nothing_stored(tmp_path):
    store = tmp_path / "s.sqlite"
    res = run(store, Judge(broken=True))
    ok = res.table[res.table["outcome"] != "failed"]
    assert ok["valid"].isna().all()
    assert ok["validity_reason"].str.startswith("judge call failed (ConnectionError").all()
    with _open(store) as s:
        assert s.get_verdicts([]) == {}
        assert s._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0] == 0
        assert s.open_claims() == 0
    fixed = Judge()
    run(store, fixed)
    assert len(fixed.asked) == len(ok)  # the rerun retries every one


def test_unsupported_attribute_needs_no_judge_call(tmp_path):
    judge = Judge(unsupported="manner")
    res = run(tmp_path / "s.sqlite", judge)
    t = res.table
    manner = t[(t["attribute"] == "manner") & (t["outcome"] != "failed")]
    assert len(manner) and manner["valid"].isna().all()
    assert set(manner["validity_reason"]) == {"even/1 has no test for 'manner'"}
    assert {r.attribute.name for r in judge.asked} == {"verbosity"}
    assert res.stats.judged_undecided == len(manner)


def test_null_rows_and_back_rewrites_are_not_judged(tmp_path):
    judge = Judge()
    res = run(
        tmp_path / "s.sqlite",
        judge,
        null_perturber=rmx.RandomWordPerturber(),
        effects=True,
    )
    n_ok = int((res.table["outcome"] != "failed").sum())
    assert len(judge.asked) == n_ok  # neither the null's rewrites nor the back-rewrites
    assert res.null_table is not None and res.null_table["valid"].isna().all()
    assert res.stats.effects_work_items == n_ok


def test_callable_judge_and_cache_key_covers_the_request(tmp_path):
    calls = []

    def fn(original, rewrite, attribute, direction):
        calls.append(attribute)
        return direction == "worse"

    res = run(tmp_path / "s.sqlite", CallableJudge(fn, name="worse-only/1"))
    ok = res.table[res.table["outcome"] != "failed"]
    assert ok["valid"].tolist() == (ok["direction"] == "worse").tolist()
    assert set(ok["validity_reason"]) == {"judged valid", "judged invalid"}
    assert len(calls) == len(ok)
    cj = CachedJudge(Judge(), Store(None))
    (a,) = resolve_attributes(["verbosity"])
    edited = type(a)(a.name, a.definition + " (edited)", a.worse, a.better)
    base = JudgeRequest("p", "orig", "new", a, "worse")
    keys = {
        cj.key(base),
        cj.key(JudgeRequest("p", "orig", "new", a, "better")),
        cj.key(JudgeRequest("p", "orig", "new!", a, "worse")),
        cj.key(JudgeRequest("q", "orig", "new", a, "worse")),
        cj.key(JudgeRequest("p", "orig2", "new", a, "worse")),
        cj.key(JudgeRequest("p", "orig", "new", edited, "worse")),
        CachedJudge(Judge(name="even/2"), Store(None)).key(base),
    }
    assert len(keys) == 7


def test_legacy_store_gains_only_the_new_cache_tables(tmp_path):
    store = tmp_path / "store.sqlite"
    shutil.copy(DATA / "legacy_store_v2.sqlite", store)

    def snapshot():
        with sqlite3.connect(store) as db:
            tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            rows = {
                t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("perturbations", "scores")
            }
            schema = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0]
        return tables, rows, schema

    tables, rows, schema = snapshot()
    assert "verdicts" not in tables
    Store(store).close()
    tables2, rows2, schema2 = snapshot()
    # the verdicts (rewrite judges) and pair_scores (pairwise judges) caches, nothing else
    assert tables2 == tables | {"verdicts", "pair_scores"}
    assert rows2 == rows and schema2 == schema == "2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rmx.Explainer(
            rmx.TransparentRewardModel(),
            rmx.RulePerturber(),
            attributes=["verbosity", "manner", "avoid-to-answer", "correctness"],
            store=store,
            progress=False,
            judge=Judge(),
        ).explain(rmx.sample_comparisons()[:8])
    assert res.stats.perturbations_computed == 0 and res.stats.scores_computed == 0
    assert res.stats.verdicts_computed == int((res.table["outcome"] != "failed").sum())


def test_streamed_files_carry_the_verdicts_and_valid_only(tmp_path):
    store = tmp_path / "s.sqlite"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = explainer(store, Judge())
        with pytest.raises(OptionError, match="needs judged rewrites"):
            explainer(store).explain_to(
                rmx.sample_comparisons()[:6], tmp_path / "no", valid_only=True
            )
        assert not (tmp_path / "no").exists()
        saved = ex.explain_to(rmx.sample_comparisons()[:6], tmp_path / "out", valid_only=True)
        full = ex.explain(rmx.sample_comparisons()[:6])
    table = read_table(saved.paths["table_parquet"])
    assert str(table["valid"].dtype) == "boolean"
    assert table["valid"].tolist() == full.table["valid"].tolist()
    jsonl = read_table(saved.paths["table_jsonl"])
    assert jsonl["valid"].tolist() == full.table["valid"].tolist()
    sens = pd.read_csv(saved.paths["sensitivity"])
    expected = full.sensitivity(valid_only=True)
    assert sens["n"].tolist() == expected["n"].tolist()
    assert saved.summary["sensitivity_valid_only"] is True
    assert saved.summary["valid_rate"] == pytest.approx(full.summary()["valid_rate"])
    report = saved.paths["report"].read_text()
    assert "Rewrite validity" in report and "Computed on valid rewrites only" in report


def test_report_validity_section_counts_every_rewrite_also_when_valid_only(tmp_path):
    from rmx_widgets.core.readability import failed_text
    from rmx_widgets.core.report import report_html

    res = run(tmp_path / "s.sqlite", Judge(), n=8)
    t = res.table
    html = report_html(t, sens=res.sensitivity(n_boot=0, valid_only=True))
    section = html[html.index("<h2>Rewrite validity</h2>") :]
    section = section[: section.index("<h2>", 5)]
    assert "computed on the valid rewrites only" in section
    for name, rows in t.groupby("attribute"):
        failed = int((rows["outcome"] == "failed").sum())
        ok = rows[rows["outcome"] != "failed"]
        valid = int(ok["valid"].sum())
        # failed / attempted over every rewrite, not over the valid ones the figures use
        cells = f"<td>{name}</td><td>{failed_text(len(ok), failed)}</td>"
        assert cells + f"<td>{valid}/{len(ok)} ({valid / len(ok):.2f})</td>" in section


def test_a_table_saved_before_the_columns_existed_loads_charts_and_reports(tmp_path):
    from rmx_widgets.core.charts import sensitivity_chart
    from rmx_widgets.core.report import report_html
    from rmx_widgets.core.sensitivity import sensitivity

    old = pd.read_json(DATA / "legacy_table_rules.jsonl", orient="records", lines=True)
    assert "valid" not in old.columns
    path = tmp_path / "table.jsonl"
    old.to_json(path, orient="records", lines=True)
    table = read_table(path)
    sens = sensitivity(table, n_boot=0)
    assert (sens["n_judged"] == 0).all() and sens["valid_rate"].isna().all()
    sensitivity_chart(sens)
    html = report_html(table, sens=sens)
    assert "Rewrite validity" in html and "no rewrite judge verdict" in html
    with pytest.raises(OptionError, match="needs judged rewrites"):
        sensitivity(table, n_boot=0, valid_only=True)


def test_a_bad_judge_is_refused_before_the_store_is_created(tmp_path):
    with pytest.raises(OptionError, match="is not a rewrite judge"):
        explainer(tmp_path / "s.sqlite", judge="features")
    with pytest.raises(OptionError, match="must take"):
        explainer(tmp_path / "s.sqlite", judge=lambda original, rewrite: True)
    assert list(tmp_path.iterdir()) == []
