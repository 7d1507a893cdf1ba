"""core/devices.py: the device, dtype, offline, local-path and out-of-memory rules every local
backend shares. CUDA and MPS are simulated, so these run the same on any machine."""

from __future__ import annotations

import pytest
import torch

from rmx_widgets.core import devices
from rmx_widgets.core.devices import (
    env_offline,
    halve_on_oom,
    is_oom,
    local_folder,
    looks_local,
    oom_detail,
    pretrained_kwargs,
    resolve_device,
    resolve_dtype,
)
from rmx_widgets.core.errors import PerturberError, RewardModelError

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("bf16", torch.bfloat16),
        ("bfloat16", torch.bfloat16),
        ("torch.bfloat16", torch.bfloat16),
        (" BF16 ", torch.bfloat16),
        ("fp16", torch.float16),
        ("float16", torch.float16),
        ("half", torch.float16),
        ("fp32", torch.float32),
        ("float32", torch.float32),
        ("float", torch.float32),
        (torch.float16, torch.float16),
        ("auto", "auto"),
        ("AUTO", "auto"),
    ],
)
def test_dtype_aliases(alias, expected):
    assert resolve_dtype(alias, CPU, owner="x", error=RewardModelError) == expected


def test_default_dtype_is_bf16_on_cuda_and_fp32_elsewhere(monkeypatch):
    assert resolve_dtype(None, CPU, owner="x", error=RewardModelError) == torch.float32
    assert (
        resolve_dtype(None, torch.device("mps"), owner="x", error=RewardModelError) == torch.float32
    )
    assert resolve_dtype(None, CUDA, owner="x", error=RewardModelError) == torch.bfloat16
    # The perturbers' rule: bf16 only where the GPU supports it.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert (
        resolve_dtype(None, CUDA, owner="x", error=PerturberError, bf16_only_if_supported=True)
        == torch.float32
    )
    assert resolve_dtype(None, CUDA, owner="x", error=RewardModelError) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert (
        resolve_dtype(None, CUDA, owner="x", error=PerturberError, bf16_only_if_supported=True)
        == torch.bfloat16
    )


@pytest.mark.parametrize("bad", ["int3", "fp8", 16, ""])
def test_unknown_dtype_raises_the_callers_error(bad):
    with pytest.raises(PerturberError, match=r"unknown dtype .* for HFPerturber; use 'bf16'"):
        resolve_dtype(bad, CPU, owner="HFPerturber", error=PerturberError)


def test_device_default_order(monkeypatch, no_accelerator):
    assert resolve_device(None, owner="x", error=RewardModelError) == CPU
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device(None, owner="x", error=PerturberError, use_mps=True).type == "mps"
    assert resolve_device(None, owner="x", error=RewardModelError) == CPU  # RMs never pick MPS
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(None, owner="x", error=PerturberError, use_mps=True) == CUDA
    assert resolve_device(None, owner="x", error=RewardModelError) == CUDA


def test_explicit_devices_and_clear_errors(no_accelerator):
    assert resolve_device("cpu", owner="x", error=RewardModelError) == CPU
    assert resolve_device(CPU, owner="x", error=RewardModelError) == CPU
    with pytest.raises(
        PerturberError,
        match=r"device 'not-a-device' for my model is not a "
        r"torch device .*use e\.g\. 'cpu', 'cuda'",
    ):
        resolve_device("not-a-device", owner="my model", error=PerturberError)
    with pytest.raises(
        RewardModelError,
        match=r"device 'cuda:1' was requested for my model but "
        r"CUDA is not available here; use device='cpu'",
    ):
        resolve_device("cuda:1", owner="my model", error=RewardModelError)


def test_oom_detection():
    assert is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_oom(RuntimeError("HIP out of memory. Tried to allocate 512.00 MiB"))
    assert is_oom(RuntimeError("MPS backend Out Of Memory (MPS allocated: 8 GB)"))
    assert not is_oom(RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED"))
    assert not is_oom(ValueError("out of memory"))  # not what an accelerator raises
    detail = oom_detail(RuntimeError("CUDA out of memory. Tried 2 GiB.\nallocator report ..."))
    assert detail == "CUDA out of memory. Tried 2 GiB"
    assert oom_detail(torch.cuda.OutOfMemoryError()) == "OutOfMemoryError"


def test_local_path_rules(tmp_path, monkeypatch):
    for hub_id in ("gpt2", "org/name", "Qwen/Qwen2.5-0.5B-Instruct"):
        assert not looks_local(hub_id)
    for path in (
        "./model",
        "../model",
        "~/model",
        "/abs/model",
        "a/b/c",
        "models\\rm",
        str(tmp_path),
    ):
        assert looks_local(path), path
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert looks_local("org/name")  # an existing relative folder is local, even if hub-shaped


def test_local_folder_is_absolute_and_must_exist(tmp_path, monkeypatch):
    assert local_folder("org/name", owner="x", error=RewardModelError) is None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rm").mkdir()
    assert local_folder("./rm", owner="x", error=RewardModelError) == str(tmp_path / "rm")
    missing = tmp_path / "no" / "such" / "model"
    with pytest.raises(
        PerturberError, match="cannot load my model: it looks like a local path"
    ) as exc:
        local_folder(str(missing), owner="my model", error=PerturberError)
    assert str(missing) in str(exc.value) and "does not exist" in str(exc.value)
    (tmp_path / "file.bin").write_text("x")
    with pytest.raises(RewardModelError, match="is not a folder"):
        local_folder("./file.bin", owner="x", error=RewardModelError)


@pytest.mark.parametrize("var", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
@pytest.mark.parametrize("value", ["1", "true", " YES ", "on"])
def test_offline_mode_is_read_now(monkeypatch, var, value):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    assert not env_offline()
    assert pretrained_kwargs(False) == {"trust_remote_code": False}
    monkeypatch.setenv(var, value)
    assert env_offline()
    assert pretrained_kwargs(True) == {"trust_remote_code": True, "local_files_only": True}
    monkeypatch.setenv(var, "0")
    assert not env_offline()


class FakeAccelerator:
    """A ``run`` that runs out of memory on batches over ``max_rows``; records the calls."""

    def __init__(self, max_rows: int, error: Exception) -> None:
        self.max_rows, self.error = max_rows, error
        self.calls: list[list[int]] = []

    def __call__(self, batch: list[int]) -> list[str]:
        self.calls.append(batch)
        if len(batch) > self.max_rows:
            raise self.error
        return [f"out{i}" for i in batch]


def test_halve_on_oom_splits_until_batches_fit(monkeypatch):
    freed: list[str] = []
    monkeypatch.setattr(devices, "free_accelerator_memory", lambda d: freed.append(str(d)))
    run = FakeAccelerator(2, torch.cuda.OutOfMemoryError("CUDA out of memory"))
    got = halve_on_oom(list(range(7)), run, "cuda", too_big="failed")
    assert got == [f"out{i}" for i in range(7)]  # input order kept
    assert run.calls == [
        [0, 1, 2, 3, 4, 5, 6],
        [0, 1, 2],
        [0],
        [1, 2],
        [3, 4, 5, 6],
        [3, 4],
        [5, 6],
    ]
    assert freed == ["cuda"] * 3  # once per failed batch, before its halves run


def test_halve_on_oom_single_item_and_other_errors(monkeypatch):
    monkeypatch.setattr(devices, "free_accelerator_memory", lambda d: None)
    never = FakeAccelerator(0, RuntimeError("HIP out of memory"))
    assert halve_on_oom([1, 2, 3], never, CPU, too_big="failed") == ["failed"] * 3
    broken = FakeAccelerator(0, RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED"))
    with pytest.raises(RuntimeError, match="CUBLAS"):
        halve_on_oom([1, 2], broken, CPU, too_big="failed")
    assert broken.calls == [[1, 2]]  # not retried


def test_free_accelerator_memory_empties_only_an_accelerator_cache(monkeypatch):
    emptied: list[str] = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append("cuda"))
    monkeypatch.setattr(torch.mps, "empty_cache", lambda: emptied.append("mps"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    devices.free_accelerator_memory("cpu")
    assert emptied == []
    devices.free_accelerator_memory(CUDA)
    devices.free_accelerator_memory("mps")
    assert emptied == ["cuda", "mps"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    devices.free_accelerator_memory("cuda:0")  # nothing to empty without CUDA
    assert emptied == ["cuda", "mps"]
