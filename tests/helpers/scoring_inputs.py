"""Inputs shared by the scoring tests: words the tiny tokenizer knows, a multi-turn prompt."""

from __future__ import annotations

import random

WORDS = (
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "water",
    "boils",
    "at",
    "degrees",
    "Paris",
    "capital",
    "France",
    "sorted",
    "items",
    "list",
    "Python",
    "sorry",
    "help",
    "request",
    "answer",
    "multiply",
    "check",
    "result",
)
MULTI_TURN = [
    {"role": "system", "content": "You are a careful assistant. Answer briefly and precisely."},
    {"role": "user", "content": "What is the capital of France, and why is it famous?"},
    {"role": "assistant", "content": "Paris. It is famous for art, food and history."},
    {"role": "user", "content": "And at what temperature does water boil at sea level?"},
]


def random_text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words)) + "."
