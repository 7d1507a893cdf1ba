"""The HTTP client of ``LLMJudge``: the perturbers' ``OpenAIPerturber`` asking for logprobs.

A judge's answer is one token ("7", "A"), and the probabilities the model gave the other
answers say more than the token it sampled: a judge 55 % sure of "A" and one 99 % sure give the
same verdict. OpenAI's chat-completions API (and vLLM's, and Ollama's since 0.5) returns them
when asked (``logprobs: true, top_logprobs: k``) as ``choices[0].logprobs.content[i]
.top_logprobs[j] = {token, logprob}``. ``JudgeClient`` is an ``OpenAIPerturber`` (same retries,
fail-fast, bounded reads, key kept in the environment and masked in every reason) whose
requests ask for them and whose results carry them (``JudgeReply.tokens``).

What the server sends back is untrusted: logprobs it omits (a server without support) are
``None``, so the judge falls back to the verdict; logprobs it sends in any other shape than
the schema's (not a list, a token that is not text, a logprob that is not a finite number
<= 0) are a broken reply, retried like one, never half-read.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationRequest, PerturbationResult
from rmx_widgets.core.perturbers.openai import OpenAIPerturber, _Attempt

#: the most ``top_logprobs`` OpenAI's API accepts (vLLM and Ollama accept at least as many)
MAX_TOP_LOGPROBS = 20
#: content tokens read from a reply (a judge's answer is one token, perhaps after blanks)
MAX_TOKENS_READ = 64
#: a logprob above this is not a log-probability (0 plus rounding slack)
_LOGPROB_SLACK = 1e-6

#: one content token: its text and its top alternatives as (token, logprob) pairs
Token = tuple[str, tuple[tuple[str, float], ...]]


@dataclass(frozen=True)
class JudgeReply(PerturbationResult):
    """A reply with the logprobs of its first content tokens (``None``: the server sent
    none)."""

    tokens: tuple[Token, ...] | None = None


class MalformedLogprobs(ValueError):
    """The reply's ``logprobs`` are there but not in the chat-completions schema."""


def _logprob(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedLogprobs(f"a logprob is {type(value).__name__}, not a number")
    if not math.isfinite(value) or value > _LOGPROB_SLACK:
        raise MalformedLogprobs(f"a logprob is {value!r}, not a finite number <= 0")
    return min(float(value), 0.0)


def read_logprobs(data: Any) -> tuple[Token, ...] | None:
    """The first ``MAX_TOKENS_READ`` content tokens of a parsed reply with their top
    logprobs; ``None`` when the reply has none; ``MalformedLogprobs`` for any other shape."""
    try:
        logprobs = data["choices"][0].get("logprobs")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    if logprobs is None:
        return None
    if not isinstance(logprobs, dict):
        raise MalformedLogprobs(f"logprobs is {type(logprobs).__name__}, not an object")
    content = logprobs.get("content")
    if content is None:
        return None
    if not isinstance(content, list):
        raise MalformedLogprobs(f"logprobs.content is {type(content).__name__}, not a list")
    tokens: list[Token] = []
    for item in content[:MAX_TOKENS_READ]:
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            raise MalformedLogprobs("a logprobs.content item has no text token")
        top = item.get("top_logprobs") or []
        if not isinstance(top, list):
            raise MalformedLogprobs("top_logprobs is not a list")
        pairs = []
        for alt in top[: 4 * MAX_TOP_LOGPROBS]:
            if not isinstance(alt, dict) or not isinstance(alt.get("token"), str):
                raise MalformedLogprobs("a top_logprobs item has no text token")
            pairs.append((alt["token"], _logprob(alt.get("logprob"))))
        if "logprob" in item and item["logprob"] is not None:
            _logprob(item["logprob"])  # the sampled token's own logprob must be one too
        tokens.append((item["token"], tuple(pairs)))
    return tuple(tokens)


class JudgeClient(OpenAIPerturber):
    """``OpenAIPerturber`` whose chat requests ask for the ``top_logprobs`` most likely
    alternatives of each token (none when 0) and whose results are ``JudgeReply``."""

    def __init__(self, model: str, *, top_logprobs: int = 5, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.top_logprobs = top_logprobs

    def _payload(self, request: PerturbationRequest) -> dict[str, Any]:
        body = super()._payload(request)
        if self.top_logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = self.top_logprobs
        return body

    def _read_reply(self, raw: bytes, request: PerturbationRequest) -> _Attempt:
        outcome = super()._read_reply(raw, request)
        result = outcome.result
        if result is None or result.text is None:
            return outcome
        tokens = None
        if self.top_logprobs:
            try:  # the base parsed it already, so this parses too
                tokens = read_logprobs(json.loads(raw))
            except MalformedLogprobs as e:
                return _Attempt(
                    reason=f"the server's logprobs are malformed ({e})",
                    kind=FailureKind.BROKEN_REPLY,
                )
        return _Attempt(result=JudgeReply(result.text, tokens=tokens))


__all__ = ["MAX_TOP_LOGPROBS", "JudgeClient", "JudgeReply", "MalformedLogprobs", "read_logprobs"]
