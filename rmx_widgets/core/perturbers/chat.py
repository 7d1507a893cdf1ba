"""Free-form chat requests through an LLM perturber's client (``OpenAIPerturber.chat_batch``).

Attribute discovery (``core.discovery``) asks the LLM a question that is not a rewrite, but it
must get the same HTTP client: retries with backoff, the fail-fast on an unreachable server,
the API key kept out of messages, ``stats``. A :class:`ChatRequest` carries its own chat
messages and a ``check(content) -> reason | None`` that replaces the rewrite parser: a reply
``check`` refuses is retried like an unparseable rewrite and, failing that, comes back as a
failed result with that reason (kind ``UNPARSEABLE``); an accepted reply comes back verbatim as
the result's ``text``. The ``PerturbationRequest`` fields are placeholders, never sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import PerturbationRequest, PerturbationResult

#: ``check(content)``: ``None`` when the reply is usable, else why it is not (one sentence)
ReplyCheck = Callable[[str], "str | None"]

_CHAT = Attribute("chat", "A free-form chat request (chat_batch), not an attribute rewrite.")


@dataclass(frozen=True)
class ChatRequest(PerturbationRequest):
    """One free-form chat request: ``messages`` as sent, ``check`` for its reply."""

    messages: tuple[dict[str, str], ...] = ()
    check: ReplyCheck | None = None

    @staticmethod
    def of(messages: Sequence[dict[str, str]], check: ReplyCheck) -> ChatRequest:
        return ChatRequest("", "", _CHAT, "worse", tuple(dict(m) for m in messages), check)

    def accept(self, content: str) -> PerturbationResult:
        """The reply verbatim if ``check`` accepts it, else a failure with its reason."""
        reason = self.check(content) if self.check is not None else None
        if reason is None:
            return PerturbationResult(content)
        return PerturbationResult.failed(reason, FailureKind.UNPARSEABLE)
