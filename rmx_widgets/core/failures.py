"""Why a rewrite failed, as a kind chosen where the failure is created.

A run's summary says "12 rate limited, 3 unparseable" instead of listing 15 distinct server
messages, and the bad-input tests pin which kind each hostile case ends as. So the code that
records a failure also names its kind (``PerturbationResult.failed(reason, kind)``); nothing
downstream guesses it back from the wording of the reason. The one exception is a reason stored
before kinds existed (a store written by rmx-widgets 0.1 at stop 8 or earlier):
:func:`legacy_failure_kind` classifies those old texts, and only those.
"""

from __future__ import annotations

import re
from enum import Enum


class FailureKind(str, Enum):
    """The coarse kinds of a failed rewrite; the values are what summaries and tables show."""

    UNSUPPORTED_ATTRIBUTE = "unsupported attribute"  # the perturber cannot do this attribute
    UNCHANGED = "unchanged"  # the rewrite equals the original
    RATE_LIMITED = "rate limited"  # HTTP 429 after every retry
    SERVER_ERROR = "server error"  # HTTP 5xx after every retry
    CLIENT_ERROR = "client error"  # another HTTP 4xx
    EXCEPTION = "exception"  # a user function or backend raised
    TIMEOUT = "timeout"  # the request or the generation ran out of time
    BROKEN_REPLY = "broken reply"  # a reply that is not a well-formed API response
    CONNECTION = "connection"  # the server could not be reached
    EMPTY = "empty"  # an empty rewrite
    UNPARSEABLE = "unparseable"  # the LLM's text does not follow the template's format
    NOT_APPLICABLE = "not applicable"  # a rule found nothing in the response to change
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


# Only for reasons written before kinds were recorded (see the module docstring); tried in order.
_LEGACY_PATTERNS: tuple[tuple[FailureKind, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        (FailureKind.UNSUPPORTED_ATTRIBUTE, r"cannot perturb attribute"),
        (FailureKind.UNCHANGED, r"unchanged"),
        (FailureKind.RATE_LIMITED, r"HTTP 429"),
        (FailureKind.SERVER_ERROR, r"HTTP 5\d\d"),
        (FailureKind.CLIENT_ERROR, r"HTTP 4\d\d"),
        (FailureKind.EXCEPTION, r"^[A-Z]\w*(Error|Exception)\b"),
        (FailureKind.TIMEOUT, r"timeout|timed out"),
        (FailureKind.BROKEN_REPLY, r"broken reply|malformed JSON body|no choices|no text content"),
        (FailureKind.CONNECTION, r"cannot connect|connection"),
        (FailureKind.EMPTY, r"\bempty\b"),
        (
            FailureKind.UNPARSEABLE,
            r"not a JSON|JSON \w+, not an object|no 'rewritten'|"
            r"'rewritten' field|not text|unparseable|parse",
        ),
        (
            FailureKind.NOT_APPLICABLE,
            r"^(no|fewer than|every) |\balready\b|leaves? no |"
            r"would leave|nothing (would remain|to change)|"
            r"\bis only (a|pleasantries)\b",
        ),
    )
)


def legacy_failure_kind(reason: str | None) -> FailureKind:
    """The kind of a reason stored by a version that did not record kinds."""
    if not reason:
        return FailureKind.OTHER
    for kind, pattern in _LEGACY_PATTERNS:
        if pattern.search(reason):
            return kind
    return FailureKind.OTHER
