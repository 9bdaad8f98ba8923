"""``gold.user_activity_hourly``: the marketing report — per person per hour, clicks and purchases.

Clicks and purchases are counted in event-time tumbling windows of one hour (``window(event_time,
'1 hour')``) separately and joined on (person, window):

* ``clicks`` — page and screen views and every track event except orders (identify, alias and group
  calls are not clicks);
* ``purchases`` — counted orders (one per order id), ``revenue`` their revenue.

A window is *closed* once the watermark — the latest event time seen minus
``gold.report_delay_seconds`` — has passed its end. Each closed window is published once to
``gold.reports_topic`` as JSON, keyed by :func:`report_key` (``person|window start``), a stable key:
the row's ``published_at`` records it, so re-running a batch or the whole job publishes nothing new
(and a crash between the send and that record re-sends the same key with the same JSON, which a
compacted topic keeps once). Rows stay correctable in the table (late events, retroactive
stitching); a report already published is not sent again.

Example::

    rows = hourly_activity(stitched_events_with_counted_orders)
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampType

from lakepulse.contract import ORDER_EVENTS

USER_ACTIVITY_SCHEMA = StructType([
    StructField("user_id", StringType(), False),
    StructField("window_start", TimestampType(), False),
    StructField("window_end", TimestampType(), False),
    StructField("clicks", LongType(), False),
    StructField("purchases", LongType(), False),
    StructField("revenue", DoubleType(), False),
    StructField("report_key", StringType(), False),
    StructField("published_at", TimestampType()),       # when the closed window went to Kafka
    StructField("updated_at", TimestampType(), False),
])
DATA_COLUMNS = ("window_end", "clicks", "purchases", "revenue", "report_key", "updated_at")
WINDOW = "1 hour"


def report_key(user_id: Column | str = "user_id", window_start: Column | str = "window_start") -> Column:
    """``<person>|<window start as yyyy-MM-ddTHH:mm:ssZ>`` — the Kafka key of a report."""
    user_id = F.col(user_id) if isinstance(user_id, str) else user_id
    start = F.col(window_start) if isinstance(window_start, str) else window_start
    return F.concat_ws("|", user_id, F.date_format(start, "yyyy-MM-dd'T'HH:mm:ss'Z'"))


def is_click() -> Column:
    return (F.col("type").isin("page", "screen")
            | ((F.col("type") == "track") & ~F.coalesce(F.col("event").isin(*ORDER_EVENTS), F.lit(False))))


def hourly_activity(events: DataFrame) -> DataFrame:
    """Stitched events with ``counted_order`` → user_activity_hourly rows (``published_at`` null)."""
    window = F.window("event_time", WINDOW)
    keys = [F.col("person_id").alias("user_id"), window.alias("window")]
    clicks = events.where(is_click()).groupBy(*keys).agg(F.count(F.lit(1)).alias("clicks"))
    purchases = events.where("counted_order").groupBy(*keys).agg(
        F.count(F.lit(1)).alias("purchases"), F.coalesce(F.sum("revenue"), F.lit(0.0)).alias("revenue"))
    joined = clicks.join(purchases, ["user_id", "window"], "full_outer")
    return joined.select(
        "user_id",
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        F.coalesce("clicks", F.lit(0)).cast("long").alias("clicks"),
        F.coalesce("purchases", F.lit(0)).cast("long").alias("purchases"),
        F.coalesce("revenue", F.lit(0.0)).alias("revenue"),
        report_key("user_id", F.col("window.start")).alias("report_key"),
        F.lit(None).cast("timestamp").alias("published_at"),
        F.current_timestamp().alias("updated_at"),
    )


def report_messages(rows: DataFrame) -> DataFrame:
    """user_activity_hourly rows → Kafka records (``key``, ``value`` JSON) for the reports topic.
    The JSON holds only the report's content (not ``updated_at``), so a re-send is byte-identical."""
    fmt = "yyyy-MM-dd'T'HH:mm:ss'Z'"
    payload = F.struct(
        F.col("user_id"),
        F.date_format("window_start", fmt).alias("window_start"),
        F.date_format("window_end", fmt).alias("window_end"),
        "clicks", "purchases", F.round("revenue", 2).alias("revenue"),
    )
    return rows.select(F.col("report_key").alias("key"), F.to_json(payload).alias("value"))
