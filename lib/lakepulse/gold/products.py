"""``gold.product_metrics`` (per product per hour) and the hot-products ranking.

Counts per product and UTC hour of event time:

* ``views`` — Product Viewed events, ``adds`` — Product Added events (by their ``product_id``);
* ``orders`` — counted orders (``prep.with_counted_orders``: one per order id) with a line for the
  product; ``units`` — the lines' quantities (1 when absent); ``revenue`` — price × quantity.

Hot products compare the last N hours with the N hours before them. A product's *activity* in a
window is ``views + 3 × adds + 10 × orders``; its trend score is
``(current − previous) / sqrt(previous + 1)``: growth measured against what the product usually
does, so a product going from 0 to 20 outranks one going from 1,000 to 1,050, and a product that
only holds a high volume scores 0. "Now" is the end of the latest hour in the table (data time,
so a replay ranks the same way), unless given.

Example::

    metrics = product_metrics(stitched_events_with_counted_orders)
    spark.sql(hot_products_sql("gold.product_metrics", hours=24)).show()
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakepulse.contract import PRODUCT_ADDED, PRODUCT_VIEWED

PRODUCT_METRICS_SCHEMA = StructType([
    StructField("product_id", StringType(), False),
    StructField("hour", TimestampType(), False),         # start of the UTC hour
    StructField("event_date", DateType(), False),
    StructField("category", StringType()),
    StructField("views", LongType(), False),
    StructField("adds", LongType(), False),
    StructField("orders", LongType(), False),
    StructField("units", LongType(), False),
    StructField("revenue", DoubleType(), False),
    StructField("updated_at", TimestampType(), False),
])
ACTIVITY_WEIGHTS = {"views": 1, "adds": 3, "orders": 10}


def hour_of(moment: str = "event_time") -> F.Column:
    """The start of the UTC hour of a timestamp column (the session time zone is UTC)."""
    return F.date_trunc("hour", F.col(moment))


def product_metrics(events: DataFrame) -> DataFrame:
    """Events with ``counted_order`` → product_metrics rows (one per product and hour with activity)."""
    blank_to_null = lambda c: F.nullif(F.trim(c), F.lit(""))  # noqa: E731
    browsing = events.where(F.col("event").isin(PRODUCT_VIEWED, PRODUCT_ADDED) & F.col("product_id").isNotNull()) \
        .select(
            blank_to_null(F.col("product_id")).alias("product_id"), hour_of().alias("hour"),
            blank_to_null(F.col("category")).alias("category"),
            (F.col("event") == PRODUCT_VIEWED).cast("long").alias("views"),
            (F.col("event") == PRODUCT_ADDED).cast("long").alias("adds"),
            F.lit(None).cast("string").alias("order_id"), F.lit(0).cast("long").alias("units"),
            F.lit(0.0).alias("revenue"),
        )
    lines = events.where("counted_order").select(
        hour_of().alias("hour"), F.coalesce("order_id", "message_id").alias("order_id"),
        F.explode("products").alias("line"),
    )
    quantity = F.coalesce(F.col("line.quantity"), F.lit(1))
    ordered = lines.select(
        blank_to_null(F.col("line.product_id")).alias("product_id"), "hour",
        blank_to_null(F.col("line.category")).alias("category"),
        F.lit(0).cast("long").alias("views"), F.lit(0).cast("long").alias("adds"), "order_id",
        quantity.cast("long").alias("units"),
        F.coalesce(F.col("line.price") * quantity, F.lit(0.0)).alias("revenue"),
    )
    rows = browsing.unionByName(ordered).where(F.col("product_id").isNotNull())
    return rows.groupBy("product_id", "hour").agg(
        F.to_date(F.first("hour")).alias("event_date"),
        F.mode("category", deterministic=True).alias("category"),
        F.sum("views").alias("views"),
        F.sum("adds").alias("adds"),
        F.count_distinct("order_id").alias("orders"),
        F.sum("units").alias("units"),
        F.sum("revenue").alias("revenue"),
        F.current_timestamp().alias("updated_at"),
    ).select(*[F.col(f.name).cast(f.dataType) for f in PRODUCT_METRICS_SCHEMA.fields])


def hot_products_sql(table: str, hours: int, now: datetime | None = None, limit: int | None = None) -> str:
    """The hot-products query over the product_metrics ``table`` (a name or ``delta.`path```):
    product_id, category, current and previous activity, views/adds/orders/revenue of the current
    window, growth and trend_score, ranked (``rank``) by trend score, then current activity."""
    if not isinstance(hours, int) or hours < 1:
        raise ValueError(f"hot products: hours must be a positive whole number, got {hours!r}")
    activity = " + ".join(f"{weight} * {column}" for column, weight in ACTIVITY_WEIGHTS.items())
    now_sql = (f"TIMESTAMP '{now:%Y-%m-%d %H:%M:%S}'" if now is not None
               else f"(SELECT max(hour) + INTERVAL 1 HOUR FROM {table})")
    top = f"\nLIMIT {int(limit)}" if limit else ""
    return f"""WITH bounds AS (
  SELECT {now_sql} AS now_ts
), windows AS (
  SELECT m.product_id,
         max(m.category) AS category,
         sum(CASE WHEN m.hour >= b.now_ts - INTERVAL {hours} HOURS THEN {activity} ELSE 0 END) AS current_activity,
         sum(CASE WHEN m.hour < b.now_ts - INTERVAL {hours} HOURS THEN {activity} ELSE 0 END) AS previous_activity,
         sum(CASE WHEN m.hour >= b.now_ts - INTERVAL {hours} HOURS THEN m.views ELSE 0 END) AS views,
         sum(CASE WHEN m.hour >= b.now_ts - INTERVAL {hours} HOURS THEN m.adds ELSE 0 END) AS adds,
         sum(CASE WHEN m.hour >= b.now_ts - INTERVAL {hours} HOURS THEN m.orders ELSE 0 END) AS orders,
         sum(CASE WHEN m.hour >= b.now_ts - INTERVAL {hours} HOURS THEN m.revenue ELSE 0 END) AS revenue
  FROM {table} m CROSS JOIN bounds b
  WHERE m.hour >= b.now_ts - INTERVAL {2 * hours} HOURS AND m.hour < b.now_ts
  GROUP BY m.product_id
)
SELECT rank() OVER (ORDER BY trend_score DESC, current_activity DESC, product_id) AS rank, *
FROM (
  SELECT product_id, category, current_activity, previous_activity, views, adds, orders, revenue,
         CASE WHEN previous_activity > 0 THEN current_activity / previous_activity END AS growth,
         (current_activity - previous_activity) / sqrt(previous_activity + 1) AS trend_score
  FROM windows
)
ORDER BY rank{top}"""
