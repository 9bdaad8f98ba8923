"""The gold writer over several days: a batch reads silver only on the dates its people can have
events on (their profiles' spans and its own dates), and re-linked devices still take their
earlier-day events along, also when silver's identity map already holds later links than gold's
batch. Expected figures worked out by hand from the events in the test.

In its own module so that the test runner can run it beside test_gold_batches.py.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from pyspark.sql import functions as F

from lakepulse import identity
from lakepulse.gold.job import GoldBatchWriter, ensure_gold_tables
from lakepulse.io.kafka import ensure_topics
from lakepulse.silver_stream import ensure_silver_tables
from tests.helpers import DESKTOP, make_settings, order_line, silver_event, silver_frame, unique_topic

pytestmark = pytest.mark.integration


def test_restitching_reaches_the_peoples_events_on_earlier_dates(spark, kafka_bootstrap, tmp_path):
    """A batch reads silver only on the dates its people can have events on (their profiles' spans
    and its own dates): a device's earlier-day events still follow it to the user it is linked
    to, three times, the last two while silver's identity map is ahead of gold.

    Batch 0 (1 March): anonymous a7 views and adds p1 at 10:00 and 10:01. Batch 1 (5 March): a7
    identifies as u7 at 09:00, and orders o7 (50.0) at 09:01 as u7. Silver's identity map is
    written after gold's batch for these two. Then silver runs two batches ahead: batch 2 (9 March,
    a7 identifies as u8 at 08:00) and batch 3 (10 March, a7 identifies as u9 at 08:00) are in
    silver's events and map before gold's batch 2 reads them. The map's current user of a7 is u9
    then, not u7: gold finds u7 among every user a7 was ever linked to. a7's own events move
    (to u9, the map's latest); the events carrying a user id stay with it."""
    reports = unique_topic("reports")
    settings, _ = make_settings(tmp_path, kafka_bootstrap, unique_topic("events"),
                                privacy={"salt": "pytest-salt", "salt_file": ""}, gold={"reports_topic": reports})
    ensure_topics(kafka_bootstrap, [reports], partitions=1)
    silver = ensure_silver_tables(spark, settings)
    tables = ensure_gold_tables(spark, settings)
    schema = spark.read.format("delta").load(silver.events.path).schema
    writer = GoldBatchWriter(spark, settings, tables)
    a7 = {"anonymous_id": "a7", "context_user_agent": DESKTOP}
    batches = [
        [silver_event("n1", datetime(2026, 3, 1, 10, 0), event="Product Viewed", product_id="p1", price=80.0, **a7),
         silver_event("n2", datetime(2026, 3, 1, 10, 1), event="Product Added", product_id="p1", price=80.0, **a7)],
        [silver_event("n3", datetime(2026, 3, 5, 9, 0), "identify", user_id="u7", **a7),
         silver_event("n4", datetime(2026, 3, 5, 9, 1), event="Order Completed", order_id="o7", revenue=50.0,
                      user_id="u7", products=[order_line("p1", 50.0, "shoes")], **a7)],
        [silver_event("n5", datetime(2026, 3, 9, 8, 0), "identify", user_id="u8", **a7)],
        [silver_event("n6", datetime(2026, 3, 10, 8, 0), "identify", user_id="u9", **a7)],
    ]

    def silver_events(batch_id: int) -> None:
        silver_frame(spark, batches[batch_id], schema).write.format("delta").mode("append").save(silver.events.path)

    def silver_map() -> None:
        """silver.identity_map as silver's merges leave it: from every link in silver's events."""
        events = spark.read.format("delta").load(silver.events.path)
        (identity.latest_identity(identity.identity_links(events)).select(*identity.IDENTITY_MAP_COLUMNS)
         .write.format("delta").mode("overwrite").save(silver.identity.path))

    def gold_batch(batch_id: int) -> None:
        events = spark.read.format("delta").load(silver.events.path)
        writer(events.where(F.col("message_id").isin([r["message_id"] for r in batches[batch_id]])), batch_id)

    def profiles() -> dict:
        return {r.user_id: (r.events, r.first_seen, r.last_seen, r.active_days, r.orders)
                for r in spark.read.format("delta").load(tables.user_profile.path).collect()}

    def activity() -> list:
        return sorted((r.user_id, r.window_start, r.clicks, r.purchases, r.revenue)
                      for r in spark.read.format("delta").load(tables.user_activity.path).collect())

    # Batches 0 and 1: gold reads the map before silver's merge of the batch commits (gold adds
    # the batch's own links).
    for batch_id in (0, 1):
        silver_events(batch_id)
        gold_batch(batch_id)
        silver_map()
    assert profiles() == {"u7": (4, datetime(2026, 3, 1, 10, 0), datetime(2026, 3, 5, 9, 1), 2, 1)}
    assert activity() == [("u7", datetime(2026, 3, 1, 10), 2, 0, 0.0), ("u7", datetime(2026, 3, 5, 9), 0, 1, 50.0)]

    for batch_id in (2, 3):
        silver_events(batch_id)
        silver_map()
    assert [(r.user_id, r.user_ids) for r in spark.read.format("delta").load(silver.identity.path).collect()] == [
        ("u9", ["u7", "u8", "u9"])]
    gold_batch(2)
    # u7 keeps the events carrying its id; a7's own events went to u9, the map's user of a7 (the 10
    # March identify is on a date gold's batch 2 does not read); the 9 March identify is u8's.
    assert profiles() == {"u7": (2, datetime(2026, 3, 5, 9, 0), datetime(2026, 3, 5, 9, 1), 1, 1),
                          "u8": (1, datetime(2026, 3, 9, 8, 0), datetime(2026, 3, 9, 8, 0), 1, 0),
                          "u9": (2, datetime(2026, 3, 1, 10, 0), datetime(2026, 3, 1, 10, 1), 1, 0)}
    # u7's 1 March window is gone (stale), u9 has it; identify calls are no clicks.
    assert activity() == [("u7", datetime(2026, 3, 5, 9), 0, 1, 50.0), ("u9", datetime(2026, 3, 1, 10), 2, 0, 0.0)]
    gold_batch(3)
    assert profiles() == {"u7": (2, datetime(2026, 3, 5, 9, 0), datetime(2026, 3, 5, 9, 1), 1, 1),
                          "u8": (1, datetime(2026, 3, 9, 8, 0), datetime(2026, 3, 9, 8, 0), 1, 0),
                          "u9": (3, datetime(2026, 3, 1, 10, 0), datetime(2026, 3, 10, 8, 0), 2, 0)}
    assert activity() == [("u7", datetime(2026, 3, 5, 9), 0, 1, 50.0), ("u9", datetime(2026, 3, 1, 10), 2, 0, 0.0)]
