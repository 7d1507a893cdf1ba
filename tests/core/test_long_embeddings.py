"""TransformersEmbedder on texts longer than the encoder's limit (issue 11, defect 7).

Truncating at ``max_length`` tokens gave an edit past the limit a semantic distance of exactly
0. Long texts are now covered by overlapping windows whose means are pooled weighted by their
token counts; texts that fit are embedded exactly as before. The encoder is the tiny random
DeBERTa-v2 of ``tiny_models`` (built in a temp dir, loaded through ``from_pretrained``; its
tokenizer adds no special tokens, so a window holds ``max_length`` text tokens).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rmx_widgets.core.embedders import TransformersEmbedder, windows
from rmx_widgets.core.metrics import semantic_distances

LIMIT = 32  # max_length of the embedders below: room 32, overlap 32 // 8 = 4, stride 28
LONG = "The quick brown fox jumps over the lazy dog. I think it might rain tomorrow. " * 6
EDITED = LONG[: LONG.rindex("dog")] + "cat" + LONG[LONG.rindex("dog") + 3 :]


def n_tokens(emb: TransformersEmbedder, text: str) -> int:
    return len(emb._tokenizer(text, add_special_tokens=False)["input_ids"])


def reference_mean(emb: TransformersEmbedder, ids: list[int]) -> np.ndarray:
    """The masked mean of one unpadded window's last hidden states, by hand."""
    with torch.inference_mode():
        hidden = emb._model(
            input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)
        ).last_hidden_state.float()
    return hidden[0].mean(dim=0).numpy().astype(np.float64)


def test_windows_by_hand():
    assert windows(10, 10) == [(0, 10)]  # fits: one window, as before
    assert windows(0, 10) == [(0, 0)]
    # room 254 (256 less [CLS], [SEP]): overlap 254 // 8 = 31, stride 223; starts 0, 223
    # (the next, 446, is past 300 − 31 = 269)
    assert windows(300, 254) == [(0, 254), (223, 300)]
    # room 8: overlap 1, stride 7; starts 0, 7, 14 (< 20 − 1 = 19); 21 is past
    assert windows(20, 8) == [(0, 8), (7, 15), (14, 20)]
    # every token is covered and consecutive windows overlap
    for n, room in ((1000, 32), (33, 32), (65, 32)):
        spans = windows(n, room)
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(b - a <= room for a, b in spans)
        assert all(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))


def test_an_edit_past_the_limit_moves_the_distance(tiny_encoder_rm):
    emb = TransformersEmbedder(str(tiny_encoder_rm), max_length=LIMIT)
    emb.load()
    prefix = LONG[: LONG.rindex("dog")]
    assert n_tokens(emb, prefix) > LIMIT  # the edit is past the encoder's limit
    # the defect: cut at the limit, both texts are the same 32 tokens (distance 0.000)
    tok = emb._tokenizer
    cut = [tok(t, truncation=True, max_length=LIMIT)["input_ids"] for t in (LONG, EDITED)]
    assert cut[0] == cut[1]
    d = semantic_distances([LONG], [EDITED], embedder=emb)
    assert d[0] > 1e-6
    assert semantic_distances([LONG], [LONG], embedder=emb)[0] == pytest.approx(0.0, abs=1e-6)


def test_a_long_text_is_the_token_weighted_mean_of_its_windows(tiny_encoder_rm):
    emb = TransformersEmbedder(str(tiny_encoder_rm), max_length=LIMIT)
    emb.load()
    ids = emb._tokenizer(LONG, add_special_tokens=False)["input_ids"]
    n = len(ids)
    assert n > 2 * LIMIT
    # by hand: windows of 32 tokens with stride 28 while a window still adds a token
    starts = list(range(0, n - 4, 28))
    spans = [(a, min(a + 32, n)) for a in starts]
    assert spans == windows(n, LIMIT)
    total = sum((b - a) * reference_mean(emb, ids[a:b]) for a, b in spans)
    expected = total / np.linalg.norm(total)
    got = emb([LONG])[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.linalg.norm(got) == pytest.approx(1.0)


def test_texts_that_fit_are_embedded_as_before(tiny_encoder_rm):
    """The old pooling, by hand: one truncated encoding, masked mean, L2 norm. Texts that fit
    (one of exactly 32 tokens among them) get it unchanged, alone or beside long texts."""
    emb = TransformersEmbedder(str(tiny_encoder_rm), max_length=LIMIT, batch_size=2)
    emb.load()
    tok = emb._tokenizer
    exact = tok.decode(tok(LONG, add_special_tokens=False)["input_ids"][:LIMIT])
    short = ["a short one", "mid length text here", exact]
    assert n_tokens(emb, exact) == LIMIT
    expected = []
    for text in short:
        ids = tok(text, truncation=True, max_length=LIMIT)["input_ids"]
        mean = reference_mean(emb, ids)
        expected.append(mean / np.linalg.norm(mean))
    np.testing.assert_allclose(emb(short), np.array(expected), atol=1e-5)
    mixed = emb([LONG, short[0], EDITED, short[1], short[2]])
    np.testing.assert_allclose(mixed[[1, 3, 4]], np.array(expected), atol=1e-5)
    # the default limit (256) holds these texts whole: the same as the old truncating call
    default = TransformersEmbedder(str(tiny_encoder_rm))
    default.load()
    ids = default._tokenizer(LONG, truncation=True, max_length=256)["input_ids"]
    assert len(ids) < 256
    mean = reference_mean(default, ids)
    np.testing.assert_allclose(default([LONG])[0], mean / np.linalg.norm(mean), atol=1e-5)


class Recording:
    """The encoder, recording the shape of every batch it is given."""

    def __init__(self, model):
        self.model, self.config, self.shapes = model, model.config, []

    def __call__(self, **enc):
        self.shapes.append(tuple(enc["input_ids"].shape))
        return self.model(**enc)


def test_many_long_texts_are_embedded_in_bounded_batches(tiny_encoder_rm):
    emb = TransformersEmbedder(str(tiny_encoder_rm), max_length=LIMIT, batch_size=4)
    emb.load()
    texts = [LONG[: 100 + 20 * i] for i in range(12)]
    per_text = [len(windows(n_tokens(emb, t), LIMIT)) for t in texts]
    assert min(per_text) >= 2  # all long
    emb._model = Recording(emb._model)
    out = emb(texts)
    shapes = emb._model.shapes
    assert all(b <= 4 and length <= LIMIT for b, length in shapes)  # windows per call ≤ 4
    assert len(shapes) == math.ceil(sum(per_text) / 4)
    assert out.shape == (12, 64)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)


def test_windows_keep_the_tokenizers_special_tokens(tiny_encoder_rm, tmp_path):
    """A BERT-like tokenizer wraps a text in <s> … </s>: each window is wrapped the same way
    and holds 32 − 2 = 30 text tokens, so no call exceeds the encoder's 32."""
    import shutil

    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    folder = tmp_path / "enc"
    shutil.copytree(tiny_encoder_rm, folder)
    tok = AutoTokenizer.from_pretrained(str(folder))
    bos, eos = tok.convert_tokens_to_ids("<s>"), tok.convert_tokens_to_ids("</s>")
    tok.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    tok.save_pretrained(str(folder))
    emb = TransformersEmbedder(str(folder), max_length=LIMIT, batch_size=3)
    emb.load()
    assert emb._tokenizer("a")["input_ids"][0] == bos  # the template is in force
    seen = []

    class Rec(Recording):
        def __call__(self, **enc):
            seen.extend(enc["input_ids"][r, enc["attention_mask"][r] > 0].tolist() for r in
                        range(enc["input_ids"].shape[0]))  # fmt: skip
            return super().__call__(**enc)

    emb._model = Rec(emb._model)
    d = semantic_distances([LONG], [EDITED], embedder=emb)
    assert d[0] > 1e-6
    n = n_tokens(emb, LONG)
    assert len(seen) == 2 * len(windows(n, 30))  # both texts, room 30
    assert all(w[0] == bos and w[-1] == eos and len(w) <= LIMIT for w in seen)
