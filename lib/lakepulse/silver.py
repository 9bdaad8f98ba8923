"""Silver: validated, deduplicated, pseudonymised events, and the quarantine.

Pure transforms over a micro-batch of bronze rows; :mod:`lakepulse.silver_stream` wires them to
the tables. The grain of ``silver.events`` is one row per messageId; of ``silver.quarantine`` one
row per rejected Kafka record (every rejection is kept, even of the same bytes twice).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakepulse import contract
from lakepulse.privacy import pseudonymise

# silver.events columns, in order (lineage columns last).
EVENT_COLUMNS = (
    "message_id", "type", "event", "name", "anonymous_id", "user_id", "previous_id",
    "event_time", "event_date", "timestamp", "original_timestamp", "sent_at", "received_at",
    "session_id", "context_ip", "context_user_agent", "context_locale",
    "page_path", "page_url", "page_referrer", "page_title",
    "campaign_name", "campaign_source", "campaign_medium", "campaign_term", "campaign_content",
    "order_id", "revenue", "currency", "product_id", "category", "price", "products",
    "properties", "traits", "context", "extra", "warned_rules", "is_late", "payload_bytes",
    "topic", "partition", "offset", "kafka_timestamp", "ingest_time", "silver_time",
)
QUARANTINE_COLUMNS = (
    "topic", "partition", "offset", "kafka_timestamp", "key", "value", "message_id",
    "failed_rules", "batch_id", "quarantined_at", "quarantine_date",
)


def validate(
    bronze_rows: DataFrame,
    rule_modes: dict[str, str] | None = None,
    max_payload_bytes: int = contract.MAX_PAYLOAD_BYTES,
    max_future_seconds: int = contract.MAX_FUTURE_SKEW_SECONDS,
) -> DataFrame:
    """Bronze rows → parsed contract columns plus ``failed_rules`` and ``warned_rules``."""
    parsed = contract.parse_events(bronze_rows)
    return contract.with_rule_results(parsed, rule_modes or {}, max_payload_bytes, max_future_seconds)


def quarantine_rows(checked: DataFrame, batch_id: int) -> DataFrame:
    """Rejected records: raw key/value bytes, Kafka coordinates, every failed rule, when."""
    now = F.current_timestamp()
    return (
        checked.where(F.size("failed_rules") > 0)
        .withColumn("batch_id", F.lit(batch_id).cast("long"))
        .withColumn("quarantined_at", now)
        .withColumn("quarantine_date", F.to_date(now))
        .select(*QUARANTINE_COLUMNS)
    )


def new_messages(accepted: DataFrame, seen: DataFrame | None = None) -> DataFrame:
    """One row per message_id of ``accepted`` that ``seen`` (silver's recent rows: ``message_id``
    and the Kafka coordinates ``topic``, ``partition``, ``offset``) does not hold from another
    Kafka record: the earliest record (topic, partition, offset) of each.

    A seen row with the record's own coordinates is that record, written by an earlier run of the
    same micro-batch (a replay after a crash): it does not make the record a duplicate, so the
    replay rebuilds what the crashed run may not have committed (identity links, sessions).

    ``accepted`` rows are Kafka records, one per (topic, partition, offset), as in bronze. Only their
    keys are shuffled: the records to drop (later repeats, messages already seen: a micro-batch's
    few) are found from the message ids and coordinates, then dropped from the wide rows with a
    broadcast anti join, so a batch's JSON texts never cross a shuffle.
    """
    coordinates = ["topic", "partition", "offset"]
    keys = accepted.select("message_id", *coordinates)
    earliest_first = Window.partitionBy("message_id").orderBy(*coordinates)
    dropped = keys.withColumn("_n", F.row_number().over(earliest_first)).where("_n > 1").select(*coordinates)
    if seen is not None:
        other_record = ~F.expr(" AND ".join(f"k.`{c}` <=> s.`{c}`" for c in coordinates))
        already = (keys.alias("k").join(seen.select("message_id", *coordinates).alias("s"), "message_id")
                   .where(other_record).select(*[F.col(f"k.{c}") for c in coordinates]))
        dropped = dropped.unionByName(already)
    return accepted.join(F.broadcast(dropped), coordinates, "left_anti").select(*accepted.columns)


def silver_rows(accepted: DataFrame, salt: str, late_before: Column) -> DataFrame:
    """Accepted records → silver.events rows: pseudonymised, flagged late when their event time
    is before ``late_before`` (a timestamp Column; null means nothing is late)."""
    return (
        accepted
        .withColumn("is_late", F.coalesce(F.col("event_time") < late_before, F.lit(False)))
        .withColumn("silver_time", F.current_timestamp())
        .transform(lambda events: pseudonymise(events, salt))
        .select(*EVENT_COLUMNS)
    )
