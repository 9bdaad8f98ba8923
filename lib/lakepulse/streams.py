"""Starting the pipeline's streaming queries: the glue between sources, transforms and sinks.

Each ``start_*`` function takes the session and settings, makes sure its tables exist and returns
the running :class:`StreamingQuery`; the transforms themselves are pure and live in their modules.
"""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from lakepulse.bronze import BRONZE_PARTITION_COLUMNS, BRONZE_SCHEMA, to_bronze
from lakepulse.io.delta import ensure_delta_table, trigger_kwargs
from lakepulse.io.kafka import read_kafka_stream
from lakepulse.settings import Settings
from lakepulse.tables import checkpoint_path, table_ref

BRONZE_QUERY = "ingest_bronze"


def start_bronze(spark: SparkSession, settings: Settings, trigger: str | None = None) -> StreamingQuery:
    """Kafka topics → ``bronze.events_raw``, exactly once (checkpoint + Delta's idempotent sink).

    ``trigger`` is ``available_now`` (catch up, then stop) or an interval; default ``bronze.trigger``.
    """
    ref = table_ref(settings, settings.bronze.table)
    ensure_delta_table(
        spark, ref, BRONZE_SCHEMA,
        partition_by=BRONZE_PARTITION_COLUMNS,
        properties={"delta.appendOnly": "true"},
        register=settings.lakehouse.register_tables,
        comment="Kafka records as received: key/value bytes untouched, one row per (topic, partition, offset)",
    )
    bronze_rows = read_kafka_stream(spark, settings.kafka).transform(to_bronze)
    return (
        bronze_rows.writeStream.format("delta")
        .queryName(BRONZE_QUERY)
        .outputMode("append")
        .option("checkpointLocation", checkpoint_path(settings, BRONZE_QUERY))
        .trigger(**trigger_kwargs(trigger or settings.bronze.trigger))
        .start(ref.path)
    )
