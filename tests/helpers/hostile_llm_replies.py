"""Replies an attacker could steer: the fake LLM server's behaviours for the strict parser.

``fake_llm_server`` asks ``hostile_reply`` for a behaviour it does not know itself, so these
work with ``FakeLLMServer`` and every subclass (``server.default = "duplicate_key"``). Each
builds the reply content from the request's original response and the fake's honest rewrite
(``rewrite_for``); ``HIJACK`` marks the text an attacker would have chosen.

- duplicate_key: the honest rewrite, then a second ``rewritten`` key holding the hijack (what
  a model produces when it pastes a response holding ``", "rewritten": "...`` unescaped);
  ``json`` alone keeps the last one.
- fenced_duplicate_key: the same inside a ```json fence.
- unexpected_key: the honest object plus a key the template does not ask for.
- two_objects: the honest object followed by a second, hijacking one.
- locate_not_in_response: an honest rewrite whose located span is not in the response.
- echo: the original response itself, as the reply (a model that copies its input; the
  attack when the response is reply-shaped JSON).
"""

from __future__ import annotations

import json

HIJACK = "HIJACKED: the attacker chose this rewrite."


def hostile_reply(behaviour: str, original: str, rewritten: str) -> str | None:
    """The reply content for ``behaviour``, or None when it is not one of these."""
    honest = json.dumps({"locate": [original.split(" ")[0]], "rewritten": rewritten})
    duplicate = honest[:-1] + ", " + json.dumps({"rewritten": HIJACK})[1:]
    if behaviour == "duplicate_key":
        return duplicate
    if behaviour == "fenced_duplicate_key":
        return f"```json\n{duplicate}\n```"
    if behaviour == "unexpected_key":
        return honest[:-1] + ', "note": "I also changed the tone."}'
    if behaviour == "two_objects":
        return honest + "\n" + json.dumps({"rewritten": HIJACK})
    if behaviour == "locate_not_in_response":
        return json.dumps({"locate": ["words the response never had"], "rewritten": rewritten})
    if behaviour == "echo":
        return original
    return None
