"""Replay of the Online Retail fixture into the real local Kafka broker, read back with a consumer."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from lakepulse.io.kafka import KafkaEventSink, ensure_topics
from lakepulse.replay.online_retail import online_retail_records
from lakepulse.replay.runner import replay
from tests.helpers import read_topic, unique_topic

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "online-retail"


def test_online_retail_fixture_through_kafka_equals_pandas(kafka_bootstrap: str) -> None:
    topic = unique_topic("test.replay")
    ensure_topics(kafka_bootstrap, [topic], partitions=3)
    lines = pd.concat([pd.read_csv(path, dtype={"InvoiceNo": str}) for path in sorted(FIXTURE.glob("*.csv"))])
    lines["amount"] = lines["Quantity"] * lines["UnitPrice"]
    per_invoice = lines.groupby("InvoiceNo")["amount"].sum().round(2)
    cancelled = per_invoice.index.str.startswith("C")

    with KafkaEventSink(kafka_bootstrap, topic) as sink:
        summary = replay(online_retail_records(FIXTURE), sink)
    records = list(read_topic(kafka_bootstrap, topic).values())
    events = [json.loads(value) for _, value in records]

    assert len(events) == summary.records_sent == len(per_invoice)
    assert len({e["messageId"] for e in events}) == len(events)
    assert sorted(e["properties"]["order_id"] for e in events) == sorted(per_invoice.index)
    assert sum(e["event"] == "Order Cancelled" for e in events) == int(cancelled.sum())
    completed_revenue = sum(e["properties"]["revenue"] for e in events if e["event"] == "Order Completed")
    cancelled_revenue = sum(e["properties"]["revenue"] for e in events if e["event"] == "Order Cancelled")
    assert completed_revenue == pytest.approx(per_invoice[~cancelled].sum(), abs=0.005)
    assert cancelled_revenue == pytest.approx(per_invoice[cancelled].sum(), abs=0.005)
    for key, value in records:  # keyed by the device, else the customer
        event = json.loads(value)
        assert key == (event.get("anonymousId") or event["userId"]).encode()
