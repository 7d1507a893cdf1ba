"""Attribute discovery: ask an LLM which qualities tell two responses apart, and keep the most
often proposed ones as attributes (the paper's way of finding its attribute list).

``discover_attributes(comparisons, llm, k=15)`` sends one chat request per sampled comparison
(``DISCOVERY_TEMPLATE``, versioned like the perturbation prompts and visible here), parses each
reply strictly (``parse_discovery_reply``), folds the proposed names together
(``normalise_name``) and returns the ``k`` names proposed for the most comparisons as
:class:`~rmx_widgets.core.attributes.Attribute` objects, with the counts.

Rules, all deterministic:

- **Strict replies.** A reply must be a JSON list (optionally in one ```json fence) of 1 to
  ``MAX_ITEMS`` objects with exactly the keys ``name``, ``definition``, ``worse`` and
  ``better``, each a non-empty string of plain text (no control or escape codes) of at most
  ``MAX_TEXT`` characters, the definition a sentence (at least 10 characters). A duplicated
  key, an unknown or missing key, or a name that normalises to no valid attribute name makes
  the whole reply a failure with its reason: it is counted in ``n_failed`` (and, through an
  LLM client, retried first), never fatal and never half-used.
- **Names.** ``normalise_name``: Unicode NFKC, lower case, every run of characters other than
  ``a-z`` / ``0-9`` (spaces, ``_``, ``/``, punctuation) becomes one ``-``, leading and trailing
  ``-`` go, and the last word loses a plural ending (``-ies`` → ``-y``; a final ``-s`` unless
  the word ends in ``ss``, ``us`` or ``is``, or is at most 3 letters). The result must be a
  valid attribute name (a letter first, at most 64 characters). No synonym folding: "brevity"
  and "conciseness" stay two names.
- **Counts.** A name's count is the number of comparisons whose reply proposed it (twice in one
  reply counts once). Ranking: count, highest first; ties by name, alphabetically.
- **Definitions.** Each discovered attribute takes the definition and directions of the first
  proposal of its name, in the order of the sampled comparisons.
- **Built-in names.** A name that is a built-in attribute's (``verbosity``, ``avoid to answer``
  → ``avoid-to-answer``) becomes that built-in attribute, its own definition and directions
  (``builtin`` is true in the counts): a different definition under a built-in name would make
  the attributes file warn on load that the rule perturber ignores it (``attributes.py``).

The result's ``to_records()`` is a list of ``{"name", "definition", "worse", "better"}`` that
``--attributes-file`` and ``resolve_attributes`` accept as is.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rmx_widgets.core.attributes import _BY_NAME, _NAME, Attribute
from rmx_widgets.core.data import Comparison, load_comparisons, render_prompt, text_problem
from rmx_widgets.core.errors import OptionError, PerturberError
from rmx_widgets.core.perturbers.chat import chat_asker
from rmx_widgets.core.strict_json import reply_json

if TYPE_CHECKING:
    import pandas as pd

DISCOVERY_VERSION = "v1"
#: the most qualities one reply may list, and the longest text of one field
MAX_ITEMS = 20
MAX_TEXT = 2000
_KEYS = ("name", "definition", "worse", "better")
COUNT_COLUMNS = ("name", "count", "share", "builtin", "selected", "variants")

DISCOVERY_SYSTEM_PROMPT = (
    "You are an expert evaluator of AI assistants. You name the general qualities that make "
    "one response to a prompt better or worse than another. You always answer with a single "
    "JSON list and nothing else."
)

DISCOVERY_USER_TEMPLATE = """\
Below is a conversation prompt and two responses an assistant could give to it.

<prompt>
{prompt}
</prompt>

<response_a>
{response_a}
</response_a>

<response_b>
{response_b}
</response_b>

Which qualities of a response distinguish these two responses? List 1 to {max_items} \
general qualities that a judge of responses could use on any conversation (for example how \
concise, how correct or how polite a response is), not facts about this conversation. For \
each quality give:
- "name": its short name, one to three lower-case words, e.g. "conciseness";
- "definition": one or two sentences saying what more and less of the quality look like;
- "worse": an instruction for rewriting a response to be worse on this quality;
- "better": an instruction for rewriting a response to be better on this quality.

Answer with ONLY this JSON list, with no text before or after it:
[{{"name": "<name>", "definition": "<definition>", "worse": "<instruction>", \
"better": "<instruction>"}}]
"""


def discovery_messages(
    comparison: Comparison, *, max_items: int = 8, system: bool = True
) -> list[dict[str, str]]:
    """The chat messages asking about one comparison (``system=False`` folds the system turn
    into the user turn, for chat templates without a system role)."""
    user = DISCOVERY_USER_TEMPLATE.format(
        prompt=render_prompt(comparison.prompt),
        response_a=comparison.response_a,
        response_b=comparison.response_b,
        max_items=max_items,
    )
    if system:
        return [
            {"role": "system", "content": DISCOVERY_SYSTEM_PROMPT},
            {"role": "user", "content": user},
        ]
    return [{"role": "user", "content": f"{DISCOVERY_SYSTEM_PROMPT}\n\n{user}"}]


@dataclass(frozen=True)
class DiscoveryTemplate:
    """The discovery prompt's name and version (``tag``: ``discover-v1``)."""

    name: str
    version: str

    @property
    def tag(self) -> str:
        return f"{self.name}-{self.version}"


DISCOVERY_TEMPLATE = DiscoveryTemplate("discover", DISCOVERY_VERSION)


# -- names ------------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[^a-z0-9]+")


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def normalise_name(raw: str) -> str | None:
    """The attribute name ``raw`` folds to (see the module docstring), or ``None`` when it
    folds to no valid attribute name."""
    text = unicodedata.normalize("NFKC", raw).lower()
    words = [w for w in _SEPARATORS.split(text) if w]
    if not words:
        return None
    words[-1] = _singular(words[-1])
    name = "-".join(words)
    return name if _NAME.match(name) else None


# -- one reply --------------------------------------------------------------------------------


class DiscoveryReplyError(ValueError):
    """A discovery reply is not the JSON list the template asks for."""


@dataclass(frozen=True)
class Proposal:
    """One quality one reply proposed: the name as written, its folded name and its texts."""

    raw_name: str
    name: str
    definition: str
    worse: str
    better: str


def parse_discovery_reply(text: str) -> list[Proposal]:
    """The proposals of one reply, or ``DiscoveryReplyError`` saying what is wrong with it."""
    if not isinstance(text, str):
        raise DiscoveryReplyError(f"the reply is {type(text).__name__}, not text")
    data = reply_json(text, DiscoveryReplyError)
    if not isinstance(data, list):
        raise DiscoveryReplyError(f"the reply is JSON {type(data).__name__}, not a list")
    if not 1 <= len(data) <= MAX_ITEMS:
        raise DiscoveryReplyError(
            f"the reply lists {len(data)} qualities; 1 to {MAX_ITEMS} are accepted"
        )
    return [_proposal(i, item) for i, item in enumerate(data)]


def _proposal(i: int, item: Any) -> Proposal:
    where = f"quality {i}"
    if not isinstance(item, dict):
        raise DiscoveryReplyError(f"{where} is JSON {type(item).__name__}, not an object")
    missing = [k for k in _KEYS if k not in item]
    unknown = sorted(ascii(str(k)[:40]) for k in item if k not in _KEYS)
    if missing or unknown:
        parts = [f"lacks {', '.join(map(repr, missing))}"] if missing else []
        parts += [f"has unknown key(s) {', '.join(unknown)}"] if unknown else []
        raise DiscoveryReplyError(f"{where} {' and '.join(parts)}")
    for key in _KEYS:
        value = item[key]
        if not isinstance(value, str) or not value.strip():
            raise DiscoveryReplyError(f"{where}: {key!r} is not a non-empty string")
        if len(value) > MAX_TEXT:
            raise DiscoveryReplyError(f"{where}: {key!r} is over {MAX_TEXT} characters")
        problem = text_problem(value)
        if problem is not None:
            raise DiscoveryReplyError(f"{where}: {key!r} holds {problem}")
    raw = item["name"].strip()
    name = normalise_name(raw)
    if name is None:
        shown = ascii(raw[:40])
        raise DiscoveryReplyError(f"{where}: the name {shown} folds to no valid attribute name")
    definition = " ".join(item["definition"].split())
    if len(definition) < 10:
        raise DiscoveryReplyError(f"{where}: the definition is shorter than a sentence")
    return Proposal(raw, name, definition, item["worse"].strip(), item["better"].strip())


def _check(text: str) -> str | None:
    """``chat_batch``'s reply check: the reason a reply is unusable, or ``None``."""
    try:
        parse_discovery_reply(text)
    except DiscoveryReplyError as e:
        return f"unusable discovery reply: {e}"
    return None


# -- the run ----------------------------------------------------------------------------------


@dataclass
class DiscoveryResult:
    """What ``discover_attributes`` found.

    ``attributes``: the top ``k`` names as attributes, most often proposed first. ``counts``:
    every distinct name, ranked, with columns ``COUNT_COLUMNS`` (``count``: comparisons that
    proposed it; ``share``: count / replies parsed; ``builtin``; ``selected``: in the top k;
    ``variants``: the spellings seen, sorted, ``"; "``-joined). ``n_asked``: comparisons asked;
    ``n_failed``: replies that were unusable (their ids and reasons in ``failures``).
    """

    attributes: list[Attribute]
    counts: pd.DataFrame
    n_asked: int
    n_failed: int
    failures: list[tuple[str, str]] = field(default_factory=list)
    template: str = DISCOVERY_TEMPLATE.tag

    def to_records(self) -> list[dict[str, str]]:
        """The attributes as an attributes file holds them (``--attributes-file``)."""
        return [
            {"name": a.name, "definition": a.definition, "worse": a.worse, "better": a.better}
            for a in self.attributes
        ]

    def to_json(self) -> str:
        return json.dumps(self.to_records(), indent=2, ensure_ascii=False) + "\n"


Asker = Callable[[list[list[dict[str, str]]]], list[tuple[str | None, str]]]


def _asker(llm: Any) -> Asker:
    """A function from conversations to ``(reply or None, failure reason)`` per conversation
    (the LLM taken as ``perturbers.chat.chat_asker`` takes it)."""
    ask = chat_asker(llm, _check, "attribute discovery")

    def ask_pairs(convs: list[list[dict[str, str]]]) -> list[tuple[str | None, str]]:
        return [(r.text, r.failure or "") for r in ask(convs)]

    return ask_pairs


def _sample(comps: list[Comparison], sample: int | None, seed: int) -> list[Comparison]:
    if sample is None or sample >= len(comps):
        return comps
    keep = sorted(random.Random(seed).sample(range(len(comps)), sample))
    return [comps[i] for i in keep]


def _whole(value: Any, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise OptionError(f"{what} must be a whole number of at least {low}, got {value!r}.")
    return value


def discover_attributes(
    comparisons: Any,
    llm: Any,
    k: int = 15,
    *,
    sample: int | None = None,
    seed: int = 0,
    max_items: int = 8,
    system: bool = True,
) -> DiscoveryResult:
    """Ask ``llm`` which qualities distinguish the two responses of each sampled comparison and
    return the ``k`` most often proposed as attributes (rules in the module docstring).

    ``comparisons``: anything ``load_comparisons`` takes. ``llm``: an ``OpenAIPerturber`` (its
    client, retries and key handling are used) or a function ``messages -> reply text``.
    ``sample``: ask about that many comparisons drawn at random with ``seed`` (kept in data
    order; all when ``None`` or more than there are). ``max_items``: how many qualities the
    prompt asks for at most. Fewer distinct names than ``k`` give fewer attributes. Raises
    ``DataError`` with no comparisons and ``PerturberError`` when no reply was usable.
    """
    from rmx_widgets.core.errors import DataError

    k = _whole(k, "k", 1)
    seed = int(seed)
    if sample is not None:
        sample = _whole(sample, "sample", 1)
    max_items = min(_whole(max_items, "max_items", 1), MAX_ITEMS)
    ask = _asker(llm)
    none = "there are no comparisons to ask about; attribute discovery needs at least one."
    is_list = isinstance(comparisons, Sequence) and not isinstance(comparisons, str)
    if (is_list and not comparisons) or getattr(comparisons, "empty", False) is True:
        raise DataError(none)
    comps = load_comparisons(comparisons)
    if not comps:
        raise DataError(none)
    asked = _sample(comps, sample, seed)
    replies = ask([discovery_messages(c, max_items=max_items, system=system) for c in asked])
    proposals: list[list[Proposal]] = []
    failures: list[tuple[str, str]] = []
    for comp, (text, reason) in zip(asked, replies):
        if text is None:
            failures.append((comp.id, reason or "no reply"))
            continue
        proposals.append(parse_discovery_reply(text))
    if not proposals:
        first = failures[0][1] if failures else "no reply"
        raise PerturberError(
            f"none of the {len(asked)} discovery replies was usable (first: {first}); check "
            "the model and its server."
        )
    attributes, counts = _aggregate(proposals, k)
    return DiscoveryResult(attributes, counts, len(asked), len(failures), failures)


def _aggregate(proposals: Sequence[list[Proposal]], k: int) -> tuple[list[Attribute], Any]:
    """Counts per folded name (once per reply), ranked; the top ``k`` as attributes."""
    import pandas as pd

    count: dict[str, int] = {}
    first: dict[str, Proposal] = {}
    variants: dict[str, set[str]] = {}
    for reply in proposals:
        for p in {p.name: p for p in reversed(reply)}.values():  # the first of each name
            count[p.name] = count.get(p.name, 0) + 1
            first.setdefault(p.name, p)
        for p in reply:
            variants.setdefault(p.name, set()).add(p.raw_name)
    ranked = sorted(count, key=lambda n: (-count[n], n))
    top = ranked[:k]
    attributes = [
        _BY_NAME.get(n) or Attribute(n, first[n].definition, first[n].worse, first[n].better)
        for n in top
    ]
    rows = [
        {
            "name": n,
            "count": count[n],
            "share": count[n] / len(proposals),
            "builtin": n in _BY_NAME,
            "selected": i < k,
            "variants": "; ".join(sorted(variants[n])),
        }
        for i, n in enumerate(ranked)
    ]
    return attributes, pd.DataFrame(rows, columns=list(COUNT_COLUMNS))
