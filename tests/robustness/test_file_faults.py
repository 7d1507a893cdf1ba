"""The bad-input corpus's ``file_fault`` cases: files that break under the engine rather than
being malformed input — a store on a full disk (SQLite's own page limit, the real
``SQLITE_FULL`` path), a store corrupted mid-file (refused at open, or when the damage is hit
for a store over the open check's size limit), an embedder folder holding pickle weights.

Each runs through ``rmx_widgets.cli.main`` in this process (the faults are set up around it):
exit 2, one ``rmx: error:`` line matching the case, no traceback, nothing half-written, and for
a full store no claim left behind (``pages``: the room the store has; ``kept``: some results
land before it is full, and stay). The Python API's error is the same line where it can be
raised on its own (opening the store, loading the embedder).
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest
from test_bad_inputs import HERE, MANIFEST, _assert_cli_error, _main_in_process

import rmx_widgets as rmx
from rmx_widgets import errors
from rmx_widgets.core import store as store_module
from rmx_widgets.core.embedders import TransformersEmbedder
from rmx_widgets.core.store import Store

CASES = [c for c in MANIFEST["cases"] if c["kind"] == "file_fault"]


def _cap_pages(monkeypatch, extra: int) -> None:
    original = Store.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self.path is not None:
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            self._db.execute(f"PRAGMA max_page_count = {pages + extra}")

    monkeypatch.setattr(Store, "__init__", init)


def _corrupt_store(path: Path) -> None:
    """A real store of a small run, closed, its middle third overwritten with random bytes."""
    ex = rmx.Explainer(
        rmx.TransparentRewardModel(),
        rmx.RulePerturber(),
        attributes=["verbosity", "manner"],
        store=path,
        batch_size=2,
        progress=False,
    )
    ex.explain(rmx.load_comparisons(HERE / "data" / "valid_pairs.jsonl"))
    ex.store.close()
    data = bytearray(path.read_bytes())
    a, b = len(data) // 3, 2 * len(data) // 3
    data[a:b] = random.Random(0).randbytes(b - a)
    path.write_bytes(bytes(data))


def _pickle_encoder(encoder: Path, dest: Path, weights: str) -> None:
    import torch
    from safetensors.torch import load_file

    shutil.copytree(encoder, dest)
    torch.save(load_file(dest / "model.safetensors"), dest / weights)
    (dest / "model.safetensors").unlink()


def test_the_corpus_has_file_faults():
    assert {c["fault"] for c in CASES} == {
        "store-full",
        "store-corrupt",
        "store-corrupt-later",
        "pickle-embedder",
    }


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_file_fault_case(case, tmp_path, monkeypatch, tiny_encoder_rm):
    samples = tmp_path / "samples.jsonl"  # '@samples': the bundled comparisons as a file
    samples.write_text(
        "".join(
            json.dumps({"prompt": c.prompt, "chosen": c.response_a, "rejected": c.response_b})
            + "\n"
            for c in rmx.sample_comparisons()
        )
    )
    given = {"@valid": str(HERE / "data" / "valid_pairs.jsonl"), "@samples": str(samples)}
    argv = [given.get(a) or a.format(tmp=tmp_path) for a in case["argv"]]
    store = tmp_path / case["store"] if "store" in case else None
    api_message = None
    fault = case["fault"]
    if fault.startswith("store-corrupt"):
        assert store is not None
        _corrupt_store(store)
        if fault == "store-corrupt-later":  # as if over the size the open check covers
            monkeypatch.setattr(store_module, "QUICK_CHECK_MAX_BYTES", 0)
        else:
            with pytest.raises(errors.StoreError, match=case["match"]) as info:
                Store(store)
            api_message = " ".join(str(info.value).split())
    before = store.read_bytes() if store is not None and store.exists() else None
    if fault == "pickle-embedder":
        _pickle_encoder(tiny_encoder_rm, tmp_path / "enc", case["weights"])
        with pytest.raises(getattr(errors, case["error"]), match=case["match"]) as info:
            TransformersEmbedder(str(tmp_path / "enc"), device="cpu").load()
        api_message = " ".join(str(info.value).split())
    if fault == "store-full":
        _cap_pages(monkeypatch, case["pages"])
    proc = _main_in_process(argv, tmp_path)
    monkeypatch.undo()
    _assert_cli_error(proc, tmp_path / "o", case, api_message)
    assert issubclass(getattr(errors, case["error"]), errors.RMXError)
    if fault == "store-full":
        s = Store(store)
        assert s.open_claims() == 0 and s.integrity_check() == "ok"
        if case.get("kept"):  # what landed before the disk filled is kept
            assert s.counts()["scores"] > 0
        s.close()
    if fault == "store-corrupt":
        assert store is not None and store.read_bytes() == before  # refused untouched
    if case["fault"] == "pickle-embedder":
        assert re.search(r"cannot load the embedding model", proc.stderr)
