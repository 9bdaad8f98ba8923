"""The simulator through the real local Kafka broker, read back with a plain consumer and recounted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Consumer, TopicPartition

from lakepulse.io.kafka import KafkaEventSink, ensure_topics
from lakepulse.paths import project_root
from lakepulse.settings import SimulatorSettings
from lakepulse.simulate import generate, run_simulation
from tests.helpers import make_settings, unique_topic
from tests.unit.test_simulate import check, event_time

pytestmark = pytest.mark.integration

CONFIG = SimulatorSettings(users=2000, products=300, future_timestamp_rate=0.005, malformed_json_rate=0.005,
                           wrong_type_rate=0.005, duplicate_rate=0.02, late_rate=0.02)


def read_with_timestamps(bootstrap: str, topic: str) -> list[tuple[int, int, bytes | None, bytes, datetime]]:
    """Every record of ``topic`` as (partition, offset, key, value, Kafka timestamp), in offset order."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    records = []
    remaining = sum(ends.values())
    while remaining > 0:
        for message in consumer.consume(10_000, timeout=5):
            if message.error():
                raise RuntimeError(message.error())
            moment = datetime.fromtimestamp(message.timestamp()[1] / 1000, tz=UTC)
            records.append((message.partition(), message.offset(), message.key(), message.value(), moment))
            remaining -= 1
    consumer.close()
    return sorted(records, key=lambda r: (r[0], r[1]))


def test_twenty_thousand_simulated_records_arrive_as_generated_and_recount_to_the_truth(kafka_bootstrap: str) -> None:
    topic = unique_topic("test.simulate")
    ensure_topics(kafka_bootstrap, [topic], partitions=3)
    now = datetime.now(UTC)  # the Kafka timestamps are real send times, so the timeline ends now
    with KafkaEventSink(kafka_bootstrap, topic) as sink:
        truth = run_simulation(sink, CONFIG, events=20_000, now=now, topic=topic).to_dict()
    read = read_with_timestamps(kafka_bootstrap, topic)
    expected = [(r.key, r.value) for r in generate(CONFIG, 20_000, now)]  # same seed and now: same records

    assert len(read) == truth["records_sent"] == 20_000
    assert Counter((key, value) for _, _, key, value, _ in read) == Counter(expected)
    in_kafka_by_key: dict[bytes | None, list[bytes]] = defaultdict(list)
    for _, _, key, value, _ in read:
        in_kafka_by_key[key].append(value)
    sent_by_key: dict[bytes | None, list[bytes]] = defaultdict(list)
    for key, value in expected:
        sent_by_key[key].append(value)
    # One key, one partition: a device's events stay in order (records without a key are spread).
    assert {k: v for k, v in in_kafka_by_key.items() if k} == {k: v for k, v in sent_by_key.items() if k}

    quarantine: Counter[str] = Counter()
    seen: set[str] = set()
    duplicates = 0
    for _, _, _, value, kafka_time in read:
        failed = check(value, kafka_time=kafka_time)  # plausibility against the real Kafka time
        if failed:
            assert len(failed) == 1
            quarantine[failed[0]] += 1
            continue
        event = json.loads(value)
        assert event_time(event) <= kafka_time  # nothing valid from the future
        if event["messageId"] in seen:
            duplicates += 1
        seen.add(event["messageId"])
    assert {rule: n for rule, n in truth["expected_quarantine"].items() if n} == dict(quarantine)
    assert truth["duplicates_sent"] == duplicates
    assert truth["unique_valid_events"] == len(seen)
    future = [(json.loads(v), t) for _, _, _, v, t in read if check(v, t) == ["timestamp_plausible"]]
    assert len(future) == truth["faults"]["future_timestamp"] == 100
    assert all(event_time(e) >= t + timedelta(days=1) for e, t in future)


def test_the_job_sends_to_kafka_and_writes_the_ground_truth(kafka_bootstrap: str, tmp_path) -> None:
    topic = unique_topic("test.simulate.job")
    _, settings_file = make_settings(tmp_path, kafka_bootstrap, topic)
    truth_file = tmp_path / "truth.json"
    done = subprocess.run(
        [sys.executable, str(project_root() / "jobs" / "simulate.py"), "--settings", str(settings_file),
         "--events", "3000", "--users", "200", "--seed", "5", "--ground-truth", str(truth_file)],
        capture_output=True, text=True, timeout=300, check=False,
        # only the settings file speaks: LAKEPULSE_* variables would override settings
        env={name: value for name, value in os.environ.items() if not name.startswith("LAKEPULSE_")},
    )
    assert done.returncode == 0, done.stderr
    assert "3,000/3,000 records (100%)" in done.stderr and "records/s" in done.stderr
    assert "records sent     3,000" in done.stdout
    truth = json.loads(truth_file.read_text())
    assert (truth["topic"], truth["seed"], truth["records_sent"]) == (topic, 5, 3000)
    assert sum(truth["persona_mix"].values()) == 200
