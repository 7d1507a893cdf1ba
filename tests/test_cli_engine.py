"""``engine=`` / ``--engine`` without Ray: one line saying how to install it, nothing written;
bad values refused; and the engine's Ray-free parts (recipes, chunking). None of these needs
Ray (it is hidden from the import system where its absence matters)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import rmx_widgets as rmx
from rmx_widgets.cli import main
from rmx_widgets.core.engines import EngineError, Recipe, resolve_engine
from rmx_widgets.core.engines.ray_engine import RAY_MISSING
from rmx_widgets.core.engines.ray_pool import split
from rmx_widgets.core.perturbers.rules import RulePerturber
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel

SAMPLES = str(Path(__file__).parent / "robustness" / "bad_inputs" / "data" / "valid_pairs.jsonl")


@pytest.fixture
def no_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # ``import ray`` raises ImportError


def test_engine_ray_without_ray_says_how_to_install_and_writes_nothing(no_ray, tmp_path):
    store = tmp_path / "store.sqlite"
    with pytest.raises(EngineError) as info:
        rmx.Explainer(TransparentRewardModel(), RulePerturber(), store=store, engine="ray")
    assert str(info.value) == RAY_MISSING
    assert "pip install 'rmx-widgets[ray]'" in RAY_MISSING and "\n" not in RAY_MISSING
    assert not store.exists()


def test_cli_engine_ray_without_ray_is_one_line_and_exit_2(no_ray, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["explain", "--data", SAMPLES, "--rm", "transparent", "--out", str(out)]
    assert main([*argv, "--engine", "ray", "--no-report"]) == 2
    err = capsys.readouterr().err
    assert err == f"rmx: error: {RAY_MISSING}\n"
    assert not out.exists()


@pytest.mark.parametrize("flag", [["--address", "auto"], ["--workers", "2"]])
def test_cli_ray_flags_need_engine_ray(tmp_path, capsys, flag):
    out = tmp_path / "run"
    argv = ["explain", "--data", SAMPLES, "--rm", "transparent", "--out", str(out), *flag]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"rmx: error: {flag[0]} needs --engine ray.\n"
    assert not out.exists()


def test_cli_rejects_unknown_engine_and_zero_workers(tmp_path, capsys):
    base = ["explain", "--data", SAMPLES, "--rm", "transparent", "--out", str(tmp_path / "o")]
    for extra in (["--engine", "dask"], ["--engine", "ray", "--workers", "0"]):
        with pytest.raises(SystemExit) as info:
            main([*base, *extra])
        assert info.value.code == 2
    assert "invalid choice: 'dask'" in capsys.readouterr().err


def test_resolve_engine_local_and_unknown():
    assert resolve_engine("local") is None and resolve_engine(None) is None
    with pytest.raises(EngineError, match="one of local, ray"):
        resolve_engine("spark")


def test_recipe_builds_from_spec_or_object_and_checks_identity():
    local = TransparentRewardModel()
    assert Recipe.of("rm", local, "transparent").build().identity == local.identity
    assert Recipe.of("rm", local).build() is local  # (pickled by Ray; here, the object)
    built = Recipe.of("perturber", RulePerturber(), "rules").build()
    assert built.identity == RulePerturber().identity
    with pytest.raises(EngineError, match="another key"):
        Recipe.of("rm", local, "transparent:length=1").build()


@pytest.mark.parametrize(
    "n, parts, sizes",
    [(7, 3, [3, 2, 2]), (6, 3, [2, 2, 2]), (2, 4, [1, 1]), (1, 1, [1]), (5, 1, [5])],
)
def test_split_is_contiguous_near_equal_and_non_empty(n, parts, sizes):
    pieces = split(n, parts)
    assert [len(p) for p in pieces] == sizes
    assert [i for p in pieces for i in p] == list(range(n))
