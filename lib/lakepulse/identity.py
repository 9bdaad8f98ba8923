"""``silver.identity_map``: which user each anonymous id (device, browser) belongs to.

Links come from identify calls (anonymousId + userId), alias calls (previousId → userId) and any
other call that carries both ids. For each anonymous id the latest link wins (a shared device
re-identified by another user moves to that user), while first and last seen cover every link and
``user_ids`` lists every user it was ever linked to: when a device moves, whoever built rows from
an earlier state of the map (gold, which may read the map after silver has merged links gold has
not processed yet) finds every user that may still hold the device's events.

The map is maintained incrementally: each micro-batch's ``latest_identity(identity_links(batch))``
is merged into the table with ``identity_merge_sql`` (Delta) — ``merge_identity`` is the same
combination as a pure transform — so that the table always equals ``latest_identity`` over all
links ever seen, whatever the order in which batches arrive.

Example::

    batch_map = silver_batch.transform(identity_links).transform(latest_identity)
    batch_map.createOrReplaceTempView("identity_batch")
    spark.sql(identity_merge_sql("silver.identity_map", "identity_batch"))
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, LongType, StringType, StructField, StructType, TimestampType

SOURCE_IDENTIFY = "identify"
SOURCE_ALIAS = "alias"
SOURCE_EVENT = "event"
LINK_SOURCES = (SOURCE_IDENTIFY, SOURCE_ALIAS, SOURCE_EVENT)

LINK_COLUMNS = ("anonymous_id", "user_id", "event_time", "source")

# One row per anonymous_id.
IDENTITY_MAP_SCHEMA = StructType([
    StructField("anonymous_id", StringType(), False),
    StructField("user_id", StringType(), False),
    StructField("first_seen", TimestampType()),
    StructField("last_seen", TimestampType()),
    StructField("links", LongType(), False),
    # Every user the anonymous id was ever linked to, sorted; null in rows written before the
    # column existed (read as [user_id], see ``linked_users``).
    StructField("user_ids", ArrayType(StringType(), False)),
])
IDENTITY_MAP_COLUMNS = tuple(IDENTITY_MAP_SCHEMA.fieldNames())


def _present(identifier: Column) -> Column:
    return identifier.isNotNull() & (F.trim(identifier) != "")


def identity_links(events: DataFrame) -> DataFrame:
    """Every anonymous id → user id link observed in silver events.

    One row per observed link: ``anonymous_id``, ``user_id``, ``event_time``, ``source``:

    * ``identify``: an identify call's (anonymous_id, user_id);
    * ``alias``: an alias call's (previous_id, user_id), unless previous_id == user_id;
    * ``event``: any other call carrying both ids — also an alias call whose anonymous_id differs
      from its previous_id (the SDKs send both, and they are linked all the same).

    Calls missing either id (null or blank) give no link.
    """
    call_type = F.col("type")
    is_alias = call_type == "alias"
    carried = events.where(
        _present(F.col("anonymous_id")) & _present(F.col("user_id"))
        & ~(is_alias & F.col("anonymous_id").eqNullSafe(F.col("previous_id")))
    ).select(
        "anonymous_id", "user_id", "event_time",
        F.when(call_type == "identify", F.lit(SOURCE_IDENTIFY)).otherwise(F.lit(SOURCE_EVENT)).alias("source"),
    )
    aliased = events.where(
        is_alias & _present(F.col("previous_id")) & _present(F.col("user_id"))
        & (F.col("previous_id") != F.col("user_id"))
    ).select(
        F.col("previous_id").alias("anonymous_id"), "user_id", "event_time", F.lit(SOURCE_ALIAS).alias("source"),
    )
    return carried.unionByName(aliased)


def map_columns(table: DataFrame) -> DataFrame:
    """An identity map table's ``IDENTITY_MAP_COLUMNS``; a column an older release did not write
    (``user_ids``, until silver's next start adds it) as nulls, so readers need not wait for silver."""
    return table.select(*[F.col(field.name) if field.name in table.columns
                          else F.lit(None).cast(field.dataType).alias(field.name)
                          for field in IDENTITY_MAP_SCHEMA.fields])


def linked_users() -> Column:
    """A map row's ``user_ids``, or ``[user_id]`` in a row written before that column existed."""
    return F.coalesce(F.col("user_ids"), F.array(F.col("user_id")))


def _one_row_per_anonymous_id(rows: DataFrame, *, earliest: str, latest: str, links: Column,
                              users: Column) -> DataFrame:
    # max over (latest, user_id): the latest row's user, ties going to the largest user_id.
    return rows.groupBy("anonymous_id").agg(
        F.max(F.struct(latest, "user_id")).getField("user_id").alias("user_id"),
        F.min(earliest).alias("first_seen"),
        F.max(latest).alias("last_seen"),
        links.cast("long").alias("links"),
        F.array_sort(users).alias("user_ids"),
    )


def latest_identity(links: DataFrame) -> DataFrame:
    """The identity map of a set of links: one row per ``anonymous_id``.

    ``user_id`` of the link with the latest ``event_time`` (ties: the largest ``user_id``, so the
    result does not depend on row order), ``first_seen`` / ``last_seen`` the earliest / latest
    ``event_time`` over all its links, ``links`` their count, ``user_ids`` their distinct users
    (sorted). Columns: ``IDENTITY_MAP_COLUMNS``.
    """
    return _one_row_per_anonymous_id(links, earliest="event_time", latest="event_time", links=F.count(F.lit(1)),
                                     users=F.collect_set("user_id"))


def merge_identity(existing: DataFrame, batch: DataFrame) -> DataFrame:
    """Two identity maps combined: one row per ``anonymous_id``, as ``latest_identity`` over both.

    ``existing`` is the current map, ``batch`` a new batch's ``latest_identity``. The user of the
    latest ``last_seen`` wins (ties: the largest ``user_id``), so an older link arriving late does
    not override a newer mapping; ``first_seen`` is the minimum, ``last_seen`` the maximum,
    ``links`` the sum, ``user_ids`` the union. The same semantics as ``identity_merge_sql``.
    """
    both = map_columns(existing).unionByName(map_columns(batch))
    return _one_row_per_anonymous_id(both, earliest="first_seen", latest="last_seen", links=F.sum("links"),
                                     users=F.array_distinct(F.flatten(F.collect_list(linked_users()))))


def identity_merge_sql(target: str, source: str, *, target_only: str | None = None) -> str:
    """The Delta ``MERGE INTO`` statement that merges ``source`` into the identity map ``target``.

    ``target`` is the identity map table (a name, or ``delta.`/path```), ``source`` a table or view
    with one row per ``anonymous_id`` (a batch's ``latest_identity``). Same semantics as
    ``merge_identity``: a matched row takes the source's ``user_id`` only when the source is later
    (``last_seen`` greater, or equal with a larger ``user_id``); ``first_seen`` least, ``last_seen``
    greatest, ``links`` summed; new anonymous ids are inserted. ``links`` is a running sum, so a
    replayed batch must not be merged twice: run it with Delta's idempotent-write options
    (``spark.databricks.delta.write.txnAppId`` / ``txnVersion``) in ``foreachBatch``.
    ``target_only``: a SQL predicate on the target (alias ``t``) that every row the source matches
    satisfies, e.g. ``t.anonymous_id IN (…)`` of the source's ids: the scan drops the other rows
    before the join (the map grows with every device ever seen; a batch links a few).

    Example::

        spark.sql(identity_merge_sql("silver.identity_map", "identity_batch"))
    """
    return f"""MERGE INTO {target} AS t
USING {source} AS s
ON t.anonymous_id = s.anonymous_id{f" AND ({target_only})" if target_only else ""}
WHEN MATCHED THEN UPDATE SET
  t.user_id = CASE
    WHEN s.last_seen > t.last_seen OR (s.last_seen = t.last_seen AND s.user_id > t.user_id) THEN s.user_id
    ELSE t.user_id END,
  t.first_seen = LEAST(t.first_seen, s.first_seen),
  t.last_seen = GREATEST(t.last_seen, s.last_seen),
  t.links = t.links + s.links,
  t.user_ids = ARRAY_SORT(ARRAY_UNION(COALESCE(t.user_ids, ARRAY(t.user_id)), s.user_ids))
WHEN NOT MATCHED THEN INSERT (anonymous_id, user_id, first_seen, last_seen, links, user_ids)
  VALUES (s.anonymous_id, s.user_id, s.first_seen, s.last_seen, s.links, s.user_ids)"""
