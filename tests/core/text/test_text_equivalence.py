"""The linear-time markdown parser, phrase counting, arithmetic finder and rules give exactly
the outputs the old (quadratic) code gave: digests of every output on a set of varied texts
were recorded with the old code (``text_golden.json``) and must still match.

Regenerate only for an intended change of behaviour, by running this file with python.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.data import sample_comparisons
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.core.perturbers.rules import SUPPORTED_ATTRIBUTES, RulePerturber
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel
from rmx_widgets.core.text.arithmetic import find_arithmetic
from rmx_widgets.core.text.markdown import mask_inline_code, parse, strip_code

GOLDEN = Path(__file__).with_name("text_golden.json")
PROMPT = "Tell me about the capital of France and how to compute 12 * 3."

HAND = [
    "",
    " ",
    "\n\n",
    "Hello.",
    "Mr. Smith went to Washington. He said hi! Did he? Yes.",
    "See Fig. 3 and No. 5. Then p. 12. J. K. Rowling wrote it. The U.S. is big. E.g. this one.",
    'He said "Stop. Now." Then left. “Wait. Please.” She stayed. "Odd quote. Here.',
    "Use `a. B` inline. Then ``x `y` z. Q`` here. Unclosed ` tick. Next one.",
    "Line one.\n. Starts with a dot. Then more.\nfoo\n. Bar baz.",
    "Dots... Many dots.... And ?! marks?! Then (quoted.) Next. 'single.' Next _em._ Next *b.* Yes.",
    "a. b. c. d. e. lower after periods. Upper Now. ok.",
    "2 + 2 = 5 and 3 * 4 = 12. Also 10 / 0 = 1. And 1,000 + 2,000 = 3,000. $5 + $6 = $12.",
    "Chained 2 + 3 + 4 = 9 is skipped. 7 − 2 = 5. 6 x 7 = 41. 1.5 + 1.5 = 3.0. 5 - 3 = -2.",
    "```python\nx = 1. Y = 2\nprint(2 + 2 = 5)\n```\nAfter code. 2 + 2 = 5.\n~~~\nunclosed fence",
    "# Title\n\nIntro sentence. Second one.\n\n- item one. still item\n  continued here.\n"
    "- item two\n1. first\n2) second\n\n> quote line\n| a | b |\n---\n* * *\n___\nEnd.",
    "Great question! I think it might be Paris. Perhaps. I hope this helps! Let me know if you "
    "want more. Would you like me to explain?",
    "I'm sorry, but I can't help with that. However, the capital of France is Lyon. Water boils "
    "at 90 degrees Celsius.",
    "First, open the box. Then, take it out. Finally, use it. Second, read the manual.",
    "Finally, done. First, start. Next, continue.",
    "In other words, the box is open. The box is open now. To sum up, box open. Basically the "
    "box is open and the lid is off.",
    "The quick brown fox jumps over the lazy dog. The quick brown fox jumped over the lazy dog. "
    "A quick brown fox jumps over a lazy dog!",
    "You need: flour, sugar, and eggs. Mix them well. Bake at 180 degrees.",
    "Thanks for asking, the answer is 42. Hi! Hello there. Thanks to him, we won.",
    "By the way, bananas are yellow. The capital of Italy is Rome. Fun fact: owls hoot.",
    "Tabs\tand\u00a0nbsp. Next\u2003sentence. Ünïcödé Ärger. 日本語。 Next.\r\nWindows line.\r\n",
    "." * 50,
    "." * 50 + " After dots. " + "!?" * 20 + " x",
    "a" * 300 + ". " + "B" * 300 + ". c" * 20,
    "aGVsbG8=.d29ybGQ=. QUJD. eHl6+/=. " * 5,
    "`" * 30 + " a " + "`" * 29,
    "*" * 40 + "\n" + "-" * 40 + "\n" + "#" * 7 + " x\n" + "  \n" * 5 + "\n" * 10 + "end.",
    "1. One.\n2. Two. Three.\n   indented more. Four.\n\n   ```\n   code in item\n   ```\nFin.",
]

FRAGMENTS = [
    "The cat sat on the mat",
    "the model is good",
    "I think it might be right",
    "perhaps",
    "Mr. Smith",
    "e.g.",
    "Dr. Who",
    "2 + 2 = 5",
    "12 * 3 = 36",
    "the capital of France is Lyon",
    "Paris",
    "water boils at 90 degrees Celsius",
    "`code. here`",
    '"quoted. text"',
    "“curly. quote”",
    "Great question!",
    "I hope this helps",
    "Let me know if you have questions",
    "Would you like more?",
    "I can't help with that",
    "In other words, the cat sat",
    "To sum up, the model is good",
    "First,",
    "Then,",
    "Finally,",
    "By the way, owls hoot",
    "you need: a, b, and c",
    "1,000",
    "3.5",
    "...",
    "?!",
    "aGVsbG8gd29ybGQ=",
]
SEPS = [". ", ". ", "! ", "? ", ".\n", ".\n\n", " ", ", ", "\n- ", "\n1. ", "\n# ", "\n```\n"]


def random_texts() -> list[str]:
    rng = random.Random(12)
    out = []
    for n in range(60):
        parts = []
        for _ in range(rng.randint(1, 40 if n < 50 else 400)):
            parts.append(rng.choice(FRAGMENTS))
            parts.append(rng.choice(SEPS))
        out.append("".join(parts))
    return out


def texts() -> list[str]:
    samples = [t for c in sample_comparisons()[:12] for t in (c.response_a, c.response_b)]
    return HAND + samples + random_texts()


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=True).encode()).hexdigest()[:16]


def outputs(text: str) -> dict[str, str]:
    doc = parse(text)
    parsed = [doc.prefix, doc.trailing, [(u.kind, u.body, u.sep, u.marker) for u in doc.units]]
    arith = [
        (s.start, s.end, s.text, s.stated, s.actual, s.result_start, s.result_text)
        for s in find_arithmetic(text)
    ]
    rm = TransparentRewardModel()
    rules = RulePerturber().perturb_batch(
        [
            PerturbationRequest(PROMPT, text, get_attribute(a), d)
            for a in SUPPORTED_ATTRIBUTES
            for d in ("worse", "better")
        ]
    )
    return {
        "parse": _digest(parsed),
        "mask": _digest(mask_inline_code(text)),
        "strip_code": _digest(strip_code(text)),
        "arithmetic": _digest(arith),
        "features": _digest(rm.features(PROMPT, text)),
        "score": _digest(rm.score([PROMPT], [text])),
        "rules": _digest([(r.text, r.failure, r.kind and r.kind.value) for r in rules]),
    }


def _golden() -> list[dict[str, str]]:
    return json.loads(GOLDEN.read_text())["outputs"]


@pytest.mark.parametrize("index", range(len(texts())))
def test_outputs_match_the_old_code(index: int) -> None:
    text = texts()[index]
    assert outputs(text) == _golden()[index], f"text {index}: {text[:80]!r}"


if __name__ == "__main__":
    GOLDEN.write_text(
        json.dumps({"outputs": [outputs(t) for t in texts()]}, indent=0, sort_keys=True) + "\n"
    )


def test_linear_scanners_agree_with_the_regexes_they_replace() -> None:
    """On many short random strings (where the old regexes are fast) the linear scanners give
    exactly the old regexes' answers."""
    import re

    from rmx_widgets.core.reward_models.transparent import _STRUCTURE
    from rmx_widgets.core.text.arithmetic import _operator_before
    from rmx_widgets.core.text.markdown import _BOUNDARY, INLINE_CODE, _last_token
    from rmx_widgets.core.text.markdown import inline_code_spans as spans

    old_boundary = re.compile(r"[.!?]+[\"'”’)\]*_]*(?=\s)")
    old_structure = re.compile(r"^\s*(?:[-*+]\s|\d+[.)]\s|#{1,6}\s|```)", re.M)
    rng = random.Random(5)

    def rand(alphabet: str | list[str], n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))

    for _ in range(20_000):
        s = rand("``` a\n", 14)
        assert spans(s) == [m.span() for m in INLINE_CODE.finditer(s)], repr(s)
        s = rand(".!?\"')*_ \n\u00a0aA”’]", 12)
        assert [m.span() for m in _BOUNDARY.finditer(s)] == [
            m.span() for m in old_boundary.finditer(s)
        ], repr(s)
        a = rng.randint(0, len(s))
        b = rng.randint(a, len(s))
        m = re.search(r"(\S+)$", s[a:b])
        assert _last_token(s, a, b) == (m.group(1) if m else None), repr((s, a, b))
        s = rand(["\n", " ", "\t", "\r", "\x0b", "-", "*", "1", ".", ")", "#", "`", "a"], 14)
        assert len(_STRUCTURE.findall(s)) == len(old_structure.findall(s)), repr(s)
        s = rand(["\n", " ", "\t", "\u00a0", "-", "*", "1", "(", ")", "^", "÷", "a"], 10)
        e = rng.randint(0, len(s))
        assert _operator_before(s, e) == bool(re.search(r"[+\-−*/×÷(^)]\s*$", s[:e])), repr(s)
