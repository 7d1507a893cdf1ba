"""Offline builders for the scoring benchmark: a synthetic corpus from a fixed seed, a BPE
tokenizer trained on it (so a word is about one token, as with real tokenizers on real text),
and randomly initialised reward models saved with ``save_pretrained`` so that every method in
``bench/scoring.py`` loads exactly the same weights through the public loading path.

Nothing is downloaded. Random weights are fine for timing: the cost of a forward pass depends
on shapes, not on values.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL = ["<pad>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ra",
    "tu",
    "si",
    "po",
    "ve",
    "da",
    "ri",
    "zo",
    "fe",
    "gu",
    "la",
    "ti",
    "mo",
    "na",
    "be",
    "co",
    "ha",
    "je",
    "ke",
    "lu",
    "pa",
    "qu",
    "re",
    "so",
    "ta",
    "vi",
    "wa",
    "xe",
    "yo",
    "zu",
    "an",
    "el",
    "in",
    "or",
    "us",
]


def make_lexicon(n_words: int = 3000, seed: int = 0) -> list[str]:
    """Pseudo-words of 1-4 syllables; drawn with Zipf weights they give text with a realistic
    frequency profile, so BPE learns whole frequent words and splits rare ones."""
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < n_words:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))))
    return sorted(words)


class TextGen:
    """Synthetic sentences from a fixed seed (Zipf-distributed words, punctuation, numbers)."""

    def __init__(self, seed: int = 0, n_words: int = 3000) -> None:
        self.rng = random.Random(seed)
        self.words = make_lexicon(n_words, seed)
        self.weights = [1.0 / (k + 1) ** 1.05 for k in range(len(self.words))]

    def words_(self, n: int) -> list[str]:
        return self.rng.choices(self.words, weights=self.weights, k=max(1, n))

    def text(self, n_words: int) -> str:
        out, sentence = [], []
        for w in self.words_(n_words):
            sentence.append(w)
            if len(sentence) >= self.rng.randint(6, 18):
                out.append(" ".join(sentence).capitalize() + self.rng.choice(".!?."))
                sentence = []
        if sentence:
            out.append(" ".join(sentence).capitalize() + ".")
        return " ".join(out)

    def lognormal_int(self, median: float, sigma: float, lo: int, hi: int) -> int:
        return int(min(hi, max(lo, round(math.exp(self.rng.gauss(math.log(median), sigma))))))


def build_tokenizer(
    path: str | Path,
    *,
    vocab_size: int = 8000,
    chat_template: bool = True,
    model_max_length: int = 4096,
    seed: int = 0,
) -> Any:
    """Byte-level BPE trained in-process on the synthetic corpus (any text still encodes)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    gen = TextGen(seed)
    corpus = [gen.text(200) for _ in range(400)]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        cls_token="<s>",
        sep_token="</s>",
        model_max_length=model_max_length,
    )
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(path))
    return fast


def build_decoder_rm(
    path: str | Path, *, layers: int = 4, hidden: int = 256, seed: int = 0
) -> Path:
    """A Llama-architecture sequence-classification RM with a chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    path = Path(path)
    tok = build_tokenizer(path, chat_template=True)
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        num_labels=1,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = LlamaForSequenceClassification(cfg)
    with torch.no_grad():
        model.score.weight.mul_(50.0)  # spread the random rewards so comparisons are meaningful
    model.save_pretrained(str(path))
    return path


def build_encoder_rm(
    path: str | Path, *, layers: int = 4, hidden: int = 256, seed: int = 0
) -> Path:
    """A small DeBERTa-v2 sequence-classification RM reading (prompt, response) text pairs.
    Relative attention allows long inputs, so nothing in the workload is truncated."""
    import torch
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    path = Path(path)
    tok = build_tokenizer(path, chat_template=False, model_max_length=4096)
    torch.manual_seed(seed)
    cfg = DebertaV2Config(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        max_position_embeddings=4096,
        relative_attention=True,
        position_buckets=256,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        num_labels=1,
        pad_token_id=tok.pad_token_id,
    )
    model = DebertaV2ForSequenceClassification(cfg)
    with torch.no_grad():
        model.classifier.weight.mul_(50.0)
    model.save_pretrained(str(path))
    return path


def llama8b_config(vocab_size: int, pad_token_id: int) -> Any:
    """Llama-3-8B shapes (32 layers, hidden 4096, GQA 32/8 heads, MLP 14336), one reward
    output: about 7.5e9 parameters (no LM head)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        max_position_embeddings=8192,
        rope_theta=500000.0,
        num_labels=1,
        pad_token_id=pad_token_id,
    )


def build_llama8b_rm(path: str | Path, device: str = "cuda", seed: int = 0) -> Any:
    """An 8B Llama-architecture RM with random bf16 weights created directly on ``device``
    (no download, no weights written to disk: only the tokenizer and config are saved, and the
    model object is returned for :class:`HFRewardModel` to adopt)."""
    import torch
    from transformers import LlamaForSequenceClassification

    path = Path(path)
    tok = build_tokenizer(path, chat_template=True, model_max_length=8192)
    cfg = llama8b_config(len(tok), tok.pad_token_id)
    cfg.save_pretrained(str(path))
    import importlib.util

    attn = "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForSequenceClassification._from_config(
            cfg, dtype=torch.bfloat16, attn_implementation=attn
        )
    return model.eval()
