"""The paper's Table 1 and Table 2 of a study (core.study.paper_tables), through the real
``evaluate``: every cell is recomputed here from the per-comparison quality rows, the tables'
shape and row order are fixed, and they reach the CSVs, the report and the CLI.

The study: two transparent RMs (the default weights, and length only), two tiny data sets
(``alpha``: 10 comparisons, two disjoint seeds of 4, so the ± is over seeds; ``beta``: 5
comparisons, the seeds overlap, so the ± is over the distinct comparisons), and four methods
given in a scrambled order: the random-words baseline, a baseline whose every rewrite fails
(unchanged text), the rule perturber, and an attribute perturber that never flips a
preference (it only lengthens the preferred response and shortens the other one), so it
finds no CF at all.
"""

from __future__ import annotations

import json
import math
import warnings
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.cli import main
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.perturbers.base import BasePerturber
from rmx_widgets.core.perturbers.polyjuice import PolyjuicePerturber
from rmx_widgets.core.perturbers.random_words import RandomWordPerturber
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel
from rmx_widgets.core.study.paper_tables import TABLE1_COLUMNS, TABLE2_COLUMNS, method_order
from rmx_widgets.core.study.report import study_report_html
from rmx_widgets.core.study.run import evaluate

BROKEN = "broken <i>pj</i>"  # a user-given name: escaped wherever it is shown


class Broken(BasePerturber):
    """An attribute-blind baseline whose every rewrite fails (returns the text unchanged)."""

    identity = "broken:v1"
    attribute_aware = False

    def perturb(self, request):
        return request.response


def steady(prompt, response, attribute, direction):
    """Never flips: the preferred response only gets longer, the other one only shorter."""
    if direction == "worse":
        return response + " and some more words here"
    return " ".join(response.split()[:-1])


@pytest.fixture(scope="module")
def study():
    comps = rmx.sample_comparisons()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # beta's seeds overlap: evaluate warns
        return evaluate(
            {"alpha": comps[:10], "beta": comps[10:15]},
            {
                "default": TransparentRewardModel(),
                "length": TransparentRewardModel({"length": 1.0}, only=True),
            },
            {
                "random": RandomWordPerturber(),
                BROKEN: Broken(),
                "rules": rmx.RulePerturber(),
                "steady": rmx.CallablePerturber(steady, name="steady:v1"),
            },
            seeds=2,
            per_seed=4,
            progress=False,
            n_boot=0,
        )


METHODS = ["rules", "steady", "random", BROKEN]  # attribute-aware first, then the baselines


# -- the figures by hand -------------------------------------------------------------------


def mean_se(values):
    """Mean and sample-std / √n of the finite values (se NaN below two)."""
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    if len(v) == 0:
        return math.nan, math.nan
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan)


def nanmean(values):
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    return float(v.mean()) if len(v) else math.nan


def hand(study, ds, rm, method, side, kind):
    """{figure: (mean, se, n)} of one summary row, from ``per_comparison`` and the samples:
    disjoint seeds average the per-seed values and take their spread; overlapping seeds pool
    the distinct comparisons (failed rate: the ratio estimator over comparisons)."""
    pc = study.per_comparison
    rows = pc[
        (pc["dataset"] == ds)
        & (pc["rm"] == rm)
        & (pc["perturber"] == method)
        & (pc["side"] == side)
        & (pc["kind"] == kind)
    ]
    samples = study.samples[ds]
    union = sorted(set().union(*samples.values()))
    rows = rows[rows["comparison_id"].isin(union)]
    found = rows[rows["found"]]
    out = {"coverage_n": len(rows)}
    for m in ("syntactic", "semantic", "diversity"):
        out[f"{m}_n"] = int(np.isfinite(found[m].to_numpy(float)).sum())
    out["n_rewrites"], out["n_failed"] = int(rows["n_rewrites"].sum()), int(rows["n_failed"].sum())
    if study.sampling[ds] == "disjoint":
        per_seed = {k: [] for k in ("coverage", "syntactic", "semantic", "diversity", "failed")}
        for ids in samples.values():
            mine = rows[rows["comparison_id"].isin(ids)]
            hit = mine[mine["found"]]
            per_seed["coverage"].append(mine["found"].astype(float).mean())
            for m in ("syntactic", "semantic", "diversity"):
                per_seed[m].append(nanmean(hit[m].to_numpy(float)))
            n = mine["n_rewrites"].sum()
            per_seed["failed"].append(mine["n_failed"].sum() / n if n else math.nan)
        for k, values in per_seed.items():
            out[k] = mean_se(values)
    else:
        out["coverage"] = mean_se(rows["found"].astype(float))
        for m in ("syntactic", "semantic", "diversity"):
            out[m] = mean_se(found[m].to_numpy(float))
        f, n = rows["n_failed"].to_numpy(float), rows["n_rewrites"].to_numpy(float)
        r = f.sum() / n.sum()
        se = math.sqrt(((f - r * n) ** 2).sum() / (len(n) * (len(n) - 1))) / n.mean()
        out["failed"] = (r, se)
    return out


def same(got, want):
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    return got == pytest.approx(want, abs=1e-12)


def cell(mean, se, detail=""):
    notes = [detail] if detail else []
    if math.isnan(mean):
        text = "not measured"
    elif math.isnan(se):
        text, notes = f"{mean:.3f}", [*notes, "no s.e."]
    else:
        text = f"{mean:.3f} ± {se:.3f}"
    return f"{text} ({', '.join(notes)})" if notes else text


# -- Table 1 -------------------------------------------------------------------------------


def test_table1_shape_and_order(study):
    t1 = study.paper_table1
    assert list(t1.columns) == TABLE1_COLUMNS
    expected = [
        (ds, rm, m) for ds in ("alpha", "beta") for rm in ("default", "length") for m in METHODS
    ]
    assert list(zip(t1["dataset"], t1["rm"], t1["method"])) == expected
    assert list(t1["role"][:4]) == ["attribute", "attribute", "baseline", "baseline"]
    assert set(t1.loc[t1["dataset"] == "alpha", "se_over"]) == {"seeds"}
    assert set(t1.loc[t1["dataset"] == "beta", "se_over"]) == {"comparisons"}
    shown = study.paper_table(1, "beta", formatted=True)
    assert list(shown.columns) == [
        "RM",
        "method",
        "n",
        "CF Chosen",
        "CF Rejected",
        "CF Both",
        "SF Chosen",
        "SF Rejected",
        "SF Both",
        "failed rewrites",
        "± s.e. over",
    ]
    assert list(zip(shown["RM"], shown["method"])) == [e[1:] for e in expected[8:]]
    with pytest.raises(RMXError, match="tables 1 and 2"):
        study.paper_table(3)
    with pytest.raises(RMXError, match="unknown data set"):
        study.paper_table(1, "gamma")


@pytest.mark.parametrize("ds", ["alpha", "beta"])
@pytest.mark.parametrize("rm", ["default", "length"])
def test_table1_cells_by_hand(study, ds, rm):
    rows = study.paper_table(1, ds).set_index(["rm", "method"])
    shown = study.paper_table(1, ds, formatted=True).set_index(["RM", "method"])
    n_explained = len(set().union(*study.samples[ds].values()))  # no ties in these samples
    for method in METHODS:
        row, text = rows.loc[(rm, method)], shown.loc[(rm, method)]
        assert row["n_comparisons"] == text["n"] == n_explained
        assert row["n_ties"] == 0
        for kind in ("CF", "SF"):
            for side in ("chosen", "rejected", "both"):
                h = hand(study, ds, rm, method, side, kind)
                mean, se = h["coverage"]
                col = f"{kind.lower()}_{side}"
                assert same(row[col], mean) and same(row[f"{col}_se"], se), (method, col)
                assert h["coverage_n"] == n_explained
                assert text[f"{kind} {side.capitalize()}"] == cell(mean, se)
                assert row[f"n_rewrites_{side}"] == h["n_rewrites"]
                assert row[f"n_failed_{side}"] == h["n_failed"]
                assert same(row[f"failed_rate_{side}"], h["failed"][0])
                assert same(row[f"failed_rate_{side}_se"], h["failed"][1])
        h = hand(study, ds, rm, method, "both", "CF")
        detail = f"{h['n_failed']} of {h['n_rewrites']}"
        assert text["failed rewrites"] == cell(*h["failed"], detail)


def test_table1_degenerate_rows(study):
    """The all-failed baseline: coverage exactly 0 everywhere, failed 1 of every rewrite (one
    per comparison × attribute and side); the never-flipping method: CF coverage 0."""
    n_attrs = len(study.config["attributes"])
    t1 = study.paper_table1
    for ds, n in (("alpha", 8), ("beta", 5)):
        broken = t1[(t1["dataset"] == ds) & (t1["method"] == BROKEN)]
        assert len(broken) == 2
        for col in ("cf_chosen", "cf_rejected", "cf_both", "sf_chosen", "sf_rejected", "sf_both"):
            assert (broken[col] == 0.0).all()
        assert (broken["n_rewrites_both"] == 2 * n * n_attrs).all()
        assert (broken["n_failed_both"] == broken["n_rewrites_both"]).all()
        assert (broken["failed_rate_both"] == 1.0).all()
        shown = study.paper_table(1, ds, formatted=True)
        cells = shown.loc[shown["method"] == BROKEN, "failed rewrites"]
        assert set(cells) == {f"1.000 ± 0.000 ({2 * n * n_attrs} of {2 * n * n_attrs})"}
        steady_rows = t1[(t1["dataset"] == ds) & (t1["method"] == "steady")]
        assert (steady_rows[["cf_chosen", "cf_rejected", "cf_both"]] == 0.0).all().all()
        assert (steady_rows["n_failed_both"] == 0).all()
    # the rules do find CFs (so the table is not all zeros)
    assert (t1.loc[t1["method"] == "rules", "cf_chosen"] > 0).all()


# -- Table 2 -------------------------------------------------------------------------------


def test_table2_shape(study):
    t2 = study.paper_table2
    assert list(t2.columns) == TABLE2_COLUMNS
    assert set(t2["side"]) == {"either"}
    assert list(t2["method"][:4]) == METHODS and list(t2["rm"][:5]) == ["default"] * 4 + ["length"]
    shown = study.paper_table(2, "alpha", formatted=True)
    assert list(shown.columns) == [
        "RM",
        "method",
        "CF syntactic",
        "CF semantic",
        "CF diversity",
        "SF syntactic",
        "SF semantic",
        "SF diversity",
        "± s.e. over",
    ]
    assert len(shown) == 8


@pytest.mark.parametrize("ds", ["alpha", "beta"])
@pytest.mark.parametrize("rm", ["default", "length"])
def test_table2_cells_by_hand(study, ds, rm):
    rows = study.paper_table(2, ds).set_index(["rm", "method"])
    shown = study.paper_table(2, ds, formatted=True).set_index(["RM", "method"])
    for method in METHODS:
        row, text = rows.loc[(rm, method)], shown.loc[(rm, method)]
        for kind in ("CF", "SF"):
            h = hand(study, ds, rm, method, "either", kind)
            for m in ("syntactic", "semantic", "diversity"):
                mean, se = h[m]
                col = f"{kind.lower()}_{m}"
                assert same(row[col], mean) and same(row[f"{col}_se"], se), (method, col)
                assert row[f"{col}_n"] == h[f"{m}_n"]
                assert text[f"{kind} {m}"] == cell(mean, se, f"n={h[f'{m}_n']}")
        h = hand(study, ds, rm, method, "either", "CF")
        assert row["n_rewrites"] == h["n_rewrites"] and row["n_failed"] == h["n_failed"]


def test_table2_not_measured_is_never_zero(study):
    """No CF found (the steady method, the failed baseline): NaN, shown "not measured"."""
    t2 = study.paper_table2
    for method in ("steady", BROKEN):
        rows = t2[t2["method"] == method]
        for m in ("syntactic", "semantic", "diversity"):
            assert rows[f"cf_{m}"].isna().all() and (rows[f"cf_{m}_n"] == 0).all()
    for ds in ("alpha", "beta"):
        shown = study.paper_table(2, ds, formatted=True)
        for method, kinds in (("steady", ("CF",)), (BROKEN, ("CF", "SF"))):
            row = shown[shown["method"] == method]
            for kind in kinds:
                for m in ("syntactic", "semantic", "diversity"):
                    assert set(row[f"{kind} {m}"]) == {"not measured (n=0)"}
        # the steady method does find SFs: those are measured
        assert (
            not shown.loc[shown["method"] == "steady", "SF syntactic"].str.startswith("not").any()
        )


def test_method_order_follows_the_paper():
    """Attribute-aware methods first (in the study's order), then random, paraphrase,
    Polyjuice by their identities, then other baselines in the study's order."""
    perturbers = {
        "pj": PolyjuicePerturber("/nonexistent/polyjuice").identity,
        "mine": "callable:mine:v1",
        "para": rmx.ParaphrasePerturber(
            rmx.OpenAIPerturber("m", base_url="http://127.0.0.1:9/v1")
        ).identity,
        "rules": rmx.RulePerturber().identity,
        "rnd": RandomWordPerturber().identity,
        "llm": "openai:m@127.0.0.1:9:prompt-v2",
    }
    order = method_order(perturbers, ["pj", "mine", "para", "rnd"])
    assert order == ["rules", "llm", "rnd", "para", "pj", "mine"]


# -- where the tables show up --------------------------------------------------------------


def test_csv_round_trip(study, tmp_path):
    paths = study.save(tmp_path / "study", report=False)
    assert {"paper_table1.csv", "paper_table2.csv"} <= set(study.file_names(True))
    for name, frame in (("paper_table1", study.paper_table1), ("paper_table2", study.paper_table2)):
        back = pd.read_csv(paths[name])
        assert paths[name].name == f"{name}.csv"
        pd.testing.assert_frame_equal(back, frame, check_dtype=False)


class Page(HTMLParser):
    """The report as a browser parses it: in document order, the h2/h3 headings, the
    caption paragraphs and the tables (class, rows of cell texts)."""

    def __init__(self, text):
        super().__init__()
        self.items: list[tuple[str, object]] = []
        self._text: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("h2", "h3") or (tag == "p" and "caption" in (attrs.get("class") or "")):
            self._text = []
            self.items.append((tag, None))
        elif tag == "table":
            self.items.append(("table", (attrs.get("class") or "", [])))
        elif tag == "tr":
            self.items[-1][1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("h2", "h3", "p") and self._text is not None:
            self.items[-1] = (self.items[-1][0], "".join(self._text))
            self._text = None
        elif tag in ("td", "th") and self._cell is not None:
            self.items[-1][1][1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        for part in (self._text, self._cell):
            if part is not None:
                part.append(data)


def rows_of(table: pd.DataFrame) -> list[list[str]]:
    return [list(table.columns)] + [[str(v) for v in r] for r in table.itertuples(index=False)]


def test_report_has_both_tables_per_data_set_near_the_top(study):
    html = study_report_html(study)
    assert BROKEN not in html  # escaped
    items = Page(html).items
    for ds in study.datasets:
        start = items.index(("h2", f"Data set: {ds}"))
        section = items[start + 1 :]
        end = next((i for i, (tag, _) in enumerate(section) if tag == "h2"), len(section))
        section = section[:end]
        # Table 1, its caption, the table; then Table 2 likewise; then the rest of the section
        assert section[0] == ("h3", "Table 1: coverage")
        assert section[1] == ("p", study.paper_table_caption(1, ds))
        assert section[2] == (
            "table",
            ("paper-table1", rows_of(study.paper_table(1, ds, formatted=True))),
        )
        assert section[3] == ("h3", "Table 2: distances and diversity")
        assert section[4] == ("p", study.paper_table_caption(2, ds))
        assert section[5] == (
            "table",
            ("paper-table2", rows_of(study.paper_table(2, ds, formatted=True))),
        )
        assert section[6] == ("h3", "Quality of the explanations")
    caption = study.paper_table_caption(1, "alpha")
    assert "mean over 2 disjoint seeded samples of 4 comparisons" in caption
    assert "over the distinct sampled comparisons" in study.paper_table_caption(2, "beta")
    assert "side 'either'" in study.paper_table_caption(2, "beta")


def test_cli_prints_both_tables_per_data_set(tmp_path, capsys):
    comps = rmx.sample_comparisons()
    for name, part in (("one", comps[:4]), ("two", comps[4:8])):
        lines = [
            json.dumps(
                {"id": c.id, "prompt": c.prompt, "chosen": c.response_a, "rejected": c.response_b}
            )
            for c in part
        ]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "study"
    argv = [
        "evaluate",
        "--data",
        f"one={tmp_path / 'one.jsonl'}",
        "--data",
        f"two={tmp_path / 'two.jsonl'}",
    ]
    argv += ["--rm", "transparent", "--perturber", "rules", "--perturber", "random"]
    argv += ["--seeds", "1", "--per-seed", "4", "--n-boot", "1", "--no-report", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    t1 = pd.read_csv(out / "paper_table1.csv")
    assert list(zip(t1["dataset"], t1["method"])) == [
        (d, m) for d in ("one", "two") for m in ("rules", "random")
    ]
    from rmx_widgets.core.study import paper_tables

    for ds in ("one", "two"):
        for number, fmt in ((1, paper_tables.format_table1), (2, paper_tables.format_table2)):
            frame = pd.read_csv(out / f"paper_table{number}.csv")
            table = fmt(frame[frame["dataset"] == ds])
            assert f"[{ds}] Table {number} ({ds})" in printed
            assert table.to_string(index=False) in printed
    assert (
        printed.index("[one] Table 1")
        < printed.index("[one] Table 2")
        < printed.index("[one] explanation quality")
    )
