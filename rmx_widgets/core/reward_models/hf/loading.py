"""Loading a reward model from the hub or a folder, and what follows from its config.

A reward model here is a transformers ``AutoModelForSequenceClassification`` with one output
(or, with ``head=N``, output N of several), or a base model with a TRL / OpenRLHF value head
(``heads.py``); a classifier without ``head=`` or a language model without a trained reward
head (transformers would silently give it a *random* one) is refused with a message that says
what it is instead and how to choose an output. Loading picks the fastest attention kernel the
machine has (FlashAttention-2, then SDPA, then transformers' default) and puts the weights
straight onto the accelerator.

The identity (``hf:<absolute path or hub id>:<dtype>``) is the cache key of every score, so its
format must not change.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rmx_widgets.core.devices import (
    env_offline,
    local_folder,
    pretrained_kwargs,
    refuse_pickle_weights,
)
from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.hf.heads import (
    Head,
    ValueHead,
    ValueHeadModel,
    choose_head,
    head_linear,
)
from rmx_widgets.core.reward_models.hf.objectives import plan_objectives

if TYPE_CHECKING:
    import torch

# Tokenizers without a configured limit report ~1e30; anything this large means "unknown".
_SANE_LENGTH_LIMIT = 10_000_000
_POSITION_ATTRS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def check_sizes(
    max_length: int | None, token_budget: int | None, max_batch_size: int, min_prefix_tokens: int
) -> None:
    """The size arguments of ``HFRewardModel``, checked before anything is loaded."""
    for arg, value in (
        ("token_budget", 1 if token_budget is None else token_budget),
        ("max_batch_size", max_batch_size),
        ("min_prefix_tokens", min_prefix_tokens),
    ):
        if not isinstance(value, int) or value < 1:
            raise RewardModelError(
                f"HFRewardModel {arg} must be a positive integer, got {value!r}."
            )
    if max_length is not None and (not isinstance(max_length, int) or max_length < 2):
        raise RewardModelError(
            f"HFRewardModel max_length must be an integer >= 2 or None, got {max_length!r}."
        )


def model_identity(source: str, dtype: torch.dtype) -> str:
    """The default identity: ``hf:<source>:<dtype>`` (dtypes change scores numerically)."""
    return f"hf:{source}:{str(dtype).removeprefix('torch.')}"


@dataclass(frozen=True)
class ModelSource:
    """Where a reward model comes from: ``path`` is what ``from_pretrained`` gets (the
    absolute folder for a local path, else the hub id) and part of the default identity."""

    name_or_path: str
    path: str
    is_local: bool
    trust_remote_code: bool

    @classmethod
    def of(cls, name_or_path: str, trust_remote_code: bool) -> ModelSource:
        """The source ``name_or_path`` names; a local path must be an existing folder."""
        folder = local_folder(
            name_or_path, owner=f"reward model {name_or_path!r}", error=RewardModelError
        )
        return cls(
            name_or_path, folder or name_or_path, folder is not None, bool(trust_remote_code)
        )

    def load(
        self,
        device: torch.device,
        dtype: torch.dtype | str,
        attn_implementation: str | None,
        head: int | str | None = None,
        objectives: Any = None,
    ) -> tuple[Any, Any, str | None, Head]:
        """(tokenizer, model in eval mode on ``device``, the attention implementation used,
        the reward head: an output index or a value head, see ``heads.py``);
        ``attn_implementation=None`` tries :func:`auto_attn_candidates` in order.
        ``objectives`` (``objectives.py``) are checked against the config before any weight
        is loaded; the head is then ``head`` or output 0."""
        self.check_hub()
        with self.quiet_hub():
            return self._load(device, dtype, attn_implementation, head, objectives)

    def _load(
        self,
        device: torch.device,
        dtype: torch.dtype | str,
        attn_implementation: str | None,
        head: int | str | None,
        objectives: Any = None,
    ) -> tuple[Any, Any, str | None, Head]:
        from transformers import AutoConfig, AutoTokenizer

        common = pretrained_kwargs(self.trust_remote_code)
        try:
            config = AutoConfig.from_pretrained(self.path, **common)
        except Exception as e:  # transformers raises OSError, ValueError, ImportError, ...
            raise self.load_error(e) from self.cause(e)
        if objectives is not None:
            plan_objectives(config, objectives, head, self.name_or_path)
        chosen: Head = (
            choose_head(config, head, self.path, self.name_or_path, **common)
            if objectives is None
            else (head if isinstance(head, int) else 0)
        )
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.path, **common)
        except Exception as e:
            raise self.load_error(e, what="tokenizer") from self.cause(e)
        candidates: list[str | None] = (
            [attn_implementation]
            if attn_implementation is not None
            else auto_attn_candidates(device, dtype, config)
        )
        if isinstance(chosen, ValueHead):
            model, attn = self._load_value_head_model(config, chosen, device, dtype, candidates)
        else:
            model, info, attn = self._load_weights(config, device, dtype, candidates)
            check_head_loaded(model, info, self.name_or_path)
        try:
            model.to(device)
        except (RuntimeError, AssertionError) as e:
            raise RewardModelError(
                f"cannot move reward model {self.name_or_path} to {device}: {e}"
            ) from e
        model.eval()
        return tokenizer, model, model.config._attn_implementation or attn, chosen

    def load_causal_lm(
        self, device: torch.device, dtype: torch.dtype | str, attn_implementation: str | None
    ) -> tuple[Any, Any, str | None]:
        """(tokenizer, causal LM in eval mode on ``device``, attention used), for models whose
        log-probabilities are the score (``DPORewardModel``); safetensors weights only, and a
        checkpoint without its LM head (which would be random) is refused."""
        self.check_hub()
        with self.quiet_hub():
            return self._load_causal_lm(device, dtype, attn_implementation)

    def _load_causal_lm(
        self, device: torch.device, dtype: torch.dtype | str, attn_implementation: str | None
    ) -> tuple[Any, Any, str | None]:
        if self.is_local:
            refuse_pickle_weights(
                self.path, owner=f"language model {self.name_or_path!r}", error=RewardModelError
            )
        from transformers import AutoConfig, AutoTokenizer

        common = pretrained_kwargs(self.trust_remote_code)
        try:
            config = AutoConfig.from_pretrained(self.path, **common)
            tokenizer = AutoTokenizer.from_pretrained(self.path, **common)
        except Exception as e:  # OSError, ValueError, ImportError, ...
            raise self.load_error(e) from self.cause(e)
        candidates: list[str | None] = (
            [attn_implementation]
            if attn_implementation is not None
            else auto_attn_candidates(device, dtype, config)
        )
        model, info, attn = self._load_weights(
            config, device, dtype, candidates, auto_class="AutoModelForCausalLM"
        )
        missing = sorted(info.get("missing_keys", ()))
        if missing:
            raise RewardModelError(
                f"{self.name_or_path!r} is not a complete causal language model (missing "
                f"{', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); "
                "transformers would initialise those weights randomly."
            )
        model.to(device)
        model.eval()
        return tokenizer, model, model.config._attn_implementation or attn

    def _load_value_head_model(
        self,
        config: Any,
        head: ValueHead,
        device: torch.device,
        dtype: torch.dtype | str,
        candidates: list[str | None],
    ) -> tuple[ValueHeadModel, str | None]:
        """The base model (safetensors weights only) and the value head on top of it; a base
        whose own weights are missing would be random, so that is refused."""
        base, info, attn = self._load_weights(
            config, device, dtype, candidates, auto_class="AutoModel"
        )
        missing = sorted(info.get("missing_keys", ()))
        if missing:
            raise RewardModelError(
                f"the base model of {self.name_or_path!r} ({head.convention} value head) is "
                f"missing weights ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}"
                "); transformers would initialise them randomly."
            )
        hidden = config.get_text_config().hidden_size
        linear = head_linear(head, hidden, base.dtype, next(base.parameters()).device)
        return ValueHeadModel(base, linear, head, config), attn

    def _load_weights(
        self,
        config: Any,
        device: torch.device,
        dtype: torch.dtype | str,
        candidates: list[str | None],
        auto_class: str = "AutoModelForSequenceClassification",
    ) -> tuple[Any, dict[str, Any], str | None]:
        """The weights with the first attention kernel in ``candidates`` that this
        architecture and installation support (a kernel they lack raises ValueError or
        ImportError, and the next is tried); the last candidate's error is the user's."""
        import transformers
        from transformers.utils import is_accelerate_available

        loader = getattr(transformers, auto_class)

        kwargs = {
            **pretrained_kwargs(self.trust_remote_code),
            "config": config,
            "dtype": dtype,
            "output_loading_info": True,
        }
        if auto_class != "AutoModelForSequenceClassification":  # new loaders: safetensors only
            kwargs["use_safetensors"] = True
        if device.type != "cpu" and is_accelerate_available():
            # Load the weights straight onto the accelerator instead of staging them in RAM.
            kwargs["device_map"] = {"": device}

        def attempt(attn: str | None) -> tuple[Any, dict[str, Any], str | None]:
            extra = {} if attn is None else {"attn_implementation": attn}
            if auto_class != "AutoModel":
                model, info = loader.from_pretrained(self.path, **extra, **kwargs)
                return model, info, attn
            # A value-head checkpoint's LM head and value head are "unexpected" keys for its
            # base model, by design; transformers would log a load report listing them on
            # every load. Missing keys are checked by the caller, so the report is muted.
            report = logging.getLogger("transformers.modeling_utils")
            level = report.level
            report.setLevel(logging.ERROR)
            try:
                model, info = loader.from_pretrained(self.path, **extra, **kwargs)
            finally:
                report.setLevel(level)
            return model, info, attn

        *first, last = candidates
        try:
            for attn in first:
                try:
                    return attempt(attn)
                except (ValueError, ImportError):
                    continue  # this architecture or installation lacks that kernel
            return attempt(last)
        except Exception as e:  # OSError, ValueError, ImportError, torch errors, ...
            raise self.load_error(e) from self.cause(e)

    def check_hub(self) -> None:
        """A hub name that is not in the local cache while the hub cannot be reached (offline
        mode, or no network) fails here, at once and in one line: transformers would first
        retry the network for ~25 s, logging every retry, and then raise a chain of three
        exceptions (a 150-line traceback) that buries the fix."""
        if self.is_local:
            return
        from rmx_widgets.core.availability import hub_cache, why_not_hub

        reason = why_not_hub(self.path)
        if reason is None:
            return
        if env_offline():
            fix = "unset HF_HUB_OFFLINE and download it once with the network on"
        else:
            fix = "connect to the network and download it once (then HF_HUB_OFFLINE=1 works)"
        raise RewardModelError(
            f"cannot load the model of reward model {self.name_or_path!r} (treated as a Hugging "
            f"Face hub name): {reason.removesuffix(f' and {self.path} is not in the local cache')}"
            f" and it is not in the local cache ({hub_cache()}). To fix: give a local path (a "
            f"folder written by save_pretrained), {fix}, or point HF_HUB_CACHE (or HF_HOME) to "
            "a cache that holds it."
        )

    @contextlib.contextmanager
    def quiet_hub(self) -> Iterator[None]:
        """huggingface_hub's warnings (one per network retry) are muted while a hub model
        loads: when the load fails the one-line error says what they would, and when it works
        they are noise. Download progress bars are not logging and still show."""
        if self.is_local:
            yield
            return
        hub_log = logging.getLogger("huggingface_hub")
        level = hub_log.level
        hub_log.setLevel(logging.ERROR)
        try:
            yield
        finally:
            hub_log.setLevel(level)

    def cause(self, err: Exception) -> Exception | None:
        """What a load error is chained to: nothing for a hub name's OSError (network, cache,
        gated repository), whose message already carries everything the user needs and whose
        chain is a page of huggingface_hub internals; the original error otherwise (a broken
        local checkpoint is debugged from it)."""
        return None if not self.is_local and isinstance(err, OSError) else err

    def load_error(self, err: Exception, what: str = "model") -> RewardModelError:
        """What went wrong loading the ``what``, and the fix that fits a path or a hub name."""
        kind = "a local path" if self.is_local else "a Hugging Face hub name"
        if self.is_local:
            hint = (
                f"check that {self.path} is a directory written by save_pretrained "
                "(config.json, weights and tokenizer files)"
            )
        else:
            hint = (
                "check the spelling of the name, your network connection and, for gated or "
                "private models, that you are logged in (`hf auth login`)"
            )
            if env_offline():
                hint += (
                    "; HF_HUB_OFFLINE is set, so only the local cache was searched: unset "
                    "it to download, or point to a local copy"
                )
            else:
                hint += "; set HF_HUB_OFFLINE=1 to use only models already in the local cache"
        if "trust_remote_code" in str(err) and not self.trust_remote_code:
            hint += (
                "; the model needs its own code: pass trust_remote_code=True only if you "
                "trust that repository (it runs its Python code on this machine)"
            )
        return RewardModelError(
            f"cannot load the {what} of reward model {self.name_or_path!r} (treated as {kind}): "
            f"{type(err).__name__}: {' '.join(str(err).split()).rstrip('.')}. To fix: {hint}."
        )


def auto_attn_candidates(
    device: torch.device, dtype: torch.dtype | str, config: Any
) -> list[str | None]:
    """Fastest attention first: FlashAttention-2 needs the ``flash_attn`` package, a CUDA
    device and a half-precision dtype (``"auto"``: the checkpoint's); SDPA is in torch itself;
    ``None`` is transformers' default for architectures with neither."""
    import torch

    weights: Any = dtype
    if dtype == "auto":
        weights = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
        if isinstance(weights, str):
            weights = getattr(torch, weights, None)
    fa2 = (
        device.type == "cuda"
        and weights in (torch.bfloat16, torch.float16)
        and importlib.util.find_spec("flash_attn") is not None
    )
    return (["flash_attention_2"] if fa2 else []) + ["sdpa", None]


def check_head_loaded(model: Any, info: dict[str, Any], name: str) -> None:
    """transformers silently gives a checkpoint without a reward head a *random* one; its
    scores would be noise that looks like preferences, so refuse it."""
    prefix = f"{model.base_model_prefix}."
    head = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(prefix))
    if head:
        raise RewardModelError(
            f"the checkpoint {name!r} has no trained reward head (missing {', '.join(head)}); "
            "transformers would initialise it randomly and the scores would be noise. It is "
            "probably a base or chat language model, not a reward model."
        )


def ensure_pad_token(tokenizer: Any, model: Any, name: str) -> int | None:
    """Batching needs a pad id that the model also knows (Llama-style heads find the last
    real token by comparing with ``config.pad_token_id``). Returns the id used for padding,
    or None when there is none and inputs must run one at a time."""
    cfg = model.config
    if tokenizer.pad_token_id is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    text_cfg = cfg.get_text_config()
    if getattr(text_cfg, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        for c in {id(cfg): cfg, id(text_cfg): text_cfg}.values():
            c.pad_token_id = tokenizer.pad_token_id
    model_pad: int | None = getattr(text_cfg, "pad_token_id", None)
    if model_pad is None:
        warnings.warn(
            f"{name} defines neither a pad nor an EOS token; inputs will be scored "
            "one at a time (slow).",
            stacklevel=4,
        )
    return model_pad


def default_max_length(tokenizer: Any, model: Any) -> int | None:
    """min(tokenizer limit, model positions) where either is known, else None (no limit)."""
    limits = []
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < _SANE_LENGTH_LIMIT:
        limits.append(tok_limit)
    text_cfg = model.config.get_text_config()
    for attr in _POSITION_ATTRS:
        value = getattr(text_cfg, attr, None)
        if isinstance(value, int) and 0 < value < _SANE_LENGTH_LIMIT:
            limits.append(value)
            break
    return min(limits) if limits else None
