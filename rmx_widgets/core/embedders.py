"""Sentence embeddings from a transformers encoder, for a truly *semantic* distance.

The default :class:`~rmx_widgets.core.metrics.HashingEmbedder` is lexical: it works offline
and identically everywhere, but two paraphrases with no words in common look far apart. The
paper measures semantic distance with sentence embeddings; :class:`TransformersEmbedder` gives
that with any encoder on the hub or on disk (e.g. ``sentence-transformers/all-MiniLM-L6-v2``,
whose sentence-transformers pooling is exactly the masked mean used here), through
transformers alone — no extra dependency.

It is an :class:`~rmx_widgets.core.metrics.Embedder`: pass it as ``embedder=`` to the
Explainer or to ``evaluate``, or name it with ``--embedder`` on the command line.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from rmx_widgets.core.devices import local_folder, pretrained_kwargs, resolve_device
from rmx_widgets.core.errors import RMXError


class TransformersEmbedder:
    """Masked mean pooling of an encoder's last hidden states, L2-normalised.

    Texts are embedded in batches sorted by length (less padding), on ``device`` (CUDA when
    available), truncated to ``max_length`` tokens. The model loads on first use, so building
    one is free until the first distance is needed. ``trust_remote_code`` stays off unless
    you trust the repository's code.
    """

    def __init__(
        self,
        name_or_path: str = "sentence-transformers/all-MiniLM-L6-v2",
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int = 256,
        trust_remote_code: bool = False,
    ) -> None:
        if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
            raise RMXError(
                "TransformersEmbedder needs a model name or folder, e.g. "
                "'sentence-transformers/all-MiniLM-L6-v2'."
            )
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise RMXError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 2:
            raise RMXError(f"max_length must be an integer >= 2, got {max_length!r}.")
        self.name_or_path = str(name_or_path)
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.trust_remote_code = trust_remote_code
        self._model: Any = None
        self._tokenizer: Any = None

    def __repr__(self) -> str:
        return f"TransformersEmbedder({self.name_or_path!r}, max_length={self.max_length})"

    def load(self) -> None:
        """Load tokenizer and model now (otherwise the first call does); a model that cannot
        be loaded (offline, a typo, not an encoder) raises ``RMXError`` saying which."""
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        owner = f"the embedding model {self.name_or_path!r}"
        device = str(resolve_device(self.device, owner=owner, error=RMXError))
        src = (
            local_folder(
                self.name_or_path,
                owner=owner,
                error=RMXError,
                example="sentence-transformers/all-MiniLM-L6-v2",
            )
            or self.name_or_path
        )
        common = pretrained_kwargs(self.trust_remote_code)
        try:
            tokenizer = AutoTokenizer.from_pretrained(src, **common)
            model = AutoModel.from_pretrained(src, **common)
        except (OSError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RMXError(
                f"cannot load the embedding model {self.name_or_path!r}: {first}. "
                "Check the name (or the local folder) and that the hub is "
                "reachable, or use the offline HashingEmbedder."
            ) from None
        self._tokenizer = tokenizer
        self._model = model.to(device).eval()
        self.device = device

    def __call__(self, texts: list[str]) -> np.ndarray:
        import torch

        self.load()
        if not texts:
            return np.zeros((0, int(self._model.config.hidden_size)))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), int(self._model.config.hidden_size)), dtype=np.float64)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            enc = self._tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            enc = {k: v.to(self.device) for k, v in enc.items()}
            with torch.inference_mode():
                hidden = self._model(**enc).last_hidden_state.float()
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[idx] = pooled.cpu().numpy()
        return out
