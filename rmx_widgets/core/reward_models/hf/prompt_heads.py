"""The prompt's tokens, tokenised once per prompt rather than once per pair.

The Explainer scores ~30 responses per prompt, and a prompt is often much longer than a
response, so re-tokenising the whole rendered prompt for every pair puts most of the
tokenisation on the critical path for nothing. A fast tokenizer splits its input at added
(special) tokens before it normalises and pre-tokenises anything, and tokenises each piece on
its own; so the tokens up to and including the last special token that lies entirely before the
response (the template's ``<|assistant|>`` marker, say) are the same for every response of the
prompt. :class:`PromptHeads` keeps those tokens (the *head*) per prompt, and each later pair
tokenises only the text after them.

Exactness is checked, not assumed: the first pair of a prompt is tokenised whole as before, and
the head is cached only if head + tokens(rest) equals that whole tokenisation (a post-processor
that appends an EOS, or a tokenizer that treats the start of a piece specially, fails that check
and the prompt keeps the whole-text path). Every later pair must render to text that starts with
the cached head text, else it is tokenised whole. The cache is bounded (least recently used
prompt evicted first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: prompts whose head is kept (least recently used evicted first): far more than one batch of
#: the Explainer holds, and a head is a few kB
DEFAULT_PROMPT_CACHE = 1024


@dataclass(frozen=True)
class PromptHead:
    """The rendered text up to ``end`` (a character offset) and its tokens and offsets."""

    text: str
    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]

    @property
    def end(self) -> int:
        return len(self.text)


class PromptHeads:
    """A bounded cache of :class:`PromptHead` per prompt key (``None``: that prompt cannot be
    split exactly and is tokenised whole). ``special_ids``: the tokenizer's added tokens, the
    only places a head may end."""

    def __init__(self, special_ids: set[int], size: int = DEFAULT_PROMPT_CACHE) -> None:
        self.special_ids = special_ids
        self.size = size
        self._heads: OrderedDict[Any, PromptHead | None] = OrderedDict()

    def lookup(self, key: Any) -> tuple[bool, PromptHead | None]:
        """(whether ``key`` is known, its head or None)."""
        if key not in self._heads:
            return False, None
        self._heads.move_to_end(key)
        return True, self._heads[key]

    def store(self, key: Any, head: PromptHead | None) -> None:
        if self.size <= 0:
            return
        self._heads[key] = head
        self._heads.move_to_end(key)
        while len(self._heads) > self.size:
            self._heads.popitem(last=False)

    def head_of(
        self,
        text: str,
        ids: Sequence[int],
        offsets: Sequence[tuple[int, int]],
        response_start: int,
        tokenize_rest: Any,
    ) -> PromptHead | None:
        """The head of one whole tokenisation (``response_start``: the response's first
        character in ``text``), or None when no special token ends before the response or
        head + ``tokenize_rest(text[end:])`` (ids, offsets) differs from ``ids``."""
        k = max(
            (
                j + 1
                for j, (t, (_, stop)) in enumerate(zip(ids, offsets))
                if t in self.special_ids and 0 < stop <= response_start
            ),
            default=0,
        )
        if k == 0:
            return None
        end = offsets[k - 1][1]
        rest_ids, _ = tokenize_rest([text[end:]])[0]
        if list(ids[:k]) + list(rest_ids) != list(ids):
            return None
        return PromptHead(text[:end], tuple(ids[:k]), tuple((a, b) for a, b in offsets[:k]))


def joined(
    head: PromptHead, rest_ids: Sequence[int], rest_offsets: Sequence[tuple[int, int]]
) -> tuple[list[int], list[tuple[int, int]]]:
    """A pair's tokens and character offsets in its whole text: the head's, then the rest's
    shifted by where the rest starts."""
    shift = head.end
    return list(head.ids) + list(rest_ids), list(head.offsets) + [
        (a + shift, b + shift) for a, b in rest_offsets
    ]
