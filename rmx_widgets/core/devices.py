"""Where a local model runs and how it is loaded: device, dtype, offline mode, local paths, OOM.

Every backend that runs a transformers model on this machine (the reward model, the HF and
Polyjuice perturbers, vLLM, the sentence embedder) answers the same questions: which device,
which dtype, is ``name_or_path`` a folder or a hub id, is the hub off-limits right now, and what
to do when the accelerator runs out of memory. They answer them here, once, so a rule fixed
for one backend is fixed for all and every backend's error reads the same.

Errors are raised as the *caller's* error class (``error=RewardModelError`` or
``PerturberError`` ...), so each backend keeps the typed error its users catch.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from rmx_widgets.core.errors import RMXError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")
R = TypeVar("R")
F = TypeVar("F")

DTYPE_ALIASES = {
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float32": "float32",
    "float": "float32",
}
_TRUE = {"1", "ON", "YES", "TRUE"}


def resolve_device(
    device: str | torch.device | None, *, owner: str, error: type[RMXError], use_mps: bool = False
) -> torch.device:
    """``device`` as a ``torch.device``, or the default: CUDA when available, then (only with
    ``use_mps``) Apple's MPS, else the CPU. A string torch cannot parse, or CUDA asked for on a
    machine without it, raises ``error`` naming ``owner`` (instead of a bare torch error later,
    when the weights are moved)."""
    import torch

    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if use_mps and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise error(
            f"device {device!r} for {owner} is not a torch device ({e}); use e.g. "
            "'cpu', 'cuda' or 'cuda:1'."
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise error(
            f"device {str(device)!r} was requested for {owner} but CUDA is not "
            "available here; use device='cpu'."
        )
    return resolved


def resolve_dtype(
    dtype: str | torch.dtype | None,
    device: torch.device,
    *,
    owner: str,
    error: type[RMXError],
    bf16_only_if_supported: bool = False,
) -> torch.dtype | Literal["auto"]:
    """``dtype`` as a ``torch.dtype`` (aliases ``bf16``/``fp16``/``half``/``fp32``/``float``,
    with or without ``torch.``), or ``"auto"`` (the checkpoint's own dtype). The default is
    bfloat16 on CUDA and float32 elsewhere; with ``bf16_only_if_supported`` a GPU without
    bfloat16 support gets float32 too."""
    import torch

    if dtype is None:
        bf16 = device.type == "cuda" and (
            not bf16_only_if_supported or torch.cuda.is_bf16_supported()
        )
        return torch.bfloat16 if bf16 else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str):
        key = dtype.strip().lower().removeprefix("torch.")
        if key == "auto":
            return "auto"
        if key in DTYPE_ALIASES:
            return getattr(torch, DTYPE_ALIASES[key])
    raise error(
        f"unknown dtype {dtype!r} for {owner}; use 'bf16', 'fp16', 'fp32', 'auto' "
        "(the checkpoint's own dtype) or a torch.dtype."
    )


def env_offline() -> bool:
    """Offline mode as the user set it *now* (huggingface_hub reads the variable only once, at
    import, so a notebook that sets it later would otherwise still try the network)."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any((f or "").strip().upper() in _TRUE for f in flags)


def pretrained_kwargs(trust_remote_code: bool) -> dict[str, Any]:
    """The keyword arguments every ``from_pretrained`` call here gets: remote code only when
    the caller trusts the repository, and the local cache alone when offline mode is on."""
    kwargs: dict[str, Any] = {"trust_remote_code": bool(trust_remote_code)}
    if env_offline():
        kwargs["local_files_only"] = True
    return kwargs


def looks_local(name_or_path: str) -> bool:
    """Whether ``name_or_path`` names a folder rather than a hub id. Hub ids are ``name`` or
    ``org/name``; anything that exists, is absolute, starts with ``.`` or ``~``, has more than
    one ``/`` or has a backslash is a path (so a mistyped path says "does not exist" instead
    of sending the user to the hub)."""
    p = Path(name_or_path).expanduser()
    return (
        p.exists()
        or p.is_absolute()
        or name_or_path.startswith((".", "~"))
        or name_or_path.count("/") > 1
        or "\\" in name_or_path
    )


def local_folder(
    name_or_path: str, *, owner: str, error: type[RMXError], example: str = "org/model"
) -> str | None:
    """The absolute folder ``name_or_path`` names when it :func:`looks_local`, else ``None``
    (a hub id). A local path that is not an existing folder raises ``error`` at once: the
    loaders would otherwise try the hub with it and fail with a confusing message."""
    if not looks_local(name_or_path):
        _check_hub_name(name_or_path, owner=owner, error=error, example=example)
        return None
    path = os.path.abspath(os.path.expanduser(name_or_path))
    if not os.path.isdir(path):
        raise error(
            f"cannot load {owner}: it looks like a local path, but {path} does not "
            "exist or is not a folder. Give the folder that holds config.json and the "
            f"tokenizer files, or a hub name such as {example!r}."
        )
    return path


def _check_hub_name(name: str, *, owner: str, error: type[RMXError], example: str) -> None:
    """A name that is no hub id either (``bad name!``, a mistyped spec ``kind:x``) fails here
    in one line: huggingface_hub would raise its own validation error from deep inside the
    cache lookup, a traceback that never says what rmx accepts."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError as e:
        reason = " ".join(str(e).split()).rstrip(".")
        raise error(
            f"cannot load {owner}: {name!r} is neither an existing local folder nor a valid "
            f"Hugging Face hub name ({reason}). Give the folder that holds config.json and the "
            f"tokenizer files, or a hub name such as {example!r}."
        ) from None


#: File endings of pickled weights (``pytorch_model.bin``, ``*.pt``, ``*.pkl``, ...): loading
#: one unpickles it, which can run any code the file's author wrote.
PICKLE_WEIGHTS = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def refuse_pickle_weights(folder: str, *, owner: str, error: type[RMXError]) -> None:
    """Refuse a local model folder whose weights are pickle files only: rmx loads safetensors
    weights alone (``use_safetensors=True``), since unpickling a file can run code. A folder
    that also holds ``*.safetensors`` is fine (those are what is loaded)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return  # the loader reports an unreadable folder
    if any(n.endswith(".safetensors") for n in names):
        return
    pickles = [n for n in names if n.lower().endswith(PICKLE_WEIGHTS)]
    if pickles:
        shown = ", ".join(pickles[:3]) + (", ..." if len(pickles) > 3 else "")
        raise error(
            f"cannot load {owner}: {folder} holds pickle weights ({shown}) and no "
            ".safetensors file, and only safetensors weights are loaded (unpickling a file "
            "can run any code). Convert them (load them once where you trust the file, then "
            "save_pretrained writes model.safetensors) or check the folder."
        )


def is_oom(err: BaseException) -> bool:
    """An accelerator out-of-memory error: torch's own type, or a RuntimeError that says so
    (older torch versions, MPS, other backends and custom kernels raise plain RuntimeErrors).
    ``torch.cuda.OutOfMemoryError`` is ``torch.OutOfMemoryError`` since torch 2.5 and exists
    under that name in every torch this package supports."""
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower()
    )


def oom_detail(err: BaseException) -> str:
    """The first line of an out-of-memory message (torch appends a long allocator report)."""
    text = str(err).strip()
    return (text.splitlines()[0][:200] if text else type(err).__name__).rstrip(". ")


def free_accelerator_memory(device: str | torch.device) -> None:
    """Give a failed batch's blocks back before retrying: collect unreachable tensors (a full
    collection takes a fraction of a second, nothing next to an accelerator batch), then return
    the caching allocator's free blocks so smaller batches can use them. The CPU has no such
    cache, so there is nothing to do there."""
    import torch

    kind = torch.device(device).type
    if kind == "cuda" and torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()
    elif kind == "mps" and torch.backends.mps.is_available():
        gc.collect()
        torch.mps.empty_cache()


def halve_on_oom(
    items: Sequence[T],
    run: Callable[[list[T]], Sequence[R]],
    device: str | torch.device,
    too_big: F,
) -> list[R | F]:
    """``run(items)``, splitting the batch in halves (recursively) while it runs out of
    accelerator memory; a single item that does not fit gets ``too_big`` instead of ending the
    job. Any other error propagates. For generation, where batches are few and the output
    length, not the input, decides the memory, so halving is the whole policy (the reward
    model's token-budget policy is in ``reward_models/hf/batching.py``)."""
    batch = list(items)
    try:
        done: list[R | F] = list(run(batch))
        return done
    except RuntimeError as e:
        if not is_oom(e):
            raise
    # Outside the except block, so the traceback's tensors can be freed first.
    free_accelerator_memory(device)
    if len(batch) == 1:
        return [too_big]
    half = len(batch) // 2
    return halve_on_oom(batch[:half], run, device, too_big) + halve_on_oom(
        batch[half:], run, device, too_big
    )
