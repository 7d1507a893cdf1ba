"""Free-form chat requests through an LLM perturber's client (``OpenAIPerturber.chat_batch``).

Attribute discovery (``core.discovery``) asks the LLM a question that is not a rewrite, but it
must get the same HTTP client: retries with backoff, the fail-fast on an unreachable server,
the API key kept out of messages, ``stats``. A :class:`ChatRequest` carries its own chat
messages and a ``check(content) -> reason | None`` that replaces the rewrite parser: a reply
``check`` refuses is retried like an unparseable rewrite and, failing that, comes back as a
failed result with that reason (kind ``UNPARSEABLE``); an accepted reply comes back verbatim as
the result's ``text``. The ``PerturbationRequest`` fields are placeholders, never sent.

``chat_asker(llm, check, what)`` is how a feature that asks free-form questions (attribute
discovery, the LLM rewrite judge) takes its LLM: a :class:`ChatClient` (``chat_batch``) or a
plain function ``messages -> reply text``, both giving one result per conversation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import (
    BarePerturber,
    PerturbationRequest,
    PerturbationResult,
)

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


Conversations = Sequence[Sequence[dict[str, str]]]
#: conversations -> one result per conversation (the reply as ``text``, or a failure)
Asker = Callable[[Conversations], list[PerturbationResult]]


@runtime_checkable
class ChatClient(Protocol):
    """An LLM client that sends free-form chat requests (``OpenAIPerturber``)."""

    def chat_batch(
        self, conversations: Conversations, check: ReplyCheck
    ) -> list[PerturbationResult]: ...


def chat_asker(
    llm: Any,
    check: ReplyCheck,
    what: str,
    *,
    on_error: Callable[[Exception], str] | None = None,
) -> Asker:
    """Ask ``llm`` (a :class:`ChatClient` or a function ``messages -> reply text``) each
    conversation, ``check`` refusing unusable replies (``what`` names the feature in the
    error for anything else). ``on_error``: a function's exception other than a
    ``PerturberError`` becomes a failed result with the reason it gives (else it propagates)."""
    if isinstance(llm, ChatClient):
        client = llm

        def ask_client(convs: Conversations) -> list[PerturbationResult]:
            return client.chat_batch(convs, check)

        return ask_client
    if callable(llm) and not isinstance(llm, BarePerturber):
        fn = llm

        def ask_callable(convs: Conversations) -> list[PerturbationResult]:
            out: list[PerturbationResult] = []
            for messages in convs:
                try:
                    reply = fn([dict(m) for m in messages])
                except PerturberError:
                    raise
                except Exception as e:
                    if on_error is None:
                        raise
                    out.append(PerturbationResult.failed(on_error(e), FailureKind.OTHER))
                    continue
                if not isinstance(reply, str):
                    out.append(
                        PerturbationResult.failed("the LLM returned no text", FailureKind.OTHER)
                    )
                    continue
                reason = check(reply)
                out.append(
                    PerturbationResult(reply)
                    if reason is None
                    else PerturbationResult.failed(reason, FailureKind.UNPARSEABLE)
                )
            return out

        return ask_callable
    raise PerturberError(
        f"{what} needs an LLM client with chat_batch (rmx.OpenAIPerturber, any "
        f"OpenAI-compatible server) or a function messages -> reply text; got "
        f"{type(llm).__name__}."
    )
