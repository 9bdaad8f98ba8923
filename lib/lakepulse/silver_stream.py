"""The refine_silver stream: bronze → silver.events, silver.quarantine, silver.identity_map,
silver.sessions and ops.pipeline_metrics, one micro-batch at a time (``foreachBatch``).

Per batch, in this order:

1. validate every bronze row against the contract (rules and their modes from settings);
2. append rejected rows to the quarantine;
3. keep the first record per messageId, and drop messageIds silver already holds from the last
   ``dedup_horizon_hours`` of ingestion (only the recent files of the partitions the batch touches
   are read, so state stays bounded by the horizon); both found from the ids and Kafka coordinates
   alone (:func:`~lakepulse.silver.new_messages`);
4. append the new events (flagged late when older than the watermark);
5. merge identity links and recompute the sessions of the devices the batch touched;
6. append one metrics row: rows in = silver + quarantined + duplicates dropped, and the latency
   from event time to the rows being visible in silver.events (when the append had committed).

Writes to different tables run side by side (:func:`~lakepulse.spark.in_parallel`): the quarantine
append beside steps 3–5, and the identity merge beside the events append; the sessions after both.

Appends and the identity merge carry Delta's ``txnAppId``/``txnVersion`` (query name, batch id), so
a batch replayed after a crash is not written twice; the sessions are recomputed, the same either
way. A replay rebuilds what its crashed run did not commit: its own records already in silver (same
Kafka coordinates) do not count as duplicates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import (
    StructType,
)

from lakepulse import identity, sessions
from lakepulse.bronze import BRONZE_SCHEMA
from lakepulse.contract import RULE_NAMES
from lakepulse.io.delta import (
    MERGED_PROPERTIES,
    append_once,
    compact_when_due,
    ensure_delta_table,
    idempotent_dml,
    strings_in,
    trigger_kwargs,
)
from lakepulse.metrics import METRICS_SCHEMA, ensure_metrics_table, event_time_aggregates, latency_at
from lakepulse.settings import Settings, privacy_salt
from lakepulse.silver import new_messages, quarantine_rows, silver_rows, validate
from lakepulse.spark import BatchCheckpoints, in_parallel, one_of
from lakepulse.tables import TableRef, checkpoint_path, table_ref

SILVER_QUERY = "refine_silver"



@dataclass(frozen=True)
class SilverTables:
    bronze: TableRef
    events: TableRef
    quarantine: TableRef
    identity: TableRef
    sessions: TableRef
    metrics: TableRef

    def all(self) -> list[TableRef]:
        return [getattr(self, field.name) for field in fields(self)]

    @classmethod
    def from_settings(cls, settings: Settings) -> SilverTables:
        s = settings.silver
        return cls(*(table_ref(settings, name) for name in (
            settings.bronze.table, s.events_table, s.quarantine_table, s.identity_table, s.sessions_table,
            s.metrics_table)))


def _schema_of(spark: SparkSession, transform) -> StructType:  # noqa: ANN001 - DataFrame -> DataFrame
    return transform(spark.createDataFrame([], BRONZE_SCHEMA)).schema


def ensure_silver_tables(spark: SparkSession, settings: Settings) -> SilverTables:
    """Create (if missing) and register every table the silver stream writes."""
    tables = SilverTables.from_settings(settings)
    register = settings.lakehouse.register_tables
    events_schema = _schema_of(spark, lambda b: silver_rows(validate(b), "schema", F.lit(None)))
    quarantine_schema = _schema_of(spark, lambda b: quarantine_rows(validate(b), 0))
    ensure_delta_table(spark, tables.events, events_schema, partition_by=("event_date",), register=register,
                       comment="Validated contract events, one row per messageId, pseudonymised")
    ensure_delta_table(spark, tables.quarantine, quarantine_schema, partition_by=("quarantine_date",),
                       register=register, comment="Every rejected record with the rules it failed")
    ensure_delta_table(spark, tables.identity, identity.IDENTITY_MAP_SCHEMA, register=register,
                       properties=MERGED_PROPERTIES, comment="anonymousId -> userId, latest mapping wins")
    ensure_delta_table(spark, tables.sessions, sessions.SESSIONS_SCHEMA, register=register,
                       properties=MERGED_PROPERTIES, comment="Sessions per device (inactivity gap or client session id)")
    ensure_metrics_table(spark, settings)
    return tables


class SilverBatchWriter:
    """The ``foreachBatch`` function of the refine_silver stream."""

    def __init__(self, spark: SparkSession, settings: Settings, tables: SilverTables) -> None:
        self.spark = spark
        self.settings = settings
        self.tables = tables
        self.salt = privacy_salt(settings)
        self.max_event_time: datetime | None = self._last_max_event_time()

    def _last_max_event_time(self) -> datetime | None:
        metrics = self.spark.read.format("delta").load(self.tables.metrics.path)
        row = metrics.where(F.col("query") == SILVER_QUERY).agg(F.max("max_event_time")).first()
        return row[0] if row else None

    def _watermark(self) -> datetime | None:
        if self.max_event_time is None:
            return None
        return self.max_event_time - timedelta(seconds=self.settings.silver.allowed_lateness_seconds)

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        with BatchCheckpoints() as checkpoint:
            self._refine(batch, batch_id, checkpoint)

    def _refine(self, batch: DataFrame, batch_id: int, checkpoint: BatchCheckpoints) -> None:
        started = time.time()
        started_at = datetime.fromtimestamp(started, UTC)
        s = self.settings.silver
        # Parsed once; every step below reuses it.
        checked = checkpoint(validate(batch, s.rules, s.max_payload_bytes, s.max_future_seconds).drop("_v", "_checks"))
        rejected = F.size("failed_rules") > 0
        counts = checked.agg(
            F.count("*").alias("rows_in"),
            F.sum(rejected.cast("long")).alias("quarantined"),
            F.collect_set(F.when(~rejected, F.col("event_date"))).alias("dates"),
            *[F.sum(F.array_contains("failed_rules", rule).cast("long")).alias(rule) for rule in RULE_NAMES],
        ).first()
        rows_in, n_quarantined = counts["rows_in"], counts["quarantined"] or 0
        by_rule = {rule: counts[rule] for rule in RULE_NAMES if counts[rule]}
        watermark = self._watermark()
        # The quarantine append runs beside the new events' dedup and writes (different tables).
        summary, _ = in_parallel(
            self.spark,
            lambda: self._write_new_events(checked.where(~rejected), counts["dates"], watermark, batch_id, checkpoint),
            (lambda: append_once(quarantine_rows(checked, batch_id), self.tables.quarantine, SILVER_QUERY, batch_id))
            if n_quarantined else None,
        )
        rows_out = summary["rows_out"]
        if rows_out:
            self.max_event_time = max(filter(None, [self.max_event_time, summary["max_event_time"]]))

        metrics_row = (
            SILVER_QUERY, batch_id, started_at, rows_in, rows_out, n_quarantined, by_rule,
            {rule: summary[f"warned_{rule}"] for rule in RULE_NAMES if summary[f"warned_{rule}"]},
            rows_in - rows_out - n_quarantined, summary["late_rows"] or 0, summary["max_event_time"], watermark,
            int((time.time() - started) * 1000), *_visible_latency(summary),
        )
        append_once(self.spark.createDataFrame([metrics_row], METRICS_SCHEMA), self.tables.metrics,
                    SILVER_QUERY, batch_id)
        # Bronze too: its writer is Spark's Delta sink, which runs nothing between batches.
        compact_when_due(self.spark, self.tables.all(), self.settings.lakehouse.compact_every_batches, batch_id)

    def _write_new_events(self, accepted: DataFrame, dates: list, watermark: datetime | None, batch_id: int,
                          checkpoint: BatchCheckpoints) -> dict:
        """Deduplicate and pseudonymise the ``accepted`` rows, append the new ones to silver.events,
        merge their identity links and recompute their devices' sessions; returns their summary
        (:func:`_batch_summary`) and ``visible_ms``, when the append had committed (epoch ms)."""
        new_events = silver_rows(new_messages(accepted.drop("key", "value"), self._seen_messages(dates)),
                                 self.salt, F.lit(watermark).cast("timestamp"))
        new_events = checkpoint(new_events)
        summary = _batch_summary(new_events).asDict()
        summary["visible_ms"] = None

        def append() -> float:
            append_once(new_events, self.tables.events, SILVER_QUERY, batch_id)
            return time.time() * 1000

        if summary["rows_out"]:
            # Identity links come from the batch's own rows: merged beside the events append.
            summary["visible_ms"], _ = in_parallel(
                self.spark, append,
                (lambda: self._update_identity(new_events, batch_id)) if summary["identity_links"] else None)
            # After both: the sessions are recomputed from silver.events, the batch's rows included,
            # and their delete and append take no txn ids from the identity merge's session settings.
            self._update_sessions(summary["devices"], summary["first_date"])
        return summary

    def _seen_messages(self, dates: list) -> DataFrame | None:
        """The messageIds silver already holds, with their Kafka coordinates, looking back
        ``dedup_horizon_hours`` of ingestion in the event dates this batch touches (files outside
        them are skipped); None without dates."""
        if not dates:
            return None
        horizon = F.current_timestamp() - F.make_interval(hours=F.lit(self.settings.silver.dedup_horizon_hours))
        return (
            self.spark.read.format("delta").load(self.tables.events.path)
            .where(F.col("event_date").isin(dates) & (F.col("ingest_time") >= horizon))
            .select("message_id", "topic", "partition", "offset")
        )

    def _update_identity(self, new_events: DataFrame, batch_id: int) -> None:
        """Merge the batch's identity links, once per batch id: ``links`` is a running count, so a
        replayed batch whose merge had committed merges nothing (txn ids as session settings; the
        events append beside it carries its own as write options, which take precedence)."""
        links = identity.latest_identity(identity.identity_links(new_events))
        view = f"_identity_batch_{id(self)}"
        links.createOrReplaceTempView(view)
        # The map's rows of the batch's ids only, not every device ever seen, enter the MERGE's join.
        linked = strings_in("t.anonymous_id", [row[0] for row in links.select("anonymous_id").collect()])
        # The view lives in the micro-batch's own session (foreachBatch clones the session).
        with idempotent_dml(links.sparkSession, SILVER_QUERY, self.tables.identity, batch_id):
            links.sparkSession.sql(identity.identity_merge_sql(f"delta.`{self.tables.identity.path}`", view,
                                                               target_only=linked))

    def _update_sessions(self, devices: list[str], first_date) -> None:  # noqa: ANN001 - a date
        """Recompute the sessions of ``devices`` from their silver events since the day before the
        batch's earliest event date, and replace their sessions that start in that period.

        Not txn-guarded on purpose: a replayed batch deletes and recomputes the same sessions.
        """
        from delta.tables import DeltaTable

        since = first_date - timedelta(days=1)
        history = (
            self.spark.read.format("delta").load(self.tables.events.path)
            .where((F.col("event_date") >= F.lit(since)) & one_of(sessions.device_id(), devices))
        )
        recomputed = sessions.sessionize(history, self.settings.silver.session_gap_seconds)
        DeltaTable.forPath(self.spark, self.tables.sessions.path).delete(
            one_of(F.col("device_id"), devices) & (F.col("session_start") >= F.lit(since).cast("timestamp"))
        )
        recomputed.write.format("delta").mode("append").save(self.tables.sessions.path)


def _visible_latency(summary: dict) -> tuple:
    """The metrics row's latency columns, from event time to the batch's rows being visible in
    silver.events (its append's commit), in ms: p50, p95, p99, max, and the p99 from the Kafka
    record's timestamp; all None when the batch appended nothing."""
    visible = summary["visible_ms"]
    if visible is None:
        return None, None, None, None, None
    return *latency_at(summary, visible), visible + summary["minus_kafka_ms_p99"]


def _batch_summary(new_events: DataFrame) -> Row:
    """Everything the batch needs to know about its new silver rows, in one Spark job."""
    has_link = ((F.col("type").isin("identify", "alias"))
                | (F.col("anonymous_id").isNotNull() & F.col("user_id").isNotNull()))
    return new_events.agg(
        F.count("*").alias("rows_out"),
        F.sum(F.col("is_late").cast("long")).alias("late_rows"),
        F.max("event_time").alias("max_event_time"),
        F.min("event_date").alias("first_date"),
        F.sum(has_link.cast("long")).alias("identity_links"),
        F.collect_set(sessions.device_id()).alias("devices"),
        # Latency quantiles once the append has committed (latency_at), and from the Kafka record's time.
        *event_time_aggregates(),
        F.percentile_approx(-F.unix_millis("kafka_timestamp"), 0.99).alias("minus_kafka_ms_p99"),
        *[F.sum(F.array_contains("warned_rules", rule).cast("long")).alias(f"warned_{rule}") for rule in RULE_NAMES],
    ).first()


def start_silver(spark: SparkSession, settings: Settings, trigger: str | None = None) -> StreamingQuery:
    """bronze.events_raw (Delta stream) → the silver tables, via :class:`SilverBatchWriter`."""
    tables = ensure_silver_tables(spark, settings)
    writer = SilverBatchWriter(spark, settings, tables)
    bronze = (spark.readStream.format("delta")
              .option("maxFilesPerTrigger", settings.silver.max_files_per_trigger)
              .load(tables.bronze.path))
    return (
        bronze.writeStream.queryName(SILVER_QUERY)
        .foreachBatch(writer)
        .option("checkpointLocation", checkpoint_path(settings, SILVER_QUERY))
        .trigger(**trigger_kwargs(trigger or settings.silver.trigger))
        .start()
    )
