"""verbosity: worse pads and restates, better cuts filler, restatements and near-duplicates."""

from __future__ import annotations

import re
from collections import Counter

from rapidfuzz import fuzz, process

from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.perturbers.rules.common import Ctx, done, has_answer
from rmx_widgets.core.perturbers.rules.stock import PADDING_SENTENCES, RESTATEMENT_PREFIX
from rmx_widgets.core.text.markdown import Doc, Unit
from rmx_widgets.core.text.phrases import is_pleasantry, is_social
from rmx_widgets.core.text.words import content_words, ensure_period, words

_RESTATEMENT_OPENER = re.compile(
    r"^\W*(?:to restate the key point|in other words|to put it another way|to restate|to repeat|"
    r"to reiterate|to summari[sz]e|to sum up|in summary|in short|as (?:i )?(?:mentioned|said|"
    r"noted)(?: (?:above|earlier|before))?|once again|again|simply put|put simply|all in all|"
    r"in conclusion|basically|essentially)\b",
    re.IGNORECASE,
)
_FILLER_SENTENCE = re.compile(
    r"^(?:this is an? (?:good|great|important|interesting|common) (?:question|topic|thing)"
    r"|there are (?:many|several|a few) (?:things|factors|points) to (?:consider|keep in mind)"
    r"|it is important to (?:think|be careful) about this|let me explain)[.!]?$",
    re.IGNORECASE,
)
_PADDING_NORMAL = {p.lower() for p in PADDING_SENTENCES}


def verbosity_worse(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Restate one content sentence right after itself, then add a padding sentence at the
    start (after any opening pleasantries)."""
    content = [
        i
        for i, u in enumerate(doc.units)
        if u.kind == "sentence"
        and not is_social(u.body)
        and not u.body.rstrip().endswith(("?", ":"))
        and len(words(u.body)) >= 4
    ]
    if content:
        i = content[ctx.rng.randrange(len(content))]
        restated = RESTATEMENT_PREFIX + ensure_period(doc.units[i].body.strip())
        doc.insert_after(i, Unit("sentence", restated), same_paragraph=True)
    padding = PADDING_SENTENCES[ctx.rng.randrange(len(PADDING_SENTENCES))]
    first = next(
        (
            i
            for i, u in enumerate(doc.units)
            if not (u.kind == "sentence" and is_pleasantry(u.body))
        ),
        len(doc.units),
    )
    if first < len(doc.units) and doc.units[first].kind == "sentence":
        doc.insert_after(first - 1, Unit("sentence", padding), same_paragraph=True)
    else:
        doc.insert_after(first - 1, Unit("sentence", padding), same_paragraph=False)
    return done(doc)


def _restatements(doc: Doc, sentences: list[int], drop: set[int]) -> set[int]:
    """Sentences opening with 'In other words'/'To sum up'/... whose content words are at
    least half found elsewhere (among the units not dropped yet)."""
    found: set[int] = set()
    # How many units not dropped or found (and not code) have each content word: counted once,
    # then kept up to date, rather than re-collected over every unit for each restatement.
    words_of: dict[int, set[str]] = {}
    counts: Counter[str] | None = None
    for i in sentences:
        if i in drop:
            continue
        body = doc.units[i].body
        if _RESTATEMENT_OPENER.match(body):
            own = content_words(_RESTATEMENT_OPENER.sub("", body))
            if counts is None:
                for j, u in enumerate(doc.units):
                    if j not in drop and u.kind != "code":
                        words_of[j] = content_words(u.body)
                counts = Counter(w for ws in words_of.values() for w in ws)
            mine = words_of[i]
            shared = sum(1 for w in own if counts[w] - (w in mine) > 0)
            if own and shared / len(own) >= 0.5:
                found.add(i)
                counts.subtract(mine)
    return found


def _near_duplicates(doc: Doc, sentences: list[int], drop: set[int]) -> set[int]:
    """Sentences of five or more words that nearly repeat an earlier kept one."""
    found: set[int] = set()
    kept: list[str] = []  # the kept sentences, lowercased
    for i in sentences:
        if i in drop:
            continue
        a = doc.units[i].body.lower()
        # "any kept sentence scores >= 85", asked of rapidfuzz's C loop, whose score_cutoff
        # prunes by length first: a long response's sentence pairs are not scored in Python
        if len(words(a)) >= 5 and (
            process.extractOne(a, kept, scorer=fuzz.token_sort_ratio, score_cutoff=85) is not None
        ):
            found.add(i)
        else:
            kept.append(a)
    return found


def verbosity_better(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Cut padding and filler sentences, then redundant restatements, then near-duplicates."""
    sentences = [i for i, u in enumerate(doc.units) if u.kind == "sentence"]
    drop = {
        i
        for i in sentences
        if doc.units[i].body.strip().lower() in _PADDING_NORMAL
        or _FILLER_SENTENCE.match(doc.units[i].body.strip())
    }
    drop |= _restatements(doc, sentences, drop)
    drop |= _near_duplicates(doc, sentences, drop)
    if not drop:
        return PerturbationResult.failed(
            "no redundant sentences (restatements, filler or near-duplicates) to cut",
            FailureKind.NOT_APPLICABLE,
        )
    doc.remove(drop)
    if not has_answer(doc):
        return PerturbationResult.failed(
            "cutting the redundant sentences would leave no answer", FailureKind.NOT_APPLICABLE
        )
    return done(doc)
