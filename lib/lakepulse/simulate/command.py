"""``lakepulse simulate``: send simulated shoppers' events to Kafka and write the ground truth.

    lakepulse simulate --events 100000
    lakepulse simulate --rate 2000 --duration 600 --seed 7 --users 50000
    lakepulse simulate --events 20000 --topic lakepulse.try --now 2026-03-01T12:00:00Z

Progress (with the achieved rate) goes to stderr; the summary to stdout; the ground truth to
``<simulator.ground_truth_dir>/<topic>.json`` unless ``--ground-truth`` says otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lakepulse.settings import Settings, SimulatorSettings
from lakepulse.simulate.runner import ground_truth_path, run_simulation


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time like 2026-03-01T12:00:00Z, got {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"the time needs a zone (Z or +01:00), got {text!r}")
    return moment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``simulate`` sub-command's arguments (also used by ``jobs/simulate.py``)."""
    parser.add_argument("--events", type=_positive_int, default=None, metavar="N",
                        help="records to send, faults and duplicates included (default: simulator.events)")
    parser.add_argument("--rate", type=_positive_float, default=None, metavar="R",
                        help="records per second (default: as fast as possible)")
    parser.add_argument("--duration", type=_positive_float, default=None, metavar="D",
                        help="seconds to send at --rate; sends R x D records")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: simulator.seed)")
    parser.add_argument("--users", type=_positive_int, default=None, metavar="N",
                        help="simulated people (default: simulator.users)")
    parser.add_argument("--topic", default=None, help="Kafka topic (default: kafka.events_topic)")
    parser.add_argument("--ground-truth", dest="ground_truth", type=Path, default=None, metavar="PATH",
                        help="where to write the ground truth JSON "
                             "(default: <simulator.ground_truth_dir>/<topic>.json)")
    parser.add_argument("--now", type=_moment, default=None, metavar="TIME",
                        help="end of the simulated timeline, ISO-8601 with a zone (default: the current time); "
                             "the same --now, --seed and settings send byte-identical records")


@dataclass(frozen=True)
class SimulationRequest:
    """One ``simulate`` run, resolved from the arguments and settings."""

    config: SimulatorSettings
    events: int
    rate: float | None  # records per second; None: as fast as possible
    topic: str
    ground_truth: Path
    now: datetime


def request_from_args(
    args: argparse.Namespace, settings: Settings, *, now: datetime | None = None
) -> SimulationRequest:
    """Resolve ``args`` against ``settings``; ``now`` is the current time unless ``--now`` gives one.
    Raises ValueError (one line) for contradictory arguments."""
    if args.duration is not None and args.rate is None:
        raise ValueError("--duration needs --rate (records per second)")
    if args.duration is not None and args.events is not None:
        raise ValueError("give either --events or --rate with --duration, not both")
    config = settings.simulator
    if args.seed is not None:
        config = dataclasses.replace(config, seed=args.seed)
    if args.users is not None:
        config = dataclasses.replace(config, users=args.users)
    if args.events is not None:
        events = args.events
    elif args.duration is not None:
        events = max(1, round(args.rate * args.duration))
    else:
        events = config.events
    topic = args.topic or settings.kafka.events_topic
    return SimulationRequest(
        config=config, events=events, rate=args.rate, topic=topic,
        ground_truth=args.ground_truth or ground_truth_path(settings, topic),
        now=args.now or now or datetime.now(UTC),
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Send the simulation to Kafka and write its ground truth: 0 when every record was delivered,
    1 on a Kafka failure, 2 for contradictory arguments."""
    try:
        request = request_from_args(args, settings)
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2

    from confluent_kafka import KafkaException

    from lakepulse.io.kafka import KafkaEventSink, ensure_topics
    from lakepulse.kafka_local import ensure_kafka

    try:
        bootstrap = ensure_kafka(settings)  # starts the local broker when settings allow it
        ensure_topics(bootstrap, [request.topic], settings.kafka.partitions, settings.kafka.replication_factor)
    except (KafkaException, RuntimeError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    config = request.config
    print(f"simulate: {request.events:,} records to topic {request.topic} on {bootstrap} "
          f"(seed {config.seed}, {config.users:,} users, timeline up to {request.now:%Y-%m-%d %H:%M:%S %Z})",
          file=sys.stderr)
    try:
        with KafkaEventSink(bootstrap, request.topic) as sink:
            truth = run_simulation(sink, config, events=request.events, now=request.now, rate=request.rate,
                                   topic=request.topic, progress=sys.stderr)
    except KafkaException as exc:
        print(f"KafkaException: {exc}", file=sys.stderr)
        return 1
    path = truth.write(request.ground_truth)
    print(truth.summary())
    seconds = truth.send_seconds or 0.0
    print(f"sent in          {seconds:.1f} s ({request.events / max(seconds, 1e-9):,.0f} records/s)")
    print(f"ground truth     {path}")
    return 0
