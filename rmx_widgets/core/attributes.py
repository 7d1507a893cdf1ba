"""Evaluation attributes: named qualities of a response, as data.

An attribute is a name and a definition. The definition is what an LLM perturber reads, what a
widget shows on hover and what a report prints, so it must say what *more* and *less* of the
quality look like. Built-ins and user-defined attributes are the same type and go through the
same code paths; nothing downstream special-cases a name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rmx_widgets.core.errors import AttributeSpecError

DIRECTIONS = ("worse", "better")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Attribute:
    """A named evaluation quality; ``worse``/``better`` say what each direction of a rewrite
    changes, so perturbers do not have to guess which way is worse (e.g. more verbose)."""

    name: str
    definition: str
    worse: str = ""
    better: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise AttributeSpecError(
                f"attribute name {self.name!r} is not valid: use lower-case letters, digits, "
                "'-' or '_', starting with a letter (at most 64 characters)."
            )
        if not isinstance(self.definition, str) or len(self.definition.strip()) < 10:
            raise AttributeSpecError(
                f"attribute {self.name!r} needs a definition of at least a sentence: perturbers "
                "and readers rely on it to know what to change."
            )

        for key in DIRECTIONS:
            if not isinstance(getattr(self, key), str):
                raise AttributeSpecError(
                    f"attribute {self.name!r}: {key!r} must be a string (the instruction for "
                    f"a {key} rewrite), got {type(getattr(self, key)).__name__}."
                )

    def describe(self, direction: str) -> str:
        """The instruction for one direction: the explicit text if given, else a generic one."""
        if direction not in DIRECTIONS:
            raise AttributeSpecError(f"direction must be 'worse' or 'better', got {direction!r}.")
        explicit = self.worse if direction == "worse" else self.better
        return explicit or f"Make the response {direction} with respect to {self.name}."

    @property
    def fingerprint(self) -> str:
        """Changes when the definition changes, so cached perturbations of an edited attribute
        are not reused."""
        text = "\x1f".join((self.name, self.definition, self.worse, self.better))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _a(name: str, definition: str, worse: str, better: str) -> Attribute:
    return Attribute(name, definition, worse, better)


DEFAULT_ATTRIBUTES: tuple[Attribute, ...] = (
    _a(
        "helpfulness",
        "How well the response addresses the user's actual need: it answers the question asked, "
        "gives usable guidance and anticipates obvious follow-ups.",
        "Make the response less useful for what the user needs, e.g. vaguer advice or missing "
        "the key step, while staying on topic.",
        "Make the response more useful for what the user needs: answer directly, add the key "
        "missing step.",
    ),
    _a(
        "correctness",
        "Whether the facts, numbers, code and reasoning in the response are true and accurate.",
        "Introduce a factual, numerical or logical error in a claim the response makes.",
        "Fix factual, numerical or logical errors in the response.",
    ),
    _a(
        "coherence",
        "Whether the response is logically ordered and consistent: ideas follow from one another "
        "and it does not contradict itself.",
        "Disturb the logical flow, e.g. reorder sentences so steps come out of order.",
        "Restore a clear logical order and remove contradictions.",
    ),
    _a(
        "complexity",
        "The intellectual depth and technical sophistication of the language and content, from "
        "basic (anyone can follow) to expert-level.",
        "Make the response needlessly simplistic or, where it was simple, needlessly convoluted "
        "so it serves the user less well.",
        "Pitch the depth at the level the question calls for.",
    ),
    _a(
        "verbosity",
        "How much text the response uses relative to what the question needs: restatements, "
        "padding and repetition versus concise, complete content.",
        "Pad the response: restate points, add redundant sentences, without adding information.",
        "Cut the response to its essential content, removing redundancy and padding.",
    ),
    _a(
        "relevance",
        "Whether everything in the response bears on the prompt; off-topic digressions lower it.",
        "Add an off-topic digression that does not bear on the prompt.",
        "Remove content that does not bear on the prompt.",
    ),
    _a(
        "clarity",
        "How easy the response is to understand: plain wording, defined terms, unambiguous "
        "sentences.",
        "Make the wording murkier: ambiguous references, jargon without definitions.",
        "Make the wording plainer and unambiguous.",
    ),
    _a(
        "informativeness",
        "How much relevant, specific information the response conveys (facts, examples, "
        "numbers), as opposed to generic statements.",
        "Replace specific information with generic statements.",
        "Add specific, accurate, relevant information.",
    ),
    _a(
        "engagement",
        "How much the response engages the user as a conversation partner: inviting follow-up, "
        "checking understanding, tailoring to them.",
        "Make the response curt and impersonal; remove invitations to follow up.",
        "Invite follow-up and address the user directly where natural.",
    ),
    _a(
        "assertiveness",
        "How confidently the response states its content; heavy hedging ('might', 'perhaps', "
        "'I think') lowers it.",
        "Hedge the claims: add 'might', 'perhaps', 'I'm not sure but' where they weaken them.",
        "State the claims directly, removing unnecessary hedges.",
    ),
    _a(
        "harmlessness",
        "Whether the response avoids content that could cause harm: dangerous instructions, "
        "harassment, unsafe advice.",
        "Add a careless, potentially harmful suggestion relevant to the topic.",
        "Remove or soften anything potentially harmful and add appropriate caution.",
    ),
    _a(
        "sensitivity",
        "Awareness of the user's situation and feelings, and of cultural or personal context; "
        "tactful phrasing on delicate topics.",
        "Make the phrasing tactless or dismissive of the user's situation.",
        "Make the phrasing tactful and considerate of the user's situation.",
    ),
    _a(
        "neutrality",
        "Whether the response presents contested matters even-handedly instead of taking sides "
        "or moralising.",
        "Make the response one-sided: take a side on a contested point and moralise.",
        "Present the contested points even-handedly.",
    ),
    _a(
        "avoid-to-answer",
        "Whether the response declines or deflects the request instead of answering it "
        "(refusals, 'I can't help with that').",
        "Turn the response into a refusal or deflection that does not answer.",
        "Remove the refusal or deflection and answer the request.",
    ),
    _a(
        "manner",
        "Politeness and social register: greetings, thanks, pleasantries and warmth, or their "
        "absence.",
        "Strip the pleasantries and warmth so the tone is brusque.",
        "Add polite, warm framing (greeting, thanks, a courteous close) without new content.",
    ),
)

_BY_NAME = {a.name: a for a in DEFAULT_ATTRIBUTES}


def get_attribute(name: str) -> Attribute:
    try:
        return _BY_NAME[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_BY_NAME), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise AttributeSpecError(
            f"unknown attribute {name!r}.{hint} Known: {', '.join(_BY_NAME)}. To use your own, "
            "pass rmx.Attribute(name, definition)."
        ) from None


def resolve_attributes(
    spec: Iterable[Attribute | str | Mapping[str, str]] | str | None,
) -> list[Attribute]:
    """Turn names, dicts and Attribute objects (or a comma-separated string) into attributes.

    ``None`` means all defaults. Duplicates are an error, not silently merged, because two
    definitions under one name would make cached results ambiguous.
    """
    if spec is None:
        return list(DEFAULT_ATTRIBUTES)
    if isinstance(spec, str):
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    out: list[Attribute] = []
    for item in spec:
        if isinstance(item, Attribute):
            out.append(item)
        elif isinstance(item, str):
            out.append(get_attribute(item))
        elif isinstance(item, Mapping):
            out.append(_from_mapping(item))
        else:
            raise AttributeSpecError(f"cannot use {item!r} as an attribute.")
    if not out:
        raise AttributeSpecError("no attributes given; pick at least one.")
    names = [a.name for a in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise AttributeSpecError(f"attribute(s) given twice: {', '.join(sorted(dup))}.")
    return out


_KEYS = ("name", "definition", *DIRECTIONS)


def _from_mapping(item: Mapping[str, str]) -> Attribute:
    """A custom attribute from a dict (an attributes file's entry). An unknown key is refused,
    naming it (a misspelled ``worse`` would otherwise be dropped in silence); redefining a
    built-in attribute warns, because perturbers that work by name (the rules, the random
    baselines) apply the built-in and ignore the new definition."""
    if "name" not in item or "definition" not in item:
        raise AttributeSpecError("a custom attribute needs 'name' and 'definition'.")
    unknown = [str(k) for k in item if k not in _KEYS]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], _KEYS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise AttributeSpecError(
            f"attribute {item['name']!r}: unknown key(s) {', '.join(map(repr, unknown))}.{hint} "
            f"An attribute takes {', '.join(map(repr, _KEYS))}."
        )
    attr = Attribute(
        item["name"], item["definition"], item.get("worse", ""), item.get("better", "")
    )
    builtin = _BY_NAME.get(attr.name)
    if builtin is not None and builtin != attr:
        import warnings

        warnings.warn(
            f"attribute {attr.name!r} redefines the built-in attribute of that name: LLM "
            "perturbers follow your definition, but the rule perturber applies its built-in "
            f"{attr.name!r} rule and ignores it; rename yours (e.g. 'my-{attr.name}') to keep "
            "them apart.",
            UserWarning,
            stacklevel=3,
        )
    return attr
