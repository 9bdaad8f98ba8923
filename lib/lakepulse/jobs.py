"""Pipeline jobs: what ``jobs/<name>.py`` (spark-submit) and ``lakepulse run <name>`` execute.

A job parses its arguments, loads settings, builds the session, starts its queries and waits; a
settings problem ends it at once with one line on stderr and exit code 2. SIGTERM stops streaming
queries cleanly (their checkpoints stay consistent).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from lakepulse.settings import Settings, SettingsError, load_settings


def _ingest_bronze(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> list[StreamingQuery]:
    from lakepulse.streams import start_bronze

    return [start_bronze(spark, settings, trigger=args.trigger)]


def _refine_silver(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> list[StreamingQuery]:
    from lakepulse.silver_stream import start_silver

    return [start_silver(spark, settings, trigger=args.trigger)]


def _build_gold(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> list[StreamingQuery]:
    from lakepulse.gold.job import start_gold

    return [start_gold(spark, settings, trigger=args.trigger)]


def _segment_users(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> list[StreamingQuery]:
    """Batch: runs to the end here and starts no query."""
    from lakepulse.segments.job import SegmentationError, format_run, run_segmentation

    try:
        print(format_run(run_segmentation(spark, settings)))
    except SegmentationError as exc:
        raise SystemExit(f"segment_users: {exc}") from None
    return []


# job name -> function starting its queries
JOBS: dict[str, Callable[[SparkSession, Settings, argparse.Namespace], list[StreamingQuery]]] = {
    "ingest_bronze": _ingest_bronze,
    "refine_silver": _refine_silver,
    "build_gold": _build_gold,
    "segment_users": _segment_users,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", choices=sorted(JOBS))
    add_job_arguments(parser)


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trigger", default=None,
                        help="available_now (catch up, then exit) or an interval like '10 seconds'")


def await_queries(queries: list[StreamingQuery], on_tick: Callable[[], object] = lambda: None,
                  tick_seconds: float = 5.0) -> int:
    """Wait until every query ends (or SIGTERM/SIGINT stops them), calling ``on_tick`` every
    ``tick_seconds`` and once at the end; 1 if any query failed."""
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        last_tick = time.monotonic()
        while not stopping and any(q.isActive for q in queries):
            time.sleep(0.5)
            if time.monotonic() - last_tick >= tick_seconds:
                on_tick()
                last_tick = time.monotonic()
        for query in queries:
            if query.isActive:
                query.stop()
        on_tick()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failed = [q for q in queries if q.exception() is not None]
    for query in failed:
        print(f"query {query.name} failed: {query.exception()}", file=sys.stderr)
    return 1 if failed else 0


def run_job(name: str, settings: Settings, args: argparse.Namespace) -> int:
    from lakepulse.metrics import ProgressRecorder
    from lakepulse.spark import build_session
    from lakepulse.streams import BRONZE_QUERY

    spark = build_session(settings, name)
    queries = JOBS[name](spark, settings, args)
    # Streams with a plain Delta sink are recorded in ops.pipeline_metrics from their progress.
    recorders = [ProgressRecorder(spark, settings, q) for q in queries if q.name == BRONZE_QUERY]
    return await_queries(queries, on_tick=lambda: [r.record() for r in recorders])


def run(args: argparse.Namespace, settings: Settings) -> int:
    """``lakepulse run <job>``."""
    return run_job(args.job, settings, args)


def job_main(name: str, argv: list[str] | None = None) -> int:
    """Entry point of ``jobs/<name>.py``: ``--env``/``--settings`` plus the job's own arguments."""
    parser = argparse.ArgumentParser(prog=f"jobs/{name}.py")
    parser.add_argument("--env", default=None)
    parser.add_argument("--settings", default=None, help="settings file (spark-submit ships it with --files)")
    add_job_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.env, args.settings)
        return run_job(name, settings, args)
    except SettingsError as exc:
        print(f"SettingsError: {exc}", file=sys.stderr)
        return 2
