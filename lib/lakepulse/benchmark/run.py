"""The pipeline benchmark end to end: load once, measure every way, print, save JSON and a chart.

``benchmarks/pipeline.py`` is the entry point; :func:`main` takes its arguments, so tests run it
small in-process (with the session they already have).

Order of the run (each measurement on its own fresh lakehouse, all reading the same topic):

1. load ``--events`` simulated records into a fresh topic (faults at their configured rates);
2. raw Kafka read with confluent-kafka, then the native pyarrow baseline on those payloads;
   then ``--warmup-events`` through the three stages once, unmeasured (a fresh JVM is slow at first);
3. catch-up: bronze, silver, gold in available-now mode, one after the other (profiled);
4. the Spark batch job: silver parse + validation over the catch-up's bronze table;
5. together: the three streams at once (``--trigger``) until gold has every event;
6. latency: a paced producer at ``--rate`` (default half of 5.) for ``--latency-seconds``;
7. growth: 5. again on ``--growth-events`` records for each of ``--growth-users``, each time into a
   lakehouse seeded with the history of that many people (:mod:`lakepulse.benchmark.history`),
   ``--growth-repeats`` times on copies of it; the fastest run counts, every run is reconciled.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakepulse.benchmark.workspace import Workspace, dotted_override, merge
from lakepulse.paths import runtime_dir

if TYPE_CHECKING:
    from lakepulse.settings import Settings


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _users(text: str) -> list[int]:
    return [int(float(item)) for item in text.split(",") if item.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmarks/pipeline.py",
        description="Pipeline benchmark: throughput (raw Kafka, native pyarrow, Spark batch, each stage, all "
                    "together), latency and growth on the local broker; prints a table, saves JSON and a PNG.")
    p.add_argument("--events", type=int, default=2_000_000, help="records loaded once and measured every way")
    p.add_argument("--users", type=int, default=10_000, help="simulated users of the main load")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--warmup-events", type=int, default=5_000,
                   help="records run through bronze, silver and gold once before measuring, so that class "
                        "loading and JIT compilation are not measured (0: none)")
    p.add_argument("--trigger", default="0 seconds",
                   help="trigger of the streams when they run together and in the latency run (0 seconds: "
                        "micro-batches back to back)")
    for stage in ("bronze", "silver", "gold"):
        p.add_argument(f"--{stage}-trigger", default=None, help=f"{stage}'s trigger (default --trigger)")
    p.add_argument("--latency-seconds", type=float, default=180.0, help="how long the paced producer sends")
    p.add_argument("--rate", type=float, default=None,
                   help="events/s of the latency run (default: half the measured end-to-end maximum)")
    p.add_argument("--latency-warmup-seconds", type=float, default=None,
                   help="batches starting this soon after the producer are left out (default 10%% of the run)")
    p.add_argument("--growth-users", type=_users, default=_users("1e4,1e5,1e6,1e7"),
                   help="distinct people the lakehouse knows at each growth point (the simulated ones "
                        "plus a seeded history), e.g. 1e4,1e5,1e6")
    p.add_argument("--growth-events", type=int, default=500_000, help="records per growth point")
    p.add_argument("--growth-repeats", type=_at_least_one, default=2,
                   help="runs per growth point, each on a fresh copy of its seeded lakehouse; the fastest counts "
                        "(a single run on a small machine varies by 10-15 %%)")
    p.add_argument("--skip-growth", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--skip-together", action="store_true", help="(then the latency run needs --rate)")
    p.add_argument("--no-profile", action="store_true", help="do not time the batch writers' Spark actions")
    p.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (default: the settings' broker)")
    p.add_argument("--settings", type=Path, default=None, help="base settings file (default conf/local.yaml)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a setting, e.g. --set kafka.max_offsets_per_trigger=500000 (repeatable)")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="extra Spark configuration (spark.conf), e.g. --conf spark.sql.shuffle.partitions=4")
    p.add_argument("--workdir", type=Path, default=runtime_dir() / "benchmarks",
                   help="where the run's folder (lakehouses, checkpoints) is made")
    p.add_argument("--output", type=Path, default=runtime_dir() / "benchmarks" / "pipeline.json",
                   help="the JSON results (the PNG goes next to it)")
    p.add_argument("--label", default="", help="a note saved with the results (e.g. what was tuned)")
    p.add_argument("--keep-data", action="store_true", help="keep the run's lakehouses and topics")
    p.add_argument("--timeout", type=float, default=None, help="seconds any one stream run may take")
    return p


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for assignment in args.sets:
        overrides = merge(overrides, dotted_override(assignment))
    if args.conf:
        conf = {}
        for item in args.conf:
            key, sep, value = item.partition("=")
            if not sep:
                raise SystemExit(f"--conf expects KEY=VALUE, got {item!r}")
            conf[key] = value
        overrides = merge(overrides, {"spark": {"conf": conf}})
    if args.bootstrap:
        overrides = merge(overrides, {"kafka": {"bootstrap_servers": args.bootstrap,
                                                "local_broker": {"autostart": False}}})
    return overrides


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _memory_available_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _versions(spark: Any) -> dict[str, str]:
    from lakepulse import stack

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    import confluent_kafka

    return {
        "python": platform.python_version(), "pyspark": spark.version, "delta-spark": version("delta-spark"),
        "delta_jar": stack.DELTA_SPARK, "kafka_connector": stack.SPARK_SQL_KAFKA,
        "kafka_broker": stack.KAFKA_BROKER_VERSION, "pyarrow": version("pyarrow"),
        "confluent-kafka": confluent_kafka.version()[0], "librdkafka": confluent_kafka.libversion()[0],
        "java": spark.sparkContext._jvm.java.lang.System.getProperty("java.version"),
    }


def _settings_summary(settings: Any, triggers: dict[str, str]) -> dict[str, Any]:
    return {
        "spark.master": settings.spark.master, "spark.driver_memory": settings.spark.driver_memory,
        "spark.shuffle_partitions": settings.spark.shuffle_partitions, "spark.conf": settings.spark.conf,
        "kafka.partitions": settings.kafka.partitions,
        "kafka.max_offsets_per_trigger": settings.kafka.max_offsets_per_trigger,
        "silver.max_files_per_trigger": settings.silver.max_files_per_trigger,
        "gold.max_files_per_trigger": settings.gold.max_files_per_trigger,
        "triggers_when_streaming": triggers, "settings_source": settings.source,
    }


def _say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def _growth(spark: Any, args: argparse.Namespace, workspace: Workspace, tally: Any, triggers: dict[str, str],
            topics: list[str], load_by_phase: dict[str, list[float]], timeout: float, *,
            main_load: dict[str, Any], main_topic: str) -> dict[str, Any]:
    """Growth: the same ``--growth-events`` simulated records (``--users`` people) streamed into
    lakehouses that already know ``users`` people in all (the rest a seeded history, see
    :mod:`lakepulse.benchmark.history`), one fresh lakehouse per point."""
    from lakepulse.benchmark import history, stages

    if args.growth_events == args.events:
        load, growth_topic = main_load, main_topic
    else:
        growth_topic = workspace.topic("growth")
        topics.append(growth_topic)
        _say(f"growth: loading {args.growth_events:,} events")
        load = stages.load_topic(workspace.settings("growth_load", topic=growth_topic,
                                                    simulator={"users": args.users}),
                                 args.growth_events, seed=args.seed)
    points, failed = [], []
    for users in args.growth_users:
        phase = f"growth_{users}"
        settings = workspace.settings(phase, topic=growth_topic, simulator={"users": args.users})
        seeded_people = users - load["truth"]["people"]
        if seeded_people < 0:
            failed.append({"users": users, "error": f"the simulated events alone come from "
                                                    f"{load['truth']['people']:,} people"})
            continue
        _say(f"growth {users:,} people: seeding the history of {seeded_people:,}, then together "
             f"{args.growth_repeats} time(s)")
        phases = [phase] + [f"{phase}_repeat{n}" for n in range(1, args.growth_repeats)]
        try:
            seeded = history.seed_history(spark, settings, seeded_people)
            truth = {**load["truth"], "seeded_people": seeded["people"], "seeded_events": seeded["events"]}
            # Gold re-reads the touched people's history: allow for a slower pipeline on a larger lakehouse.
            allowed = max(timeout, args.growth_events / 100) + seeded["events"] / 5_000
            # Each repeat gets its own copy of the seeded lakehouse, made before the first run changes it.
            repeats = [settings] + [_copy_lakehouse(workspace, settings, repeat, topic=growth_topic,
                                                    simulator={"users": args.users}) for repeat in phases[1:]]
            runs = [stages.together(spark, repeat, tally, truth=truth, triggers=triggers, timeout=allowed,
                                    gold_starting_version=seeded["silver_events_version"]) for repeat in repeats]
            best = max(runs, key=lambda run: run["events_per_second"])
            points.append({"users": users, "truth": truth, "load": load, "seeded": seeded, **best,
                           "repeats": [{key: run[key] for key in ("seconds", "events_per_second", "cpu", "counts")}
                                       for run in runs]})
        except Exception as error:  # noqa: BLE001 - the points measured so far still count
            _say(f"growth {users:,} people: {error}")
            failed.append({"users": users, "error": str(error)[:500]})
        load_by_phase[phase] = _load()
        if not args.keep_data:
            for name in phases:
                shutil.rmtree(workspace.phase_dir(name), ignore_errors=True)
    return {"events": args.growth_events, "points": points, "failed": failed}


def _copy_lakehouse(workspace: Workspace, source: Settings, phase: str, **sections: Any) -> Settings:
    """The settings of a new ``phase`` (``sections`` as :meth:`Workspace.settings` takes them) whose
    lakehouse is a copy of the ``source`` settings' lakehouse; no checkpoints: its streams start fresh."""
    copied = workspace.settings(phase, **sections)
    shutil.copytree(source.lakehouse_root, copied.lakehouse_root)
    return copied


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark described by ``args`` (see :func:`parser`); returns every figure."""
    from lakepulse.benchmark import native, report, stages
    from lakepulse.kafka_local import ensure_kafka
    from lakepulse.spark import build_session

    triggers = {stage: getattr(args, f"{stage}_trigger") or args.trigger for stage in stages.STAGES}
    workspace = Workspace.create(args.workdir, base_file=args.settings, overrides=_overrides(args),
                                 environ=os.environ)
    topic = workspace.topic("events")
    main_sections = {"simulator": {"users": args.users}}
    settings = workspace.settings("load", topic=topic, **main_sections)
    figures: dict[str, Any] = {
        "benchmark": "pipeline", "label": args.label, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv[:1] + (args.argv or [])), "run_folder": str(workspace.root),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "memory_available_gb": round(_memory_available_bytes() / 1e9, 1),
                    "load_average_at_start": _load()},
    }
    load_by_phase: dict[str, list[float]] = {}
    figures["machine"]["load_average_by_phase"] = load_by_phase
    bootstrap = ensure_kafka(settings)
    spark = build_session(settings, "benchmark")
    figures["versions"] = _versions(spark)
    figures["settings"] = {**_settings_summary(settings, triggers), "events": args.events, "users": args.users,
                           "seed": args.seed, "overrides": workspace.overrides}
    tally = stages.ProgressTally()
    spark.streams.addListener(tally)
    topics = [topic]
    timeout = args.timeout or max(900.0, args.events / 100)  # the streams manage ≥ 100 events/s
    try:
        _say(f"loading {args.events:,} simulated events into {topic}")
        figures["load"] = stages.load_topic(settings, args.events, seed=args.seed)
        truth = figures["load"]["truth"]
        load_by_phase["load"] = _load()

        _say("raw Kafka read (confluent-kafka) and the native pyarrow baseline")
        payloads, figures["raw_kafka_read"] = native.drain_topic(bootstrap, topic)
        figures["native"] = native.native_parquet(payloads, workspace.phase_dir("native"))
        del payloads
        shutil.rmtree(workspace.phase_dir("native"), ignore_errors=True)
        both = figures["raw_kafka_read"]["seconds"] + figures["native"]["seconds"]
        figures["native_with_kafka_read"] = {"seconds": round(both, 3),
                                             "events_per_second": round(args.events / both)}
        load_by_phase["native"] = _load()

        if args.warmup_events:
            _say(f"warm-up: {args.warmup_events:,} events through bronze, silver and gold (not measured)")
            warmup_topic = workspace.topic("warmup")
            topics.append(warmup_topic)
            warmup_settings = workspace.settings("warmup", topic=warmup_topic, **main_sections)
            stages.load_topic(warmup_settings, args.warmup_events, seed=args.seed + 1)
            stages.catch_up(spark, warmup_settings, profile=False)
            shutil.rmtree(workspace.phase_dir("warmup"), ignore_errors=True)

        _say("catch-up: bronze, silver, gold in available-now mode, one after the other")
        catch_up_settings = workspace.settings("catch_up", topic=topic, **main_sections)
        figures["catch_up"] = stages.catch_up(spark, catch_up_settings, profile=not args.no_profile)
        load_by_phase["catch_up"] = _load()

        _say("Spark batch: silver parse and validation over bronze")
        figures["spark_batch"] = stages.silver_batch(
            spark, catch_up_settings, str(workspace.phase_dir("catch_up") / "silver_batch"))
        load_by_phase["spark_batch"] = _load()

        if not args.skip_together:
            _say(f"together: bronze, silver and gold at once, triggers {triggers}")
            together_settings = workspace.settings("together", topic=topic, **main_sections)
            figures["together"] = stages.together(spark, together_settings, tally, truth=truth, triggers=triggers,
                                                  timeout=timeout)
            load_by_phase["together"] = _load()

        if not args.skip_latency:
            rate = args.rate or (figures["together"]["events_per_second"] / 2 if "together" in figures else None)
            if not rate:
                raise SystemExit("the latency run needs --rate when --skip-together is given")
            latency_topic = workspace.topic("latency")
            topics.append(latency_topic)
            # Late events are held back by the device for minutes to hours: that is the producer's
            # lateness, not the pipeline's latency, so the latency run sends none.
            latency_settings = workspace.settings(
                "latency", topic=latency_topic, simulator={"users": args.users, "late_rate": 0.0})
            warmup = args.latency_warmup_seconds
            warmup = args.latency_seconds * 0.1 if warmup is None else warmup
            _say(f"latency: {rate:,.0f} events/s for {args.latency_seconds:.0f} s, triggers {triggers}")
            figures["latency"] = stages.latency(spark, latency_settings, tally, rate=rate,
                                                seconds=args.latency_seconds, triggers=triggers,
                                                warmup_seconds=warmup, seed=args.seed)
            load_by_phase["latency"] = _load()

        if not args.skip_growth:
            figures["growth"] = _growth(spark, args, workspace, tally, triggers, topics, load_by_phase, timeout,
                                        main_load=figures["load"], main_topic=topic)
    finally:
        spark.streams.removeListener(tally)
        if not args.keep_data:
            _delete_topics(settings.kafka.bootstrap_servers, topics)
            workspace.remove_data()
    figures["machine"]["load_average_at_end"] = _load()
    return report.conclude(figures)


def _delete_topics(bootstrap: str, topics: list[str]) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        try:
            future.result()
        except Exception:  # noqa: BLE001 - a topic that is already gone is fine
            pass


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run, print the table, save the JSON and the PNG; 0 when every count
    reconciles with the ground truth, 1 otherwise (goals missed do not change the exit code)."""
    from lakepulse.benchmark import report

    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    figures = run(args)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    png = report.chart(figures, args.output.with_suffix(".png"))
    print(report.table(figures))
    print(f"saved {args.output} and {png}")
    return 0 if all(row["ok"] for row in figures["reconciliation"]) else 1
