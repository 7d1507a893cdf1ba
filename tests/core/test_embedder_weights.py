"""A local embedder folder whose weights are pickle files is refused in one line: only
safetensors weights are loaded (unpickling ``pytorch_model.bin`` / ``*.pt`` / ``*.pkl`` can run
any code its author wrote)."""

from __future__ import annotations

import shutil

import pytest

from rmx_widgets.cli import main
from rmx_widgets.core.devices import refuse_pickle_weights
from rmx_widgets.core.embedders import TransformersEmbedder
from rmx_widgets.core.errors import RMXError

PICKLE = (
    r"holds pickle weights \({}\) and no \.safetensors file, and only safetensors weights "
    "are loaded"
)


def pickle_folder(encoder, dest, name="pytorch_model.bin"):
    """A copy of the tiny encoder whose weights are a torch pickle instead of safetensors."""
    import torch
    from safetensors.torch import load_file

    shutil.copytree(encoder, dest)
    torch.save(load_file(dest / "model.safetensors"), dest / name)
    (dest / "model.safetensors").unlink()
    return dest


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.pkl"])
def test_pickle_weights_are_refused(tiny_encoder_rm, tmp_path, name):
    folder = pickle_folder(tiny_encoder_rm, tmp_path / "enc", name)
    with pytest.raises(RMXError, match=PICKLE.format(name.replace(".", r"\."))) as info:
        TransformersEmbedder(str(folder), device="cpu").load()
    assert str(folder) in str(info.value) and "\n" not in str(info.value)


def test_safetensors_beside_a_pickle_loads_the_safetensors(tiny_encoder_rm, tmp_path):
    folder = tmp_path / "both"
    shutil.copytree(tiny_encoder_rm, folder)
    (folder / "training_args.bin").write_bytes(b"not loaded")
    emb = TransformersEmbedder(str(folder), device="cpu")
    assert emb(["a text"]).shape == (1, 64)
    refuse_pickle_weights(str(tiny_encoder_rm), owner="x", error=RMXError)  # no pickle: fine


def test_cli_refuses_a_pickle_embedder_in_one_line(tiny_encoder_rm, tmp_path, capsys):
    folder = pickle_folder(tiny_encoder_rm, tmp_path / "enc")
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"prompt": "p", "chosen": "a b c d", "rejected": "c"}\n')
    argv = ["explain", "--data", str(data), "--rm", "transparent", "--out", str(tmp_path / "o")]
    assert main([*argv, "--embedder", str(folder), "--no-report", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rmx: error: cannot load the embedding model"), err
    assert "pytorch_model.bin" in err[0] and not (tmp_path / "o").exists()
