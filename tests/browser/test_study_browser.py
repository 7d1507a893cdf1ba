"""StudyView in a real JupyterLab: the quality table, the τ matrix and the PFR charts render, and
choosing an example shows its rewrites; a hostile reward-model name stays text."""

from __future__ import annotations

from typing import Any

import pytest
from lab_harness import Browser, Lab, open_notebook, run_all, screenshot_dir, shoot, wait_for

import rmx_widgets as rmx
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel as T
from rmx_widgets.core.study.run import evaluate

pytestmark = pytest.mark.browser

IMG = '<img src=x onerror="window.__pwned=1">'
SETUP = f"""\
import rmx_widgets as rmx
from rmx_widgets.core.study.run import evaluate
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel as T

w = {{"pleasantries": 13.5, "follow_up": 4.5, "hedging": -1.5, "off_topic": -0.5, "length": 0.4}}
rev = {{"pleasantries": 0.5, "follow_up": 1.5, "hedging": -4.5, "off_topic": -13.5, "length": 0.4}}
res = evaluate(rmx.sample_comparisons(),
               {{"planted": T(w, only=True), {IMG!r}: T(w, only=True, name="copy"),
                "reversed": T(rev, only=True)}},
               {{"rules": rmx.RulePerturber()}},
               attributes=["manner", "engagement", "assertiveness", "relevance"],
               progress=False, n_boot=200)
"""


def expected_study() -> Any:
    """The notebook's study, computed here too (deterministic) to check the rendered numbers."""
    w = {"pleasantries": 13.5, "follow_up": 4.5, "hedging": -1.5, "off_topic": -0.5, "length": 0.4}
    rev = {
        "pleasantries": 0.5,
        "follow_up": 1.5,
        "hedging": -4.5,
        "off_topic": -13.5,
        "length": 0.4,
    }
    return evaluate(
        rmx.sample_comparisons(),
        {
            "planted": T(w, only=True),
            IMG: T(w, only=True, name="copy"),
            "reversed": T(rev, only=True),
        },
        {"rules": rmx.RulePerturber()},
        attributes=["manner", "engagement", "assertiveness", "relevance"],
        progress=False,
        n_boot=200,
    )


def show_tab(study: Any, title: str) -> None:
    """Click a StudyView tab (its panels are tabs: only the front one is on screen)."""
    study.locator(".lm-TabBar-tab", has_text=title).first.click()
    study.locator(".lm-TabBar-tab.lm-mod-current", has_text=title).first.wait_for()


def table_cells(locator: Any) -> list[list[str]]:
    return locator.locator("tr").evaluate_all(
        "trs => trs.map((tr) => [...tr.children].map((c) => c.textContent.trim()))"
    )


def test_study_view_tables_charts_and_examples(lab: Lab, browser_page: Browser) -> None:
    res = expected_study()
    page = browser_page.page
    name = lab.write_notebook("study.ipynb", [SETUP, "rmx.StudyView(res)"])
    open_notebook(lab, page, name)
    run_all(lab, page, name)
    study = page.locator(".rmx-study")
    study.wait_for()
    tabs = study.locator(".lm-TabBar-tab").all_text_contents()
    assert [t.strip() for t in tabs] == [
        "Paper tables",
        "Quality",
        "Sensitivity",
        "RM vs RM (τ)",
        "Examples",
    ]
    assert not study.locator(".rmx-study-quality").is_visible()  # one panel at a time
    show_tab(study, "Quality")
    quality = study.locator(".rmx-study-quality table.quality")
    expected = res.main_table(side="both")
    assert table_cells(quality) == [list(expected.columns), *expected.astype(str).values.tolist()]
    study.locator(".rmx-study-quality button", has_text="chosen").click()
    chosen = res.main_table(side="chosen")
    wait_for(
        lambda: (
            table_cells(study.locator(".rmx-study-quality table.quality"))[1:]
            == chosen.astype(str).values.tolist()
        ),
        20,
        "the chosen-side quality table",
        page,
    )

    tau = res.tau_matrix()
    show_tab(study, "RM vs RM")
    rows = table_cells(study.locator(".rmx-study-tau table.tau-matrix"))
    assert rows[0] == ["τ", *res.rms]
    assert rows[1:] == [[a, *[f"{tau.loc[a, b]:.3f}" for b in res.rms]] for a in res.rms]

    sens = study.locator(".rmx-study-sensitivity")
    show_tab(study, "Sensitivity")
    wait_for(
        lambda: sens.locator("svg.marks").count() == len(res.rms),
        30,
        "one SVG PFR chart per reward model",
        page,
    )
    assert sens.locator('path[aria-roledescription="bar"]').count() > 0
    titles = sens.locator("svg.marks").evaluate_all(
        "svgs => svgs.map((s) => s.querySelector('.role-title-text')?.textContent || '')"
    )
    assert titles == [f"{rm} — rules" for rm in res.rms]

    examples = study.locator(".rmx-study-examples")
    show_tab(study, "Examples")
    view = examples.locator(".rmx-comparison-view")
    first = res.representatives.iloc[0].comparison_id
    wait_for(
        lambda: (
            view.locator('[data-testid="rmx-comparison-id"]').text_content().strip()
            == f"Comparison {first}"
            and view.locator('[data-testid="rmx-row"]').count() > 0
        ),
        20,
        "the first representative example",
        page,
    )
    con = res.contrasting[res.contrasting["rm_b"] == "reversed"].iloc[0]
    label = (
        f"contrasting {con.rm_a} vs reversed #{con['rank']}: {con.comparison_id} "
        f"(τ = {con.tau:.2f})"
    )
    examples.locator("select").first.select_option(label=label)
    wait_for(
        lambda: (
            view.locator('[data-testid="rmx-comparison-id"]').text_content().strip()
            == f"Comparison {con.comparison_id}"
        ),
        20,
        "the chosen contrasting example",
        page,
    )
    table = res.tables[("data", con.rm_a, "rules")]
    n = int((table["comparison_id"] == con.comparison_id).sum())
    wait_for(
        lambda: view.locator('[data-testid="rmx-row"]').count() == min(n, 20),
        20,
        f"{n} rewrite rows of the contrasting example",
        page,
    )
    assert examples.locator("button", has_text="reversed").is_visible()

    # the hostile RM name is shown as text everywhere, never run
    show_tab(study, "Quality")
    assert IMG in study.locator(".rmx-study-quality").text_content()
    assert study.locator("img").count() == 0
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned") is None
    errors = [c for c in browser_page.console if c.startswith("pageerror")]
    assert not errors and not browser_page.dialogs, (errors, browser_page.dialogs)


SCREENSHOT_SETUP = """\
import rmx_widgets as rmx

PLANTED = {"pleasantries": 13.5, "follow_up": 4.5, "hedging": -1.5, "off_topic": -0.5,
           "length": 0.4}
REVERSED = {"pleasantries": 0.5, "follow_up": 1.5, "hedging": -4.5, "off_topic": -13.5,
            "length": 0.4}
study = rmx.evaluate(rmx.sample_comparisons(),
                     {"planted": rmx.TransparentRewardModel(PLANTED, only=True),
                      "reversed": rmx.TransparentRewardModel(REVERSED, only=True)},
                     {"rules": rmx.RulePerturber(), "random": rmx.RandomWordPerturber()},
                     attributes=["manner", "engagement", "assertiveness", "relevance"],
                     progress=False, n_boot=200)
"""


def test_screenshots_of_the_study_view(lab: Lab, browser_page: Browser, tmp_path) -> None:
    """The README's StudyView pictures: the quality table with the τ matrix, and the PFR
    charts (``make screenshots`` writes them to docs/images)."""
    images = screenshot_dir(tmp_path)
    page = browser_page.new_page({"width": 1280, "height": 2400})
    name = lab.write_notebook("study_shot.ipynb", [SCREENSHOT_SETUP, "rmx.StudyView(study)"])
    open_notebook(lab, page, name)
    run_all(lab, page, name)
    study = page.locator(".rmx-study")
    study.wait_for()
    sens = study.locator(".rmx-study-sensitivity")
    show_tab(study, "Sensitivity")
    wait_for(lambda: sens.locator("svg.marks").count() == 2, 30, "both PFR charts", page)
    page.mouse.move(0, 0)
    show_tab(study, "Quality")
    shoot(study.locator(".rmx-study-quality"), images / "study_quality.png")
    show_tab(study, "Sensitivity")
    page.mouse.move(0, 0)
    shoot(sens, images / "study_sensitivity.png")
    show_tab(study, "RM vs RM")
    shoot(study.locator(".rmx-study-tau"), images / "study_tau.png")
