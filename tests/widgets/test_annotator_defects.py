"""The Annotator's defects of issue 14, on the widget's state (no browser).

- "Chosen / Rejected" are the RM's preference: each example also carries the human label, the
  agreement and the rewards, and the exports have those columns.
- Export never replaces a file silently: the button writes the next free name, ``export()``
  refuses an existing path without ``force``.
- A note saved when the annotator leaves an example (the front end sends it before Next) is in
  the SQLite store, so a new kernel shows it.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.core.errors import OptionError, OutputError
from rmx_widgets.widgets import Annotator
from rmx_widgets.widgets.annotator_export import EXPORT_FIELDS

# The toy RM prefers the shorter response, always response_a here. The human agrees on the
# even comparisons and prefers the longer one on the odd ones; every fifth has no label.
HUMAN = {f"c{i}": (None if i % 5 == 4 else "a" if i % 2 == 0 else "b") for i in range(12)}


@pytest.fixture
def labelled():
    comps = [
        rmx.Comparison(
            c["id"], c["prompt"], c["response_a"], c["response_b"], human_preferred=HUMAN[c["id"]]
        )
        for c in COMPS
    ]
    return rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False).explain(comps)


def _rewards(cid: str) -> tuple[float, float]:
    c = next(c for c in COMPS if c["id"] == cid)
    return rm(None, [c["response_a"]])[0], rm(None, [c["response_b"]])[0]


def test_each_example_says_the_rm_and_the_human_preference_and_the_rewards(labelled, tmp_path):
    ann = Annotator(labelled, tmp_path / "s.sqlite", k=12)
    seen = {e["comparison_id"]: e for e in ann.examples}
    assert len(seen) >= 6  # several agreeing, disagreeing and unlabelled comparisons
    kinds = set()
    for cid, e in seen.items():
        ra, rb = _rewards(cid)  # a is shorter: the RM's choice
        assert e["rm_preferred"] == "a"
        assert e["reward_chosen"] == pytest.approx(ra) and e["reward_rejected"] == pytest.approx(rb)
        assert e["margin"] == pytest.approx(ra - rb)
        assert e["response_chosen"] == next(c for c in COMPS if c["id"] == cid)["response_a"]
        assert e["human_preferred"] == HUMAN[cid]
        expected = None if HUMAN[cid] is None else HUMAN[cid] == "a"
        assert e["rm_agrees_with_human"] is expected
        kinds.add(expected)
    assert kinds == {True, False, None}


def test_the_csv_and_jsonl_exports_carry_both_labels_and_the_agreement(labelled, tmp_path):
    ann = Annotator(labelled, tmp_path / "s.sqlite", k=12, export_dir=tmp_path)
    disagree = next(e["comparison_id"] for e in ann.examples if HUMAN[e["comparison_id"]] == "b")
    ann.save(disagree, ["RM bug"], "the human preferred the longer answer")
    ann._on_msg(ann, {"type": "export", "format": "csv"}, [])
    frame = pd.read_csv(tmp_path / "annotations.csv", keep_default_na=False)
    assert list(frame.columns) == list(EXPORT_FIELDS)
    assert {"rm_preferred", "human_preferred", "rm_agrees_with_human"} <= set(frame.columns)
    for _, row in frame.iterrows():
        human = HUMAN[row["comparison_id"]]
        assert row["rm_preferred"] == "a"
        assert row["human_preferred"] == (human or "")
        assert str(row["rm_agrees_with_human"]) == ("" if human is None else str(human == "a"))
        ra, rb = _rewards(row["comparison_id"])
        assert float(row["reward_chosen"]) == pytest.approx(ra)
        assert float(row["reward_rejected"]) == pytest.approx(rb)
    row = frame[frame.comparison_id == disagree].iloc[0]
    assert row["tags"] == "RM bug" and row["rm_agrees_with_human"] == "False"

    recs = [json.loads(x) for x in ann.export(tmp_path / "a.jsonl").read_text().splitlines()]
    by_id = {r["comparison_id"]: r for r in recs}
    assert by_id[disagree]["rm_agrees_with_human"] is False
    assert by_id[disagree]["human_preferred"] == "b" and by_id[disagree]["rm_preferred"] == "a"
    unlabelled = next(cid for cid in by_id if HUMAN[cid] is None)
    assert by_id[unlabelled]["human_preferred"] is None
    assert by_id[unlabelled]["rm_agrees_with_human"] is None


def test_the_export_button_never_replaces_an_earlier_export(labelled, tmp_path):
    ann = Annotator(labelled, tmp_path / "s.sqlite", k=3, export_dir=tmp_path)
    cid = ann.examples[0]["comparison_id"]
    ann.save(cid, ["expected"], "first")
    ann._on_msg(ann, {"type": "export", "format": "csv"}, [])
    first = (tmp_path / "annotations.csv").read_bytes()
    assert ann.status.endswith("annotations.csv")
    ann.save(cid, ["surprising"], "second")
    ann._on_msg(ann, {"type": "export", "format": "csv"}, [])
    assert (tmp_path / "annotations.csv").read_bytes() == first  # kept as it was
    second = pd.read_csv(tmp_path / "annotations-2.csv", keep_default_na=False)
    assert second[second.comparison_id == cid].iloc[0]["note"] == "second"
    assert "annotations-2.csv" in ann.status and "annotations.csv was kept" in ann.status
    ann._on_msg(ann, {"type": "export", "format": "csv"}, [])
    assert (tmp_path / "annotations-3.csv").exists()
    ann._on_msg(ann, {"type": "export", "format": "jsonl"}, [])  # its own counter
    assert (tmp_path / "annotations.jsonl").exists()
    assert not (tmp_path / "annotations-2.jsonl").exists()


def test_export_to_an_existing_path_refuses_without_force(labelled, tmp_path):
    ann = Annotator(labelled, tmp_path / "s.sqlite", k=3)
    path = ann.export(tmp_path / "out.csv")
    before = path.read_bytes()
    with pytest.raises(OutputError, match="exists; pass force=True"):
        ann.export(path)
    assert path.read_bytes() == before
    ann.save(ann.examples[0]["comparison_id"], ["x"], "changed")
    assert ann.export(path, force=True) == path
    assert b"changed" in path.read_bytes()
    mine = tmp_path / "mine.csv"  # a file rmx did not write: the same rule
    mine.write_text("keep me")
    with pytest.raises(OutputError):
        ann.export(mine)
    assert mine.read_text() == "keep me"
    with pytest.raises(OutputError, match="is the input"):
        ann.export(tmp_path / "s.sqlite", "csv", force=True)
    with pytest.raises(OptionError, match="csv or jsonl"):
        ann.export(tmp_path / "x.txt")


def test_an_export_error_is_shown_in_the_status_line(labelled, tmp_path):
    ann = Annotator(labelled, tmp_path / "s.sqlite", k=3, export_dir=tmp_path)
    ann._on_msg(ann, {"type": "export", "format": "xlsx"}, [])
    assert ann.status == "error: export format must be csv or jsonl, got 'xlsx'."
    assert list(tmp_path.glob("annotations*")) == []


def test_a_note_saved_on_leaving_an_example_survives_a_new_kernel(labelled, tmp_path):
    """What the front end sends on Next with an unsaved note: the save, then the new index."""
    store = tmp_path / "s.sqlite"
    ann = Annotator(labelled, store, k=3)
    cid = ann.examples[0]["comparison_id"]
    ann._on_msg(
        ann, {"type": "save", "comparison_id": cid, "tags": [], "note": "half a thought"}, []
    )
    ann.index = 1
    assert ann.annotations[cid]["note"] == "half a thought"
    again = Annotator(labelled, store, k=3)  # a new kernel: the store is all there is
    assert again.annotations[cid] == {
        "tags": [],
        "note": "half a thought",
        "updated": ann.annotations[cid]["updated"],
    }
