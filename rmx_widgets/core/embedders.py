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

from rmx_widgets.core.devices import (
    local_folder,
    pretrained_kwargs,
    refuse_pickle_weights,
    resolve_device,
)
from rmx_widgets.core.errors import RMXError


def windows(n_tokens: int, room: int) -> list[tuple[int, int]]:
    """The token windows [start, end) that cover ``n_tokens`` tokens, ``room`` tokens each
    (the encoder's length less its special tokens), overlapping by ``room // 8`` so that no
    edit falls only on a window's border: starts 0, s, 2s, ... with stride s = room − overlap,
    while a window still adds a token; one window (0, n) when the text fits."""
    if n_tokens <= room:
        return [(0, n_tokens)]
    overlap = room // 8
    stride = room - overlap
    return [(a, min(a + room, n_tokens)) for a in range(0, n_tokens - overlap, stride)]


def _special_tokens(tok: Any) -> tuple[list[int], list[int]]:
    """The special token ids the tokenizer puts before and after a single text (e.g. [CLS]
    and [SEP]), found by encoding a probe with and without them (any tokenizer, any
    transformers version)."""
    probe = "probe"
    bare = list(tok(probe, add_special_tokens=False)["input_ids"])
    full = list(tok(probe)["input_ids"])
    for k in range(len(full) - len(bare) + 1):
        if full[k : k + len(bare)] == bare:
            return full[:k], full[k + len(bare) :]
    return [], []


class TransformersEmbedder:
    """Masked mean pooling of an encoder's last hidden states, L2-normalised, over the whole
    text however long.

    Texts are embedded in batches sorted by length (less padding), on ``device`` (CUDA when
    available). A text of at most ``max_length`` tokens is encoded as it always was. A longer
    one is not truncated: an edit past the encoder's limit would then leave its embedding, and
    the semantic distance, exactly unchanged (0.000 for a rewrite of the end of a long
    answer), so every edit must move it. Its token ids are split into windows of
    ``max_length`` tokens (special tokens included) overlapping by an eighth
    (:func:`windows`), each window is mean-pooled like a short text, and the window means are
    averaged weighted by their token counts (so each token weighs about the same, as in one
    long mean) before the L2 normalisation. Windows are batched ``batch_size`` at a time,
    whatever the number or length of the texts, so memory stays bounded. The model loads on
    first use, so building one is free until the first distance is needed.
    ``trust_remote_code`` stays off unless you trust the repository's code, and only
    safetensors weights are loaded: a folder (or hub repository) whose weights are pickle files
    (``pytorch_model.bin``, ``*.pt``, ``*.pkl``) is refused, since unpickling can run code.
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
        folder = local_folder(
            self.name_or_path,
            owner=owner,
            error=RMXError,
            example="sentence-transformers/all-MiniLM-L6-v2",
        )
        if folder is not None:
            refuse_pickle_weights(folder, owner=owner, error=RMXError)
        src = folder or self.name_or_path
        common = pretrained_kwargs(self.trust_remote_code)
        try:
            tokenizer = AutoTokenizer.from_pretrained(src, **common)
            model = AutoModel.from_pretrained(src, use_safetensors=True, **common)
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
        dim = int(self._model.config.hidden_size)
        out = np.zeros((len(texts), dim), dtype=np.float64)
        if not texts:
            return out
        tok = self._tokenizer
        ids = tok(list(texts), add_special_tokens=False, truncation=False, verbose=False)
        ids = ids["input_ids"]
        prefix, suffix = _special_tokens(tok)
        room = self.max_length - len(prefix) - len(suffix)
        short = [i for i in range(len(texts)) if len(ids[i]) <= room]
        long = [i for i in range(len(texts)) if len(ids[i]) > room]
        if long and room < 1:
            raise RMXError(
                f"max_length={self.max_length} leaves no room for text beside the "
                "tokenizer's special tokens; raise max_length."
            )
        order = sorted(short, key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            enc = tok(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            means, _ = self._means(enc)  # exactly the pooling of a short text as before
            out[idx] = torch.nn.functional.normalize(means, dim=-1).cpu().numpy()
        if long:
            out[long] = self._long(ids, long, (prefix, suffix, room), dim)
        return out

    def _means(self, enc: Any) -> tuple[Any, Any]:
        """Masked mean of the last hidden states per row of one encoded batch (a tensor, B ×
        dim) and each row's token count (its attention mask's sum, B × 1)."""
        import torch

        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.inference_mode():
            hidden = self._model(**enc).last_hidden_state.float()
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        counts = mask.sum(dim=1).clamp(min=1.0)
        return (hidden * mask).sum(dim=1) / counts, counts

    def _long(
        self,
        ids: list[list[int]],
        long: list[int],
        frame: tuple[list[int], list[int], int],
        dim: int,
    ) -> np.ndarray:
        """The embeddings of texts longer than one window: window means weighted by their
        token counts, then L2-normalised (see the class docstring). ``frame``: the special
        tokens before and after each window's text, and how many text tokens it holds."""
        tok = self._tokenizer
        prefix, suffix, room = frame
        pieces = [
            (k, [*prefix, *ids[i][a:b], *suffix])
            for k, i in enumerate(long)
            for a, b in windows(len(ids[i]), room)
        ]
        pieces.sort(key=lambda p: len(p[1]))
        sums = np.zeros((len(long), dim), dtype=np.float64)
        for start in range(0, len(pieces), self.batch_size):
            chunk = pieces[start : start + self.batch_size]
            enc = tok.pad({"input_ids": [p[1] for p in chunk]}, padding=True, return_tensors="pt")
            means, counts = self._means(enc)
            weighted = (means * counts).cpu().numpy().astype(np.float64)
            np.add.at(sums, [p[0] for p in chunk], weighted)
        return sums / np.linalg.norm(sums, axis=1, keepdims=True).clip(1e-12)
