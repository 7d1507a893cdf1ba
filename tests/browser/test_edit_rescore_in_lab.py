"""Edit and rescore in a real JupyterLab: edit a rewrite, rescore it, see the new outcome.

The toy RM scores -len(response) / 10. Response A ("short answer", 12 characters, -1.2) beats
B (43 characters, -4.3) by 3.1; the perturber's worse rewrite of A appends " padding" (20
characters, -2.0: margin 2.3, SF). Edited by hand to A plus a 43-character tail (55
characters, -5.5) the rewrite now loses to B: margin -5.5 − (-4.3) = −1.200, a CF. A second
view built without an RM offers no Edit button and says why in a tooltip.
"""

from __future__ import annotations

import pytest
from lab_harness import Browser, Lab, open_notebook, run_all, wait_for

pytestmark = pytest.mark.browser

SETUP = """\
import rmx_widgets as rmx

comparisons = [rmx.Comparison(id="pair-0", prompt="Say something short.",
                              response_a="short answer",
                              response_b="a much longer answer with many extra words.")]


def rm(prompts, responses):
    return [-len(r) / 10 for r in responses]


def perturb(prompt, response, attribute, direction):
    return response + " padding" if direction == "worse" else response[:-6]


explainer = rmx.Explainer(rm, perturb, attributes=["verbosity"], progress=False)
result = explainer.explain(comparisons)
view = rmx.ComparisonView(result, rm=explainer)
"""
EDITED = "short answer" + " and then some more words to make it longer"  # 55 characters


def test_edit_a_rewrite_rescore_and_see_the_new_outcome(lab: Lab, browser_page: Browser) -> None:
    page = browser_page.page
    nb = lab.write_notebook(
        "edit_rescore.ipynb",
        [SETUP, "view", "rmx.ComparisonView(result)"],
    )
    open_notebook(lab, page, nb)
    run_all(lab, page, nb)
    views = page.locator(".rmx-comparison-view")
    wait_for(lambda: views.count() == 2, 30, "both ComparisonViews", page)
    view, plain = views.nth(0), views.nth(1)
    card = view.locator('[data-testid="rmx-row"]').filter(has_text="chosen response")
    card.wait_for()
    assert card.locator('[data-testid="rmx-badge"]').first.text_content() == "SF"

    card.locator('[data-testid="rmx-edit-row"]').click()
    area = card.locator('[data-testid="rmx-edit-text"]')
    assert area.input_value() == "short answer padding"
    area.fill(EDITED)
    card.locator('[data-testid="rmx-rescore"]').click()
    edited = card.locator('[data-testid="rmx-edited"]')
    edited.wait_for(timeout=30_000)
    assert edited.locator('[data-testid="rmx-badge"]').text_content() == "CF"
    text = edited.text_content() or ""
    assert "edited" in text and "\u22121.200" in text and "+3.100" in text
    assert edited.locator("ins").count() >= 1  # the diff against the original response
    editor = card.locator('[data-testid="rmx-editor"]')
    wait_for(lambda: editor.count() == 0, 30, "the editor to close", page)
    status = view.locator('[data-testid="rmx-edit-status"]').text_content() or ""
    assert status.startswith("edit 1:") and "CF" in status

    edited.locator('[data-testid="rmx-undo-edit"]').click()
    wait_for(lambda: edited.count() == 0, 30, "the undone edit to go", page)
    assert card.locator('[data-testid="rmx-badge"]').first.text_content() == "SF"

    assert plain.locator('[data-testid="rmx-edit-row"]').count() == 0
    why = plain.locator('[data-testid="rmx-edit-unavailable"]').get_attribute("title") or ""
    assert "rm=" in why
    errors = [c for c in browser_page.console if c.startswith("pageerror")]
    assert not errors, errors


def test_the_edit_controls_read_in_light_and_dark_theme(lab: Lab, browser_page: Browser) -> None:
    """The editor, an edited rewrite, an edited response, the status and an error line: every
    text at least 4.5:1 in both themes (measured as test_dark_theme measures every widget)."""
    from test_dark_theme import MEASURE, MIN_CONTRAST, set_theme

    page = browser_page.page
    nb = lab.write_notebook("edit_theme.ipynb", [SETUP, "view"])
    set_theme(lab, None, "JupyterLab Light")
    try:
        open_notebook(lab, page, nb)
        run_all(lab, page, nb)
        view = page.locator(".rmx-comparison-view").first
        card = view.locator('[data-testid="rmx-row"]').filter(has_text="chosen response")
        card.wait_for()
        card.locator('[data-testid="rmx-edit-row"]').click()
        card.locator('[data-testid="rmx-edit-text"]').fill(EDITED)
        card.locator('[data-testid="rmx-rescore"]').click()
        card.locator('[data-testid="rmx-edited"]').wait_for(timeout=30_000)
        view.locator('[data-testid="rmx-edit-response-b"]').click()
        view.locator('[data-testid="rmx-edit-text"]').fill("a longer answer with many words.")
        view.locator('[data-testid="rmx-rescore"]').click()
        view.locator('[data-testid="rmx-rederived"]').first.wait_for(timeout=30_000)
        view.locator('[data-testid="rmx-write-rewrite"]').click()
        view.locator('[data-testid="rmx-rescore"]').click()  # empty: the error line
        view.locator('[data-testid="rmx-edit-error"]').wait_for(timeout=30_000)
        for theme in ("JupyterLab Light", "JupyterLab Dark"):
            set_theme(lab, page, theme)
            items = view.evaluate(MEASURE)["items"]
            texts = {x["text"] for x in items}
            assert any(t.startswith("Rescore failed") for t in texts), texts
            assert "Hand-written" not in texts and "Edited" in texts
            low = [x for x in items if x["r"] < MIN_CONTRAST]
            assert not low, f"{theme}: {low[:5]}"
    finally:
        set_theme(lab, None, "JupyterLab Light")  # the lab is shared with the other tests
