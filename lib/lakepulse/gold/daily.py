"""``gold.funnel_daily``: the default e-commerce funnel by day × channel × device.

Product Viewed → Product Added → Checkout Started → Order Completed, ordered, within
``gold.funnel_window_seconds`` (1 day) of the first step, counted by person and day: a person counts
once per day their funnel starts, by their best attempt of that day. ``channel`` is the marketing
channel of the session the attempt started in and ``device`` the device type of its first event
(both first touch).

The gold job keeps the counted attempts themselves in ``gold.funnel_attempts`` (one row per person
per day their funnel starts): a micro-batch recomputes the attempts of the people it touches, and
the days it changes are summed again from that table (:func:`funnel_daily_of_attempts`), so a
batch costs its people, not every event of the days it touches.

Example::

    rows = funnel_daily(stitched_events_with_sessions, window_seconds=86_400)
    # the same, in two steps:
    attempts = funnel_attempts(stitched_events_with_sessions, window_seconds=86_400)
    rows = funnel_daily_of_attempts(attempts, window_seconds=86_400)
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakepulse.contract import CHECKOUT_STARTED, ORDER_COMPLETED, PRODUCT_ADDED, PRODUCT_VIEWED
from lakepulse.gold import funnel

FUNNEL_DAILY_SCHEMA = StructType([
    StructField("day", DateType(), False),
    StructField("channel", StringType(), False),
    StructField("device", StringType(), False),
    StructField("step", IntegerType(), False),
    StructField("step_name", StringType(), False),
    StructField("entered", LongType(), False),
    StructField("converted", LongType(), False),
    StructField("conversion_from_previous", DoubleType()),
    StructField("conversion_from_first", DoubleType()),
    StructField("drop_off", LongType(), False),
    StructField("median_seconds_to_convert", DoubleType()),
    StructField("p90_seconds_to_convert", DoubleType()),
    StructField("updated_at", TimestampType(), False),
])
FUNNEL_ATTEMPTS_SCHEMA = StructType([
    StructField("person_id", StringType(), False),
    StructField("day", DateType(), False),              # UTC day of the attempt's first step
    StructField("start_time", TimestampType(), False),
    StructField("channel", StringType(), False),
    StructField("device", StringType(), False),
    StructField("step_times", ArrayType(TimestampType())),  # one per step, null where not reached
    StructField("reached", IntegerType(), False),
    StructField("updated_at", TimestampType(), False),
])
DEFAULT_STEPS = (PRODUCT_VIEWED, PRODUCT_ADDED, CHECKOUT_STARTED, ORDER_COMPLETED)


def default_funnel(window_seconds: int = 86_400, breakdown: tuple[str, ...] = ("channel", "device")) -> funnel.FunnelSpec:
    """The e-commerce funnel of :data:`DEFAULT_STEPS`, by person, first-touch breakdown."""
    return funnel.FunnelSpec(
        steps=tuple(funnel.Step(event) for event in DEFAULT_STEPS), window_seconds=window_seconds,
        order="ordered", count_by="user", breakdown=breakdown, attribution="first_touch",
    )


def funnel_attempts(events: DataFrame, window_seconds: int = 86_400) -> DataFrame:
    """Stitched events with ``channel`` (their session's) and ``device`` → funnel_attempts rows: one
    per person per UTC day their funnel starts, their best attempt of that day."""
    spec = default_funnel(window_seconds)
    return funnel.attempts(events, spec, per_day=True).select(
        *[F.coalesce(F.col(f.name), F.lit("unknown")).alias(f.name) if f.name in spec.breakdown
          else F.col(f.name).cast(f.dataType) for f in FUNNEL_ATTEMPTS_SCHEMA.fields if f.name != "updated_at"],
        F.current_timestamp().alias("updated_at"),
    )


def funnel_daily_of_attempts(attempts: DataFrame, window_seconds: int = 86_400) -> DataFrame:
    """funnel_attempts rows (every person's, of the days wanted) → funnel_daily rows of those days."""
    steps = funnel.summarize(attempts, default_funnel(window_seconds), by=("day",))
    return steps.select(
        *[F.col(f.name).cast(f.dataType) for f in FUNNEL_DAILY_SCHEMA.fields if f.name != "updated_at"],
        F.current_timestamp().alias("updated_at"),
    )


def funnel_daily(events: DataFrame, window_seconds: int = 86_400) -> DataFrame:
    """Stitched events with ``channel`` (their session's) and ``device`` → funnel_daily rows."""
    return funnel_daily_of_attempts(funnel_attempts(events, window_seconds), window_seconds)
