"""``VLLMRewardModel``: a sequence-classification RM scored by vLLM's pooling runner.

Explaining an RM scores the original responses and dozens of rewrites of each, all under one
prompt; vLLM's engine batches them continuously and, with prefix caching on, computes the KV
cache of a shared prompt once for every response that follows it. It is an optional extra for
CUDA machines (``pip install 'rmx-widgets[vllm]'``), like ``VLLMPerturber``.

The rewards must be *comparable* with ``HFRewardModel`` on the same checkpoint, so the input is
never re-rendered by vLLM: every (prompt, response) is rendered, tokenised and left-truncated by
the same ``hf/encoding.py`` code ``HFRewardModel`` uses, and vLLM receives those token ids
(``{"prompt_token_ids": ...}``). What can still differ is arithmetic (vLLM's kernels and batch
shapes): :data:`VLLM_HF_TOLERANCE` states how much, checked by ``bench/scoring.py --device
cuda`` on a GPU.

Targets vLLM's documented pooling API of v0.11.1 and later (checked against the v0.16 / v0.18
documentation): ``LLM(model, runner="pooling", enable_prefix_caching=True, ...)`` and
``LLM.encode(prompts, pooling_params=PoolingParams(use_activation=False),
pooling_task="classify")``, whose ``outputs.data`` is the classifier's raw output at the last
token (``use_activation=False``: no sigmoid/softmax, the logit ``HFRewardModel`` reads).
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from rmx_widgets.core.data import Prompt
from rmx_widgets.core.devices import DTYPE_ALIASES, local_folder, pretrained_kwargs
from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.base import BaseRewardModel
from rmx_widgets.core.reward_models.hf.architecture import architecture_for
from rmx_widgets.core.reward_models.hf.encoding import (
    EncodedInput,
    InputEncoder,
    truncation_report,
    unique_pairs,
)
from rmx_widgets.core.reward_models.hf.loading import default_max_length

#: The line every unavailable case starts with (no vLLM, or no CUDA GPU).
NEEDS = "VLLMRewardModel needs a CUDA GPU and vLLM (pip install 'rmx-widgets[vllm]')"

#: How far vLLM's rewards may be from ``HFRewardModel``'s on the same model, pairs and dtype,
#: as a fraction of the spread of the HF rewards (max - min over the pairs compared):
#: ``max |r_vllm - r_hf| <= VLLM_HF_TOLERANCE * spread``. The inputs are the same token ids,
#: so only kernel arithmetic differs; 2 % of the spread is loose enough for bf16 (whose
#: 8-bit mantissa alone moves a reward by ~0.4 % of its size) and tight enough that a wrong
#: reading (another token, another output, an activation applied) fails it. A reference
#: figure for the GPU check (``bench/scoring.py --device cuda``); it is not measured here.
VLLM_HF_TOLERANCE = 0.02

#: ``HFRewardModel``'s default on CUDA, so the two score in the same dtype unless told otherwise
_DEFAULT_DTYPE = "bfloat16"

STAT_NAMES = ("pairs", "unique_pairs", "engine_calls", "tokens_submitted")


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as e:
        raise RewardModelError(
            f"{NEEDS}: vLLM is not installed here (import failed: {e}). Without a GPU use "
            "HFRewardModel."
        ) from None
    return vllm


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def why_vllm_unavailable() -> str | None:
    """``None`` when this machine can run ``VLLMRewardModel`` (vLLM imports and a CUDA GPU
    is visible), else the one-line reason. Answers without loading any model."""
    try:
        _import_vllm()
    except RewardModelError as e:
        return str(e)
    if not _cuda_available():
        return f"{NEEDS}: no CUDA GPU is visible here. Without a GPU use HFRewardModel."
    return None


def vllm_dtype(dtype: str | None) -> str:
    """The dtype as vLLM spells it (``bfloat16``, ``float16``, ``float32`` or ``auto``);
    the aliases are ``HFRewardModel``'s (``bf16``, ``fp16``, ``half``, ``fp32`` ...)."""
    if dtype is None:
        return _DEFAULT_DTYPE
    key = str(dtype).strip().lower().removeprefix("torch.")
    if key == "auto":
        return key
    if key in DTYPE_ALIASES:
        return DTYPE_ALIASES[key]
    raise RewardModelError(
        f"unknown dtype {dtype!r} for VLLMRewardModel; use 'bf16', 'fp16', 'fp32' or 'auto'."
    )


def reward_gap(hf: Sequence[float], vllm: Sequence[float]) -> tuple[float, float]:
    """(max |vllm - hf|, the allowed gap :data:`VLLM_HF_TOLERANCE` x spread of ``hf``). With
    every HF reward equal (spread 0, or one pair) the spread is read as ``max(|hf|, 1)``, so a
    single pair still has a scale."""
    hf, vllm = list(hf), list(vllm)
    if len(hf) != len(vllm) or not hf:
        raise RewardModelError(
            f"reward_gap needs two equally long, non-empty lists, got {len(hf)} and {len(vllm)}."
        )
    spread = max(hf) - min(hf)
    if spread == 0:
        spread = max(max(abs(x) for x in hf), 1.0)
    return max(abs(a - b) for a, b in zip(vllm, hf)), VLLM_HF_TOLERANCE * spread


class VLLMRewardModel(BaseRewardModel):
    """``VLLMRewardModel("Skywork/Skywork-Reward-V2-Qwen3-0.6B")``: a decoder
    sequence-classification RM (one output) scored by vLLM's pooling runner on a CUDA GPU.

    Args:
        name_or_path: a hub id or a local folder, as for ``HFRewardModel``.
        max_length: longest input in tokens (default min(tokenizer limit, model positions),
            as ``HFRewardModel``); longer inputs are left-truncated by the same code, listed
            in :attr:`last_truncated`, counted in :attr:`n_truncated`, with one warning per
            call. It is also vLLM's ``max_model_len``.
        dtype: ``"bf16"`` (default, ``HFRewardModel``'s CUDA default), ``"fp16"``, ``"fp32"``
            or ``"auto"``; part of :attr:`identity`.
        revision: the hub revision (commit, branch or tag) of weights and tokenizer; part of
            :attr:`identity` when given.
        enable_prefix_caching: reuse the KV cache of a prompt for every response that follows
            it (on by default: explaining scores many responses per prompt).
        gpu_memory_utilization: the share of GPU memory vLLM may take (weights + KV cache).
        trust_remote_code: off unless you trust the repository's code (it runs here).
        name: the identity to use instead of ``vllm:<source>:<dtype>:max_length=N``.
        **llm_kwargs: more ``vllm.LLM`` arguments (``tensor_parallel_size=2``,
            ``enforce_eager=True`` ...).

    Encoder RMs (which read a text pair with token types) and checkpoints with several
    outputs are refused: use ``HFRewardModel`` (``head=N``) for them.

    :attr:`stats`: ``pairs`` received, ``unique_pairs`` scored, ``engine_calls`` and
    ``tokens_submitted`` (the tokens of the unique inputs; vLLM's prefix cache skips part of
    them).

    Raises:
        RewardModelError: no vLLM or no CUDA GPU here (:data:`NEEDS`), a bad argument, a
            model that is not a one-output decoder RM, or vLLM failing to load it.
    """

    last_truncated: list[int]

    def __init__(
        self,
        name_or_path: str | os.PathLike[str],
        *,
        max_length: int | None = None,
        dtype: str | None = None,
        revision: str | None = None,
        enable_prefix_caching: bool = True,
        gpu_memory_utilization: float = 0.85,
        trust_remote_code: bool = False,
        name: str | None = None,
        **llm_kwargs: Any,
    ) -> None:
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2
        ):
            raise RewardModelError(
                f"VLLMRewardModel max_length must be an integer >= 2 or None, got {max_length!r}."
            )
        if not 0 < float(gpu_memory_utilization) <= 1:
            raise RewardModelError(
                "VLLMRewardModel gpu_memory_utilization must be in (0, 1], got "
                f"{gpu_memory_utilization!r}."
            )
        self.dtype = vllm_dtype(dtype)
        vllm = _import_vllm()
        if not _cuda_available():
            raise RewardModelError(
                f"{NEEDS}: no CUDA GPU is visible here. Without a GPU use HFRewardModel."
            )
        self.name_or_path = os.fspath(name_or_path)
        self.revision = revision
        self.trust_remote_code = bool(trust_remote_code)
        folder = local_folder(
            self.name_or_path, owner=f"reward model {self.name_or_path!r}", error=RewardModelError
        )
        source = folder or self.name_or_path
        self.tokenizer, config = self._load_tokenizer(source)
        self._check_config(config)
        self._default_max_length = default_max_length(self.tokenizer, _ConfigHolder(config))
        self._max_length = max_length if max_length is not None else self._default_max_length
        self._encoder = InputEncoder(
            self.tokenizer, architecture_for(config), self.name_or_path, use_token_types=False
        )
        self.identity = name or (
            f"vllm:{source}:{self.dtype}"
            + (f":revision={revision}" if revision else "")
            + f":max_length={self.max_length}"
        )
        self.enable_prefix_caching = bool(enable_prefix_caching)
        kwargs: dict[str, Any] = {
            "model": source,
            "runner": "pooling",
            "dtype": self.dtype,
            "enable_prefix_caching": self.enable_prefix_caching,
            "gpu_memory_utilization": float(gpu_memory_utilization),
            "trust_remote_code": self.trust_remote_code,
            **({"revision": revision} if revision else {}),
            **({"max_model_len": self.max_length} if self.max_length else {}),
            **llm_kwargs,
        }
        try:
            self.llm = vllm.LLM(**kwargs)
        except Exception as e:  # vLLM raises ValueError, RuntimeError, OSError ...
            raise RewardModelError(
                f"vLLM could not load reward model {self.name_or_path!r}: "
                f"{type(e).__name__}: {str(e).strip()[:300]}"
            ) from None
        self._pooling_params = vllm.PoolingParams(use_activation=False)
        self.last_truncated = []
        self.n_truncated = 0
        self._stats = dict.fromkeys(STAT_NAMES, 0)

    @staticmethod
    def availability() -> str | None:
        """``None`` when vLLM and a CUDA GPU are here, else the one-line reason
        (:func:`why_vllm_unavailable`): ask before constructing one."""
        return why_vllm_unavailable()

    def _load_tokenizer(self, source: str) -> tuple[Any, Any]:
        """The tokenizer and config ``HFRewardModel`` would load (same revision, same
        offline rule), so rendering and token ids are the same."""
        from transformers import AutoConfig, AutoTokenizer

        kwargs = pretrained_kwargs(self.trust_remote_code)
        if self.revision:
            kwargs["revision"] = self.revision
        try:
            config = AutoConfig.from_pretrained(source, **kwargs)
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        except Exception as e:  # OSError, ValueError, ImportError ...
            raise RewardModelError(
                f"cannot load the config or tokenizer of reward model {self.name_or_path!r}: "
                f"{type(e).__name__}: {str(e).strip()[:300]}"
            ) from None
        return tokenizer, config

    def _check_config(self, config: Any) -> None:
        """Only one-output decoder classifiers: vLLM would *convert* a plain language model
        into a classifier with an untrained head (noise that looks like preferences), and an
        encoder's text pair with token types is not what these token ids carry."""
        archs = list(getattr(config, "architectures", None) or [])
        if not any(a.endswith("ForSequenceClassification") for a in archs):
            raise RewardModelError(
                f"{self.name_or_path!r} is not a sequence-classification reward model "
                f"(architectures: {', '.join(archs) or 'none'}); VLLMRewardModel scores "
                "*ForSequenceClassification checkpoints. Use HFRewardModel (head='value_head' "
                "for TRL / OpenRLHF value heads) or DPORewardModel for a language model."
            )
        if architecture_for(config).is_encoder:
            raise RewardModelError(
                f"{self.name_or_path!r} is an encoder RM ({config.model_type}), which reads a "
                "text pair; VLLMRewardModel scores decoder RMs. Use HFRewardModel."
            )
        n = int(getattr(config, "num_labels", 1) or 1)
        if n != 1:
            raise RewardModelError(
                f"{self.name_or_path!r} has {n} outputs; VLLMRewardModel reads one. Use "
                "HFRewardModel(..., head=N) to choose one."
            )

    # ------------------------------------------------------------------ state
    @property
    def max_length(self) -> int | None:
        """The longest input in tokens; fixed at construction, because it is vLLM's
        ``max_model_len`` and part of :attr:`identity`."""
        return self._max_length

    @property
    def stats(self) -> dict[str, int]:
        """Cumulative counters (see the class docstring)."""
        return self._stats

    @stats.setter
    def stats(self, values: Mapping[str, int]) -> None:
        new = dict(values)
        self._stats.clear()
        self._stats.update(new)

    def format(self, prompt: Prompt, response: str) -> str:
        """The text the model reads for (prompt, response), for inspection."""
        return self._encoder.format(prompt, response)

    def encode(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[EncodedInput]:
        """Rendered, tokenised and truncated exactly as ``HFRewardModel`` does."""
        return self._encoder.encode(prompts, responses, self.max_length)

    # ------------------------------------------------------------------ scoring
    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        """One reward per (prompt, response), in input order; identical pairs are scored once
        and every unique input goes to vLLM in one ``encode`` call."""
        u_prompts, u_responses, inverse = unique_pairs(prompts, responses)
        encoded = self.encode(u_prompts, u_responses)
        self._record_truncation([encoded[u] for u in inverse])
        self._stats["pairs"] += len(inverse)
        self._stats["unique_pairs"] += len(u_prompts)
        if not encoded:
            return []
        scores = self._run(encoded, u_responses)
        return [scores[u] for u in inverse]

    def _run(self, encoded: Sequence[EncodedInput], responses: Sequence[str]) -> list[float]:
        """One engine call; every output checked: one finite real per input, in order."""
        inputs = [{"prompt_token_ids": list(e.input_ids)} for e in encoded]
        outputs = self.llm.encode(
            inputs,
            pooling_params=self._pooling_params,
            pooling_task="classify",
            use_tqdm=False,
        )
        self._stats["engine_calls"] += 1
        self._stats["tokens_submitted"] += sum(len(e.input_ids) for e in encoded)
        outputs = list(outputs or [])
        if len(outputs) != len(encoded):
            raise RewardModelError(
                f"{self.identity}: vLLM returned {len(outputs)} outputs for {len(encoded)} "
                "inputs; it must return one per input."
            )
        return [self._scalar(out, i, responses[i]) for i, out in enumerate(outputs)]

    def _scalar(self, out: Any, i: int, response: str) -> float:
        """The reward in one output: ``outputs.data`` holding exactly one finite real."""
        # vLLM's PoolingOutput: ``.data`` is a tensor (read strictly, whatever came back)
        data: Any = getattr(getattr(out, "outputs", None), "data", None)
        items = data.tolist() if hasattr(data, "tolist") else data
        while isinstance(items, (list, tuple)) and len(items) == 1:
            items = items[0]
        value = (
            float(items)
            if isinstance(items, numbers.Real) and not isinstance(items, bool)
            else None
        )
        shown = repr(items)
        shown = shown if len(shown) <= 60 else shown[:59] + "…"
        if value is None:
            raise RewardModelError(
                f"{self.identity}: vLLM output {i} of the batch ({response[:40]!r}) is {shown}, "
                "not one scalar reward; is the checkpoint a one-output classifier?"
            )
        if not math.isfinite(value):
            raise RewardModelError(
                f"{self.identity}: vLLM returned a non-finite reward ({value}) for input {i} of "
                f"the batch ({response[:40]!r}); check the dtype (fp16 overflow?) and the input."
            )
        return value

    def _record_truncation(self, encoded: Sequence[EncodedInput]) -> None:
        """As ``HFRewardModel``: indices in :attr:`last_truncated`, one warning per call."""
        self.last_truncated, message = truncation_report(self.identity, encoded, self.max_length)
        if message is not None:
            self.n_truncated += len(self.last_truncated)
            warnings.warn(message, stacklevel=3)

    def __repr__(self) -> str:
        return (
            f"VLLMRewardModel({self.name_or_path!r}, dtype={self.dtype!r}, "
            f"max_length={self.max_length}, prefix_caching={self.enable_prefix_caching})"
        )


class _ConfigHolder:
    """``default_max_length`` reads ``model.config``; vLLM holds the model, so the config
    alone stands in for it."""

    def __init__(self, config: Any) -> None:
        self.config = config
