import threading

import pytest
from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import functions as F

from lakepulse.io.delta import compaction_due
from lakepulse.settings import load_settings
from lakepulse.spark import BatchCheckpoints, in_parallel, one_of, session_conf
from tests.helpers import cached_rdds


def test_local_conf_has_delta_kafka_jars_and_small_machine_defaults():
    settings = load_settings("local", environ={"LAKEPULSE_SPARK__CONF": "{spark.sql.files.maxPartitionBytes: 64m}"})
    conf = session_conf(settings, local=True)
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert conf["spark.sql.shuffle.partitions"] == "2"
    assert conf["spark.sql.streaming.stateStore.providerClass"].endswith("RocksDBStateStoreProvider")
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    jars = conf["spark.jars"].split(",")
    assert any("delta-spark_4.1_2.13-" in j for j in jars)
    assert any("spark-sql-kafka-0-10_2.13-4.1.3" in j for j in jars)
    assert conf["spark.driver.memory"] == "4g"
    assert conf["spark.sql.codegen.cache.maxEntries"] == "2000"


def test_cluster_conf_leaves_master_jars_and_resources_to_the_launcher():
    conf = session_conf(load_settings("cluster", environ={}), local=False)
    assert "spark.jars" not in conf
    assert "spark.master" not in conf
    assert "spark.driver.memory" not in conf
    assert conf["spark.sql.shuffle.partitions"] == "64"
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"


def _compiles(spark) -> int:
    return spark.sparkContext._jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME().getCount()


def test_compiled_code_of_a_query_outlives_a_hundred_other_queries(spark):
    # A micro-batch cycle generates ~930 classes; Spark's default cache holds 100. An integer
    # literal is compiled into the code, so each query below is a class of its own.
    def run(i: int) -> int:
        return spark.range(3).selectExpr(f"id * 7 + {i} AS x").agg({"x": "sum"}).first()[0]

    assert run(0) == 21   # (0 + 7 + 14) + 3 × 0
    for i in range(1, 121):
        assert run(i) == 21 + 3 * i
    before = _compiles(spark)
    assert run(0) == 21
    assert _compiles(spark) == before   # with 100 entries, its classes were evicted: compiled again


def test_batch_checkpoints_are_dropped_when_the_block_ends(spark):
    before = set(cached_rdds(spark))
    with BatchCheckpoints() as checkpoint:
        frame = checkpoint(spark.range(1000).selectExpr("id * 2 AS doubled"))
        assert len(cached_rdds(spark, since=before)) == 1
        assert frame.agg({"doubled": "sum"}).first()[0] == 999_000  # 2 × (0 + … + 999)
    assert cached_rdds(spark, since=before) == {}
    with pytest.raises((PySparkException, Py4JJavaError), match="CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND"):
        frame.count()  # documented: nothing made from a checkpoint is usable after the block


def test_one_of_matches_column_isin_for_any_strings(spark):
    values = [f"id-{i}" for i in range(3000)] + ['quote"and\\backslash', "ünïcode", "nul\u0000inside", ""]
    frame = spark.createDataFrame([(v,) for v in ["id-0", "id-2999", "id-3000", 'quote"and\\backslash',
                                                  "ünïcode", "nul\u0000inside", "", "other", None]], "x string")
    picked = sorted(r.x for r in frame.where(one_of(F.col("x"), values)).collect())
    # By hand: the rows whose value is in the list ("id-3000", "other" and null are not).
    assert picked == sorted(["id-0", "id-2999", 'quote"and\\backslash', "ünïcode", "nul\u0000inside", ""])
    assert frame.where(one_of(F.col("x"), [])).count() == 0


def test_compaction_is_due_every_n_batches_and_never_at_zero():
    assert [b for b in range(10) if compaction_due(3, b)] == [2, 5, 8]
    assert [b for b in range(10) if compaction_due(1, b)] == list(range(10))
    assert not any(compaction_due(0, b) for b in range(10))
    assert session_conf(load_settings("local"), local=False)["spark.databricks.delta.autoCompact.enabled"] == "false"


def test_in_parallel_runs_tasks_at_once_and_returns_results_in_order(spark):
    # Both tasks wait for each other: run one after the other, the barrier would break (timeout).
    meet = threading.Barrier(2, timeout=60)

    def count(n):
        meet.wait()
        return spark.range(n).count()

    assert in_parallel(spark, lambda: count(3), None, lambda: count(5)) == [3, None, 5]
    assert in_parallel(spark, None) == [None]
    assert in_parallel(spark, lambda: "alone") == ["alone"]


def test_in_parallel_tasks_inherit_local_properties_and_raise_after_all_finish(spark):
    finished = []
    spark.sparkContext.setLocalProperty("lakepulse.test", "from-the-caller")
    spark.addTag("lakepulse-test-tag")

    def inherited():
        return spark.sparkContext.getLocalProperty("lakepulse.test"), "lakepulse-test-tag" in spark.getTags()

    try:
        seen = in_parallel(spark, inherited, inherited)
    finally:
        spark.sparkContext.setLocalProperty("lakepulse.test", None)
        spark.removeTag("lakepulse-test-tag")
    assert seen == [("from-the-caller", True), ("from-the-caller", True)]

    def fail():
        raise ValueError("task failed")

    with pytest.raises(ValueError, match="task failed"):
        in_parallel(spark, fail, lambda: finished.append(spark.range(4).count()))
    assert finished == [4]  # the other task ran to its end before the error was raised
