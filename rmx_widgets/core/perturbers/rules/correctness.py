"""correctness: worse makes one claim false, better fixes wrong arithmetic and known facts."""

from __future__ import annotations

import functools
import re

from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.perturbers.rules.common import Ctx, done
from rmx_widgets.core.perturbers.rules.stock import CAPITAL_ALIASES, CAPITALS, FACT_SWAPS
from rmx_widgets.core.text.arithmetic import equations
from rmx_widgets.core.text.markdown import Doc, mask_inline_code, with_masked_code

_NUMBER = re.compile(r"(?<![\w.,\-])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w]|[.,]\d)")


def _format_number(value: float, like: str) -> str:
    """``value`` written the way ``like`` is: dollar sign, thousands commas, decimals."""
    dollar = "$" if "$" in like else ""
    sign = "-" if value < 0 else ""
    value = abs(value)
    decimals = len(like.split(".")[1]) if "." in like else 0
    comma = "," if "," in like else ""
    if decimals and abs(round(value, decimals) - value) < 1e-9:
        body = f"{value:{comma}.{decimals}f}"  # keep the stated precision, e.g. money
    elif abs(value - round(value)) < 1e-9:
        body = f"{round(value):{comma}d}"
    else:
        body = f"{value:{comma}.4f}".rstrip("0").rstrip(".")
    return sign + dollar + body


def _corrupt_number(s: str) -> str:
    """A plausible wrong value in the same format: a year moves by 2, a small number by 2,
    a decimal by half, anything else by a fifth."""
    neg = s.startswith("-")
    core = s.lstrip("-")
    dollar = "$" if core.startswith("$") else ""
    core = core.lstrip("$")
    comma = "," in core
    decimals = len(core.split(".")[1]) if "." in core else 0
    v = float(core.replace(",", ""))
    if decimals:
        new = round(v * 1.5, decimals)
        if new == v:
            new = v + 10**-decimals
        body = f"{new:,.{decimals}f}" if comma else f"{new:.{decimals}f}"
    else:
        n = int(v)
        if (1000 <= n <= 2100 and not comma) or n < 10:
            n2 = n + 2
        else:
            n2 = n + max(1, round(n * 0.2))
        body = f"{n2:,}" if comma else str(n2)
    return ("-" if neg else "") + dollar + body


def _fact_regex(fact: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])" + re.escape(fact) + r"(?![\w])")


_FACT_PATTERNS = [(_fact_regex(a), a, b) for a, b in FACT_SWAPS]


def correctness_worse(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Make one claim false, preferring a wrong 'a op b = c' result, then a swapped fact
    (Paris → Lyon), then a changed number."""
    editable = [i for i, u in enumerate(doc.units) if u.editable]

    def masked(i: int) -> str:
        return mask_inline_code(doc.units[i].body)

    eqs = [(i, st) for i in editable for st in equations(masked(i))]
    if eqs:
        i, st = eqs[ctx.rng.randrange(len(eqs))]
        body = doc.units[i].body
        end = st.result_start + len(st.result_text)
        doc.units[i].body = body[: st.result_start] + _corrupt_number(st.result_text) + body[end:]
        return done(doc)
    # A swap whose wrong value is already in the text would read as a repetition, not an error.
    swaps = [(pat, fact, wrong) for pat, fact, wrong in _FACT_PATTERNS if wrong not in ctx.response]
    # Each unit masked once, and a fact's regex run only where the fact occurs as plain text
    # (the regex cannot match elsewhere): the same matches in the same order, far fewer scans.
    bodies = {i: masked(i) for i in editable}
    facts = [
        (i, m, wrong)
        for i in editable
        for pat, fact, wrong in swaps
        if fact in bodies[i]
        for m in pat.finditer(bodies[i])
    ]
    if facts:
        i, m, wrong = facts[ctx.rng.randrange(len(facts))]
        body = doc.units[i].body
        doc.units[i].body = body[: m.start()] + wrong + body[m.end() :]
        return done(doc)
    nums = [(i, m) for i in editable for m in _NUMBER.finditer(masked(i))]
    if nums:
        i, m = nums[ctx.rng.randrange(len(nums))]
        body = doc.units[i].body
        doc.units[i].body = body[: m.start()] + _corrupt_number(m.group(0)) + body[m.end() :]
        return done(doc)
    return PerturbationResult.failed(
        "no arithmetic, known facts or numbers outside code to make incorrect",
        FailureKind.NOT_APPLICABLE,
    )


_PLACE = r"[A-Z][\wí]+(?: [A-Z][\wí]+)*"
_CAPITAL_CLAIMS = (
    re.compile(rf"\bcapital(?: city)? of (?:the )?(?P<country>{_PLACE}) is (?P<city>{_PLACE})"),
    re.compile(rf"(?P<city>{_PLACE}) is the capital(?: city)? of (?:the )?(?P<country>{_PLACE})"),
)
_WATER_CLAIMS = (
    (
        re.compile(r"\b(?:water )?boils at (?P<v>\d+)\s?(?:degrees Celsius|°C|degrees C)\b", re.I),
        "100",
    ),
    (
        re.compile(r"\bboiling point(?: of water)? is (?P<v>\d+)\s?(?:degrees Celsius|°C)", re.I),
        "100",
    ),
    (
        re.compile(
            r"\bboiling point(?: of water)? is (?P<v>\d+)\s?(?:degrees Fahrenheit|°F)", re.I
        ),
        "212",
    ),
    (
        re.compile(
            r"\b(?:water )?boils at (?P<v>\d+)\s?(?:degrees Fahrenheit|°F|degrees F)\b", re.I
        ),
        "212",
    ),
    (
        re.compile(
            r"\b(?:water )?freezes at (?P<v>\d+)\s?(?:degrees Celsius|°C|degrees C)\b", re.I
        ),
        "0",
    ),
    (
        re.compile(
            r"\b(?:water )?freezes at (?P<v>\d+)\s?(?:degrees Fahrenheit|°F|degrees F)\b", re.I
        ),
        "32",
    ),
)


def _fix_facts(s: str) -> str:
    """Correct wrong capital cities and boiling/freezing points of water in ``s``."""
    for pat in _CAPITAL_CLAIMS:

        def fix(m: re.Match[str]) -> str:
            country, city = m.group("country"), m.group("city")
            right = CAPITALS.get(country)
            if right is None or CAPITAL_ALIASES.get(city, city) == right:
                return m.group(0)
            a, b = m.span("city")
            return m.group(0)[: a - m.start()] + right + m.group(0)[b - m.start() :]

        s = pat.sub(fix, s)
    for pat, right in _WATER_CLAIMS:
        s = pat.sub(functools.partial(_with_value, right=right), s)
    return s


def _with_value(m: re.Match[str], right: str) -> str:
    """The matched claim with its stated value (group ``v``) replaced by ``right``."""
    return m.group(0)[: m.start("v") - m.start()] + right + m.group(0)[m.end("v") - m.start() :]


def correctness_better(doc: Doc, ctx: Ctx) -> PerturbationResult:
    """Recompute wrong 'a op b = c' results and fix known facts, outside code."""
    n_checked = 0
    changed = False
    for u in doc.units:
        if not u.editable:
            continue

        def edit(s: str) -> str:
            nonlocal n_checked
            sts = equations(s)
            n_checked += len(sts)
            for st in reversed(sts):
                if not st.correct:
                    end = st.result_start + len(st.result_text)
                    s = s[: st.result_start] + _format_number(st.actual, st.result_text) + s[end:]
            return _fix_facts(s)

        new = with_masked_code(u.body, edit)
        if new != u.body:
            u.body, changed = new, True
    if not changed:
        if n_checked:
            return PerturbationResult.failed(
                f"all {n_checked} arithmetic statement(s) are already correct and no known "
                "fact is wrong",
                FailureKind.NOT_APPLICABLE,
            )
        return PerturbationResult.failed(
            "no 'a op b = c' arithmetic or known facts (capitals, boiling points) to check",
            FailureKind.NOT_APPLICABLE,
        )
    return done(doc)
