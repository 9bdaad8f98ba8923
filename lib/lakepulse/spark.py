"""The only place a SparkSession is built.

Locally (``spark.master`` set, not launched by spark-submit) the session gets the master, the Delta
and Kafka jars from the cache and small-machine defaults. Under ``spark-submit`` or on Databricks,
the master, resources and jars come from the launcher; this module only adds what the pipeline
needs to be correct (Delta extension and catalog, UTC, RocksDB state store).

Example::

    spark = build_session(load_settings("local"), "ingest_bronze")
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession

from lakepulse.settings import Settings, SettingsError

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def launched_by_spark_submit() -> bool:
    """True inside spark-submit / Databricks, where the JVM (and its master) already exists."""
    return "PYSPARK_GATEWAY_PORT" in os.environ or SparkSession.getActiveSession() is not None


def session_conf(settings: Settings, *, local: bool) -> dict[str, str]:
    """The Spark configuration for ``settings``; ``local`` adds master-independent local defaults."""
    conf = {
        **DELTA_CONF,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.sql.streaming.stateStore.providerClass":
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        "spark.ui.enabled": str(settings.spark.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # A checksum file per commit costs a state computation on every micro-batch write
        # (measured: a 2,000-row append 0.39 s → 0.24 s without it); nothing of ours reads it.
        "spark.databricks.delta.writeChecksumFile.enabled": "false",
        # Auto compaction ran an OPTIMIZE after every append to ops.pipeline_metrics (1-2 s per
        # batch, measured); the streams compact their tables every lakehouse.compact_every_batches.
        "spark.databricks.delta.autoCompact.enabled": "false",
        # Compiled code is cached by its source, 100 classes by default; one cycle of the three
        # streams generates about 930 (bronze 20, silver 215, gold 690), so each batch evicted the
        # last one's and compiled them all again (measured on 1,000-event batches: gold compiled
        # 690 classes per batch, 43 with this; batch times fell by about 6 %, within their spread).
        # Static: set before the session starts. The classes live in the JVM's metaspace.
        "spark.sql.codegen.cache.maxEntries": "2000",
    }
    if local:
        from lakepulse.jars import ensure_bundle

        conf.update({
            "spark.jars": ",".join(str(p) for p in ensure_bundle("spark")),
            "spark.driver.memory": settings.spark.driver_memory,
            "spark.sql.adaptive.coalescePartitions.initialPartitionNum": str(settings.spark.shuffle_partitions),
            "spark.default.parallelism": str(settings.spark.shuffle_partitions),
            # Delta rebuilds table state with 50 tasks by default: far too many on a small machine.
            "spark.databricks.delta.snapshotPartitions": str(settings.spark.shuffle_partitions),
            "spark.sql.warehouse.dir": settings.resolve_path(os.path.join(settings.lakehouse.root, "_warehouse")),
            "spark.driver.extraJavaOptions": "-Dderby.system.home=" + settings.resolve_path(settings.lakehouse.root),
        })
    conf.update(settings.spark.conf)
    return conf


def build_session(settings: Settings, app_name: str) -> SparkSession:
    """A SparkSession configured for Lakepulse (Delta, Kafka, small-machine defaults locally)."""
    # Python-side datetimes from Spark are naive local times: make local time UTC, like the session.
    os.environ["TZ"] = "UTC"
    time.tzset()
    under_launcher = launched_by_spark_submit()
    if not under_launcher and not settings.spark.master:
        raise SettingsError(
            f"spark.master is empty ({settings.source}); set it (e.g. local[2]) or launch with spark-submit.sh"
        )
    builder = SparkSession.builder.appName(f"lakepulse-{app_name}")
    if not under_launcher:
        # Python workers (pandas UDFs) run this interpreter — the venv with lakepulse — rather than
        # whatever "python3" is on PATH. PySpark reads the variable, not spark.pyspark.python.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.master(settings.spark.master)
    for key, value in session_conf(settings, local=not under_launcher).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.spark.log_level)
    _quiet_expected_warnings(spark)
    return spark


class BatchCheckpoints:
    """The local checkpoints of one micro-batch, dropped together when the batch is done.

    Left alone, Spark drops a local checkpoint's blocks only once the driver's GC has collected the
    DataFrame and its ContextCleaner has caught up, which in a long-running stream can be many
    batches later: past batches' rows then sit in the heap (measured: about 400 MB after GC on a
    50,000-event batch) instead of being dropped when their batch ends. Nothing made from a
    checkpoint may be used after the block ends.

    Example::

        with BatchCheckpoints() as checkpoint:
            parsed = checkpoint(validate(batch))   # parsed once, read by every step below
            ...
    """

    def __init__(self) -> None:
        self._frames: list[DataFrame] = []

    def __call__(self, frame: DataFrame) -> DataFrame:
        checkpointed = frame.localCheckpoint(eager=True)
        self._frames.append(checkpointed)
        return checkpointed

    def __enter__(self) -> BatchCheckpoints:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Drop every checkpoint's blocks now (a checkpointed DataFrame's plan is the RDD it holds)."""
        for frame in self._frames:
            frame._jdf.queryExecution().logical().rdd().unpersist(False)
        self._frames.clear()


def one_of(column: Column, values: Iterable[str]) -> Column:
    """``column.isin(values)`` for many strings (a batch's device or person ids), in a handful of
    JVM calls: ``Column.isin`` makes one call per value, about 0.4 ms each (measured: 1.3 s of a
    2,000-event silver batch). The values travel as one JSON array, read by the JVM's Jackson.
    Same plan and result as ``column.isin(values)``.

    Example::

        events.where(one_of(F.col("anonymous_id"), ["a-1", "a-2"]))
    """
    from pyspark import SparkContext
    from pyspark.sql.classic.column import Column as ClassicColumn

    values = list(values)
    if not values or not isinstance(column, ClassicColumn):  # Spark Connect: one request either way
        return column.isin(values)
    jvm = SparkContext._jvm
    listed = jvm.com.fasterxml.jackson.databind.ObjectMapper().readValue(
        json.dumps(values), jvm.java.lang.Class.forName("java.util.ArrayList"))
    return ClassicColumn(column._jc.isin(jvm.org.apache.spark.api.python.PythonUtils.toSeq(listed)))


def in_parallel(spark: SparkSession, *tasks: Callable[[], Any] | None) -> list[Any]:
    """Run ``tasks`` (None: skipped, result None) at once, one thread each, and return their
    results in order once all have finished; a task's error is raised then (the first in order).

    For a micro-batch's independent writes to different tables. What a small batch's writes wait
    on is mostly the driver (planning, reading the Delta log, committing), and that overlaps
    (measured: a 200-event silver batch 10.5 s → 7.5 s); CPU-bound work gains little when the
    cores are already busy. Each thread inherits the caller's Spark local properties (job group,
    scheduler pool) and ``spark``'s job tags. Session settings are shared: at most one task may use
    :func:`~lakepulse.io.delta.idempotent_dml`; the others must carry their txn ids as write
    options (:func:`~lakepulse.io.delta.append_once`, which take precedence over the session's).

    Example::

        in_parallel(spark, lambda: append_once(rows, events, ...), lambda: merge_identity(...))
    """
    from pyspark.util import inheritable_thread_target

    runnable = [task for task in tasks if task is not None]
    if len(runnable) <= 1:
        results = iter([task() for task in runnable])
    else:
        with ThreadPoolExecutor(max_workers=len(runnable), thread_name_prefix="lakepulse-batch") as pool:
            futures = [pool.submit(inheritable_thread_target(spark)(task)) for task in runnable]
        results = iter([future.result() for future in futures])
    return [None if task is None else next(results) for task in tasks]


# Loggers whose warnings Lakepulse causes on purpose, every batch → why; quieted to errors.
QUIETED_LOGGERS = {
    "org.apache.spark.sql.execution.window.WindowExec":
        "RFM quintiles rank every profile in one window (one row per person, small)",
    "org.apache.spark.rdd.MapPartitionsRDD":
        "BatchCheckpoints unpersists a batch's local checkpoints when the batch is done",
}


def _quiet_expected_warnings(spark: SparkSession) -> None:
    """Best effort: skipped where log4j is not reachable."""
    try:
        jvm = spark.sparkContext._jvm
        for logger in QUIETED_LOGGERS:
            jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(logger, jvm.org.apache.logging.log4j.Level.ERROR)
    except Exception:  # noqa: BLE001 - a log level is never worth failing a job for
        pass
