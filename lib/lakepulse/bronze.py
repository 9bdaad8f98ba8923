"""Bronze: Kafka records as they came, plus where and when we got them.

Bronze never parses the payload: key and value bytes are kept untouched so that silver (and any
future silver) can be rebuilt from bronze exactly.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BinaryType,
    DateType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

BRONZE_SCHEMA = StructType([
    StructField("key", BinaryType()),
    StructField("value", BinaryType()),
    StructField("topic", StringType(), False),
    StructField("partition", IntegerType(), False),
    StructField("offset", LongType(), False),
    StructField("kafka_timestamp", TimestampType()),
    StructField("kafka_timestamp_type", IntegerType()),
    StructField("ingest_time", TimestampType(), False),
    StructField("ingest_date", DateType(), False),
])
BRONZE_PARTITION_COLUMNS = ("ingest_date",)


def to_bronze(kafka_records: DataFrame, ingest_time: Column | None = None) -> DataFrame:
    """Kafka connector rows → bronze rows (one per Kafka record, bytes untouched).

    ``ingest_time`` defaults to the micro-batch's ``current_timestamp()``.
    """
    ingest_time = F.current_timestamp() if ingest_time is None else ingest_time
    return kafka_records.select(
        F.col("key"),
        F.col("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.col("timestampType").alias("kafka_timestamp_type"),
        ingest_time.alias("ingest_time"),
    ).withColumn("ingest_date", F.to_date("ingest_time"))
