"""``ops.pipeline_metrics``: one row per streaming query and micro-batch.

Silver writes its rows itself (it knows its quarantine and duplicates); streams whose sink is a
plain Delta sink (bronze) are recorded from their progress reports by :class:`ProgressRecorder`.
"""

from __future__ import annotations

import json
from datetime import datetime

from pyspark.sql import Column, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import (
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakepulse.io.delta import append_once, ensure_delta_table
from lakepulse.settings import Settings
from lakepulse.tables import TableRef, table_ref

METRICS_SCHEMA = StructType([
    StructField("query", StringType(), False),
    StructField("batch_id", LongType(), False),
    StructField("started_at", TimestampType()),
    StructField("rows_in", LongType()),
    StructField("rows_out", LongType()),
    StructField("quarantined", LongType()),
    StructField("quarantined_by_rule", MapType(StringType(), LongType())),
    StructField("warned_by_rule", MapType(StringType(), LongType())),
    StructField("duplicates_dropped", LongType()),
    StructField("late_rows", LongType()),
    StructField("max_event_time", TimestampType()),
    StructField("watermark", TimestampType()),
    StructField("batch_duration_ms", LongType()),
    StructField("latency_p50_ms", DoubleType()),
    StructField("latency_p95_ms", DoubleType()),
    StructField("latency_p99_ms", DoubleType()),
    StructField("latency_max_ms", DoubleType()),
    StructField("ingest_latency_p99_ms", DoubleType()),
])


def event_time_aggregates(event_time: str = "event_time") -> list[Column]:
    """Aggregates of a batch for :func:`latency_at`: quantiles 0.5, 0.95, 0.99 and the max of
    −(event time) in epoch ms (``minus_event_ms``, ``minus_first_event_ms``)."""
    minus_ms = -F.unix_millis(event_time)
    return [F.percentile_approx(minus_ms, [0.5, 0.95, 0.99]).alias("minus_event_ms"),
            F.max(minus_ms).alias("minus_first_event_ms")]


def latency_at(aggregates: Row | dict, moment_ms: float) -> tuple[float, float, float, float]:
    """Latency p50, p95, p99 and max (ms) of a batch's rows that became visible at ``moment_ms``
    (epoch ms), from its :func:`event_time_aggregates`: latency = moment − event time, so its
    quantiles are the moment plus those of −(event time), by nearest rank."""
    p50, p95, p99 = (moment_ms + ms for ms in aggregates["minus_event_ms"])
    return p50, p95, p99, moment_ms + aggregates["minus_first_event_ms"]


def ensure_metrics_table(spark: SparkSession, settings: Settings) -> TableRef:
    ref = table_ref(settings, settings.silver.metrics_table)
    ensure_delta_table(spark, ref, METRICS_SCHEMA, register=settings.lakehouse.register_tables,
                       comment="Per query and micro-batch: rows in/out, quarantined, duplicates, latency")
    return ref


class ProgressRecorder:
    """Records the executed micro-batches of a running query from its progress reports."""

    def __init__(self, spark: SparkSession, settings: Settings, query: StreamingQuery) -> None:
        self.spark = spark
        self.query = query
        self.ref = ensure_metrics_table(spark, settings)
        last = (spark.read.format("delta").load(self.ref.path)
                .where(F.col("query") == query.name).agg(F.max("batch_id")).first()[0])
        self.last_batch = -1 if last is None else last

    def record(self) -> int:
        """Append the batches reported since the last call; returns how many."""
        rows = []
        for progress in self.query.recentProgress:
            report = json.loads(progress.json)
            if report["batchId"] <= self.last_batch or "addBatch" not in report.get("durationMs", {}):
                continue  # already recorded, or an idle trigger that ran no batch
            started = datetime.fromisoformat(report["timestamp"].replace("Z", "+00:00"))
            rows.append((self.query.name, report["batchId"], started, report["numInputRows"],
                         report["numInputRows"], 0, {}, {}, 0, 0, None, None,
                         report["durationMs"].get("triggerExecution"), None, None, None, None, None))
        if rows:
            version = max(r[1] for r in rows)
            append_once(self.spark.createDataFrame(rows, METRICS_SCHEMA), self.ref, self.query.name, version)
            self.last_batch = version
        return len(rows)
