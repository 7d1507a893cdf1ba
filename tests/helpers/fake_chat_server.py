"""The fake chat-completions server (``fake_llm_server``) with free-form scripted replies.

``server.script(marker, ["say:" + text, "500", ...])``: a behaviour ``say:TEXT`` answers with
``TEXT`` as the message content, verbatim (e.g. an attribute-discovery JSON list); every other
behaviour is the base server's. ``say(*texts)`` builds such a plan.
"""

from __future__ import annotations

import json
from typing import Any

from fake_llm_server import FakeLLMServer, _completion, _Handler


class ChatHandler(_Handler):
    def _respond(self, rec: Any) -> None:
        if rec.behaviour.startswith("say:") and self.path.endswith("/chat/completions"):
            model = (rec.body or {}).get("model", "fake")
            return self._send(200, _completion(rec.behaviour[4:], model))
        return super()._respond(rec)


class FakeChatServer(FakeLLMServer):
    handler_base = ChatHandler


def say(*replies: Any) -> list[str]:
    """A script plan: each reply a string (sent as is) or a JSON value (sent as JSON)."""
    return [f"say:{r if isinstance(r, str) else json.dumps(r)}" for r in replies]
