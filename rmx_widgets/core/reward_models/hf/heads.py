"""Which output of a checkpoint is the reward: ``head=`` of ``HFRewardModel``.

Three kinds of checkpoint carry a reward, and each is read the way its training code reads it:

* a transformers ``*ForSequenceClassification`` model: output 0 when it has one output
  (``num_labels=1``); with several outputs ``head=N`` picks output ``N`` (a classifier whose
  "good" logit is the reward). Without ``head=`` such a model is refused with a message saying
  how to pass it, since guessing the output would give a plausible-looking wrong reward;
* a TRL ``AutoModelForCausalLMWithValueHead`` checkpoint: a causal LM whose state dict also
  holds ``v_head.summary.weight`` / ``v_head.summary.bias`` (``trl.models.modeling_value_head``
  saves the LM's keys plus ``v_head.*``); the value head is applied to the base model's final
  hidden state and the reward read at the last token;
* an OpenRLHF reward model (``openrlhf.models.get_llm_for_sequence_regression``): a base model
  (keys under its ``base_model_prefix``) plus a bias-free ``value_head.weight`` of one row
  (``value_head_prefix="value_head"``; newer releases default to ``"score"``, whose config
  still says the default two labels, so a ``score.weight`` of *one* row next to
  ``num_labels=2`` is read the same way). The reward is read at the last attended token, and
  OpenRLHF's reward datasets end every sequence with the EOS token, so one is appended when
  the rendered text does not end with it; a config with ``normalize_reward`` and
  ``mean``/``std`` gives ``(reward - mean) / std``, as OpenRLHF does in eval mode.

Value heads are found from the safetensors headers (key names and shapes; nothing is loaded to
look) and read from safetensors only: a pickled ``pytorch_model.bin`` can run code when loaded.
``head="value_head"`` asks for one explicitly; a checkpoint that would otherwise be refused and
has a ``v_head.summary`` or ``value_head`` uses it with a warning that names the convention. A
one-row ``score.weight`` under a two-label config is used only with ``head="value_head"`` (it
could also be a broken classifier), and the refusal says so. The head is part of the identity
(``...:head=1``, ``...:head=trl``), so scores of different outputs never share a cache entry.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from rmx_widgets.core.errors import RewardModelError

if TYPE_CHECKING:
    import torch

VALUE_HEAD = "value_head"
_SAFETENSORS = "model.safetensors"
_SAFETENSORS_INDEX = "model.safetensors.index.json"


@dataclass(frozen=True)
class ValueHead:
    """A custom value head found in a checkpoint: ``convention`` (``"trl"`` or
    ``"openrlhf"``), the state-dict ``key`` of its weight and ``bias_key`` (or None), the
    safetensors ``files`` holding them, and whether the reward is read at an EOS the input
    must end with (OpenRLHF)."""

    convention: str
    key: str
    bias_key: str | None
    files: tuple[str, ...]
    append_eos: bool

    @property
    def tag(self) -> str:
        """The identity suffix: ``head=trl`` or ``head=openrlhf``."""
        return f"head={self.convention}"


Head = int | ValueHead


def check_head_arg(head: Any) -> None:
    """``head`` is None, an output index (a non-negative int) or ``"value_head"``."""
    if head is None or head == VALUE_HEAD:
        return
    if isinstance(head, bool) or not isinstance(head, int) or head < 0:
        raise RewardModelError(
            f"HFRewardModel head must be an output index (an integer >= 0) or "
            f"{VALUE_HEAD!r}, got {head!r}."
        )


def _is_classifier(config: Any) -> bool:
    archs = list(getattr(config, "architectures", None) or [])
    return not archs or any("SequenceClassification" in a for a in archs)


def choose_head(config: Any, head: int | str | None, path: str, name: str, **kw: Any) -> Head:
    """The reward output of the checkpoint whose ``config`` was loaded from ``path``: an
    output index of a sequence-classification model, or a :class:`ValueHead`. ``kw`` go to
    the file lookup (``cached_file``). Raises ``RewardModelError`` saying how to pass
    ``head=`` when the checkpoint has several outputs and none was chosen."""
    check_head_arg(head)
    n = config.num_labels
    if isinstance(head, int):
        if not _is_classifier(config):
            raise RewardModelError(
                f"head={head} picks an output of a sequence-classification model, but "
                f"{name!r} is a {', '.join(config.architectures)} checkpoint; for a value-head "
                f"checkpoint (TRL, OpenRLHF) pass head={VALUE_HEAD!r}."
            )
        if head >= n:
            raise RewardModelError(
                f"head={head} is out of range: {name!r} has {n} output(s) "
                f"({_labels(config)}); use an index from 0 to {n - 1}{_index_hint(config)}."
            )
        return head
    if head is None and n == 1 and _is_classifier(config):
        return 0  # the ordinary reward model: no file is read
    found = find_value_head(config, path, **kw)
    # A one-row score.weight under a two-label config is OpenRLHF's layout, but also a broken
    # HF classifier: it is read as a value head only when asked for.
    if found is not None and (head == VALUE_HEAD or found.key != "score.weight"):
        if head is None:
            warnings.warn(
                f"{name}: the config describes no single-output reward head, but the weights "
                f"hold a {found.convention} value head ({found.key}); using it (reward at the "
                f"last token). Pass head={VALUE_HEAD!r} to say so explicitly.",
                stacklevel=5,
            )
        return found
    if head == VALUE_HEAD:
        raise RewardModelError(
            f"head={VALUE_HEAD!r}: no value head found in the safetensors weights of {name!r} "
            "(looked for TRL's v_head.summary.weight and OpenRLHF's value_head.weight or a "
            "one-row score.weight); value heads are read from *.safetensors files only."
        )
    if n == 1:
        return 0  # a causal LM claiming one label: check_head_loaded refuses its random head
    raise head_error(config, name, one_row_score=found is not None)


def head_error(config: Any, name: str, one_row_score: bool = False) -> RewardModelError:
    """The refusal of a checkpoint with ``num_labels != 1`` and no ``head=``, with the fix;
    ``one_row_score``: its ``score.weight`` has one row (OpenRLHF's layout)."""
    archs = list(getattr(config, "architectures", None) or [])
    if archs and not _is_classifier(config):
        return RewardModelError(
            f"{name!r} is a {', '.join(archs)} checkpoint, not a sequence-classification "
            "reward model with one output, and its safetensors weights hold no value head "
            "(TRL v_head.summary, OpenRLHF value_head). Load a reward model, or wrap your own "
            "scoring function in a callable fn(prompts, responses) -> list[float]."
        )
    n = config.num_labels
    if one_row_score:
        return RewardModelError(
            f"{name!r} has {n} outputs ({_labels(config)}) in its config, but its score.weight "
            "has a single row, the layout OpenRLHF reward models are saved in "
            f"(value_head_prefix='score'); if it is one, pass head={VALUE_HEAD!r} "
            f"(HFRewardModel({name!r}, head={VALUE_HEAD!r}), or the spec {name}:head=value_head)."
        )
    return RewardModelError(
        f"{name!r} has {n} outputs ({_labels(config)}), but a reward is one number; choose "
        f"the output that is the reward: HFRewardModel({name!r}, head=N) in Python or the "
        f"spec {name}:head=N on the command line, N from 0 to {n - 1}{_index_hint(config)}."
    )


def _labels(config: Any) -> str:
    """id2label's names in output order (``['bad', 'good']``)."""
    id2label = dict(getattr(config, "id2label", None) or {})
    return repr([str(v) for _, v in sorted((int(k), v) for k, v in id2label.items())])


def _index_hint(config: Any) -> str:
    """``: 0='bad', 1='good'`` when the labels have names, else nothing."""
    id2label = dict(getattr(config, "id2label", None) or {})
    items = sorted((int(k), str(v)) for k, v in id2label.items())
    if not items or all(v == f"LABEL_{k}" for k, v in items):
        return ""
    return " (" + ", ".join(f"{k}={v!r}" for k, v in items) + ")"


def safetensors_files(path: str, **kw: Any) -> list[str]:
    """The safetensors weight files of a folder or hub checkpoint (single file or the shards
    of an index), as local paths; empty when it has none."""
    from transformers.utils import cached_file

    def get(filename: str) -> str | None:
        if os.path.isdir(path):
            full = os.path.join(path, filename)
            return full if os.path.isfile(full) else None
        try:
            return cached_file(
                path,
                filename,
                _raise_exceptions_for_missing_entries=False,
                _raise_exceptions_for_connection_errors=False,
                **kw,
            )
        except OSError:
            return None

    single = get(_SAFETENSORS)
    if single:
        return [single]
    index = get(_SAFETENSORS_INDEX)
    if not index:
        return []
    with open(index, encoding="utf-8") as f:
        shards = sorted(set(json.load(f).get("weight_map", {}).values()))
    files = [get(s) for s in shards]
    return [f for f in files if f]


def find_value_head(config: Any, path: str, **kw: Any) -> ValueHead | None:
    """The TRL or OpenRLHF value head in the checkpoint's safetensors, from key names and
    shapes alone; None when there is none (or no safetensors file)."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    where: dict[str, str] = {}
    for file in safetensors_files(path, **kw):
        with safe_open(file, framework="pt") as f:
            names: list[str] = list(f.keys())
            for key in names:
                if key.startswith(("v_head.", "value_head.", "score.")):
                    shapes[key] = tuple(f.get_slice(key).get_shape())
                    where[key] = file
    hidden = config.get_text_config().hidden_size

    def one_row(key: str) -> bool:
        return shapes.get(key) == (1, hidden)

    def make(convention: str, key: str, bias: str | None, eos: bool) -> ValueHead:
        bias = bias if bias in shapes else None
        files = tuple(sorted({where[key], *([where[bias]] if bias else [])}))
        return ValueHead(convention, key, bias, files, eos)

    if one_row("v_head.summary.weight"):
        return make("trl", "v_head.summary.weight", "v_head.summary.bias", False)
    if one_row("value_head.weight"):
        return make("openrlhf", "value_head.weight", "value_head.bias", True)
    if config.num_labels != 1 and one_row("score.weight"):
        return make("openrlhf", "score.weight", "score.bias", True)
    return None


def head_linear(head: ValueHead, hidden: int, dtype: Any, device: Any) -> torch.nn.Linear:
    """The value head as a ``Linear(hidden, 1)``, its weights read from safetensors."""
    import torch
    from safetensors import safe_open

    def tensor(key: str) -> torch.Tensor:
        for file in head.files:
            with safe_open(file, framework="pt") as f:
                names: list[str] = list(f.keys())
                if key in names:
                    return f.get_tensor(key)
        raise RewardModelError(f"{key} vanished from {', '.join(head.files)} while loading.")

    linear = torch.nn.Linear(hidden, 1, bias=head.bias_key is not None)
    with torch.no_grad():
        linear.weight.copy_(tensor(head.key))
        if head.bias_key is not None:
            linear.bias.copy_(tensor(head.bias_key).reshape(1))
    return linear.to(device=device, dtype=dtype).eval()


class ValueHeadModel:
    """A base model and a value head, shaped like a sequence-classification model for
    ``HFRewardModel``: ``model(input_ids, attention_mask).logits`` is ``(rows, 1)``, the head
    applied to the final hidden state at each row's last attended token (right padding), then
    OpenRLHF's reward normalisation when the config asks for it."""

    def __init__(self, base: Any, linear: Any, head: ValueHead, config: Any) -> None:
        self.base = base
        self.linear = linear
        self.head = head
        self.config = base.config
        self.base_model_prefix = "base"
        normalize = getattr(config, "normalize_reward", False)
        mean, std = getattr(config, "mean", None), getattr(config, "std", None)
        self.norm = (float(mean), float(std)) if normalize and mean is not None and std else None

    @property
    def dtype(self) -> torch.dtype:
        return self.base.dtype

    def parameters(self) -> Any:
        yield from self.base.parameters()
        yield from self.linear.parameters()

    def to(self, device: Any) -> ValueHeadModel:
        self.base.to(device)
        self.linear.to(device)
        return self

    def eval(self) -> ValueHeadModel:
        self.base.eval()
        self.linear.eval()
        return self

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        """Rewards as ``logits`` of shape ``(rows, 1)``."""
        import torch

        hidden = self.base(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        last = attention_mask.size(1) - 1 - attention_mask.long().fliplr().argmax(dim=1)
        picked = hidden[torch.arange(hidden.size(0), device=hidden.device), last]
        values = self.linear(picked.to(self.linear.weight.dtype))
        if self.norm is not None:
            values = (values - self.norm[0]) / self.norm[1]
        return SimpleNamespace(logits=values)

    __call__ = forward
