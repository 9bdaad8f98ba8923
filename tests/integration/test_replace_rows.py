"""``io.delta.replace_rows`` on a real Delta table with deletion vectors: the rows of a scope
replaced by a batch's rows in one MERGE, the target pruned to the values the scope and the rows
hold. Every expected row is worked out by hand from the table below.

Table (user_id, hour, n, note): (a, 1, 1, x) (a, 2, 2, x) (b, 1, 3, x) (c, 1, 4, x) (o'q\\, 1, 5, x).
"""

from __future__ import annotations

import pytest

from lakepulse.io.delta import MERGED_PROPERTIES, ensure_delta_table, replace_rows
from lakepulse.tables import TableRef

pytestmark = pytest.mark.integration

SCHEMA = "user_id string, hour int, n int, note string"
TABLE = [("a", 1, 1, "x"), ("a", 2, 2, "x"), ("b", 1, 3, "x"), ("c", 1, 4, "x"), ("o'q\\", 1, 5, "x")]


@pytest.fixture
def table(spark, tmp_path) -> TableRef:
    ref = TableRef("test.replace_rows", str(tmp_path / "t"))
    ensure_delta_table(spark, ref, spark.createDataFrame([], SCHEMA).schema, properties=MERGED_PROPERTIES,
                       register=False)
    spark.createDataFrame(TABLE, SCHEMA).write.format("delta").mode("append").save(ref.path)
    return ref


def _rows(spark, ref: TableRef) -> list[tuple]:
    return sorted(tuple(r) for r in spark.read.format("delta").load(ref.path).collect())


@pytest.mark.parametrize("scope_values", [None, ["a", "o'q\\"]], ids=["collected", "given"])
def test_a_scope_of_people_replaces_their_rows_by_key_and_keeps_the_columns_not_updated(spark, table, scope_values):
    # Scope a and o'q\ (a quote and a backslash in the id): a's hour 1 changes n (note kept: not an
    # update column), a's hour 2 is not in the rows (deleted), a gets hour 3 (inserted); o'q\ is
    # unchanged; b and c are outside the scope and untouched.
    rows = spark.createDataFrame([("a", 1, 10, "new"), ("a", 3, 30, "new"), ("o'q\\", 1, 5, "new")], SCHEMA)
    scope = spark.createDataFrame([("a",), ("o'q\\",)], "user_id string")
    counts = replace_rows(rows, table, keys=("user_id", "hour"), scope=scope, update=("n",), scope_values=scope_values)
    assert _rows(spark, table) == [("a", 1, 10, "x"), ("a", 3, 30, "new"), ("b", 1, 3, "x"), ("c", 1, 4, "x"),
                                   ("o'q\\", 1, 5, "x")]
    assert (counts["num_updated_rows"], counts["num_deleted_rows"], counts["num_inserted_rows"]) == (1, 1, 1)


def test_rows_outside_the_scope_still_match_their_keys(spark, table):
    # c is in the rows but not in the scope: its row is updated, not inserted a second time (the
    # target is pruned to the values of the scope *and* the rows). b, in the scope with no row, goes.
    rows = spark.createDataFrame([("c", 1, 40, "new")], SCHEMA)
    scope = spark.createDataFrame([("b",)], "user_id string")
    replace_rows(rows, table, keys=("user_id", "hour"), scope=scope)
    assert _rows(spark, table) == [("a", 1, 1, "x"), ("a", 2, 2, "x"), ("c", 1, 40, "new"), ("o'q\\", 1, 5, "x")]


def test_a_scope_of_keys_deletes_the_keys_without_rows(spark, table):
    scope = spark.createDataFrame([("b", 1), ("c", 1), ("z", 9)], "user_id string, hour int")
    rows = spark.createDataFrame([("z", 9, 9, "new")], SCHEMA)
    replace_rows(rows, table, keys=("user_id", "hour"), scope=scope.select("user_id", "hour"))
    assert _rows(spark, table) == [("a", 1, 1, "x"), ("a", 2, 2, "x"), ("o'q\\", 1, 5, "x"), ("z", 9, 9, "new")]


def test_a_scope_column_that_is_not_a_key_is_refused(spark, table):
    scope = spark.createDataFrame([("x",)], "note string")
    with pytest.raises(ValueError, match=r"scope's columns \['note'\] must be key columns"):
        replace_rows(spark.createDataFrame([], SCHEMA), table, keys=("user_id", "hour"), scope=scope)


def test_scope_values_need_a_one_column_scope(spark, table):
    scope = spark.createDataFrame([("a", 1)], "user_id string, hour int")
    with pytest.raises(ValueError, match=r"scope_values needs a one-column scope, got \['user_id', 'hour'\]"):
        replace_rows(spark.createDataFrame([], SCHEMA), table, keys=("user_id", "hour"), scope=scope, scope_values=["a"])


def test_rows_of_the_scope_below_a_lower_bound_are_left_alone(spark, table):
    # Scope a, hours from 2 on: a's hour 1, below the bound and not in the rows, stays (without the
    # bound it would be deleted as stale); hour 2 is updated (every column) and hour 3 inserted.
    rows = spark.createDataFrame([("a", 2, 20, "new"), ("a", 3, 30, "new")], SCHEMA)
    scope = spark.createDataFrame([("a",)], "user_id string")
    counts = replace_rows(rows, table, keys=("user_id", "hour"), scope=scope, lower_bounds={"hour": 2})
    assert _rows(spark, table) == [("a", 1, 1, "x"), ("a", 2, 20, "new"), ("a", 3, 30, "new"), ("b", 1, 3, "x"),
                                   ("c", 1, 4, "x"), ("o'q\\", 1, 5, "x")]
    assert (counts["num_updated_rows"], counts["num_deleted_rows"], counts["num_inserted_rows"]) == (1, 0, 1)
