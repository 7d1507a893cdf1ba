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
from typing import Any


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


__all__ = ["DuplicateKeyError", "loads_unique", "unique_keys"]
