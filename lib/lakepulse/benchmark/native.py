"""The native side of the benchmark: no Spark, just confluent-kafka and pyarrow.

* :func:`drain_topic`: a plain consumer reads every record of a topic (the raw Kafka read);
* :func:`native_parquet`: the same payloads parsed from JSON by pyarrow's multi-threaded reader
  into the contract's typed columns and written as Parquet (the native baseline).

The baseline does what a careful hand-written consumer would: records that are not a JSON object
or carry text where the schema has a number (what silver quarantines as ``json_object``,
``revenue_numeric``, ``prices_numeric``) are set aside, raw, in a second Parquet file, so that
rows written + set aside = records read. It does not deduplicate, pseudonymise, sessionise or
commit transactions: it is the floor the pipeline is compared with.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

_TEXT = pa.string()
_TIME = pa.timestamp("ms", tz="UTC")
PRODUCT = pa.struct([("product_id", _TEXT), ("sku", _TEXT), ("name", _TEXT), ("brand", _TEXT),
                     ("category", _TEXT), ("price", pa.float64()), ("quantity", pa.int64())])
# The contract envelope with the typed fields silver extracts (free-form objects are not kept).
NATIVE_SCHEMA = pa.schema([
    ("type", _TEXT), ("messageId", _TEXT), ("anonymousId", _TEXT), ("userId", _TEXT), ("previousId", _TEXT),
    ("event", _TEXT), ("name", _TEXT),
    ("timestamp", _TIME), ("originalTimestamp", _TIME), ("sentAt", _TIME), ("receivedAt", _TIME),
    ("context", pa.struct([
        ("ip", _TEXT), ("userAgent", _TEXT), ("locale", _TEXT), ("sessionId", pa.int64()),
        ("campaign", pa.struct([(f, _TEXT) for f in ("name", "source", "medium", "term", "content")])),
        ("page", pa.struct([(f, _TEXT) for f in ("path", "url", "referrer", "title")])),
    ])),
    ("properties", pa.struct([
        ("order_id", _TEXT), ("revenue", pa.float64()), ("total", pa.float64()), ("currency", _TEXT),
        ("product_id", _TEXT), ("category", _TEXT), ("price", pa.float64()), ("products", pa.list_(PRODUCT)),
    ])),
])
# Text where NATIVE_SCHEMA has a number: the JSON reader would fail the whole block on it.
_NUMBER_AS_TEXT = '"(revenue|total|price|quantity|sessionId)":"'
_SMALLEST_BLOCK = 64  # lines; below this a failing block is parsed line by line


def drain_topic(bootstrap: str, topic: str, *, timeout: float = 60.0) -> tuple[list[bytes], dict[str, Any]]:
    """Every record value of ``topic`` (in partition order) and the read's figures: events, bytes
    (keys + values), seconds, events_per_second, mb_per_second (10⁶ bytes)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"bench-drain-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False, "auto.offset.reset": "earliest",
        "fetch.max.bytes": 64 * 1024 * 1024, "max.partition.fetch.bytes": 16 * 1024 * 1024,
        "queued.max.messages.kbytes": 256 * 1024,
    })
    try:
        partitions = consumer.list_topics(topic, timeout=15).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15) for p in partitions}
        remaining = sum(high - low for low, high in ends.values())
        total = remaining
        values: list[bytes] = []
        size = 0
        started, cpu = time.perf_counter(), time.process_time()
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in ends.items()])
        deadline = started + timeout + total / 10_000
        while remaining > 0:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"read {total - remaining:,} of {total:,} records of {topic} in time")
            for message in consumer.consume(50_000, timeout=1.0):
                if message.error():
                    raise RuntimeError(f"reading {topic}: {message.error()}")
                value = message.value() or b""
                key = message.key()
                size += len(value) + (len(key) if key else 0)
                values.append(value)
                remaining -= 1
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        consumer.close()
    return values, {"events": total, "bytes": size, "seconds": round(seconds, 3),
                    "events_per_second": round(total / seconds), "mb_per_second": round(size / 1e6 / seconds, 1),
                    "cpu_seconds": round(cpu, 2), "events_per_cpu_second": round(total / max(cpu, 1e-3))}


def _block_bytes(lines: pa.LargeBinaryArray) -> pa.Buffer:
    """The newline-terminated lines of ``lines`` as one contiguous buffer (no copy)."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8)
    return lines.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _read(lines: pa.LargeBinaryArray) -> pa.Table:
    return pj.read_json(
        pa.BufferReader(_block_bytes(lines)),
        read_options=pj.ReadOptions(use_threads=True, block_size=4 << 20),
        parse_options=pj.ParseOptions(explicit_schema=NATIVE_SCHEMA, unexpected_field_behavior="ignore"),
    )


def _parse(lines: pa.LargeBinaryArray, set_aside: list[pa.Array]) -> list[pa.Table]:
    """Parse ``lines``; a block the reader rejects is split in halves until the bad lines are
    found, which go to ``set_aside`` (without their newline)."""
    try:
        return [_read(lines)]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    if len(lines) <= _SMALLEST_BLOCK:
        tables = []
        for i in range(len(lines)):
            try:
                tables.append(_read(lines.slice(i, 1)))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                set_aside.append(pc.binary_slice(lines.slice(i, 1), 0, -1))
        return tables
    half = len(lines) // 2
    return _parse(lines.slice(0, half), set_aside) + _parse(lines.slice(half), set_aside)


def native_parquet(payloads: list[bytes], folder: Path, *, block_rows: int = 65_536) -> dict[str, Any]:
    """Parse ``payloads`` (JSON texts) into NATIVE_SCHEMA and write ``folder/events.parquet``; the
    records set aside go to ``folder/set_aside.parquet``. Returns the figures: events, written,
    set_aside, seconds (and per step), events_per_second, parquet_bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    steps: dict[str, float] = {}
    started, cpu = time.perf_counter(), time.process_time()
    values = pa.array(payloads, pa.large_binary())
    steps["to_arrow"] = time.perf_counter() - started
    mark = time.perf_counter()
    looks_fine = pc.and_(pc.and_(pc.starts_with(values, "{"), pc.ends_with(values, "}")),
                         pc.invert(pc.match_substring_regex(values, _NUMBER_AS_TEXT)))
    set_aside: list[pa.Array] = [values.filter(pc.invert(looks_fine))]
    lines = pc.binary_join_element_wise(values.filter(looks_fine), pa.scalar(b"", pa.large_binary()),
                                         pa.scalar(b"\n", pa.large_binary()))
    steps["screen"] = time.perf_counter() - mark
    parse = write = 0.0
    written = 0
    schema = NATIVE_SCHEMA.append(pa.field("event_date", pa.date32()))
    with pq.ParquetWriter(folder / "events.parquet", schema, compression="snappy") as writer:
        for offset in range(0, len(lines), block_rows):
            mark = time.perf_counter()
            tables = _parse(lines.slice(offset, block_rows), set_aside)
            mark, parse = time.perf_counter(), parse + time.perf_counter() - mark
            for table in tables:
                table = table.append_column("event_date", pc.cast(table["timestamp"], pa.date32()))
                writer.write_table(table)
                written += table.num_rows
            write += time.perf_counter() - mark
    mark = time.perf_counter()
    aside = pa.concat_arrays([a.cast(pa.large_binary()) for a in set_aside])
    pq.write_table(pa.table({"value": aside}), folder / "set_aside.parquet")
    steps.update(parse=parse, write=write + time.perf_counter() - mark)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "events": len(payloads), "written": written, "set_aside": len(aside), "seconds": round(seconds, 3),
        "events_per_second": round(len(payloads) / seconds), "cpu_seconds": round(cpu, 2),
        "events_per_cpu_second": round(len(payloads) / max(cpu, 1e-3)),
        "step_seconds": {name: round(value, 3) for name, value in steps.items()},
        "parquet_bytes": sum(p.stat().st_size for p in folder.glob("*.parquet")),
    }
