"""Decoder and encoder reward models as two types, chosen once when the model is loaded.

The two kinds differ in exactly two ways, and every other part of the package asks the type
instead of branching on a flag:

* **input format without a chat template**: a decoder (Llama, Qwen, Mistral, ...) reads one
  string, ``f"{prompt}\\n\\n{response}"``, and its head reads the reward at the last token; a
  bidirectional encoder (BERT, DeBERTa, ...) reads the (prompt, response) *text pair*, so the
  tokenizer inserts the separators ([SEP] ...) the model was trained with;
* **prefix sharing**: a causal model's states over the prompt do not depend on the response,
  so the responses of one prompt can reuse its cached keys/values (``prefix.py``); in an
  encoder every token attends to the response, so nothing can be shared. Decoders whose
  attention layers are known to call transformers' registered attention function plainly
  read those keys/values at batch 1, with no per-row copy (``shared_kv.py``).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class RenderedInput:
    """What the tokenizer gets for one (prompt, response): ``text`` alone or with
    ``text_pair``, and whether it should add its special tokens (not when a chat template
    already wrote the BOS token)."""

    text: str
    text_pair: str | None
    add_special_tokens: bool


class Architecture(ABC):
    """How one kind of reward model reads its input and whether it can share a prefix."""

    #: kept for callers that report the kind (benchmarks, ``HFRewardModel.is_encoder``)
    is_encoder: ClassVar[bool]

    @abstractmethod
    def plain_input(self, prompt_text: str, response: str) -> RenderedInput:
        """The input for a tokenizer without a chat template."""

    @abstractmethod
    def prefix_cache_arg(self, model: Any) -> str | None:
        """The keyword under which ``model``'s base model takes a KV cache when prompt-prefix
        sharing can work for it, else ``None``."""

    @abstractmethod
    def shares_kv_in_place(self, model: Any) -> bool:
        """Whether ``model``'s continuation passes can read a shared prefix's keys/values at
        batch 1 through the shared-prefix attention function (``shared_kv.py``) instead of
        an expanded ``DynamicCache`` that copies the prefix once per row."""


class DecoderArchitecture(Architecture):
    """Causal LMs with a sequence-classification head: one string, prefix sharing possible."""

    is_encoder = False
    #: model types whose attention layers hand transformers' registered attention function
    #: ``(module with .layer_idx, query, own key, own value, mask, scaling=..., **forward
    #: kwargs)`` with full causal attention (read in transformers 5: Llama, Mistral, Qwen2,
    #: Qwen3); any other decoder keeps the expanded-cache path
    KV_IN_PLACE_MODEL_TYPES: ClassVar[frozenset[str]] = frozenset(
        {"llama", "mistral", "qwen2", "qwen3"}
    )

    def plain_input(self, prompt_text: str, response: str) -> RenderedInput:
        return RenderedInput(f"{prompt_text}\n\n{response}", None, True)

    def prefix_cache_arg(self, model: Any) -> str | None:
        """Only heads that read the hidden state at the last non-pad token (transformers'
        generic ``*ForSequenceClassification``: Llama, Qwen, Mistral, Gemma, ...), over a base
        model that accepts a cache and explicit position ids; never encoder-decoders."""
        if model.config.is_encoder_decoder:
            return None
        try:
            from transformers.modeling_layers import GenericForSequenceClassification
        except ImportError:  # transformers before the generic heads: no sharing
            return None
        if not isinstance(model, GenericForSequenceClassification):
            return None
        params = inspect.signature(getattr(model, model.base_model_prefix).forward).parameters
        arg = "cache" if "cache" in params else "past_key_values"
        return arg if "position_ids" in params and arg in params else None

    def shares_kv_in_place(self, model: Any) -> bool:
        return model.config.model_type in self.KV_IN_PLACE_MODEL_TYPES


class EncoderArchitecture(Architecture):
    """Bidirectional encoders: a text pair with the tokenizer's separators, no sharing."""

    is_encoder = True

    def plain_input(self, prompt_text: str, response: str) -> RenderedInput:
        return RenderedInput(prompt_text, response, True)

    def prefix_cache_arg(self, model: Any) -> str | None:
        return None

    def shares_kv_in_place(self, model: Any) -> bool:
        return False


def architecture_for(config: Any) -> Architecture:
    """The architecture of a loaded model, from its config. Encoders are the model types
    that have a masked-LM head in transformers; everything else reads like a decoder."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return EncoderArchitecture()
    return DecoderArchitecture()
