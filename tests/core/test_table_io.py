"""Streamed runs: explain_to writes the same table as explain + save, without keeping texts."""

import pandas as pd

import rmx_widgets as rmx


def _explainer(store):
    return rmx.Explainer(
        rmx.TransparentRewardModel(),
        rmx.RulePerturber(),
        attributes=["verbosity", "avoid-to-answer", "manner"],
        store=store,
        batch_size=4,
        progress=False,
    )


def test_explain_to_equals_explain_and_save(tmp_path):
    comps = rmx.sample_comparisons()[:12]
    result = _explainer(tmp_path / "a.sqlite").explain(comps)
    paths = result.save(tmp_path / "saved")
    run = _explainer(tmp_path / "b.sqlite").explain_to(comps, tmp_path / "streamed")
    saved = pd.read_parquet(paths["table_parquet"])
    streamed = pd.read_parquet(run.paths["table_parquet"])
    pd.testing.assert_frame_equal(streamed, saved)
    # Parquet hands an all-<NA> nullable boolean (``valid`` without a judge) back as objects
    pd.testing.assert_frame_equal(
        saved.astype({"valid": "boolean"}), result.table, check_dtype=False
    )
    jsonl = pd.read_json(run.paths["table_jsonl"], lines=True)
    assert len(jsonl) == len(result.table)
    pd.testing.assert_frame_equal(run.sensitivity, result.sensitivity())
    assert (
        run.summary["rows"] == len(result.table)
        and run.summary["cf"] == (result.table.outcome == "CF").sum()
    )
    report = run.paths["report"].read_text()
    assert "Representative examples" in report
    # the report's examples carry their texts although the run kept none in memory
    shown = [c for c in comps if c.id in report]
    assert shown and any(c.response_a[:30] in report or c.response_b[:30] in report for c in shown)
    assert not list((tmp_path / "streamed").glob("*.partial"))


def test_failed_run_leaves_no_partial_table(tmp_path):
    calls = {"n": 0}

    def rm(prompts, responses):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("GPU fell off the bus")
        return [float(len(r)) for r in responses]

    ex = rmx.Explainer(
        rm, rmx.RulePerturber(), attributes=["verbosity"], batch_size=1, progress=False
    )
    try:
        ex.explain_to(rmx.sample_comparisons()[:6], tmp_path / "out")
    except RuntimeError:
        pass
    else:
        raise AssertionError("the RM error should propagate")
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert not names & {
        "table.parquet",
        "table.jsonl",
        "table.parquet.partial",
        "table.jsonl.partial",
        "report.html",
    }


def test_a_table_of_many_batches_is_compacted_in_blocks_and_comes_back_whole(tmp_path):
    from rmx_widgets.core.table_io import TEXT_COLUMNS, TableWriter, read_table

    table = _explainer(tmp_path / "s.sqlite").explain(rmx.sample_comparisons()[:24]).table
    writer = TableWriter(tmp_path / "out")
    for i in range(len(table)):  # one row a batch: two blocks of 64 batches, then the rest
        writer.write(table.iloc[i : i + 1].reset_index(drop=True))
    writer.close()
    assert len(table) > 2 * 64 and len(writer._blocks) == len(table) // 64
    slim = writer.slim_table()
    assert len(writer._blocks) == 1 and writer._slim == []  # one copy kept afterwards
    expected = table.drop(columns=list(TEXT_COLUMNS))
    pd.testing.assert_frame_equal(_plain(slim[expected.columns]), expected)
    back = read_table(writer.parquet_path)
    assert back["comparison_id"].tolist() == table["comparison_id"].tolist()
    assert back["perturbed"].tolist() == table["perturbed"].tolist()


def _plain(frame):
    """``frame`` with its categorical columns back as their categories' dtype."""
    return frame.astype(
        {c: frame[c].cat.categories.dtype for c in frame if frame[c].dtype == "category"}
    )


def _hand_frame(start, n):
    """n rows numbered from ``start``: texts, repeated labels and a number."""
    ids = [f"c{(start + i) // 8}" for i in range(n)]
    return pd.DataFrame(
        {
            "comparison_id": ids,
            "prompt": [f"prompt of {c}" for c in ids],
            "attribute": ["verbosity" if (start + i) % 2 else "manner" for i in range(n)],
            "original": [f"original {start + i}" for i in range(n)],
            "perturbed": [f"rewrite {start + i} " + "x" * 50 for i in range(n)],
            "outcome": ["CF" if (start + i) % 3 == 0 else "SF" for i in range(n)],
            "margin_before": [float(start + i) for i in range(n)],
        }
    )


def test_parquet_row_groups_gather_batches_and_skip_text_statistics(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from rmx_widgets.core import table_io

    monkeypatch.setattr(table_io, "ROW_GROUP_ROWS", 50)
    frames = [_hand_frame(start, 20) for start in range(0, 140, 20)]  # 7 batches, 140 rows
    frames.append(_hand_frame(140, 0))  # an empty batch changes nothing
    writer = table_io.TableWriter(tmp_path)
    for f in frames:
        writer.write(f)
    writer.close()
    meta = pq.ParquetFile(writer.parquet_path).metadata
    # a row group is written once 50 rows are buffered: 3 batches (60 rows), 3 more, the rest
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [60, 60, 20]
    names = [meta.schema.column(j).name for j in range(meta.num_columns)]
    first = meta.row_group(0)
    stats = {names[j]: first.column(j).is_stats_set for j in range(meta.num_columns)}
    assert stats == {
        "comparison_id": True,
        "prompt": False,
        "attribute": True,
        "original": False,
        "perturbed": False,
        "outcome": True,
        "margin_before": True,
    }
    assert first.column(0).statistics.min == "c0" and first.column(0).statistics.max == "c7"
    whole = pd.concat(frames[:-1], ignore_index=True)
    pd.testing.assert_frame_equal(pd.read_parquet(writer.parquet_path), whole)
    back = pd.read_json(writer.jsonl_path, lines=True)  # (JSON gives 1.0 back as 1)
    pd.testing.assert_frame_equal(back, whole, check_dtype=False)
    # the report's examples are still read back by comparison id
    assert writer.rows_for(["c3"])["perturbed"].tolist() == [
        f"rewrite {i} " + "x" * 50 for i in range(24, 32)
    ]


def test_a_run_smaller_than_a_row_group_is_one_row_group_and_empty_runs_stay_valid(tmp_path):
    import pyarrow.parquet as pq

    from rmx_widgets.core.table_io import TableWriter

    writer = TableWriter(tmp_path / "small")
    writer.write(_hand_frame(0, 5))
    writer.write(_hand_frame(5, 3))
    writer.close()
    assert pq.ParquetFile(writer.parquet_path).metadata.num_row_groups == 1
    assert pd.read_parquet(writer.parquet_path)["margin_before"].tolist() == list(
        map(float, range(8))
    )
    empty = TableWriter(tmp_path / "empty")
    empty.close(empty_columns=["comparison_id", "attribute"])
    assert list(pd.read_parquet(empty.parquet_path).columns) == ["comparison_id", "attribute"]


def test_the_slim_table_holds_repeated_texts_as_categoricals_with_the_same_values(tmp_path):
    from rmx_widgets.core.table_io import TableWriter

    frames = [_hand_frame(start, 2) for start in range(0, 200, 2)]  # 100 batches: a block + 36
    writer = TableWriter(tmp_path)
    for f in frames:
        writer.write(f)
    writer.close()
    assert len(writer._blocks) == 1 and len(writer._slim) == 36
    slim = writer.slim_table()
    for column in ("comparison_id", "attribute", "outcome"):
        assert slim[column].dtype == "category"
    # 200 rows of 8 per comparison: 25 ids, united across the two blocks' own categories
    assert len(slim["comparison_id"].cat.categories) == 25
    assert sorted(slim["attribute"].cat.categories) == ["manner", "verbosity"]
    assert slim["margin_before"].dtype == "float64"
    whole = pd.concat(frames, ignore_index=True).drop(columns=["prompt", "original", "perturbed"])
    assert slim["original_words"].tolist() == [2] * 200  # "original 17": two words
    pd.testing.assert_frame_equal(_plain(slim).drop(columns=["original_words"]), whole)
    assert slim["outcome"].tolist()[:4] == ["CF", "SF", "SF", "CF"]
    # every row costs a code, not a string: under half of the plain columns' memory
    labels = ["comparison_id", "attribute", "outcome"]
    used = slim[labels].memory_usage(deep=True, index=False).sum()
    assert used < 0.5 * whole[labels].memory_usage(deep=True, index=False).sum()


def test_blocks_with_different_columns_are_joined_as_plain_values():
    from rmx_widgets.core.table_io import _compact, _concat_blocks

    a = _compact([_hand_frame(0, 3)])
    b = _compact([_hand_frame(3, 2).assign(extra=["x", "y"])])
    joined = _concat_blocks([a, b])
    assert joined["attribute"].tolist() == ["manner", "verbosity", "manner", "verbosity", "manner"]
    assert joined["attribute"].dtype == pd.StringDtype(na_value=float("nan"))
    assert joined["extra"].isna().tolist() == [True, True, True, False, False]
