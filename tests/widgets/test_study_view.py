"""StudyView without a browser: its panels reflect the StudyResult, and switching the side, the
data set or the example updates the views; user names and model text stay escaped."""

from __future__ import annotations

import html

import pytest
from planted import PLANTED_ORDER, planted_rms

import rmx_widgets as rmx
from rmx_widgets.core.study.run import evaluate
from rmx_widgets.widgets import StudyView

ATTRS = PLANTED_ORDER
SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


def rms(copy_name: str = "copy") -> dict:
    return planted_rms(copy_name)


@pytest.fixture(scope="module")
def study():
    return evaluate(
        rmx.sample_comparisons(),
        rms(),
        {"rules": rmx.RulePerturber()},
        attributes=ATTRS,
        progress=False,
        n_boot=100,
    )


@pytest.fixture(scope="module")
def two_sets():
    comps = rmx.sample_comparisons()
    return evaluate(
        {"first": comps[:26], f"second {SCRIPT}": comps[26:]},
        rms(IMG),
        {"rules": rmx.RulePerturber()},
        attributes=ATTRS,
        seeds=2,
        per_seed=20,
        progress=False,
        n_boot=50,
    )


def cells(table_html: str, main) -> None:
    """Every value of the expected main table appears, escaped, as a cell."""
    for value in main.astype(str).values.ravel():
        assert f"<td>{html.escape(value)}</td>" in table_html, value


def test_panels_reflect_the_result(study):
    view = StudyView(study)
    assert view.dataset_picker not in view.children[1].children  # one data set: no dropdown
    assert view.side.value == "both" and list(view.side.options) == [
        "chosen",
        "rejected",
        "both",
        "either",
    ]
    cells(view.quality.value, study.main_table("data", "both"))
    assert 'class="quality side-both"' in view.quality.value
    tau = study.tau_matrix("data")
    for a in study.rms:
        row = "".join(f'<td class="num">{tau.loc[a, b]:.3f}</td>' for b in study.rms)
        assert f"<tr><td>{a}</td>{row}</tr>" in view.tau.value
    assert list(view.charts) == study.rms
    for rm, chart in view.charts.items():
        expected = study.sensitivity[study.sensitivity["rm"] == rm]
        assert chart.sens["pfr"].tolist() == expected["pfr"].tolist()
        assert chart.title == f"{rm} — rules" and chart.layout.display is None
    assert "44 comparisons" in view.sensitivity_note.value
    assert view.perturber.value == "rules" and view.perturber.layout.display == "none"
    n = len(study.representatives) + len(study.contrasting)
    assert len(view.examples.options) == n
    first = study.representatives.iloc[0]
    assert view.examples.value == ("representative", first.rm, first.comparison_id)
    assert view.view.comparison["id"] == first.comparison_id
    table = study.tables[("data", first.rm, "rules")]
    assert view.view.n_rows == int((table["comparison_id"] == first.comparison_id).sum()) > 0
    assert view.rewrites_of.layout.display == "none"


def test_switching_side_and_example_updates_the_views(study):
    view = StudyView(study)
    view.side.value = "chosen"
    assert 'class="quality side-chosen"' in view.quality.value
    cells(view.quality.value, study.main_table("data", "chosen"))
    assert "chosen (RM-preferred) response made worse" in view.quality.value

    con = study.contrasting[
        (study.contrasting["rm_a"] == "planted") & (study.contrasting["rm_b"] == "reversed")
    ].iloc[0]
    key = ("contrasting", "planted", "reversed", con.comparison_id)
    view.examples.value = key
    assert list(view.rewrites_of.options) == ["planted", "reversed"]
    assert view.rewrites_of.value == "planted" and view.rewrites_of.layout.display is None
    assert view.view.comparison["id"] == con.comparison_id
    rewards = {r["reward_original"] for r in view.view.rows}
    view.rewrites_of.value = "reversed"
    assert view.view.comparison["id"] == con.comparison_id
    assert {r["reward_original"] for r in view.view.rows} != rewards  # the other RM's scores
    orig = study.originals[("data", "reversed")].set_index("comparison_id")
    assert view.view.comparison["reward_a"] == pytest.approx(
        orig.loc[con.comparison_id, "reward_a"]
    )
    assert "reversed" in view.example_caption.value

    # a click on a chart bar filters the examples to that attribute
    view.charts["planted"].selected = "engagement"
    assert view.view.filters["attribute"] == "engagement"
    assert {r["attribute"] for r in view.view.rows} <= {"engagement"}


def test_switching_data_set_and_escaping(two_sets):
    view = StudyView(two_sets)
    second = f"second {SCRIPT}"
    assert view.dataset_picker in view.children[1].children
    assert list(view.dataset_picker.options) == ["first", second]
    before = view.quality.value
    cells(before, two_sets.main_table("first", "both"))
    first_examples = list(view.examples.options)

    view.dataset_picker.value = second
    cells(view.quality.value, two_sets.main_table(second, "both"))
    assert view.quality.value != before
    reps = two_sets.representatives
    assert view.examples.value[2] == reps[reps["dataset"] == second].iloc[0].comparison_id
    assert list(view.examples.options) != first_examples
    ids = {c.id for c in two_sets.comparisons[second]}
    assert view.view.comparison["id"] in ids
    n_agree = int(two_sets.tau[two_sets.tau["dataset"] == second]["n_agree"].iloc[0])
    assert f"over {n_agree} comparisons" in view.tau.value

    # user names are escaped in every HTML panel; option labels are text, not markup
    for widget in (view.header, view.quality, view.tau, view.sensitivity_note):
        assert SCRIPT not in widget.value and IMG not in widget.value
    assert html.escape(IMG) in view.quality.value and html.escape(IMG) in view.tau.value
    assert html.escape(IMG) in view.header.value
    labels = [label for label, _ in view.examples.options]
    assert any(IMG in label for label in labels)
    view.examples.value = next(v for _, v in view.examples.options if v[0] == "contrasting")
    assert IMG in view.rewrites_of.options and SCRIPT not in view.example_caption.value


def test_paper_tables_per_data_set(two_sets):
    """Table 1 and Table 2 of the data set on screen, every cell escaped text, under the
    caption that says what a cell is; switching the data set switches them."""
    view = StudyView(two_sets)
    assert view.tabs.children[0].children[1:] == tuple(view.paper_tables.values())
    second = f"second {SCRIPT}"
    for ds in ("first", second):
        view.dataset_picker.value = ds
        for n, widget in view.paper_tables.items():
            table = two_sets.paper_table(n, ds, formatted=True)
            assert len(table) == len(two_sets.rms)  # one method (rules) per RM
            cells(widget.value, table.drop(columns=["n"], errors="ignore"))
            for v in table.get("n", []):  # the comparisons behind Table 1's rows, a number
                assert f'<td class="num">{v}</td>' in widget.value
            assert f'class="paper-table{n}"' in widget.value
            assert html.escape(two_sets.paper_table_caption(n, ds)) in widget.value
            assert SCRIPT not in widget.value and IMG not in widget.value
    assert html.escape(IMG) in view.paper_tables[1].value  # the RM named like markup
    assert html.escape(SCRIPT) in view.paper_tables[2].value  # in the caption's data-set name


def test_panels_are_tabs_and_show_tab_brings_one_forward(study):
    """The five panels in tabs (not one tall column) in the paper's order; show_tab takes a
    key or a title and refuses anything else."""
    view = StudyView(study)
    assert view.children == (view.header, view.children[1], view.tabs)
    classes = [panel._dom_classes[0] for panel in view.tabs.children]
    assert classes == [
        "rmx-study-paper",
        "rmx-study-quality",
        "rmx-study-sensitivity",
        "rmx-study-tau",
        "rmx-study-examples",
    ]
    assert view.tabs.titles == (
        "Paper tables",
        "Quality",
        "Sensitivity",
        "RM vs RM (τ)",
        "Examples",
    )
    assert view.tabs.selected_index == 0 and view.current_tab == "paper"
    view.show_tab("examples")
    assert view.tabs.selected_index == 4 and view.current_tab == "examples"
    view.show_tab("Sensitivity")
    assert view.current_tab == "sensitivity"
    assert view.charts["planted"] in view.tabs.children[2].children
    with pytest.raises(ValueError, match="choose one of"):
        view.show_tab("charts")
