import uuid
from datetime import UTC, datetime

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from lakepulse.identity import (
    IDENTITY_MAP_COLUMNS,
    IDENTITY_MAP_SCHEMA,
    identity_links,
    identity_merge_sql,
    latest_identity,
    merge_identity,
)
from lakepulse.io.delta import ensure_delta_table, strings_in
from lakepulse.tables import TableRef

EVENT_COLUMNS = "message_id string, type string, event string, anonymous_id string, user_id string, " \
                "previous_id string, event_time timestamp"
LINK_COLUMNS = "anonymous_id string, user_id string, event_time timestamp, source string"
# The identity map as releases before user_ids wrote it.
OLDER_MAP_SCHEMA = StructType(IDENTITY_MAP_SCHEMA.fields[:-1])


def at(hour: int, minute: int = 0) -> datetime:
    """An event time on 2026-03-01, UTC."""
    return datetime(2026, 3, 1, hour, minute, tzinfo=UTC)


def collected(hour: int, minute: int = 0) -> datetime:
    """``at(hour, minute)`` as PySpark returns a timestamp: naive, in the local time zone."""
    return at(hour, minute).astimezone().replace(tzinfo=None)


def identity_row(anonymous_id: str, user_id: str, first: tuple[int, int], last: tuple[int, int], links: int,
                 user_ids: list[str] | None = None) -> Row:
    """A map row; ``user_ids`` [user_id] unless given."""
    return Row(anonymous_id=anonymous_id, user_id=user_id, first_seen=collected(*first),
               last_seen=collected(*last), links=links, user_ids=[user_id] if user_ids is None else user_ids)


def assert_rows(actual: DataFrame, expected: list[Row]) -> None:
    """``actual`` holds exactly ``expected``, in any order, with the same column names."""
    rows = actual.collect()
    assert [r.asDict() for r in sorted(rows)] == [r.asDict() for r in sorted(expected)]


def events(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, EVENT_COLUMNS)


def test_identity_links_one_row_per_observed_link(spark):
    silver = events(spark, [
        ("m1", "page", None, "anon-1", None, None, at(10)),                  # anonymous browsing
        ("m2", "track", "Product Viewed", "anon-1", None, None, at(10, 5)),
        ("m3", "identify", None, "anon-1", "u-1", None, at(10, 10)),        # login
        ("m4", "track", "Product Added", "anon-1", "u-1", None, at(10, 15)),
        ("m5", "alias", None, "anon-9", "u-2", "anon-9", at(11)),           # anonymousId == previousId
        ("m6", "alias", None, None, "u-2", "u-2", at(11, 5)),               # previousId == userId
        ("m7", "alias", None, "anon-7", "u-3", "old-user-3", at(11, 10)),   # old user id → new one
        ("m8", "identify", None, None, "u-4", None, at(11, 15)),            # no anonymousId
        ("m9", "identify", None, " ", "u-5", None, at(11, 20)),             # blank anonymousId
        ("m10", "group", None, "anon-8", "u-6", None, at(12)),
        ("m11", "alias", None, None, "u-7", None, at(12, 5)),               # no previousId
        ("m12", "track", "Signed In", "anon-1", "", None, at(12, 10)),     # blank userId
    ])

    links = identity_links(silver)

    assert tuple(links.columns) == ("anonymous_id", "user_id", "event_time", "source")
    assert_rows(links, [
        Row(anonymous_id="anon-1", user_id="u-1", event_time=collected(10, 10), source="identify"),
        Row(anonymous_id="anon-1", user_id="u-1", event_time=collected(10, 15), source="event"),
        Row(anonymous_id="anon-9", user_id="u-2", event_time=collected(11), source="alias"),
        Row(anonymous_id="old-user-3", user_id="u-3", event_time=collected(11, 10), source="alias"),
        Row(anonymous_id="anon-7", user_id="u-3", event_time=collected(11, 10), source="event"),
        Row(anonymous_id="anon-8", user_id="u-6", event_time=collected(12), source="event"),
    ])


def test_latest_identity_one_row_per_anonymous_id_latest_link_wins(spark):
    silver = events(spark, [
        # anonymous browsing, then login: the browsing itself is no link
        ("a1", "page", None, "anon-1", None, None, at(10)),
        ("a2", "identify", None, "anon-1", "u-1", None, at(10, 10)),
        ("a3", "track", "Product Viewed", "anon-1", "u-1", None, at(10, 15)),
        # one user on two devices
        ("b1", "identify", None, "anon-2a", "u-2", None, at(9)),
        ("b2", "identify", None, "anon-2b", "u-2", None, at(12)),
        # alias
        ("c1", "alias", None, None, "u-3", "anon-3", at(13)),
        # a shared device re-identified by another user later: latest wins, first_seen kept
        ("d1", "identify", None, "anon-4", "u-4a", None, at(8)),
        ("d2", "track", "Order Completed", "anon-4", "u-4a", None, at(8, 30)),
        ("d3", "identify", None, "anon-4", "u-4b", None, at(18)),
        # two users at the same instant: the largest user_id, whatever the row order
        ("e1", "identify", None, "anon-5", "u-5b", None, at(14)),
        ("e2", "identify", None, "anon-5", "u-5a", None, at(14)),
    ])

    identity_map = silver.transform(identity_links).transform(latest_identity)

    assert tuple(identity_map.columns) == IDENTITY_MAP_COLUMNS
    assert_rows(identity_map, [
        identity_row("anon-1", "u-1", (10, 10), (10, 15), 2),
        identity_row("anon-2a", "u-2", (9, 0), (9, 0), 1),
        identity_row("anon-2b", "u-2", (12, 0), (12, 0), 1),
        identity_row("anon-3", "u-3", (13, 0), (13, 0), 1),
        identity_row("anon-4", "u-4b", (8, 0), (18, 0), 3, ["u-4a", "u-4b"]),
        identity_row("anon-5", "u-5b", (14, 0), (14, 0), 2, ["u-5a", "u-5b"]),
    ])


# Links seen in a first batch, and in a second one that brings a late (older) identify for
# anon-4, a newer login on anon-1's device, and a new device.
FIRST_LINKS = [
    ("anon-1", "u-1", at(10, 10), "identify"),
    ("anon-1", "u-1", at(10, 15), "event"),
    ("anon-4", "u-4a", at(8), "identify"),
    ("anon-4", "u-4b", at(18), "identify"),
]
SECOND_LINKS = [
    ("anon-4", "u-4c", at(7), "identify"),   # out of order: older than the mapping to u-4b
    ("anon-1", "u-9", at(20), "identify"),   # newer: anon-1 now belongs to u-9
    ("anon-6", "u-6", at(9), "event"),
]
AFTER_FIRST = [
    identity_row("anon-1", "u-1", (10, 10), (10, 15), 2),
    identity_row("anon-4", "u-4b", (8, 0), (18, 0), 2, ["u-4a", "u-4b"]),
]
# Every user a device was ever linked to stays in user_ids, the late one too.
AFTER_BOTH = [
    identity_row("anon-1", "u-9", (10, 10), (20, 0), 3, ["u-1", "u-9"]),
    identity_row("anon-4", "u-4b", (7, 0), (18, 0), 3, ["u-4a", "u-4b", "u-4c"]),
    identity_row("anon-6", "u-6", (9, 0), (9, 0), 1),
]


def test_merge_identity_equals_latest_identity_over_all_links(spark):
    first = spark.createDataFrame(FIRST_LINKS, LINK_COLUMNS)
    second = spark.createDataFrame(SECOND_LINKS, LINK_COLUMNS)

    merged = merge_identity(latest_identity(first), latest_identity(second))

    assert_rows(merged, AFTER_BOTH)
    assert_rows(latest_identity(first.unionByName(second)), AFTER_BOTH)


@pytest.mark.integration
@pytest.mark.parametrize("pruned", [False, True], ids=["whole-map", "pruned-to-the-batch-ids"])
def test_identity_merge_sql_on_a_delta_table(spark, tmp_path, pruned):
    # Delta rebuilds a snapshot with 50 tasks by default: minutes on two busy cores, for 3 rows.
    previous = spark.conf.get("spark.databricks.delta.snapshotPartitions", None)
    spark.conf.set("spark.databricks.delta.snapshotPartitions", "1")
    table = TableRef(name=f"default.identity_map_{uuid.uuid4().hex[:8]}", path=str(tmp_path / "identity_map"))
    # Compaction is beside the point here and only adds Spark jobs.
    ensure_delta_table(spark, table, IDENTITY_MAP_SCHEMA, properties={
        "delta.autoOptimize.optimizeWrite": "false", "delta.autoOptimize.autoCompact": "false"})
    try:
        for links, expected in ((FIRST_LINKS, AFTER_FIRST), (SECOND_LINKS, AFTER_BOTH)):
            batch = latest_identity(spark.createDataFrame(links, LINK_COLUMNS))
            batch.createOrReplaceTempView("identity_batch")
            # Pruned: the target's rows of the batch's own anonymous ids only; the same result.
            only = strings_in("t.anonymous_id", [r[0] for r in batch.select("anonymous_id").collect()]) if pruned else None
            spark.sql(identity_merge_sql(table.name, "identity_batch", target_only=only))
            assert_rows(spark.table(table.name), expected)
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {table.name}")
        spark.catalog.dropTempView("identity_batch")
        if previous is None:
            spark.conf.unset("spark.databricks.delta.snapshotPartitions")
        else:
            spark.conf.set("spark.databricks.delta.snapshotPartitions", previous)


@pytest.mark.integration
def test_a_map_written_before_user_ids_existed_gains_the_column_and_merges_into_it(spark, tmp_path):
    """An identity map of the older release (no user_ids): ensure_delta_table adds the column, null
    in its rows, and the MERGE reads a null as [user_id]: anon-4's earlier u-4a is not known there."""
    table = TableRef(name=f"default.identity_map_{uuid.uuid4().hex[:8]}", path=str(tmp_path / "identity_map"))
    spark.createDataFrame([tuple(row)[:-1] for row in AFTER_FIRST], OLDER_MAP_SCHEMA).write.format("delta").save(table.path)
    ensure_delta_table(spark, table, IDENTITY_MAP_SCHEMA)
    try:
        upgraded = spark.read.format("delta").load(table.path)
        assert upgraded.schema.fieldNames() == list(IDENTITY_MAP_COLUMNS)
        assert [row.user_ids for row in upgraded.collect()] == [None, None]
        latest_identity(spark.createDataFrame(SECOND_LINKS, LINK_COLUMNS)).createOrReplaceTempView("identity_batch")
        spark.sql(identity_merge_sql(table.name, "identity_batch"))
        assert_rows(spark.table(table.name), [
            identity_row("anon-1", "u-9", (10, 10), (20, 0), 3, ["u-1", "u-9"]),
            identity_row("anon-4", "u-4b", (7, 0), (18, 0), 3, ["u-4b", "u-4c"]),
            identity_row("anon-6", "u-6", (9, 0), (9, 0), 1),
        ])
        # A column that may not be null cannot be added to the rows there are.
        stricter = StructType([*IDENTITY_MAP_SCHEMA.fields, StructField("tenant", StringType(), False)])
        with pytest.raises(ValueError, match="lacks the non-null column.s. tenant"):
            ensure_delta_table(spark, table, stricter)
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {table.name}")
        spark.catalog.dropTempView("identity_batch")


def test_a_map_without_user_ids_is_read_as_one_user_per_row(spark):
    """A map of the older release, read before silver's next start adds the column: the readers'
    columns hold null user_ids, and a merge takes each row's user_id as its one user."""
    from lakepulse.gold.prep import current_identity

    older = spark.createDataFrame([("anon-1", "u-1", at(10, 10), at(10, 15), 2)], OLDER_MAP_SCHEMA)
    assert_rows(current_identity(older), [Row(**{**identity_row("anon-1", "u-1", (10, 10), (10, 15), 2).asDict(),
                                                 "user_ids": None})])
    batch = latest_identity(spark.createDataFrame([("anon-1", "u-9", at(20), "identify")], LINK_COLUMNS))
    assert_rows(merge_identity(older, batch), [identity_row("anon-1", "u-9", (10, 10), (20, 0), 3, ["u-1", "u-9"])])


def test_identity_merge_sql_names_target_and_source():
    statement = identity_merge_sql("silver.identity_map", "identity_batch")
    assert statement.startswith("MERGE INTO silver.identity_map AS t\nUSING identity_batch AS s\n")
    assert "ON t.anonymous_id = s.anonymous_id" in statement


def test_identity_of_picks_the_rows_of_the_ids_by_anonymous_or_user_id(spark):
    from lakepulse.gold.prep import identity_of

    identity = spark.createDataFrame([
        identity_row("a1", "u1", (10, 0), (10, 5), 1),
        identity_row("a2", "u1", (11, 0), (11, 0), 1),   # u1's second device
        identity_row("a3", "u3", (12, 0), (12, 0), 2),
        identity_row("a4", "u4", (13, 0), (13, 0), 1),
    ], IDENTITY_MAP_SCHEMA)
    # u1 by user id (both devices), a4 by anonymous id; None and an unknown id match nothing.
    assert_rows(identity_of(identity, ["u1", "a4", None, "nobody"]), [
        identity_row("a1", "u1", (10, 0), (10, 5), 1),
        identity_row("a2", "u1", (11, 0), (11, 0), 1),
        identity_row("a4", "u4", (13, 0), (13, 0), 1),
    ])
    assert identity_of(identity, []).count() == 0
    assert identity_of(identity, [None]).count() == 0
