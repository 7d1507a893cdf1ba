"""The API key never reaches disk: not the store (nor its WAL), the tables, the report, the
summary, the Annotator's exports or a notebook saved with widget state.

The key is a fresh random value, so any occurrence in a file can only have come from this run.
A positive control proves the key really went over the wire and that the scan finds it.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import nbformat
import pytest
from test_faults import FaultyLLMServer

import rmx_widgets as rmx


def _files_containing(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits += [
            f"{path.relative_to(root)} ({needle[:12]!r}...)" for needle in needles if needle in data
        ]
    return hits


def _needles(key: str) -> list[bytes]:
    raw = key.encode()
    # the key itself, and base64 at each of the three alignments (widget buffers, data URIs)
    b64 = [base64.b64encode(b"x" * k + raw)[4:-4] for k in range(3)]
    return [raw, raw.hex().encode(), *b64]


def test_api_key_is_written_nowhere(tmp_path, monkeypatch):
    key = f"sk-rmx-test-{secrets.token_hex(16)}"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    root = tmp_path / "project"
    out = root / "run"
    comps = rmx.sample_comparisons()[:8]
    with FaultyLLMServer() as server:
        # one request gets a 400 whose body echoes the Authorization header (some proxies do);
        # its failure reason is stored, so the key must be masked in it
        server.script(comps[0].response_a[:40], ["echo_key"] * 10)
        pert = rmx.OpenAIPerturber("fake-model", base_url=server.url, backoff_base=0.01)
        ex = rmx.Explainer(
            rmx.TransparentRewardModel(),
            pert,
            attributes=["verbosity", "manner", "avoid-to-answer"],
            store=root / "store.sqlite",
            progress=False,
        )
        result = ex.explain(comps)
        assert server.requests[0].headers["authorization"] == f"Bearer {key}"  # used, not lost
        echoed = [r for r in server.requests if r.behaviour == "echo_key"]
        assert echoed, "the echoing request was not sent"

        result.save(out)  # table (Parquet + JSONL), originals, sensitivity, summary, report

        from rmx_widgets.widgets import Annotator, Explorer

        annotator = Annotator(result, ex.store, k=3, export_dir=out)
        first = annotator.examples[0]["comparison_id"]
        annotator.save(first, ["surprising"], "looked at it")
        annotator.export(out / "annotations.csv")
        annotator.export(out / "annotations.jsonl")

        explorer = Explorer(ex, comps)
        explorer.run()
        assert explorer.wait(timeout=60) is not None and explorer.error is None

    failed = result.table[result.table["failure_reason"].fillna("").str.contains("you sent")]
    assert len(failed) and failed["failure_reason"].str.contains(r"Bearer \*\*\*").all()

    # a notebook saved with widget state, as JupyterLab's "save widget state" writes it
    import ipywidgets
    from ipywidgets.embed import embed_minimal_html

    state = ipywidgets.Widget.get_manager_state(drop_defaults=False)
    assert len(state["state"]) > 5
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("explorer")]
    nb.cells[0].outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "application/vnd.jupyter.widget-view+json": {
                    "version_major": 2,
                    "version_minor": 0,
                    "model_id": explorer.model_id,
                }
            },
        )
    ]
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": json.loads(
            json.dumps(state, default=lambda b: base64.b64encode(bytes(b)).decode())
        )
    }
    nbformat.write(nb, str(root / "analysis.ipynb"))
    embed_minimal_html(str(root / "widgets.html"), views=[explorer, annotator])

    written = sorted(p.name for p in root.rglob("*") if p.is_file())
    for name in (
        "store.sqlite",
        "table.parquet",
        "table.jsonl",
        "report.html",
        "summary.json",
        "annotations.csv",
        "annotations.jsonl",
        "analysis.ipynb",
        "widgets.html",
    ):
        assert name in written, written
    text = (root / "analysis.ipynb").read_text()
    assert first in text and "surprising" in (out / "annotations.csv").read_text()

    # while the store is open its WAL holds recent pages: scan now, and after closing
    assert _files_containing(root, _needles(key)) == []
    ex.store.close()
    annotator.store.close()
    assert _files_containing(root, _needles(key)) == []

    # positive control: the scan does find the key where it is
    (tmp_path / "control").mkdir()
    (tmp_path / "control" / "leak.bin").write_bytes(
        b"\x00" + base64.b64encode(b"{" + key.encode() + b"}") + b"\x00"
    )
    (tmp_path / "control" / "plain.txt").write_text(f"token={key}")
    assert len(_files_containing(tmp_path / "control", _needles(key))) == 2


def test_key_never_in_identity_repr_or_errors(monkeypatch):
    key = f"sk-rmx-test-{secrets.token_hex(16)}"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    with FaultyLLMServer() as server:
        server.default = "echo_key"
        pert = rmx.OpenAIPerturber("m", base_url=server.url, max_retries=0)
        from rmx_widgets.core.attributes import get_attribute
        from rmx_widgets.core.perturbers.base import PerturbationRequest

        out = pert.perturb_batch(
            [PerturbationRequest("Q?", "An answer.", get_attribute("verbosity"), "worse")]
        )
        assert "you sent Bearer ***" in out[0].failure and key not in out[0].failure
        server.default = "401"
        with pytest.raises(rmx.errors.AuthenticationError) as info:
            pert.perturb_batch(
                [PerturbationRequest("Q?", "An answer.", get_attribute("verbosity"), "worse")]
            )
    for text in (str(info.value), pert.identity, repr(pert), json.dumps(pert.stats)):
        assert key not in text


# -- every encoding, and a key straddling the cut -----------------------------------------


def _fragments(key: str, width: int = 8) -> list[str]:
    """Every ``width``-character run of the key in the encodings a server might echo it in."""
    from urllib.parse import quote, quote_plus

    raw = key.encode()
    forms = [key, quote(key, safe=""), quote_plus(key), raw.hex(), raw.hex().upper()]
    forms += ["".join(f"%{b:02X}" for b in raw), "".join(f"\\u{ord(c):04x}" for c in key)]
    forms += [key.upper(), key.lower()]
    forms += [base64.b64encode(b"x" * k + raw).decode()[4:-4] for k in range(3)]
    return [f[i : i + width] for f in forms for i in range(len(f) - width + 1)]


@pytest.mark.parametrize(
    "behaviour",
    [
        "echo_straddle",
        "echo_urlenc",
        "echo_pct",
        "echo_b64",
        "echo_hex",
        "echo_json",
        "echo_upper",
    ],
)
def test_echoed_key_is_masked_in_every_encoding(behaviour, monkeypatch):
    """Before: a key straddling the 200-character cut left 14 characters behind, and URL-,
    base64-, hex-, \\u-encoded or upper-cased echoes were not masked at all."""
    from hostile_llm_server import HostileLLMServer

    from rmx_widgets.core.attributes import get_attribute
    from rmx_widgets.core.perturbers.base import PerturbationRequest

    # '+', '/', '=' and '~' change under URL encoding
    key = f"sk-{secrets.token_urlsafe(12)}+/={secrets.token_hex(8)}~"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    with HostileLLMServer() as server:
        server.default = behaviour
        pert = rmx.OpenAIPerturber("m", base_url=server.url, max_retries=0)
        out = pert.perturb_batch(
            [PerturbationRequest("Q?", "An answer.", get_attribute("verbosity"), "worse")]
        )
    failure = out[0].failure
    assert failure.startswith("HTTP 400") and "***" in failure, failure
    leaked = [f for f in _fragments(key) if f.lower() in failure.lower()]
    assert leaked == [], (failure, leaked)


def test_mask_first_then_cut():
    from rmx_widgets.core.perturbers.http_guard import clip, mask_key

    key = f"sk-{secrets.token_hex(20)}"
    text = "x" * 186 + key + " tail"
    assert key[:14] not in clip(text, key) and clip(text, key).endswith("x*** tail")
    assert len(clip("y" * 5000, key)) == 203  # 200 characters and an ellipsis
    assert mask_key(f"a {key[5:17]} b", key) == "a *** b"  # any 8+ character run of it
    assert mask_key(f"a {key[5:12]} b", key) == f"a {key[5:12]} b"  # 7 say nothing
    assert mask_key("plain text", key) == "plain text" and mask_key("abc", None) == "abc"
