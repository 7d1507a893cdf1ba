"""relevance: worse splices in an off-topic sentence, better removes announced digressions."""

from __future__ import annotations

import re

from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.perturbers.rules.common import Ctx, done, has_answer
from rmx_widgets.core.perturbers.rules.stock import OFF_TOPIC_SENTENCES
from rmx_widgets.core.text.markdown import Doc, Unit
from rmx_widgets.core.text.phrases import is_social
from rmx_widgets.core.text.words import content_words

_DIGRESSION = re.compile(
    r"^\W*(?:on an unrelated note|on a side note|on another note|unrelated(?:ly)?|incidentally|"
    r"as an aside|by the way|fun fact|side note|speaking of which|random(?:ly)?)\b",
    re.IGNORECASE,
)


def _off_topic_sentence(ctx: Ctx) -> str | None:
    """A stock off-topic sentence sharing no content word with prompt or response (tried from
    a seeded start), or None when every one does."""
    taken = content_words(ctx.prompt) | content_words(ctx.response)
    start = ctx.rng.randrange(len(OFF_TOPIC_SENTENCES))
    for k in range(len(OFF_TOPIC_SENTENCES)):
        cand = OFF_TOPIC_SENTENCES[(start + k) % len(OFF_TOPIC_SENTENCES)]
        if not (content_words(_DIGRESSION.sub("", cand)) & taken):
            return cand
    return None


def relevance_worse(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Insert the off-topic sentence after a content sentence in the middle of the response."""
    choice = _off_topic_sentence(ctx)
    if choice is None:
        return PerturbationResult.failed(
            "every stock off-topic sentence overlaps the prompt or response",
            FailureKind.NOT_APPLICABLE,
        )
    sentences = [i for i, u in enumerate(doc.units) if u.kind == "sentence"]
    content = [
        i
        for i in sentences[:-1]
        if not is_social(doc.units[i].body) and not doc.units[i].body.rstrip().endswith(":")
    ]
    if content:
        at = content[ctx.rng.randrange(len(content))]
        doc.insert_after(at, Unit("sentence", choice), same_paragraph=True)
    elif len(sentences) >= 2:
        at = sentences[ctx.rng.randrange(len(sentences) - 1)]
        doc.insert_after(at, Unit("sentence", choice), same_paragraph=True)
    elif sentences:
        doc.insert_after(sentences[0], Unit("sentence", choice), same_paragraph=True)
    else:
        doc.insert_after(len(doc.units) - 1, Unit("sentence", choice), same_paragraph=False)
    return done(doc)


def relevance_better(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Remove sentences that open with a digression marker and share no content word with
    the prompt."""
    # Word overlap alone is too weak a signal (short on-topic steps such as "Cook for 9
    # minutes." share no word with "How do I boil an egg?"), so a sentence is only judged
    # off-topic when it also announces itself as a digression.
    prompt_words = content_words(ctx.prompt)
    drop: set[int] = set()
    for i, u in enumerate(doc.units):
        if u.kind != "sentence" or not _DIGRESSION.match(u.body) or is_social(u.body):
            continue
        found = content_words(_DIGRESSION.sub("", u.body))
        if len(found) >= 2 and not (found & prompt_words):
            drop.add(i)
    if not drop:
        return PerturbationResult.failed(
            "no digression ('By the way', 'Incidentally', ...) that "
            "shares no content word with the prompt",
            FailureKind.NOT_APPLICABLE,
        )
    doc.remove(drop)
    if not has_answer(doc):
        return PerturbationResult.failed(
            "removing the unrelated sentences would leave no answer", FailureKind.NOT_APPLICABLE
        )
    return done(doc)
