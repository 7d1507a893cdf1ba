"""The comparisons with slice fields (``domain``, ``source``) and the attributes the slice
tests explain them over."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parents[1] / "data" / "comparisons_with_domain.jsonl"
ATTRS = ["verbosity", "manner", "avoid-to-answer"]
