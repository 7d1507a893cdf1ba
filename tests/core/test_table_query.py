"""core.table_query: pages, sorts, filters and request validation, expected values by hand."""

import math

import pandas as pd
import pytest

from rmx_widgets.core.errors import OutputError
from rmx_widgets.core.table_query import (
    COLUMNS,
    MAX_PAGE_SIZE,
    MAX_SEARCH_CHARS,
    QueryError,
    RangeFilter,
    TableIndex,
    TableQuery,
    export_rows,
    extra_columns,
    parse_page,
    parse_query,
    table_columns,
)


def _table() -> pd.DataFrame:
    # margin_change by hand: -2.0, -0.5, NaN (failed), +1.0, -3.0
    return pd.DataFrame(
        {
            "comparison_id": ["c1", "c1", "c2", "c3", "c3"],
            "attribute": ["verbosity", "clarity", "verbosity", "clarity", "verbosity"],
            "side": ["chosen", "rejected", "chosen", "rejected", "chosen"],
            "direction": ["worse", "better", "worse", "better", "worse"],
            "outcome": ["CF", "SF", "failed", "SF", "CF"],
            "margin_before": [1.0, 2.0, 3.0, 0.5, 2.0],
            "margin_after": [-1.0, 1.5, math.nan, 1.5, -1.0],
            "syntactic_distance": [0.2, 0.5, math.nan, 0.1, 0.9],
            "length_change": [5.0, -3.0, math.nan, 0.0, 12.0],
            "valid": pd.array([True, False, pd.NA, True, pd.NA], dtype="boolean"),
            "perturbed": ["Longer ANSWER", "short", None, "clear text", "<script>x</script>"],
            "failure_reason": [None, None, "unparseable", None, None],
        }
    )


def _ids(index: TableIndex, q: TableQuery, page: int = 1, size: int = 10) -> list[int]:
    return list(index.page(q, page, size).rows.index)


def test_unsorted_pages_cut_in_table_order_with_total_and_last_page():
    index = TableIndex(_table())
    p = index.page(TableQuery(), 2, 2)
    assert list(p.rows.index) == [2, 3]
    assert (p.total, p.last_page, p.page) == (5, 3, 2)
    last = index.page(TableQuery(), 3, 2)
    assert list(last.rows.index) == [4]
    assert index.page(TableQuery(), 99, 2).page == 3  # past the end: the last page


def test_margin_change_is_after_minus_before():
    changes = TableIndex(_table()).table["margin_change"].tolist()
    assert changes[:2] == [-2.0, -0.5] and math.isnan(changes[2]) and changes[3:] == [1.0, -3.0]


def test_sort_ascending_and_descending_keep_missing_last():
    index = TableIndex(_table())
    asc = TableQuery(sort=(("margin_change", "asc"),))
    desc = TableQuery(sort=(("margin_change", "desc"),))
    assert _ids(index, asc) == [4, 0, 1, 3, 2]
    assert _ids(index, desc) == [3, 1, 0, 4, 2]
    # text: by value, missing last in either direction
    assert _ids(index, TableQuery(sort=(("failure_reason", "desc"),))) == [2, 0, 1, 3, 4]
    assert _ids(index, TableQuery(sort=(("perturbed", "asc"),))) == [4, 0, 3, 1, 2]


def test_multi_column_sort_first_key_most_significant_ties_by_row_id():
    index = TableIndex(_table())
    q = TableQuery(sort=(("attribute", "asc"), ("margin_before", "desc")))
    # clarity: rows 1 (2.0), 3 (0.5); verbosity: 2 (3.0), 4 (2.0), 0 (1.0)
    assert _ids(index, q) == [1, 3, 2, 4, 0]
    ties = TableQuery(sort=(("outcome", "asc"),))  # CF: 0, 4; SF: 1, 3; failed: 2
    assert _ids(index, ties) == [0, 4, 1, 3, 2]


def test_sort_by_validity_puts_unjudged_last():
    q = TableQuery(sort=(("valid", "desc"),))
    assert _ids(TableIndex(_table()), q) == [0, 3, 1, 2, 4]


def test_filters_attribute_side_outcome_validity():
    index = TableIndex(_table())
    assert _ids(index, TableQuery(attribute="verbosity")) == [0, 2, 4]
    assert _ids(index, TableQuery(side="rejected")) == [1, 3]
    assert _ids(index, TableQuery(outcome="CF")) == [0, 4]
    assert _ids(index, TableQuery(validity="valid")) == [0, 3]
    assert _ids(index, TableQuery(validity="invalid")) == [1]
    assert _ids(index, TableQuery(validity="unjudged")) == [2, 4]
    assert _ids(index, TableQuery(attribute="verbosity", outcome="CF", side="chosen")) == [0, 4]


def test_range_filters_are_inclusive_and_drop_missing_values():
    index = TableIndex(_table())
    q = TableQuery(ranges=(RangeFilter("margin_change", -2.0, 1.0),))
    assert _ids(index, q) == [0, 1, 3]
    assert _ids(index, TableQuery(ranges=(RangeFilter("length_change", low=0.0),))) == [0, 3, 4]
    assert _ids(index, TableQuery(ranges=(RangeFilter("syntactic_distance", high=0.2),))) == [0, 3]


def test_search_is_case_insensitive_substring_over_ids_attributes_texts():
    index = TableIndex(_table())
    assert _ids(index, TableQuery(search="answer")) == [0]
    assert _ids(index, TableQuery(search="c3")) == [3, 4]
    assert _ids(index, TableQuery(search="UNPARSE")) == [2]
    assert _ids(index, TableQuery(search="<script>")) == [4]  # literal, not a pattern
    assert _ids(index, TableQuery(search="(")) == []


def test_search_matches_unicode_case_object_and_number_columns_like_python_lower():
    """The Arrow search (no lower-cased copy) finds what ``str.lower() in`` finds, whatever the
    columns' dtypes: pandas strings, plain objects, integer ids, a missing text column."""
    texts = ["École NORMALE", "naïve Straße", None, "plain", "ÉCOLE again", "ΩMEGA greek"]
    base = pd.DataFrame(
        {
            "comparison_id": [10, 11, 12, 13, 14, 15],  # integers: searched as their text
            "attribute": ["a", "b", "c", "d", "e", "f"],
            "perturbed": texts,
        }
    )
    for perturbed in (pd.Series(texts, dtype=object), pd.Series(texts, dtype="string")):
        index = TableIndex(base.assign(perturbed=perturbed))
        for needle in ("école", "ÉCOLE", "STRASSE", "straße", "ωmeg", "12", "1", "e n", "Ée"):
            expected = [
                i
                for i, row in base.iterrows()
                if any(
                    needle.lower() in str(row[c]).lower() for c in row.index if row[c] is not None
                )
            ]
            assert _ids(index, TableQuery(search=needle)) == expected, needle


def test_empty_result_and_one_row_pages():
    index = TableIndex(_table())
    empty = index.page(TableQuery(attribute="nothing"), 1, 10)
    assert (len(empty.rows), empty.total, empty.last_page, empty.page) == (0, 0, 1, 1)
    one = index.page(TableQuery(outcome="failed"), 1, 10)
    assert (list(one.rows.index), one.total, one.last_page) == ([2], 1, 1)
    single = TableIndex(_table().iloc[[3]])
    assert list(single.page(TableQuery(sort=(("margin_change", "desc"),)), 1, 1).rows.index) == [3]
    assert TableIndex(pd.DataFrame()).page(TableQuery(search="x"), 1, 5).total == 0


def test_parse_query_reads_the_documented_shape():
    q = parse_query(
        {
            "sort": [
                {"column": "margin_change", "dir": "desc"},
                {"column": "attribute", "dir": "asc"},
            ],
            "search": "  Verbose ",
            "filters": {
                "attribute": "verbosity",
                "side": "chosen",
                "outcome": "CF",
                "validity": "valid",
                "ranges": [{"column": "length_change", "low": -1, "high": None}],
            },
        }
    )
    assert q == TableQuery(
        sort=(("margin_change", "desc"), ("attribute", "asc")),
        search="Verbose",
        attribute="verbosity",
        side="chosen",
        outcome="CF",
        validity="valid",
        ranges=(RangeFilter("length_change", -1.0, None),),
    )
    assert parse_query({}) == TableQuery()


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"sort": [{"column": "prompt", "dir": "asc"}]}, "sort[0].column"),
        ({"sort": [{"column": "outcome", "dir": "up"}]}, "sort[0].dir"),
        ({"sort": [{"column": "outcome"}, {"column": "outcome"}]}, "twice"),
        ({"sort": "outcome"}, "must be a list"),
        ({"sort": [{"column": "outcome"}] * 5}, "at most 4"),
        ({"search": 3}, "search must be text"),
        ({"search": "x" * (MAX_SEARCH_CHARS + 1)}, "at most 200"),
        ({"filters": {"side": "both"}}, "filters.side"),
        ({"filters": {"outcome": None}}, "filters.outcome"),
        ({"filters": {"validity": "yes"}}, "filters.validity"),
        ({"filters": {"colour": "red"}}, "unknown field"),
        ({"filters": {"ranges": [{"column": "perturbed", "low": 1}]}}, "ranges[0].column"),
        ({"filters": {"ranges": [{"column": "margin_change", "low": "1"}]}}, "finite number"),
        ({"filters": {"ranges": [{"column": "margin_change", "low": float("nan")}]}}, "finite"),
        ({"filters": {"ranges": [{"column": "margin_change", "low": True}]}}, "finite"),
        ({"filters": {"ranges": [{"column": "margin_change", "low": 2, "high": 1}]}}, "above"),
        ({"extra": 1}, "unknown field"),
        ([], "must be an object"),
    ],
)
def test_parse_query_refuses_anything_else_with_one_line(raw, words):
    with pytest.raises(QueryError) as e:
        parse_query(raw)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_parse_page_bounds():
    assert parse_page(3, 50) == (3, 50)
    for page, size in [(0, 10), (1, 0), (1, MAX_PAGE_SIZE + 1), (1.5, 10), ("1", 10), (True, 10)]:
        with pytest.raises(QueryError):
            parse_page(page, size)


def test_matching_is_cached_per_query():
    index = TableIndex(_table())
    q = TableQuery(sort=(("margin_change", "asc"),))
    assert index.positions(q) is index.positions(q)
    assert list(index.positions(q)) == [4, 0, 1, 3, 2]


def test_export_writes_csv_and_parquet_and_never_overwrites(tmp_path):
    index = TableIndex(_table())
    rows = index.matching(TableQuery(outcome="CF"))
    csv_path = export_rows(rows, tmp_path / "cf.csv")
    back = pd.read_csv(csv_path)
    assert back["row_id"].tolist() == [0, 4] and back["margin_change"].tolist() == [-2.0, -3.0]
    assert back["perturbed"].tolist()[1] == "<script>x</script>"
    pq_path = export_rows(rows, tmp_path / "cf.parquet")
    assert pd.read_parquet(pq_path)["row_id"].tolist() == [0, 4]
    with pytest.raises(OutputError, match="exists"):
        export_rows(rows, csv_path)
    export_rows(index.matching(TableQuery(outcome="SF")), csv_path, force=True)
    assert pd.read_csv(csv_path)["row_id"].tolist() == [1, 3]
    with pytest.raises(QueryError, match="csv or parquet"):
        export_rows(rows, tmp_path / "cf.xlsx")


def _sliced() -> pd.DataFrame:
    """_table() with the input's domain (c2 has none) and one objective's change (NaN for the
    failed rewrite), as an explanation table carries them."""
    t = _table()
    t["slice.domain"] = pd.Series(["math", "math", None, "Chat", "code"]).astype("str")
    t["objective.helpfulness.delta"] = [0.5, -0.25, math.nan, 2.0, -1.0]
    t["objective.helpfulness"] = [1.0] * 5  # not a delta column: not a column of the page
    t["slice."] = ["x"] * 5  # no field name: not a slice
    return t


def test_a_table_s_slices_and_objective_deltas_are_its_own_columns():
    index = TableIndex(_sliced())
    assert list(index.columns)[: len(COLUMNS)] == list(COLUMNS)
    assert extra_columns(index.columns) == {
        "slice.domain": "text",
        "objective.helpfulness.delta": "number",
    }
    assert table_columns(_table()) == COLUMNS  # a table without them has the fixed ones


def test_slice_columns_sort_as_text_and_are_searched():
    index = TableIndex(_sliced())
    up = index.parse({"sort": [{"column": "slice.domain", "dir": "asc"}]})
    # by hand: Chat < code < math (code points: upper case first), ties by row id, missing last
    assert _ids(index, up) == [3, 4, 0, 1, 2]
    down = index.parse({"sort": [{"column": "slice.domain", "dir": "desc"}]})
    assert _ids(index, down) == [0, 1, 4, 3, 2]
    assert _ids(index, index.parse({"search": "MATH"})) == [0, 1]  # case-insensitive
    assert _ids(index, index.parse({"search": "chat"})) == [3]


def test_objective_deltas_sort_and_range_filter_as_numbers():
    index = TableIndex(_sliced())
    col = "objective.helpfulness.delta"
    q = index.parse({"sort": [{"column": col, "dir": "desc"}]})
    assert _ids(index, q) == [3, 0, 1, 4, 2]  # 2.0, 0.5, -0.25, -1.0, then the failed NaN
    kept = index.parse({"filters": {"ranges": [{"column": col, "low": -0.25, "high": 0.5}]}})
    assert _ids(index, kept) == [0, 1]  # inclusive bounds; the NaN row dropped
    assert kept.ranges == (RangeFilter(col, -0.25, 0.5),)


def test_export_carries_the_slice_and_objective_columns(tmp_path):
    index = TableIndex(_sliced())
    rows = index.matching(index.parse({"search": "math"}))
    back = pd.read_csv(export_rows(rows, tmp_path / "math.csv"))
    assert back["slice.domain"].tolist() == ["math", "math"]
    assert back["objective.helpfulness.delta"].tolist() == [0.5, -0.25]


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"sort": [{"column": "slice.topic"}]}, "sort[0].column must be a column of this table"),
        ({"sort": [{"column": "objective.honesty.delta"}]}, "sort[0].column"),
        ({"sort": [{"column": "objective.helpfulness"}]}, "sort[0].column"),
        ({"sort": [{"column": "slice."}]}, "sort[0].column"),
        ({"filters": {"ranges": [{"column": "slice.domain", "low": 1}]}}, "ranges[0].column"),
    ],
)
def test_only_the_table_s_own_columns_are_accepted(raw, words):
    with pytest.raises(QueryError) as e:
        TableIndex(_sliced()).parse(raw)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_column_of_another_table_is_refused():
    raw = {"sort": [{"column": "slice.domain"}]}
    assert TableIndex(_sliced()).parse(raw).sort == (("slice.domain", "asc"),)
    for index_columns in (TableIndex(_table()).columns, COLUMNS):
        with pytest.raises(QueryError, match="must be a column of this table"):
            parse_query(raw, index_columns)
    with pytest.raises(QueryError, match="must be a column of this table"):
        parse_query(raw)  # the default: the fixed columns only
