"""Caching a pairwise judge's answers: ``CachedPairwiseJudge``.

A judge call costs what a score costs (a forward pass, an API request), so each P(first ≻
second) is computed once per store, like a reward (``core.cached``): answered from the store's
``pair_scores`` table, claimed before it is computed (processes sharing a store split the
work), written the moment it exists. The key is the judge's identity, the rendered prompt and
both texts *in order*: P(a ≻ b) and P(b ≻ a) are two entries, because a judge with a position
bias answers them differently, and both are needed to remove that bias (``debiased``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rmx_widgets.core.cached import claim_or_wait
from rmx_widgets.core.data import Prompt, prompt_key
from rmx_widgets.core.reward_models.pairwise import (
    PairwiseJudge,
    checked_preferences,
    debiased,
    position_disagrees,
)
from rmx_widgets.core.store import Store, content_key


@dataclass
class PairPreferences:
    """Both orders of each pair and what they give.

    ``p`` is P(a ≻ b) averaged over both orders (``debiased``); ``p_ab`` / ``p_ba`` are the
    judge's raw answers with a shown first / b shown first; ``disagree`` says the two orders
    named different winners. ``computed`` judgements (one per order) were computed here, the
    other ``cached`` ones came from the store or repeat an input of the call, ``elsewhere`` of
    those were computed by another process while this one waited.
    """

    p: list[float]
    p_ab: list[float]
    p_ba: list[float]
    disagree: list[bool]
    computed: int
    cached: int
    elsewhere: int


class CachedPairwiseJudge:
    """``judge`` through ``store``: each distinct (prompt, first, second) is judged at most
    once, and every answer is checked (``checked_preferences``) before it can be stored."""

    def __init__(self, judge: PairwiseJudge, store: Store) -> None:
        self.judge = judge
        self.store = store

    def key(self, prompt: Prompt, first: str, second: str) -> str:
        return content_key("pair", self.judge.identity, prompt_key(prompt), first, second)

    def prefer(
        self, prompts: Sequence[Prompt], responses_a: Sequence[str], responses_b: Sequence[str]
    ) -> PairPreferences:
        """Both orders of every (prompt, a, b), from the store or judged here in one call."""
        n = len(prompts)
        triples = [(p, a, b) for p, a, b in zip(prompts, responses_a, responses_b)]
        triples += [(p, b, a) for p, a, b in zip(prompts, responses_a, responses_b)]
        keys = [self.key(*t) for t in triples]
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)

        def compute(mine: list[str]) -> dict[str, float]:
            work = [triples[first[k]] for k in mine]
            got = checked_preferences(
                self.judge, [t[0] for t in work], [t[1] for t in work], [t[2] for t in work]
            )
            self.store.put_pair_scores([(k, self.judge.identity, p) for k, p in zip(mine, got)])
            return dict(zip(mine, got))

        got = claim_or_wait(self.store, "pair_scores", keys, self.store.get_pair_scores, compute)
        p_ab, p_ba = got.values[:n], got.values[n:]
        return PairPreferences(
            p=[debiased(x, y) for x, y in zip(p_ab, p_ba)],
            p_ab=p_ab,
            p_ba=p_ba,
            disagree=[position_disagrees(x, y) for x, y in zip(p_ab, p_ba)],
            computed=got.computed,
            cached=got.cached,
            elsewhere=got.elsewhere,
        )


__all__ = ["CachedPairwiseJudge", "PairPreferences"]
