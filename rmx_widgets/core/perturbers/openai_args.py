"""The constructor checks of ``OpenAIPerturber``: arguments no request could work with are
refused before any is sent, each with what to pass instead."""

from __future__ import annotations

from urllib.parse import urlsplit

from rmx_widgets.core.errors import PerturberError

OPENAI_BASE_URL = "https://api.openai.com/v1"


def check_arguments(
    model: str,
    api_key_env: str,
    concurrency: int,
    max_retries: int,
    timeout: float,
    max_tokens: int,
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
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise PerturberError(f"max_tokens must be a positive integer, got {max_tokens!r}.")


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
