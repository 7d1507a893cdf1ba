"""A hub reward model that cannot be loaded here fails in one readable line (issue 14).

Before, ``HFRewardModel("org/name")`` without network printed transformers' / huggingface_hub's
retry warnings for ~25 s and then a chain of three exceptions (a 155-line traceback) before the
rmx message. Nothing here reaches the network: the cache is an empty temp folder, offline mode
is on, or the hub endpoint is a closed local port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rmx_widgets.cli import main

ROOT = Path(__file__).resolve().parents[2]
NAME = "rmx-test-org/missing-rm"

# Runs each case in a fresh interpreter (the hub reads its settings at import) and prints, as
# JSON, the error each raised and its full traceback as Python would print it; anything the
# libraries print themselves lands on the process's stderr.
SCRIPT = r"""
import json, os, sys, time, traceback
from rmx_widgets.core.errors import RewardModelError
from rmx_widgets.core.reward_models.hf.model import HFRewardModel

out = {}
def attempt(case, name):
    t0 = time.monotonic()
    try:
        HFRewardModel(name, device="cpu")
    except RewardModelError as e:
        out[case] = {
            "message": str(e),
            "chained": e.__cause__ is not None or (
            e.__context__ is not None and not e.__suppress_context__
        ),
            "traceback": "".join(traceback.format_exception(e)),
            "seconds": time.monotonic() - t0,
        }

attempt("unreachable", sys.argv[1])  # HF_ENDPOINT is a closed port, offline mode off
os.environ["HF_HUB_OFFLINE"] = "1"
attempt("offline", sys.argv[1])
attempt("config-only", sys.argv[2])  # in the cache, but only its config.json
print(json.dumps(out))
"""


def _cache_with_config_only(cache: Path, repo: str) -> None:
    """A hub cache holding ``repo`` at revision ``main`` with a config.json and nothing else."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0" * 40)
    snapshot = folder / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(
        json.dumps({"model_type": "gpt2", "num_labels": 1, "n_layer": 1, "n_embd": 8, "n_head": 2})
    )


def test_hub_model_that_cannot_load_says_so_in_one_line(tmp_path):
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    partial = "rmx-test-org/config-only-rm"
    _cache_with_config_only(cache, partial)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_CACHE": str(cache),
        "HF_ENDPOINT": "http://127.0.0.1:9",  # the discard port: nothing listens, nothing leaves
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, NAME, partial],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cases = json.loads(proc.stdout)
    assert set(cases) == {"unreachable", "offline", "config-only"}
    # nothing from transformers / huggingface_hub (retry warnings, log lines) before the error
    assert proc.stderr.strip() == "", proc.stderr[:2000]
    for case, seen in cases.items():
        message, tb = seen["message"], seen["traceback"]
        assert "\n" not in message, case
        assert message.startswith(
            f"cannot load the model of reward model '{partial if case == 'config-only' else NAME}'"
            " (treated as a Hugging Face hub name)"
        ), message
        assert "To fix:" in message, message
        # the error is not chained to the libraries' exceptions: no page of their internals
        assert not seen["chained"], case
        assert "The above exception" not in tb and "huggingface_hub" not in tb, tb
        assert len(tb.splitlines()) < 20, tb
    unreachable = cases["unreachable"]["message"]
    assert "127.0.0.1 is unreachable" in unreachable and "not in the local cache" in unreachable
    assert "local path" in unreachable and "HF_HUB_OFFLINE=1" in unreachable
    assert str(cache) in unreachable
    # no network retries: answered within the probe's 2 s timeout, not after ~25 s of backoff
    assert cases["unreachable"]["seconds"] < 10, cases["unreachable"]["seconds"]
    offline = cases["offline"]["message"]
    assert "HF_HUB_OFFLINE is set and it is not in the local cache" in offline
    assert f"({cache})" in offline and "local path" in offline and "HF_HUB_CACHE" in offline
    # cached config, missing weights: transformers' multi-line message joined into one line
    assert "model.safetensors" in cases["config-only"]["message"]
    assert "HF_HUB_OFFLINE is set" in cases["config-only"]["message"]


def test_cli_explain_with_a_missing_hub_rm_prints_one_error_line(tmp_path, monkeypatch, capsys):
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"prompt": "p", "chosen": "a b c", "rejected": "d e"}\n')
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    started = time.monotonic()
    code = main(["explain", "--rm", NAME, "--data", str(data), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"rmx: error: cannot load the model of reward model '{NAME}'")
    assert "HF_HUB_OFFLINE is set and it is not in the local cache" in lines[0]
    assert str(tmp_path / "empty-cache") in lines[0] and "local path" in lines[0]
    assert time.monotonic() - started < 30
