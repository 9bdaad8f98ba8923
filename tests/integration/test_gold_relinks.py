"""The gold writer over several days: a batch reads silver only on the dates its people can have
events on (their profiles' spans and its own dates), and re-linked devices still take their
earlier-day events along. Expected figures worked out by hand from the events in the test.

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
from tests.helpers import make_settings, silver_event, unique_topic
from tests.integration.test_gold_batches import DESKTOP, _line, _silver_frame

pytestmark = pytest.mark.integration


def test_restitching_reaches_the_peoples_events_on_earlier_dates(spark, kafka_bootstrap, tmp_path):
    """A batch reads silver only on the dates its people can have events on (their profiles' spans
    and its own dates): a device's earlier-day events still follow it to the user it is linked
    to, twice. Batch 0 (1 March): anonymous a7 views and adds p1 at 10:00 and 10:01. Batch 1
    (5 March): a7 identifies as u7 at 09:00, and orders o7 (50.0) at 09:01 as u7. Batch 2 (9 March):
    a7 identifies as u8 at 08:00 — a7's own events move to u8; the events carrying u7 stay."""
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
                      user_id="u7", products=[_line("p1", 50.0, "shoes")], **a7)],
        [silver_event("n5", datetime(2026, 3, 9, 8, 0), "identify", user_id="u8", **a7)],
    ]

    def profiles() -> dict:
        return {r.user_id: (r.events, r.first_seen, r.last_seen, r.active_days, r.orders)
                for r in spark.read.format("delta").load(tables.user_profile.path).collect()}

    def activity() -> list:
        return sorted((r.user_id, r.window_start, r.clicks, r.purchases, r.revenue)
                      for r in spark.read.format("delta").load(tables.user_activity.path).collect())

    for batch_id, rows in enumerate(batches):
        _silver_frame(spark, rows, schema).write.format("delta").mode("append").save(silver.events.path)
        events = spark.read.format("delta").load(silver.events.path)
        writer(events.where(F.col("message_id").isin([r["message_id"] for r in rows])), batch_id)
        # Silver's identity merge of the batch, committed after gold read the map (gold adds the
        # batch's own links): gold finds a re-linked device's previous user in the map.
        (identity.latest_identity(identity.identity_links(events)).select(*identity.IDENTITY_MAP_COLUMNS)
         .write.format("delta").mode("overwrite").save(silver.identity.path))
        if batch_id == 1:
            assert profiles() == {"u7": (4, datetime(2026, 3, 1, 10, 0), datetime(2026, 3, 5, 9, 1), 2, 1)}
            assert activity() == [("u7", datetime(2026, 3, 1, 10), 2, 0, 0.0),
                                  ("u7", datetime(2026, 3, 5, 9), 0, 1, 50.0)]
    assert profiles() == {"u7": (2, datetime(2026, 3, 5, 9, 0), datetime(2026, 3, 5, 9, 1), 1, 1),
                          "u8": (3, datetime(2026, 3, 1, 10, 0), datetime(2026, 3, 9, 8, 0), 2, 0)}
    # u7's 1 March window is gone (stale), u8 has it; the 9 March identify is no click.
    assert activity() == [("u7", datetime(2026, 3, 5, 9), 0, 1, 50.0), ("u8", datetime(2026, 3, 1, 10), 2, 0, 0.0)]
