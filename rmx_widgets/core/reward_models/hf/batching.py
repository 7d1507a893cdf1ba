"""Token-budget batches for a reward model, and what happens when one runs out of memory.

Inputs are sorted by length and packed into batches under a *token budget* (``batch size x
padded length <= token_budget``), each batch padded only to its own longest sequence, so short
rewrites never pay for long ones. Padding is on the right and the attention mask hides it, so a
score never depends on which other inputs happened to share its batch.

When a batch runs out of accelerator memory, :class:`MemoryBudget` halves the budget below that
batch for the model from then on and re-packs the inputs not yet scored, so a long job survives
one batch that was too big instead of losing everything; a single input that does not fit
raises :class:`InputDoesNotFit`, which the model turns into its own error.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from rmx_widgets.core.devices import free_accelerator_memory, is_oom, oom_detail
from rmx_widgets.core.reward_models.hf.encoding import EncodedInput

if TYPE_CHECKING:
    import torch

T = TypeVar("T")

# Default token budgets. An accelerator needs big batches to be busy. A CPU runs a forward pass
# at about the same cost per token at batch 1 as at batch 64, so batching buys it nothing, while
# big batches push the activations and the (rows x heads x length^2) attention scores out of
# its caches: measured on 2 Xeon cores (bench/results/scoring_cpu.txt), a 4-layer Llama RM ran
# ~15% and a DeBERTa-v2 RM (eager attention) ~2x slower per token at 16384 than at 1024-2048.
ACCELERATOR_TOKEN_BUDGET = 16384
CPU_TOKEN_BUDGET = 2048
# A batch of at least this many rows is closed rather than padded by more than MAX_PAD_WASTE:
# per token, a CPU runs one long row as fast as many, and a GPU is busy long before 8 rows.
MIN_ROWS_BEFORE_SPLIT = 8
MAX_PAD_WASTE = 0.1


def default_token_budget(device: torch.device) -> int:
    return CPU_TOKEN_BUDGET if device.type == "cpu" else ACCELERATOR_TOKEN_BUDGET


def pack(
    order: Sequence[int], length: Sequence[int] | dict[int, int], cap: int, budget: int, extra: int
) -> Iterator[list[int]]:
    """Greedy batches over ``order`` (sorted longest first): at most ``cap`` rows and
    ``extra + rows x widest <= budget`` (``extra``: cached prefix tokens every row attends to,
    counted once: they are computed once per group, and a per-row count would let a 1,000-token
    prompt have at most 16 rows at a 16,384 budget however short its responses); a batch of
    MIN_ROWS_BEFORE_SPLIT or more rows closes rather than let padding exceed MAX_PAD_WASTE of
    its tokens. A single over-budget input runs alone. Batches are
    consecutive runs of ``order``."""
    batch: list[int] = []
    width = real = 0
    for i in order:
        n = length[i]
        grown = max(width, n)
        rows = len(batch) + 1
        if batch and (
            len(batch) >= cap
            or extra + rows * grown > budget
            or (
                len(batch) >= MIN_ROWS_BEFORE_SPLIT
                and rows * grown - (real + n) > MAX_PAD_WASTE * rows * grown
            )
        ):
            yield batch
            batch, grown, real = [], n, 0
        batch.append(i)
        width, real = grown, real + n
    if batch:
        yield batch


def padded_inputs(
    batch: Sequence[EncodedInput], pad_id: int | None, use_token_types: bool
) -> dict[str, torch.Tensor]:
    """One right-padded batch as model inputs (``input_ids``, ``attention_mask`` and, when the
    model takes them, ``token_type_ids``), on the CPU."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    input_ids = torch.full((len(batch), width), 0 if pad_id is None else pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    token_types = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        input_ids[row, :n] = torch.tensor(e.input_ids, dtype=torch.long)
        attention_mask[row, :n] = 1
        if e.token_type_ids is not None:
            token_types[row, :n] = torch.tensor(e.token_type_ids, dtype=torch.long)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if use_token_types:
        inputs["token_type_ids"] = token_types
    return inputs


class InputDoesNotFit(Exception):
    """One sequence of ``tokens`` positions (``shared`` of them a cached prompt prefix) ran out
    of accelerator memory; it cannot be split, so the call fails (``detail``: torch's message).
    """

    def __init__(self, tokens: int, shared: int, detail: str) -> None:
        super().__init__(f"a single input of {tokens} tokens does not fit ({detail})")
        self.tokens, self.shared, self.detail = tokens, shared, detail


class MemoryBudget:
    """The token budget of one model, halved below each batch that ran out of memory.

    ``owner`` (the model's identity) and ``device`` name the model in the one warning it
    emits; ``stats`` is the model's counter dict, where ``oom_retries`` counts the reductions.
    """

    def __init__(
        self, tokens: int, device: torch.device, owner: str, stats: dict[str, int]
    ) -> None:
        self.tokens = tokens
        self.device = device
        self.owner = owner
        self.stats = stats
        self._warned = False

    def run_batches(
        self,
        order: Sequence[int],
        length: dict[int, int],
        cap: int,
        extra: int,
        run: Callable[[list[int]], list[Any]],
    ) -> Iterator[tuple[int, Any]]:
        """Pack ``order`` (longest first) under the current budget and yield ``(index, score)``
        from ``run(batch)``; after an out-of-memory batch the budget shrinks and the inputs not
        yet scored are re-packed under it. ``extra``: cached prefix tokens every row attends
        to."""
        remaining = list(order)
        while remaining:
            for batch in pack(remaining, length, cap, self.tokens, extra):
                try:
                    got = run(batch)
                except RuntimeError as e:
                    if not is_oom(e):
                        raise
                    detail = oom_detail(e)
                else:
                    yield from zip(batch, got)
                    remaining = remaining[len(batch) :]
                    continue
                # Outside the except block, so the traceback's tensors can be freed first.
                self._shrink(len(batch), max(length[i] for i in batch), extra, detail)
                break

    def run_single(self, run: Callable[[], T], tokens: int) -> T:
        """``run()`` for a pass over one sequence of ``tokens``, which cannot be split: out of
        memory there raises :class:`InputDoesNotFit`."""
        try:
            return run()
        except RuntimeError as e:
            if not is_oom(e):
                raise
            detail = oom_detail(e)
        free_accelerator_memory(self.device)
        raise InputDoesNotFit(tokens, 0, detail)

    def _shrink(self, rows: int, width: int, extra: int, detail: str) -> None:
        """Free the allocator cache and halve the budget below the batch that failed, for this
        model from now on (later calls would fail the same way); a single input cannot be
        split, so that raises :class:`InputDoesNotFit`."""
        free_accelerator_memory(self.device)
        if rows <= 1:
            raise InputDoesNotFit(extra + width, extra, detail)
        self.stats["oom_retries"] += 1
        old, total = self.tokens, extra + width
        self.tokens = max(1, min(old, extra + rows * width) // 2)
        if not self._warned:
            self._warned = True
            shared = f" ({extra} of them a shared prompt prefix)" if extra else ""
            warnings.warn(
                f"{self.owner}: out of memory at batch {rows} x {total} tokens{shared} on "
                f"{self.device}; continuing with token budget {self.tokens} (was {old}) "
                f"for this model. Pass token_budget={self.tokens} to start there; further "
                "reductions are counted in .stats['oom_retries'].",
                stacklevel=5,
            )


#: the kinds of forward pass :func:`count_pass` tells apart (``<kind>_passes`` in the stats)
PASS_KINDS = ("full", "prefix", "continuation")
PASS_STAT_NAMES = (
    "full_passes",
    "prefix_passes",
    "continuation_passes",
    "rows_processed",
    "max_rows_per_pass",
    "max_tokens_per_pass",
    "max_kv_bytes_per_pass",
)


def count_pass(stats: dict[str, int], kind: str, rows: int, tokens: int) -> None:
    """Count one forward pass of ``rows`` rows and ``tokens`` token positions (padding
    included, a cached prefix not: it is not recomputed) into a model's stats. Why: whether a
    pass fills an accelerator is a matter of its shape (rows, tokens), which the totals alone
    hide; the per-kind counts show how many passes a prefix costs."""
    stats["forward_passes"] += 1
    stats[f"{kind}_passes"] += 1
    stats["tokens_processed"] += tokens
    stats["rows_processed"] += rows
    stats["max_rows_per_pass"] = max(stats.get("max_rows_per_pass", 0), rows)
    stats["max_tokens_per_pass"] = max(stats.get("max_tokens_per_pass", 0), tokens)


def count_kv_bytes(stats: dict[str, int], nbytes: int) -> None:
    """Record the bytes of keys and values one continuation pass attended to (the shared
    prefix as held, plus the rows' own): the per-row copy of an expanded prefix cache shows
    here as ``rows x prefix``, the in-place path as ``1 x prefix``."""
    stats["max_kv_bytes_per_pass"] = max(stats.get("max_kv_bytes_per_pass", 0), nbytes)


def pass_shape(stats: dict[str, int]) -> dict[str, float | None]:
    """Mean and max rows and tokens per forward pass from a model's stats (means are
    ``None``, "not measured", before any pass)."""
    n = stats.get("forward_passes", 0)
    return {
        "mean_rows_per_pass": stats["rows_processed"] / n if n else None,
        "max_rows_per_pass": stats["max_rows_per_pass"] if n else None,
        "mean_tokens_per_pass": stats["tokens_processed"] / n if n else None,
        "max_tokens_per_pass": stats["max_tokens_per_pass"] if n else None,
    }


def scores_of(logits: Any, column: int | Callable[[Any], list[Any]] = 0) -> list[Any]:
    """A head's ``logits[:, column]`` as Python floats (the reward of each row; ``column`` is
    the ``head=`` output of a model with several), or ``column(logits)`` when it is a readout
    of several outputs (``objectives.ObjectiveReadout``: one tuple per row)."""
    if callable(column):
        return column(logits)
    return logits[:, column].float().cpu().tolist()
