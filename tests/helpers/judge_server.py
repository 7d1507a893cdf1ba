"""The fake chat-completions server (``fake_chat_server``) answering as an LLM judge, with
scripted ``logprobs`` in OpenAI's chat-completions schema.

Behaviours, beside the base servers' (``say:TEXT``, ``500``, ...):

* ``lp:{"say": TEXT, "top": [[token, logprob], ...], "tokens": [...]}`` answers ``TEXT`` with
  ``choices[0].logprobs.content`` = one item per token (``tokens``: a list of
  ``[token, top]``; default one token, ``TEXT`` itself, with ``top``), each
  ``{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}``. Like a
  real server it sends logprobs only when the request asked (``logprobs: true``) and at most
  ``top_logprobs`` alternatives per token.
* ``rawlp:{"say": TEXT, "logprobs": VALUE}`` answers ``TEXT`` with ``choices[0].logprobs``
  set to ``VALUE`` verbatim (malformed logprobs).
* ``echo_key``: a 400 whose body echoes the request's Authorization header (some proxies do).

``server.answer = fn(user_text) -> behaviour | None`` decides the behaviour of every request
not matched by a script (e.g. a judge with a position bias); ``lp(...)`` builds a behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fake_chat_server import ChatHandler, FakeChatServer
from fake_llm_server import _completion


def lp(say: str, top: list[tuple[str, float]] | None = None, tokens: list | None = None) -> str:
    """An ``lp:`` behaviour: reply ``say`` whose answer token has the alternatives ``top``."""
    spec: dict[str, Any] = {"say": say, "top": [list(t) for t in (top or [])]}
    if tokens is not None:
        spec["tokens"] = tokens
    return "lp:" + json.dumps(spec)


def _item(token: str, lp_: float, top: list) -> dict[str, Any]:
    return {
        "token": token,
        "logprob": lp_,
        "bytes": list(token.encode()),
        "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in top],
    }


class JudgeHandler(ChatHandler):
    def _respond(self, rec: Any) -> None:
        b = rec.behaviour
        if b == "echo_key":
            sent = rec.headers.get("authorization", "")
            return self._send(400, {"error": {"message": "bad request; you sent " + sent}})
        if not b.startswith(("lp:", "rawlp:")):
            return super()._respond(rec)
        body = rec.body or {}
        model = body.get("model", "fake")
        if b.startswith("rawlp:"):
            raw = json.loads(b[len("rawlp:") :])
            data = _completion(raw["say"], model)
            data["choices"][0]["logprobs"] = raw["logprobs"]
            return self._send(200, data)
        spec = json.loads(b[len("lp:") :])
        data = _completion(spec["say"], model)
        if body.get("logprobs") is True:
            k = int(body.get("top_logprobs") or 0)
            tokens = spec.get("tokens") or [[spec["say"], spec["top"]]]
            items = []
            for token, top in tokens:
                own = next((v for t, v in top if t == token), -0.01)
                items.append(_item(token, own, top[:k]))
            data["choices"][0]["logprobs"] = {"content": items}
        return self._send(200, data)


class JudgeServer(FakeChatServer):
    handler_base = JudgeHandler

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answer: Callable[[str], str | None] | None = None

    def _choose(self, user_text: str) -> str:
        with self._lock:
            scripted = any(marker in user_text for marker in self._scripts)
        if not scripted and self.answer is not None:
            chosen = self.answer(user_text)
            if chosen is not None:
                return chosen
        return super()._choose(user_text)
