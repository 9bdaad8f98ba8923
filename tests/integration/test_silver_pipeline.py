"""Producers → the real Kafka broker → bronze → silver, checked against independent truths:
the simulator's ground truth, and pandas over the REES46 CSV."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pandas as pd
import pytest
from pyspark.sql import functions as F

from lakepulse.io.kafka import KafkaEventSink, ensure_topics
from lakepulse.quality import audit
from lakepulse.replay.rees46 import rees46_records
from lakepulse.replay.runner import replay
from lakepulse.silver_stream import SILVER_QUERY, SilverTables, start_silver
from lakepulse.simulate.runner import run_simulation
from lakepulse.streams import start_bronze
from tests.helpers import make_settings, read_topic, shared_data, unique_topic

pytestmark = pytest.mark.integration

REES46 = shared_data() / "rees46" / "2019-10-01-first-hours.csv"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _refine(spark, settings) -> None:
    start_bronze(spark, settings, "available_now").awaitTermination()
    start_silver(spark, settings, "available_now").awaitTermination()


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
    _refine(spark, settings)
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
    _refine(spark, settings)
    read = spark.read.format("delta").load
    events = read(tables.events.path)
    assert {r["event"]: r["count"] for r in events.groupBy("event").count().collect()} == expected
    assert events.count() == 17_434 == sum(expected.values())
    assert round(events.where("event = 'Order Completed'").agg(F.sum("revenue")).first()[0], 2) == purchase_revenue
    assert events.select("anonymous_id").distinct().count() == complete.user_id.nunique()
    assert read(tables.quarantine.path).count() == 1

    with KafkaEventSink(kafka_bootstrap, topic) as sink:  # the same file again: a restart later
        replay(rees46_records(REES46), sink)
    _refine(spark, settings)
    assert read(tables.events.path).count() == 17_434
    assert read(tables.quarantine.path).count() == 2  # every rejected record is kept
    last_run = _metrics(spark, tables).where(F.col("batch_id") > 0)
    totals = last_run.agg(F.sum("rows_in"), F.sum("duplicates_dropped"), F.sum("quarantined")).first()
    assert tuple(totals) == (17_435, 17_434, 1)
    assert audit(spark, settings).problems == []
