"""The rule perturber: every supported attribute and direction does exactly its documented edit,
fails with a specific reason when it cannot, never touches code and is deterministic."""

from __future__ import annotations

import re

import pytest

from rmx_widgets.core.attributes import DEFAULT_ATTRIBUTES, DIRECTIONS, Attribute, get_attribute
from rmx_widgets.core.data import sample_comparisons
from rmx_widgets.core.failures import FailureKind, legacy_failure_kind
from rmx_widgets.core.perturbers import base
from rmx_widgets.core.perturbers.base import PerturbationRequest, PerturbationResult
from rmx_widgets.core.perturbers.rules import (
    CLOSINGS,
    FOLLOW_UP_QUESTION,
    FOLLOW_UPS,
    GREETINGS,
    HEDGES,
    OFF_TOPIC_SENTENCES,
    PADDING_SENTENCES,
    PLEASANTRIES,
    REFUSAL_RESPONSES,
    REFUSALS,
    RESTATEMENT_PREFIX,
    SUPPORTED_ATTRIBUTES,
    RulePerturber,
    count_phrases,
    find_arithmetic,
    split_sentences,
)

RULES = RulePerturber()


def run(
    response: str,
    attribute: str | Attribute,
    direction: str,
    prompt: str | list[dict[str, str]] = "Tell me about it.",
) -> PerturbationResult:
    attr = get_attribute(attribute) if isinstance(attribute, str) else attribute
    return RULES.perturb_batch([PerturbationRequest(prompt, response, attr, direction)])[0]


def ok(response: str, attribute: str, direction: str, prompt: str = "Tell me about it.") -> str:
    res = run(response, attribute, direction, prompt)
    assert res.text is not None, f"{attribute}/{direction} failed: {res.failure}"
    assert res.failure is None
    return res.text


def fails(response: str, attribute: str, direction: str, prompt: str = "Tell me about it.") -> str:
    res = run(response, attribute, direction, prompt)
    assert res.text is None, f"{attribute}/{direction} should fail, gave {res.text!r}"
    assert res.failure
    return res.failure


CODE = "```python\nx = 12 * 4  # = 48. Perhaps. Great question!\nprint(x)\n```"
RICH = (
    "Great question! Paris is the capital of France. It has been the capital since 987, "
    "e.g. under the Capetians. Note that 12 * 4 = 48 here.\n\n"
    "Here are the steps:\n"
    "- Preheat the oven to 180 degrees.\n"
    "- Mix the flour and sugar.\n"
    "- Bake for 25 minutes.\n\n"
    f"{CODE}\n\n"
    "First, read the recipe. Then buy the flour. Finally, bake the cake. "
    "Let me know if you have any other questions! I hope this helps."
)
RICH_PROMPT = "What is the capital of France, and how do I bake a cake?"


# ------------------------------------------------------------------------------ splitting


def test_split_sentences_handles_abbreviations_numbers_quotes_and_code() -> None:
    text = (
        "Dr. Smith lives in the U.S. with J. K. Rowling, e.g. near Boston. Pi is 3.14 "
        'roughly. She said "Stop. Now." and left! Was it late?\n\n' + CODE + "\n\n- item one\n"
        "1. numbered item"
    )
    assert split_sentences(text) == [
        "Dr. Smith lives in the U.S. with J. K. Rowling, e.g. near Boston.",
        "Pi is 3.14 roughly.",
        'She said "Stop. Now." and left!',
        "Was it late?",
        CODE,
        "- item one",
        "1. numbered item",
    ]


def test_split_keeps_unterminated_fence_as_code() -> None:
    text = "Run this:\n\n```bash\necho hi. Then more.\n"
    assert split_sentences(text) == ["Run this:", "```bash\necho hi. Then more."]


# ------------------------------------------------------------------------------ protocol


def test_identity_and_supported_attributes() -> None:
    assert RULES.identity == "rules:v1"
    assert set(RULES.supported_attributes) == {
        "verbosity",
        "assertiveness",
        "avoid-to-answer",
        "manner",
        "coherence",
        "relevance",
        "correctness",
        "engagement",
        "clarity",
    }
    assert RULES.supported_attributes == SUPPORTED_ATTRIBUTES


@pytest.mark.parametrize(
    "name",
    ["helpfulness", "complexity", "informativeness", "harmlessness", "sensitivity", "neutrality"],
)
def test_unsupported_attributes_fail_with_reason(name: str) -> None:
    attr = get_attribute(name)
    assert not RULES.supports(attr)
    res = run(RICH, attr, "worse")
    assert res.text is None
    assert res.failure == f"rules:v1 cannot perturb attribute '{name}'"
    direct = RULES.perturb(PerturbationRequest("p", RICH, attr, "better"))
    assert direct.text is None and name in direct.failure


def test_user_attribute_with_a_supported_name_uses_the_rule() -> None:
    custom = Attribute("verbosity", "How long-winded my chatbot's answers are, for my team.")
    assert RULES.supports(custom)
    assert RULES.supports(Attribute("my-attr", "A quality no rule knows about.")) is False
    assert run("Paris is the capital of France.", custom, "worse").text is not None


def test_bad_direction_is_a_failure_not_a_crash() -> None:
    res = RULES.perturb(PerturbationRequest("p", RICH, get_attribute("verbosity"), "sideways"))
    assert res.text is None and "direction" in res.failure


@pytest.mark.parametrize("attribute", SUPPORTED_ATTRIBUTES)
@pytest.mark.parametrize("direction", ["worse", "better"])
def test_deterministic_and_code_untouched(attribute: str, direction: str) -> None:
    # Each rule sees a text it can act on in both directions, with a code block in the middle.
    text = (
        RICH
        if direction == "worse"
        else (
            "I can't give advice on that, but here goes. By the way, octopuses have blue blood. "
            "Then bake the cake. First, buy flour: sugar, eggs, and butter. Perhaps 12 * 4 = 46 "
            "is wrong. In other words, buy flour, sugar, eggs and butter first.\n\n" + CODE
        )
    )
    first = run(text, attribute, direction, RICH_PROMPT)
    second = RulePerturber().perturb_batch(
        [PerturbationRequest(RICH_PROMPT, text, get_attribute(attribute), direction)]
    )[0]
    assert first == second
    if attribute == "avoid-to-answer" and direction == "worse":
        assert first.text in REFUSAL_RESPONSES
        return
    assert first.text is not None, first.failure
    assert first.text != text
    assert CODE in first.text


def test_seed_depends_on_text_not_global_random_state() -> None:
    import random

    random.seed(1)
    a = run(RICH, "coherence", "worse").text
    random.seed(2)
    b = run(RICH, "coherence", "worse").text
    assert a == b


# ------------------------------------------------------------------------------ verbosity


def test_verbosity_worse_pads_and_restates_without_losing_text() -> None:
    text = "Paris is the capital of France. It sits on the Seine river."
    out = ok(text, "verbosity", "worse")
    assert any(p in out for p in PADDING_SENTENCES)
    restated = re.findall(re.escape(RESTATEMENT_PREFIX) + r"(.+?\.)", out)
    assert len(restated) == 1 and restated[0] in text
    # everything original is still there, in order
    stripped = out
    for p in PADDING_SENTENCES:
        stripped = stripped.replace(p + " ", "")
    stripped = re.sub(re.escape(RESTATEMENT_PREFIX) + r".+?\.( |$)", "", stripped).strip()
    assert stripped == text
    assert len(out) > len(text) + 40


def test_verbosity_better_cuts_restatements_filler_and_duplicates() -> None:
    text = (
        "This is an important question. Water boils at 100 degrees at sea level. "
        "Plants need water to live and grow. Plants need water in order to live and grow. "
        "In other words, water boils at 100 degrees."
    )
    assert ok(text, "verbosity", "better") == (
        "Water boils at 100 degrees at sea level. Plants need water to live and grow."
    )


def test_verbosity_round_trip_and_concise_text_fails() -> None:
    text = "Paris is the capital of France. It sits on the Seine river."
    assert ok(ok(text, "verbosity", "worse"), "verbosity", "better") == text
    reason = fails(text, "verbosity", "better")
    assert "no redundant sentences" in reason


def test_verbosity_better_keeps_summary_that_adds_new_content() -> None:
    text = "Use a list. In summary, dictionaries give constant-time lookups by key."
    assert "no redundant sentences" in fails(text, "verbosity", "better")


# ------------------------------------------------------------------------------ assertiveness


def test_assertiveness_worse_inserts_hedges() -> None:
    text = "Paris is the capital of France."
    out = ok(text, "assertiveness", "worse")
    assert re.fullmatch(r"Paris is (probably|perhaps|possibly) the capital of France\.", out)
    text2 = "Preheat the oven to 180 degrees."
    out2 = ok(text2, "assertiveness", "worse")
    assert out2 in (
        "Preheat the oven to 180 degrees, I think.",
        "Preheat the oven to 180 degrees, I believe.",
    )
    multi = "Paris is big. Rome is old. Berlin is green. Madrid is sunny. Oslo is cold."
    out3 = ok(multi, "assertiveness", "worse")
    assert count_phrases(out3, HEDGES) in (2, 3)
    assert count_phrases(multi, HEDGES) == 0


def test_assertiveness_better_removes_hedges() -> None:
    cases = {
        "I think Paris is the capital of France.": "Paris is the capital of France.",
        "Perhaps you should restart the router.": "You should restart the router.",
        "It is probably a good idea to avoid coffee, but I'm not sure.": (
            "It is a good idea to avoid coffee."
        ),
        "The cause might be a loose cable, I believe.": "The cause is a loose cable.",
        "These files could be corrupted.": "These files are corrupted.",
        "You may be able to ask a neighbor.": "You can ask a neighbor.",
        "You might want to back up first.": "You should back up first.",
        "I'm not sure, but the answer is 42.": "The answer is 42.",
        "Use `maybe_run()`, perhaps.": "Use `maybe_run()`.",
    }
    for hedged, plain in cases.items():
        assert ok(hedged, "assertiveness", "better") == plain
        assert count_phrases(ok(hedged, "assertiveness", "better"), HEDGES) == 0


def test_assertiveness_round_trip_and_failures() -> None:
    text = "Paris is the capital of France. The Seine is a river. Rome is in Italy."
    assert ok(ok(text, "assertiveness", "worse"), "assertiveness", "better") == text
    assert "no hedges" in fails(text, "assertiveness", "better")
    assert "to hedge" in fails("Would you like more?", "assertiveness", "worse")


# ------------------------------------------------------------------------------ avoid-to-answer


def test_avoid_worse_replaces_with_refusal() -> None:
    out = ok("Paris is the capital of France.", "avoid-to-answer", "worse")
    assert out in REFUSAL_RESPONSES
    assert count_phrases(out, REFUSALS) >= 1
    assert "already a refusal" in fails(
        "I'm sorry, but I can't help with that.", "avoid-to-answer", "worse"
    )


def test_avoid_better_removes_refusals_and_keeps_answer() -> None:
    assert (
        ok(
            "I can't give medical advice, but rest and fluids help most colds.",
            "avoid-to-answer",
            "better",
        )
        == "Rest and fluids help most colds."
    )
    assert (
        ok(
            "As an AI, I don't have personal opinions. That said, index funds have low fees.",
            "avoid-to-answer",
            "better",
        )
        == "Index funds have low fees."
    )
    out = ok(
        "I'm unable to browse the web.\n\n```python\nprint('hi')\n```", "avoid-to-answer", "better"
    )
    assert out == "```python\nprint('hi')\n```"


def test_avoid_better_fails_when_nothing_remains_or_no_refusal() -> None:
    reason = fails(
        "I'm sorry, but I can't help with that. I hope you understand!", "avoid-to-answer", "better"
    )
    assert "leaves no answer" in reason
    assert "no refusal" in fails("Paris is the capital.", "avoid-to-answer", "better")


# ------------------------------------------------------------------------------ manner


def test_manner_worse_strips_pleasantries() -> None:
    text = "Great question! Paris is the capital of France. I hope this helps!"
    assert ok(text, "manner", "worse") == "Paris is the capital of France."
    assert (
        ok("Thanks for asking, the answer is 42. Good luck with your project!", "manner", "worse")
        == "The answer is 42."
    )
    assert count_phrases(ok(text, "manner", "worse"), PLEASANTRIES) == 0


def test_manner_worse_failures() -> None:
    assert "no greetings" in fails("Thanks to its design, Rust is fast.", "manner", "worse")
    assert "only pleasantries" in fails("Hello! Thank you so much!", "manner", "worse")


def test_manner_better_adds_greeting_and_close_and_round_trips() -> None:
    text = "Paris is the capital of France."
    out = ok(text, "manner", "better")
    assert any(out.startswith(g + " ") for g in GREETINGS)
    assert any(out.endswith(" " + c) for c in CLOSINGS)
    assert ok(out, "manner", "worse") == text
    assert "already opens with a greeting" in fails(out, "manner", "better")


def test_manner_better_puts_greeting_on_its_own_line_before_a_list() -> None:
    text = "- one\n- two"
    out = ok(text, "manner", "better")
    greet, rest = out.split("\n\n", 1)
    assert greet in GREETINGS
    assert rest.startswith("- one\n- two\n\n")


# ------------------------------------------------------------------------------ coherence


def test_coherence_worse_is_a_deterministic_permutation() -> None:
    text = (
        "Alpha is first. Beta comes next. Gamma is third. Delta is fourth.\n\n"
        "- one\n- two\n- three\n\n" + CODE
    )
    out = ok(text, "coherence", "worse")
    assert out == ok(text, "coherence", "worse")
    before, after = split_sentences(text), split_sentences(out)
    assert after != before
    sentences = lambda xs: [x for x in xs if not x.startswith(("-", "```"))]  # noqa: E731
    assert sorted(sentences(after)) == sorted(sentences(before))
    assert sentences(after) != sentences(before)
    items = [x for x in after if x.startswith("- ")]
    assert sorted(items) == ["- one", "- three", "- two"]
    assert after.index(CODE) == before.index(CODE)
    assert out.endswith(CODE)


def test_coherence_worse_needs_two_sentences() -> None:
    reason = fails("Paris is the capital of France.", "coherence", "worse")
    assert "fewer than two" in reason


def test_coherence_better_orders_by_discourse_markers() -> None:
    text = "Then add the pasta. Finally, drain it. First, boil the water. Salt helps."
    assert ok(text, "coherence", "better") == (
        "First, boil the water. Then add the pasta. Finally, drain it. Salt helps."
    )


def test_coherence_round_trip_and_failures() -> None:
    text = "First, boil the water. Then add the pasta. Next, stir it. Finally, drain it."
    shuffled = ok(text, "coherence", "worse")
    assert shuffled != text
    assert ok(shuffled, "coherence", "better") in (
        text,
        "First, boil the water. Next, stir it. Then add the pasta. Finally, drain it.",
    )
    assert "already in order" in fails(text, "coherence", "better")
    assert "discourse markers" in fails("Boil water. Add pasta.", "coherence", "better")


# ------------------------------------------------------------------------------ relevance


def test_relevance_worse_splices_an_off_topic_sentence() -> None:
    prompt = "How do I boil an egg?"
    text = "Put the egg in boiling water. Cook it for nine minutes. Cool it in cold water."
    out = ok(text, "relevance", "worse", prompt)
    added = [s for s in OFF_TOPIC_SENTENCES if s in out]
    assert len(added) == 1
    assert out.replace(added[0] + " ", "") == text
    assert not out.endswith(added[0])  # spliced in, not appended


def test_relevance_worse_avoids_sentences_that_overlap_the_prompt() -> None:
    prompt = "Tell me about octopuses, bananas, flamingos, Venus and honeybees."
    out = ok("They are all interesting. Each is unique.", "relevance", "worse", prompt)
    assert "Eiffel Tower" in out


def test_relevance_better_removes_digressions_only() -> None:
    prompt = "How do I boil an egg?"
    text = (
        "Put the egg in boiling water. By the way, the first crossword puzzle appeared in "
        "1913. Cook it for nine minutes."
    )
    assert ok(text, "relevance", "better", prompt) == (
        "Put the egg in boiling water. Cook it for nine minutes."
    )
    on_topic = "Put the egg in water. By the way, a fresh egg sinks in water."
    assert "no digression" in fails(on_topic, "relevance", "better", prompt)
    # an unmarked short step shares no word with the prompt but is on topic: kept
    assert "no digression" in fails(
        "Cook for nine minutes. Then cool it down.", "relevance", "better", prompt
    )


def test_relevance_round_trip_uses_multi_turn_prompt_text() -> None:
    prompt = [
        {"role": "user", "content": "I'm baking bread."},
        {"role": "assistant", "content": "Nice! What would you like to know?"},
        {"role": "user", "content": "How long should the dough rise?"},
    ]
    text = "Let the dough rise for about an hour. It should double in size."
    worse = run(text, "relevance", "worse", prompt)
    assert worse.text is not None
    assert run(worse.text, "relevance", "better", prompt).text == text


# ------------------------------------------------------------------------------ correctness


def test_correctness_worse_corrupts_an_equation_result_first() -> None:
    out = ok("We have 12 * 4 = 48 apples in 3 boxes.", "correctness", "worse")
    assert out == "We have 12 * 4 = 58 apples in 3 boxes."
    assert [s.correct for s in find_arithmetic(out)] == [False]


def test_correctness_worse_swaps_a_named_fact() -> None:
    assert (
        ok("The capital of France is Paris.", "correctness", "worse")
        == "The capital of France is Lyon."
    )
    assert (
        ok("Water boils at 100 degrees at sea level.", "correctness", "worse")
        == "Water boils at 90 degrees at sea level."
    )


def test_correctness_worse_changes_a_number_and_skips_code() -> None:
    out = ok("Bake it for 25 minutes.\n\n```\nsleep(25)\n```", "correctness", "worse")
    assert out == "Bake it for 30 minutes.\n\n```\nsleep(25)\n```"
    assert "no arithmetic" in fails(
        "Use `sleep(25)` here.\n\n```\nx = 1 + 1\n```", "correctness", "worse"
    )


def test_correctness_better_fixes_arithmetic_and_known_facts() -> None:
    assert ok("So 12 * 4 = 46 in total.", "correctness", "better") == "So 12 * 4 = 48 in total."
    assert (
        ok("The notebooks cost 3 * 4.50 = 12.50 dollars.", "correctness", "better")
        == "The notebooks cost 3 * 4.50 = 13.50 dollars."
    )
    assert (
        ok("That is 8,849 - 5,364 = 3,000 metres.", "correctness", "better")
        == "That is 8,849 - 5,364 = 3,485 metres."
    )
    assert (
        ok("Since 91 / 7 = 12, it is not prime.", "correctness", "better")
        == "Since 91 / 7 = 13, it is not prime."
    )
    assert (
        ok("The capital of Australia is Sydney.", "correctness", "better")
        == "The capital of Australia is Canberra."
    )
    assert (
        ok("Toronto is the capital of Canada.", "correctness", "better")
        == "Ottawa is the capital of Canada."
    )
    assert (
        ok("Water boils at 90 degrees Celsius.", "correctness", "better")
        == "Water boils at 100 degrees Celsius."
    )


def test_correctness_round_trip_on_arithmetic() -> None:
    text = "A day has 24 * 60 = 1,440 minutes."
    worse = ok(text, "correctness", "worse")
    assert worse != text
    assert ok(worse, "correctness", "better") == text


def test_correctness_better_failures_are_specific() -> None:
    reason = fails("Indeed 7 * 6 = 42 and 10 / 4 = 2.5.", "correctness", "better")
    assert "all 2 arithmetic statement(s) are already correct" in reason
    assert "no 'a op b = c'" in fails("Paris is lovely.", "correctness", "better")
    # chains are not simple statements, so they are not 'fixed' into a wrong claim
    assert "no 'a op b = c'" in fails("Add them: 2 + 3 + 4 = 9.", "correctness", "better")


def test_find_arithmetic_skips_code_and_chains() -> None:
    text = (
        "We know 2 + 2 = 5. Also 1 + 2 + 3 = 6. `3 * 3 = 10` is code.\n\n"
        "```\n4 * 4 = 17\n```\nAnd 9 - 4 = 5."
    )
    found = find_arithmetic(text)
    assert [(f.text, f.correct) for f in found] == [("2 + 2 = 5", False), ("9 - 4 = 5", True)]
    assert text[found[0].start : found[0].end] == "2 + 2 = 5"


# ------------------------------------------------------------------------------ engagement


def test_engagement_worse_removes_follow_ups() -> None:
    text = (
        "Paris is the capital of France. Does that make sense? Let me know if you want more detail!"
    )
    assert ok(text, "engagement", "worse") == "Paris is the capital of France."
    assert count_phrases(ok(text, "engagement", "worse"), FOLLOW_UPS) == 0
    assert "no follow-up" in fails("Paris is the capital of France.", "engagement", "worse")
    assert "nothing would remain" in fails("Would you like to know more?", "engagement", "worse")


def test_engagement_better_adds_follow_up_question() -> None:
    text = "Paris is the capital of France."
    out = ok(text, "engagement", "better")
    assert out == f"{text} {FOLLOW_UP_QUESTION}"
    assert ok(out, "engagement", "worse") == text
    assert "already invites" in fails(out, "engagement", "better")
    listed = ok("Steps:\n\n- one\n- two", "engagement", "better")
    assert listed == f"Steps:\n\n- one\n- two\n\n{FOLLOW_UP_QUESTION}"


# ------------------------------------------------------------------------------ clarity


def test_clarity_worse_flattens_a_list_into_a_run_on_sentence() -> None:
    text = (
        "Here are the steps:\n\n1. Preheat the oven.\n2. Mix the batter.\n"
        "3. Bake it in Paris for 25 minutes.\n\nEnjoy."
    )
    assert ok(text, "clarity", "worse") == (
        "Here are the steps: preheat the oven, mix the batter, and bake it in Paris for 25 "
        "minutes.\n\nEnjoy."
    )
    assert "no markdown list" in fails("Preheat the oven. Mix it.", "clarity", "worse")


def test_clarity_worse_keeps_names_capitalised() -> None:
    out = ok(
        "Visit these:\n\n- Louvre in Paris\n- Colosseum in Rome",
        "clarity",
        "worse",
        "I love the Colosseum and the Louvre.",
    )
    assert out == "Visit these: Louvre in Paris and Colosseum in Rome."


def test_clarity_better_turns_enumerated_sentences_into_a_list() -> None:
    text = "Here is how. First, boil the water. Then add pasta. Stir it. Finally, drain it."
    assert ok(text, "clarity", "better") == (
        "Here is how.\n\n1. Boil the water.\n2. Add pasta. Stir it.\n3. Drain it."
    )


def test_clarity_better_turns_inline_enumeration_into_bullets() -> None:
    text = "You need three things: flour, sugar, and eggs. Mix them well."
    assert ok(text, "clarity", "better") == (
        "You need three things:\n- flour\n- sugar\n- eggs\n\nMix them well."
    )


def test_clarity_round_trip_and_failure() -> None:
    listed = ok("First, boil the water. Then add pasta. Finally, drain it.", "clarity", "better")
    assert listed == "1. Boil the water.\n2. Add pasta.\n3. Drain it."
    assert ok(listed, "clarity", "worse") == "Boil the water, add pasta, and drain it."
    assert "no enumerated sentences" in fails("Boil water. It is hot.", "clarity", "better")


# ------------------------------------------------------------------------------ phrase lists


def test_phrase_lists_are_lower_case_and_counted_outside_code() -> None:
    for phrases in (HEDGES, REFUSALS, PLEASANTRIES, FOLLOW_UPS):
        assert all(p == p.lower() for p in phrases)
    text = "Perhaps it works. I think so.\n\n```\n# perhaps maybe\n```"
    assert count_phrases(text, HEDGES) == 2
    assert count_phrases("I’m not sure, but thanks!", HEDGES) == 1  # typographic apostrophe


def test_all_default_attribute_names_are_either_supported_or_refused() -> None:
    for attr in DEFAULT_ATTRIBUTES:
        res = run(RICH, attr, "worse", RICH_PROMPT)
        if attr.name in SUPPORTED_ATTRIBUTES:
            assert res.text is not None or res.failure.startswith(("no ", "the ", "fewer"))
        else:
            assert res.failure == f"rules:v1 cannot perturb attribute '{attr.name}'"


# ------------------------------------------------------------------------------ failure kinds


def test_every_failure_names_the_kind_the_old_classifier_gave_its_reason(monkeypatch) -> None:
    """Each rule now says its failure's kind itself; it must be the kind that the regex
    classifier gave the same reason before, or summaries of cached ``rules:v1`` runs would
    change. While the rules run, any call to the classifier is recorded: none may be needed."""
    requests = [
        PerturbationRequest(c.prompt, response, get_attribute(name), direction)
        for c in sample_comparisons()
        for response in (c.response_a, c.response_b)
        for name in SUPPORTED_ATTRIBUTES
        for direction in DIRECTIONS
    ]
    requests += [
        PerturbationRequest("q", "text", get_attribute("helpfulness"), "worse"),
        PerturbationRequest("q", "text", get_attribute("verbosity"), "sideways"),
        PerturbationRequest("q", "  ", get_attribute("verbosity"), "worse"),
    ]

    guessed: list[str | None] = []

    def guessing(reason: str | None) -> FailureKind:
        guessed.append(reason)
        return legacy_failure_kind(reason)

    monkeypatch.setattr(base, "legacy_failure_kind", guessing)
    failures = [r for r in RULES.perturb_batch(requests) if r.failure is not None]
    monkeypatch.undo()
    assert guessed == [], "failures created without their kind"
    assert len({re.sub(r"\d+", "N", r.failure) for r in failures}) >= 15  # most reasons occur
    for r in failures:
        assert r.kind == legacy_failure_kind(r.failure), r.failure
