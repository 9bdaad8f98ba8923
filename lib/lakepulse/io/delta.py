"""Delta tables: create with the right layout and properties, register by name, stream triggers."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from lakepulse.tables import TableRef

# Compaction on write keeps streaming micro-batches from leaving thousands of small files.
COMPACT_PROPERTIES = {
    "delta.autoOptimize.optimizeWrite": "true",
    "delta.autoOptimize.autoCompact": "true",
}


def ensure_delta_table(
    spark: SparkSession,
    ref: TableRef,
    schema: StructType,
    *,
    partition_by: tuple[str, ...] = (),
    properties: dict[str, str] | None = None,
    register: bool = True,
    comment: str | None = None,
) -> None:
    """Create the Delta table at ``ref.path`` if it does not exist, and register ``ref.name``.

    Idempotent: an existing table keeps its data; the catalog entry is (re)created so a fresh
    session (local in-memory catalog) can query the table by name.
    """
    from delta.tables import DeltaTable

    builder = DeltaTable.createIfNotExists(spark).location(ref.path).addColumns(schema)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    for key, value in {**COMPACT_PROPERTIES, **(properties or {})}.items():
        builder = builder.property(key, value)
    if comment:
        builder = builder.comment(comment)
    builder.execute()
    if register:
        register_table(spark, ref)


def append_once(frame: DataFrame, ref: TableRef, writer: str, version: int) -> None:
    """Append ``frame`` to ``ref`` unless ``writer`` already committed ``version`` (Delta's
    ``txnAppId``/``txnVersion``): a micro-batch replayed after a crash is not written twice."""
    (frame.write.format("delta").mode("append")
     .option("txnAppId", f"{writer}:{ref.name}").option("txnVersion", version)
     .save(ref.path))


def register_table(spark: SparkSession, ref: TableRef) -> None:
    """Make ``ref.name`` resolve to the Delta table at ``ref.path`` in this session's catalog."""
    namespace = ref.name.rsplit(".", 1)[0]
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {namespace}")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {ref.name} USING DELTA LOCATION '{ref.path}'")


def trigger_kwargs(trigger: str) -> dict[str, Any]:
    """``available_now`` or an interval such as ``10 seconds`` as ``DataStreamWriter.trigger`` kwargs."""
    if trigger == "available_now":
        return {"availableNow": True}
    return {"processingTime": trigger}
