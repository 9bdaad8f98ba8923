"""Producers → the real Kafka broker → bronze → silver → gold, checked against independent truths:
the simulator's ground truth, pandas over silver (for gold), and pandas over the REES46 CSV."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pandas as pd
import pytest
from pyspark.sql import functions as F

from lakepulse.gold.job import GoldTables
from lakepulse.io.kafka import KafkaEventSink, ensure_topics
from lakepulse.pipeline import run_to_gold
from lakepulse.quality import audit
from lakepulse.replay.rees46 import rees46_records
from lakepulse.replay.runner import replay
from lakepulse.silver_stream import SILVER_QUERY, SilverTables
from lakepulse.simulate.runner import run_simulation
from tests.helpers import make_settings, read_delta_rs, read_topic, shared_data, unique_topic

pytestmark = pytest.mark.integration

REES46 = shared_data() / "rees46" / "2019-10-01-first-hours.csv"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _metrics(spark, tables: SilverTables):
    return spark.read.format("delta").load(tables.metrics.path).where(F.col("query") == SILVER_QUERY)


def _raw_identifiers(payloads: list[bytes | None]) -> tuple[set[str], set[str]]:
    """Every email and every IP address the producers sent, found without our code."""
    emails, ips = set(), set()
    for value in payloads:
        if not value:
            continue
        text = value.decode("utf-8", "replace")
        emails.update(EMAIL.findall(text))
        try:
            ip = json.loads(text).get("context", {}).get("ip")
        except (ValueError, AttributeError):
            continue
        if ip and not ip.endswith(".0"):  # an address already ending in .0 is its own truncation
            ips.add(ip)
    return emails, ips


@pytest.mark.slow
def test_simulated_events_reconcile_with_the_ground_truth(spark, kafka_bootstrap, tmp_path):
    topic = unique_topic("silver-sim")
    ensure_topics(kafka_bootstrap, [topic], partitions=3)
    settings, _ = make_settings(
        tmp_path, kafka_bootstrap, topic, privacy={"salt": "pytest-salt", "salt_file": ""},
        simulator={"users": 400, "duplicate_rate": 0.02, "malformed_json_rate": 0.005,
                   "missing_message_id_rate": 0.005, "missing_identity_rate": 0.005, "wrong_type_rate": 0.005,
                   "unknown_event_rate": 0.005, "future_timestamp_rate": 0.005, "oversized_rate": 0.003,
                   "late_rate": 0.02})
    with KafkaEventSink(kafka_bootstrap, topic) as sink:
        truth = run_simulation(sink, settings.simulator, events=6000, now=datetime.now(UTC), seed=7).to_dict()
    run_to_gold(spark, settings)
    tables = SilverTables.from_settings(settings)
    read = spark.read.format("delta").load

    events = read(tables.events.path)
    assert events.count() == truth["unique_valid_events"]
    assert events.select("message_id").distinct().count() == truth["unique_valid_events"]
    by_name = {r["name"]: r["count"] for r in events.groupBy(
        F.when(F.col("type") == "track", F.col("event")).otherwise(F.col("type")).alias("name")).count().collect()}
    assert by_name == truth["valid_events_by_name"]
    revenue = events.where("event = 'Order Completed'").agg(F.sum("revenue")).first()[0]
    assert round(revenue, 2) == truth["valid_revenue"]

    metrics = _metrics(spark, tables)
    by_rule = {r["rule"]: r["n"] for r in metrics.select(F.explode("quarantined_by_rule").alias("rule", "c"))
               .groupBy("rule").agg(F.sum("c").alias("n")).collect()}
    assert by_rule == {rule: n for rule, n in truth["expected_quarantine"].items() if n}
    assert read(tables.quarantine.path).count() == truth["quarantine_total"]
    assert metrics.agg(F.sum("duplicates_dropped")).first()[0] == truth["duplicates_sent"]
    result = audit(spark, settings)
    assert result.problems == [] and result.bronze_rows == truth["records_sent"]

    # Identity: every device of a user who was identified on several devices maps to that user.
    identity = {r.anonymous_id: r.user_id for r in read(tables.identity.path).collect()}
    multi_device = {u: e["anonymous_ids"] for u, e in truth["users"].items() if len(e["anonymous_ids"]) > 1}
    assert multi_device, "the simulation should include users on two devices"
    for user, devices in multi_device.items():
        assert {identity.get(d) for d in devices} == {user}

    # Privacy: no email or full IP address the producers sent survives anywhere in silver.
    emails, ips = _raw_identifiers([v for _, v in read_topic(kafka_bootstrap, topic).values()])
    assert emails and ips
    any_ip = re.compile(r"(?<![\d.:a-f])(" + "|".join(map(re.escape, sorted(ips, key=len, reverse=True)))
                        + r")(?![\d.:a-f])")
    leaked = set()
    string_columns = [name for name, dtype in events.dtypes if dtype == "string"]
    for row in events.select(*string_columns).collect():
        for text in row:
            if text:
                leaked.update(set(EMAIL.findall(text)) & emails)
                leaked.update(any_ip.findall(text))
    assert leaked == set()

    sessions = read(tables.sessions.path)
    assert sessions.agg(F.sum("events")).first()[0] == truth["unique_valid_events"]

    _gold_matches_pandas_over_silver(settings, kafka_bootstrap)


def _gold_matches_pandas_over_silver(settings, bootstrap: str) -> None:
    """Gold recomputed independently with pandas from silver (read with delta-rs, not Spark)."""
    silver, gold = SilverTables.from_settings(settings), GoldTables.from_settings(settings)
    events = read_delta_rs(silver.events.path, "SELECT message_id, type, event, anonymous_id, user_id, event_time, "
                           "order_id, revenue, product_id, products FROM t").to_pandas()
    links = read_delta_rs(silver.identity.path, "SELECT anonymous_id, user_id FROM t").to_pandas()
    mapped = events.anonymous_id.map(dict(zip(links.anonymous_id, links.user_id, strict=False)))
    events["person"] = events.user_id.fillna(mapped).fillna(events.anonymous_id)
    events = events.sort_values(["event_time", "message_id"])
    orders = events[events.event == "Order Completed"]
    events["counted"] = False
    events.loc[orders.index, "counted"] = orders.order_id.isna() | ~orders.order_id.duplicated()

    # user_profile: the facts per person, and the RFM quintiles.
    per_person = events.groupby("person").agg(
        events=("message_id", "size"), first_seen=("event_time", "min"), last_seen=("event_time", "max"),
        product_views=("event", lambda e: int((e == "Product Viewed").sum())),
        adds_to_cart=("event", lambda e: int((e == "Product Added").sum())),
        orders=("counted", "sum"),
        revenue=("revenue", lambda r: float(r[events.loc[r.index, "counted"]].sum())),
    )
    profiles = read_delta_rs(gold.user_profile.path).to_pandas().set_index("user_id").sort_index()
    assert sorted(profiles.index) == sorted(per_person.index)
    for column in ("events", "product_views", "adds_to_cart", "orders"):
        assert (profiles[column] == per_person.loc[profiles.index, column]).all(), column
    assert (profiles.revenue - per_person.loc[profiles.index, "revenue"]).abs().max() < 1e-6
    as_of = per_person.last_seen.max().normalize()
    recency = (as_of - per_person.last_seen.dt.normalize()).dt.days

    def quintile(values: pd.Series) -> pd.Series:
        rank = values.rank(method="min")
        share = (rank - 1) / (len(values) - 1) if len(values) > 1 else rank * 0
        return (1 + (share * 5).apply(int)).clip(upper=5)

    buyers = per_person[per_person.orders > 0]
    assert (profiles.r_score == quintile(-recency).loc[profiles.index]).all()
    assert (profiles.loc[buyers.index].f_score == quintile(buyers.orders)).all()
    assert (profiles.loc[buyers.index].m_score == quintile(buyers.revenue)).all()
    assert profiles.drop(buyers.index).f_score.isna().all()

    # product_metrics: per product over all hours.
    lines = events[events.counted].explode("products").dropna(subset=["products"])
    lines = pd.DataFrame({"product_id": [p["product_id"] for p in lines.products],
                          "units": [p["quantity"] or 1 for p in lines.products],
                          "revenue": [p["price"] * (p["quantity"] or 1) for p in lines.products]})
    metrics = read_delta_rs(gold.product_metrics.path, "SELECT product_id, sum(views) views, sum(adds) adds, "
                            "sum(units) units, sum(revenue) revenue FROM t GROUP BY product_id").to_pandas()
    metrics = metrics.set_index("product_id")
    browsing = events[events.event.isin(["Product Viewed", "Product Added"])]
    assert metrics.views.sum() == (browsing.event == "Product Viewed").sum()
    assert metrics.adds.sum() == (browsing.event == "Product Added").sum()
    assert metrics.units.sum() == lines.units.sum()
    assert abs(metrics.revenue.sum() - lines.revenue.sum()) < 1e-6

    # funnel_daily: step 1 counts each person once per day they viewed a product.
    viewed = events[events.event == "Product Viewed"]
    first_step = read_delta_rs(gold.funnel_daily.path, "SELECT sum(converted) n FROM t WHERE step = 1").to_pandas()
    assert first_step.n[0] == len(viewed.assign(day=viewed.event_time.dt.date)[["person", "day"]].drop_duplicates())

    # The marketing report: exactly one message per closed (person, hour) window.
    clicks = events.type.isin(["page", "screen"]) | ((events.type == "track") & ~events.event.isin(
        ["Order Completed", "Order Cancelled", "Order Refunded"]))
    active = events[clicks | events.counted].assign(hour=lambda e: e.event_time.dt.floor("h"))
    watermark = events.event_time.max() - pd.Timedelta(seconds=settings.gold.report_delay_seconds)
    closed = active[active.hour + pd.Timedelta(hours=1) <= watermark]
    expected_keys = {f"{p}|{h:%Y-%m-%dT%H:%M:%SZ}" for p, h in zip(closed.person, closed.hour, strict=False)}
    keys = [key.decode() for key, _ in read_topic(bootstrap, settings.gold.reports_topic).values()]
    assert len(keys) == len(set(keys)) == len(expected_keys)
    assert set(keys) == expected_keys


@pytest.mark.slow
@pytest.mark.skipif(not REES46.exists(), reason=f"REES46 sample not present at {REES46}")
def test_rees46_replayed_twice_lands_once(spark, kafka_bootstrap, tmp_path):
    topic = unique_topic("silver-rees46")
    ensure_topics(kafka_bootstrap, [topic], partitions=3)
    settings, _ = make_settings(tmp_path, kafka_bootstrap, topic,
                                privacy={"salt": "pytest-salt", "salt_file": ""})
    tables = SilverTables.from_settings(settings)
    source = pd.read_csv(REES46, on_bad_lines="skip", dtype=str)
    complete = source.dropna(subset=["user_session"])  # the truncated last line has 8 of 9 fields
    expected = {"Product Viewed": int((complete.event_type == "view").sum()),
                "Product Added": int((complete.event_type == "cart").sum()),
                "Order Completed": int((complete.event_type == "purchase").sum())}
    purchase_revenue = round(complete[complete.event_type == "purchase"].price.astype(float).sum(), 2)

    with KafkaEventSink(kafka_bootstrap, topic) as sink:
        replay(rees46_records(REES46), sink)
    run_to_gold(spark, settings)
    read = spark.read.format("delta").load
    events = read(tables.events.path)
    assert {r["event"]: r["count"] for r in events.groupBy("event").count().collect()} == expected
    assert events.count() == 17_434 == sum(expected.values())
    assert round(events.where("event = 'Order Completed'").agg(F.sum("revenue")).first()[0], 2) == purchase_revenue
    assert events.select("anonymous_id").distinct().count() == complete.user_id.nunique()
    assert read(tables.quarantine.path).count() == 1

    gold = GoldTables.from_settings(settings)
    totals = read(gold.product_metrics.path).agg(*(F.sum(c).alias(c) for c in ("views", "adds", "orders"))).first()
    assert totals.asDict() == {"views": expected["Product Viewed"], "adds": expected["Product Added"],
                               "orders": expected["Order Completed"]}
    profile_totals = [
        F.count("*").alias("users"), F.sum("sessions").alias("sessions"), F.sum("revenue").alias("revenue"),
        F.sum("product_views").alias("views"), F.sum("adds_to_cart").alias("adds"), F.sum("orders").alias("orders"),
    ]
    profiles = read(gold.user_profile.path).agg(*profile_totals).first()
    assert profiles["users"] == complete.user_id.nunique()
    assert profiles["sessions"] == len(complete[["user_id", "user_session"]].drop_duplicates())
    assert round(profiles["revenue"], 2) == purchase_revenue
    assert (profiles["views"], profiles["adds"], profiles["orders"]) == tuple(expected.values())

    with KafkaEventSink(kafka_bootstrap, topic) as sink:  # the same file again: a restart later
        replay(rees46_records(REES46), sink)
    run_to_gold(spark, settings)
    assert read(tables.events.path).count() == 17_434
    assert read(tables.quarantine.path).count() == 2  # every rejected record is kept
    last_run = _metrics(spark, tables).where(F.col("batch_id") > 0)
    totals = last_run.agg(F.sum("rows_in"), F.sum("duplicates_dropped"), F.sum("quarantined")).first()
    assert tuple(totals) == (17_435, 17_434, 1)
    assert audit(spark, settings).problems == []
    assert read(gold.user_profile.path).agg(*profile_totals).first() == profiles  # gold unchanged too
