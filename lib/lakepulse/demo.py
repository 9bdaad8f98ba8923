"""``lakepulse demo``: the README's main command.

Starts the local Kafka broker when needed, sends simulated events (with faults) to the events
topic, runs bronze, silver and gold in catch-up mode and prints what landed where next to the
simulator's ground truth, then the e-commerce funnel and the top users, segments the customers
(MLlib KMeans) and prints the segment profiles, and writes the charts (funnel, users, hot products,
segments) to the reports folder.
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
    from lakepulse.pipeline import run_to_gold
    from lakepulse.quality import audit, format_audit
    from lakepulse.reports.command import reports_dir
    from lakepulse.reports.funnel import funnel_report
    from lakepulse.reports.products import products_report
    from lakepulse.reports.users import users_report
    from lakepulse.segments.job import format_run, run_segmentation
    from lakepulse.segments.report import segments_report
    from lakepulse.simulate.runner import ground_truth_path, run_simulation
    from lakepulse.spark import build_session

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
    run_to_gold(spark, settings, _say)

    result = audit(spark, settings)
    print()
    print(format_audit(result))
    facts = truth.to_dict()
    print()
    print("simulator ground truth (all runs add up in the tables; this run alone):")
    print(f"  records sent {facts['records_sent']:,}: unique valid {facts['unique_valid_events']:,}, "
          f"faulty {facts['quarantine_total']:,}, duplicates {facts['duplicates_sent']:,}")
    folder = reports_dir(settings)
    written = []
    for report in (funnel_report(spark, settings), users_report(spark, settings, top=10),
                   products_report(spark, settings, top=10)):
        print()
        print(report.text())
        written += report.write(folder)
    _say("segments: gold.user_profile → MLlib KMeans → gold.user_segments, gold.segment_profiles")
    segmentation = run_segmentation(spark, settings)
    print()
    print(format_run(segmentation))
    written += segments_report(spark, settings).write(folder)
    print()
    print(f"lakehouse: {settings.lakehouse_root}")
    print(f"charts and HTML reports ({len(written)} files): {folder}")
    print("next: .venv/bin/lakepulse sql \"SELECT * FROM gold.user_profile ORDER BY revenue DESC LIMIT 5\"")
    return 0 if result.ok else 1
