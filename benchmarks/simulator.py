"""Simulator throughput: records per second generated (with the ground truth kept), and sent to a
real Kafka broker when one is given.

    .venv/bin/python benchmarks/simulator.py
    .venv/bin/python benchmarks/simulator.py --events 1000000 --bootstrap localhost:19092

Prints the figures and saves them as JSON (default ``.lakepulse/benchmarks/simulator.json``).
Generation is measured into a sink that only counts; each figure is given per wall-clock second and
per CPU second of this process (the second one does not drop when other programs share the CPU).
The Kafka figure includes the producer's final flush; the benchmark topic is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakepulse.paths import runtime_dir
from lakepulse.settings import SimulatorSettings
from lakepulse.simulate import run_simulation


class CountingSink:
    """Counts records and bytes; keeps nothing."""

    def __init__(self) -> None:
        self.sent = 0
        self.bytes = 0

    def send(self, key: bytes | None, value: bytes | None) -> None:
        self.sent += 1
        self.bytes += len(value or b"")

    def flush(self, timeout: float = 0) -> None:
        pass


def _timed(sink: Any, config: SimulatorSettings, events: int) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run_simulation(sink, config, events=events, now=datetime.now(UTC))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
            "events_per_second": round(events / wall), "events_per_cpu_second": round(events / cpu)}


def measure_generation(config: SimulatorSettings, events: int, repeat: int) -> dict[str, Any]:
    """Best and median of ``repeat`` runs of ``events`` records into a counting sink."""
    runs = []
    for _ in range(repeat):
        sink = CountingSink()
        runs.append({**_timed(sink, config, events), "mean_record_bytes": round(sink.bytes / sink.sent)})
    rates = [r["events_per_second"] for r in runs]
    cpu_rates = [r["events_per_cpu_second"] for r in runs]
    return {"events": events, "runs": runs, "best_events_per_second": max(rates),
            "median_events_per_second": round(statistics.median(rates)),
            "best_events_per_cpu_second": max(cpu_rates)}


def measure_kafka(config: SimulatorSettings, events: int, bootstrap: str, partitions: int) -> dict[str, Any]:
    """One run of ``events`` records to a fresh topic on ``bootstrap`` (deleted afterwards)."""
    from confluent_kafka.admin import AdminClient

    from lakepulse.io.kafka import KafkaEventSink, ensure_topics

    topic = f"bench.simulator.{uuid.uuid4().hex[:10]}"
    ensure_topics(bootstrap, [topic], partitions)
    try:
        with KafkaEventSink(bootstrap, topic) as sink:
            run = _timed(sink, config, events)
    finally:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.delete_topics([topic], operation_timeout=30).values():
            future.result()
    return {"events": events, "bootstrap": bootstrap, "partitions": partitions, **run}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000, help="records per generation run")
    parser.add_argument("--repeat", type=int, default=3, help="generation runs (best and median reported)")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--bootstrap", default=None, help="also send to this Kafka broker")
    parser.add_argument("--kafka-events", type=int, default=200_000, help="records sent to Kafka")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--output", type=Path, default=runtime_dir() / "benchmarks" / "simulator.json")
    args = parser.parse_args(argv)

    config = SimulatorSettings(users=args.users)
    figures: dict[str, Any] = {
        "benchmark": "simulator",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "settings": {"users": config.users, "products": config.products},
        "generation": measure_generation(config, args.events, args.repeat),
    }
    generation = figures["generation"]
    print(f"generation: best {generation['best_events_per_second']:,} events/s, median "
          f"{generation['median_events_per_second']:,} events/s, best {generation['best_events_per_cpu_second']:,} "
          f"events per CPU second ({args.events:,} records x {args.repeat}, "
          f"~{generation['runs'][0]['mean_record_bytes']} bytes each)")
    if args.bootstrap:
        kafka = figures["kafka"] = measure_kafka(config, args.kafka_events, args.bootstrap, args.partitions)
        print(f"kafka:      {kafka['events_per_second']:,} events/s ({kafka['events_per_cpu_second']:,} per CPU "
              f"second) sending {kafka['events']:,} records to {args.bootstrap}, flush included")
    figures["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"saved {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
