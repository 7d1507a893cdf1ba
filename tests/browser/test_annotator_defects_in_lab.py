"""The Annotator's defects of issue 14, as a person sees them in JupyterLab.

One toy run drives every test: six comparisons the RM (shorter is better) and the human label
(always B, the longer) disagree on, twenty attributes, so each example has 40 rewrites; one
attribute replaces the whole response, the others delete a word and insert padding.

- an unsaved note is saved on Next (the SQLite store has it) and is still there on Prev;
- the diff shows deletions (struck through, labelled for a screen reader) and a whole
  replacement as one old / new block; every reward and margin is labelled; the RM's choice,
  the human label and their disagreement are on screen;
- the tag controls are in the first viewport however many rewrites follow; a second Export
  writes a new file beside the first, and the CSV says who preferred what.
"""

from __future__ import annotations

import csv
import re
from typing import Any

import pytest
from lab_harness import Browser, Lab, open_notebook, run_all, wait_for

from rmx_widgets.core.store import Store

pytestmark = pytest.mark.browser

N_ATTRIBUTES = 20
SETUP = """\
import rmx_widgets as rmx
from rmx_widgets.widgets import Annotator

NAMES = [f"trait{i:02d}" for i in range(N)]
ATTRS = [rmx.Attribute(n, f"toy attribute {n}") for n in NAMES]
REPLACED = "Completely different words now stand where the whole answer was."
comparisons = [
    rmx.Comparison(
        id=f"pair-{i}",
        prompt=f"Question {i}: what is the capital of France?",
        response_a=f"Paris is the capital of France, answer {i}.",
        response_b=f"I think that the capital of France might well be Lyon, though Paris is "
        f"also possible, answer {i}.",
        human_preferred="b",
    )
    for i in range(6)
]


def rm(prompts, responses):
    return [-len(r) / 10 for r in responses]  # shorter is better: the RM picks A, the human B


def perturb(prompt, response, attribute, direction):
    i = NAMES.index(attribute.name)
    if i == 0:
        return REPLACED
    k = i + int(prompt[9])  # the question's number: the comparisons differ a little
    words = response.split()
    if direction == "worse":  # one word deleted, padding inserted
        return " ".join(words[:1] + words[2:] + ["padding"] * k)
    return " ".join(words[: max(3, len(words) - 1 - k % 7)])


explainer = rmx.Explainer(rm, perturb, attributes=ATTRS, store="runs/STORE.sqlite",
                          progress=False)
result = explainer.explain(comparisons)
"""
VIEWPORT_HEIGHT = 1000  # lab_harness's browser context
FIRST_VIEWPORT = 800  # px from the Annotator's top within which the tag controls must start


def _open(lab: Lab, page: Any, name: str) -> Any:
    """Write and run a notebook: the toy run, then an Annotator (store ``runs/<name>.sqlite``,
    exports into ``runs/<name>-export``); return the Annotator's root."""
    nb = lab.write_notebook(
        f"{name}.ipynb",
        [
            SETUP.replace("range(N)", f"range({N_ATTRIBUTES})").replace("STORE", name),
            f"Annotator(result, store=explainer.store, k=3, export_dir='runs/{name}-export')",
        ],
    )
    open_notebook(lab, page, nb)
    run_all(lab, page, nb)
    ann = page.locator(".rmx-annotator")
    ann.wait_for()
    wait_for(
        lambda: ann.locator('[data-testid="rmx-ann-row"]').count() == 2 * N_ATTRIBUTES,
        30,
        "the Annotator's rewrites",
        page,
    )
    return ann


def _status(page: Any, ann: Any, pattern: str) -> str:
    status = ann.locator('[data-testid="rmx-ann-status"]')
    return wait_for(
        lambda: re.search(pattern, status.text_content() or "") and status.text_content(),
        30,
        f"the Annotator's status to match {pattern!r}",
        page,
    )


def _no_page_errors(session: Browser) -> None:
    errors = [c for c in session.console if c.startswith("pageerror")]
    assert not errors, errors
    assert session.dialogs == []


def _example_id(ann: Any) -> str:
    return ann.locator('[data-testid="rmx-ann-example"] .rmx-id').first.text_content()


# -- 1. an unsaved note is not lost on Next ------------------------------------------------------
def test_an_unsaved_note_is_saved_on_next_and_kept(lab: Lab, browser_page: Browser) -> None:
    page = browser_page.page
    ann = _open(lab, page, "ann_next")
    first = _example_id(ann)
    note = "half a thought <b>kept</b>"
    ann.locator('[data-testid="rmx-ann-note"]').fill(note)
    ann.locator('[data-testid="rmx-ann-tag"][data-tag="surprising"]').click()
    ann.locator('[data-testid="rmx-ann-next"]').click()  # no Save clicked
    _status(page, ann, rf"^saved {re.escape(first)} ")
    assert _example_id(ann) != first
    assert ann.locator('[data-testid="rmx-ann-note"]').input_value() == ""

    store = Store(lab.root / "runs" / "ann_next.sqlite")  # what a new kernel would read
    try:
        saved = {a["comparison_id"]: a for a in store.annotations()}
    finally:
        store.close()
    assert saved[first]["note"] == note and saved[first]["tags"] == ["surprising"]

    ann.locator('[data-testid="rmx-ann-prev"]').click()
    assert _example_id(ann) == first
    assert ann.locator('[data-testid="rmx-ann-note"]').input_value() == note
    assert note in ann.locator('[data-testid="rmx-ann-saved"]').text_content()
    tag = ann.locator('[data-testid="rmx-ann-tag"][data-tag="surprising"]')
    assert tag.get_attribute("aria-pressed") == "true"
    assert not ann.locator(".rmx-dirty").is_visible()  # saved, so not marked unsaved
    _no_page_errors(browser_page)


# -- 2. what the example shows: deletions, replacements, labelled numbers, both labels -----------
def test_deletions_replacements_rewards_and_both_labels_are_shown(
    lab: Lab, browser_page: Browser
) -> None:
    page = browser_page.page
    ann = _open(lab, page, "ann_show")
    rows = ann.locator('[data-testid="rmx-ann-row"]')

    # deletions: struck through, with words a screen reader says
    small = rows.filter(has_text="trait05").filter(has_text="worse").first  # one word deleted
    deleted = small.locator("del.rmx-del").first
    deleted.scroll_into_view_if_needed()
    assert deleted.is_visible()
    assert "line-through" in deleted.evaluate("e => getComputedStyle(e).textDecorationLine")
    assert small.locator("ins.rmx-ins").count() > 0
    assert "[deleted: " in small.aria_snapshot()
    label = deleted.locator(".rmx-sr-only").first
    assert label.evaluate("e => e.getBoundingClientRect().width") <= 1  # heard, not seen

    # a whole-response rewrite: one old / new block, not confetti
    whole = rows.filter(has_text="trait00")
    assert whole.count() == 2  # both sides
    for i in range(2):
        row = whole.nth(i)
        assert row.locator('[data-testid="rmx-ann-replaced"]').is_visible()
        assert row.locator("del").count() == 1 and row.locator("ins").count() == 1
        assert (
            "Completely different words" in row.locator('[data-testid="rmx-ann-new"]').inner_text()
        )

    # every number says what it is
    numbers = small.locator('[data-testid="rmx-ann-numbers"]').inner_text()
    for name in ("reward of original", "reward of rewrite", "reward of other response", "margin"):
        assert name in numbers, numbers
    assert re.search(r"margin [+\u2212]?\d\.\d{3} \u2192 [+\u2212]?\d\.\d{3}", numbers), numbers
    outcome = small.locator('[data-testid="rmx-ann-outcome"]').inner_text()
    assert outcome in ("preference flipped", "preference held")
    text = ann.inner_text()
    assert not re.search(r"\bscore \d", text) and not re.search(r"\bother \d", text)
    assert "\u03c4 with the RM's global attribute ranking" in text

    # the RM's choice, the human label and their disagreement
    assert (
        ann.locator('[data-testid="rmx-ann-rm-label"]')
        .inner_text()
        .startswith("RM prefers response A")
    )
    assert ann.locator('[data-testid="rmx-ann-human-label"]').inner_text() == (
        "Human label: response B"
    )
    assert ann.locator('[data-testid="rmx-ann-agreement"]').inner_text() == "RM and human disagree"
    chosen = ann.locator('[data-testid="rmx-ann-chosen-label"]').inner_text()
    assert "Chosen by the RM" in chosen and "response A" in chosen
    assert "the human rejected it" in chosen
    assert (
        "the human preferred it"
        in ann.locator('[data-testid="rmx-ann-rejected-label"]').inner_text()
    )
    _no_page_errors(browser_page)


# -- 3. tags at the top; export keeps the earlier file and says who preferred what ---------------
def test_tags_are_in_the_first_viewport_and_export_keeps_earlier_files(
    lab: Lab, browser_page: Browser
) -> None:
    page = browser_page.page
    ann = _open(lab, page, "ann_top")
    ann.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(200)
    box = ann.bounding_box()
    tags = ann.locator('[data-testid="rmx-ann-tag"]').first.bounding_box()
    note = ann.locator('[data-testid="rmx-ann-note"]').bounding_box()
    save = ann.locator('[data-testid="rmx-ann-save"]').bounding_box()
    assert box and tags and note and save
    print(f"Annotator {box['height']:.0f} px tall; tags at +{tags['y'] - box['y']:.0f} px")
    assert box["height"] > 2 * VIEWPORT_HEIGHT  # the 40 rewrites do make it long
    assert tags["y"] - box["y"] < FIRST_VIEWPORT
    for b in (tags, note, save):
        assert b["y"] >= 0 and b["y"] + b["height"] <= VIEWPORT_HEIGHT  # on screen, no scrolling

    cid = _example_id(ann)
    ann.locator('[data-testid="rmx-ann-tag"][data-tag="RM bug"]').click()
    ann.locator('[data-testid="rmx-ann-save"]').click()
    _status(page, ann, rf"^saved {re.escape(cid)} ")
    export = lab.root / "runs" / "ann_top-export"
    ann.locator('[data-testid="rmx-ann-export-csv"]').click()
    _status(page, ann, r"^exported 3 examples to .*annotations\.csv$")
    first = (export / "annotations.csv").read_bytes()
    ann.locator('[data-testid="rmx-ann-export-csv"]').click()
    status = _status(page, ann, r"annotations-2\.csv \(annotations\.csv was kept\)")
    assert ann.locator('[data-testid="rmx-ann-status"]').is_visible(), status
    assert (export / "annotations.csv").read_bytes() == first

    with (export / "annotations-2.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    for row in rows:
        assert row["rm_preferred"] == "a" and row["human_preferred"] == "b"
        assert row["rm_agrees_with_human"] == "False"
        assert float(row["reward_chosen"]) > float(row["reward_rejected"])
    assert next(r for r in rows if r["comparison_id"] == cid)["tags"] == "RM bug"
    _no_page_errors(browser_page)
