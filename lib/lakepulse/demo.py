"""``lakepulse demo``: the README's main command.

Starts the local Kafka broker when needed, sends simulated events (with faults) to the events
topic, runs bronze and silver in catch-up mode and prints what landed where, next to the
simulator's ground truth.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from lakepulse.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=5000, help="simulated events to send (default 5000)")
    parser.add_argument("--seed", type=int, default=None, help="simulator seed (default simulator.seed)")


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from lakepulse.io.kafka import KafkaEventSink, ensure_topics
    from lakepulse.kafka_local import ensure_kafka
    from lakepulse.metrics import ProgressRecorder
    from lakepulse.quality import audit, format_audit
    from lakepulse.silver_stream import start_silver
    from lakepulse.simulate.runner import ground_truth_path, run_simulation
    from lakepulse.spark import build_session
    from lakepulse.streams import start_bronze

    bootstrap = ensure_kafka(settings)
    topic = settings.kafka.events_topic
    ensure_topics(bootstrap, [topic], settings.kafka.partitions, settings.kafka.replication_factor)
    _say(f"sending {args.events:,} simulated events to {topic} on {bootstrap}")
    with KafkaEventSink(bootstrap, topic) as sink:
        truth = run_simulation(sink, settings.simulator, events=args.events, now=datetime.now(UTC),
                               seed=args.seed, topic=topic, progress=sys.stderr)
    truth_file = truth.write(ground_truth_path(settings, topic))
    _say(f"ground truth written to {truth_file}")

    spark = build_session(settings, "demo")
    _say("bronze: Kafka → bronze.events_raw (available-now)")
    bronze = start_bronze(spark, settings, "available_now")
    bronze.awaitTermination()
    ProgressRecorder(spark, settings, bronze).record()
    _say("silver: bronze → silver.events, quarantine, identity map, sessions (available-now)")
    start_silver(spark, settings, "available_now").awaitTermination()

    result = audit(spark, settings)
    print()
    print(format_audit(result))
    facts = truth.to_dict()
    print()
    print("simulator ground truth (all runs add up in the tables; this run alone):")
    print(f"  records sent {facts['records_sent']:,}: unique valid {facts['unique_valid_events']:,}, "
          f"faulty {facts['quarantine_total']:,}, duplicates {facts['duplicates_sent']:,}")
    print(f"lakehouse: {settings.lakehouse_root}")
    return 0 if result.ok else 1
