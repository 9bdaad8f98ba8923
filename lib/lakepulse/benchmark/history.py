"""A lakehouse that already knows many people: the growth benchmark's starting state.

Throughput at 10⁷ distinct users cannot come from streaming 10⁷+ events through the pipeline on
one small machine, and it need not: what grows with users is the state the pipeline reads and
merges into on every batch — silver.events (gold's history of the touched people), the identity
map, silver.sessions, gold.user_profile and gold.user_activity_hourly. This module writes that
state for ``people`` made-up people with Spark, using the pipeline's own transforms for everything
derived (identity map, sessions, profiles with RFM, hourly activity), so the tables hold what the
streams would have written. The profiles are written as a gold RFM rescore (its cuts in the
commit), so gold merges the people it touches rather than rescoring everyone on its first batch. Then the same simulated events are streamed on top, and
only the table sizes differ between growth points.

The history lies before the simulator's timeline (``HISTORY_GAP_DAYS`` and more before now), so
it never shares an event date with new events: the per-day gold tables (product_metrics,
funnel_daily) that a batch recomputes by date do not grow with it, and are left empty.

Each seeded person (device ``<h>-seed-a<n>``, half of them identified as ``seed-u<n>``) has
``EVENTS_PER_PERSON`` events: a Product Viewed, then an Order Completed (every fourth person) or a
Product Added, five minutes later. ``<h>`` is the first 8 hex digits of ``md5(n)``: the seeded
devices sort among the simulator's (UUIDs), as real ones would, so a lookup of the simulated
people's devices cannot skip the seeded files or row groups by their min/max statistics. The
tables must be empty (a fresh lakehouse).

Example::

    seeded = seed_history(spark, settings, people=1_000_000)
    start_gold(spark, settings, starting_version=seeded["silver_events_version"])
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakepulse import identity, sessions
from lakepulse.contract import ORDER_COMPLETED, PRODUCT_ADDED, PRODUCT_VIEWED
from lakepulse.gold import activity, prep
from lakepulse.gold.job import RESCORE_TAG, ensure_gold_tables, people_profiles, score_everyone
from lakepulse.io.delta import overwrite_once
from lakepulse.settings import Settings
from lakepulse.silver_stream import ensure_silver_tables

EVENTS_PER_PERSON = 2
HISTORY_DAYS = 60          # the history spreads over this many days ...
HISTORY_GAP_DAYS = 10      # ... ending this many days before the simulator's timeline starts
SEED_TOPIC = "seeded-history"
SEEDED_PROPERTY = "lakepulse.benchmark.seededPeople"


def history_events(spark: SparkSession, people: int, end: datetime, schema: StructType) -> DataFrame:
    """``EVENTS_PER_PERSON`` silver.events rows per seeded person, all at or before ``end``, in
    ``schema`` (silver.events'); columns the history does not use are null."""
    row = F.col("id")
    person = F.floor(row / EVENTS_PER_PERSON)
    second = (row % EVENTS_PER_PERSON) == 1
    ordered = second & (person % 4 == 0)
    seconds_back = (person % HISTORY_DAYS) * 86_400 + (person * 7919) % 86_000 + F.when(second, 0).otherwise(300)
    event_time = F.timestamp_seconds(F.lit(int(end.timestamp())) - seconds_back)
    price = (10 + person % 90).cast("double")
    values = {
        "message_id": F.concat(F.lit("seed-m"), row.cast("string")),
        "type": F.lit("track"),
        "event": F.when(~second, F.lit(PRODUCT_VIEWED)).when(ordered, F.lit(ORDER_COMPLETED))
        .otherwise(F.lit(PRODUCT_ADDED)),
        "anonymous_id": F.concat(F.substring(F.md5(person.cast("string")), 1, 8), F.lit("-seed-a"),
                                 person.cast("string")),
        "user_id": F.when(person % 2 == 0, F.concat(F.lit("seed-u"), person.cast("string"))),
        "event_time": event_time,
        "event_date": F.to_date(event_time),
        "timestamp": event_time,
        "order_id": F.when(ordered, F.concat(F.lit("seed-o"), person.cast("string"))),
        "revenue": F.when(ordered, price),
        "currency": F.lit("USD"),
        "product_id": F.concat(F.lit("seed-p"), (person % 2000).cast("string")),
        "category": F.lit("seeded"),
        "price": price,
        "warned_rules": F.array().cast("array<string>"),
        "is_late": F.lit(False),
        "payload_bytes": F.lit(400),
        "topic": F.lit(SEED_TOPIC),
        "partition": F.lit(0),
        "offset": row,
        "kafka_timestamp": event_time,
        "ingest_time": event_time,
        "silver_time": event_time,
    }
    return spark.range(people * EVENTS_PER_PERSON).select(*[
        values.get(field.name, F.lit(None)).cast(field.dataType).alias(field.name) for field in schema.fields
    ])


def _write(frame: DataFrame, path: str, mode: str = "append") -> None:
    frame.write.format("delta").mode(mode).save(path)


def seed_history(spark: SparkSession, settings: Settings, people: int,
                 now: datetime | None = None) -> dict[str, Any]:
    """Write the history of ``people`` seeded people into the (empty) silver and gold tables of
    ``settings`` (see the module doc). Returns what was written, how long it took and
    ``silver_events_version``: the version of the commit that ends the history (start gold there)."""
    silver_tables = ensure_silver_tables(spark, settings)
    gold_tables = ensure_gold_tables(spark, settings)
    events = spark.read.format("delta").load(silver_tables.events.path)
    if not events.isEmpty():
        raise ValueError(f"seed_history writes into empty tables only; {silver_tables.events.name} has rows")
    started = time.perf_counter()
    if people > 0:
        now = now or datetime.now(UTC)
        end = now - timedelta(days=settings.simulator.history_days + HISTORY_GAP_DAYS)
        _write(history_events(spark, people, end, events.schema), silver_tables.events.path)
        events = spark.read.format("delta").load(silver_tables.events.path)
        _write(identity.latest_identity(identity.identity_links(events)).select(*identity.IDENTITY_MAP_COLUMNS),
               silver_tables.identity.path)
        gap = settings.silver.session_gap_seconds
        _write(sessions.sessionize(events, gap), silver_tables.sessions.path)
        current = spark.read.format("delta").load(silver_tables.identity.path)
        # Read twice below (profiles, activity): stitched and order-counted once, kept on disk.
        people_events = (prep.stitch(events, current).transform(prep.with_counted_orders)
                         .persist(StorageLevel.DISK_ONLY))
        scored, cuts = score_everyone(people_profiles(people_events, current, gap))
        # A rescore, as the gold job writes it: gold scores the profiles it changes on these cuts.
        overwrite_once(scored, gold_tables.user_profile, SEED_TOPIC, 0, metadata=RESCORE_TAG + cuts.to_json())
        # Closed long ago: every window has been published.
        _write(activity.hourly_activity(people_events).withColumn("published_at", F.col("updated_at")),
               gold_tables.user_activity.path)
        people_events.unpersist()
    # A commit without data marks where the history ends; a stream can only start at a version
    # that exists, and gold's must not re-read the history.
    spark.sql(f"ALTER TABLE delta.`{silver_tables.events.path}` SET TBLPROPERTIES "
              f"('{SEEDED_PROPERTY}' = '{people}')")
    from delta.tables import DeltaTable

    version = DeltaTable.forPath(spark, silver_tables.events.path).history(1).first()["version"]
    return {"people": people, "events": people * EVENTS_PER_PERSON, "seconds": round(time.perf_counter() - started, 3),
            "silver_events_version": version}
