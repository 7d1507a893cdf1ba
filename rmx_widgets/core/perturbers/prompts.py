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
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from rmx_widgets.core.perturbers.base import (
    PerturbationRequest,
    PerturbationResult,
    check_rewrite,
)

TEMPLATE_VERSION = "v1"

SYSTEM_PROMPT = (
    "You are a careful editor who helps test how automatic judges of AI assistants react to "
    "specific qualities of a response. You make small, targeted edits to an assistant's "
    "response so that it changes along exactly one quality, and you leave everything else "
    "word for word as it was. You always answer with a single JSON object and nothing else."
)

USER_TEMPLATE = """\
Below is a conversation prompt and an assistant's response to it.

<prompt>
{prompt}
</prompt>

<response>
{response}
</response>

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

FENCE = re.compile(r"\A```(?:json|JSON)?[ \t]*\n(?P<body>.*?)\n?[ \t]*```\Z", re.DOTALL)


@dataclass(frozen=True)
class ParsedReply:
    """The two steps' outputs: the located spans and the full rewritten response."""

    locate: list[str]
    rewritten: str


class ReplyParseError(ValueError):
    """The model's reply is not the JSON object the template asks for."""


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
    user = render_user_message(request)
    if system:
        return [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user}]
    return [{"role": "user", "content": f"{SYSTEM_PROMPT}\n\n{user}"}]


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
        raise ReplyParseError("the reply is empty")
    fenced = FENCE.match(body)
    if fenced:
        body = fenced.group("body").strip()
    try:
        obj = json.loads(body, strict=False)
    except json.JSONDecodeError as e:
        raise ReplyParseError(
            f"the reply is not a JSON object ({e.msg} at position {e.pos}): "
            f"{_excerpt(text)}") from None
    if not isinstance(obj, dict):
        raise ReplyParseError(f"the reply is JSON {type(obj).__name__}, not an object")
    if "rewritten" not in obj:
        raise ReplyParseError("the reply has no 'rewritten' field")
    rewritten = obj["rewritten"]
    if not isinstance(rewritten, str):
        raise ReplyParseError(
            f"the reply's 'rewritten' field is {type(rewritten).__name__}, not a string")
    if not rewritten.strip():
        raise ReplyParseError("the reply's 'rewritten' field is empty")
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
        return PerturbationResult.failed(f"unparseable reply: {e}")
    return check_rewrite(original, parsed.rewritten)


def _excerpt(text: str, n: int = 80) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= n else flat[:n] + "…")
