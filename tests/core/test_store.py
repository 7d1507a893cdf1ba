import json
import sqlite3

import pytest

from rmx_widgets.core.failures import FailureKind, legacy_failure_kind
from rmx_widgets.core.perturbers.base import PerturbationResult
from rmx_widgets.core.store import Store, content_key
from rmx_widgets.errors import StoreError


def test_roundtrip_and_wal(tmp_path):
    s = Store(tmp_path / "a" / "s.sqlite")
    s.put_scores([("k1", "rm", 1.5), ("k2", "rm", -2.0)])
    failed = PerturbationResult.failed("no numbers", FailureKind.NOT_APPLICABLE)
    s.put_perturbations(
        [
            ("p1", "rules:v1", "verbosity", "worse", PerturbationResult("text")),
            ("p2", "rules:v1", "verbosity", "worse", failed),
        ]
    )
    assert s.get_scores(["k1", "k2", "zz"]) == {"k1": 1.5, "k2": -2.0}
    assert s.get_perturbations(["p1", "p2"]) == {"p1": PerturbationResult("text"), "p2": failed}
    assert s.delete_failed_perturbations("rules:v1") == 1
    assert s.counts() == {"perturbations": 1, "scores": 2, "annotations": 0}
    s.close()
    mode = sqlite3.connect(tmp_path / "a" / "s.sqlite").execute("PRAGMA journal_mode").fetchone()
    assert mode[0] == "wal"
    assert Store(tmp_path / "a" / "s.sqlite").get_scores(["k1"]) == {"k1": 1.5}


def test_many_keys_beyond_sqlite_variable_limit():
    s = Store()
    s.put_scores([(f"k{i}", "rm", float(i)) for i in range(2500)])
    got = s.get_scores([f"k{i}" for i in range(2500)])
    assert len(got) == 2500 and got["k2499"] == 2499.0


def test_failed_write_rolls_back_whole_batch():
    s = Store()
    with pytest.raises(sqlite3.IntegrityError):
        s.put_scores([("k1", "rm", 1.0), ("k2", "rm", None)])  # NOT NULL violated
    assert s.get_scores(["k1"]) == {}


def test_annotations_persist(tmp_path):
    Store(tmp_path / "s.sqlite").save_annotation("c1", "rm", ["surprising"], "why?")
    got = Store(tmp_path / "s.sqlite").annotations()
    assert got[0]["tags"] == ["surprising"] and got[0]["note"] == "why?"


def test_content_key_is_unambiguous():
    assert content_key("ab", "c") != content_key("a", "bc")
    assert content_key("x") == content_key("x")


def test_not_a_store(tmp_path):
    p = tmp_path / "junk.sqlite"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open store"):
        Store(p)


def _raw_failure(store, key):
    return store._db.execute("SELECT failure FROM perturbations WHERE key = ?", (key,)).fetchone()[
        0
    ]


def test_failure_kinds_survive_the_store_old_and_new_rows(tmp_path):
    """A failure written before kinds existed (plain text) and one written now (with its kind)
    both come back with the right kind; the declared kind wins over what the text suggests."""
    path = tmp_path / "s.sqlite"
    s = Store(path)
    s._db.execute(
        "INSERT INTO perturbations VALUES ('old', 'openai:x:prompt-v1', 'verbosity', "
        "'worse', NULL, 'HTTP 429 (slow down) (gave up after 5 attempts)', 0)"
    )
    s.put_perturbations(
        [
            (
                "new",
                "p:v1",
                "verbosity",
                "worse",
                PerturbationResult.failed("connection reset", FailureKind.EXCEPTION),
            ),
            (
                "braces",
                "p:v1",
                "verbosity",
                "worse",
                PerturbationResult.failed('{"kind": "made up"}', FailureKind.UNPARSEABLE),
            ),
        ]
    )
    # the column stays one TEXT value: a strict JSON object with the kind and the reason
    assert json.loads(_raw_failure(s, "new")) == {"kind": "exception", "reason": "connection reset"}
    got = Store(path).get_perturbations(["old", "new", "braces"])
    assert got["old"] == PerturbationResult(
        None, "HTTP 429 (slow down) (gave up after 5 attempts)", FailureKind.RATE_LIMITED
    )
    assert got["new"] == PerturbationResult(None, "connection reset", FailureKind.EXCEPTION)
    assert got["braces"] == PerturbationResult(None, '{"kind": "made up"}', FailureKind.UNPARSEABLE)


@pytest.mark.parametrize(
    "stored",
    [
        '{"kind": "exception"}',  # a key missing
        '{"kind": "no such kind", "reason": "x"}',  # not a kind
        '{"kind": "exception", "reason": "x", "extra": 1}',  # a key too many
        '{"kind": "exception", "reason": 3}',  # not a reason
        "{not json at all",
    ],
)
def test_only_strict_kind_objects_are_decoded(stored):
    """Anything but the exact object ``encode_failure`` writes is an old plain-text reason."""
    s = Store()
    s._db.execute(
        "INSERT INTO perturbations VALUES ('k', 'p', 'a', 'worse', NULL, ?, 0)", (stored,)
    )
    got = s.get_perturbations(["k"])["k"]
    assert got.failure == stored and got.kind == legacy_failure_kind(stored)


@pytest.mark.parametrize(
    ("tags", "note", "field", "what"),
    [
        (["ok"], "half an emoji \ud83d", "note", r"lone surrogate at character 14 \(U\+D83D\)"),
        (["x\x1b[2J"], "fine", "tags\\[0\\]", r"U\+001B, ESC"),
        (["ok"], "nul\x00", "note", r"U\+0000, NUL"),
    ],
)
def test_unstorable_annotation_is_a_clear_error_and_stores_nothing(tags, note, field, what):
    from rmx_widgets.errors import DataError

    s = Store()
    s.save_annotation("c1", "rm", ["before"], "the old note")
    with pytest.raises(DataError, match=rf"field '{field}': the annotation holds .*{what}"):
        s.save_annotation("c1", "rm", tags, note)
    assert [(a["tags"], a["note"]) for a in s.annotations()] == [(["before"], "the old note")]
    s.save_annotation("c1", "rm", ["t"], "line one\n\tline two")  # tabs and newlines are fine
    assert s.annotations()[0]["note"] == "line one\n\tline two"
