"""The fake chat server answering both prompts: one-call and two-step (locate, then edit).

It tells the three prompts apart by their wording and answers each with the reply its template
asks for, derived from the response in ``<response>`` tags:

- one-call (``Work in two steps.``): ``{"locate": [first word], "rewritten": "<resp> [D:A]"}``;
- step 1 (``only locate``): ``{"locate": [first word]}``;
- step 2 (``located in an earlier step``): ``{"rewritten": "<resp> [edit:D:A]"}``.

It honours ``max_tokens`` like a real server: a reply longer than ``max_tokens`` tokens (4
characters a token) is cut there and ends with ``finish_reason: "length"``. Its ``usage`` is
counted the same way (``prompt_tokens`` = characters of the messages / 4, ``completion_tokens``
= characters of the reply / 4), so the two prompts' costs can be compared.

Scripted behaviours (``server.script(marker, [...])``, the marker being the response text, which
both steps' prompts hold): ``good``; ``cut`` (the whole, parseable reply, but with
``finish_reason: "length"``); ``bad_span`` (a step 1 / one-call reply locating text the
response lacks); ``prose`` (an unparseable reply); anything else is the base server's.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fake_llm_server import FakeLLMServer, _Handler

_RESPONSE = re.compile(r"<response>\n(.*?)\n</response>", re.DOTALL)
_ATTRIBUTE = re.compile(r"^Quality: (\S+)", re.MULTILINE)
_DIRECTION = re.compile(r"make the response (worse|better) overall")
CHARS_PER_TOKEN = 4

BEHAVIOURS = ("good", "cut", "bad_span", "prose")


def step_of(user_text: str) -> str:
    """Which prompt a request carries: ``locate`` / ``edit`` (two-step) or ``one-call``."""
    if "only locate" in user_text:
        return "locate"
    if "located in an earlier step" in user_text:
        return "edit"
    return "one-call"


def reply_for(user_text: str, behaviour: str = "good") -> str:
    m = _RESPONSE.search(user_text)
    original = m.group(1) if m else ""
    attr = _ATTRIBUTE.search(user_text)
    direction = _DIRECTION.search(user_text)
    tag = f"{direction.group(1) if direction else '?'}:{attr.group(1) if attr else '?'}"
    span = "not in the response at all" if behaviour == "bad_span" else original.split(" ")[0]
    step = step_of(user_text)
    if behaviour == "prose":
        return f"Sure! Here is what you asked for: {original}"
    if step == "locate":
        return json.dumps({"locate": [span]})
    if step == "edit":
        return json.dumps({"rewritten": f"{original} [edit:{tag}]"})
    return json.dumps({"locate": [span], "rewritten": f"{original} [{tag}]"})


class TwoStepHandler(_Handler):
    def _respond(self, rec: Any) -> None:
        if rec.behaviour not in BEHAVIOURS or not self.path.endswith("/chat/completions"):
            return super()._respond(rec)
        body = rec.body or {}
        content = reply_for(rec.user_text, rec.behaviour)
        finish = "length" if rec.behaviour == "cut" else "stop"
        budget = body.get("max_tokens") or body.get("max_completion_tokens") or 10**9
        if len(content) > budget * CHARS_PER_TOKEN:  # a real server stops at max_tokens
            content, finish = content[: budget * CHARS_PER_TOKEN], "length"
        rec.extra["step"] = step_of(rec.user_text)
        return self._send(
            200,
            {
                "id": "chatcmpl-two-step",
                "object": "chat.completion",
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": finish,
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {
                    "prompt_tokens": len(rec.user_text) // CHARS_PER_TOKEN,
                    "completion_tokens": len(content) // CHARS_PER_TOKEN,
                },
            },
        )


class TwoStepServer(FakeLLMServer):
    handler_base = TwoStepHandler

    def usage(self) -> dict[str, int]:
        """Requests and tokens the server saw, as it reported them (for checking ``stats``)."""
        with self._lock:
            recs = list(self.requests)
        return {
            "http_requests": len(recs),
            "prompt_tokens": sum(len(r.user_text) // CHARS_PER_TOKEN for r in recs),
        }
