"""Small local copies of the paper's public data sets, in the hub's exact formats.

``write_paper_data(root)`` writes the three data sets of ``preset="paper"`` the way the hub
stores them — HH-RLHF as ``hh-rlhf/helpful-base/test.jsonl.gz`` and
``hh-rlhf/harmless-base/test.jsonl.gz`` (``chosen`` / ``rejected`` transcripts,
``"\\n\\nHuman: …\\n\\nAssistant: …"``), HelpSteer2 as ``HelpSteer2/validation.jsonl.gz`` (one
rated response per row, the two responses of a prompt on consecutive rows) — with ``n``
comparisons each (≥ 150 for the paper's 5 × 30 disjoint seeds), plus one malformed row per
file that the loaders must skip and count. ``offline_hub`` forces the hubs offline and keeps
the ``datasets`` cache in a temporary folder, so nothing is downloaded or written elsewhere.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

H, A = "\n\nHuman:", "\n\nAssistant:"
TOPICS = ("tea", "bread", "a bike tyre", "a shelf", "rice", "a kite", "soup", "a garden bed")


def write_jsonl_gz(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path


def steps(i: int) -> tuple[int, int]:
    """How often the word "step" is in comparison ``i``'s preferred and other response: they
    differ by 1 for every third comparison and by 3 otherwise, so an RM that counts the word
    and is moved by 2 by a rewrite flips exactly on the comparisons with ``i % 3 == 0``."""
    other = i % 2
    return other + (1 if i % 3 == 0 else 3), other


def _text(topic: str, n_steps: int, i: int) -> str:
    return f"For {topic} ({i}): " + " ".join(["step"] * n_steps) + (" done." if n_steps else "?")


def hh_rows(n: int, kind: str) -> list[dict[str, str]]:
    """``n`` valid HH-RLHF rows (every fifth a two-turn dialogue; the chosen response has the
    more "step"s, see :func:`steps`), then one whose transcripts part before the final turn
    (skipped: "differ before their final Assistant turn")."""
    rows = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        ask = f"How do I make {topic}? ({kind} {i})"
        prefix = f"{H} Hi{A} Hello, how can I help?{H} {ask}" if i % 5 == 0 else f"{H} {ask}"
        good, bad = (_text(topic, k, i) for k in steps(i))
        rows.append({"chosen": f"{prefix}{A} {good}", "rejected": f"{prefix}{A} {bad}"})
    rows.append({"chosen": f"{H} q{A} a{H} q2{A} x", "rejected": f"{H} q{A} b{H} q2{A} y"})
    return rows


def helpsteer2_rows(n: int) -> list[dict[str, Any]]:
    """``n`` prompts with two rated responses each (the more helpful one, with the more
    "step"s, first in even prompts and second in odd ones), then one prompt whose responses
    tie on helpfulness (skipped)."""
    rows = []
    scores = {"correctness": 3, "coherence": 4, "complexity": 1, "verbosity": 2}
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        prompt = f"Explain how to make {topic} (prompt {i})."
        good, bad = (_text(topic, k, i) for k in steps(i))
        pair = [(good, 4), (bad, 1)] if i % 2 == 0 else [(bad, 1), (good, 3)]
        rows += [{"prompt": prompt, "response": r, "helpfulness": h, **scores} for r, h in pair]
    rows += [
        {"prompt": "Tied prompt.", "response": r, "helpfulness": 2, **scores} for r in ("x", "y")
    ]
    return rows


def write_paper_data(root: Path, n: int = 150) -> dict[str, Path]:
    """The hub layouts under ``root``; returns the sources for ``data_files=``: the HH-RLHF
    folder (a copy of the repository) for helpful, the harmless file itself, and the
    HelpSteer2 folder (a copy of its repository, with a ``train`` split beside)."""
    hh = root / "hh-rlhf"
    write_jsonl_gz(hh / "helpful-base" / "test.jsonl.gz", hh_rows(n, "helpful"))
    write_jsonl_gz(hh / "helpful-base" / "train.jsonl.gz", hh_rows(3, "train"))
    harmless = write_jsonl_gz(hh / "harmless-base" / "test.jsonl.gz", hh_rows(n, "harmless"))
    hs = root / "HelpSteer2"
    write_jsonl_gz(hs / "validation.jsonl.gz", helpsteer2_rows(n))
    write_jsonl_gz(hs / "train.jsonl.gz", helpsteer2_rows(3))
    return {"hh-rlhf-helpful": hh, "hh-rlhf-harmless": harmless, "helpsteer2": hs}


def offline_hub(monkeypatch: Any, tmp_path: Path) -> None:
    """No hub: datasets and huggingface_hub offline, their caches under ``tmp_path``."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))
