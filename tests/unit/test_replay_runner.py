"""Sending replay records: pacing by event time, limit, summary, progress, and the command's arguments."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from lakepulse.contract import ORDER_CANCELLED, ORDER_COMPLETED, PRODUCT_VIEWED, product_line, track_event
from lakepulse.io.kafka import ListSink
from lakepulse.replay import command
from lakepulse.replay.runner import Pacer, replay
from lakepulse.replay.source import ReplayRecord, SourceRow, replay_error
from lakepulse.settings import Settings

START = datetime(2019, 10, 1, tzinfo=UTC)


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def viewed(seconds: float, user: str = "u-1") -> ReplayRecord:
    moment = START + timedelta(seconds=seconds)
    event = track_event(PRODUCT_VIEWED, message_id=f"m-{seconds}", anonymous_id=user, timestamp=moment,
                        properties={"product_id": "p-1", "price": 1.0})
    return ReplayRecord(event, moment)


def order(name: str, revenue: float) -> ReplayRecord:
    event = track_event(name, message_id=f"o-{revenue}", user_id="c-1", timestamp=START,
                        properties={"order_id": "1", "revenue": revenue,
                                    "products": [product_line("p-1", price=abs(revenue))]})
    return ReplayRecord(event, START)


def broken(line: int) -> ReplayRecord:
    return replay_error("rees46", SourceRow("f.csv", line, None, "a,b", "2 of 9 fields"), "2 of 9 fields")


def test_speedup_reproduces_the_source_gaps_divided_by_the_factor() -> None:
    clock = FakeClock()
    records = [viewed(0), viewed(10), broken(3), viewed(5), viewed(30)]

    replay(records, ListSink(), speedup=10, clock=clock, sleep=clock.sleep)

    # 10 s later → 1 s; the error record and the out-of-order event go at once; 30 s → 3 s after start
    assert clock.sleeps == [1.0, 2.0]


def test_without_speedup_nothing_waits() -> None:
    clock = FakeClock()
    replay([viewed(0), viewed(3600)], ListSink(), clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_pacer_refuses_a_speedup_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0)


def test_limit_stops_after_that_many_records() -> None:
    records = [viewed(0), broken(3), viewed(1)]

    two, none = ListSink(), ListSink()
    summary = replay(iter(records), two, limit=2)
    replay(iter(records), none, limit=0)

    assert summary.records_sent == 2 and summary.broken_rows == 1
    assert [json.loads(value)["messageId"] for _, value in two.records] == [
        "m-0", records[1].event["messageId"]]
    assert none.records == []


def test_records_are_keyed_by_device_and_encoded_as_compact_json() -> None:
    sink = ListSink()
    replay([viewed(0, user="anon-7"), broken(2)], sink)

    assert sink.records[0][0] == b"anon-7"
    assert sink.records[1][0] is None
    assert json.loads(sink.records[0][1]) == viewed(0, user="anon-7").event
    assert json.loads(sink.records[1][1]) == broken(2).event
    assert b'": ' not in sink.records[1][1] and b'", "' not in sink.records[1][1]


def test_summary_counts_orders_cancellations_and_exact_revenue() -> None:
    summary = replay([order(ORDER_COMPLETED, 0.1), order(ORDER_COMPLETED, 0.2), order(ORDER_CANCELLED, -27.5),
                      viewed(0), broken(9)], ListSink())

    assert (summary.records_sent, summary.broken_rows, summary.orders, summary.cancellations) == (5, 1, 2, 1)
    assert summary.revenue == Decimal("0.3")  # not 0.30000000000000004
    assert summary.cancelled_revenue == Decimal("-27.5")
    assert dict(summary.events) == {ORDER_COMPLETED: 2, ORDER_CANCELLED: 1, PRODUCT_VIEWED: 1}
    assert summary.format().splitlines()[1:] == [
        "broken rows                1  sent as replay_error records, silver quarantines them",
        "  Order Cancelled          1",
        "  Order Completed          2",
        "  Product Viewed           1",
        "orders                     2  revenue 0.30",
        "cancellations              1  revenue -27.50",
        "event time        2019-10-01 00:00:00 .. 2019-10-01 00:00:00 UTC",
    ]


def test_progress_lines_go_to_the_given_stream() -> None:
    clock = FakeClock()
    stream = io.StringIO()

    replay([viewed(0), viewed(10), viewed(20)], ListSink(), speedup=1, progress=stream, clock=clock,
           sleep=clock.sleep)

    # a line whenever 2 s have passed since the last one; the final line is not repeated
    assert stream.getvalue().splitlines() == [
        "replay: 2 records sent (0.20/s), 0 broken, event time 2019-10-01 00:00:10",
        "replay: 3 records sent (0.15/s), 0 broken, event time 2019-10-01 00:00:20",
    ]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(argv)


def test_command_arguments() -> None:
    args = parse(["online-retail", "data/online-retail", "--topic", "t", "--speedup", "60", "--limit", "5"])

    assert (args.dataset, args.path, args.topic, args.speedup, args.limit) == (
        "online-retail", Path("data/online-retail"), "t", 60.0, 5)
    assert (parse(["rees46", "x.csv"]).speedup, parse(["rees46", "x.csv"]).limit) == (None, None)
    for wrong in (["rees46", "x", "--speedup", "0"], ["rees46", "x", "--speedup", "fast"],
                  ["rees46", "x", "--limit", "-1"], ["clickstream", "x"]):
        with pytest.raises(SystemExit):
            parse(wrong)


def test_command_fails_with_one_line_and_code_2_on_a_missing_path(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = command.run(parse(["rees46", str(tmp_path / "missing.csv")]), Settings(env="test", source="test"))

    assert code == 2
    assert capsys.readouterr().err == f"ReplayError: {tmp_path / 'missing.csv'} does not exist\n"
