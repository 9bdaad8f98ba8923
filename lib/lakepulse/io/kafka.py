"""Kafka from Python (producing, topics) and from Spark (the streaming source).

Python side uses confluent-kafka; Spark side the spark-sql-kafka connector. Topic names, servers
and options come from :class:`lakepulse.settings.KafkaSettings`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakepulse.settings import KafkaSettings


class EventSink(Protocol):
    """Where producers (simulator, replay) put records: :class:`KafkaEventSink`, or :class:`ListSink`."""

    def send(self, key: bytes | None, value: bytes | None) -> None: ...

    def flush(self, timeout: float = ...) -> None: ...


class KafkaEventSink:
    """Sends (key, value) records to one topic; idempotent producer, lz4, batched.

    Example::

        with KafkaEventSink("localhost:19092", "lakepulse.events") as sink:
            sink.send(b"anon-1", b'{"type":"page",...}')
    """

    def __init__(self, bootstrap_servers: str, topic: str, *, linger_ms: int = 20) -> None:
        self.topic = topic
        self.sent = 0
        self._errors: list[str] = []
        self._producer = Producer({
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": linger_ms,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            "message.max.bytes": 10_000_000,
        })

    def _on_delivery(self, err, _msg) -> None:  # noqa: ANN001 (confluent-kafka callback)
        if err is not None:
            self._errors.append(str(err))

    def send(self, key: bytes | None, value: bytes | None) -> None:
        while True:
            try:
                self._producer.produce(self.topic, key=key, value=value, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
        self.sent += 1
        if self.sent % 10_000 == 0:
            self._producer.poll(0)

    def flush(self, timeout: float = 120.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise KafkaException(f"{remaining} records still undelivered to {self.topic} after {timeout}s")
        if self._errors:
            raise KafkaException(f"{len(self._errors)} records failed delivery to {self.topic}: {self._errors[0]}")

    def __enter__(self) -> KafkaEventSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


class ListSink:
    """An in-memory sink with the same ``send`` as :class:`KafkaEventSink`, for pure unit tests."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None]] = []

    @property
    def sent(self) -> int:
        return len(self.records)

    def send(self, key: bytes | None, value: bytes | None) -> None:
        self.records.append((key, value))

    def flush(self, timeout: float = 0) -> None:
        pass

    def __enter__(self) -> ListSink:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def ensure_topics(bootstrap_servers: str, topics: Iterable[str], partitions: int, replication: int = 1) -> None:
    """Create the topics that do not exist yet (existing ones are left as they are)."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    existing = set(admin.list_topics(timeout=15).topics)
    missing = [NewTopic(t, num_partitions=partitions, replication_factor=replication)
               for t in topics if t not in existing]
    if not missing:
        return
    for topic, future in admin.create_topics(missing, operation_timeout=30).items():
        try:
            future.result()
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise RuntimeError(f"could not create Kafka topic {topic}: {exc}") from exc


def read_kafka_stream(spark: SparkSession, kafka: KafkaSettings) -> DataFrame:
    """The bronze topics as a streaming DataFrame with the connector's columns
    (key, value, topic, partition, offset, timestamp, timestampType)."""
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", kafka.bootstrap_servers)
        .option("subscribe", ",".join(kafka.bronze_topics))
        .option("startingOffsets", kafka.starting_offsets)
        .option("maxOffsetsPerTrigger", kafka.max_offsets_per_trigger)
        .option("failOnDataLoss", str(kafka.fail_on_data_loss).lower())
        .load()
    )
