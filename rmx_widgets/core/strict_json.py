"""JSON from outside decoded strictly: a key named twice in one object is an error.

Python's ``json`` keeps the last value of a repeated key silently, so ``{"chosen": "a",
"chosen": "b"}`` in a data file, or ``{"rewritten": "a", "rewritten": "b"}`` in an LLM reply,
would mean whatever the last copy says: a response the user did not mean, or a rewrite an
attacker appended. Every reader of untrusted JSON (data files, rewrite replies, discovery
replies) decodes through :func:`loads_unique` and turns :class:`DuplicateKeyError` and
``RecursionError`` (absurdly nested text) into its own one-line error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

#: An LLM reply that is one fenced block (```json ... ```) and nothing else: its body is the JSON.
FENCE = re.compile(r"\A```(?:json|JSON)?[ \t]*\n(?P<body>.*?)\n?[ \t]*```\Z", re.DOTALL)


class DuplicateKeyError(ValueError):
    """A JSON object named ``key`` twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` refusing an object that names a key twice."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def loads_unique(text: str | bytes, *, strict: bool = True) -> Any:
    """``json.loads`` that raises :class:`DuplicateKeyError` on a repeated key (``strict=False``
    allows raw control characters inside strings, as ``json.loads`` does)."""
    return json.loads(text, strict=strict, object_pairs_hook=unique_keys)


def reply_json(text: str, error: Callable[[str], Exception]) -> Any:
    """The JSON value of an LLM reply that must be exactly one JSON value (optionally in one
    ``json`` fence, nothing around it); anything else raises ``error(reason)`` with a short
    reason, so every strict reply parser (rewrite judge, attribute discovery) refuses the same
    things in the same words."""
    body = text.strip()
    if not body:
        raise error("the reply is empty")
    fenced = FENCE.match(body)
    if fenced:
        body = fenced.group("body").strip()
    try:
        return loads_unique(body)
    except DuplicateKeyError as e:
        raise error(f"the reply gives the key {e.key[:40]!a} twice") from None
    except json.JSONDecodeError as e:
        raise error(f"the reply is not JSON ({e.msg} at position {e.pos})") from None
    except RecursionError:
        raise error("the reply's JSON is nested too deeply") from None


__all__ = ["FENCE", "DuplicateKeyError", "loads_unique", "reply_json", "unique_keys"]
