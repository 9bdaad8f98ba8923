"""Sending a simulation to a sink: optional pacing at a fixed record rate, progress, ground truth.

Example::

    with KafkaEventSink("localhost:19092", "lakepulse.events") as sink:
        truth = run_simulation(sink, settings.simulator, events=100_000, now=datetime.now(UTC),
                               topic="lakepulse.events", progress=sys.stderr)
    truth.write(ground_truth_path(settings, "lakepulse.events"))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from lakepulse.io.kafka import EventSink
from lakepulse.settings import Settings, SimulatorSettings
from lakepulse.simulate.generator import Simulation
from lakepulse.simulate.truth import GroundTruth

_CHECK_EVERY = 1024  # records between looks at the clock (pacing and progress)


class Progress:
    """Progress on a terminal (one line rewritten in place) or a log (a line every ``every_seconds``):
    records sent, share done and the achieved rate in records per second."""

    def __init__(self, stream: TextIO, total: int, *, every_seconds: float | None = None) -> None:
        self._stream = stream
        self._total = total
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._every = every_seconds if every_seconds is not None else (0.5 if self._tty else 10.0)
        self._next = self._every

    def update(self, sent: int, elapsed: float, *, final: bool = False) -> None:
        if not final and elapsed < self._next:
            return
        self._next = elapsed + self._every
        rate = sent / elapsed if elapsed > 0 else 0.0
        line = f"simulate: {sent:,}/{self._total:,} records ({sent / self._total:.0%}), {rate:,.0f} records/s"
        if self._tty:
            self._stream.write("\r" + line + ("\n" if final else ""))
        else:
            self._stream.write(line + "\n")
        self._stream.flush()


def run_simulation(
    sink: EventSink,
    config: SimulatorSettings,
    *,
    events: int,
    now: datetime,
    seed: int | None = None,
    rate: float | None = None,
    topic: str = "",
    progress: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> GroundTruth:
    """Send ``events`` simulated records to ``sink`` and flush it; returns the run's ground truth
    (with ``send_seconds``, the wall-clock time from the first record to the end of the flush).

    ``now`` ends the simulated timeline; ``rate`` (records per second) paces the sending, ``None``
    sends as fast as possible; ``progress`` (e.g. ``sys.stderr``) receives progress with the achieved
    rate. ``clock`` and ``sleep`` are injectable for tests.
    """
    if rate is not None and not rate > 0:
        raise ValueError(f"rate must be a positive number of records per second, got {rate}")
    simulation = Simulation(config, events=events, now=now, seed=seed,
                            send_seconds=events / rate if rate else 0.0)
    truth = GroundTruth(simulation, topic=topic)
    reporter = Progress(progress, events) if progress is not None else None
    send = sink.send
    add = truth.add
    started = clock()
    sent = 0
    for record in simulation.records():
        send(record.key, record.value)
        add(record)
        sent += 1
        if sent % _CHECK_EVERY == 0 or rate is not None:
            elapsed = clock() - started
            if rate is not None:
                ahead = sent / rate - elapsed
                if ahead > 0.005:
                    sleep(ahead)
            if reporter is not None and sent % _CHECK_EVERY == 0:
                reporter.update(sent, elapsed)
    sink.flush()
    truth.send_seconds = clock() - started
    if reporter is not None:
        reporter.update(sent, truth.send_seconds, final=True)
    return truth


def ground_truth_path(settings: Settings, topic: str) -> Path:
    """Where ``lakepulse simulate`` writes the ground truth of a run to ``topic`` by default:
    ``<simulator.ground_truth_dir>/<topic>.json``."""
    return Path(settings.resolve_path(settings.simulator.ground_truth_dir)) / f"{topic}.json"
