"""``gold.user_profile``: one row per person (stitched user) — the user 360.

Built in two pure steps:

* :func:`user_profiles` — a person's facts from their stitched events and sessions: when they were
  first and last seen, sessions, views, adds to cart, checkouts, orders, revenue, average order
  value, active days, category diversity, top category and the first-touch channel and campaign;
* :func:`score_rfm` — recency (days from ``last_seen`` to the as-of date), frequency (orders),
  monetary (revenue), their quintile scores and an RFM segment name, against :class:`RfmCuts`:
  where each score starts, taken by :func:`rfm_cuts` from a whole population of profiles.

Quintile scores use the percent rank (ties share a rank, so the result does not depend on row
order): ``score = min(5, 1 + floor(5 * percent_rank))``, worked out from the count of each distinct
value so that no window holds every profile. R ranks everyone by recency (most recent →
5; recency ranks as the ``last_seen`` date does, so the R cuts hold as the as-of date moves); F and
M rank buyers only (``orders > 0``) — people who never ordered have no F/M score. Scores are
relative to everyone, so the gold job rescores the whole table now and then and scores the
profiles a batch changes against the last rescore's cuts in between (see ``gold.job``).

Example::

    facts = user_profiles(stitched_events, stitched_sessions)
    scored = score_rfm(facts, rfm_cuts(facts))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakepulse.contract import CHECKOUT_STARTED, PRODUCT_ADDED, PRODUCT_VIEWED

# RFM segment names (values of rfm_segment).
CHAMPIONS = "Champions"
LOYAL = "Loyal"
POTENTIAL_LOYALISTS = "Potential loyalists"
NEW_CUSTOMERS = "New customers"
AT_RISK = "At risk"
HIBERNATING = "Hibernating"
NEED_ATTENTION = "Need attention"
PROSPECTS = "Prospects"
LAPSED_PROSPECTS = "Lapsed prospects"
RFM_SEGMENTS = (CHAMPIONS, LOYAL, POTENTIAL_LOYALISTS, NEW_CUSTOMERS, AT_RISK, HIBERNATING, NEED_ATTENTION,
                PROSPECTS, LAPSED_PROSPECTS)

PRODUCT_EVENTS = (PRODUCT_VIEWED, PRODUCT_ADDED)

USER_PROFILE_SCHEMA = StructType([
    StructField("user_id", StringType(), False),        # the person: user id, else anonymous id
    StructField("is_identified", BooleanType(), False),
    StructField("devices", LongType(), False),           # distinct anonymous ids (or user id if none)
    StructField("first_seen", TimestampType(), False),
    StructField("last_seen", TimestampType(), False),
    StructField("sessions", LongType(), False),
    StructField("events", LongType(), False),
    StructField("page_views", LongType(), False),
    StructField("product_views", LongType(), False),
    StructField("adds_to_cart", LongType(), False),
    StructField("checkouts", LongType(), False),
    StructField("orders", LongType(), False),
    StructField("revenue", DoubleType(), False),
    StructField("average_order_value", DoubleType()),    # null without orders
    StructField("first_order_at", TimestampType()),
    StructField("last_order_at", TimestampType()),
    StructField("active_days", LongType(), False),       # distinct event dates
    StructField("tenure_days", IntegerType(), False),    # first_seen date to last_seen date
    StructField("categories_viewed", LongType(), False),  # distinct categories viewed or added
    StructField("top_category", StringType()),
    StructField("first_touch_channel", StringType()),
    StructField("first_touch_campaign", StringType()),
    StructField("recency_days", IntegerType()),          # last_seen date to as_of date
    StructField("frequency", LongType()),
    StructField("monetary", DoubleType()),
    StructField("r_score", IntegerType()),
    StructField("f_score", IntegerType()),
    StructField("m_score", IntegerType()),
    StructField("rfm_score", StringType()),              # e.g. "545"; R alone with a dash for non-buyers
    StructField("rfm_segment", StringType()),
    StructField("as_of", TimestampType()),               # the data time recency is measured against
    StructField("updated_at", TimestampType(), False),
])
PROFILE_COLUMNS = tuple(USER_PROFILE_SCHEMA.fieldNames())
# Filled by score_rfm.
RFM_COLUMNS = ("recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_score",
               "rfm_segment", "as_of")


def user_profiles(events: DataFrame, sessions: DataFrame) -> DataFrame:
    """Stitched events (``prep.stitch`` + ``prep.with_counted_orders``) and stitched sessions
    (``prep.stitch_sessions``) → one profile row per ``person_id`` with the RFM columns null."""
    name = F.col("name")
    product_category = F.when(name.isin(*PRODUCT_EVENTS), F.nullif(F.trim("category"), F.lit("")))
    ordered = F.col("counted_order")
    facts = events.groupBy(F.col("person_id").alias("user_id")).agg(
        F.max(F.col("is_identified").cast("int")).cast("boolean").alias("is_identified"),
        F.count_distinct(F.coalesce("anonymous_id", "user_id")).alias("devices"),
        F.min("event_time").alias("first_seen"),
        F.max("event_time").alias("last_seen"),
        F.count(F.lit(1)).alias("events"),
        F.count_if(F.col("type").isin("page", "screen")).alias("page_views"),
        F.count_if(name == PRODUCT_VIEWED).alias("product_views"),
        F.count_if(name == PRODUCT_ADDED).alias("adds_to_cart"),
        F.count_if(name == CHECKOUT_STARTED).alias("checkouts"),
        F.count_if(ordered).alias("orders"),
        F.coalesce(F.sum(F.when(ordered, F.col("revenue"))), F.lit(0.0)).alias("revenue"),
        F.min(F.when(ordered, F.col("event_time"))).alias("first_order_at"),
        F.max(F.when(ordered, F.col("event_time"))).alias("last_order_at"),
        F.count_distinct("event_date").alias("active_days"),
        F.count_distinct(product_category).alias("categories_viewed"),
        F.mode(product_category, deterministic=True).alias("top_category"),
    )
    first_touch = sessions.groupBy(F.col("person_id").alias("user_id")).agg(
        F.count(F.lit(1)).alias("sessions"),
        F.min_by(F.struct("channel", "campaign_name"), F.struct("session_start", "session_key"))
        .alias("first_touch"),
    )
    derived = {
        "sessions": F.coalesce(F.col("sessions"), F.lit(0)),
        "average_order_value": F.when(F.col("orders") > 0, F.col("revenue") / F.col("orders")),
        "tenure_days": F.datediff(F.to_date("last_seen"), F.to_date("first_seen")),
        "first_touch_channel": F.col("first_touch.channel"),
        "first_touch_campaign": F.col("first_touch.campaign_name"),
        "updated_at": F.current_timestamp(),
    }
    return facts.join(first_touch, "user_id", "left").select([
        (F.lit(None) if field.name in RFM_COLUMNS else derived.get(field.name, F.col(field.name)))
        .cast(field.dataType).alias(field.name)
        for field in USER_PROFILE_SCHEMA.fields
    ])


@dataclass(frozen=True)
class RfmCuts:
    """Where each quintile score starts, taken from a whole population of profiles: for R (the
    ``last_seen`` date, as days since 1970), F (orders) and M (revenue), the lowest value scored 2,
    3, 4 and 5 (None when no profile has that score); ``as_of`` is the population's latest
    ``last_seen``, ``people`` its size.

    A score is monotonic in its value, so it is the highest k whose cut the value reaches (1 when
    none): applied to the population the cuts came from, that is exactly its quintile score.
    """

    recency: tuple[float | None, ...]
    frequency: tuple[float | None, ...]
    monetary: tuple[float | None, ...]
    as_of: datetime
    people: int

    def to_json(self) -> str:
        return json.dumps({"recency": self.recency, "frequency": self.frequency, "monetary": self.monetary,
                           "as_of": self.as_of.isoformat(), "people": self.people})

    @classmethod
    def from_json(cls, text: str) -> RfmCuts:
        data = json.loads(text)
        return cls(tuple(data["recency"]), tuple(data["frequency"]), tuple(data["monetary"]),
                   datetime.fromisoformat(data["as_of"]), int(data["people"]))


def _rfm_values(profiles: DataFrame) -> DataFrame:
    """(metric, value) rows: each profile's R value, and its F and M values when it is a buyer."""
    buyer = F.col("orders") > 0
    pairs = F.array(*(F.struct(F.lit(metric).alias("metric"), value.cast("double").alias("value"))
                      for metric, value in (("recency", F.unix_date(F.to_date("last_seen"))),
                                            ("frequency", F.when(buyer, F.col("orders"))),
                                            ("monetary", F.when(buyer, F.col("revenue"))))))
    return (profiles.select("last_seen", F.explode(pairs).alias("v"))
            .select("last_seen", "v.metric", "v.value").where(F.col("value").isNotNull()))


def rfm_cuts(profiles: DataFrame) -> RfmCuts | None:
    """The :class:`RfmCuts` of ``profiles`` (None when there are none), in one Spark job.

    Each metric's values are counted (one row per distinct value), and each distinct value's
    percent rank is the rows strictly before it / (rows − 1): no window holds every profile."""
    counted = _rfm_values(profiles).groupBy("metric", "value").agg(
        F.count(F.lit(1)).alias("_n"), F.max("last_seen").alias("_latest"))
    metric = Window.partitionBy("metric")
    before = F.coalesce(F.sum("_n").over(metric.orderBy("value").rowsBetween(Window.unboundedPreceding, -1)), F.lit(0))
    total = F.sum("_n").over(metric)
    rank = F.when(total > 1, before / (total - 1)).otherwise(F.lit(0.0))
    scored = counted.select("metric", "value", "_n", "_latest",
                            F.least(F.lit(5), F.lit(1) + F.floor(rank * 5)).cast("int").alias("score"))
    rows = scored.groupBy("metric", "score").agg(
        F.min("value").alias("cut"), F.max("_latest").alias("latest"), F.sum("_n").alias("rows")).collect()
    if not rows:
        return None
    cut = {(r["metric"], r["score"]): r["cut"] for r in rows}
    recency = [r for r in rows if r["metric"] == "recency"]
    return RfmCuts(*(tuple(cut.get((name, k)) for k in range(2, 6)) for name in ("recency", "frequency", "monetary")),
                   as_of=max(r["latest"] for r in recency), people=sum(r["rows"] for r in recency))


def _score(value: Column, cuts: tuple[float | None, ...]) -> Column:
    """The highest k in 2..5 whose cut ``value`` reaches, else 1."""
    score = F.lit(1)
    for k, cut in enumerate(cuts, start=2):
        if cut is not None:
            score = F.when(value >= F.lit(cut), F.lit(k)).otherwise(score)
    return score


def rfm_segment(r: Column | str = "r_score", f: Column | str = "f_score", orders: Column | str = "orders") -> Column:
    """The RFM segment name from the R and F scores (first matching rule wins):

    no orders: R ≥ 3 → Prospects, else Lapsed prospects; R ≥ 4 and F ≥ 4 → Champions; F ≥ 4 and
    R ≥ 3 → Loyal; R ≥ 4 and F ≥ 2 → Potential loyalists; R ≥ 4 → New customers; R ≤ 2 and F ≥ 3 →
    At risk; R ≤ 2 → Hibernating; otherwise Need attention.
    """
    r, f, orders = (F.col(c) if isinstance(c, str) else c for c in (r, f, orders))
    return (
        F.when(orders == 0, F.when(r >= 3, F.lit(PROSPECTS)).otherwise(F.lit(LAPSED_PROSPECTS)))
        .when((r >= 4) & (f >= 4), F.lit(CHAMPIONS))
        .when((f >= 4) & (r >= 3), F.lit(LOYAL))
        .when((r >= 4) & (f >= 2), F.lit(POTENTIAL_LOYALISTS))
        .when(r >= 4, F.lit(NEW_CUSTOMERS))
        .when((r <= 2) & (f >= 3), F.lit(AT_RISK))
        .when(r <= 2, F.lit(HIBERNATING))
        .otherwise(F.lit(NEED_ATTENTION))
    )


def score_rfm(profiles: DataFrame, cuts: RfmCuts, as_of: Column | None = None) -> DataFrame:
    """``profiles`` with their RFM columns scored against ``cuts``; recency measured against the
    timestamp ``as_of`` (default ``cuts.as_of``: the latest event time seen, not the clock, so
    replays agree). With the cuts of ``profiles`` itself (:func:`rfm_cuts`) these are the exact
    quintiles among ``profiles``."""
    buyer = F.col("orders") > 0
    scored = (
        profiles
        .withColumn("as_of", (F.lit(cuts.as_of) if as_of is None else as_of).cast("timestamp"))
        .withColumn("recency_days", F.greatest(F.lit(0), F.datediff(F.to_date("as_of"), F.to_date("last_seen"))))
        .withColumn("frequency", F.col("orders"))
        .withColumn("monetary", F.col("revenue"))
        .withColumn("r_score", _score(F.unix_date(F.to_date("last_seen")).cast("double"), cuts.recency))
        .withColumn("f_score", F.when(buyer, _score(F.col("orders").cast("double"), cuts.frequency)))
        .withColumn("m_score", F.when(buyer, _score(F.col("revenue"), cuts.monetary)))
    )
    return (
        scored
        .withColumn("rfm_score", F.concat(F.col("r_score").cast("string"),
                                          F.coalesce(F.col("f_score").cast("string"), F.lit("-")),
                                          F.coalesce(F.col("m_score").cast("string"), F.lit("-"))))
        .withColumn("rfm_segment", rfm_segment())
        .select(*PROFILE_COLUMNS)
    )
