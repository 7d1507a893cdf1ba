"""Tiny randomly initialised transformers models and an offline tokenizer, saved to a folder and
loaded back through the real ``from_pretrained`` path. No test downloads anything.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_CORPUS = [
    "The quick brown fox jumps over the lazy dog. I think it might rain tomorrow.",
    "Sure! Here is how to sort a list in Python: use sorted(items) or items.sort().",
    "I'm sorry, but I can't help with that request. Thank you for asking!",
    "The answer is 42 because 6 * 7 = 42. First, multiply; then, check the result.",
    "Great question! Perhaps you could try drinking more water and sleeping eight hours.",
    "- item one\n- item two\n## Heading\n```python\nprint('hello')\n```",
    "Paris is the capital of France. Water boils at 100 degrees Celsius at sea level.",
    '{"locate": ["phrase"], "rewritten": "text"} <|user|> <|assistant|> <|system|> <|end|>',
]
SPECIAL = ["<pad>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]


def build_tokenizer(path: str | Path, *, chat_template: bool = True):
    """A byte-level BPE tokenizer (any text encodes) trained in-process on a tiny corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(path))
    return fast


def build_decoder_rm(
    path: str | Path,
    *,
    chat_template: bool = True,
    layers: int = 2,
    hidden: int = 64,
    seed: int = 0,
) -> Path:
    """A Llama-architecture sequence-classification RM (one reward head)."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    path = Path(path)
    tok = build_tokenizer(path, chat_template=chat_template)
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        num_labels=1,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = LlamaForSequenceClassification(cfg)
    _spread_head(model.score)
    model.save_pretrained(str(path))
    return path


#: The objectives of :func:`build_multi_objective_rm`, in output order (its ``id2label``).
OBJECTIVES = ("helpfulness", "correctness", "verbosity")


def build_multi_objective_rm(path: str | Path, *, seed: int = 0, labels: bool = True) -> Path:
    """A Llama sequence-classification RM with three outputs, one per objective (named in
    ``id2label`` by :data:`OBJECTIVES`, or transformers' default ``LABEL_k`` without
    ``labels``), saved with ``save_pretrained``: an ArmoRM-style multi-objective RM."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    path = Path(path)
    tok = build_tokenizer(path)
    torch.manual_seed(seed)
    named = dict(enumerate(OBJECTIVES)) if labels else {}
    extra = {"id2label": named, "label2id": {v: k for k, v in named.items()}} if labels else {}
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        num_labels=len(OBJECTIVES),
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        **extra,
    )
    model = LlamaForSequenceClassification(cfg)
    _spread_head(model.score)
    model.save_pretrained(str(path))
    return path


def build_encoder_rm(path: str | Path, *, seed: int = 0) -> Path:
    """A DeBERTa-v2-architecture sequence-classification RM (one reward head), no chat template."""
    import torch
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    path = Path(path)
    tok = build_tokenizer(path, chat_template=False)
    torch.manual_seed(seed)
    cfg = DebertaV2Config(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
        num_labels=1,
        pad_token_id=tok.pad_token_id,
    )
    model = DebertaV2ForSequenceClassification(cfg)
    _spread_head(model.classifier)
    model.save_pretrained(str(path))
    return path


def build_causal_lm(path: str | Path, *, seed: int = 0) -> Path:
    """A Llama-architecture causal LM with a chat template, for local generation backends."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    path = Path(path)
    tok = build_tokenizer(path, chat_template=True)
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = LlamaForCausalLM(cfg)
    model.generation_config = GenerationConfig(
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id
    )
    model.save_pretrained(str(path))
    return path


def _spread_head(linear) -> None:
    """Random init gives near-identical rewards; widen the head so rewards differ clearly."""
    import torch

    with torch.no_grad():
        linear.weight.mul_(50.0)
