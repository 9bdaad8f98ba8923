"""Kafka → bronze against the real broker and real Delta tables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from lakepulse.io.kafka import KafkaEventSink, ensure_topics
from lakepulse.metrics import ProgressRecorder
from lakepulse.paths import project_root
from lakepulse.streams import start_bronze
from lakepulse.tables import table_ref
from tests.helpers import make_settings, read_delta_rs, read_topic, unique_topic

pytestmark = pytest.mark.integration


def _awkward_records(count: int, start: int = 0) -> list[tuple[bytes | None, bytes | None]]:
    """Duplicate payloads, empty and missing values, non-UTF-8 bytes and no keys, mixed."""
    records = []
    for i in range(start, start + count):
        kind = i % 5
        if kind == 0:
            records.append((b"same-key", b'{"type":"page","messageId":"dup"}'))  # duplicate payload
        elif kind == 1:
            records.append((f"k{i}".encode(), b""))  # empty value
        elif kind == 2:
            records.append((None, b"\xff\xfe\x00\x80not-utf8-" + str(i).encode()))
        elif kind == 3:
            records.append((f"k{i}".encode(), None))  # tombstone-like: no value at all
        else:
            records.append((f"k{i}".encode(), f'{{"n":{i}}}'.encode()))
    return records


def _send(bootstrap: str, topic: str, records) -> None:
    with KafkaEventSink(bootstrap, topic) as sink:
        for key, value in records:
            sink.send(key, value)


def _ingest(spark, settings) -> None:
    query = start_bronze(spark, settings, "available_now")
    query.awaitTermination()
    ProgressRecorder(spark, settings, query).record()


def _bronze_by_offset(path: str) -> dict[tuple[int, int], tuple[bytes | None, bytes | None]]:
    table = read_delta_rs(path, 'SELECT "partition", "offset", "key", "value" FROM t')
    rows = table.to_pylist()
    by_offset = {(r["partition"], r["offset"]): (r["key"], r["value"]) for r in rows}
    assert len(by_offset) == len(rows), "bronze holds some (partition, offset) more than once"
    return by_offset


def test_available_now_ingests_every_record_once_with_identical_bytes(spark, kafka_bootstrap, tmp_path):
    topic = unique_topic("bronze")
    ensure_topics(kafka_bootstrap, [topic], partitions=3)
    settings, _ = make_settings(tmp_path, kafka_bootstrap, topic)
    bronze_path = table_ref(settings, settings.bronze.table).path

    _send(kafka_bootstrap, topic, _awkward_records(500))
    _ingest(spark, settings)
    in_kafka = read_topic(kafka_bootstrap, topic)
    assert len(in_kafka) == 500
    assert {p for p, _ in in_kafka} == {0, 1, 2}
    assert _bronze_by_offset(bronze_path) == in_kafka  # delta-rs, no Spark: same rows, same bytes

    # Spark and the catalog name see the same table.
    assert spark.sql(f"SELECT count(*) FROM {settings.bronze.table}").first()[0] == 500
    not_utf8 = spark.read.format("delta").load(bronze_path).where("value IS NOT NULL AND NOT is_valid_utf8(CAST(value AS STRING))")
    assert not_utf8.count() == 100

    _ingest(spark, settings)  # nothing new
    assert len(_bronze_by_offset(bronze_path)) == 500

    _send(kafka_bootstrap, topic, _awkward_records(120, start=500))
    _ingest(spark, settings)
    assert _bronze_by_offset(bronze_path) == read_topic(kafka_bootstrap, topic)
    assert len(read_topic(kafka_bootstrap, topic)) == 620

    metrics = spark.read.format("delta").load(table_ref(settings, settings.silver.metrics_table).path)
    recorded = metrics.where("query = 'ingest_bronze'").selectExpr("count(*)", "sum(rows_in)").first()
    assert tuple(recorded) == (2, 620)  # one row per executed batch; the idle run recorded none

    details = spark.sql(f"DESCRIBE DETAIL delta.`{bronze_path}`").first()
    assert details["partitionColumns"] == ["ingest_date"]
    assert details["properties"]["delta.autoOptimize.optimizeWrite"] == "true"
    # No auto compaction: the silver stream compacts bronze every lakehouse.compact_every_batches.
    assert "delta.autoOptimize.autoCompact" not in details["properties"]
    assert spark.conf.get("spark.databricks.delta.autoCompact.enabled") == "false"


def _bronze_rows_or_zero(path: str) -> int:
    if not os.path.exists(os.path.join(path, "_delta_log")):
        return 0
    try:
        return read_delta_rs(path, "SELECT count(*) AS n FROM t").column("n")[0].as_py()
    except Exception:  # noqa: BLE001 - table still being created
        return 0


@pytest.mark.slow
def test_kill_9_during_ingestion_then_restart_loses_and_doubles_nothing(kafka_bootstrap, tmp_path):
    topic = unique_topic("crash")
    ensure_topics(kafka_bootstrap, [topic], partitions=3)
    settings, settings_file = make_settings(
        tmp_path, kafka_bootstrap, topic, kafka={"max_offsets_per_trigger": 1_000})
    bronze_path = table_ref(settings, settings.bronze.table).path
    job = [sys.executable, str(project_root() / "jobs" / "ingest_bronze.py"), "--settings", str(settings_file)]

    _send(kafka_bootstrap, topic, _awkward_records(4_000))
    stream = subprocess.Popen([*job, "--trigger", "1 second"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while _bronze_rows_or_zero(bronze_path) == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        _send(kafka_bootstrap, topic, _awkward_records(2_000, start=4_000))  # data keeps flowing
        before_kill = _bronze_rows_or_zero(bronze_path)
        assert 0 < before_kill < 6_000, "the kill should land while data is still flowing"
    finally:
        os.killpg(stream.pid, signal.SIGKILL)
        stream.wait()

    subprocess.run([*job, "--trigger", "available_now"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=600)
    in_kafka = read_topic(kafka_bootstrap, topic)
    assert len(in_kafka) == 6_000
    assert _bronze_by_offset(bronze_path) == in_kafka
