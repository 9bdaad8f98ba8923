"""Who visits when: every person's visits planned over the run's timeline before the run starts.

A person's persona (:class:`~lakepulse.simulate.model.Persona`) says how many visits they make and
in which part of the timeline: regular personas come back throughout it, as often as the run's
event budget allows; the others come a fixed number of times within their own stretch (a burst for
one-time buyers, the start of the timeline for dormant people). One person's visits are spread
evenly over their stretch — one in each of as many equal slices, at a random point of the slice —
so people of one persona differ by their activity factor, not by the luck of independent draws
(with a draw per session, one regular customer would come twice and the next ten times).

The run is sized in records, not visits. The budget becomes visits through the mean number of
events a visit of each persona produces, measured by a **rehearsal**: throwaway people of each
persona plan their visits with their own random numbers (nothing of the run is touched). When the
records are too few for everybody's plan even with regular people coming only a few times
(``MIN_REGULAR_VISITS``), a random share of the people make their visits and the others are not
seen, as in a short stretch of a real shop's traffic; those who come still behave like their persona.

The generator asks :meth:`VisitSchedule.next_visitor` for the person of each session, saying how far
through the run's records it is (a fraction of the timeline's traffic, where the session is placed).
Visits come in the order of their planned times. A visit planned more than ``MISSED_AFTER`` behind
the run is missed (the run is too small for everybody's plan, or the estimate was off: visits are
thinned evenly); once every planned visit is made, regular people come back at random (by visits x
activity) until the records run out.

Example::

    schedule = VisitSchedule(world.people, rehearse(world, config, seed=7), model_records=95_000,
                             rng=random.Random(7))
    person = schedule.next_visitor(0.25)   # who comes a quarter of the way through the run
"""

from __future__ import annotations

import heapq
import random

from lakepulse.settings import SimulatorSettings
from lakepulse.simulate.model import Person, Persona, Sampler, World, make_person
from lakepulse.simulate.sessions import SessionPlanner

MISSED_AFTER = 0.02           # a visit planned this far (fraction of the timeline) behind the run is missed
BUSY_RETRY = 0.001            # a person still in a visit is asked again this much later
BUSY_TRIES = 8                # ... this many times at most, then the visit starts anyway
MIN_REGULAR_VISITS = 3.0      # a regular persona's people plan at least this many visits, however small the run
REHEARSAL_PEOPLE = 40         # throwaway people per persona in the rehearsal
REHEARSAL_REGULAR_VISITS = 8  # visits each rehearses when its persona is regular


def rounded_visits(mean: float, rng: random.Random) -> int:
    """A whole number of visits with expectation ``mean``: its floor, plus one with probability its
    fractional part (so 2.3 gives 2 or 3, never 0 or 6)."""
    whole = int(mean)
    return whole + (rng.random() < mean - whole)


def _fixed_visits(persona: Persona, person: Person, rng: random.Random) -> int:
    return max(1, rounded_visits(persona.visits * person.activity, rng))


def _stays(person: Person) -> bool:
    """False once the person reached their persona's order limit (they do not come back)."""
    limit = person.persona.max_orders
    return not limit or person.orders < limit


def rehearse(world: World, config: SimulatorSettings, seed: int) -> dict[str, float]:
    """Mean valid events per planned visit of each persona present in ``world``: throwaway people
    (:data:`REHEARSAL_PEOPLE` per persona) plan their visits with ``random.Random(seed)``; a visit not
    made (the person reached their order limit) counts as none."""
    rng = random.Random(seed)
    planner = SessionPlanner(world, config.currency, rng)
    personas = {person.persona.name: person.persona for person in world.people}
    per_visit: dict[str, float] = {}
    index = 0
    for name, persona in personas.items():
        events = visits = 0
        for _ in range(REHEARSAL_PEOPLE):
            person = make_person(index, persona, world.catalogue, config.second_device_share, rng)
            index += 1
            planned = REHEARSAL_REGULAR_VISITS if persona.regular else _fixed_visits(persona, person, rng)
            visits += planned
            for _ in range(planned):
                if _stays(person):
                    events += len(planner.plan(person)[1])
        per_visit[name] = events / visits
    return per_visit


class VisitSchedule:
    """The planned visits of ``people``, sized so that they produce about ``model_records`` valid
    events (``events_per_visit``: from :func:`rehearse`), handed out in time order."""

    def __init__(self, people: list[Person], events_per_visit: dict[str, float], model_records: int,
                 rng: random.Random) -> None:
        self.people = people
        self.rng = rng
        self.missed = 0      # planned visits that did not happen (behind the run)
        self.cancelled = 0   # planned visits of people who reached their order limit
        self.returns = 0     # visits beyond the plan (the plan ran out before the records)
        counts = [0] * len(people)
        fixed_events = regular_events = 0.0
        for person in people:
            persona = person.persona
            if persona.regular:
                regular_events += persona.visits * person.activity * events_per_visit[persona.name]
            else:
                counts[person.index] = _fixed_visits(persona, person, rng)
                fixed_events += counts[person.index] * events_per_visit[persona.name]
        regular = [p.persona.visits for p in people if p.persona.regular]
        # Regular visits per unit of persona.visits: what the records left after the fixed visits allow.
        self.scale = (max(MIN_REGULAR_VISITS / min(regular), (model_records - fixed_events) / regular_events)
                      if regular else 0.0)
        for person in people:
            if person.persona.regular:
                counts[person.index] = rounded_visits(self.scale * person.persona.visits * person.activity, rng)
        planned_events = sum(count * events_per_visit[person.persona.name]
                             for count, person in zip(counts, people, strict=True))
        # Too few records for everybody: a share of the people come (with their whole plan).
        self.share_visiting = min(1.0, model_records / planned_events) if planned_events else 1.0
        if self.share_visiting < 1.0:
            counts = [count if rng.random() < self.share_visiting else 0 for count in counts]
        self._counts = counts
        self._starts = [0.0] * len(people)
        self._spans = [0.0] * len(people)
        self._made = [0] * len(people)
        heap: list[tuple[float, int]] = []
        for person in people:
            persona = person.persona
            part = persona.active_to - persona.active_from
            span = part * persona.spread
            self._starts[person.index] = persona.active_from + rng.random() * (part - span)
            self._spans[person.index] = span
            if counts[person.index]:
                heap.append((self._moment(person.index, 0), person.index))
        heapq.heapify(heap)
        self._heap = heap
        self.planned = sum(counts)
        returning = [p for p in people if p.persona.regular] or people
        self._returning = (returning, Sampler.of(list(range(len(returning))),
                                                 [(p.persona.visits or 1.0) * p.activity for p in returning]))

    def _moment(self, index: int, visit: int) -> float:
        """When (fraction of the timeline) visit number ``visit`` of person ``index`` is planned: at a
        random point of its slice of the person's stretch."""
        return self._starts[index] + self._spans[index] * (visit + self.rng.random()) / self._counts[index]

    def _next(self, index: int) -> None:
        """Person ``index``'s planned visit at the top of the heap is done (made or not)."""
        visit = self._made[index] = self._made[index] + 1
        if visit < self._counts[index]:
            heapq.heapreplace(self._heap, (self._moment(index, visit), index))
        else:
            heapq.heappop(self._heap)

    def next_visitor(self, fraction: float) -> Person:
        """The person of the next session, ``fraction`` (0..1) of the way through the run."""
        heap = self._heap
        busy = 0
        while heap:
            moment, index = heap[0]
            person = self.people[index]
            if not _stays(person):
                self.cancelled += 1
                self._next(index)
            elif moment < fraction - MISSED_AFTER:
                self.missed += 1
                self._next(index)
            elif person.active and busy < BUSY_TRIES:
                busy += 1
                heapq.heapreplace(heap, (moment + BUSY_RETRY, index))
            else:
                self._next(index)
                return person
        self.returns += 1
        returning, sampler = self._returning
        person = returning[sampler.pick(self.rng)]
        for _ in range(BUSY_TRIES):  # somebody who still comes back
            if _stays(person):
                break
            person = returning[sampler.pick(self.rng)]
        return person
