"""Reward models loaded with transformers (``AutoModelForSequenceClassification``, one output).

Explaining an RM means scoring thousands of rewritten responses, so this class is built for
throughput without giving up exactness:

* inputs are tokenised once, sorted by length and packed into batches under a *token budget*
  (``batch size x padded length <= token_budget``), each batch padded only to its own longest
  sequence, so short rewrites never pay for long ones;
* padding is on the right and the attention mask hides it, so a score never depends on which
  other inputs happened to share its batch (the tests check this against a one-at-a-time loop);
* the text is formatted the way the RM was trained to read it: its chat template when it has
  one, otherwise a documented plain format (decoders) or a text pair (encoders).

* identical (prompt, response) pairs inside one call are scored once;
* for decoder RMs, the responses of one prompt share its KV cache: the prompt prefix runs once
  and every response is scored as a continuation of it (the Explainer scores up to ~30 rewrites
  per prompt, and prompts are often much longer than responses, so this removes most of the
  work). The prefix is the longest *token* prefix common to the group's full tokenisations, so
  ``tokens(full text) == prefix + continuation`` holds by construction even where a chat
  template or BPE merges tokens across the prompt/response boundary; a causal model's states
  over those tokens do not depend on what follows, so the rewards equal full-sequence scoring;
* attention runs through FlashAttention-2 when it is installed (CUDA, bf16/fp16), else SDPA.

``score`` is split into ``_encode`` (render + tokenise + truncate), ``_plan_prefixes`` (which
inputs share a prompt prefix), ``_run_batches`` (packing, shrinking the batches when the
accelerator runs out of memory), ``_forward`` (one padded forward pass)
and ``_forward_shared`` (continuations of one cached prefix), so each stage can be tested and
replaced on its own.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmx_widgets.core.data import Prompt, render_prompt
from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.base import BaseRewardModel

if TYPE_CHECKING:
    import torch

_DTYPE_ALIASES = {
    "bf16": "bfloat16", "bfloat16": "bfloat16",
    "fp16": "float16", "float16": "float16", "half": "float16",
    "fp32": "float32", "float32": "float32", "float": "float32",
}
# Tokenizers without a configured limit report ~1e30; anything this large means "unknown".
_SANE_LENGTH_LIMIT = 10_000_000
_POSITION_ATTRS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
# The prefix pass costs one extra forward call; below this many shared tokens it does not pay.
MIN_PREFIX_TOKENS = 32
# Default token budgets. An accelerator needs big batches to be busy. A CPU runs a forward pass
# at about the same cost per token at batch 1 as at batch 64, so batching buys it nothing, while
# big batches push the activations and the (rows x heads x length^2) attention scores out of
# its caches: measured on 2 Xeon cores (bench/results/scoring_cpu.txt), a 4-layer Llama RM ran
# ~15% and a DeBERTa-v2 RM (eager attention) ~2x slower per token at 16384 than at 1024-2048.
ACCELERATOR_TOKEN_BUDGET = 16384
CPU_TOKEN_BUDGET = 2048


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


@dataclass(frozen=True)
class _Rendered:
    text: str
    text_pair: str | None
    add_special_tokens: bool


def _env_offline() -> bool:
    """Offline mode as the user set it *now* (huggingface_hub reads the variable only once, at
    import, so a notebook that sets it later would otherwise still try the network)."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any(
        (f or "").strip().upper() in {"1", "ON", "YES", "TRUE"} for f in flags)


def _looks_local(name_or_path: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else that names a path is local."""
    p = Path(name_or_path).expanduser()
    return (p.exists() or p.is_absolute() or name_or_path.startswith((".", "~"))
            or name_or_path.count("/") > 1 or "\\" in name_or_path)


def _resolve_dtype(dtype: Any, device: torch.device) -> torch.dtype | str:
    import torch

    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str):
        key = dtype.strip().lower().removeprefix("torch.")
        if key == "auto":
            return "auto"
        if key in _DTYPE_ALIASES:
            return getattr(torch, _DTYPE_ALIASES[key])
    raise RewardModelError(f"unknown dtype {dtype!r} for HFRewardModel; use 'bf16', 'fp16', "
                           "'fp32', 'auto' (the checkpoint's own dtype) or a torch.dtype.")


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
        prefix_sharing: score the responses of one prompt as continuations of the prompt's
            cached keys/values (decoder RMs with a standard ``score`` head only; others always
            use full sequences). The rewards are the same either way; turn it off to measure.
        min_prefix_tokens: share a prefix only when at least this many tokens are common to a
            group of two or more inputs (shorter ones are cheaper to recompute).

    :attr:`stats` counts what the calls did (cumulative): ``pairs`` (inputs received),
    ``unique_pairs`` (after de-duplication), ``prefix_groups`` (prompts whose prefix was
    shared), ``prefix_tokens_saved`` (tokens not recomputed thanks to it),
    ``prefix_fallbacks`` (groups of two or more inputs of one prompt that used full sequences,
    because their common token prefix was too short or the prefix could not be cached),
    ``prefix_boundary_merges`` (groups where a token spans the prompt/response boundary, so
    the prompt tokenised alone is not a prefix of the full tokens; the common token prefix then
    stops before that token, or the group falls back), ``forward_passes`` and
    ``tokens_processed`` (token positions run through the model, padding included).

    Raises:
        RewardModelError: the model cannot be found or loaded, or it does not have exactly one
            output (a classifier, or a base language model without a trained reward head).
    """

    def __init__(self, name_or_path: str | os.PathLike[str],
                 device: str | torch.device | None = None,
                 dtype: str | torch.dtype | None = None, max_length: int | None = None,
                 token_budget: int | None = None, max_batch_size: int = 64,
                 trust_remote_code: bool = False, attn_implementation: str | None = None,
                 name: str | None = None, prefix_sharing: bool = True,
                 min_prefix_tokens: int = MIN_PREFIX_TOKENS) -> None:
        import torch

        _check_sizes(max_length, token_budget, max_batch_size, min_prefix_tokens)
        self.name_or_path = os.fspath(name_or_path)
        self.is_local = _looks_local(self.name_or_path)
        self._source = (os.path.abspath(os.path.expanduser(self.name_or_path)) if self.is_local
                        else self.name_or_path)
        try:
            self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        except (RuntimeError, TypeError) as e:
            raise RewardModelError(f"invalid device {device!r} for HFRewardModel: {e}") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RewardModelError(f"device {device!r} was requested for {self.name_or_path} "
                                   "but CUDA is not available here; use device='cpu'.")
        self.trust_remote_code = bool(trust_remote_code)
        self.attn_implementation: str | None = None
        self.tokenizer, self.model = self._load(_resolve_dtype(dtype, self.device),
                                                attn_implementation)
        self._setup(max_length, token_budget, max_batch_size, name, prefix_sharing,
                    min_prefix_tokens)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, name: str,
                   max_length: int | None = None, token_budget: int | None = None,
                   max_batch_size: int = 64, prefix_sharing: bool = True,
                   min_prefix_tokens: int = MIN_PREFIX_TOKENS) -> HFRewardModel:
        """Wrap a sequence-classification model already in memory (built from a config, or
        loaded with options this class does not expose, e.g. quantisation). ``name`` is the
        identity: choose one that changes whenever the weights do, since caches are keyed by
        it. The model stays on its device and dtype."""
        _check_sizes(max_length, token_budget, max_batch_size, min_prefix_tokens)
        if getattr(model.config, "num_labels", None) != 1:
            raise RewardModelError(f"{type(model).__name__} has "
                                   f"{getattr(model.config, 'num_labels', '?')} outputs; a reward "
                                   "model must have exactly one (num_labels=1).")
        self = cls.__new__(cls)
        self.name_or_path = self._source = name
        self.is_local = False
        self.device = next(model.parameters()).device
        self.trust_remote_code = False
        self.attn_implementation = getattr(model.config, "_attn_implementation", None)
        self.tokenizer, self.model = tokenizer, model.eval()
        self._setup(max_length, token_budget, max_batch_size, name, prefix_sharing,
                    min_prefix_tokens)
        return self

    def _setup(self, max_length: int | None, token_budget: int | None, max_batch_size: int,
               name: str | None, prefix_sharing: bool, min_prefix_tokens: int) -> None:
        """Everything that follows from the loaded model and tokenizer."""
        self.dtype: torch.dtype = self.model.dtype
        self.is_encoder = self.model.config.model_type in _encoder_model_types()
        self._pad_id = self._ensure_pad_token()
        self._head_ids = {t for t in (self.tokenizer.bos_token_id, self.tokenizer.cls_token_id)
                          if t is not None}
        self.max_length = max_length if max_length is not None else self._default_max_length()
        self.token_budget = token_budget if token_budget is not None else (
            CPU_TOKEN_BUDGET if self.device.type == "cpu" else ACCELERATOR_TOKEN_BUDGET)
        self.max_batch_size = max_batch_size
        params = inspect.signature(self.model.forward).parameters
        self._use_token_types = ("token_type_ids" in params
                                 and "token_type_ids" in self.tokenizer.model_input_names)
        self.last_truncated: list[int] = []
        self.n_truncated = 0
        self.identity = name or f"hf:{self._source}:{str(self.dtype).removeprefix('torch.')}"
        self.min_prefix_tokens = min_prefix_tokens
        self.prefix_sharing = bool(prefix_sharing) and self._supports_prefix_sharing()
        self._prefix_verified = False
        self.stats: dict[str, int] = dict.fromkeys(
            ("pairs", "unique_pairs", "prefix_groups", "prefix_tokens_saved", "prefix_fallbacks",
             "prefix_boundary_merges", "forward_passes", "tokens_processed", "oom_retries"), 0)
        self._oom_warned = False

    # ------------------------------------------------------------------ loading
    def _load(self, dtype: torch.dtype | str, attn_implementation: str | None) -> tuple[Any, Any]:
        from transformers import (
            AutoConfig,
            AutoModelForSequenceClassification,
            AutoTokenizer,
        )
        from transformers.utils import is_accelerate_available

        if self.is_local and not os.path.exists(self._source):
            raise RewardModelError(
                f"cannot load reward model {self.name_or_path!r}: it looks like a local path, but "
                f"{self._source} does not exist. Check the path (or pass a hub name such as "
                "'org/model').")
        common: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        if _env_offline():
            common["local_files_only"] = True
        try:
            config = AutoConfig.from_pretrained(self._source, **common)
        except Exception as e:  # transformers raises OSError, ValueError, ImportError, ...
            raise self._load_error(e) from e
        self._check_single_output(config)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self._source, **common)
        except Exception as e:
            raise self._load_error(e, what="tokenizer") from e

        kwargs = {**common, "config": config, "dtype": dtype, "output_loading_info": True}
        if self.device.type != "cpu" and is_accelerate_available():
            # Load the weights straight onto the accelerator instead of staging them in RAM.
            kwargs["device_map"] = {"": self.device}
        candidates = ([attn_implementation] if attn_implementation is not None
                      else self._auto_attn_candidates(dtype, config))
        for k, attn in enumerate(candidates):
            try:
                extra = {} if attn is None else {"attn_implementation": attn}
                model, info = AutoModelForSequenceClassification.from_pretrained(
                    self._source, **extra, **kwargs)
                break
            except (ValueError, ImportError) as e:
                if attn_implementation is not None or k == len(candidates) - 1:
                    raise self._load_error(e) from e
                # This architecture or installation lacks that kernel: try the next one.
            except Exception as e:
                raise self._load_error(e) from e
        self.attn_implementation = getattr(model.config, "_attn_implementation", None) or attn
        self._check_head_loaded(model, info)
        try:
            model.to(self.device)
        except (RuntimeError, AssertionError) as e:
            raise RewardModelError(f"cannot move reward model {self.name_or_path} to "
                                   f"{self.device}: {e}") from e
        model.eval()
        return tokenizer, model

    def _auto_attn_candidates(self, dtype: torch.dtype | str, config: Any) -> list[str | None]:
        """Fastest attention first: FlashAttention-2 needs the ``flash_attn`` package, a CUDA
        device and a half-precision dtype; SDPA is in torch itself; ``None`` is transformers'
        default for architectures with neither."""
        import torch

        if dtype == "auto":
            dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
            if isinstance(dtype, str):
                dtype = getattr(torch, dtype, None)
        fa2 = (self.device.type == "cuda" and dtype in (torch.bfloat16, torch.float16)
               and importlib.util.find_spec("flash_attn") is not None)
        return (["flash_attention_2"] if fa2 else []) + ["sdpa", None]

    def _load_error(self, err: Exception, what: str = "model") -> RewardModelError:
        kind = "a local path" if self.is_local else "a Hugging Face hub name"
        if self.is_local:
            hint = (f"check that {self._source} is a directory written by save_pretrained "
                    "(config.json, weights and tokenizer files)")
        else:
            hint = ("check the spelling of the name, your network connection and, for gated or "
                    "private models, that you are logged in (`hf auth login`)")
            if _env_offline():
                hint += ("; HF_HUB_OFFLINE is set, so only the local cache was searched: unset "
                         "it to download, or point to a local copy")
            else:
                hint += "; set HF_HUB_OFFLINE=1 to use only models already in the local cache"
        if "trust_remote_code" in str(err) and not self.trust_remote_code:
            hint += ("; the model needs its own code: pass trust_remote_code=True only if you "
                     "trust that repository (it runs its Python code on this machine)")
        return RewardModelError(
            f"cannot load the {what} of reward model {self.name_or_path!r} (treated as {kind}): "
            f"{type(err).__name__}: {str(err).strip().rstrip('.')}. To fix: {hint}.")

    def _check_single_output(self, config: Any) -> None:
        """A reward is one number; a classifier's several logits are not a reward."""
        if config.num_labels == 1:
            return
        archs = list(getattr(config, "architectures", None) or [])
        if archs and not any("SequenceClassification" in a or "Reward" in a for a in archs):
            raise RewardModelError(
                f"{self.name_or_path!r} is a {', '.join(archs)} checkpoint, not a sequence-"
                "classification reward model with one output. Load a reward model, or wrap "
                "your own scoring function in a callable fn(prompts, responses) -> list[float].")
        labels = list((getattr(config, "id2label", None) or {}).values())
        raise RewardModelError(
            f"{self.name_or_path!r} has {config.num_labels} outputs ({labels}), but a reward "
            "model must have exactly one (num_labels=1). It is probably a classifier; to use one "
            "of its outputs as a reward, wrap it in a callable fn(prompts, responses) -> "
            "list[float] that picks the output you mean.")

    def _check_head_loaded(self, model: Any, info: dict[str, Any]) -> None:
        """transformers silently gives a checkpoint without a reward head a *random* one; its
        scores would be noise that looks like preferences, so refuse it."""
        prefix = f"{model.base_model_prefix}."
        head = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(prefix))
        if head:
            raise RewardModelError(
                f"the checkpoint {self.name_or_path!r} has no trained reward head (missing "
                f"{', '.join(head)}); transformers would initialise it randomly and the scores "
                "would be noise. It is probably a base or chat language model, not a reward "
                "model.")

    def _ensure_pad_token(self) -> int | None:
        """Batching needs a pad id that the model also knows (Llama-style heads find the last
        real token by comparing with ``config.pad_token_id``). Returns the id used for padding,
        or None when there is none and inputs must run one at a time."""
        tok, cfg = self.tokenizer, self.model.config
        if tok.pad_token_id is None and tok.eos_token is not None:
            tok.pad_token = tok.eos_token
        text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        if getattr(text_cfg, "pad_token_id", None) is None and tok.pad_token_id is not None:
            for c in {id(cfg): cfg, id(text_cfg): text_cfg}.values():
                c.pad_token_id = tok.pad_token_id
        model_pad = getattr(text_cfg, "pad_token_id", None)
        if model_pad is None:
            warnings.warn(f"{self.name_or_path} defines neither a pad nor an EOS token; inputs "
                          "will be scored one at a time (slow).", stacklevel=3)
        return model_pad

    def _default_max_length(self) -> int | None:
        limits = []
        tok_limit = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tok_limit, int) and 0 < tok_limit < _SANE_LENGTH_LIMIT:
            limits.append(tok_limit)
        cfg = self.model.config
        text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        for attr in _POSITION_ATTRS:
            value = getattr(text_cfg, attr, None)
            if isinstance(value, int) and 0 < value < _SANE_LENGTH_LIMIT:
                limits.append(value)
                break
        return min(limits) if limits else None

    # ------------------------------------------------------------------ formatting
    def _render(self, prompt: Prompt, response: str) -> _Rendered:
        """The text the tokenizer gets, in the format the RM was trained on.

        * chat template (when the tokenizer has one): the prompt as a user turn (or the given
          message list) plus the response as the assistant turn; if the rendered text already
          starts with the BOS token, the tokenizer must not add another;
        * decoder without a template: ``f"{prompt_text}\\n\\n{response}"`` (multi-turn prompts
          flattened by :func:`render_prompt`);
        * encoder without a template: the text pair (prompt_text, response), so the tokenizer
          inserts its own separator ([SEP] etc.).
        """
        if not isinstance(response, str):
            raise RewardModelError(f"responses must be strings, got {type(response).__name__}.")
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
        elif isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m
                                              and "content" in m for m in prompt):
            messages = [dict(m) for m in prompt]
        else:
            raise RewardModelError("a prompt must be a string or a list of {'role', 'content'} "
                                   f"messages, got {prompt!r:.80}.")
        if getattr(self.tokenizer, "chat_template", None):
            messages.append({"role": "assistant", "content": response})
            try:
                text = self.tokenizer.apply_chat_template(messages, tokenize=False)
            except Exception as e:  # jinja errors, templates that raise on role order, ...
                raise RewardModelError(
                    f"the chat template of {self.name_or_path} rejected a conversation "
                    f"({type(e).__name__}: {e}); check the prompt's roles (many templates need "
                    "alternating user/assistant turns).") from e
            bos = self.tokenizer.bos_token
            return _Rendered(text, None, not (bos and text.startswith(bos)))
        prompt_text = render_prompt(prompt)
        if self.is_encoder:
            return _Rendered(prompt_text, response, True)
        return _Rendered(f"{prompt_text}\n\n{response}", None, True)

    def format(self, prompt: Prompt, response: str) -> str:
        """The text the model reads for (prompt, response), for inspection. For an encoder
        text pair this is the decoded token sequence, separators included."""
        r = self._render(prompt, response)
        if r.text_pair is None:
            return r.text
        ids = self.tokenizer(r.text, r.text_pair, add_special_tokens=True)["input_ids"]
        return self.tokenizer.decode(ids)

    # ------------------------------------------------------------------ scoring
    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        """One float32 reward per (prompt, response), in input order.

        Identical pairs are scored once; groups of inputs that share a long token prefix (the
        responses of one prompt) run it once through :meth:`_forward_shared`; the rest run as
        length-sorted, token-budgeted full sequences through :meth:`_forward`.
        """
        prompts, responses = list(prompts), list(responses)
        if len(prompts) != len(responses):
            raise RewardModelError(f"score got {len(prompts)} prompts but {len(responses)} "
                                   "responses; pass one prompt per response.")
        slot: dict[tuple[Any, str], int] = {}
        uniq: list[int] = []
        inverse: list[int] = []
        for i, (p, r) in enumerate(zip(prompts, responses)):
            key = (_pair_key(p), r)
            if key not in slot:
                slot[key] = len(uniq)
                uniq.append(i)
            inverse.append(slot[key])
        u_prompts = [prompts[i] for i in uniq]
        encoded = self._encode(u_prompts, [responses[i] for i in uniq])
        self._record_truncation([encoded[u] for u in inverse])
        self.stats["pairs"] += len(prompts)
        self.stats["unique_pairs"] += len(uniq)

        scores = [0.0] * len(encoded)
        groups, rest = self._plan_prefixes(u_prompts, encoded)
        for prefix_len, members in groups:
            try:
                got = self._score_group(encoded, prefix_len, members)
            except (_PrefixUnsupported, TypeError, ValueError, AttributeError, IndexError) as e:
                # An architecture whose cache API differs: same rewards via full sequences.
                self._disable_prefix_sharing(f"{type(e).__name__}: {e}")
                got = None
            if got is None:
                self.stats["prefix_fallbacks"] += 1
                rest.extend(members)
                continue
            for i, s in got.items():
                scores[i] = s
        lengths = {i: len(encoded[i].input_ids) for i in rest}
        cap = self.max_batch_size if self._pad_id is not None else 1
        order = sorted(rest, key=lengths.__getitem__, reverse=True)
        for i, s in self._run_batches(order, lengths, cap, 0,
                                      lambda batch: self._forward([encoded[i] for i in batch])):
            scores[i] = s
        return [scores[u] for u in inverse]

    # ------------------------------------------------------------------ out of memory
    def _run_batches(self, order: Sequence[int], length: dict[int, int], cap: int, extra: int,
                     run: Callable[[list[int]], list[float]]) -> Iterator[tuple[int, float]]:
        """Pack ``order`` (longest first) with :func:`_pack` under the current token budget and
        yield ``(index, score)`` from ``run(batch)``. When a batch runs out of accelerator
        memory the budget shrinks (:meth:`_shrink_after_oom`) and the inputs not yet scored are
        re-packed under it, so a long job survives one batch that was too big instead of losing
        everything. ``extra``: cached prefix tokens every row attends to."""
        remaining = list(order)
        while remaining:
            for batch in _pack(remaining, length, cap, self.token_budget, extra):
                try:
                    got = run(batch)
                except RuntimeError as e:
                    if not _is_oom(e):
                        raise
                    detail = _oom_detail(e)
                else:
                    yield from zip(batch, got)
                    remaining = remaining[len(batch):]  # _pack yields consecutive runs
                    continue
                # Outside the except block, so the traceback's tensors can be freed first.
                self._shrink_after_oom(len(batch), max(length[i] for i in batch), extra, detail)
                break

    def _run_single(self, run: Callable[[], Any], tokens: int) -> Any:
        """``run()`` for a pass over one sequence, which cannot be split: out of memory there
        raises :class:`RewardModelError`."""
        try:
            return run()
        except RuntimeError as e:
            if not _is_oom(e):
                raise
            detail = _oom_detail(e)
        _free_accelerator_memory(self.device)
        raise self._oom_error(tokens, 0, detail)

    def _shrink_after_oom(self, rows: int, width: int, extra: int, detail: str) -> None:
        """Free the allocator cache and halve the token budget below the batch that failed,
        for this model from now on (later calls would fail the same way); a single input that
        does not fit cannot be split, so that raises :class:`RewardModelError`."""
        _free_accelerator_memory(self.device)
        if rows <= 1:
            raise self._oom_error(width, extra, detail)
        self.stats["oom_retries"] += 1
        old, total = self.token_budget, extra + width
        self.token_budget = max(1, min(old, rows * total) // 2)
        if not self._oom_warned:
            self._oom_warned = True
            shared = f" ({extra} of them a shared prompt prefix)" if extra else ""
            warnings.warn(
                f"{self.identity}: out of memory at batch {rows} x {total} tokens{shared} on "
                f"{self.device}; continuing with token budget {self.token_budget} (was {old}) "
                f"for this model. Pass token_budget={self.token_budget} to start there; further "
                "reductions are counted in .stats['oom_retries'].", stacklevel=4)

    def _oom_error(self, width: int, extra: int, detail: str) -> RewardModelError:
        shared = f" ({extra} of them a shared prompt prefix)" if extra else ""
        return RewardModelError(
            f"{self.identity}: a single input of {extra + width} tokens{shared} does not fit in "
            f"the memory of {self.device} ({detail}). Lower max_length (now {self.max_length}) "
            "so long inputs are truncated, load the model in a smaller dtype (e.g. "
            "dtype='bf16'), or free memory held by other models or processes on that device.")

    # ------------------------------------------------------------------ prefix sharing
    def _supports_prefix_sharing(self) -> bool:
        """Only decoders whose head reads the hidden state at the last non-pad token
        (transformers' generic ``*ForSequenceClassification``: Llama, Qwen, Mistral, Gemma, ...)
        and whose base model accepts a cache and explicit position ids."""
        if self.is_encoder or getattr(self.model.config, "is_encoder_decoder", False):
            return False
        try:
            from transformers.modeling_layers import GenericForSequenceClassification
        except ImportError:
            return False
        base = getattr(self.model, getattr(self.model, "base_model_prefix", ""), None)
        if not isinstance(self.model, GenericForSequenceClassification) or base is None \
                or not hasattr(self.model, "score"):
            return False
        params = inspect.signature(base.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        return "position_ids" in params and self._cache_arg in params

    def _disable_prefix_sharing(self, why: str) -> None:
        self.prefix_sharing = False
        warnings.warn(f"{self.identity}: prompt-prefix sharing turned off ({why}); scoring full "
                      "sequences instead (same rewards, slower).", stacklevel=4)

    def _plan_prefixes(self, prompts: Sequence[Prompt], encoded: Sequence[EncodedInput]
                       ) -> tuple[list[tuple[int, list[int]]], list[int]]:
        """Split input indices into prefix-sharing groups ``(prefix_len, members)`` and the rest.

        A group is the untruncated inputs of one prompt; its prefix is the longest token prefix
        common to all of them, stopped one token short of the shortest so that every member
        keeps a continuation (its reward is read there). Where a prompt's last tokens merge with
        a response's first ones, the common prefix simply ends earlier: correctness never
        depends on how the tokenizer treats the boundary.
        """
        if not self.prefix_sharing:
            return [], list(range(len(encoded)))
        by_prompt: dict[Any, list[int]] = {}
        rest: list[int] = []
        for i, (p, e) in enumerate(zip(prompts, encoded)):
            if e.truncated:  # left truncation cuts each input differently
                rest.append(i)
            else:
                by_prompt.setdefault(_pair_key(p), []).append(i)
        groups = []
        for members in by_prompt.values():
            if len(members) < 2:
                rest.extend(members)
                continue
            seqs = [encoded[i].input_ids for i in members]
            n = _common_prefix_len(seqs)
            n = min(n, min(len(q) for q in seqs) - 1)
            # The head reads the rightmost non-pad token; it must lie in the continuation.
            keep = [i for i in members if self._pool_index(encoded[i].input_ids) >= n]
            rest.extend(sorted(set(members) - set(keep)))
            if len(keep) < 2 or n < self.min_prefix_tokens:
                self.stats["prefix_fallbacks"] += 1
                if any(encoded[i].boundary_merged for i in keep):
                    self.stats["prefix_boundary_merges"] += 1
                rest.extend(keep)
                continue
            if any(encoded[i].boundary_merged for i in keep):
                self.stats["prefix_boundary_merges"] += 1
            groups.append((n, keep))
        return groups, rest

    def _pool_index(self, ids: Sequence[int]) -> int:
        """Where transformers' generic head reads the reward: the rightmost token that is not
        the pad id (index 0 if all are), or the last token when the model has no pad id."""
        if self._pad_id is None:
            return len(ids) - 1
        return next((k for k in range(len(ids) - 1, -1, -1) if ids[k] != self._pad_id), 0)

    def _score_group(self, encoded: Sequence[EncodedInput], prefix_len: int,
                     members: list[int]) -> dict[int, float] | None:
        """Run one prompt's prefix once, then its members' continuations in budgeted batches.
        Returns None when the prefix cannot be cached in a form this class can reuse."""
        import torch

        prefix = encoded[members[0]].input_ids[:prefix_len]
        cache = self._run_single(lambda: self._prefix_cache(prefix), prefix_len)
        order = sorted(members, key=lambda i: len(encoded[i].input_ids), reverse=True)
        conts = {i: len(encoded[i].input_ids) - prefix_len for i in members}

        def run(batch: list[int]) -> list[float]:
            ids = [encoded[i].input_ids[prefix_len:] for i in batch]
            pools = [self._pool_index(encoded[i].input_ids) - prefix_len for i in batch]
            return self._forward_shared(cache, prefix_len, ids, pools)

        out = dict(self._run_batches(order, conts, self.max_batch_size, prefix_len, run))
        if not self._prefix_verified:
            # Once per model: the shared path must reproduce a full forward pass (guards
            # architectures whose attention or positions behave unexpectedly with a cache).
            first = members[0]
            (ref,) = self._run_single(lambda: self._forward([encoded[first]]),
                                      len(encoded[first].input_ids))
            tol = (1e-3 if self.dtype == torch.float32 else 5e-2) * max(1.0, abs(ref))
            if not abs(out[first] - ref) <= tol:
                raise _PrefixUnsupported(f"a self-check found {out[first]:.6g} with a shared "
                                         f"prefix vs {ref:.6g} without")
            self._prefix_verified = True
        self.stats["prefix_groups"] += 1
        self.stats["prefix_tokens_saved"] += prefix_len * (len(members) - 1)
        return out

    def _prefix_cache(self, prefix: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys and values of every layer for the prefix (batch 1), from one forward pass."""
        import torch
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        base = getattr(self.model, self.model.base_model_prefix)
        ids = torch.tensor([prefix], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            out = base(input_ids=ids, use_cache=True)
        self.stats["forward_passes"] += 1
        self.stats["tokens_processed"] += len(prefix)
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        layers = getattr(cache, "layers", None)
        if type(cache) is not DynamicCache or not layers \
                or any(type(layer) is not DynamicLayer for layer in layers):
            raise _PrefixUnsupported(f"the model returned a {type(cache).__name__} cache "
                                     "(sliding-window, hybrid or legacy layers)")
        return [(layer.keys, layer.values) for layer in layers]

    def _forward_shared(self, prefix_kv: Sequence[tuple[torch.Tensor, torch.Tensor]],
                        prefix_len: int, conts: Sequence[Sequence[int]],
                        pools: Sequence[int]) -> list[float]:
        """Score continuations of one cached prefix in one right-padded pass.

        A forward pass appends to the cache it is given, so each pass gets a fresh
        ``DynamicCache`` built from the prefix tensors expanded over the batch (the prefix
        tensors themselves are never modified). Positions continue after the prefix; the mask
        covers prefix + continuation; ``pools`` are the positions (within each continuation)
        where the head reads the reward, as the full-sequence head would.
        """
        import torch
        from transformers import DynamicCache

        rows, width = len(conts), max(len(c) for c in conts)
        pad = self._pad_id if self._pad_id is not None else 0
        input_ids = torch.full((rows, width), pad, dtype=torch.long)
        mask = torch.zeros((rows, prefix_len + width), dtype=torch.long)
        mask[:, :prefix_len] = 1
        for row, c in enumerate(conts):
            input_ids[row, :len(c)] = torch.tensor(c, dtype=torch.long)
            mask[row, prefix_len:prefix_len + len(c)] = 1
        positions = torch.arange(prefix_len, prefix_len + width).expand(rows, width)
        cache = DynamicCache([(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1))
                              for k, v in prefix_kv])
        base = getattr(self.model, self.model.base_model_prefix)
        dev = self.device
        with torch.inference_mode():
            hidden = base(input_ids=input_ids.to(dev), attention_mask=mask.to(dev),
                          position_ids=positions.to(dev), use_cache=True,
                          **{self._cache_arg: cache}).last_hidden_state
            picked = hidden[torch.arange(rows, device=dev), torch.tensor(pools, device=dev)]
            logits = self.model.score(picked)
        self.stats["forward_passes"] += 1
        self.stats["tokens_processed"] += rows * width
        return logits[:, 0].float().cpu().tolist()

    def _encode(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[EncodedInput]:
        """Render and tokenise every pair (batched through the fast tokenizer), then truncate."""
        rendered = [self._render(p, r) for p, r in zip(prompts, responses)]
        encoded: list[EncodedInput | None] = [None] * len(rendered)
        groups: dict[tuple[bool, bool], list[int]] = {}
        for i, r in enumerate(rendered):
            groups.setdefault((r.text_pair is not None, r.add_special_tokens), []).append(i)
        for (is_pair, add_special), idx in groups.items():
            texts = [rendered[i].text for i in idx]
            pairs = [rendered[i].text_pair for i in idx] if is_pair else None
            kwargs = {"add_special_tokens": add_special, "return_token_type_ids":
                      self._use_token_types, "verbose": False}
            try:
                batch = self.tokenizer(texts, pairs, return_offsets_mapping=True, **kwargs)
                offsets = batch["offset_mapping"]
            except (NotImplementedError, ValueError, TypeError):  # slow tokenizers: no offsets
                batch, offsets = self.tokenizer(texts, pairs, **kwargs), None
            for j, i in enumerate(idx):
                ids = list(batch["input_ids"][j])
                types = list(batch["token_type_ids"][j]) if self._use_token_types else None
                merged = False
                if is_pair:
                    prompt_len = self._pair_prompt_len(batch, j, len(ids))
                else:
                    prompt_len, merged = self._text_prompt_len(
                        rendered[i].text, responses[i], None if offsets is None else offsets[j])
                encoded[i] = self._truncate(EncodedInput(ids, types, prompt_len,
                                                         boundary_merged=merged))
        return encoded  # type: ignore[return-value]

    @staticmethod
    def _pair_prompt_len(batch: Any, j: int, n: int) -> int | None:
        try:
            seq = batch.sequence_ids(j)
        except (ValueError, NotImplementedError):
            return None
        return next((k for k, s in enumerate(seq) if s == 1), n)

    @staticmethod
    def _text_prompt_len(text: str, response: str, offsets: Sequence[tuple[int, int]] | None
                         ) -> tuple[int | None, bool]:
        """(tokens entirely before the response, whether the next token straddles its start)."""
        if offsets is None:
            return None, False
        start = text.rfind(response)
        if start < 0 and response.strip():
            start = text.rfind(response.strip())
        if start < 0:
            return None, False
        k = next((k for k, (_, end) in enumerate(offsets) if end > start), len(offsets))
        return k, k < len(offsets) and offsets[k][0] < start

    def _truncate(self, item: EncodedInput) -> EncodedInput:
        """Left truncation that keeps a leading BOS/CLS (see the class docstring)."""
        n = len(item.input_ids)
        if self.max_length is None or n <= self.max_length:
            return item
        head = 1 if item.input_ids and item.input_ids[0] in self._head_ids else 0
        excess = n - self.max_length
        if self.max_length <= head:
            head = 0

        def cut(seq: list[int]) -> list[int]:
            return seq[:head] + seq[head + excess:]

        prompt_len = item.prompt_len
        response_cut = None if prompt_len is None else head + excess > prompt_len
        if prompt_len is not None:
            prompt_len = max(prompt_len - excess, head)
        return EncodedInput(cut(item.input_ids),
                            None if item.token_type_ids is None else cut(item.token_type_ids),
                            prompt_len, truncated=True, response_cut=response_cut,
                            boundary_merged=item.boundary_merged)

    def _record_truncation(self, encoded: Sequence[EncodedInput]) -> None:
        self.last_truncated = [i for i, e in enumerate(encoded) if e.truncated]
        if not self.last_truncated:
            return
        self.n_truncated += len(self.last_truncated)
        cut = sum(1 for i in self.last_truncated if encoded[i].response_cut)
        detail = (f"; for {cut} of them the response alone was too long and lost its beginning"
                  if cut else "; every response was kept whole")
        warnings.warn(
            f"{self.identity}: {len(self.last_truncated)} of {len(encoded)} inputs were longer "
            f"than max_length={self.max_length} tokens and were truncated from the left, prompt "
            f"first{detail}. Their indices are in .last_truncated.", stacklevel=3)

    def _forward(self, batch: Sequence[EncodedInput]) -> list[float]:
        """One right-padded forward pass; returns ``logits[:, 0]`` as Python floats."""
        import torch

        width = max(len(e.input_ids) for e in batch)
        pad = self._pad_id if self._pad_id is not None else 0
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        token_types = torch.zeros((len(batch), width), dtype=torch.long)
        for row, e in enumerate(batch):
            n = len(e.input_ids)
            input_ids[row, :n] = torch.tensor(e.input_ids, dtype=torch.long)
            attention_mask[row, :n] = 1
            if e.token_type_ids is not None:
                token_types[row, :n] = torch.tensor(e.token_type_ids, dtype=torch.long)
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self._use_token_types:
            inputs["token_type_ids"] = token_types
        with torch.inference_mode():
            logits = self.model(**{k: v.to(self.device) for k, v in inputs.items()}).logits
        self.stats["forward_passes"] += 1
        self.stats["tokens_processed"] += len(batch) * width
        return logits[:, 0].float().cpu().tolist()

    def __repr__(self) -> str:
        return (f"HFRewardModel({self.name_or_path!r}, device={str(self.device)!r}, "
                f"dtype={self.dtype}, max_length={self.max_length})")


def _encoder_model_types() -> frozenset[str]:
    """Model types that are bidirectional encoders (they have a masked-LM head); these read a
    (prompt, response) text pair with separators rather than one concatenated string."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return frozenset(MODEL_FOR_MASKED_LM_MAPPING_NAMES)


def _is_oom(err: BaseException) -> bool:
    """An accelerator out-of-memory error: torch's own type, or a RuntimeError that says so
    (older torch versions, other backends and custom kernels raise plain RuntimeErrors)."""
    import torch

    oom_type = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(err, oom_type) or (isinstance(err, RuntimeError)
                                         and "out of memory" in str(err).lower())


def _oom_detail(err: BaseException) -> str:
    """The first line of an out-of-memory message (torch appends a long allocator report)."""
    text = str(err).strip()
    return (text.splitlines()[0][:200] if text else type(err).__name__).rstrip(". ")


def _free_accelerator_memory(device: torch.device) -> None:
    """Give the failed batch's blocks back before retrying: collect unreachable tensors (a
    full collection takes a fraction of a second, nothing next to an accelerator batch), then
    return the caching allocator's free blocks so the smaller batches can use them. The CPU
    has no such cache, so there is nothing to do there."""
    import gc

    import torch

    if device.type == "cuda" and torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        gc.collect()
        torch.mps.empty_cache()


class _PrefixUnsupported(RuntimeError):
    """The model's cache cannot be reused as a shared prefix; internal, turns sharing off."""


def _pair_key(prompt: Prompt) -> Any:
    """Hashable identity of a prompt as rendered: every message field counts (templates may
    read more than role and content), so two prompts share a key only if they render alike."""
    if isinstance(prompt, str):
        return prompt
    return json.dumps(prompt, sort_keys=True, ensure_ascii=False, default=str)


def _common_prefix_len(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest prefix shared by all sequences."""
    first = seqs[0]
    n = min(len(q) for q in seqs)
    for q in seqs[1:]:
        k = 0
        while k < n and q[k] == first[k]:
            k += 1
        n = k
    return n


# A batch of at least this many rows is closed rather than padded by more than MAX_PAD_WASTE:
# per token, a CPU runs one long row as fast as many, and a GPU is busy long before 8 rows.
MIN_ROWS_BEFORE_SPLIT = 8
MAX_PAD_WASTE = 0.1


def _pack(order: Sequence[int], length: Sequence[int] | dict[int, int], cap: int, budget: int,
          extra: int) -> Iterator[list[int]]:
    """Greedy batches over ``order`` (sorted longest first): at most ``cap`` rows and
    ``rows x (extra + widest) <= budget`` (``extra``: cached prefix tokens every row attends
    to); a batch of MIN_ROWS_BEFORE_SPLIT or more rows closes rather than let padding exceed
    MAX_PAD_WASTE of its tokens. A single over-budget input runs alone."""
    batch: list[int] = []
    width = real = 0
    for i in order:
        n = length[i]
        grown = max(width, n)
        rows = len(batch) + 1
        if batch and (len(batch) >= cap or rows * (extra + grown) > budget
                      or (len(batch) >= MIN_ROWS_BEFORE_SPLIT
                          and rows * grown - (real + n) > MAX_PAD_WASTE * rows * grown)):
            yield batch
            batch, grown, real = [], n, 0
        batch.append(i)
        width, real = grown, real + n
    if batch:
        yield batch


def _check_sizes(max_length: int | None, token_budget: int | None, max_batch_size: int,
                 min_prefix_tokens: int) -> None:
    for arg, value in (("token_budget", 1 if token_budget is None else token_budget),
                       ("max_batch_size", max_batch_size),
                       ("min_prefix_tokens", min_prefix_tokens)):
        if not isinstance(value, int) or value < 1:
            raise RewardModelError(f"HFRewardModel {arg} must be a positive integer, "
                                   f"got {value!r}.")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 2):
        raise RewardModelError(f"HFRewardModel max_length must be an integer >= 2 or None, "
                               f"got {max_length!r}.")
