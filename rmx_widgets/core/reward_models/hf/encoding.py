"""(prompt, response) pairs as the reward model reads them: rendered, tokenised, truncated.

The text is formatted the way the RM was trained to read it: its chat template when it has
one, otherwise its architecture's plain format (one string for decoders, a text pair for
encoders; see ``architecture.py``). Tokenisation is batched through the fast tokenizer and
asks for character offsets, which tell how many leading tokens lie entirely before the
response: truncation needs that to say whether the response was reached, and prefix sharing
needs it to know whether a token straddles the prompt/response boundary.

Inputs longer than ``max_length`` are truncated from the left, after a leading BOS/CLS token:
the oldest prompt tokens go first, and the end is always kept because decoder RMs read their
reward at the last token.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rmx_widgets.core.data import Prompt, render_prompt
from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.hf.architecture import Architecture, RenderedInput
from rmx_widgets.core.reward_models.hf.prompt_heads import (
    DEFAULT_PROMPT_CACHE,
    PromptHead,
    PromptHeads,
    joined,
)


@dataclass
class EncodedInput:
    """One (prompt, response) pair exactly as the model will see it.

    ``prompt_len`` counts the leading tokens that lie entirely before the response's first
    character (the prompt side, template markers and BOS/CLS included); it is ``None`` when it
    cannot be known (slow tokenizers without offsets, or a template that rewrote the response).
    It tells truncation whether the response was reached, and marks the shareable prefix.
    ``boundary_merged`` is True when one token spans the end of the prompt side and the start
    of the response (BPE merged them), so the prompt tokenised alone is *not* a prefix of this
    sequence.
    """

    input_ids: list[int]
    token_type_ids: list[int] | None
    prompt_len: int | None
    truncated: bool = False
    response_cut: bool | None = False
    boundary_merged: bool = False


def pair_key(prompt: Prompt) -> Any:
    """Hashable identity of a prompt as rendered: every message field counts (templates may
    read more than role and content), so two prompts share a key only if they render alike."""
    if isinstance(prompt, str):
        return prompt
    return json.dumps(prompt, sort_keys=True, ensure_ascii=False, default=str)


def unique_pairs(
    prompts: Sequence[Prompt], responses: Sequence[str]
) -> tuple[list[Prompt], list[str], list[int]]:
    """The distinct (prompt, response) pairs of a batch, in first-seen order, and for every
    input the index of its distinct pair: a batch of rewrites repeats originals, and scoring
    each pair once is what every scorer's cost rests on. Raises when the lengths differ."""
    prompts, responses = list(prompts), list(responses)
    if len(prompts) != len(responses):
        raise RewardModelError(
            f"score got {len(prompts)} prompts but {len(responses)} responses; pass one "
            "prompt per response."
        )
    slot: dict[tuple[Any, str], int] = {}
    first: list[int] = []
    inverse: list[int] = []
    for i, (p, r) in enumerate(zip(prompts, responses)):
        key = (pair_key(p), r)
        if key not in slot:
            slot[key] = len(first)
            first.append(i)
        inverse.append(slot[key])
    return [prompts[i] for i in first], [responses[i] for i in first], inverse


def truncation_report(
    identity: str, encoded: Sequence[EncodedInput], max_length: int | None, cut_note: str = ""
) -> tuple[list[int], str | None]:
    """The indices of the truncated inputs and the one warning every local scorer gives for
    them (None when nothing was cut), so HF, DPO and vLLM scores say the same thing about the
    same inputs; ``cut_note`` adds what a lost response beginning means for that scorer."""
    cut_at = [i for i, e in enumerate(encoded) if e.truncated]
    if not cut_at:
        return cut_at, None
    cut = sum(1 for i in cut_at if encoded[i].response_cut)
    detail = (
        f"; for {cut} of them the response alone was too long and lost its beginning{cut_note}"
        if cut
        else "; every response was kept whole"
    )
    return cut_at, (
        f"{identity}: {len(cut_at)} of {len(encoded)} inputs were longer than "
        f"max_length={max_length} tokens and were truncated from the left, prompt "
        f"first{detail}. Their indices are in .last_truncated."
    )


class InputEncoder:
    """Renders and tokenises inputs for one tokenizer and architecture.

    ``model_name`` appears in errors; ``use_token_types``: the model takes ``token_type_ids``
    (encoders with segment embeddings), so they are kept; ``end_id``: a token every input must
    end with (appended when it does not; OpenRLHF RMs read their reward at the EOS);
    ``prompt_cache``: how many prompts' head tokens to keep (``prompt_heads.py``; 0: none).
    """

    def __init__(
        self,
        tokenizer: Any,
        architecture: Architecture,
        model_name: str,
        use_token_types: bool,
        end_id: int | None = None,
        prompt_cache: int = DEFAULT_PROMPT_CACHE,
    ) -> None:
        self.tokenizer = tokenizer
        self.end_id = end_id
        self.architecture = architecture
        self.model_name = model_name
        self.use_token_types = use_token_types
        self.head_ids = {
            t for t in (tokenizer.bos_token_id, tokenizer.cls_token_id) if t is not None
        }
        added = getattr(tokenizer, "added_tokens_decoder", None) or {}
        self.heads = PromptHeads(set(added) | set(tokenizer.all_special_ids), prompt_cache)

    def render(self, prompt: Prompt, response: str) -> RenderedInput:
        """The text the tokenizer gets, in the format the RM was trained on.

        * chat template (when the tokenizer has one): the prompt as a user turn (or the given
          message list) plus the response as the assistant turn; if the rendered text already
          starts with the BOS token, the tokenizer must not add another;
        * otherwise the architecture's plain input, with multi-turn prompts flattened by
          :func:`render_prompt`.
        """
        if not isinstance(response, str):
            raise RewardModelError(f"responses must be strings, got {type(response).__name__}.")
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
        elif isinstance(prompt, list) and all(
            isinstance(m, dict) and "role" in m and "content" in m for m in prompt
        ):
            messages = [dict(m) for m in prompt]
        else:
            raise RewardModelError(
                "a prompt must be a string or a list of {'role', 'content'} "
                f"messages, got {prompt!r:.80}."
            )
        if not getattr(self.tokenizer, "chat_template", None):
            return self.architecture.plain_input(render_prompt(prompt), response)
        messages.append({"role": "assistant", "content": response})
        try:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False)
        except Exception as e:  # jinja errors, templates that raise on role order, ...
            raise RewardModelError(
                f"the chat template of {self.model_name} rejected a conversation "
                f"({type(e).__name__}: {e}); check the prompt's roles (many templates need "
                "alternating user/assistant turns)."
            ) from e
        bos = self.tokenizer.bos_token
        return RenderedInput(text, None, not (bos and text.startswith(bos)))

    def format(self, prompt: Prompt, response: str) -> str:
        """The text the model reads, for inspection; a text pair is shown decoded, with the
        tokenizer's separators."""
        r = self.render(prompt, response)
        if r.text_pair is None:
            return r.text
        ids = self.tokenizer(r.text, r.text_pair, add_special_tokens=True)["input_ids"]
        return self.tokenizer.decode(ids)

    def encode(
        self, prompts: Sequence[Prompt], responses: Sequence[str], max_length: int | None
    ) -> list[EncodedInput]:
        """Render and tokenise every pair (batched through the fast tokenizer), then truncate
        to ``max_length`` tokens (``None``: no limit). Single texts reuse their prompt's cached
        head tokens (``prompt_heads.py``): the same ids, without re-tokenising the prompt; the
        first pair of a new prompt is tokenised whole first, to learn its head."""
        rendered = [self.render(p, r) for p, r in zip(prompts, responses)]
        encoded: dict[int, EncodedInput] = {}
        groups: dict[tuple[bool, bool], list[int]] = {}
        for i, r in enumerate(rendered):
            groups.setdefault((r.text_pair is not None, r.add_special_tokens), []).append(i)
        for (is_pair, add_special), idx in groups.items():
            if is_pair or self.use_token_types or self.heads.size <= 0:
                self._encode_whole(idx, prompts, responses, rendered, max_length, encoded)
                continue
            keys = {i: (pair_key(prompts[i]), add_special) for i in idx}
            first: dict[Any, int] = {}
            for i in idx:
                if not self.heads.lookup(keys[i])[0]:
                    first.setdefault(keys[i], i)
            learned = self._encode_whole(
                list(first.values()), prompts, responses, rendered, max_length, encoded
            )
            for i, (ids, offsets) in learned.items():
                self._learn_head(keys[i], rendered[i].text, responses[i], ids, offsets)
            split: list[tuple[int, PromptHead]] = []
            whole: list[int] = []
            for i in idx:
                if i in encoded:
                    continue
                head = self.heads.lookup(keys[i])[1]
                if head is not None and rendered[i].text.startswith(head.text):
                    split.append((i, head))
                else:
                    whole.append(i)
            self._encode_whole(whole, prompts, responses, rendered, max_length, encoded)
            rests = self._tokenize_rest([rendered[i].text[h.end :] for i, h in split])
            for (i, head), (rest_ids, rest_offsets) in zip(split, rests):
                ids, offsets = joined(head, rest_ids, rest_offsets)
                encoded[i] = self._finish(
                    ids, None, rendered[i].text, responses[i], offsets, max_length
                )
        return [encoded[i] for i in range(len(rendered))]

    def _encode_whole(
        self,
        idx: Sequence[int],
        prompts: Sequence[Prompt],
        responses: Sequence[str],
        rendered: Sequence[RenderedInput],
        max_length: int | None,
        encoded: dict[int, EncodedInput],
    ) -> dict[int, tuple[list[int], Any]]:
        """Tokenise the whole texts of ``idx`` (one group: same kind and special-token flag)
        into ``encoded``; returns each single text's raw ids and offsets (when the tokenizer
        gives offsets), from which a prompt head is learned."""
        if not idx:
            return {}
        is_pair = rendered[idx[0]].text_pair is not None
        texts = [rendered[i].text for i in idx]
        pairs = [rendered[i].text_pair for i in idx] if is_pair else None
        kwargs = {
            "add_special_tokens": rendered[idx[0]].add_special_tokens,
            "return_token_type_ids": self.use_token_types,
            "verbose": False,
        }
        try:
            batch = self.tokenizer(texts, pairs, return_offsets_mapping=True, **kwargs)
            offsets = batch["offset_mapping"]
        except (NotImplementedError, ValueError, TypeError):  # slow tokenizers: no offsets
            batch, offsets = self.tokenizer(texts, pairs, **kwargs), None
        raw: dict[int, tuple[list[int], Any]] = {}
        for j, i in enumerate(idx):
            ids = list(batch["input_ids"][j])
            types = list(batch["token_type_ids"][j]) if self.use_token_types else None
            if is_pair:
                encoded[i] = self._finish(ids, types, None, None, None, max_length, batch, j)
                continue
            off = None if offsets is None else offsets[j]
            if off is not None:
                raw[i] = (list(ids), off)
            encoded[i] = self._finish(ids, types, texts[j], responses[i], off, max_length)
        return raw

    def _learn_head(self, key: Any, text: str, response: str, ids: list[int], offsets: Any) -> None:
        """Cache the head of a prompt seen for the first time (None where it cannot be split
        exactly: ``PromptHeads.head_of``)."""
        start = _response_start(text, response)
        head = (
            None
            if start is None
            else self.heads.head_of(text, ids, offsets, start, self._tokenize_rest)
        )
        self.heads.store(key, head)

    def _finish(
        self,
        ids: list[int],
        types: list[int] | None,
        text: str | None,
        response: str | None,
        offsets: Any,
        max_length: int | None,
        batch: Any = None,
        j: int = 0,
    ) -> EncodedInput:
        """One pair as the model reads it: an end token appended where required, the prompt
        length (from the offsets of a single ``text``, else the text pair's sequence ids in
        ``batch`` row ``j``), truncated to ``max_length``."""
        ids = list(ids)
        types = None if types is None else list(types)
        if self.end_id is not None and (not ids or ids[-1] != self.end_id):
            ids.append(self.end_id)
            if types is not None:
                types.append(types[-1] if types else 0)
        merged = False
        if text is None:
            prompt_len = _pair_prompt_len(batch, j, len(ids))
        else:
            prompt_len, merged = _text_prompt_len(text, response or "", offsets)
        return truncate(
            EncodedInput(ids, types, prompt_len, boundary_merged=merged),
            max_length,
            self.head_ids,
        )

    def _tokenize_rest(self, texts: list[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Ids and offsets of the text after a cached head (no special tokens added: the
        head holds those the whole text got)."""
        if not texts:
            return []
        batch = self.tokenizer(
            texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        return [
            (list(batch["input_ids"][j]), list(batch["offset_mapping"][j]))
            for j in range(len(texts))
        ]


def _pair_prompt_len(batch: Any, j: int, n: int) -> int | None:
    """Tokens before the second text of a pair (``n`` when it is empty), from the fast
    tokenizer's sequence ids; ``None`` for tokenizers without them."""
    try:
        seq = batch.sequence_ids(j)
    except (ValueError, NotImplementedError):
        return None
    return next((k for k, s in enumerate(seq) if s == 1), n)


def _response_start(text: str, response: str) -> int | None:
    """Where the response begins in the rendered text (its last occurrence; a template may
    strip it), or None when it cannot be found."""
    start = text.rfind(response)
    if start < 0 and response.strip():
        start = text.rfind(response.strip())
    return None if start < 0 else start


def _text_prompt_len(
    text: str, response: str, offsets: Sequence[tuple[int, int]] | None
) -> tuple[int | None, bool]:
    """(tokens entirely before the response, whether the next token straddles its start)."""
    if offsets is None:
        return None, False
    start = _response_start(text, response)
    if start is None:
        return None, False
    k = next((k for k, (_, end) in enumerate(offsets) if end > start), len(offsets))
    return k, k < len(offsets) and offsets[k][0] < start


def truncate(item: EncodedInput, max_length: int | None, head_ids: set[int]) -> EncodedInput:
    """Left truncation to ``max_length`` tokens that keeps a leading BOS/CLS (one of
    ``head_ids``), recording whether the response itself lost its beginning."""
    n = len(item.input_ids)
    if max_length is None or n <= max_length:
        return item
    head = 1 if item.input_ids and item.input_ids[0] in head_ids else 0
    excess = n - max_length
    if max_length <= head:
        head = 0

    def cut(seq: list[int]) -> list[int]:
        return seq[:head] + seq[head + excess :]

    prompt_len = item.prompt_len
    response_cut = None if prompt_len is None else head + excess > prompt_len
    if prompt_len is not None:
        prompt_len = max(prompt_len - excess, head)
    return EncodedInput(
        cut(item.input_ids),
        None if item.token_type_ids is None else cut(item.token_type_ids),
        prompt_len,
        truncated=True,
        response_cut=response_cut,
        boundary_merged=item.boundary_merged,
    )
