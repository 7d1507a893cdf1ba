"""Simple arithmetic statements ('a op b = c') in prose, and whether they are true.

The correctness rule corrupts or recomputes their results, and the transparent RM counts the
false ones; chained expressions ('2 + 3 + 4 = 9') are skipped rather than misjudged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rmx_widgets.core.text.markdown import mask_inline_code, mask_spans, pieces

_NUM = r"\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_EQUATION = re.compile(
    rf"(?<![\w.,$])({_NUM})\s*([+\-−*/×÷]|(?<=\s)x(?=\s))\s*({_NUM})\s*=\s*(-?{_NUM})"
    r"(?![\w%]|[.,]\d)"
)


@dataclass(frozen=True)
class ArithmeticStatement:
    """One 'a op b = c' statement found in prose; ``actual`` is what a op b really is."""

    start: int
    end: int
    text: str
    stated: float
    actual: float
    result_start: int
    result_text: str

    @property
    def correct(self) -> bool:
        decimals = len(self.result_text.split(".")[1]) if "." in self.result_text else 0
        tol = 1e-9 if decimals == 0 else 0.5 * 10**-decimals + 1e-9
        return abs(self.stated - self.actual) <= tol


def _num_value(s: str) -> float:
    return float(s.replace("$", "").replace(",", ""))


_OPERATOR_AFTER = re.compile(r"\s*[+\-−*/×÷=^]")


def _operator_before(s: str, end: int) -> bool:
    """Whether ``s[:end]`` ends with an operator or bracket and then only whitespace (what
    ``re.search(r"[+\\-−*/×÷(^)]\\s*$", s[:end])`` tells, without copying or searching the
    whole prefix for every statement)."""
    i = end
    while i > 0 and s[i - 1].isspace():
        i -= 1
    return i > 0 and s[i - 1] in "+-−*/×÷(^)"


def equations(s: str) -> list[ArithmeticStatement]:
    """The simple statements in ``s`` as it is (mask code first), with offsets into ``s``."""
    out = []
    for m in _EQUATION.finditer(s):
        if _operator_before(s, m.start()) or _OPERATOR_AFTER.match(s, m.end()):
            continue  # part of a longer expression: not a simple statement
        a, op, b = _num_value(m.group(1)), m.group(2), _num_value(m.group(3))
        if op == "+":
            actual = a + b
        elif op in "-−":
            actual = a - b
        elif op in "*×x":
            actual = a * b
        else:
            if b == 0:
                continue
            actual = a / b
        out.append(
            ArithmeticStatement(
                m.start(),
                m.end(),
                m.group(0),
                _num_value(m.group(4)),
                actual,
                m.start(4),
                m.group(4),
            )
        )
    return out


def find_arithmetic(text: str) -> list[ArithmeticStatement]:
    """Every simple 'a op b = c' statement outside code (fenced and inline), with offsets into
    ``text``. Chained expressions ('2 + 3 + 4 = 9') are skipped, not misjudged."""
    if "=" not in text:
        return []  # every statement has one; most responses have none (no parse needed)
    code = [(s, e) for s, e, kind, _ in pieces(text) if kind == "code"]
    masked = mask_spans(mask_inline_code(text), code)
    return [
        ArithmeticStatement(
            st.start,
            st.end,
            text[st.start : st.end],
            st.stated,
            st.actual,
            st.result_start,
            st.result_text,
        )
        for st in equations(masked)
    ]
