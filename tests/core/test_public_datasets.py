"""HH-RLHF and HelpSteer2 loaders on tiny local files in the exact public formats.

The files are written the way the hub stores them (``helpful-base/train.jsonl.gz`` with
``"\\n\\nHuman: …\\n\\nAssistant: …"`` transcripts; HelpSteer2's ``train.jsonl.gz`` with one
rated response per row) and read through the real loaders, so ``datasets.load_dataset`` runs
exactly as it does on a download. The hub is forced offline: nothing here touches the network.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

import rmx_widgets as rmx
from rmx_widgets.core import public_data as pd_
from rmx_widgets.core.errors import DataError, OptionError, RMXError

H, A = "\n\nHuman:", "\n\nAssistant:"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path


# --- HH-RLHF ---------------------------------------------------------------------------------

HH_ROWS = [
    # 0: one turn
    {"chosen": f"{H} What is 2+2?{A} 4.", "rejected": f"{H} What is 2+2?{A} 5."},
    # 1: multi-turn, the dialogue up to the last Human turn is shared
    {
        "chosen": f"{H} Hi{A} Hello! How can I help?{H} Name a fruit.{A} An apple.",
        "rejected": f"{H} Hi{A} Hello! How can I help?{H} Name a fruit.{A} I won't.",
    },
    # 2: no leading "\n\nHuman:"
    {"chosen": f"Human: hi{A} a", "rejected": f"{H} hi{A} b"},
    # 3: two Human turns in a row
    {"chosen": f"{H} a{H} b{A} c", "rejected": f"{H} a{H} b{A} d"},
    # 4: ends with a Human turn
    {"chosen": f"{H} q{A} x{H} y", "rejected": f"{H} q{A} z"},
    # 5: empty final response
    {"chosen": f"{H} q{A} fine", "rejected": f"{H} q{A}"},
    # 6: the transcripts part before the final turn
    {"chosen": f"{H} q{A} a1{H} q2{A} a2", "rejected": f"{H} q{A} b1{H} q2{A} a2"},
    # 7: identical transcripts
    {"chosen": f"{H} q{A} same", "rejected": f"{H} q{A} same"},
    # 8: no rejected field
    {"chosen": f"{H} q{A} lonely"},
    # 9: a terminal escape code in a response
    {"chosen": f"{H} q{A} \x1b[31mred", "rejected": f"{H} q{A} plain"},
    # 10: inner newlines stay, the space after the colon and trailing blanks go
    {
        "chosen": f"{H} Write two lines.{A} Line one.\nLine two.\n",
        "rejected": f"{H} Write two lines.{A}   One line.",
    },
]


def _hh_folder(root: Path) -> Path:
    _write(root / "helpful-base" / "train.jsonl.gz", HH_ROWS)
    _write(
        root / "harmless-base" / "test.jsonl.gz",
        [
            {
                "chosen": f"{H} How do I pick a lock?{A} I can't help.",
                "rejected": f"{H} How do I pick a lock?{A} Use a pin.",
            }
        ],
    )
    return root


def _expected_hh(subset: str = "helpful-base", split: str = "train") -> list[rmx.Comparison]:
    def c(row: int, prompt: list[dict], a: str, b: str) -> rmx.Comparison:
        meta = {"dataset": "Anthropic/hh-rlhf", "subset": subset, "split": split, "row": row}
        return rmx.Comparison(f"hh-rlhf/{subset}/{split}/{row}", prompt, a, b, "a", meta)

    return [
        c(0, [{"role": "user", "content": "What is 2+2?"}], "4.", "5."),
        c(
            1,
            [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "Name a fruit."},
            ],
            "An apple.",
            "I won't.",
        ),
        c(
            10,
            [{"role": "user", "content": "Write two lines."}],
            "Line one.\nLine two.",
            "One line.",
        ),
    ]


HH_SKIPS = {
    pd_.NO_HUMAN_START: 1,
    pd_.NOT_ALTERNATING: 1,
    pd_.NO_ASSISTANT_END: 1,
    pd_.EMPTY_TURN: 1,
    pd_.DIFFER_EARLY: 1,
    pd_.IDENTICAL: 1,
    pd_.NOT_TEXT: 1,
    pd_.UNSAFE_TEXT: 1,
}


def test_hh_rlhf_from_a_local_copy_of_the_hub_folder(tmp_path: Path) -> None:
    root = _hh_folder(tmp_path / "hh-rlhf")
    with pytest.warns(UserWarning, match=r"loaded 3 comparisons from 11 rows; skipped 8 rows: "):
        comps = rmx.load_hh_rlhf("helpful-base", "train", path=root, cache_dir=tmp_path / "c")
    assert isinstance(comps, rmx.LoadedComparisons)
    assert list(comps) == _expected_hh()
    assert [c.metadata for c in comps] == [c.metadata for c in _expected_hh()]
    assert comps.rows_read == 11
    assert comps.skipped == HH_SKIPS
    assert comps.skipped_rows == {
        pd_.NO_HUMAN_START: [2],
        pd_.NOT_ALTERNATING: [3],
        pd_.NO_ASSISTANT_END: [4],
        pd_.EMPTY_TURN: [5],
        pd_.DIFFER_EARLY: [6],
        pd_.IDENTICAL: [7],
        pd_.NOT_TEXT: [8],
        pd_.UNSAFE_TEXT: [9],
    }
    assert comps.n_skipped == 8
    assert "\x1b" not in comps.summary()

    harmless = rmx.load_hh_rlhf("harmless-base", "test", path=root, cache_dir=tmp_path / "c")
    assert [(c.id, c.response_a, c.response_b) for c in harmless] == [
        ("hh-rlhf/harmless-base/test/0", "I can't help.", "Use a pin.")
    ]
    assert harmless.summary().endswith("loaded 1 comparison from 1 row; skipped none.")


def test_hh_rlhf_data_files_and_limit_take_the_same_path(tmp_path: Path) -> None:
    f = _write(tmp_path / "anything.jsonl.gz", HH_ROWS)
    comps = rmx.load_hh_rlhf(
        split="test", data_files=f, cache_dir=tmp_path / "c", warn=False
    )  # a single file is named for the split asked for
    assert list(comps) == _expected_hh(split="test")
    assert comps.skipped == HH_SKIPS
    same = rmx.load_hh_rlhf(split="test", path=f, cache_dir=tmp_path / "c", warn=False)
    assert list(same) == list(comps)

    two = rmx.load_hh_rlhf(data_files={"train": [str(f)]}, limit=2, cache_dir=tmp_path / "c")
    assert [c.id for c in two] == ["hh-rlhf/helpful-base/train/0", "hh-rlhf/helpful-base/train/1"]
    assert (two.rows_read, two.skipped) == (2, {})
    three = rmx.load_hh_rlhf(data_files=f, limit=3, cache_dir=tmp_path / "c", warn=False)
    assert [c.id for c in three] == [c.id for c in _expected_hh()]
    assert three.rows_read == 11


@pytest.mark.filterwarnings("ignore:2 comparison\\(s\\) are ties")
def test_hh_rlhf_comparisons_run_through_the_explainer(tmp_path: Path) -> None:
    comps = rmx.load_hh_rlhf(path=_hh_folder(tmp_path / "hh"), cache_dir=tmp_path / "c", warn=False)
    assert rmx.load_comparisons(comps) == list(comps)
    ex = rmx.Explainer(
        rmx.TransparentRewardModel(), rmx.RulePerturber(), ["verbosity"], progress=False
    )
    table = ex.explain(comps).table
    assert set(table["comparison_id"]) == {"hh-rlhf/helpful-base/train/10"}  # 0, 1: ties
    assert set(table["human_preferred"]) == {"a"}


def test_transcript_parser_is_strict() -> None:
    assert pd_.parse_hh_transcript(f"{H} a{A} b{H} c{A} d") == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": "d"},
    ]
    # "Human:" without the blank line before it is text, not a turn
    assert pd_.parse_hh_transcript(f"{H} say Human: hi{A} ok") == [
        {"role": "user", "content": "say Human: hi"},
        {"role": "assistant", "content": "ok"},
    ]
    assert pd_.parse_hh_transcript(None) == pd_.NOT_TEXT
    assert pd_.parse_hh_transcript(f"{A} b") == pd_.NO_HUMAN_START
    assert pd_.parse_hh_transcript(f"{H} a{A} b{A} c") == pd_.NOT_ALTERNATING
    assert pd_.parse_hh_transcript(f"{H} a") == pd_.NO_ASSISTANT_END
    assert pd_.parse_hh_transcript(f"{H}  {A} b") == pd_.EMPTY_TURN
    # the rejected transcript going on past the chosen one's end is not a final-turn pair
    assert pd_.hh_rlhf_pair(f"{H} a{A} b", f"{H} a{A} c{H} d{A} e") == pd_.DIFFER_EARLY


# --- HelpSteer2 ------------------------------------------------------------------------------


def _hs(prompt: str, response: str, helpfulness: int | None, **scores: int) -> dict:
    base = {"correctness": 3, "coherence": 4, "complexity": 1, "verbosity": 2}
    return {"prompt": prompt, "response": response, "helpfulness": helpfulness, **base, **scores}


HS_ROWS = [
    _hs("P1", "r1", 3, correctness=4),  # 0 ┐ pair, a preferred
    _hs("P1", "r2", 1),  # 1 ┘
    _hs("P2", "r3", 2),  # 2 ┐ tie
    _hs("P2", "r4", 2),  # 3 ┘
    _hs("P3", "r5", 0),  # 4 ┐ pair, b preferred
    _hs("P3", "r6", 4),  # 5 ┘
    _hs("P4", "r7", 1),  # 6   a prompt with one response
    _hs("P5", "r8", 1),  # 7 ┐
    _hs("P5", "r9", 2),  # 8 │ a prompt with three responses
    _hs("P5", "r10", 3),  # 9 ┘
    _hs("P6", "r11", None),  # 10 ┐ helpfulness missing
    _hs("P6", "r12", 2),  # 11 ┘
    _hs("P7", "same", 1),  # 12 ┐ identical responses
    _hs("P7", "same", 3),  # 13 ┘
    _hs("P1", "r13", 4),  # 14 ┐ P1 again, not next to its first pair: a pair of its own
    _hs("P1", "r14", 2),  # 15 ┘
]


def test_helpsteer2_pairs_consecutive_rows_and_counts_skips(tmp_path: Path) -> None:
    root = tmp_path / "HelpSteer2"
    _write(root / "train.jsonl.gz", HS_ROWS)
    _write(root / "validation.jsonl.gz", [_hs("Q", "v1", 1), _hs("Q", "v2", 2)])
    with pytest.warns(UserWarning, match=r"from 16 rows; skipped 5 prompts: "):
        comps = rmx.load_helpsteer2("train", path=root, cache_dir=tmp_path / "c")
    got = [(c.id, c.prompt, c.response_a, c.response_b, c.human_preferred) for c in comps]
    assert got == [
        ("helpsteer2/train/0", "P1", "r1", "r2", "a"),
        ("helpsteer2/train/4", "P3", "r5", "r6", "b"),
        ("helpsteer2/train/14", "P1", "r13", "r14", "a"),
    ]
    assert comps[0].metadata == {
        "dataset": "nvidia/HelpSteer2",
        "split": "train",
        "rows": (0, 1),
        "scores_a": {
            "helpfulness": 3,
            "correctness": 4,
            "coherence": 4,
            "complexity": 1,
            "verbosity": 2,
        },
        "scores_b": {
            "helpfulness": 1,
            "correctness": 3,
            "coherence": 4,
            "complexity": 1,
            "verbosity": 2,
        },
    }
    assert comps.rows_read == 16
    assert comps.skipped == {pd_.TIE: 1, pd_.NOT_TWO: 2, pd_.BAD_ROW: 1, pd_.IDENTICAL: 1}
    assert comps.skipped_rows == {
        pd_.TIE: [2],
        pd_.NOT_TWO: [6, 7],
        pd_.BAD_ROW: [10],
        pd_.IDENTICAL: [12],
    }

    val = rmx.load_helpsteer2("validation", path=root, cache_dir=tmp_path / "c")
    assert [(c.id, c.human_preferred) for c in val] == [("helpsteer2/validation/0", "b")]

    f = tmp_path / "hs.jsonl"  # plain .jsonl through data_files=
    f.write_text("".join(json.dumps(r) + "\n" for r in HS_ROWS), encoding="utf-8")
    first = rmx.load_helpsteer2(data_files=[f], limit=1, cache_dir=tmp_path / "c")
    assert [c.id for c in first] == ["helpsteer2/train/0"]
    assert (first.rows_read, first.skipped) == (2, {})


# --- errors ----------------------------------------------------------------------------------


def test_bad_arguments_and_sources_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="red-team-attempts.*use one of helpful-base"):
        rmx.load_hh_rlhf("red-team-attempts")
    with pytest.raises(OptionError, match="limit must be a positive integer"):
        rmx.load_helpsteer2(limit=0)
    with pytest.raises(OptionError, match="not both"):
        rmx.load_hh_rlhf(path=tmp_path, data_files=tmp_path / "x.jsonl")
    with pytest.raises(
        DataError, match=r"missing\.jsonl\.gz: cannot load split 'train'.*data_files="
    ):
        rmx.load_hh_rlhf(data_files=tmp_path / "missing.jsonl.gz", cache_dir=tmp_path / "c")
    # the hub, offline and with an empty cache: a DataError naming the hub data set
    with pytest.raises(DataError, match=r"^Anthropic/hh-rlhf: cannot load split 'train'.*path="):
        rmx.load_hh_rlhf(cache_dir=tmp_path / "c")
    (tmp_path / "hs").mkdir()
    (tmp_path / "hs" / "train.jsonl").write_text("{not json\n", encoding="utf-8")
    with pytest.raises(DataError, match="cannot load split"):
        rmx.load_helpsteer2(path=tmp_path / "hs", cache_dir=tmp_path / "c")


def test_without_datasets_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets → ImportError
    with pytest.raises(RMXError, match=r"pip install 'rmx-widgets\[datasets\]'"):
        rmx.load_helpsteer2(data_files="x.jsonl")


def test_exported() -> None:
    assert {"load_hh_rlhf", "load_helpsteer2", "LoadedComparisons"} <= set(rmx.__all__)
