"""The prompt the LLM perturbers send, and the strict parser for what comes back.

The templates are plain module constants so users can read (and quote in a paper) exactly what
the model was asked. They are versioned: ``TEMPLATE_VERSION`` is part of every LLM perturber's
``identity``, which is part of the cache key, so editing a template here and bumping the version
makes old cached rewrites unreachable instead of silently mixing two prompts' outputs.

One chat exchange carries both steps of the method (DESIGN §1): the model first *locates* the
spans of the response that bear on the attribute, then *edits* only those, and answers with one
JSON object ``{"locate": [...], "rewritten": "..."}``. Asking for the located spans before the
rewrite makes the model commit to a small edit region, which keeps perturbations minimal.

Parsing is strict on purpose: a reply that is not exactly that object (optionally inside a
```json fence) is a failed perturbation with a reason, never a guess. A lenient parser that
fished a rewrite out of prose would let commentary ("Here is the rewritten response: ...") leak
into the text the reward model scores.

Two templates exist, each a ``PromptTemplate`` with a name and a version that end every LLM
perturber's ``identity`` (``...:prompt-v1``, ``...:paraphrase-v1``):

- ``ATTRIBUTE_TEMPLATE``: the method's locate-and-edit prompt above (``build_messages``).
- ``PARAPHRASE_TEMPLATE``: an attribute-*free* paraphrase, the LLM baseline of the evaluation.
  It asks the same model to reword the response while keeping its meaning, content and quality,
  and never names an attribute or a direction, so the flips it causes measure how much an RM
  reacts to rewording as such. Its reply format is the same JSON object (``locate`` optional),
  so ``parse_reply`` parses both and the backends need no second code path.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import (
    PerturbationRequest,
    PerturbationResult,
    check_rewrite,
)

TEMPLATE_VERSION = "v1"
PARAPHRASE_VERSION = "v1"

SYSTEM_PROMPT = (
    "You are a careful editor who helps test how automatic judges of AI assistants react to "
    "specific qualities of a response. You make small, targeted edits to an assistant's "
    "response so that it changes along exactly one quality, and you leave everything else "
    "word for word as it was. You always answer with a single JSON object and nothing else."
)

#: The part both templates share: the conversation and the response, in tags the model can
#: quote back.
_CONVERSATION = """\
Below is a conversation prompt and an assistant's response to it.

<prompt>
{prompt}
</prompt>

<response>
{response}
</response>

"""

USER_TEMPLATE = (
    _CONVERSATION
    + """\
Quality: {attribute}
Definition: {definition}
Goal: make the response {direction} overall, and specifically {direction} with respect to \
{attribute}. {instruction}

Work in two steps.
1. Locate: list the exact words, phrases or sentences of the response that bear on \
{attribute}. Copy them verbatim from the response. If the quality is about something the \
response lacks, list the places where the change belongs.
2. Edit: rewrite only the parts you located so that the response becomes {direction} on \
{attribute}. Keep every other character of the response verbatim, including its formatting. \
Change as little as possible, and do not change other qualities on purpose.

Answer with ONLY this JSON object, with no text before or after it:
{{"locate": ["<span 1>", "<span 2>"], "rewritten": "<the full rewritten response>"}}
"""
)

PARAPHRASE_SYSTEM_PROMPT = (
    "You are a careful editor. You paraphrase an assistant's response: you say the same thing "
    "in different words, keeping its meaning, content, level of detail, tone and quality "
    "exactly as they are. You always answer with a single JSON object and nothing else."
)

PARAPHRASE_USER_TEMPLATE = (
    _CONVERSATION
    + """\
Paraphrase the response: change its wording, but keep its meaning, its content, its level of \
detail and its quality exactly as they are. Do not add or remove information, do not fix or \
introduce mistakes, and do not improve or degrade it in any way. Keep its formatting (lists, \
headings, code blocks) and leave code unchanged.

Answer with ONLY this JSON object, with no text before or after it:
{{"rewritten": "<the full paraphrased response>"}}
"""
)

FENCE = re.compile(r"\A```(?:json|JSON)?[ \t]*\n(?P<body>.*?)\n?[ \t]*```\Z", re.DOTALL)


@dataclass(frozen=True)
class ParsedReply:
    """The two steps' outputs: the located spans and the full rewritten response."""

    locate: list[str]
    rewritten: str


class ReplyParseError(ValueError):
    """The model's reply is not the JSON object the template asks for; ``kind`` is the failure
    it becomes (``EMPTY`` when there is nothing to parse or no rewrite in it, else
    ``UNPARSEABLE``)."""

    def __init__(self, message: str, kind: FailureKind = FailureKind.UNPARSEABLE) -> None:
        super().__init__(message)
        self.kind = kind


def render_user_message(request: PerturbationRequest) -> str:
    """Fill ``USER_TEMPLATE`` for one request (the prompt is flattened to text)."""
    attribute = request.attribute
    return USER_TEMPLATE.format(
        prompt=request.prompt_text,
        response=request.response,
        attribute=attribute.name,
        definition=attribute.definition,
        direction=request.direction,
        instruction=attribute.describe(request.direction),
    )


def build_messages(request: PerturbationRequest, *, system: bool = True) -> list[dict[str, str]]:
    """The chat messages for one request.

    ``system=False`` folds the system prompt into the user turn, for chat templates that reject
    a system role (some open models do); the words the model reads are the same.
    """
    return _chat(SYSTEM_PROMPT, render_user_message(request), system)


def _chat(system_prompt: str, user: str, system: bool) -> list[dict[str, str]]:
    if system:
        return [{"role": "system", "content": system_prompt}, {"role": "user", "content": user}]
    return [{"role": "user", "content": f"{system_prompt}\n\n{user}"}]


def render_paraphrase_message(request: PerturbationRequest) -> str:
    """Fill ``PARAPHRASE_USER_TEMPLATE``: prompt and response only, no attribute, no direction."""
    return PARAPHRASE_USER_TEMPLATE.format(prompt=request.prompt_text, response=request.response)


def build_paraphrase_messages(
    request: PerturbationRequest, *, system: bool = True
) -> list[dict[str, str]]:
    """The chat messages of the attribute-free paraphrase (``system`` as in ``build_messages``)."""
    return _chat(PARAPHRASE_SYSTEM_PROMPT, render_paraphrase_message(request), system)


@dataclass(frozen=True)
class PromptTemplate:
    """A named, versioned way of turning a request into chat messages.

    ``tag`` (``"{name}-{version}"``) ends the identity of every LLM perturber that uses the
    template, so rewrites made with different prompts never share a cache entry. ``build`` is
    a module-level function (templates must pickle with the perturbers that hold them).
    """

    name: str
    version: str
    build: Callable[..., list[dict[str, str]]] = field(repr=False)

    @property
    def tag(self) -> str:
        return f"{self.name}-{self.version}"

    def messages(self, request: PerturbationRequest, system: bool = True) -> list[dict[str, str]]:
        """The chat messages for one request; ``system=False`` folds the system turn in."""
        return self.build(request, system=system)


#: The method's locate-and-edit prompt; identity suffix ``prompt-v1`` (unchanged since v1).
ATTRIBUTE_TEMPLATE = PromptTemplate("prompt", TEMPLATE_VERSION, build_messages)
#: The attribute-free paraphrase baseline; identity suffix ``paraphrase-v1``.
PARAPHRASE_TEMPLATE = PromptTemplate("paraphrase", PARAPHRASE_VERSION, build_paraphrase_messages)


def check_template(template: object) -> PromptTemplate:
    """``template`` if it is a ``PromptTemplate``, else a ``PerturberError`` saying what to pass."""
    if not isinstance(template, PromptTemplate):
        raise PerturberError(
            f"template must be a PromptTemplate such as ATTRIBUTE_TEMPLATE or "
            f"PARAPHRASE_TEMPLATE (rmx_widgets.core.perturbers.prompts), got {template!r}."
        )
    return template


_LLM = TypeVar("_LLM", bound="TemplatedLLM")


class TemplatedLLM:
    """What the LLM backends share about templates: ``identity`` is ``identity_stem`` plus the
    template's tag, and ``with_template`` gives a copy that sends another prompt.

    The copy shares whatever is expensive (loaded weights, an engine, connection settings)
    but gets its own ``stats``, so running it leaves the original's counters alone; backends
    with more per-object state (locks, random generators) refresh it in ``_detach``.
    """

    identity: str
    identity_stem: str
    template: PromptTemplate
    stats: dict[str, int]

    def with_template(self: _LLM, template: PromptTemplate) -> _LLM:
        template = check_template(template)
        clone = copy.copy(self)
        clone.template = template
        clone.identity = f"{self.identity_stem}:{template.tag}"
        clone.stats = dict.fromkeys(self.stats, 0)
        clone._detach()
        return clone

    def _detach(self) -> None:
        """Give a fresh copy its own mutable state (nothing to do by default)."""


def extract_reply(text: str) -> ParsedReply:
    """Parse a reply into its located spans and rewrite, or raise ``ReplyParseError``.

    Accepted: the JSON object alone, or the object inside one ```json (or bare ```) fence, with
    surrounding whitespace. Literal newlines inside JSON strings are accepted (models often
    emit them in long rewrites and they are unambiguous); anything else is rejected. A missing
    ``locate`` list is tolerated (the rewrite is the product), a malformed one is not.
    """
    if not isinstance(text, str):
        raise ReplyParseError(f"the reply is {type(text).__name__}, not text")
    body = text.strip()
    if not body:
        raise ReplyParseError("the reply is empty", FailureKind.EMPTY)
    fenced = FENCE.match(body)
    if fenced:
        body = fenced.group("body").strip()
    try:
        obj = json.loads(body, strict=False)
    except json.JSONDecodeError as e:
        raise ReplyParseError(
            f"the reply is not a JSON object ({e.msg} at position {e.pos}): {_excerpt(text)}"
        ) from None
    if not isinstance(obj, dict):
        raise ReplyParseError(f"the reply is JSON {type(obj).__name__}, not an object")
    if "rewritten" not in obj:
        raise ReplyParseError("the reply has no 'rewritten' field")
    rewritten = obj["rewritten"]
    if not isinstance(rewritten, str):
        raise ReplyParseError(
            f"the reply's 'rewritten' field is {type(rewritten).__name__}, not a string"
        )
    if not rewritten.strip():
        raise ReplyParseError("the reply's 'rewritten' field is empty", FailureKind.EMPTY)
    locate = obj.get("locate", [])
    if not isinstance(locate, list) or not all(isinstance(s, str) for s in locate):
        raise ReplyParseError("the reply's 'locate' field is not a list of strings")
    return ParsedReply(locate=list(locate), rewritten=rewritten)


def parse_reply(text: str, original: str) -> PerturbationResult:
    """Turn a model reply into a perturbation result: the rewrite, or a failure with its reason.

    The rewrite then gets the checks every backend gets (``check_rewrite``), so an empty or
    unchanged "rewrite" is a failure too.
    """
    try:
        parsed = extract_reply(text)
    except ReplyParseError as e:
        return PerturbationResult.failed(f"unparseable reply: {e}", e.kind)
    return check_rewrite(original, parsed.rewritten)


def _excerpt(text: str, n: int = 80) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= n else flat[:n] + "…")
