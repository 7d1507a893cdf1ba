"""``FeatureJudge`` on hand-written rewrites whose verdict is obvious: per supported attribute,
both directions, valid / opposite / unchanged / too much else changed; unsupported attributes
are undecided; the identity follows the thresholds; and agreement with planted truth."""

from __future__ import annotations

import math
import time

import pytest

import rmx_widgets as rmx
from rmx_widgets import errors
from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.text.words import words
from rmx_widgets.core.validity import FeatureJudge, JudgeRequest, RewriteJudge, Verdict
from rmx_widgets.core.validity.features import SUPPORTED_ATTRIBUTES
from rmx_widgets.core.validity.planted import (
    KINDS,
    PlantedRewrite,
    agreement,
    one_word_edit,
    planted_rewrites,
)

PROMPT = "How do I keep basil plants healthy indoors?"
BASE = (
    "Place the basil pot on a sunny windowsill that gets six hours of light. "
    "Water the soil when the top centimetre feels dry. "
    "Pinch off flower buds so the leaves keep growing."
)


def judge(attribute: str, direction: str, original: str, rewrite: str, **kw) -> Verdict:
    req = JudgeRequest(PROMPT, original, rewrite, get_attribute(attribute), direction)
    (verdict,) = FeatureJudge(**kw).judge_batch([req])
    return verdict


def expect(v: Verdict, valid: bool | None, *fragments: str) -> None:
    assert v.valid is valid, v.reason
    assert "\n" not in v.reason
    for frag in fragments:
        assert frag in v.reason, v.reason


# -- one attribute at a time ------------------------------------------------------------------

PADDED = (
    "There are a few things worth considering when it comes to this topic. " + BASE + " "
    "To restate the key point: water the soil when the top centimetre feels dry."
)


def test_verbosity_worse_is_more_words_and_better_is_fewer():
    n_base, n_padded = len(words(BASE)), len(words(PADDED))
    expect(
        judge("verbosity", "worse", BASE, PADDED),
        True,
        f"verbosity: {n_base} → {n_padded} words (asked: worse = more) ✓",
    )
    expect(judge("verbosity", "better", PADDED, BASE), True, "(asked: better = fewer) ✓")
    expect(judge("verbosity", "better", BASE, PADDED), False, "moved the opposite way")
    expect(judge("verbosity", "worse", PADDED, BASE), False, "moved the opposite way")
    expect(judge("verbosity", "worse", BASE, BASE.replace("basil", "herb")), False, "unchanged")
    # one word more on 31 words is under the 5 % asked (2 words)
    expect(
        judge("verbosity", "worse", BASE, BASE + " Really."), False, "moved by 1, less than the 2"
    )
    # longer, but by rewriting everything rather than padding
    other = "Basil likes sun. " * 12
    expect(judge("verbosity", "worse", BASE, other), False, "other words changed")


def test_assertiveness_counts_hedges():
    hedged = BASE.replace("Water the soil", "You should probably water the soil").replace(
        "Pinch off", "I think you might pinch off"
    )
    hedged_base = BASE.replace("Water the soil", "You should water the soil").replace(
        "Pinch off", "You pinch off"
    )
    expect(
        judge("assertiveness", "worse", hedged_base, hedged),
        True,
        "assertiveness: 0 → 3 hedge phrases (asked: worse = more) ✓",
    )
    expect(judge("assertiveness", "better", hedged, hedged_base), True, "3 → 0 hedge phrases")
    expect(judge("assertiveness", "better", hedged_base, hedged), False, "opposite way")
    expect(
        judge("assertiveness", "worse", BASE, BASE.replace("six", "seven")),
        False,
        "0 → 0 hedge phrases (asked: worse = more): unchanged",
    )
    # a hedge added, but the rest replaced by other text
    swapped = "Perhaps tomatoes need a greenhouse and plenty of fertiliser in spring."
    expect(judge("assertiveness", "worse", BASE, swapped), False, "✓ but")


def test_avoid_to_answer_refusal_replaces_the_answer():
    refusal = "I'm sorry, but I can't help with that."
    expect(
        judge("avoid-to-answer", "worse", BASE, refusal),
        True,
        "0 → 1 refusal phrases",
        "answer words ✓",
    )
    # a refusal phrase put in front of the whole answer does not stop it answering
    expect(
        judge("avoid-to-answer", "worse", BASE, refusal + " " + BASE),
        False,
        "most of the answer is still there",
    )
    expect(judge("avoid-to-answer", "worse", BASE, BASE + " Thanks!"), False, "no refusal")
    partial = "I can't give medical advice, but " + BASE[0].lower() + BASE[1:]
    expect(judge("avoid-to-answer", "better", partial, BASE), True, "1 → 0 refusal phrases")
    expect(judge("avoid-to-answer", "better", BASE, refusal), False, "opposite way")
    expect(judge("avoid-to-answer", "better", refusal + " " + BASE, refusal + " " + BASE), False)


def test_manner_worse_strips_pleasantries_better_adds_them():
    warm = "Great question! " + BASE + " I hope this helps!"
    expect(judge("manner", "worse", warm, BASE), True, "manner: 2 → 0 pleasantries", "✓")
    expect(judge("manner", "better", BASE, warm), True, "0 → 2 pleasantries (asked: better")
    expect(judge("manner", "worse", BASE, warm), False, "opposite way")
    # an interjection alone is a pleasantry too ("Sure!")
    expect(judge("manner", "worse", "Sure! " + BASE, BASE), True, "1 → 0 pleasantries")
    # warmth added but the answer shortened to a third
    expect(
        judge("manner", "better", BASE, "Hello! Use a sunny windowsill. I hope this helps!"),
        False,
        "the rest of the response changed length",
    )


def test_engagement_counts_follow_ups():
    inviting = BASE + " Would you like a watering schedule?"
    expect(judge("engagement", "worse", inviting, BASE), True, "1 → 0 follow-ups")
    expect(judge("engagement", "better", BASE, inviting), True, "0 → 1 follow-ups")
    expect(judge("engagement", "better", inviting, BASE), False, "opposite way")
    expect(judge("engagement", "better", BASE, BASE), False, "unchanged")


def test_relevance_counts_off_topic_sentences():
    digressing = (
        "Place the basil pot on a sunny windowsill that gets six hours of light. "
        "Incidentally, octopuses have three hearts and blue blood. "
        "Water the soil when the top centimetre feels dry. "
        "Pinch off flower buds so the leaves keep growing."
    )
    # by the words alone, BASE's 2nd and 3rd sentences share no content word with the prompt
    # and little with the rest, so they count as off-topic too: what matters is the change
    expect(judge("relevance", "worse", BASE, digressing), True, "2 → 3 off-topic sentences")
    expect(judge("relevance", "better", digressing, BASE), True, "3 → 2 off-topic")
    expect(judge("relevance", "better", BASE, digressing), False, "opposite way")


def test_correctness_counts_false_arithmetic_and_is_undecided_without_it():
    right = "Three pots at $4 each cost 3 * 4 = 12 dollars. " + BASE
    wrong = "Three pots at $4 each cost 3 * 4 = 14 dollars. " + BASE
    expect(judge("correctness", "worse", right, wrong), True, "0 → 1 false 'a op b = c'")
    expect(judge("correctness", "better", wrong, right), True, "1 → 0 false")
    expect(judge("correctness", "better", right, wrong), False, "opposite way")
    # the statements as they were: this judge cannot see any other claim change
    expect(
        judge("correctness", "worse", BASE, BASE.replace("six", "two")),
        None,
        "left every 'a op b = c' statement as it was",
    )


def test_clarity_counts_list_items():
    listed = (
        "Three habits keep basil healthy:\n\n- a sunny windowsill\n- water when the top is "
        "dry\n- pinch off flower buds"
    )
    flat = (
        "Three habits keep basil healthy: a sunny windowsill, water when the top is dry, and "
        "pinch off flower buds."
    )
    expect(judge("clarity", "worse", listed, flat), True, "clarity: 3 → 0 list items")
    expect(judge("clarity", "better", flat, listed), True, "0 → 3 list items (asked: better")
    expect(judge("clarity", "better", listed, flat), False, "opposite way")


def test_coherence_is_a_reordering():
    ordered = (
        "First, fill a pot with compost. Then, sow the basil seeds. Finally, water them gently."
    )
    shuffled = (
        "Finally, water them gently. First, fill a pot with compost. Then, sow the basil seeds."
    )
    expect(
        judge("coherence", "worse", ordered, shuffled),
        True,
        "3 of 3 units out of place, marker inversions 0 → 2",
    )
    expect(judge("coherence", "better", shuffled, ordered), True, "2 → 0 marker inversions")
    expect(judge("coherence", "better", ordered, shuffled), False, "opposite way")
    expect(judge("coherence", "worse", ordered, ordered), False, "unchanged")
    edited = ordered.replace("gently", "daily")
    expect(judge("coherence", "worse", ordered, edited), False, "not a reordering")
    # reordered without discourse markers: no way to tell a better order
    plain = "Basil likes sun. It needs water. Buds should go."
    moved = "It needs water. Basil likes sun. Buds should go."
    expect(judge("coherence", "better", plain, moved), None, "no discourse markers")
    expect(judge("coherence", "worse", plain, moved), True, "2 of 3 units out of place")


# -- the protocol -------------------------------------------------------------------------------


def test_supports_exactly_the_featured_attributes_and_others_are_undecided():
    j = FeatureJudge()
    assert isinstance(j, RewriteJudge)
    assert set(SUPPORTED_ATTRIBUTES) == set(rmx.RulePerturber.supported_attributes)
    for a in rmx.DEFAULT_ATTRIBUTES:
        assert j.supports(a) is (a.name in SUPPORTED_ATTRIBUTES)
    v = judge("helpfulness", "better", BASE, BASE + " Use a pot with drainage holes.")
    assert v == Verdict(None, "FeatureJudge has no text feature for attribute 'helpfulness'")
    mine = rmx.Attribute("my-tone", "How cheerful the response sounds to its reader.")
    assert not j.supports(mine)
    assert j.judge_batch([JudgeRequest(PROMPT, BASE, BASE, mine, "worse")])[0].valid is None
    assert j.judge_batch([]) == []
    bad = j.judge_batch([JudgeRequest(PROMPT, BASE, BASE, get_attribute("manner"), "up")])
    assert bad[0].valid is None and "direction must be" in bad[0].reason


def test_identity_is_versioned_and_follows_every_threshold():
    base = FeatureJudge().identity
    assert base == "features-judge:v1:len0.05:n1:f1.5:k0.85"
    others = [
        FeatureJudge(min_length_change=0.1).identity,
        FeatureJudge(min_count_change=2).identity,
        FeatureJudge(max_length_factor=2).identity,
        FeatureJudge(min_kept=0.9).identity,
    ]
    assert len({base, *others}) == 5


def test_thresholds_change_verdicts():
    longer = BASE + " Basil is easy."
    assert judge("verbosity", "worse", BASE, longer).valid is True  # +3 words of 31
    assert judge("verbosity", "worse", BASE, longer, min_length_change=0.2).valid is False
    hedge1 = BASE.replace("Water the soil", "Perhaps water the soil")
    assert judge("assertiveness", "worse", BASE, hedge1).valid is True
    assert judge("assertiveness", "worse", BASE, hedge1, min_count_change=2).valid is False


@pytest.mark.parametrize(
    "kw",
    [
        {"min_length_change": -0.1},
        {"min_length_change": 1},
        {"min_count_change": 0},
        {"min_count_change": 1.5},
        {"min_count_change": True},
        {"max_length_factor": 0.5},
        {"max_length_factor": float("nan")},
        {"min_kept": 1.2},
        {"min_kept": "0.8"},
    ],
)
def test_bad_thresholds_are_one_line_errors(kw):
    with pytest.raises(errors.OptionError):
        FeatureJudge(**kw)


def test_long_texts_are_judged_in_linear_time():
    sentence = "Water the basil when the top of the soil feels dry to the touch. "
    original = sentence * 4000  # ~ 260 KB
    rewrite = "Great question! " + original
    t0 = time.perf_counter()
    v = judge("manner", "better", original, rewrite)
    elapsed = time.perf_counter() - t0
    assert v.valid is True, v.reason
    assert elapsed < 10, elapsed


# -- agreement with planted truth ---------------------------------------------------------------


def test_one_word_edit_changes_exactly_one_plain_word():
    assert (
        one_word_edit("I think the basil is thriving now.") == "I think the basil is example now."
    )
    assert one_word_edit("I am ok.") is None


def test_agreement_with_planted_truth_on_the_sample_comparisons():
    """Rule rewrites are valid by construction; the rule's opposite direction, a one-word edit
    and random word edits are invalid. Agreement = matches / judged, undecided apart."""
    planted = planted_rewrites(rmx.sample_comparisons())
    assert {p.kind for p in planted} == set(KINDS)
    verdicts = FeatureJudge().judge_batch([p.request for p in planted])
    judged = [(p, v) for p, v in zip(planted, verdicts) if v.valid is not None]
    undecided = len(planted) - len(judged)
    matches = sum(v.valid is p.truth for p, v in judged)
    false_valid = sum(v.valid is True and not p.truth for p, v in judged)
    false_invalid = sum(v.valid is False and p.truth for p, v in judged)
    assert matches + false_valid + false_invalid == len(judged)
    assert len(judged) >= 0.8 * len(planted)  # most are decided ...
    assert undecided > 0  # ... but correctness without arithmetic is not
    assert matches / len(judged) >= 0.95  # measured 0.986 (bench/judge_agreement.py)
    overall = agreement(planted, verdicts)[-1]
    assert (overall["judged"], overall["undecided"]) == (len(judged), undecided)
    assert (overall["false_valid"], overall["false_invalid"]) == (false_valid, false_invalid)
    assert overall["agreement"] == matches / len(judged)
    # each kind on its own, too: a judge calling everything valid (or invalid) fails here
    for kind in KINDS:
        sub = [(p, v) for p, v in judged if p.kind == kind]
        assert sub, kind
        assert sum(v.valid is p.truth for p, v in sub) / len(sub) >= 0.9, kind


def test_agreement_rows_match_a_hand_count_including_degenerate_groups():
    manner, verbosity = get_attribute("manner"), get_attribute("verbosity")

    def planted(attr, truth, kind):
        return PlantedRewrite(JudgeRequest(PROMPT, BASE, BASE, attr, "worse"), truth, kind, "c")

    ps = [
        planted(manner, True, "rule"),  # judged valid: match
        planted(manner, False, "random"),  # judged valid: false-valid
        planted(manner, True, "rule"),  # judged invalid: false-invalid
        planted(manner, False, "one-word"),  # undecided
        planted(verbosity, False, "random"),  # undecided: the whole group is
    ]
    vs = [Verdict(True, "a"), Verdict(True, "b"), Verdict(False, "c"), Verdict(None, "d")]
    vs.append(Verdict(None, "e"))
    rows = {r["group"]: r for r in agreement(ps, vs)}
    assert list(rows) == ["manner", "verbosity", "all"]
    m = rows["manner"]
    assert (m["n"], m["undecided"], m["judged"], m["false_valid"], m["false_invalid"]) == (
        4,
        1,
        3,
        1,
        1,
    )
    assert m["agreement"] == pytest.approx(1 / 3)
    v = rows["verbosity"]
    assert (v["n"], v["undecided"], v["judged"]) == (1, 1, 0)
    assert math.isnan(v["agreement"])  # nothing judged: not measured, not 0
    assert rows["all"]["agreement"] == pytest.approx(1 / 3) and rows["all"]["n"] == 5
    kinds = {r["group"]: r for r in agreement(ps, vs, by="kind")}
    assert kinds["rule"]["agreement"] == 0.5 and kinds["random"]["false_valid"] == 1
    with pytest.raises(errors.OptionError):
        agreement(ps, vs[:-1])
