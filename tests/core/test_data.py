import json

import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.errors import DataError

MT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]


def _jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_jsonl_chosen_rejected_and_multiturn(tmp_path):
    p = _jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "x1", "prompt": "What is 2+2?", "chosen": "4.", "rejected": "5.", "src": "t"},
            {"prompt": MT, "chosen": "Hello.", "rejected": "Go away."},
        ],
    )
    comps = rmx.load_comparisons(p)
    assert next(c.id for c in comps) == "x1"
    assert comps[0].response_a == "4." and comps[0].human_preferred == "a"
    assert comps[0].metadata == {"src": "t"}
    assert comps[1].prompt == MT and len(comps[1].id) == 12
    assert comps[1].prompt_text == "System: Be brief.\n\nUser: Hi?"


def test_csv_parquet_dataframe_and_records_agree(tmp_path):
    rows = [
        {"prompt": "p1", "response_a": "a1", "response_b": "b1"},
        {"prompt": "p2", "response_a": "a2", "response_b": "b2"},
    ]
    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    loaded = [
        rmx.load_comparisons(s) for s in (tmp_path / "d.csv", tmp_path / "d.parquet", frame, rows)
    ]
    assert all(x == loaded[0] for x in loaded)
    assert loaded[0][0].human_preferred is None


def test_csv_multiturn_prompt_as_json_cell(tmp_path):
    pd.DataFrame([{"prompt": json.dumps(MT), "chosen": "a", "rejected": "b"}]).to_csv(
        tmp_path / "m.csv", index=False
    )
    assert rmx.load_comparisons(tmp_path / "m.csv")[0].prompt == MT


def test_hf_dataset_with_mapping():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"q": ["p1", "p2"], "good": ["g1", "g2"], "bad": ["b1", "b2"]})
    comps = rmx.load_comparisons(ds, mapping={"prompt": "q", "chosen": "good", "rejected": "bad"})
    assert [(c.prompt, c.response_a, c.response_b) for c in comps] == [
        ("p1", "g1", "b1"),
        ("p2", "g2", "b2"),
    ]
    dd = datasets.DatasetDict({"train": ds})
    with pytest.raises(DataError, match="split"):
        rmx.load_comparisons(dd, mapping={"prompt": "q", "chosen": "good", "rejected": "bad"})
    assert (
        len(
            rmx.load_comparisons(
                dd, split="train", mapping={"prompt": "q", "chosen": "good", "rejected": "bad"}
            )
        )
        == 2
    )


@pytest.mark.parametrize(
    "lines, match, row, field",
    [
        (
            ['{"prompt": "p", "chosen": "a", "rejected": "b"}', '{"prompt": "p", "chosen": '],
            "not valid JSON",
            2,
            None,
        ),
        (
            ['{"prompt": "p", "chosen": "a", "rejectd": "b"}'],
            "missing.*'rejectd' → 'rejected'",
            1,
            "rejected",
        ),
        (
            ['{"prompt": "p", "chosen": 3, "rejected": "b"}'],
            "must be a string, got int",
            1,
            "chosen",
        ),
        (['{"prompt": "p", "chosen": "   ", "rejected": "b"}'], "empty or whitespace", 1, "chosen"),
        (['{"prompt": "", "chosen": "a", "rejected": "b"}'], "prompt is empty", 1, "prompt"),
        (
            ['{"prompt": [{"role": "user"}], "chosen": "a", "rejected": "b"}'],
            "'role' and 'content'",
            1,
            "prompt",
        ),
        (
            ['{"prompt": [{"role": "bot", "content": "x"}], "chosen": "a", "rejected": "b"}'],
            "role 'bot'",
            1,
            "prompt",
        ),
        (
            ['{"prompt": "p", "chosen": "a\\u0000b", "rejected": "b"}'],
            "control character",
            1,
            "chosen",
        ),
        (
            [
                '{"id": "1", "prompt": "p", "chosen": "a", "rejected": "b"}',
                '{"id": "1", "prompt": "q", "chosen": "a", "rejected": "b"}',
            ],
            "duplicate",
            2,
            "id",
        ),
        (['{"foo": 1}'], "needs the fields", 1, None),
    ],
)
def test_bad_jsonl_names_file_row_field(tmp_path, lines, match, row, field):
    p = _jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(DataError, match=match) as e:
        rmx.load_comparisons(p)
    assert e.value.row == row and e.value.field == field and str(p) in str(e.value)


def test_empty_invalid_utf8_and_unknown_extension(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match="is empty"):
        rmx.load_comparisons(tmp_path / "e.jsonl")
    (tmp_path / "u.jsonl").write_bytes(
        b'{"prompt": "ok", "chosen": "a", "rejected": "b"}\n{"prompt": "\xff"}\n'
    )
    with pytest.raises(DataError, match="UTF-8") as e:
        rmx.load_comparisons(tmp_path / "u.jsonl")
    assert e.value.row == 2
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(DataError, match="unsupported extension"):
        rmx.load_comparisons(tmp_path / "d.txt")
    with pytest.raises(DataError, match="no such file"):
        rmx.load_comparisons(tmp_path / "missing.jsonl")


def test_prompt_ending_with_assistant_is_rejected():
    with pytest.raises(DataError, match="last message is from the assistant"):
        rmx.load_comparisons(
            [
                {
                    "prompt": [
                        {"role": "user", "content": "a"},
                        {"role": "assistant", "content": "b"},
                    ],
                    "chosen": "x",
                    "rejected": "y",
                }
            ]
        )


@pytest.mark.parametrize(
    ("kwargs", "field", "what"),
    [
        ({"response_a": "half \ud83d"}, "response_a", "unpaired surrogate"),
        ({"response_b": "nul \x00"}, "response_b", "control character"),
        ({"prompt": [{"role": "user", "content": "esc \x1b[2J"}]}, "prompt", "control character"),
    ],
)
def test_comparison_objects_get_the_text_checks(kwargs, field, what):
    """Comparison objects built in Python skipped validation, so a lone surrogate crashed the
    store (UnicodeEncodeError) mid-run; now it is a DataError naming row and field."""
    base = {"id": "c1", "prompt": "Q?", "response_a": "one", "response_b": "two"}
    good = rmx.Comparison(**base)
    bad = rmx.Comparison(**{**base, "id": "c2", **kwargs})
    with pytest.raises(DataError, match=rf"comparisons, row 1, field '{field}': .*{what}"):
        rmx.load_comparisons([good, bad])
    ex = rmx.Explainer(lambda p, r: [0.0] * len(r), lambda p, r, a, d: r + "!", progress=False)
    with pytest.raises(DataError, match=rf"row 0, field '{field}'"):
        ex.explain(bad)
    assert rmx.load_comparisons([good]) == [good]


def test_text_problem_and_safe_text():
    from rmx_widgets.core.data import safe_text, text_problem

    assert text_problem("tabs\tand\nnewlines\r fine, émoji 🔥") is None
    assert text_problem("ok \ud83d") == (
        "a lone surrogate at character 3 (U+D83D), which cannot be stored as UTF-8"
    )
    assert text_problem("\x7f") == "a control character at character 0 (U+007F, DEL)"
    assert safe_text("a\x1b[31m \x9b \udd25\n é") == "a\\x1b[31m \\x9b \\udd25\\n é"
