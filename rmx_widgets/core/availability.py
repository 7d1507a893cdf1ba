"""Can this machine use a hub model, a GPU or an LLM endpoint right now? Say why not.

Tutorials and scripts that *optionally* use real models call these before loading anything, so
offline or GPU-less machines print one clear "skipped: <reason>" instead of failing after a
long network timeout. Every check answers within a couple of seconds.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlsplit


def reachable(host: str, port: int = 443, timeout: float = 2.0) -> bool:
    """Whether a TCP connection opens within ``timeout`` seconds, name lookup included (run in a
    thread so a slow DNS cannot stall the caller past the timeout)."""
    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(ok)


def hub_server() -> tuple[str, int]:
    """(host, port) of the hub this process downloads from: ``HF_ENDPOINT`` when set (a mirror
    or a private hub), else huggingface.co; probing the wrong host would say "unreachable"
    about a mirror that works, or "reachable" while the mirror is down."""
    from huggingface_hub import constants

    server = urlsplit(constants.ENDPOINT)
    return server.hostname or "huggingface.co", server.port or (
        80 if server.scheme == "http" else 443
    )


def hub_cache() -> str:
    """The local Hugging Face cache folder searched for hub models (``HF_HUB_CACHE``)."""
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_CACHE") or str(constants.HF_HUB_CACHE)


def why_not_hub(*repos: str, need_gpu: bool = False) -> str | None:
    """``None`` when these hub models can be loaded here, else the reason why not."""
    if need_gpu:
        import torch

        if not torch.cuda.is_available():
            return "no CUDA GPU on this machine"
    from huggingface_hub import try_to_load_from_cache

    from rmx_widgets.core.devices import env_offline

    missing = [
        r
        for r in repos
        if not isinstance(try_to_load_from_cache(r, "config.json", cache_dir=hub_cache()), str)
    ]
    if not missing:
        return None  # all in the local Hugging Face cache
    if env_offline():
        return f"HF_HUB_OFFLINE is set and {', '.join(missing)} is not in the local cache"
    host, port = hub_server()
    if not reachable(host, port):
        return f"{host} is unreachable (offline?)"
    return None


def why_not_endpoint(base_url: str | None, api_key_env: str = "OPENAI_API_KEY") -> str | None:
    """``None`` when an OpenAI-compatible endpoint looks usable (key set for OpenAI itself,
    server reachable), else the reason why not. The key's value is never read out."""
    server = urlsplit(base_url or "https://api.openai.com/v1")
    if base_url is None and not os.environ.get(api_key_env):
        return f"{api_key_env} is not set (or pass base_url= for a local server)"
    port = server.port or (443 if server.scheme == "https" else 80)
    if not server.hostname or not reachable(server.hostname, port):
        return f"{server.hostname or base_url} is unreachable"
    return None
