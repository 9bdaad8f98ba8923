"""gold.funnel: conversion funnels — who went from step 1 to step n, how fast, split by what.

A funnel is a :class:`FunnelSpec`: its steps (event names with property filters), a conversion
window, an order mode, what is counted, a breakdown, exclusions and held properties. The engine
reads stitched events (``person_id``, ``name``, ``event_time``, ``message_id``, optionally
``session_key``, property columns and a JSON ``properties`` column) and returns one row per counted
attempt (:func:`attempts`), the step table (:func:`summarize`) and conversion by day (:func:`trend`).

Rules (the contract the tests check):

* **Events.** An entity's events are ordered by ``event_time``, then ``message_id``. A step matches an
  event with its name and its ``where`` filters: a scalar means equals, a list means one of; both sides
  are compared as text (Spark's cast to string; booleans are ``true``/``false``), and a null never
  matches. A property that is not a column of the events is read from the JSON ``properties``
  column (``$.<name>``) when there is one.
* **Entities.** ``count_by="user"``: a ``person_id``; ``"session"``: a ``(person_id, session_key)``, so
  steps match only within a session; ``"event"``: a ``person_id`` whose attempts count separately.
* **Attempts.** An attempt starts at an event that matches step 1 (any step when unordered). Every
  matched event lies within ``window_seconds`` of the start, inclusive (``t - t1 <= window``); the
  attempt's *deadline* is ``t1 + window``.
* **ordered.** After the previously matched event, the next match is the earliest later event that
  qualifies for the next step — or, when that step is optional, for any step up to and including the
  next required one (skipping the optional steps in between). An event that qualifies for several
  of them counts for the required step, else for the first declared one. Other events may occur in
  between. A step with ``within_seconds`` qualifies only within that many seconds (inclusive) of
  the previously matched event. The attempt stops at the first step that finds no match.
* **strict.** As ordered, but only the event immediately after the previously matched one (of all the
  entity's events, whatever their name) may match; otherwise the attempt stops.
* **unordered.** From the start event, events up to the deadline are assigned in time order, each to
  the first declared step it matches that is not yet done (an event completes at most one step; the
  start event completes a step). Slot *k* of the result is the time of the *k*-th distinct step
  completed ("Completed k steps"). Optional steps and ``within_seconds`` are not allowed.
* **Optional steps** (ordered, strict) may be skipped: an optional step is taken when it qualifies
  before the next required step does. An optional step's ``converted`` counts the entities that
  did it; every step's ``entered`` is the ``converted`` of the closest earlier *required* step.
* **hold_constant.** Every matched event of an attempt has the start event's value of each held
  property, and that value is not null: an event with a null held property matches no step.
* **Exclusions.** An attempt is discarded when an exclusion event (name and ``where``; held
  properties do not apply) lies strictly after the attempt's ``after_step`` event and strictly before
  its ``before_step`` event (in event order) — or, when ``before_step`` was not reached (skipped or
  never reached), at or before the deadline. When ``after_step`` was not reached, nothing is
  excluded. A discarded attempt counts nowhere. For unordered funnels the steps of an exclusion are
  slots ("after the first completed step").
* **Counting.** ``user`` and ``session``: an entity counts once, by its best non-discarded attempt —
  most required steps reached, then most steps reached, then the earliest start. ``event``: attempts
  do not overlap — the first starts at the entity's first start event, each next one at the first
  start event strictly after the last event the previous attempt matched (its start, when it matched
  nothing more); discarded attempts still occupy their events; every non-discarded one counts.
* **per_day.** With ``per_day=True`` an entity (user, session) counts once per UTC day its attempts
  start on, by its best attempt of that day; ``event`` counting is unchanged.
* **Breakdown.** Each counted attempt takes each breakdown property from one of its matched events:
  ``first_touch`` the start event, ``last_touch`` the last matched event, ``N`` step N's event (slot N
  when unordered; null when not reached). Values are text; nulls stay null.

Spark does the grouping and the aggregates with built-in functions; the matching of one entity's
events is the pure Python :func:`match_attempts`, applied to each entity's adjacent rows with
``mapInPandas`` (the Python workers need pandas and pyarrow).

Example::

    spec = FunnelSpec.from_dict({
        "steps": ["Product Viewed", {"event": "Product Added", "within_seconds": 1800}, "Order Completed"],
        "window_seconds": 86_400, "breakdown": ["channel"],
        "exclusions": [{"event": "Product Removed", "after_step": 2}],
    })
    result = run_funnel(stitched_events, spec)
    result.steps.show()      # one row per channel per step
    daily = summarize(attempts(stitched_events, spec, per_day=True), spec, by=("day",))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, IntegerType, LongType, StringType, StructField, StructType

ORDERED = "ordered"
STRICT = "strict"
UNORDERED = "unordered"
ORDERS = (ORDERED, STRICT, UNORDERED)
BY_USER = "user"
BY_SESSION = "session"
BY_EVENT = "event"
COUNT_BY = (BY_USER, BY_SESSION, BY_EVENT)
FIRST_TOUCH = "first_touch"
LAST_TOUCH = "last_touch"
DEFAULT_WINDOW_SECONDS = 86_400

# Input columns.
PERSON_ID = "person_id"
SESSION_KEY = "session_key"
EVENT_NAME = "name"
EVENT_TIME = "event_time"
MESSAGE_ID = "message_id"
PROPERTIES = "properties"
# Output columns of attempts(), summarize() and trend().
START_TIME = "start_time"
DAY = "day"
STEP_TIMES = "step_times"
REACHED = "reached"
STEP_COLUMNS = (
    "step", "step_name", "entered", "converted", "conversion_from_previous", "conversion_from_first",
    "drop_off", "drop_off_rate", "median_seconds_to_convert", "p90_seconds_to_convert",
    "median_seconds_from_start", "p90_seconds_from_start",
)
TREND_COLUMNS = (DAY, "entered", "completed", "conversion_rate")
# A breakdown property cannot take the name of an output column.
RESERVED_NAMES = frozenset((PERSON_ID, SESSION_KEY, START_TIME, DAY, STEP_TIMES, REACHED, *STEP_COLUMNS,
                            *TREND_COLUMNS))

MICROS_PER_SECOND = 1_000_000
MICROS_PER_DAY = 86_400 * MICROS_PER_SECOND

_STEP_KEYS = ("event", "where", "optional", "within_seconds", "label")
_EXCLUSION_KEYS = ("event", "where", "after_step", "before_step")
_SPEC_KEYS = ("steps", "window_seconds", "order", "count_by", "breakdown", "attribution", "exclusions",
              "hold_constant")
_NO_PROPERTIES: Mapping[str, Any] = MappingProxyType({})


def _text(value: Any) -> str | None:
    """A property value as the text Spark's ``cast(... as string)`` gives for it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_positive(value: Any, what: str) -> None:
    if not _is_count(value) or value <= 0:
        raise ValueError(f"{what} must be a positive whole number of seconds, got {value!r}")


def _check_event(event: Any, what: str) -> None:
    if not isinstance(event, str) or not event.strip():
        raise ValueError(f"{what}: event must be a non-empty event name, got {event!r}")


def _accepted_values(where: Any, what: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """``where`` as (property, accepted texts) pairs; raises on anything that is not a filter."""
    if not isinstance(where, Mapping):
        raise ValueError(f"{what}: where must be a mapping of property name to value(s), got {where!r}")
    accepted = []
    for name, values in where.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{what}: where keys must be property names, got {name!r}")
        listed = values if isinstance(values, list | tuple | set | frozenset) else [values]
        if not listed:
            raise ValueError(f"{what}: where[{name!r}] is an empty list; it would match nothing")
        for value in listed:
            if value is None or not isinstance(value, str | int | float | bool):
                raise ValueError(f"{what}: where[{name!r}] values must be text, numbers or booleans "
                                 f"(null never matches), got {value!r}")
        accepted.append((name, frozenset(_text(value) for value in listed)))
    return tuple(accepted)


def _accepts(accepted: tuple[tuple[str, frozenset[str]], ...], event: str, name: str | None,
             properties: Mapping[str, Any]) -> bool:
    return name == event and all(_text(properties.get(key)) in values for key, values in accepted)


@dataclass(frozen=True)
class Step:
    """One funnel step: an event name, property filters, and whether it may be skipped.

    ``where`` maps a property to a value (equals) or a list of values (one of), compared as text.
    ``within_seconds``: the step must follow the previously matched step within that many seconds.
    ``label`` names the step in :func:`summarize` (default: the event name).

    Example::

        Step("Product Viewed", where={"category": ["shoes", "bags"]})
        Step("Order Completed", within_seconds=3600, label="Bought within the hour")
    """

    event: str
    where: Mapping[str, Any] = field(default_factory=dict)
    optional: bool = False
    within_seconds: int | None = None
    label: str | None = None
    _accepted: tuple[tuple[str, frozenset[str]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_event(self.event, "Step")
        what = f"Step {self.event!r}"
        object.__setattr__(self, "_accepted", _accepted_values(self.where, what))
        if not isinstance(self.optional, bool):
            raise ValueError(f"{what}: optional must be true or false, got {self.optional!r}")
        if self.within_seconds is not None:
            _check_positive(self.within_seconds, f"{what}: within_seconds")
        if self.label is not None and (not isinstance(self.label, str) or not self.label.strip()):
            raise ValueError(f"{what}: label must be non-empty text, got {self.label!r}")

    @property
    def name(self) -> str:
        """The step's label, else its event name."""
        return self.label or self.event

    def matches(self, name: str | None, properties: Mapping[str, Any] = _NO_PROPERTIES) -> bool:
        """True when an event called ``name`` with ``properties`` passes this step's filters."""
        return _accepts(self._accepted, self.event, name, properties)


@dataclass(frozen=True)
class Exclusion:
    """An event that discards an attempt when it happens between two of the attempt's steps.

    The range runs strictly after step ``after_step``'s event and strictly before step
    ``before_step``'s event (1-based; ``None`` = the last step), or up to the deadline when the
    attempt did not reach ``before_step``.

    Example::

        Exclusion("Product Removed", after_step=2)          # removed from the cart before ordering
    """

    event: str
    where: Mapping[str, Any] = field(default_factory=dict)
    after_step: int = 1
    before_step: int | None = None
    _accepted: tuple[tuple[str, frozenset[str]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_event(self.event, "Exclusion")
        what = f"Exclusion {self.event!r}"
        object.__setattr__(self, "_accepted", _accepted_values(self.where, what))
        if not _is_count(self.after_step) or self.after_step < 1:
            raise ValueError(f"{what}: after_step must be a step number (1-based), got {self.after_step!r}")
        if self.before_step is not None and (not _is_count(self.before_step) or self.before_step <= self.after_step):
            raise ValueError(f"{what}: before_step must be a step number after after_step "
                             f"({self.after_step}), got {self.before_step!r}")

    def matches(self, name: str | None, properties: Mapping[str, Any] = _NO_PROPERTIES) -> bool:
        """True when an event called ``name`` with ``properties`` is this exclusion's event."""
        return _accepts(self._accepted, self.event, name, properties)


def _names(value: Any, what: str) -> tuple[str, ...]:
    """A tuple of distinct property names; a bare string is refused (it would split into letters)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"FunnelSpec: {what} must be a list of property names, got {value!r}")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"FunnelSpec: {what} must hold property names, got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"FunnelSpec: {what} names a property twice: {list(names)}")
    return names


@dataclass(frozen=True)
class FunnelSpec:
    """A funnel: steps, conversion window, order mode, counting, breakdown, exclusions.

    See the module documentation for the rules. Lists given for the tuple fields are turned
    into tuples; every field is checked and errors name the field.

    Example::

        FunnelSpec(steps=(Step("Checkout Started"), Step("Order Completed")), window_seconds=3600,
                   hold_constant=("order_id",), breakdown=("device",), attribution="last_touch")
    """

    steps: tuple[Step, ...]
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    order: str = ORDERED
    count_by: str = BY_USER
    breakdown: tuple[str, ...] = ()
    attribution: str | int = FIRST_TOUCH
    exclusions: tuple[Exclusion, ...] = ()
    hold_constant: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.steps, str | Step) or not isinstance(self.steps, Sequence):
            raise ValueError(f"FunnelSpec: steps must be a list of Step, got {self.steps!r}")
        object.__setattr__(self, "steps", tuple(self.steps))
        for step in self.steps:
            if not isinstance(step, Step):
                raise ValueError(f"FunnelSpec: steps must be Step objects (FunnelSpec.from_dict accepts "
                                 f"names and dicts), got {step!r}")
        count = len(self.steps)
        if count < 2:
            raise ValueError(f"FunnelSpec: a funnel needs at least 2 steps, got {count}")
        _check_positive(self.window_seconds, "FunnelSpec: window_seconds")
        if self.order not in ORDERS:
            raise ValueError(f"FunnelSpec: order must be one of {', '.join(ORDERS)}, got {self.order!r}")
        if self.count_by not in COUNT_BY:
            raise ValueError(f"FunnelSpec: count_by must be one of {', '.join(COUNT_BY)}, got {self.count_by!r}")
        if self.steps[0].optional:
            raise ValueError(f"FunnelSpec: the first step ({self.steps[0].name!r}) cannot be optional")
        if self.order == UNORDERED:
            for step in self.steps:
                if step.optional or step.within_seconds is not None:
                    raise ValueError(f"FunnelSpec: unordered funnels have no optional steps and no "
                                     f"within_seconds (step {step.name!r})")
        object.__setattr__(self, "breakdown", _names(self.breakdown, "breakdown"))
        object.__setattr__(self, "hold_constant", _names(self.hold_constant, "hold_constant"))
        clashing = sorted(RESERVED_NAMES.intersection(self.breakdown))
        if clashing:
            raise ValueError(f"FunnelSpec: breakdown property {clashing[0]!r} clashes with an output column")
        attribution = self.attribution
        if _is_count(attribution):
            if not 1 <= attribution <= count:
                raise ValueError(f"FunnelSpec: attribution step must be between 1 and {count}, got {attribution}")
        elif attribution not in (FIRST_TOUCH, LAST_TOUCH):
            raise ValueError(f"FunnelSpec: attribution must be {FIRST_TOUCH}, {LAST_TOUCH} or a step number, "
                             f"got {attribution!r}")
        if isinstance(self.exclusions, str | Exclusion) or not isinstance(self.exclusions, Sequence):
            raise ValueError(f"FunnelSpec: exclusions must be a list of Exclusion, got {self.exclusions!r}")
        object.__setattr__(self, "exclusions", tuple(self.exclusions))
        for exclusion in self.exclusions:
            if not isinstance(exclusion, Exclusion):
                raise ValueError(f"FunnelSpec: exclusions must be Exclusion objects, got {exclusion!r}")
            if exclusion.after_step >= count or (exclusion.before_step or count) > count:
                raise ValueError(f"FunnelSpec: exclusion {exclusion.event!r} range after_step="
                                 f"{exclusion.after_step}, before_step={exclusion.before_step} is not "
                                 f"inside steps 1..{count}")

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> FunnelSpec:
        """A spec from plain data (YAML, JSON, notebook widgets).

        Steps and exclusions are event names or dicts of their fields; unknown keys are errors.

        Example::

            FunnelSpec.from_dict({"steps": ["Product Viewed", {"event": "Order Completed",
                                                               "where": {"currency": "EUR"}}],
                                  "count_by": "session", "breakdown": ["device"]})
        """
        if not isinstance(spec, Mapping):
            raise ValueError(f"FunnelSpec.from_dict: expected a mapping, got {spec!r}")
        fields = dict(_known_keys(spec, _SPEC_KEYS, "funnel"))
        if "steps" not in fields:
            raise ValueError("FunnelSpec.from_dict: 'steps' is missing")
        fields["steps"] = tuple(_from_plain(Step, item, _STEP_KEYS, "step") for item in _listed(fields["steps"], "steps"))
        if "exclusions" in fields:
            fields["exclusions"] = tuple(_from_plain(Exclusion, item, _EXCLUSION_KEYS, "exclusion")
                                         for item in _listed(fields["exclusions"], "exclusions"))
        for key in ("breakdown", "hold_constant"):
            if key in fields and isinstance(fields[key], list):
                fields[key] = tuple(fields[key])
        return cls(**fields)

    @property
    def step_names(self) -> tuple[str, ...]:
        """The names :func:`summarize` gives the steps (slots ``Completed k steps`` when unordered)."""
        if self.order == UNORDERED:
            return tuple(f"Completed {k} step" + ("" if k == 1 else "s") for k in range(1, len(self.steps) + 1))
        return tuple(step.name for step in self.steps)

    @property
    def entered_from(self) -> tuple[int, ...]:
        """For each step (0-based), the step whose ``converted`` is its ``entered``: itself for the
        first step, else the closest earlier required step."""
        sources = [0]
        for k in range(1, len(self.steps)):
            sources.append(max(j for j in range(k) if not self.steps[j].optional))
        return tuple(sources)

    @property
    def event_names(self) -> tuple[str, ...]:
        """Names of the events the funnel reads (steps and exclusions)."""
        return tuple(dict.fromkeys([step.event for step in self.steps] + [x.event for x in self.exclusions]))

    @property
    def properties(self) -> tuple[str, ...]:
        """Properties the funnel reads: filters, held properties and breakdown, in that order."""
        filtered = [name for item in (*self.steps, *self.exclusions) for name in item.where]
        return tuple(dict.fromkeys([*filtered, *self.hold_constant, *self.breakdown]))


def _known_keys(item: Mapping[str, Any], keys: tuple[str, ...], what: str) -> Mapping[str, Any]:
    unknown = sorted(set(item) - set(keys))
    if unknown:
        raise ValueError(f"FunnelSpec.from_dict: unknown {what} key(s) {', '.join(map(str, unknown))}; "
                         f"expected {', '.join(keys)}")
    return item


def _listed(value: Any, what: str) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"FunnelSpec.from_dict: {what} must be a list, got {value!r}")
    return list(value)


def _from_plain(kind: type, item: Any, keys: tuple[str, ...], what: str) -> Any:
    if isinstance(item, kind):
        return item
    if isinstance(item, str):
        return kind(event=item)
    if isinstance(item, Mapping):
        return kind(**_known_keys(item, keys, what))
    raise ValueError(f"FunnelSpec.from_dict: a {what} is an event name or a mapping, got {item!r}")


class FunnelEvent(NamedTuple):
    """One event of one entity, as :func:`match_attempts` reads it.

    ``time`` is in microseconds since the epoch (Spark's ``unix_micros``); ``properties`` maps a
    property name to its value (compared as text).
    """

    time: int
    message_id: str | None
    name: str | None
    properties: Mapping[str, Any] = _NO_PROPERTIES


@dataclass(frozen=True)
class Attempt:
    """A counted attempt: its start, the time of each step (``None`` = not reached) and its
    breakdown values (in the spec's breakdown order). Times are microseconds since the epoch."""

    start: int
    step_times: tuple[int | None, ...]
    breakdown: tuple[str | None, ...] = ()

    @property
    def reached(self) -> int:
        """Steps reached."""
        return sum(time is not None for time in self.step_times)

    @property
    def day(self) -> int:
        """UTC day of the start, in days since 1970-01-01."""
        return self.start // MICROS_PER_DAY


class _Timeline:
    """One entity's events in order, with what each of them matches."""

    def __init__(self, events: Sequence[FunnelEvent], spec: FunnelSpec) -> None:
        ordered = sorted(events, key=lambda event: (event.time, event.message_id or ""))
        self.spec = spec
        self.times = [event.time for event in ordered]
        self.step_hits = [tuple(step.matches(e.name, e.properties) for step in spec.steps) for e in ordered]
        self.exclusion_hits = [tuple(x.matches(e.name, e.properties) for x in spec.exclusions) for e in ordered]
        # The held values of each event; None when one of them is null (it can match no step).
        self.held = []
        for event in ordered:
            values = tuple(_text(event.properties.get(name)) for name in spec.hold_constant)
            self.held.append(None if None in values else values)
        self.breakdown = [tuple(_text(e.properties.get(name)) for name in spec.breakdown) for e in ordered]

    def __len__(self) -> int:
        return len(self.times)

    def qualifies(self, event: int, step: int, anchor: tuple[str, ...]) -> bool:
        return self.step_hits[event][step] and self.held[event] == anchor

    def can_start(self, event: int) -> bool:
        if self.held[event] is None:
            return False
        hits = self.step_hits[event]
        return any(hits) if self.spec.order == UNORDERED else hits[0]

    def starts_after(self, event: int) -> int | None:
        return next((e for e in range(event + 1, len(self)) if self.can_start(e)), None)

    def deadline(self, start: int) -> int:
        return self.times[start] + self.spec.window_seconds * MICROS_PER_SECOND


def _next_match(timeline: _Timeline, candidates: list[int], previous: int, start: int) -> tuple[int, int] | None:
    """(step, event) of the next match after event ``previous``; ``candidates`` in preference order."""
    spec = timeline.spec
    deadline = timeline.deadline(start)
    anchor = timeline.held[start]
    limits = []
    for step in candidates:
        within = spec.steps[step].within_seconds
        limits.append(deadline if within is None else
                      min(deadline, timeline.times[previous] + within * MICROS_PER_SECOND))
    latest = max(limits)
    end = min(previous + 2, len(timeline)) if spec.order == STRICT else len(timeline)
    for event in range(previous + 1, end):
        time = timeline.times[event]
        if time > latest:
            return None
        for step, limit in zip(candidates, limits, strict=True):
            if time <= limit and timeline.qualifies(event, step, anchor):
                return step, event
    return None


def _ordered_trace(timeline: _Timeline, start: int) -> list[int | None]:
    """The matched event of each step (None = not reached) for the attempt starting at ``start``."""
    steps = timeline.spec.steps
    positions: list[int | None] = [start] + [None] * (len(steps) - 1)
    previous, step = start, 1
    while step < len(steps):
        required = next((k for k in range(step, len(steps)) if not steps[k].optional), None)
        skippable = list(range(step, len(steps) if required is None else required))
        # The required step wins an event that also qualifies for an optional one.
        candidates = ([] if required is None else [required]) + skippable
        found = _next_match(timeline, candidates, previous, start)
        if found is None:
            break
        matched_step, previous = found
        positions[matched_step] = previous
        step = matched_step + 1
    return positions


def _unordered_trace(timeline: _Timeline, start: int) -> list[int | None]:
    """The event completing each slot (1st, 2nd... distinct step) for the attempt at ``start``."""
    count = len(timeline.spec.steps)
    deadline = timeline.deadline(start)
    anchor = timeline.held[start]
    done = [False] * count
    positions: list[int | None] = []
    for event in range(start, len(timeline)):
        if timeline.times[event] > deadline or len(positions) == count:
            break
        step = next((k for k in range(count) if not done[k] and timeline.qualifies(event, k, anchor)), None)
        if step is not None:
            done[step] = True
            positions.append(event)
    return positions + [None] * (count - len(positions))


def _discarded(timeline: _Timeline, positions: list[int | None]) -> bool:
    spec = timeline.spec
    deadline = timeline.deadline(positions[0])
    for index, exclusion in enumerate(spec.exclusions):
        after = positions[exclusion.after_step - 1]
        if after is None:
            continue
        before = positions[(exclusion.before_step or len(spec.steps)) - 1]
        for event in range(after + 1, len(timeline) if before is None else before):
            if before is None and timeline.times[event] > deadline:
                break
            if timeline.exclusion_hits[event][index]:
                return True
    return False


def _rank(spec: FunnelSpec, positions: list[int | None]) -> tuple[int, int]:
    required = sum(p is not None and not step.optional for p, step in zip(positions, spec.steps, strict=True))
    return required, sum(p is not None for p in positions)


def _attempt(timeline: _Timeline, positions: list[int | None]) -> Attempt:
    spec = timeline.spec
    matched = [p for p in positions if p is not None]
    if spec.attribution == FIRST_TOUCH:
        source: int | None = positions[0]
    elif spec.attribution == LAST_TOUCH:
        source = max(matched)
    else:
        source = positions[int(spec.attribution) - 1]
    breakdown = timeline.breakdown[source] if source is not None else (None,) * len(spec.breakdown)
    return Attempt(start=timeline.times[matched[0]],
                   step_times=tuple(None if p is None else timeline.times[p] for p in positions),
                   breakdown=breakdown)


def match_attempts(events: Sequence[FunnelEvent], spec: FunnelSpec, per_day: bool = False) -> list[Attempt]:
    """One entity's events → its counted attempts, by start (the rules are in the module doc).

    ``events`` may come in any order; they are sorted by time, then message id. For ``count_by``
    ``user`` and ``session`` the result holds at most one attempt (one per UTC day with ``per_day``);
    for ``event`` every non-discarded, non-overlapping attempt.

    Example::

        spec = FunnelSpec(steps=(Step("Product Viewed"), Step("Order Completed")))
        [attempt] = match_attempts([FunnelEvent(0, "m1", "Product Viewed"),
                                    FunnelEvent(60_000_000, "m2", "Order Completed")], spec)
        attempt.step_times    # (0, 60000000)
    """
    timeline = _Timeline(events, spec)
    trace = _unordered_trace if spec.order == UNORDERED else _ordered_trace
    counted: list[list[int | None]] = []
    start = timeline.starts_after(-1)
    if spec.count_by == BY_EVENT:
        while start is not None:
            positions = trace(timeline, start)
            if not _discarded(timeline, positions):
                counted.append(positions)
            start = timeline.starts_after(max(p for p in positions if p is not None))
    else:
        best: dict[int | None, tuple[tuple[int, int], list[int | None]]] = {}
        complete = _rank(spec, list(range(len(spec.steps))))
        while start is not None:
            group = timeline.times[start] // MICROS_PER_DAY if per_day else None
            # Starts come in order, so a strictly better rank is needed to replace: earliest start wins ties.
            if group not in best or best[group][0] != complete:
                positions = trace(timeline, start)
                rank = _rank(spec, positions)
                if not _discarded(timeline, positions) and (group not in best or rank > best[group][0]):
                    best[group] = (rank, positions)
            start = timeline.starts_after(start)
        counted = [positions for _, positions in best.values()]
    return sorted((_attempt(timeline, positions) for positions in counted), key=lambda a: a.start)


def _entity_columns(spec: FunnelSpec) -> tuple[str, ...]:
    return (PERSON_ID, SESSION_KEY) if spec.count_by == BY_SESSION else (PERSON_ID,)


def _property(events: DataFrame, name: str) -> Column:
    """The events' property ``name``: its column, else ``$.name`` of the JSON ``properties`` column."""
    if name in events.columns:
        return F.col("`" + name.replace("`", "``") + "`")
    if PROPERTIES in events.columns:
        return F.get_json_object(F.col(PROPERTIES), f"$.{name}")
    raise ValueError(f"funnel: property {name!r} is not a column of the events and there is no "
                     f"{PROPERTIES!r} JSON column to read it from")


def _texts(values: pd.Series) -> list[str | None]:
    # Missing text arrives as None or NaN depending on the pandas string dtype.
    return [value if isinstance(value, str) else None for value in values.tolist()]


def _partition_matcher(spec: FunnelSpec, per_day: bool, entity: tuple[str, ...],
                       properties: tuple[str, ...]) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The ``mapInPandas`` function: a partition's events, each entity's rows next to each other
    (an entity may continue into the next Arrow batch) → the entities' counted attempts."""
    width = len(spec.breakdown)

    def frame(rows: list[tuple]) -> pd.DataFrame:
        # Explicit dtypes: pyarrow fails to convert an empty column of inferred dtype next to non-empty
        # batches (PySpark 4.1, pyarrow 26: "Expected Array, got ChunkedArray").
        columns = list(zip(*rows, strict=True)) if rows else [()] * (len(entity) + 3 + width)
        out: dict[str, Any] = {column: pd.Series(columns[i], dtype="object") for i, column in enumerate(entity)}
        at = len(entity)
        out["_start"] = pd.Series(columns[at], dtype="int64")
        out["_step_times"] = pd.Series(columns[at + 1], dtype="object")
        out[REACHED] = pd.Series(columns[at + 2], dtype="int32")
        for index in range(width):
            out[f"_b{index}"] = pd.Series(columns[at + 3 + index], dtype="object")
        return pd.DataFrame(out)

    def matched(key: tuple, events: list[FunnelEvent]) -> list[tuple]:
        return [(*key, a.start, list(a.step_times), a.reached, *a.breakdown)
                for a in match_attempts(events, spec, per_day)]

    def match_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        key: tuple | None = None
        events: list[FunnelEvent] = []
        for batch in batches:
            keys = list(zip(*[_texts(batch[column]) for column in entity], strict=True))
            values = [_texts(batch[f"_p{index}"]) for index in range(len(properties))]
            rows: list[tuple] = []
            for row, (row_key, time, message_id, name) in enumerate(zip(
                    keys, batch["_time"].tolist(), _texts(batch[MESSAGE_ID]), _texts(batch[EVENT_NAME]), strict=True)):
                if row_key != key:
                    if events:
                        rows += matched(key, events)
                    key, events = row_key, []
                events.append(FunnelEvent(int(time), message_id, name,
                                          {p: values[i][row] for i, p in enumerate(properties)}))
            yield frame(rows)
        if events:
            yield frame(matched(key, events))

    return match_partition


def attempts(events: DataFrame, spec: FunnelSpec, per_day: bool = False) -> DataFrame:
    """Stitched events → one row per counted attempt of ``spec``.

    Columns: ``person_id`` (and ``session_key`` when counting by session), ``start_time`` (the start
    event's time), ``day`` (its UTC date), one text column per breakdown property, ``step_times``
    (array of timestamps, one per step — per slot when unordered —, null where not reached) and
    ``reached`` (int, steps reached). ``per_day``: best attempt per entity per UTC day (daily tables).

    Events without ``person_id`` or ``event_time`` (or ``session_key`` by session) are left out.

    Example::

        counted = attempts(stitched_events, FunnelSpec.from_dict({"steps": ["Product Added", "Order Completed"]}))
    """
    if not isinstance(spec, FunnelSpec):
        raise ValueError(f"funnel: spec must be a FunnelSpec (see FunnelSpec.from_dict), got {type(spec).__name__}")
    entity = _entity_columns(spec)
    missing = [c for c in (*entity, EVENT_NAME, EVENT_TIME, MESSAGE_ID) if c not in events.columns]
    if missing:
        raise ValueError(f"funnel: events lack column(s) {', '.join(missing)} (count_by={spec.count_by!r})")
    properties = spec.properties
    placed = F.col(EVENT_TIME).isNotNull()
    for column in entity:
        placed = placed & F.col(column).isNotNull()
    prepared = events.where(placed)
    if spec.order != STRICT:
        # Strict funnels need every event (the next event must be the next step); others only theirs.
        prepared = prepared.where(F.col(EVENT_NAME).isin(*spec.event_names))
    prepared = prepared.select(
        *[F.col(column).cast("string").alias(column) for column in entity],
        F.col(EVENT_NAME).cast("string").alias(EVENT_NAME),
        F.unix_micros(EVENT_TIME).alias("_time"),
        F.col(MESSAGE_ID).cast("string").alias(MESSAGE_ID),
        *[_property(events, name).cast("string").alias(f"_p{index}") for index, name in enumerate(properties)],
    )
    matched_schema = StructType([
        *[StructField(column, StringType()) for column in entity],
        StructField("_start", LongType()),
        StructField("_step_times", ArrayType(LongType())),
        StructField(REACHED, IntegerType()),
        *[StructField(f"_b{index}", StringType()) for index in range(len(spec.breakdown))],
    ])
    # One Python call per Arrow batch, not per entity: rows of an entity are made adjacent instead
    # of grouped (most entities have a handful of events, and a call costs more than matching them).
    matched = (prepared.repartition(*entity).sortWithinPartitions(*entity)
               .mapInPandas(_partition_matcher(spec, per_day, entity, properties), matched_schema))
    start_day = F.floor(F.col("_start") / F.lit(MICROS_PER_DAY)).cast("int")
    return matched.select(
        *entity,
        F.timestamp_micros("_start").alias(START_TIME),
        F.date_from_unix_date(start_day).alias(DAY),
        *[F.col(f"_b{index}").alias(name) for index, name in enumerate(spec.breakdown)],
        F.transform("_step_times", F.timestamp_micros).alias(STEP_TIMES),
        REACHED,
    )


def _ratio(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator as a double; null when the denominator is 0 (never a division error)."""
    return F.when(denominator > 0, numerator.cast("double") / denominator)


def _seconds_between(later: Column, earlier: Column) -> Column:
    return (F.unix_micros(later) - F.unix_micros(earlier)) / F.lit(float(MICROS_PER_SECOND))


def _group_columns(attempts_df: DataFrame, spec: FunnelSpec, by: Sequence[str]) -> list[str]:
    if isinstance(by, str):
        by = (by,)
    groups = list(dict.fromkeys((*by, *spec.breakdown)))
    missing = [column for column in (*groups, STEP_TIMES) if column not in attempts_df.columns]
    if missing:
        raise ValueError(f"funnel: attempts lack column(s) {', '.join(missing)}; pass the output of attempts()")
    return groups


def summarize(attempts_df: DataFrame, spec: FunnelSpec, by: Sequence[str] = ()) -> DataFrame:
    """Attempts → the funnel table: one row per group (``by`` + breakdown columns) per step.

    Columns: the group columns, ``step`` (1-based), ``step_name``, ``entered`` and ``converted``
    (long; step 1: both the number of attempts; step i: ``converted`` = attempts that reached it,
    ``entered`` = ``converted`` of the closest earlier required step), ``conversion_from_previous``
    (converted / entered), ``conversion_from_first`` (converted / attempts), ``drop_off`` (entered −
    converted), ``drop_off_rate`` (drop_off / entered) — ratios are doubles, null when the
    denominator is 0 —, ``median_seconds_to_convert`` and ``p90_seconds_to_convert`` (seconds from
    the previous matched step to this one), ``median_seconds_from_start`` and
    ``p90_seconds_from_start`` (from step 1). Percentiles are exact, linearly interpolated (Spark's
    ``percentile``), over the attempts that reached the step; null for step 1. Rows are ordered by
    group, then step.

    Example::

        daily_steps = summarize(attempts(events, spec, per_day=True), spec, by=("day",))
    """
    groups = _group_columns(attempts_df, spec, by)
    times = F.col(STEP_TIMES)
    no_seconds = F.lit(None).cast("double")
    aggregates = []
    for k in range(len(spec.steps)):
        aggregates.append(F.count_if(F.get(times, k).isNotNull()).alias(f"_converted{k}"))
        if k == 0:
            continue
        previous = F.coalesce(*[F.get(times, j) for j in reversed(range(k))])
        to_convert = _seconds_between(F.get(times, k), previous)
        from_start = _seconds_between(F.get(times, k), F.get(times, 0))
        aggregates += [
            F.percentile(to_convert, 0.5).alias(f"_median_convert{k}"),
            F.percentile(to_convert, 0.9).alias(f"_p90_convert{k}"),
            F.percentile(from_start, 0.5).alias(f"_median_start{k}"),
            F.percentile(from_start, 0.9).alias(f"_p90_start{k}"),
        ]
    per_group = attempts_df.groupBy(*groups).agg(*aggregates)

    def timing(name: str, k: int) -> Column:
        return no_seconds if k == 0 else F.col(f"_{name}{k}")

    steps = F.array(*[
        F.struct(
            F.lit(k + 1).alias("step"),
            F.lit(name).alias("step_name"),
            F.col(f"_converted{source}").alias("entered"),
            F.col(f"_converted{k}").alias("converted"),
            timing("median_convert", k).alias("median_seconds_to_convert"),
            timing("p90_convert", k).alias("p90_seconds_to_convert"),
            timing("median_start", k).alias("median_seconds_from_start"),
            timing("p90_start", k).alias("p90_seconds_from_start"),
        )
        for k, (name, source) in enumerate(zip(spec.step_names, spec.entered_from, strict=True))
    ])
    entered, converted = F.col("entered"), F.col("converted")
    derived = {
        "conversion_from_previous": _ratio(converted, entered),
        "conversion_from_first": _ratio(converted, F.col("_converted0")),
        "drop_off": entered - converted,
        "drop_off_rate": _ratio(entered - converted, entered),
    }
    return (
        per_group
        .select(*groups, "_converted0", F.inline(steps))
        .withColumns(derived)
        .select(*groups, *STEP_COLUMNS)
        .orderBy(*groups, "step")
    )


def trend(attempts_df: DataFrame, spec: FunnelSpec) -> DataFrame:
    """Attempts → conversion by day: one row per ``day`` (UTC date of the attempt's start) and
    breakdown values, with ``entered`` (attempts started that day), ``completed`` (of those, the ones
    that reached the last step) and ``conversion_rate`` (completed / entered). Ordered by day, then
    breakdown. Use ``attempts(..., per_day=True)`` to count an entity on every day it started.

    Example::

        trend(attempts(events, spec, per_day=True), spec).show()
    """
    keys = _group_columns(attempts_df, spec, (DAY,))
    completed = F.get(F.col(STEP_TIMES), len(spec.steps) - 1).isNotNull()
    return (
        attempts_df.groupBy(*keys)
        .agg(F.count(F.lit(1)).alias("entered"), F.count_if(completed).alias("completed"))
        .withColumn("conversion_rate", _ratio(F.col("completed"), F.col("entered")))
        .orderBy(*keys)
    )


@dataclass(frozen=True)
class FunnelResult:
    """What :func:`run_funnel` returns: the step table, the daily trend and the attempts both come
    from (DataFrames are lazy: cache ``attempts`` before reading both on large inputs)."""

    steps: DataFrame
    trend: DataFrame
    attempts: DataFrame


def run_funnel(events: DataFrame, spec: FunnelSpec) -> FunnelResult:
    """The one-call API for reports and notebooks: :func:`attempts`, then :func:`summarize` (by the
    breakdown) and :func:`trend`.

    Example::

        result = run_funnel(stitched_events, FunnelSpec.from_dict(yaml.safe_load(spec_text)))
        result.steps.show()
        result.trend.show()
    """
    counted = attempts(events, spec)
    return FunnelResult(steps=summarize(counted, spec), trend=trend(counted, spec), attempts=counted)
