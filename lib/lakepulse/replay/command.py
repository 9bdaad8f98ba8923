"""``lakepulse replay``: send a real dataset to Kafka as contract events.

    lakepulse replay rees46 ../shared/data/rees46/2019-10-01-first-hours.csv
    lakepulse replay online-retail ../shared/data/online-retail --speedup 3600 --limit 1000

Progress goes to stderr, the summary (records sent, broken rows, orders, revenue) to stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from lakepulse.replay.online_retail import online_retail_records
from lakepulse.replay.rees46 import rees46_records
from lakepulse.replay.runner import replay
from lakepulse.replay.source import ReplayError, ReplayRecord
from lakepulse.settings import Settings

# dataset name on the command line -> reader of a file or folder
DATASETS: dict[str, Callable[[Path], Iterator[ReplayRecord]]] = {
    "rees46": rees46_records,
    "online-retail": online_retail_records,
}


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``replay`` sub-command's arguments."""
    parser.add_argument("dataset", choices=sorted(DATASETS), help="which source format PATH holds")
    parser.add_argument("path", type=Path,
                        help="a CSV file (.csv or .csv.gz), or a folder whose CSV files replay in name order")
    parser.add_argument("--topic", default=None, help="Kafka topic (default: kafka.events_topic)")
    parser.add_argument("--speedup", type=_positive_float, default=None, metavar="X",
                        help="replay the original gaps between event times divided by X "
                             "(default: as fast as possible)")
    parser.add_argument("--limit", type=_non_negative_int, default=None, metavar="N",
                        help="stop after N records")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Replay ``args.path`` into Kafka; 0 when every record was delivered, 1 on a Kafka failure,
    2 when the input cannot be replayed (missing path, wrong header)."""
    try:
        records = DATASETS[args.dataset](args.path)
    except ReplayError as exc:
        print(f"ReplayError: {exc}", file=sys.stderr)
        return 2

    from confluent_kafka import KafkaException

    from lakepulse.io.kafka import KafkaEventSink, ensure_topics
    from lakepulse.kafka_local import ensure_kafka

    topic = args.topic or settings.kafka.events_topic
    try:
        bootstrap = ensure_kafka(settings)  # starts the local broker when settings allow it
        ensure_topics(bootstrap, [topic], settings.kafka.partitions, settings.kafka.replication_factor)
    except (KafkaException, RuntimeError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"replay: {args.dataset} from {args.path} to topic {topic} on {bootstrap}", file=sys.stderr)
    try:
        with KafkaEventSink(bootstrap, topic) as sink:
            summary = replay(records, sink, speedup=args.speedup, limit=args.limit, progress=sys.stderr)
    except KafkaException as exc:
        print(f"KafkaException: {exc}", file=sys.stderr)
        return 1
    print(summary.format())
    return 0
