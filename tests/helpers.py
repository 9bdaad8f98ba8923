"""Test helpers: settings for a test's own lakehouse, reading Kafka and Delta independently."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml
from confluent_kafka import Consumer, TopicPartition

from lakepulse.benchmark.workspace import merge
from lakepulse.paths import project_root
from lakepulse.settings import Settings, load_settings


def write_settings_file(folder: Path, overrides: dict[str, Any]) -> Path:
    """conf/local.yaml with ``overrides`` merged in, written to ``folder/conf/local.yaml``.

    Relative paths in it (the lakehouse) then resolve under ``folder``.
    """
    base = yaml.safe_load((project_root() / "conf" / "local.yaml").read_text())
    target = folder / "conf" / "local.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(merge(base, overrides)))
    return target


def make_settings(folder: Path, bootstrap: str, topic: str, **sections: dict[str, Any]) -> tuple[Settings, Path]:
    """Settings whose lakehouse and checkpoints live under ``folder`` and read ``topic``."""
    overrides = merge({
        "spark": {"ui_enabled": False},
        "kafka": {"bootstrap_servers": bootstrap, "events_topic": topic,
                  "local_broker": {"autostart": False}},
        "lakehouse": {"root": "lakehouse", "checkpoints": "checkpoints"},
    }, sections)
    path = write_settings_file(folder, overrides)
    return load_settings(path=path, environ={}), path


def unique_topic(prefix: str = "test") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def read_topic(bootstrap: str, topic: str) -> dict[tuple[int, int], tuple[bytes | None, bytes | None]]:
    """Every record of ``topic`` as {(partition, offset): (key, value)}, read with a plain consumer."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in metadata.partitions}
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    records: dict[tuple[int, int], tuple[bytes | None, bytes | None]] = {}
    remaining = sum(ends.values())
    while remaining > 0:
        for message in consumer.consume(10_000, timeout=5):
            if message.error():
                raise RuntimeError(message.error())
            records[(message.partition(), message.offset())] = (message.key(), message.value())
            remaining -= 1
    consumer.close()
    return records


def read_delta_rs(path: str, sql: str = "SELECT * FROM t") -> pa.Table:
    """Read a Delta table with delta-rs (no Spark): the independent reader of our tables.

    delta-rs's own SQL engine is used rather than ``to_pyarrow_table()``, which aborts the Python
    process at exit now and then with this deltalake/pyarrow pair.
    """
    from deltalake import DeltaTable, QueryBuilder

    return pa.table(QueryBuilder().register("t", DeltaTable(path)).execute(sql))


def shared_data() -> Path:
    """The team's real datasets: ``LAKEPULSE_SHARED_DATA``, else ``../shared/data`` next to the
    checkout, else ``/work/shared/data`` (where a clone in a temporary folder still finds them)."""
    import os

    candidates = [os.environ.get("LAKEPULSE_SHARED_DATA"), project_root().parent / "shared" / "data",
                  "/work/shared/data"]
    for candidate in filter(None, candidates):
        if Path(candidate).is_dir():
            return Path(candidate)
    return project_root().parent / "shared" / "data"


# User agents for hand-built events: a desktop browser and an iPhone.
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


def order_line(product_id: str, price: float, category: str) -> dict:
    """One product line of an order (quantity 1) for ``silver_event``'s ``products``."""
    return {"product_id": product_id, "sku": None, "name": None, "brand": None, "category": category,
            "price": price, "quantity": 1}


def silver_event(message_id: str, moment: datetime, call: str = "track", event: str | None = None, **fields) -> dict:
    """A silver.events row (as a dict) for hand-built gold tests: lineage columns filled with
    placeholders, every other column from ``fields`` (missing ones are null)."""
    row = {"message_id": message_id, "type": call, "event": event, "event_time": moment,
           "event_date": moment.date(), "timestamp": moment, "received_at": moment, "kafka_timestamp": moment,
           "ingest_time": moment, "silver_time": moment, "topic": "t", "partition": 0, "offset": 0,
           "is_late": False, "payload_bytes": 100, "warned_rules": []}
    row.update(fields)
    return row


def cached_rdds(spark, since: set[int] = frozenset()) -> dict[int, str]:  # noqa: ANN001 - a SparkSession
    """RDD id → name of every RDD with blocks in Spark's block manager, except Delta's own caches
    of table state (``Delta Table State …``), which Delta keeps and drops itself; only those whose
    id is not in ``since`` (an earlier reading) when given."""
    return {info.id(): info.name() for info in spark.sparkContext._jsc.sc().getRDDStorageInfo()
            if not info.name().startswith("Delta Table State") and info.id() not in since}


def silver_frame(spark, rows: list[dict], schema):  # noqa: ANN001, ANN201 - a SparkSession, a StructType
    """``silver_event`` rows as a DataFrame of silver.events' ``schema`` (missing columns null)."""
    return spark.createDataFrame([{name: row.get(name) for name in schema.fieldNames()} for row in rows], schema)
