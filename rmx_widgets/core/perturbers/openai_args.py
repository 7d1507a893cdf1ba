"""The constructor checks of ``OpenAIPerturber``: arguments no request could work with are
refused before any is sent, each with what to pass instead."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.perturbers.base import settings_suffix
from rmx_widgets.core.perturbers.http_guard import redact

OPENAI_BASE_URL = "https://api.openai.com/v1"


def check_arguments(
    model: str,
    api_key_env: str,
    concurrency: int,
    max_retries: int,
    timeout: float,
    max_tokens: int | None,
    max_tokens_cap: int = 1,
) -> None:
    """Refuse the constructor arguments no request could work with, before any is sent."""
    if not isinstance(model, str) or not model.strip():
        raise PerturberError(
            "OpenAIPerturber needs a model name, e.g. model='gpt-4o-mini' "
            "(for vLLM/Ollama: the name the server serves)."
        )
    if not isinstance(api_key_env, str) or not api_key_env:
        raise PerturberError(
            "api_key_env must name an environment variable, e.g. "
            "'OPENAI_API_KEY'; the key itself is never passed in code."
        )
    if not isinstance(concurrency, int) or concurrency < 1:
        raise PerturberError(f"concurrency must be a positive integer, got {concurrency!r}.")
    if not isinstance(max_retries, int) or max_retries < 0:
        raise PerturberError(f"max_retries must be an integer >= 0, got {max_retries!r}.")
    if not timeout or timeout <= 0:
        raise PerturberError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise PerturberError(
            f"max_tokens must be a positive integer or None (sized per request), "
            f"got {max_tokens!r}."
        )
    if not isinstance(max_tokens_cap, int) or max_tokens_cap < 1:
        raise PerturberError(f"max_tokens_cap must be a positive integer, got {max_tokens_cap!r}.")


def check_bounds(total_timeout: float, max_response_bytes: int, factor: float, slack: int) -> None:
    """Refuse per-request bounds that would let nothing through (or are not numbers)."""
    if not isinstance(total_timeout, (int, float)) or not total_timeout > 0:
        raise PerturberError(
            f"total_timeout must be a positive number of seconds, got {total_timeout!r}."
        )
    if not isinstance(max_response_bytes, int) or max_response_bytes < 1024:
        raise PerturberError(
            f"max_response_bytes must be an integer >= 1024, got {max_response_bytes!r}."
        )
    if not isinstance(factor, (int, float)) or not factor >= 1:
        raise PerturberError(f"max_rewrite_factor must be a number >= 1, got {factor!r}.")
    if not isinstance(slack, int) or slack < 0:
        raise PerturberError(f"max_rewrite_slack must be an integer >= 0, got {slack!r}.")


def host_of(base_url: str) -> str:
    """``host[:port]`` of a normalised base URL, as ``identity`` names the server."""
    parts = urlsplit(base_url)
    host = parts.hostname or parts.netloc
    if parts.port:
        host = f"{host}:{parts.port}"
    return host


def normalise_base_url(base_url: str | None) -> str:
    if base_url is None:
        return OPENAI_BASE_URL
    if not isinstance(base_url, str) or not base_url.strip():
        raise PerturberError(
            f"base_url must be a URL such as 'http://localhost:8000/v1', got {base_url!r}."
        )
    url = base_url.strip().rstrip("/")
    if url.endswith("/chat/completions"):  # a common paste: the endpoint instead of the root
        url = url[: -len("/chat/completions")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PerturberError(
            f"base_url must start with http:// or https:// and name a host, "
            f"e.g. 'http://localhost:8000/v1'; got {base_url!r}."
        )
    return url


def rewrite_too_long(rewrite: str, original: str, factor: float, slack: int) -> str | None:
    """Why ``rewrite`` is too long to be a rewrite of ``original``, or ``None``: a reply far
    longer than what it rewrites is a runaway generation or pasted text, not an edit."""
    limit = max(int(factor * len(original)), len(original) + slack)
    if len(rewrite) <= limit:
        return None
    return (
        f"the rewrite is too long: {len(rewrite):,} characters for a {len(original):,}-"
        f"character original, over the limit of {limit:,} (max_rewrite_factor="
        f"{factor:g} times the original or max_rewrite_slack="
        f"{slack} more characters, whichever is larger)"
    )


def unreachable_message(base_url: str, error: str | None) -> str:
    """Why a batch stopped when the server never answered (``base_url`` is redacted here)."""
    return (
        f"cannot reach the LLM server at {redact(base_url)}: {error}. Check that "
        "the server is running and that base_url is its API root (e.g. "
        "http://localhost:8000/v1 for vLLM, http://localhost:11434/v1 for Ollama)."
    )


def identity_stem(
    stem: str, temperature: float, max_tokens: int | None, cap: int, default_cap: int
) -> str:
    """``stem`` plus the output-changing settings not at their default. A sized budget
    (``max_tokens=None``) keeps the bare stem of the old default ``max_tokens=1024``: a larger
    budget never changes a reply that completed under 1024 tokens (decoding does not look at
    the limit), and a reply that did not complete was never a valid rewrite."""
    return stem + settings_suffix(
        ("temperature", temperature, 0.0),
        ("max_tokens", max_tokens or 1024, 1024),
        ("max_tokens_cap", cap, default_cap),
    )


def reported_usage(data: Any) -> dict[str, int]:
    """The ``prompt_tokens``/``completion_tokens`` a reply's ``usage`` reports (if it does)."""
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return {}
    keys = ("prompt_tokens", "completion_tokens")
    return {k: usage[k] for k in keys if isinstance(usage.get(k), int)}
