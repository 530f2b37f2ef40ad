"""The catalogue's DB-API layer (vault/_db.py): URLs, parameters, timestamps, transactions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from medseal.errors import ConfigError, StorageError
from medseal.vault._db import Database, _pyformat, as_datetime, in_list


@pytest.mark.parametrize("url", ["mysql://u@h/db", "catalog.sqlite", "postgresql+psycopg2://h/db"])
def test_an_unsupported_catalogue_url_is_refused_in_one_line(url):
    with pytest.raises(ConfigError, match="unsupported catalogue URL") as err:
        Database(url)
    assert "\n" not in str(err.value)


def test_named_parameters_become_psycopg_placeholders_and_percent_signs_are_escaped():
    sql = "SELECT a FROM t WHERE x = :x AND y LIKE '5%' AND z = :z_1 AND w = ':lit'::text"
    assert _pyformat(sql) == (
        "SELECT a FROM t WHERE x = %(x)s AND y LIKE '5%%' AND z = %(z_1)s AND w = ':lit'::text"
    )


def test_an_empty_in_list_matches_nothing(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'c.sqlite'}")
    with db.begin() as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.executemany("INSERT INTO t (x) VALUES (:x)", [{"x": 1}, {"x": 2}])
    for values, expected in (([], []), ([2, 3], [2])):
        names, params = in_list("p", values)
        with db.connect() as conn:
            assert [
                r.x for r in conn.execute(f"SELECT x FROM t WHERE x IN {names}", params)
            ] == expected
    db.dispose()


def test_a_failed_write_transaction_rolls_back_and_leaves_one_line(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'c.sqlite'}")
    with db.begin() as conn:
        conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    failing = pytest.raises(StorageError, match=r"^could not store it: IntegrityError$")
    with failing, db.begin("store it") as conn:
        conn.execute("INSERT INTO t (x) VALUES (:x)", {"x": 1})
        conn.execute("INSERT INTO t (x) VALUES (:x)", {"x": 1})
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM t").scalar() == 0  # the first insert too
    db.dispose()


def test_sqlite_timestamps_are_stored_as_utc_text_and_read_back_aware(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'c.sqlite'}")
    moment = datetime(2026, 11, 30, 12, 0, 1, 5, tzinfo=timezone(timedelta(hours=2)))
    with db.begin() as conn:
        stored = conn.timestamp(moment)
        assert stored == "2026-11-30 10:00:01.000005"  # SQLAlchemy's text, in UTC
        conn.execute("CREATE TABLE t (at DATETIME)")
        conn.execute("INSERT INTO t (at) VALUES (:at)", {"at": stored})
    with db.connect() as conn:
        back = as_datetime(conn.execute("SELECT at FROM t").scalar())
    assert back == moment and back.tzinfo is UTC
    db.dispose()


def test_a_connection_goes_back_to_the_pool_unless_the_driver_failed(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'c.sqlite'}")
    with pytest.raises(KeyError), db.connect() as conn:  # the caller's error: pooled again
        first = conn._raw
        raise KeyError("not the database's fault")
    with db.connect() as conn:
        assert conn._raw is first
    with pytest.raises(StorageError), db.connect() as conn:  # the driver's error: closed
        conn.execute("SELECT * FROM no_such_table")
    with db.connect() as conn:
        assert conn._raw is not first
    db.dispose()
