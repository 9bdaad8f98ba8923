"""The growth benchmark's seeded history (lakepulse.benchmark.history) on real Delta tables: what
it writes for a handful of people, checked against values worked out by hand from the module's
rules (person n: Product Viewed, then 5 minutes later an Order Completed when n % 4 == 0, else a
Product Added; device <first 8 hex digits of md5(n)>-seed-a<n>, identified as seed-u<n> when n is
even; price 10 + n % 90)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from lakepulse.benchmark.history import seed_history
from lakepulse.gold.job import GoldTables, RfmState
from lakepulse.silver_stream import SilverTables
from tests.helpers import make_settings

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def device(n: int) -> str:
    return f"{hashlib.md5(str(n).encode()).hexdigest()[:8]}-seed-a{n}"


@pytest.mark.slow
@pytest.mark.integration
def test_the_history_of_eight_people_is_what_the_streams_would_have_written(spark, tmp_path):
    settings, _ = make_settings(tmp_path, "localhost:9", "unused", simulator={"history_days": 3})
    seeded = seed_history(spark, settings, 8, now=NOW)
    silver, gold = SilverTables.from_settings(settings), GoldTables.from_settings(settings)

    def table(ref, version=None):
        reader = spark.read.format("delta")
        return (reader.option("versionAsOf", version) if version is not None else reader).load(ref.path)

    assert (seeded["people"], seeded["events"]) == (8, 16)
    assert table(silver.events).count() == 16
    # Only the even people are identified: 4 map rows, one per device.
    assert sorted(tuple(r) for r in table(silver.identity).select("anonymous_id", "user_id").collect()) == [
        (device(n), f"seed-u{n}") for n in sorted((0, 2, 4, 6), key=device)]
    # Two events 5 minutes apart: one session per device.
    assert table(silver.sessions).count() == 8

    profiles = {r["user_id"]: r for r in table(gold.user_profile).collect()}
    assert sorted(profiles) == sorted([device(1), device(3), device(5), device(7),
                                       "seed-u0", "seed-u2", "seed-u4", "seed-u6"])
    assert {p: (r["orders"], r["revenue"], r["adds_to_cart"], r["product_views"]) for p, r in profiles.items()
            if r["orders"]} == {"seed-u0": (1, 10.0, 0, 1), "seed-u4": (1, 14.0, 0, 1)}
    assert profiles[device(1)]["adds_to_cart"] == 1 and profiles[device(1)]["is_identified"] is False
    # Person 1's second event: end of history − (1 day + 7,919 s), the first 300 s before it; the
    # end is 3 + 10 days before now.
    end = NOW - timedelta(days=13)
    assert profiles[device(1)]["first_seen"].replace(tzinfo=UTC) == end - timedelta(seconds=86_400 + 7_919 + 300)
    assert profiles[device(1)]["last_seen"].replace(tzinfo=UTC) == end - timedelta(seconds=86_400 + 7_919)
    # RFM is scored: every profile has an R score, buyers an F score.
    assert all(r["r_score"] is not None for r in profiles.values())
    assert {p for p, r in profiles.items() if r["f_score"] is not None} == {"seed-u0", "seed-u4"}
    # Written as a rescore: the gold job finds its cuts and scores the people it touches against them.
    rfm = RfmState.load(spark, gold.user_profile)
    assert (rfm.people, rfm.cuts.people, rfm.cuts.as_of) == (8, 8, max(r["last_seen"] for r in profiles.values()))

    activity = table(gold.user_activity)
    assert activity.where(F.col("published_at").isNull()).count() == 0
    assert activity.agg(F.sum("clicks"), F.sum("purchases")).first() == (14, 2)

    # The history ends with a commit that holds no data: a stream started there reads nothing old,
    # and reads what comes after it.
    version = seeded["silver_events_version"]
    from delta.tables import DeltaTable

    assert DeltaTable.forPath(spark, silver.events.path).history(1).first()["operation"] == "SET TBLPROPERTIES"
    table(silver.events).limit(3).write.format("delta").mode("append").save(silver.events.path)
    read: list[int] = []
    (spark.readStream.format("delta").option("startingVersion", version).load(silver.events.path)
     .writeStream.foreachBatch(lambda batch, _: read.append(batch.count()))
     .option("checkpointLocation", str(tmp_path / "checkpoint")).trigger(availableNow=True).start()
     .awaitTermination())
    assert sum(read) == 3

    with pytest.raises(ValueError, match="empty tables only"):
        seed_history(spark, settings, 8, now=NOW)
