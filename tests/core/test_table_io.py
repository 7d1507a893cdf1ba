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
    pd.testing.assert_frame_equal(slim[expected.columns], expected)
    back = read_table(writer.parquet_path)
    assert back["comparison_id"].tolist() == table["comparison_id"].tolist()
    assert back["perturbed"].tolist() == table["perturbed"].tolist()
