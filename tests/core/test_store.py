import sqlite3

import pytest

from rmx_widgets.core.store import Store, content_key
from rmx_widgets.errors import StoreError


def test_roundtrip_and_wal(tmp_path):
    s = Store(tmp_path / "a" / "s.sqlite")
    s.put_scores([("k1", "rm", 1.5), ("k2", "rm", -2.0)])
    s.put_perturbations([("p1", "rules:v1", "verbosity", "worse", "text", None),
                         ("p2", "rules:v1", "verbosity", "worse", None, "no numbers")])
    assert s.get_scores(["k1", "k2", "zz"]) == {"k1": 1.5, "k2": -2.0}
    assert s.get_perturbations(["p1", "p2"]) == {"p1": ("text", None), "p2": (None, "no numbers")}
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
