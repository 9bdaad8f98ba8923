"""The record stream: sessions placed on the timeline, merged in event-time order, with faults,
duplicates and late events mixed in at their configured rates.

The stream is a pure function of (settings, number of records, ``now``, seed): the same inputs give
byte-identical (key, value) records. Nothing reads the wall clock; ``now`` is the end of the
simulated timeline, which covers ``history_days`` up to a minute before it, so every valid event
happened before it is sent.

How a run of N records is laid out:

* fault counts are exact: ``round(rate x N)`` per kind (see :func:`~lakepulse.simulate.faults.allocate_faults`),
  at random positions; the other records are valid events from the behavioural model;
* who comes when is planned first (:mod:`~lakepulse.simulate.schedule`: each person's visits over
  their persona's part of the timeline, sized to the run's records);
* sessions are planned one after another and each is placed at the point of the timeline where its
  share of the run's events falls, following the daily rhythm, so the last events are close to ``now``;
* a session's events are merged with the other open sessions' in event-time order; late events are
  held back until the stream has moved on by their delay; a duplicate repeats one of the last few
  valid records.

Example::

    sim = Simulation(SimulatorSettings(), events=10_000, now=datetime.now(UTC))
    for record in sim.records():
        sink.send(record.key, record.value)
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from lakepulse.contract import encode, message_key
from lakepulse.settings import SimulatorSettings
from lakepulse.simulate import faults
from lakepulse.simulate.clock import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, stamp, to_ms
from lakepulse.simulate.model import Person, Timeline, World, build_world, message_id
from lakepulse.simulate.schedule import VisitSchedule, rehearse
from lakepulse.simulate.sessions import PlannedEvent, SessionPlanner
from lakepulse.simulate.wire import times_tail

# The timeline ends this long before ``now``, so send delays and latencies stay in the past.
END_MARGIN_MS = MINUTE_MS
RECENT_VALID_RECORDS = 16  # duplicates repeat one of these
# A late event is held on the device (offline, app in the background) this long before it is sent.
LATE_MIN_HOLD_MS = 2 * MINUTE_MS
LATE_MEAN_EXTRA_HOLD_MS = 45 * MINUTE_MS
LATE_MAX_HOLD_MS = 8 * HOUR_MS


class SimulatedRecord(NamedTuple):
    """One Kafka record of the simulation, with what it is (for the ground truth and tests).

    ``name`` (track event name, else the call type), ``anonymous_id``, ``user_id`` and ``revenue``
    (Order Completed) describe a valid record's event; they are None for the others.
    """

    key: bytes | None
    value: bytes
    fault: str | None  # None: a valid first send; else a kind of lakepulse.simulate.faults (late included)
    rule: str | None   # the one contract rule the record fails (quarantined kinds only)
    name: str | None = None
    anonymous_id: str | None = None
    user_id: str | None = None
    revenue: float | None = None


class _Cursor:
    """An open session in the merge: its start, planned events and the next one to send."""

    __slots__ = ("start_ms", "session_id", "events", "count", "index", "person", "device_key", "anonymous_id",
                 "skew_ms")

    def __init__(self, start_ms: int, events: list[PlannedEvent], person: Person, anonymous_id: str,
                 skew_ms: int) -> None:
        self.start_ms = start_ms
        self.session_id = str(start_ms)  # context.sessionId: the session start in epoch ms, as RudderStack
        self.events = events
        self.count = len(events)
        self.index = 0
        self.person = person
        self.anonymous_id = anonymous_id
        self.device_key = anonymous_id.encode()
        self.skew_ms = skew_ms


# A valid event ready to send: (event time ms, the planned event, its session)
_Ready = tuple[int, PlannedEvent, _Cursor]


class Simulation:
    """One simulation run: the world (people, catalogue) and, once, its stream of records.

    ``events`` is the number of records sent (faults and duplicates included); ``now`` (timezone
    aware) ends the simulated timeline; ``seed`` defaults to ``config.seed``; ``send_seconds`` is how
    long sending may take (pacing), so future timestamps stay more than a day ahead of the send time.
    """

    def __init__(self, config: SimulatorSettings, *, events: int, now: datetime, seed: int | None = None,
                 send_seconds: float = 0.0) -> None:
        if events < 1:
            raise ValueError(f"events must be at least 1, got {events}")
        self.config = config
        self.events = events
        self.seed = config.seed if seed is None else seed
        self.now_ms = to_ms(now)
        self.end_ms = self.now_ms - END_MARGIN_MS
        self.start_ms = self.end_ms - max(1, int(config.history_days * DAY_MS))
        self.send_ms = int(send_seconds * SECOND_MS)
        self.rng = random.Random(self.seed)
        self.world: World = build_world(config, self.rng)
        self.fault_counts = faults.allocate_faults(events, faults.fault_rates(config))
        self.schedule: VisitSchedule | None = None  # who visits when (planned when the records are read)
        self._used = False

    def records(self) -> Iterator[SimulatedRecord]:
        """The records in send order (readable once per :class:`Simulation`)."""
        if self._used:
            raise RuntimeError("a Simulation's records can be read once; build a new Simulation")
        self._used = True
        return self._records()

    def _records(self) -> Iterator[SimulatedRecord]:
        rng = self.rng
        counts = self.fault_counts
        extra_left = {kind: counts[kind] for kind in faults.EXTRA_RECORD_KINDS}
        extra_kinds = [kind for kind, count in extra_left.items() if count]
        extras_total = sum(extra_left.values())
        late_left = counts[faults.LATE]
        slots_left = self.events
        model_left = slots_left - extras_total  # slots for valid events (first sends and late ones)
        model = self._model_events()
        late: list[tuple[int, int, _Ready]] = []  # (release ms, sequence, event) heap
        late_seq = 0
        recent: list[SimulatedRecord] = [SimulatedRecord(None, b"", None, None)] * RECENT_VALID_RECORDS
        valid_sent = 0
        template: tuple[SimulatedRecord, _Ready] | None = None  # the last valid first send: faults copy it
        clock_ms = self.start_ms  # event time of the last valid first send
        latest_late_ms = self.end_ms - LATE_MIN_HOLD_MS  # later events cannot be held long enough

        # Sequential sampling: a slot carries a fault with probability (faults left / slots left),
        # and a fresh valid event is held back as late with probability (late left / fresh events
        # left), so the counts are exactly fault_counts and the positions uniformly random.
        while slots_left:
            slots_left -= 1
            if template is not None and rng.random() * (slots_left + 1) < extras_total:
                draw = rng.random() * extras_total
                kind = extra_kinds[-1]
                for kind in extra_kinds:
                    draw -= extra_left[kind]
                    if draw < 0:
                        break
                extra_left[kind] -= 1
                extras_total -= 1
                if not extra_left[kind]:
                    extra_kinds.remove(kind)
                if kind == faults.DUPLICATE:
                    again = recent[int(rng.random() * min(valid_sent, RECENT_VALID_RECORDS))]
                    yield SimulatedRecord(again.key, again.value, kind, None)
                else:
                    yield self._fault(kind, *template)
                continue

            model_left -= 1
            if late and (late[0][0] <= clock_ms or model_left + 1 == len(late)):
                release_ms, _, ready = heapq.heappop(late)
                event_ms, planned, cursor = ready
                _, _, latency_ms, head, view, body, name, user_id, revenue = planned
                delay_ms = release_ms - event_ms
                fault: str | None = faults.LATE
            else:
                while True:
                    ready = next(model)
                    event_ms, planned, cursor = ready
                    clock_ms = event_ms
                    if (late_left and event_ms <= latest_late_ms and template is not None
                            and rng.random() * (model_left + 1 - len(late)) < late_left):
                        late_left -= 1
                        late_seq += 1
                        hold_ms = LATE_MIN_HOLD_MS + int(rng.expovariate(1 / LATE_MEAN_EXTRA_HOLD_MS))
                        release_ms = min(self.end_ms, event_ms + min(hold_ms, LATE_MAX_HOLD_MS))
                        heapq.heappush(late, (release_ms, late_seq, ready))
                        continue
                    break
                _, delay_ms, latency_ms, head, view, body, name, user_id, revenue = planned
                fault = None
            context = view.text
            if context is None:
                context = view.text = view.head + cursor.session_id + view.tail
            value = f"{head}{context}{body}{times_tail(event_ms, delay_ms, latency_ms, cursor.skew_ms)}".encode()
            record = SimulatedRecord(cursor.device_key, value, fault, None, name, cursor.anonymous_id, user_id,
                                     revenue)
            if fault is None:
                template = (record, ready)
            recent[valid_sent % RECENT_VALID_RECORDS] = record
            valid_sent += 1
            yield record

    def _fault(self, kind: str, valid: SimulatedRecord, ready: _Ready) -> SimulatedRecord:
        """A record of quarantined ``kind`` made from a copy of the ``valid`` record's event (sent
        from ``ready``)."""
        rng = self.rng
        event = json.loads(valid.value)
        event["messageId"] = message_id(rng)
        rule = faults.QUARANTINED[kind][0]
        if kind == faults.MALFORMED_JSON:
            return SimulatedRecord(message_key(event), faults.malformed_json(event, rng), kind, rule)
        if kind == faults.MISSING_MESSAGE_ID:
            event = faults.missing_message_id(event)
        elif kind == faults.MISSING_IDENTITY:
            event = faults.missing_identity(event)
        elif kind == faults.WRONG_TYPE:
            person = self.world.person_of_device[event["anonymousId"]]
            product = self.world.catalogue.pick(rng, person.persona.name)
            order_id = f"ORD-{rng.getrandbits(48):012X}"
            event, rule = faults.wrong_type(event, product, self.config.currency, order_id, rng)
        elif kind == faults.UNKNOWN_EVENT:
            event = faults.unknown_event(event, rng)
        elif kind == faults.FUTURE_TIMESTAMP:
            # A device clock set wrong by days to weeks, and the time fields all follow it.
            _, (_, delay_ms, latency_ms, *_), cursor = ready  # the valid event's delays and device
            future_ms = self.now_ms + self.send_ms + DAY_MS + HOUR_MS + int(rng.random() * 29 * DAY_MS)
            stamp(event, future_ms, delay_ms, latency_ms, cursor.skew_ms)
        elif kind == faults.OVERSIZED:
            event = faults.oversized(event, rng)
        else:
            raise ValueError(f"unknown fault kind {kind!r}")
        return SimulatedRecord(message_key(event), encode(event), kind, rule)

    def _model_events(self) -> Iterator[_Ready]:
        """Valid events of the behavioural model in event-time order (endless; the caller stops)."""
        rng = self.rng
        world = self.world
        people = world.people
        planner = SessionPlanner(world, self.config.currency, rng)
        timeline = Timeline(self.start_ms, self.end_ms)
        end_ms = self.end_ms
        model_records = max(1, self.events - sum(self.fault_counts[k] for k in faults.EXTRA_RECORD_KINDS))
        # The rehearsal has its own random numbers: the run's are the same whatever it draws.
        self.schedule = schedule = VisitSchedule(
            people, rehearse(world, self.config, seed=self.seed * 1_000_003 + 1), model_records, rng)
        open_sessions: list[tuple[int, int, _Cursor]] = []  # (next event ms, sequence, cursor) heap
        sequence = 0
        planned = 0
        last_start_ms = self.start_ms
        pending: _Cursor | None = None
        while True:
            if pending is None:
                person = schedule.next_visitor(planned / model_records)
                device, planned_events = planner.plan(person)
                person.active = True
                # Placed at a random point of its own share of the run's events, so starts stay in
                # order; near the end, early enough to be over by then if it can (else it is cut).
                start_ms = timeline.at((planned + rng.random() * len(planned_events)) / model_records)
                duration_ms = planned_events[-1][0]
                if start_ms + duration_ms > end_ms:
                    start_ms = max(last_start_ms, end_ms - duration_ms)
                last_start_ms = start_ms
                planned += len(planned_events)
                pending = _Cursor(start_ms, planned_events, person, device.anonymous_id, device.skew_ms)
            if not open_sessions or pending.start_ms < open_sessions[0][0]:
                sequence += 1
                heapq.heappush(open_sessions, (pending.start_ms, sequence, pending))
                pending = None
                continue
            event_ms, order, cursor = open_sessions[0]
            index = cursor.index
            event = cursor.events[index]
            index += 1
            cursor.index = index
            if index < cursor.count and cursor.start_ms + cursor.events[index][0] <= end_ms:
                heapq.heapreplace(open_sessions, (cursor.start_ms + cursor.events[index][0], order, cursor))
            else:  # the visit is over, or still going on at "now" (the rest has not happened yet)
                heapq.heappop(open_sessions)
                cursor.person.active = False
            yield event_ms, event, cursor


def generate(
    config: SimulatorSettings, events: int, now: datetime, seed: int | None = None
) -> Iterator[SimulatedRecord]:
    """The ``events`` records of a simulation ending at ``now`` (see :class:`Simulation`)."""
    return Simulation(config, events=events, now=now, seed=seed).records()
