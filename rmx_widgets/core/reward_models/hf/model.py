"""``HFRewardModel``: a transformers sequence-classification RM, scored for throughput.

Explaining an RM means scoring thousands of rewritten responses, so scoring is built for
throughput without giving up exactness. One ``score`` call:

1. de-duplicates identical (prompt, response) pairs, so each is scored once;
2. renders, tokenises and truncates them (``encoding.py``), in the format the RM was trained
   on (its chat template, else its architecture's plain format: ``architecture.py``);
3. for decoder RMs, groups the responses of one prompt so that the prompt prefix runs once and
   every response is scored as a continuation of its KV cache (``prefix.py``);
4. runs the rest as length-sorted full sequences in token-budget batches, shrinking the batches
   when the accelerator runs out of memory (``batching.py``).

Attention runs through FlashAttention-2 when it is installed (CUDA, bf16/fp16), else SDPA
(``loading.py``). Device and dtype follow the rules every local backend shares
(``core/devices.py``).
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rmx_widgets.core.data import Prompt
from rmx_widgets.core.devices import resolve_device, resolve_dtype
from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.base import BaseRewardModel, ObjectiveScores
from rmx_widgets.core.reward_models.hf.architecture import Architecture, architecture_for
from rmx_widgets.core.reward_models.hf.batching import (
    PASS_STAT_NAMES,
    InputDoesNotFit,
    MemoryBudget,
    count_pass,
    default_token_budget,
    padded_inputs,
    scores_of,
)
from rmx_widgets.core.reward_models.hf.encoding import (
    EncodedInput,
    InputEncoder,
    truncation_report,
    unique_pairs,
)
from rmx_widgets.core.reward_models.hf.heads import Head, ValueHead, check_head_arg
from rmx_widgets.core.reward_models.hf.loading import (
    ModelSource,
    check_sizes,
    default_max_length,
    ensure_pad_token,
    model_identity,
)
from rmx_widgets.core.reward_models.hf.objectives import (
    ObjectivePlan,
    ObjectiveReadout,
    check_objectives_arg,
    plan_objectives,
)
from rmx_widgets.core.reward_models.hf.prefix import (
    MIN_PREFIX_TOKENS,
    PrefixSharer,
    PrefixUnsupported,
)
from rmx_widgets.core.reward_models.hf.shared_kv import scoring_lock

if TYPE_CHECKING:
    import torch

STAT_NAMES = (
    "pairs",
    "unique_pairs",
    "prefix_groups",
    "prefix_tokens_saved",
    "prefix_fallbacks",
    "prefix_boundary_merges",
    "forward_passes",
    "tokens_processed",
    "oom_retries",
    *PASS_STAT_NAMES,
)


class HFRewardModel(BaseRewardModel):
    """A transformers sequence-classification reward model (one scalar output).

    Args:
        name_or_path: a Hugging Face hub id (``"org/name"``) or a local directory.
        device: ``"cuda"`` when available, else ``"cpu"``; any torch device string works.
        dtype: ``"bf16"``, ``"fp16"``, ``"fp32"``, ``"auto"`` or a ``torch.dtype``; default
            bfloat16 on CUDA and float32 on CPU. It is part of :attr:`identity` because
            dtypes change scores numerically.
        max_length: longest input in tokens; default min(tokenizer limit, model positions)
            where either is known. Longer inputs are truncated from the left, after the leading
            BOS/CLS token: the oldest prompt tokens go first, so the response stays intact
            whenever the prompt alone is long enough to absorb the excess; only when the
            response alone is too long does its beginning get cut. The end is always kept
            because decoder RMs read their reward at the last token. Truncated inputs are listed
            in :attr:`last_truncated` (indices in the last call), counted in
            :attr:`n_truncated`, and each call that truncates emits one warning.
        token_budget: upper bound on ``batch size x padded length`` per forward pass (bounds
            memory); a single input longer than the budget is run alone. Default 16384 on an
            accelerator and 2048 on the CPU (see :data:`CPU_TOKEN_BUDGET`). When a batch runs
            out of accelerator memory, the batch and this budget are halved for the model from
            then on and the run continues (one warning per model); a single input that does not
            fit raises :class:`RewardModelError`.
        max_batch_size: upper bound on the number of inputs per forward pass.
        trust_remote_code: allow models whose architecture lives in their repository. Turning
            it on *executes Python code downloaded from the model repository* on this machine,
            with your permissions; enable it only for repositories you trust (pin a revision).
        attn_implementation: e.g. ``"eager"``, ``"sdpa"``, ``"flash_attention_2"``; default
            ``"flash_attention_2"`` when the ``flash_attn`` package is installed, the device is
            CUDA and the dtype bf16/fp16, else ``"sdpa"`` where the architecture supports it,
            else transformers' default. The choice is in :attr:`attn_implementation`.
        name: the identity (cache key) to use instead of ``"hf:<name_or_path>:<dtype>"``.
            Either way a ``max_length`` other than the default is appended
            (``":max_length=N"``), since it changes the scores of long inputs; so is, after a
            name, a dtype other than the device's default (``"my-rm:float16"``).
        prefix_sharing: score the responses of one prompt as continuations of the prompt's
            cached keys/values (decoder RMs with a standard ``score`` head only; others always
            use full sequences). The rewards are the same either way; turn it off to measure.
        min_prefix_tokens: share a prefix only when at least this many tokens are common to a
            group of two or more inputs (shorter ones are cheaper to recompute).
        head: which output is the reward (``heads.py``): ``N`` picks output N of a
            sequence-classification model with several (``num_labels > 1``); ``"value_head"``
            reads a TRL (``v_head.summary``) or OpenRLHF (``value_head``) value head from the
            safetensors weights, at the last token. Default: the single output, or a value head
            found in a checkpoint that has no single-output head (with a warning). Anything
            but output 0 of a one-output model is in :attr:`identity` (``...:head=1``,
            ``...:head=trl``). Value-head models score full sequences (no prefix sharing).
        objectives: the outputs of a multi-objective RM to keep (``objectives.py``):
            ``"all"``, a list of ``id2label`` names, or a mapping name -> weight. The model is
            then a :class:`MultiObjectiveHFRewardModel`: ``score`` is the combined reward
            (output ``head=`` when given, else the weighted mean of the objectives) and
            ``score_objectives`` adds each objective's reward, from the same forward pass.

    :attr:`stats` counts what the calls did (cumulative): ``pairs`` (inputs received),
    ``unique_pairs`` (after de-duplication), ``prefix_groups`` (prompts whose prefix was
    shared), ``prefix_tokens_saved`` (tokens not recomputed thanks to it),
    ``prefix_fallbacks`` (groups of two or more inputs of one prompt that used full sequences,
    because their common token prefix was too short or the prefix could not be cached),
    ``prefix_boundary_merges`` (groups where a token spans the prompt/response boundary, so
    the prompt tokenised alone is not a prefix of the full tokens; the common token prefix then
    stops before that token, or the group falls back), ``forward_passes``,
    ``tokens_processed`` (token positions run through the model, padding included),
    ``oom_retries`` (token-budget reductions after running out of memory), and the shape of
    the passes (``batching.count_pass``): ``full_passes``, ``prefix_passes`` and
    ``continuation_passes`` (the three kinds of forward pass), ``rows_processed`` (rows over
    all passes), ``max_rows_per_pass`` and ``max_tokens_per_pass``; ``batching.pass_shape``
    gives the means (rows or tokens / ``forward_passes``); ``max_kv_bytes_per_pass`` (the
    most key/value bytes one continuation pass attended to: the shared prefix once where the
    architecture reads it in place, once per row where it expands a cache).

    Raises:
        RewardModelError: the model cannot be found or loaded, it has several outputs and no
            ``head=`` says which is the reward, or it is a base language model without a
            trained reward head.
    """

    last_truncated: list[int]
    architecture: Architecture
    #: the reward output: an index into the head's outputs, or a value head (``heads.py``)
    head: Head

    def __new__(cls, *args: Any, objectives: Any = None, **kwargs: Any) -> HFRewardModel:
        """A :class:`MultiObjectiveHFRewardModel` when ``objectives`` is given: the capability
        is its class's (``MultiObjectiveRewardModel``), never a flag callers must probe."""
        if objectives is not None and cls is HFRewardModel:
            cls = MultiObjectiveHFRewardModel
        return super().__new__(cls)

    def __init__(
        self,
        name_or_path: str | os.PathLike[str],
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        max_length: int | None = None,
        token_budget: int | None = None,
        max_batch_size: int = 64,
        trust_remote_code: bool = False,
        attn_implementation: str | None = None,
        name: str | None = None,
        prefix_sharing: bool = True,
        min_prefix_tokens: int = MIN_PREFIX_TOKENS,
        head: int | str | None = None,
        objectives: str | Sequence[str] | Mapping[str, float] | None = None,
    ) -> None:
        check_sizes(max_length, token_budget, max_batch_size, min_prefix_tokens)
        check_head_arg(head)
        check_objectives_arg(objectives)
        self._objectives_arg, self._head_given = objectives, head is not None
        self.name_or_path = os.fspath(name_or_path)
        source = ModelSource.of(self.name_or_path, trust_remote_code)
        self.is_local = source.is_local
        self.trust_remote_code = source.trust_remote_code
        self.device = resolve_device(
            device, owner=f"reward model {self.name_or_path!r}", error=RewardModelError
        )
        resolved = resolve_dtype(dtype, self.device, owner="HFRewardModel", error=RewardModelError)
        if name and resolved != resolve_dtype(
            None, self.device, owner="HFRewardModel", error=RewardModelError
        ):  # a named model keeps its key at the default dtype; another one changes scores
            name = f"{name}:{str(resolved).removeprefix('torch.')}"
        self.tokenizer, self.model, self.attn_implementation, self.head = source.load(
            self.device, resolved, attn_implementation, head, objectives
        )
        self._setup(
            source.path,
            max_length,
            token_budget,
            max_batch_size,
            name,
            prefix_sharing,
            min_prefix_tokens,
        )

    @classmethod
    def from_model(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        name: str,
        max_length: int | None = None,
        token_budget: int | None = None,
        max_batch_size: int = 64,
        prefix_sharing: bool = True,
        min_prefix_tokens: int = MIN_PREFIX_TOKENS,
        head: int | None = None,
    ) -> HFRewardModel:
        """Wrap a sequence-classification model already in memory (built from a config, or
        loaded with options this class does not expose, e.g. quantisation). ``name`` is the
        identity: choose one that changes whenever the weights do, since caches are keyed by
        it. The model stays on its device and dtype; ``head=N`` picks output N of a model with
        several (it is appended to the identity)."""
        check_sizes(max_length, token_budget, max_batch_size, min_prefix_tokens)
        check_head_arg(head)
        n = int(getattr(model.config, "num_labels", 0) or 0)
        index: Any = 0 if head is None else head  # "value_head" passes check_head_arg
        if not isinstance(index, int) or (head is None and n != 1) or index >= n:
            raise RewardModelError(
                f"{type(model).__name__} has {n or '?'} outputs; pass "
                "head=N (an index below that) to choose the reward, or load a value-head "
                "checkpoint by path with HFRewardModel(path, head='value_head')."
            )
        self = cls.__new__(cls)
        self.head = index
        self.name_or_path = name
        self.is_local = False
        self.trust_remote_code = False
        self.device = next(model.parameters()).device
        self.tokenizer, self.model = tokenizer, model.eval()
        self.attn_implementation = model.config._attn_implementation
        self._setup(
            name, max_length, token_budget, max_batch_size, name, prefix_sharing, min_prefix_tokens
        )
        return self

    def _setup(
        self,
        source: str,
        max_length: int | None,
        token_budget: int | None,
        max_batch_size: int,
        name: str | None,
        prefix_sharing: bool,
        min_prefix_tokens: int,
    ) -> None:
        """Everything that follows from the loaded model and tokenizer; ``source`` is the
        path or hub id in the default identity."""
        self.dtype: torch.dtype = self.model.dtype
        self.architecture = architecture_for(self.model.config)
        self._pad_id = ensure_pad_token(self.tokenizer, self.model, self.name_or_path)
        params = inspect.signature(self.model.forward).parameters
        self._use_token_types = (
            "token_type_ids" in params and "token_type_ids" in self.tokenizer.model_input_names
        )
        value_head = self.head if isinstance(self.head, ValueHead) else None
        self._column = self._readout()
        self._encoder = InputEncoder(
            self.tokenizer,
            self.architecture,
            self.name_or_path,
            self._use_token_types,
            end_id=self.tokenizer.eos_token_id if value_head and value_head.append_eos else None,
        )
        self._default_max_length = default_max_length(self.tokenizer, self.model)
        self._identity_base = (name or model_identity(source, self.dtype)) + self._suffix()
        self.max_length = max_length if max_length is not None else self._default_max_length
        self.max_batch_size = max_batch_size
        self.min_prefix_tokens = min_prefix_tokens
        self.last_truncated = []
        self.n_truncated = 0
        self._stats = dict.fromkeys(STAT_NAMES, 0)
        self._memory = MemoryBudget(
            token_budget if token_budget is not None else default_token_budget(self.device),
            self.device,
            self.identity,
            self._stats,
        )
        cache_arg = self.architecture.prefix_cache_arg(self.model)
        self._sharer = (
            None
            if cache_arg is None
            else PrefixSharer(
                self.model,
                cache_arg,
                self.device,
                self._pad_id,
                self._stats,
                self._memory,
                self._column,
                in_place=self.architecture.shares_kv_in_place(self.model),
            )
        )
        self.prefix_sharing = bool(prefix_sharing) and self._sharer is not None

    def _readout(self) -> int | Callable[[Any], list[Any]]:
        """What a forward pass reads of the head's outputs: the reward column."""
        return self.head if isinstance(self.head, int) else 0

    def _suffix(self) -> str:
        """The identity suffix of the reward output (``_head_suffix``)."""
        return _head_suffix(self.head, self.model.config)

    # ------------------------------------------------------------------ state
    @property
    def max_length(self) -> int | None:
        """The longest input in tokens (see the class docstring). A value other than the
        model's default is part of :attr:`identity` (``...:max_length=N``), because it
        changes the scores of longer inputs; setting it updates the identity."""
        return self._max_length

    @max_length.setter
    def max_length(self, value: int | None) -> None:
        check_sizes(value, None, 1, 1)
        self._max_length = value
        self.identity = (
            self._identity_base
            if value == self._default_max_length
            else f"{self._identity_base}:max_length={value}"
        )

    @property
    def is_encoder(self) -> bool:
        """Whether the model is a bidirectional encoder (reads a text pair, never shares)."""
        return self.architecture.is_encoder

    @property
    def stats(self) -> dict[str, int]:
        """Cumulative counters (see the class docstring). Assigning a mapping (e.g. zeros to
        measure one run) replaces the counts in place: batching and prefix sharing count into
        the same dict."""
        return self._stats

    @stats.setter
    def stats(self, values: Mapping[str, int]) -> None:
        new = dict(values)
        self._stats.clear()
        self._stats.update(new)

    @property
    def token_budget(self) -> int:
        """The current token budget (it shrinks after an out-of-memory batch)."""
        return self._memory.tokens

    @token_budget.setter
    def token_budget(self, tokens: int) -> None:
        self._memory.tokens = tokens

    # ------------------------------------------------------------------ scoring
    def format(self, prompt: Prompt, response: str) -> str:
        """The text the model reads for (prompt, response), for inspection. For an encoder
        text pair this is the decoded token sequence, separators included."""
        return self._encoder.format(prompt, response)

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        """One float32 reward per (prompt, response), in input order.

        Identical pairs are scored once; groups of inputs that share a long token prefix (the
        responses of one prompt) run it once; the rest run as length-sorted, token-budgeted
        full sequences through :meth:`_forward`.
        """
        return self._values(prompts, responses)

    def _values(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[Any]:
        """What :meth:`_readout` reads for each input, in input order (see :meth:`score`);
        one thread at a time (``scoring_lock``)."""
        with scoring_lock(self):
            return self._values_locked(prompts, responses)

    def _values_locked(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[Any]:
        u_prompts, u_responses, inverse = unique_pairs(prompts, responses)
        encoded = self._encode(u_prompts, u_responses)
        self._record_truncation([encoded[u] for u in inverse])
        self._stats["pairs"] += len(inverse)
        self._stats["unique_pairs"] += len(u_prompts)
        try:
            scores = self._score_encoded(u_prompts, encoded)
        except InputDoesNotFit as e:
            raise self._oom_error(e) from None
        return [scores[u] for u in inverse]

    def _score_encoded(
        self, prompts: Sequence[Prompt], encoded: Sequence[EncodedInput]
    ) -> dict[int, Any]:
        """Scores by index: prefix groups through the sharer, the rest as full sequences."""
        scores: dict[int, Any] = {}
        sharer = self._sharer if self.prefix_sharing else None
        rest = (
            list(range(len(encoded)))
            if sharer is None
            else self._score_shared(sharer, prompts, encoded, scores)
        )
        lengths = {i: len(encoded[i].input_ids) for i in rest}
        cap = self.max_batch_size if self._pad_id is not None else 1
        order = sorted(rest, key=lengths.__getitem__, reverse=True)
        scores.update(
            self._memory.run_batches(
                order, lengths, cap, 0, lambda batch: self._forward([encoded[i] for i in batch])
            )
        )
        return scores

    def _score_shared(
        self,
        sharer: PrefixSharer,
        prompts: Sequence[Prompt],
        encoded: Sequence[EncodedInput],
        scores: dict[int, Any],
    ) -> list[int]:
        """Score the prefix groups into ``scores``; returns the indices left for full
        sequences (inputs in no group, and groups that fell back)."""
        groups, rest = sharer.plan(prompts, encoded, self.min_prefix_tokens)
        done: set[int] = set()
        try:
            for g, got in sharer.score_groups(encoded, groups, self.max_batch_size, self._forward):
                scores.update(got)
                done.add(g)
        except (PrefixUnsupported, TypeError, ValueError, AttributeError, IndexError) as e:
            # An architecture whose cache API differs: same rewards via full sequences.
            self._disable_prefix_sharing(f"{type(e).__name__}: {e}")
        for g, (_, members) in enumerate(groups):
            if g not in done:
                self._stats["prefix_fallbacks"] += 1
                rest.extend(members)
        return rest

    def _encode(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[EncodedInput]:
        """Render, tokenise and truncate every pair to :attr:`max_length`."""
        return self._encoder.encode(prompts, responses, self.max_length)

    def _forward(self, batch: Sequence[EncodedInput]) -> list[Any]:
        """One right-padded forward pass; returns the reward column (``logits[:, head]``) as
        Python floats, or the readout's tuples."""
        import torch

        inputs = padded_inputs(batch, self._pad_id, self._use_token_types)
        with torch.inference_mode():
            logits = self.model(**{k: v.to(self.device) for k, v in inputs.items()}).logits
        count_pass(self._stats, "full", len(batch), inputs["input_ids"].numel())
        return scores_of(logits, self._column)

    # ------------------------------------------------------------------ reporting
    def _record_truncation(self, encoded: Sequence[EncodedInput]) -> None:
        self.last_truncated, message = truncation_report(self.identity, encoded, self.max_length)
        if message is not None:
            self.n_truncated += len(self.last_truncated)
            warnings.warn(message, stacklevel=3)

    def _disable_prefix_sharing(self, why: str) -> None:
        self.prefix_sharing = False
        warnings.warn(
            f"{self.identity}: prompt-prefix sharing turned off ({why}); scoring full "
            "sequences instead (same rewards, slower).",
            stacklevel=5,
        )

    def _oom_error(self, err: InputDoesNotFit) -> RewardModelError:
        shared = f" ({err.shared} of them a shared prompt prefix)" if err.shared else ""
        return RewardModelError(
            f"{self.identity}: a single input of {err.tokens} tokens{shared} does not fit in "
            f"the memory of {self.device} ({err.detail}). Lower max_length (now "
            f"{self.max_length}) so long inputs are truncated, load the model in a smaller "
            "dtype (e.g. dtype='bf16'), or free memory held by other models or processes on "
            "that device."
        )

    def __repr__(self) -> str:
        return (
            f"HFRewardModel({self.name_or_path!r}, device={str(self.device)!r}, "
            f"dtype={self.dtype}, max_length={self.max_length})"
        )


def _head_suffix(head: Head, config: Any) -> str:
    """``:head=...`` for every reward output but the only one of a one-output model, so the
    identity (cache key) of an ordinary RM is unchanged and other outputs never share it."""
    if isinstance(head, ValueHead):
        return f":{head.tag}"
    return "" if head == 0 and getattr(config, "num_labels", 1) == 1 else f":head={head}"


class MultiObjectiveHFRewardModel(HFRewardModel):
    """An :class:`HFRewardModel` with ``objectives=`` (``objectives.py``): declares
    ``MultiObjectiveRewardModel``. One forward pass reads every kept output; ``score`` returns
    the combined reward and ``score_objectives`` the objectives' rewards beside it. The
    objectives (and weights or head) are in :attr:`identity`."""

    plan: ObjectivePlan

    def _readout(self) -> int | Callable[[Any], list[Any]]:
        head = self.head if isinstance(self.head, int) else None
        given = head if getattr(self, "_head_given", False) else None
        self.plan = plan_objectives(
            self.model.config, self._objectives_arg, given, self.name_or_path
        )
        return ObjectiveReadout(self.plan)

    def _suffix(self) -> str:
        return self.plan.tag

    @property
    def objectives(self) -> tuple[str, ...]:
        """The objectives' names, in order."""
        return self.plan.names

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        """The combined reward of each (prompt, response)."""
        return [row[0] for row in self._values(prompts, responses)]

    def score_objectives(
        self, prompts: Sequence[Prompt], responses: Sequence[str]
    ) -> ObjectiveScores:
        """The combined reward and every objective's, from one pass over the inputs."""
        rows = self._values(prompts, responses)
        per = {n: [row[1 + j] for row in rows] for j, n in enumerate(self.plan.names)}
        return ObjectiveScores([row[0] for row in rows], per)
