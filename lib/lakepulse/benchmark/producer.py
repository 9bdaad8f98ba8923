"""The latency run's producer: simulated events at a fixed rate, each stamped with its send time.

It runs in a child process (:func:`start_paced_producer`) so that its Python work does not compete
with the Spark driver's Python threads for the GIL. The simulator lays a run's sessions over days
of history; here every valid record is re-stamped as it is sent: its four envelope times keep their
gaps but move so that ``timestamp`` (the event time silver uses) is the send time. That is live
traffic — the event happens, the SDK sends it — so latency from event time is the pipeline's own.
Faults keep their bytes (a future timestamp stays in the future); duplicates repeat the bytes of
the original as first simulated (silver drops them by messageId either way). The gap between send
and event time is measured on a sample and reported as the producer lag.

Example::

    producer = start_paced_producer(bootstrap, topic, config, rate=10_000, seconds=180)
    ...                                   # the streams run
    result = producer.result()            # {"records_sent": ..., "achieved_rate": ..., "lag_ms": {...}}
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import re
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from lakepulse.settings import SimulatorSettings
from lakepulse.simulate.clock import iso_ms

_LAG_SAMPLE_EVERY = 97  # records between samples of (send time − event time)
# The simulator writes the four envelope times last (lakepulse.simulate.wire.times_tail).
_TIMES_TAIL = re.compile(rb',"originalTimestamp":"([^"]+)","sentAt":"([^"]+)","receivedAt":"([^"]+)",'
                         rb'"timestamp":"([^"]+)"}$')


def _ms(text: bytes) -> int:
    return round(datetime.fromisoformat(text.decode().replace("Z", "+00:00")).timestamp() * 1000)


def restamp(value: bytes, event_ms: int) -> bytes:
    """``value`` with its envelope times moved so that ``timestamp`` is ``event_ms`` (the gaps
    between the four times kept); unchanged when it does not end with the simulator's times."""
    found = _TIMES_TAIL.search(value)
    if found is None:
        return value
    original, sent, received, timestamp = (_ms(found.group(i)) for i in range(1, 5))
    shift = event_ms - timestamp
    return (value[:found.start()] + f',"originalTimestamp":"{iso_ms(original + shift)}","sentAt":"{iso_ms(sent + shift)}"'
            f',"receivedAt":"{iso_ms(received + shift)}","timestamp":"{iso_ms(event_ms)}"}}'.encode())


def _percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1)}


def paced_send(bootstrap: str, topic: str, config: dict[str, Any], rate: float, seconds: float,
               seed: int) -> dict[str, Any]:
    """Send ``rate × seconds`` simulated records to ``topic`` at ``rate`` per second, valid ones
    stamped with their send time; returns what was sent and the measured producer lag."""
    from lakepulse.io.kafka import KafkaEventSink
    from lakepulse.simulate.generator import Simulation
    from lakepulse.simulate.truth import GroundTruth

    events = max(1, round(rate * seconds))
    simulation = Simulation(SimulatorSettings(**config), events=events, now=datetime.now(UTC), seed=seed,
                            send_seconds=seconds)
    truth = GroundTruth(simulation, topic=topic)
    lags: list[float] = []
    with KafkaEventSink(bootstrap, topic, linger_ms=5) as sink:
        started = time.time()
        for sent, record in enumerate(simulation.records()):
            ahead = started + sent / rate - time.time()
            if ahead > 0.002:
                time.sleep(ahead)
            value = record.value
            if record.fault is None:
                event_ms = round(time.time() * 1000)
                value = restamp(value, event_ms)
                if sent % _LAG_SAMPLE_EVERY == 0:
                    lags.append(time.time() * 1000 - event_ms)
            sink.send(record.key, value)
            truth.add(record)
    finished = time.time()
    return {
        "records_sent": truth.records_sent, "unique_valid_events": truth.unique_valid_events,
        "quarantine_total": truth.quarantine_total, "duplicates_sent": truth.faults["duplicate"],
        "seconds": round(finished - started, 3), "achieved_rate": round(truth.records_sent / (finished - started)),
        "started_at": started, "finished_at": finished, "lag_ms": _percentiles(lags),
    }


def _child(queue: multiprocessing.Queue, *args: Any) -> None:
    try:
        queue.put(("ok", paced_send(*args)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


class PacedProducer:
    """A running :func:`paced_send` in a child process."""

    def __init__(self, process: multiprocessing.process.BaseProcess, queue: multiprocessing.Queue) -> None:
        self.process = process
        self._queue = queue

    def result(self, timeout: float | None = None) -> dict[str, Any]:
        status, value = self._queue.get(timeout=timeout)
        self.process.join(10)
        if status != "ok":
            raise RuntimeError(f"the paced producer failed: {value}")
        return value

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(10)


def start_paced_producer(bootstrap: str, topic: str, config: SimulatorSettings, *, rate: float, seconds: float,
                         seed: int = 42) -> PacedProducer:
    """Start :func:`paced_send` in a child process (spawned: the parent runs a JVM)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, bootstrap, topic, dataclasses.asdict(config), rate,
                                                   seconds, seed), daemon=True)
    process.start()
    return PacedProducer(process, queue)
