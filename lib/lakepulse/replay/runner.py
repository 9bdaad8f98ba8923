"""Sending replay records to a sink: pacing by event time, a limit, progress, and the summary.

Example::

    with KafkaEventSink("localhost:19092", "lakepulse.events") as sink:
        summary = replay(rees46_records(path), sink, speedup=60.0, progress=sys.stderr)
    print(summary.format())
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import islice
from typing import Any, TextIO

from lakepulse.contract import ORDER_CANCELLED, ORDER_COMPLETED, encode, message_key
from lakepulse.io.kafka import EventSink
from lakepulse.replay.source import REPLAY_ERROR_TYPE, ReplayRecord


@dataclass
class ReplaySummary:
    """What a replay sent. Revenue is in the source currency (GBP for Online Retail; REES46 states
    none), summed exactly over the events' ``properties.revenue``."""

    records_sent: int = 0
    broken_rows: int = 0
    events: Counter[str] = field(default_factory=Counter)  # event name -> records
    orders: int = 0  # Order Completed events
    revenue: Decimal = Decimal(0)  # Σ revenue of Order Completed
    cancellations: int = 0  # Order Cancelled events
    cancelled_revenue: Decimal = Decimal(0)  # Σ revenue of Order Cancelled (negative in Online Retail)
    first_event_time: datetime | None = None
    last_event_time: datetime | None = None
    seconds: float = 0.0  # wall-clock time of the replay

    def count(self, record: ReplayRecord) -> None:
        """Add one sent record."""
        self.records_sent += 1
        event = record.event
        if event.get("type") == REPLAY_ERROR_TYPE:
            self.broken_rows += 1
            return
        name = event.get("event") or event.get("type")
        self.events[name] += 1
        if name == ORDER_COMPLETED:
            self.orders += 1
            self.revenue += _revenue(event)
        elif name == ORDER_CANCELLED:
            self.cancellations += 1
            self.cancelled_revenue += _revenue(event)
        moment = record.event_time
        if moment is not None:
            if self.first_event_time is None or moment < self.first_event_time:
                self.first_event_time = moment
            if self.last_event_time is None or moment > self.last_event_time:
                self.last_event_time = moment

    @property
    def records_per_second(self) -> float:
        return self.records_sent / self.seconds if self.seconds > 0 else 0.0

    def format(self) -> str:
        """The summary printed at the end of ``lakepulse replay``, one fact per line."""
        rows = [
            ("records sent", f"{self.records_sent:,}",
             f"in {self.seconds:.1f} s ({_rate(self.records_per_second)}/s)"),
            ("broken rows", f"{self.broken_rows:,}", "sent as replay_error records, silver quarantines them"),
        ]
        rows += [(f"  {name}", f"{count:,}", "") for name, count in sorted(self.events.items())]
        rows.append(("orders", f"{self.orders:,}", f"revenue {self.revenue:,.2f}"))
        if self.cancellations:
            rows.append(("cancellations", f"{self.cancellations:,}", f"revenue {self.cancelled_revenue:,.2f}"))
        lines = [f"{label:<18}{value:>10}  {note}".rstrip() for label, value, note in rows]
        if self.first_event_time is not None and self.last_event_time is not None:
            lines.append(f"{'event time':<18}{self.first_event_time:%Y-%m-%d %H:%M:%S} .. "
                         f"{self.last_event_time:%Y-%m-%d %H:%M:%S} UTC")
        return "\n".join(lines)


def _rate(per_second: float) -> str:
    # paced replays of sparse data send well under one record per second
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.2f}"


def _revenue(event: dict[str, Any]) -> Decimal:
    revenue = (event.get("properties") or {}).get("revenue")
    # repr of a float is the shortest text that round-trips, so 15.3 adds exactly 15.30.
    return Decimal(repr(revenue)) if isinstance(revenue, int | float) else Decimal(0)


class Pacer:
    """Reproduces the source's gaps between event times, divided by ``speedup``, on the wall clock.

    The first paced event sets time zero; an event earlier than one already sent goes out at once.
    ``clock`` (seconds, monotonic) and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        speedup: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not speedup > 0:
            raise ValueError(f"speedup must be a positive number, not {speedup}")
        self.speedup = speedup
        self._clock = clock
        self._sleep = sleep
        self._start: tuple[datetime, float] | None = None

    def wait_for(self, event_time: datetime | None) -> None:
        """Sleep until ``event_time`` is due; records without a time are due at once."""
        if event_time is None:
            return
        if self._start is None:
            self._start = (event_time, self._clock())
            return
        first_time, first_wall = self._start
        due = first_wall + (event_time - first_time).total_seconds() / self.speedup
        delay = due - self._clock()
        if delay > 0:
            self._sleep(delay)


class Progress:
    """Writes one progress line to ``stream`` at most every ``every_seconds``, and a last one at
    the end (unless the latest line already says it all)."""

    def __init__(self, stream: TextIO, *, every_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._every = every_seconds
        self._clock = clock
        self._next = clock() + every_seconds
        self._reported = -1  # records_sent in the last line written

    def update(self, summary: ReplaySummary, elapsed: float, *, final: bool = False) -> None:
        now = self._clock()
        if (not final and now < self._next) or summary.records_sent == self._reported:
            return
        self._next = now + self._every
        self._reported = summary.records_sent
        rate = summary.records_sent / elapsed if elapsed > 0 else 0.0
        latest = f", event time {summary.last_event_time:%Y-%m-%d %H:%M:%S}" if summary.last_event_time else ""
        self._stream.write(f"replay: {summary.records_sent:,} records sent ({_rate(rate)}/s), "
                           f"{summary.broken_rows:,} broken{latest}\n")
        self._stream.flush()


def replay(
    records: Iterable[ReplayRecord],
    sink: EventSink,
    *,
    speedup: float | None = None,
    limit: int | None = None,
    progress: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplaySummary:
    """Send ``records`` to ``sink`` (key = :func:`~lakepulse.contract.message_key`, value =
    :func:`~lakepulse.contract.encode`), then flush it.

    ``speedup`` X replays the original gaps between event times divided by X (``None``: as fast as
    possible); ``limit`` stops after that many records (error records included); ``progress``
    receives progress lines (e.g. ``sys.stderr``). Returns the :class:`ReplaySummary`.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, not {limit}")
    pacer = Pacer(speedup, clock=clock, sleep=sleep) if speedup is not None else None
    reporter = Progress(progress, clock=clock) if progress is not None else None
    summary = ReplaySummary()
    started = clock()
    for record in islice(records, limit):
        if pacer is not None:
            pacer.wait_for(record.event_time)
        sink.send(message_key(record.event), encode(record.event))
        summary.count(record)
        if reporter is not None:
            reporter.update(summary, clock() - started)
    sink.flush()
    summary.seconds = clock() - started
    if reporter is not None:
        reporter.update(summary, summary.seconds, final=True)
    return summary
