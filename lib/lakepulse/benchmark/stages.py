"""The Spark measurements of the pipeline benchmark, each on its own fresh lakehouse.

* :func:`load_topic` — simulated events into a fresh topic (once; every measurement reads them);
* :func:`catch_up` — bronze, silver and gold one after the other in available-now mode, timed per
  stage, with the batch writers' Spark actions profiled (:class:`~lakepulse.benchmark.profile.ActionProfiler`);
* :func:`silver_batch` — the silver parse and validation as one batch job over bronze;
* :func:`together` — the three streams running at once with interval triggers until gold has
  every event, with memory sampled and the state the pipeline keeps measured;
* :func:`latency` — a paced producer while the three streams run; p50/p95/p99 event time → silver
  and → gold from ``ops.pipeline_metrics``.

Every function takes the session and settings and returns plain figures (JSON-ready dicts).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery, StreamingQueryListener

from lakepulse.settings import Settings

STAGES = ("bronze", "silver", "gold")


def _rate(rows: float, seconds: float) -> int:
    return round(rows / seconds) if seconds > 0 else 0


# --------------------------------------------------------------------------------------------
# Observing the streams: progress, memory, state
# --------------------------------------------------------------------------------------------
class ProgressTally(StreamingQueryListener):
    """Every progress report of every query, by run id (queries of different phases share names)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reports: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def onQueryStarted(self, event: Any) -> None:  # noqa: N802 - Spark's listener interface
        pass

    def onQueryProgress(self, event: Any) -> None:  # noqa: N802
        progress = event.progress
        state = [{"rows": op.numRowsTotal, "memory_bytes": op.memoryUsedBytes} for op in progress.stateOperators]
        report = {"batch_id": progress.batchId, "rows": progress.numInputRows, "timestamp": progress.timestamp,
                  "duration_ms": dict(progress.durationMs), "state": state}
        with self._lock:
            self.reports[str(progress.runId)].append(report)

    def onQueryIdle(self, event: Any) -> None:  # noqa: N802
        pass

    def onQueryTerminated(self, event: Any) -> None:  # noqa: N802
        pass

    def rows(self, query: StreamingQuery) -> int:
        with self._lock:
            return sum(r["rows"] for r in self.reports.get(str(query.runId), []))

    def batches(self, query: StreamingQuery) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.reports.get(str(query.runId), []) if "addBatch" in r["duration_ms"]]


def engine_overhead(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Streaming engine time around the batches (ms, summed over ``reports``): the batch itself
    (``addBatch``: the sink or foreachBatch) against offsets, planning and the checkpoint log."""
    totals: dict[str, int] = defaultdict(int)
    for report in reports:
        for name, ms in report["duration_ms"].items():
            totals[name] += ms
    return {"batches": len(reports), "ms": dict(sorted(totals.items(), key=lambda kv: -kv[1]))}


def _proc_rss(pid: int | str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class MemorySampler:
    """Samples, every ``every`` seconds, the JVM heap in use (driver and executor: one JVM in local
    mode), the JVM's resident set and this Python process's; keeps the peaks and the last sample."""

    def __init__(self, spark: SparkSession, every: float = 0.5) -> None:
        jvm = spark.sparkContext._jvm
        self._heap = jvm.java.lang.management.ManagementFactory.getMemoryMXBean()
        self._runtime = jvm.java.lang.Runtime.getRuntime()
        self._jvm_pid = jvm.java.lang.ProcessHandle.current().pid()
        self._jvm = jvm
        self.every = every
        self.peak: dict[str, int] = defaultdict(int)
        self.last: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self.retained: int | None = None
        self.histogram: list[dict[str, Any]] = []
        self.cached: dict[str, Any] = {}
        self._spark = spark

    def sample(self) -> dict[str, int]:
        heap = self._heap.getHeapMemoryUsage()
        values = {"jvm_heap_used": heap.getUsed(), "jvm_heap_committed": heap.getCommitted(),
                  "jvm_rss": _proc_rss(self._jvm_pid), "python_rss": _proc_rss("self")}
        for name, value in values.items():
            self.peak[name] = max(self.peak[name], value)
        self.last = values
        return values

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a missed sample is not worth failing the run
                pass

    def __enter__(self) -> MemorySampler:
        self._jvm.java.lang.System.gc()  # start from what is really retained
        gc.collect()
        self.start = self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sample()
        if self.retained is None:
            self.settle()

    def settle(self, histogram_rows: int = 12) -> int:
        """Heap in use after full GCs, with the streams still running: what the pipeline really
        keeps. Spark's ContextCleaner drops the blocks and broadcasts of the objects a GC found dead
        on its own thread, so one GC still counts them: GC, give the cleaner a moment, GC again.
        Also keeps, to tell what the heap holds, its largest classes (``jcmd GC.class_histogram``)
        and the RDD blocks Spark still caches."""
        gc.collect()  # Python garbage still pins the JVM objects it wraps
        for _ in range(2):
            self._jvm.java.lang.System.gc()
            time.sleep(_CLEANER_SECONDS)
        self._jvm.java.lang.System.gc()
        self.retained = self._heap.getHeapMemoryUsage().getUsed()
        self.histogram = _class_histogram(self._jvm_pid, histogram_rows)
        self.cached = _cached_blocks(self._spark, histogram_rows)
        return self.retained

    def figures(self) -> dict[str, Any]:
        mb = 1024 * 1024
        return {
            "jvm_heap_max_mb": round(self._runtime.maxMemory() / mb),
            "at_start_mb": {k: round(v / mb) for k, v in self.start.items()},
            "peak_mb": {k: round(v / mb) for k, v in self.peak.items()},
            "at_end_mb": {k: round(v / mb) for k, v in self.last.items()},
            "jvm_heap_retained_after_gc_mb": round(self.retained / mb),
            "largest_classes_after_gc": self.histogram,
            "cached_blocks_after_gc": self.cached,
        }


_CLEANER_SECONDS = 1.0


def _cached_blocks(spark: SparkSession, rows: int) -> dict[str, Any]:
    """The RDD blocks Spark's block manager holds (checkpoints, caches, Delta's snapshot state):
    how many RDDs, their memory and disk, and the ``rows`` largest in memory."""
    mb = 2**20
    infos = [{"rdd": info.name()[:100], "id": info.id(), "partitions": info.numCachedPartitions(),
              "memory_mb": round(info.memSize() / mb, 1), "disk_mb": round(info.diskSize() / mb, 1)}
             for info in spark.sparkContext._jsc.sc().getRDDStorageInfo()]
    infos.sort(key=lambda info: info["memory_mb"], reverse=True)
    return {"rdds": len(infos), "memory_mb": round(sum(i["memory_mb"] for i in infos), 1),
            "disk_mb": round(sum(i["disk_mb"] for i in infos), 1), "largest": infos[:rows]}


def _class_histogram(pid: int, rows: int) -> list[dict[str, Any]]:
    """The ``rows`` classes holding the most heap in JVM ``pid`` (``jcmd``; [] when the JDK tool is
    missing or fails: a diagnostic, not a figure the run needs)."""
    try:
        out = subprocess.run(["jcmd", str(pid), "GC.class_histogram"], capture_output=True, text=True,
                             timeout=120, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0].rstrip(":").isdigit():
            found.append({"class": parts[3], "instances": int(parts[1]), "mb": round(int(parts[2]) / 2**20, 1)})
        if len(found) == rows:
            break
    return found


class CpuClock:
    """CPU seconds used so far by the Spark JVM (driver and executor in local mode) and by this
    Python process. On a shared machine, events per CPU second moves much less than events per
    wall-clock second when other programs take the cores."""

    def __init__(self, spark: SparkSession) -> None:
        self._jvm_pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
        self._tick = os.sysconf("SC_CLK_TCK")

    def read(self) -> dict[str, float]:
        try:
            fields = Path(f"/proc/{self._jvm_pid}/stat").read_text().rsplit(")", 1)[1].split()
            jvm = (int(fields[11]) + int(fields[12])) / self._tick
        except OSError:
            jvm = 0.0
        return {"jvm": jvm, "python": time.process_time()}

    def used(self, start: dict[str, float]) -> dict[str, float]:
        """CPU seconds used since ``start`` (a :meth:`read`), per process."""
        now = self.read()
        return {name: now[name] - start[name] for name in now}


def cpu_figures(used: dict[str, float], events: int) -> dict[str, Any]:
    return {"jvm_cpu_seconds": round(used["jvm"], 2), "python_cpu_seconds": round(used["python"], 2),
            "events_per_cpu_second": _rate(events, used["jvm"] + used["python"])}


def _folder_bytes(path: str) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
    return total


def pipeline_state(spark: SparkSession, settings: Settings, tally: ProgressTally,
                   queries: list[StreamingQuery]) -> dict[str, Any]:
    """The state the pipeline keeps: the streaming state store (from the progress reports: the
    pipeline has no stateful operator, so it is empty) and, in its place, the Delta tables that
    serve as state (dedup horizon, identity map, sessions, gold) and the checkpoints."""
    from lakepulse.gold.job import GoldTables
    from lakepulse.silver_stream import SilverTables

    store = {"rows": 0, "memory_bytes": 0, "operators": 0}
    for query in queries:
        reports = tally.batches(query)
        if reports and reports[-1]["state"]:
            store["operators"] += len(reports[-1]["state"])
            store["rows"] += sum(op["rows"] for op in reports[-1]["state"])
            store["memory_bytes"] += sum(op["memory_bytes"] for op in reports[-1]["state"])
    silver, gold = SilverTables.from_settings(settings), GoldTables.from_settings(settings)
    tables = {}
    for ref in (silver.events, silver.identity, silver.sessions, gold.user_profile, gold.user_activity,
                gold.product_metrics, gold.funnel_daily):
        detail = spark.sql(f"DESCRIBE DETAIL delta.`{ref.path}`").select("numFiles", "sizeInBytes").first()
        tables[ref.name] = {"files": detail[0], "bytes": detail[1], "bytes_on_disk": _folder_bytes(ref.path)}
    return {"state_store": store, "delta_tables": tables,
            "checkpoint_bytes": _folder_bytes(settings.checkpoint_root)}


# --------------------------------------------------------------------------------------------
# Loading events
# --------------------------------------------------------------------------------------------
def load_topic(settings: Settings, events: int, *, seed: int) -> dict[str, Any]:
    """Send ``events`` simulated records (faults at their configured rates) to the settings'
    events topic (created fresh); returns the ground truth (without the per-user detail, plus
    ``people``) and the load's figures."""
    from lakepulse.io.kafka import KafkaEventSink, ensure_topics
    from lakepulse.simulate.runner import run_simulation

    kafka = settings.kafka
    ensure_topics(kafka.bootstrap_servers, [kafka.events_topic], kafka.partitions, kafka.replication_factor)
    started = time.perf_counter()
    with KafkaEventSink(kafka.bootstrap_servers, kafka.events_topic) as sink:
        truth = run_simulation(sink, settings.simulator, events=events, now=datetime.now(UTC), seed=seed,
                               topic=kafka.events_topic)
    seconds = time.perf_counter() - started
    document = truth.to_dict()
    document["people"] = len(document.pop("users"))
    document.pop("settings", None)
    return {"truth": document, "seconds": round(seconds, 3), "events_per_second": _rate(events, seconds),
            "simulated_users": settings.simulator.users}


# --------------------------------------------------------------------------------------------
# Catch-up: one stage after the other
# --------------------------------------------------------------------------------------------
def _progress(query: StreamingQuery) -> list[dict[str, Any]]:
    return [json.loads(p.json) for p in query.recentProgress]


def stage_counts(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """What each stage holds after a run, for the reconciliation with the ground truth."""
    from lakepulse.gold.job import GOLD_QUERY, GoldTables
    from lakepulse.silver_stream import SILVER_QUERY, SilverTables
    from lakepulse.streams import BRONZE_QUERY

    silver, gold = SilverTables.from_settings(settings), GoldTables.from_settings(settings)

    def rows(path: str) -> int:
        return spark.read.format("delta").load(path).count()

    metrics = (spark.read.format("delta").load(silver.metrics.path).groupBy("query")
               .agg(F.sum("rows_in").alias("rows_in"), F.sum("rows_out").alias("rows_out"),
                    F.sum("quarantined").alias("quarantined"), F.sum("duplicates_dropped").alias("duplicates"))
               .collect())
    by_query = {row["query"]: row for row in metrics}
    silver_metrics, gold_metrics = by_query.get(SILVER_QUERY), by_query.get(GOLD_QUERY)
    return {
        "bronze_rows": rows(silver.bronze.path),
        "bronze_metrics_rows_in": by_query[BRONZE_QUERY]["rows_in"] if BRONZE_QUERY in by_query else 0,
        "silver_rows": rows(silver.events.path),
        "quarantine_rows": rows(silver.quarantine.path),
        "silver_metrics_rows_in": silver_metrics["rows_in"] if silver_metrics else 0,
        "duplicates_dropped": silver_metrics["duplicates"] if silver_metrics else 0,
        "gold_metrics_rows_in": gold_metrics["rows_in"] if gold_metrics else 0,
        "gold_people": rows(gold.user_profile.path),
    }


def _metrics_batches(spark: SparkSession, settings: Settings, query: str) -> list[dict[str, Any]]:
    from lakepulse.metrics import ensure_metrics_table

    ref = ensure_metrics_table(spark, settings)
    rows = (spark.read.format("delta").load(ref.path).where(F.col("query") == query).orderBy("batch_id")
            .select("batch_id", "started_at", "rows_in", "rows_out", "batch_duration_ms", "latency_p50_ms",
                    "latency_p95_ms", "latency_p99_ms", "latency_max_ms").collect())
    return [row.asDict() for row in rows]


def _duration_summary(batches: list[dict[str, Any]]) -> dict[str, Any]:
    durations = sorted(b["batch_duration_ms"] for b in batches if b["batch_duration_ms"] is not None)
    if not durations:
        return {"batches": 0}
    return {"batches": len(durations), "rows_per_batch_mean": round(sum(b["rows_in"] for b in batches) / len(batches)),
            "duration_ms_mean": round(sum(durations) / len(durations)),
            "duration_ms_p50": durations[len(durations) // 2], "duration_ms_max": durations[-1]}


def catch_up(spark: SparkSession, settings: Settings, *, profile: bool = True) -> dict[str, Any]:
    """Bronze, silver and gold in available-now mode one after the other: seconds, rows, events/s
    and events per CPU second per stage and end to end, and where silver's and gold's batch time goes."""
    from lakepulse.benchmark.profile import ActionProfiler
    from lakepulse.gold.job import GOLD_QUERY, start_gold
    from lakepulse.metrics import ProgressRecorder
    from lakepulse.silver_stream import SILVER_QUERY, start_silver
    from lakepulse.streams import start_bronze

    starters = {"bronze": start_bronze, "silver": start_silver, "gold": start_gold}
    stages: dict[str, Any] = {}
    cpu_used: dict[str, dict[str, float]] = {}
    profiler = ActionProfiler()
    clock = CpuClock(spark)
    for stage in STAGES:
        cpu = clock.read()
        started = time.perf_counter()
        with profiler if profile and stage != "bronze" else _Nothing():
            query = starters[stage](spark, settings, "available_now")
            query.awaitTermination()
        seconds = time.perf_counter() - started
        cpu_used[stage] = clock.used(cpu)
        if query.exception() is not None:
            raise RuntimeError(f"the {stage} stream failed: {query.exception()}")
        if stage == "bronze":
            ProgressRecorder(spark, settings, query).record()
        reports = [p for p in map(_report, _progress(query)) if "addBatch" in p["duration_ms"]]
        stages[stage] = {"seconds": round(seconds, 3), "engine": engine_overhead(reports)}
    # Rows each stage read come from ops.pipeline_metrics: gold's progress reports count its input
    # once per Spark job that scans it.
    counts = stage_counts(spark, settings)
    rows_in = {"bronze": counts["bronze_metrics_rows_in"], "silver": counts["silver_metrics_rows_in"],
               "gold": counts["gold_metrics_rows_in"]}
    for stage in STAGES:
        stages[stage].update(rows_in=rows_in[stage], events_per_second=_rate(rows_in[stage], stages[stage]["seconds"]),
                             cpu=cpu_figures(cpu_used[stage], rows_in[stage]))
    total = sum(stages[s]["seconds"] for s in STAGES)
    events = rows_in["bronze"]
    all_cpu = {name: sum(used[name] for used in cpu_used.values()) for name in ("jvm", "python")}
    result: dict[str, Any] = {"stages": stages, "seconds": round(total, 3), "events": events,
                              "events_per_second": _rate(events, total), "cpu": cpu_figures(all_cpu, events),
                              "counts": counts}
    if profile:
        result["profile"] = {
            "silver": {**_duration_summary(_metrics_batches(spark, settings, SILVER_QUERY)),
                       "actions": profiler.summary("silver_stream")},
            "gold": {**_duration_summary(_metrics_batches(spark, settings, GOLD_QUERY)),
                     "actions": profiler.summary("gold")},
        }
    return result


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _report(progress: dict[str, Any]) -> dict[str, Any]:
    return {"batch_id": progress["batchId"], "rows": progress["numInputRows"],
            "duration_ms": progress.get("durationMs", {})}


# --------------------------------------------------------------------------------------------
# Silver as a batch job
# --------------------------------------------------------------------------------------------
def silver_batch(spark: SparkSession, settings: Settings, target: str) -> dict[str, Any]:
    """bronze.events_raw → :func:`lakepulse.silver.validate` → accepted rows as silver.events rows
    (:func:`lakepulse.silver.silver_rows`), written as one Delta batch to ``target``.

    The validated rows are materialised first, as the stream does: filtered in the same query, the
    optimizer pushes ``size(failed_rules) = 0`` below the parse and the JSON is parsed again for
    every rule (measured 4.6× slower on 100,000 events)."""
    from delta.tables import DeltaTable

    from lakepulse.settings import privacy_salt
    from lakepulse.silver import silver_rows, validate
    from lakepulse.spark import BatchCheckpoints
    from lakepulse.tables import table_ref

    s = settings.silver
    bronze = spark.read.format("delta").load(table_ref(settings, settings.bronze.table).path)
    clock = CpuClock(spark)
    cpu = clock.read()
    started = time.perf_counter()
    with BatchCheckpoints() as checkpoint:
        checked = checkpoint(validate(bronze, s.rules, s.max_payload_bytes, s.max_future_seconds).drop("_v", "_checks"))
        events = checked.count()
        accepted = silver_rows(checked.where(F.size("failed_rules") == 0), privacy_salt(settings),
                               F.lit(None).cast("timestamp"))
        accepted.write.format("delta").mode("overwrite").partitionBy("event_date").save(target)
    seconds = time.perf_counter() - started
    used = clock.used(cpu)
    written = int(DeltaTable.forPath(spark, target).history(1).select("operationMetrics").first()[0]["numOutputRows"])
    return {"events": events, "accepted": written, "rejected": events - written, "seconds": round(seconds, 3),
            "events_per_second": _rate(events, seconds), "cpu": cpu_figures(used, events)}


# --------------------------------------------------------------------------------------------
# The three streams at once
# --------------------------------------------------------------------------------------------
def start_streams(spark: SparkSession, settings: Settings, triggers: dict[str, str],
                  gold_starting_version: int | None = None) -> dict[str, StreamingQuery]:
    """Start bronze, silver and gold with ``triggers`` (stage → trigger); gold from
    ``gold_starting_version`` of silver.events when given (after a seeded history)."""
    from lakepulse.gold.job import start_gold
    from lakepulse.silver_stream import start_silver
    from lakepulse.streams import start_bronze

    return {"bronze": start_bronze(spark, settings, triggers["bronze"]),
            "silver": start_silver(spark, settings, triggers["silver"]),
            "gold": start_gold(spark, settings, triggers["gold"], starting_version=gold_starting_version)}


def gold_progress(spark: SparkSession, settings: Settings) -> tuple[int, float | None]:
    """Rows gold has read so far (from ops.pipeline_metrics) and when its latest batch finished
    (epoch seconds; None before its first batch)."""
    from lakepulse.gold.job import GOLD_QUERY
    from lakepulse.metrics import ensure_metrics_table

    ref = ensure_metrics_table(spark, settings)
    row = (spark.read.format("delta").load(ref.path).where(F.col("query") == GOLD_QUERY)
           .agg(F.sum("rows_in"), F.max(F.unix_millis("started_at") + F.col("batch_duration_ms"))).first())
    return row[0] or 0, (row[1] / 1000 if row[1] is not None else None)


def _wait_for(spark: SparkSession, settings: Settings, queries: dict[str, StreamingQuery], tally: ProgressTally,
              *, records: int, valid: int, timeout: float) -> float:
    """Until bronze and silver have read ``records`` rows and gold ``valid`` (or a query fails);
    returns when gold's last batch finished (epoch seconds). Bronze and silver are followed by
    their progress reports; gold by its metrics rows (its progress counts its input once per job)."""
    deadline = time.monotonic() + timeout
    while True:
        for stage, query in queries.items():
            if query.exception() is not None:
                raise RuntimeError(f"the {stage} stream failed: {query.exception()}")
        read = {stage: tally.rows(queries[stage]) for stage in ("bronze", "silver")}
        if read["bronze"] >= records and read["silver"] >= records:
            read["gold"], finished = gold_progress(spark, settings)
            if read["gold"] >= valid and finished is not None:
                return finished
            time.sleep(1.0)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the streams did not catch up within {timeout:.0f}s: read {read}, expected "
                               f"{records:,} records and {valid:,} valid events")
        time.sleep(0.2)


def _stop(queries: dict[str, StreamingQuery]) -> None:
    for query in queries.values():
        query.stop()


def together(spark: SparkSession, settings: Settings, tally: ProgressTally, *, truth: dict[str, Any],
             triggers: dict[str, str], timeout: float, gold_starting_version: int | None = None) -> dict[str, Any]:
    """Bronze, silver and gold running at once until gold has read every valid event: end-to-end
    seconds and events/s, rows and batches per stage, memory, and the state the pipeline keeps.
    ``gold_starting_version``: see :func:`start_streams`."""
    events, valid = truth["records_sent"], truth["unique_valid_events"]
    clock = CpuClock(spark)
    with MemorySampler(spark) as memory:
        cpu = clock.read()
        started = time.time()
        queries = start_streams(spark, settings, triggers, gold_starting_version)
        try:
            finished = _wait_for(spark, settings, queries, tally, records=events, valid=valid, timeout=timeout)
            cpu_used = clock.used(cpu)
            memory.settle()  # the running pipeline's retained heap, before the streams stop
        finally:
            _stop(queries)
    seconds = finished - started
    stages = {stage: {"batches": len(tally.batches(q)), "engine": engine_overhead(tally.batches(q))}
              for stage, q in queries.items()}
    return {"seconds": round(seconds, 3), "events": events, "events_per_second": _rate(events, seconds),
            "cpu": cpu_figures(cpu_used, events), "triggers": triggers, "stages": stages, "memory": memory.figures(),
            "state": pipeline_state(spark, settings, tally, list(queries.values())),
            "counts": stage_counts(spark, settings)}


# --------------------------------------------------------------------------------------------
# Latency
# --------------------------------------------------------------------------------------------
def _batch_cdf(batch: dict[str, Any]) -> tuple[list[float], list[float]]:
    """A batch's latency distribution as CDF points, from its quantiles (p50, p95, p99, max) and
    a lower end mirrored from p95 about the median."""
    p50, p95, p99 = batch["latency_p50_ms"], batch["latency_p95_ms"], batch["latency_p99_ms"]
    top = max(p99, batch["latency_max_ms"] or p99)
    return [p50 - (p95 - p50), p50, p95, p99, top], [0.0, 0.5, 0.95, 0.99, 1.0]


def _cdf_at(xs: list[float], fs: list[float], x: float) -> float:
    if x <= xs[0]:
        return 0.0
    if x >= xs[-1]:
        return 1.0
    i = bisect_left(xs, x)
    if xs[i] == xs[i - 1]:
        return fs[i]
    return fs[i - 1] + (fs[i] - fs[i - 1]) * (x - xs[i - 1]) / (xs[i] - xs[i - 1])


def combined_quantiles(batches: list[dict[str, Any]], weight: str,
                       quantiles: tuple[float, ...] = (0.5, 0.95, 0.99)) -> dict[str, float]:
    """Quantiles of the latency of every row of ``batches``, from each batch's own quantiles: the
    mixture of the batches' piecewise-linear CDFs weighted by the column ``weight`` (the rows the
    batch's quantiles are over), solved by bisection (ms)."""
    usable = [b for b in batches if b["latency_p50_ms"] is not None and b[weight]]
    if not usable:
        return {}
    cdfs = [(_batch_cdf(b), b[weight]) for b in usable]
    total = sum(weight for _, weight in cdfs)
    low, high = min(c[0][0] for c, _ in cdfs), max(c[0][-1] for c, _ in cdfs)
    result = {}
    for q in quantiles:
        a, b = low, high
        for _ in range(60):
            mid = (a + b) / 2
            share = sum(weight * _cdf_at(xs, fs, mid) for (xs, fs), weight in cdfs) / total
            a, b = (mid, b) if share < q else (a, mid)
        result[f"p{round(q * 100)}"] = round((a + b) / 2, 1)
    return result


def latency(spark: SparkSession, settings: Settings, tally: ProgressTally, *, rate: float, seconds: float,
            triggers: dict[str, str], warmup_seconds: float, seed: int) -> dict[str, Any]:
    """Simulated events at ``rate`` per second for ``seconds`` while the three streams run with
    ``triggers``: p50/p95/p99 from event time to silver and to gold (ops.pipeline_metrics), over
    the batches that started after ``warmup_seconds``; plus batch durations and the producer lag."""
    from lakepulse.benchmark.producer import start_paced_producer
    from lakepulse.gold.job import GOLD_QUERY
    from lakepulse.io.kafka import ensure_topics
    from lakepulse.silver_stream import SILVER_QUERY

    kafka = settings.kafka
    ensure_topics(kafka.bootstrap_servers, [kafka.events_topic], kafka.partitions, kafka.replication_factor)
    queries = start_streams(spark, settings, triggers)
    try:
        time.sleep(3)  # let each query plan and run its first (empty) trigger
        producer = start_paced_producer(kafka.bootstrap_servers, kafka.events_topic, settings.simulator,
                                        rate=rate, seconds=seconds, seed=seed)
        try:
            sent = producer.result(timeout=seconds * 3 + 120)
        finally:
            producer.stop()
        drained = _wait_for(spark, settings, queries, tally, records=sent["records_sent"],
                            valid=sent["unique_valid_events"], timeout=seconds + 600)
    finally:
        _stop(queries)
    since = datetime.fromtimestamp(sent["started_at"] + warmup_seconds, UTC).replace(tzinfo=None)
    figures: dict[str, Any] = {"rate": rate, "seconds": seconds, "triggers": triggers, "producer": sent,
                               "warmup_seconds": warmup_seconds,
                               "drain_seconds_after_last_send": round(drained - sent["finished_at"], 3)}
    # Silver's quantiles are over its new rows (rows_out), gold's over the batch's rows (rows_in).
    for stage, query, weight in (("silver", SILVER_QUERY, "rows_out"), ("gold", GOLD_QUERY, "rows_in")):
        batches = [b for b in _metrics_batches(spark, settings, query) if b["started_at"] >= since]
        figures[stage] = {**combined_quantiles(batches, weight), **_duration_summary(batches),
                          "worst_batch_p99": max((b["latency_p99_ms"] for b in batches
                                                  if b["latency_p99_ms"] is not None), default=None)}
    bronze_batches = tally.batches(queries["bronze"])
    durations = sorted(r["duration_ms"].get("triggerExecution", 0) for r in bronze_batches if r["rows"])
    figures["bronze"] = {"batches": len(durations),
                         "duration_ms_p50": durations[len(durations) // 2] if durations else None,
                         "duration_ms_max": durations[-1] if durations else None}
    figures["counts"] = stage_counts(spark, settings)
    return figures
