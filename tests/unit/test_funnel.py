"""gold.funnel: spec validation, the matching rules (pure Python) and the Spark side.

Every expected value is worked out by hand in the comments from the inline events. Most tests call
the pure matcher ``match_attempts`` (times in seconds from 0 here, microseconds inside); the Spark
tests at the end share one small frame of six people and run a handful of specs over it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from lakepulse.gold.funnel import (
    Attempt,
    Exclusion,
    FunnelEvent,
    FunnelSpec,
    Step,
    attempts,
    match_attempts,
    run_funnel,
    summarize,
    trend,
)

# The funnel's mapInPandas runs in Spark's Python workers, which start PYSPARK_PYTHON ("python3"
# on the PATH by default, which may lack pandas and pyarrow). pytest imports every test module
# before the session-scoped spark fixture builds the session, so this reaches it.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

VIEWED = "Product Viewed"
ADDED = "Product Added"
CHECKOUT = "Checkout Started"
ORDERED = "Order Completed"
PAGE = "Page Viewed"
REMOVED = "Product Removed"
MICROS = 1_000_000


def ev(seconds: float, name: str, message_id: str | None = None, **properties: Any) -> FunnelEvent:
    """An event ``seconds`` after time 0; the message id defaults to one that sorts by time."""
    return FunnelEvent(round(seconds * MICROS), message_id or f"m{seconds:012.6f}", name, properties)


def funnel(*steps: str | Step, **options: Any) -> FunnelSpec:
    return FunnelSpec(steps=tuple(Step(s) if isinstance(s, str) else s for s in steps), **options)


def seconds(attempt: Attempt) -> tuple[float | None, ...]:
    """An attempt's step times in seconds (None where not reached)."""
    return tuple(None if t is None else t / MICROS for t in attempt.step_times)


def matched(events: list[FunnelEvent], spec: FunnelSpec, per_day: bool = False) -> list[tuple[float | None, ...]]:
    return [seconds(a) for a in match_attempts(events, spec, per_day)]


# --- Spec -------------------------------------------------------------------------------------------


def test_step_filters_compare_as_text() -> None:
    shoes_or_bags = Step(VIEWED, where={"category": ["shoes", "bags"], "price": 20, "gift": True})
    assert shoes_or_bags.matches(VIEWED, {"category": "bags", "price": "20", "gift": "true"})
    # The same values as Python numbers and booleans are the same text.
    assert shoes_or_bags.matches(VIEWED, {"category": "shoes", "price": 20, "gift": True})
    assert not shoes_or_bags.matches(VIEWED, {"category": "hats", "price": "20", "gift": "true"})
    assert not shoes_or_bags.matches(VIEWED, {"category": "bags", "price": "20.0", "gift": "true"})
    assert not shoes_or_bags.matches(VIEWED, {"category": "bags", "price": "20"})   # gift is null
    assert not shoes_or_bags.matches(ADDED, {"category": "bags", "price": "20", "gift": "true"})
    assert Step(VIEWED).matches(VIEWED) and not Step(VIEWED).matches(None)


def test_from_dict_accepts_names_and_dicts() -> None:
    spec = FunnelSpec.from_dict({
        "steps": [VIEWED,
                  {"event": ADDED, "where": {"category": ["shoes", "bags"]}, "optional": True, "label": "Added"},
                  {"event": ORDERED, "within_seconds": 3600}],
        "window_seconds": 7200, "order": "strict", "count_by": "session", "breakdown": ["channel"],
        "attribution": 3, "exclusions": [REMOVED, {"event": "Order Cancelled", "after_step": 2}],
        "hold_constant": ["cart_id"],
    })
    assert spec == FunnelSpec(
        steps=(Step(VIEWED), Step(ADDED, where={"category": ["shoes", "bags"]}, optional=True, label="Added"),
               Step(ORDERED, within_seconds=3600)),
        window_seconds=7200, order="strict", count_by="session", breakdown=("channel",), attribution=3,
        exclusions=(Exclusion(REMOVED), Exclusion("Order Cancelled", after_step=2)), hold_constant=("cart_id",),
    )
    assert spec.step_names == (VIEWED, "Added", ORDERED)
    # Entered of Order Completed is measured from Product Viewed (step index 0), over the optional step.
    assert spec.entered_from == (0, 0, 0)
    defaults = FunnelSpec.from_dict({"steps": [VIEWED, ORDERED]})
    assert (defaults.window_seconds, defaults.order, defaults.count_by, defaults.attribution) == (
        86_400, "ordered", "user", "first_touch")


def test_unordered_steps_are_named_by_count() -> None:
    spec = funnel(VIEWED, ADDED, ORDERED, order="unordered")
    assert spec.step_names == ("Completed 1 step", "Completed 2 steps", "Completed 3 steps")


@pytest.mark.parametrize(("data", "message"), [
    ({"steps": [VIEWED, ORDERED], "windw_seconds": 60}, "unknown funnel key.*windw_seconds"),
    ({"steps": [VIEWED, {"evnt": ORDERED}]}, "unknown step key.*evnt"),
    ({"window_seconds": 60}, "'steps' is missing"),
    ({"steps": VIEWED}, "steps must be a list"),
    ({"steps": [VIEWED, 3]}, "event name or a mapping"),
])
def test_from_dict_rejects_bad_input(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FunnelSpec.from_dict(data)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: funnel(VIEWED), "at least 2 steps"),
    (lambda: funnel(Step(VIEWED, optional=True), ORDERED), "first step .* cannot be optional"),
    (lambda: funnel(VIEWED, Step(ADDED, optional=True), ORDERED, order="unordered"), "unordered"),
    (lambda: funnel(VIEWED, Step(ORDERED, within_seconds=60), order="unordered"), "unordered"),
    (lambda: funnel(VIEWED, ADDED, ORDERED, attribution=4), "attribution step must be between 1 and 3"),
    (lambda: funnel(VIEWED, ORDERED, attribution=0), "attribution step"),
    (lambda: funnel(VIEWED, ORDERED, attribution="middle_touch"), "attribution must be"),
    (lambda: funnel(VIEWED, ORDERED, window_seconds=0), "window_seconds must be a positive"),
    (lambda: funnel(VIEWED, ORDERED, window_seconds=-5), "window_seconds"),
    (lambda: funnel(VIEWED, ORDERED, window_seconds=1.5), "window_seconds"),
    (lambda: funnel(VIEWED, ORDERED, window_seconds=True), "window_seconds"),
    (lambda: funnel(VIEWED, ORDERED, order="sequential"), "order must be one of"),
    (lambda: funnel(VIEWED, ORDERED, count_by="device"), "count_by must be one of"),
    (lambda: funnel(VIEWED, ORDERED, breakdown="channel"), "breakdown must be a list"),
    (lambda: funnel(VIEWED, ORDERED, breakdown=("day",)), "'day' clashes"),
    (lambda: funnel(VIEWED, ORDERED, hold_constant=("order_id", "order_id")), "hold_constant names a property twice"),
    (lambda: funnel(VIEWED, ADDED, ORDERED, exclusions=(Exclusion(REMOVED, after_step=3),)), "not inside steps 1..3"),
    (lambda: funnel(VIEWED, ORDERED, exclusions=(Exclusion(REMOVED, before_step=3),)), "not inside steps 1..2"),
    (lambda: FunnelSpec(steps=(VIEWED, ORDERED)), "from_dict accepts names"),
    (lambda: Exclusion(REMOVED, after_step=2, before_step=2), "before_step must be a step number after"),
    (lambda: Exclusion(REMOVED, after_step=0), "after_step must be a step number"),
    (lambda: Step(""), "event must be a non-empty"),
    (lambda: Step(VIEWED, within_seconds=0), "within_seconds must be a positive"),
    (lambda: Step(VIEWED, where={"category": []}), "empty list"),
    (lambda: Step(VIEWED, where={"category": None}), "null never matches"),
    (lambda: Step(VIEWED, where="category=shoes"), "where must be a mapping"),
])
def test_invalid_specs_are_refused_with_the_field_named(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


# --- Order modes ------------------------------------------------------------------------------------


def test_ordered_matches_the_earliest_next_step_with_other_events_between() -> None:
    events = [ev(0, VIEWED), ev(5, PAGE), ev(10, ADDED), ev(12, ADDED), ev(15, PAGE), ev(20, ORDERED)]
    # Added at 10 (the earliest after 0, not 12), Ordered at 20; the page views do not matter.
    assert matched(events, funnel(VIEWED, ADDED, ORDERED)) == [(0, 10, 20)]
    # The input order does not matter: events are sorted by time.
    assert matched(events[::-1], funnel(VIEWED, ADDED, ORDERED)) == [(0, 10, 20)]


def test_ordered_steps_must_come_after_the_previous_one() -> None:
    # Added at 0 is before the view at 10; nothing is added after it.
    events = [ev(0, ADDED), ev(10, VIEWED), ev(20, ORDERED)]
    assert matched(events, funnel(VIEWED, ADDED, ORDERED)) == [(10, None, None)]


def test_equal_times_are_ordered_by_message_id() -> None:
    spec = funnel(VIEWED, ADDED)
    assert matched([ev(10, ADDED, "m2"), ev(10, VIEWED, "m1")], spec) == [(10, 10)]
    # The add sorts first, so it is not after the view.
    assert matched([ev(10, ADDED, "m1"), ev(10, VIEWED, "m2")], spec) == [(10, None)]


def test_strict_stops_when_another_event_comes_between() -> None:
    events = [ev(0, VIEWED), ev(5, PAGE), ev(10, ADDED), ev(20, ORDERED)]
    assert matched(events, funnel(VIEWED, ADDED, ORDERED)) == [(0, 10, 20)]
    # Strict: the page view at 5 follows the view, so the attempt stops at step 1.
    assert matched(events, funnel(VIEWED, ADDED, ORDERED, order="strict")) == [(0, None, None)]


def test_strict_counts_the_best_start() -> None:
    # From the view at 0 the page view interrupts; from the view at 10 the steps follow directly.
    events = [ev(0, VIEWED), ev(5, PAGE), ev(10, VIEWED), ev(20, ADDED), ev(30, ORDERED)]
    assert matched(events, funnel(VIEWED, ADDED, ORDERED, order="strict")) == [(10, 20, 30)]


def test_unordered_counts_distinct_steps_in_any_order() -> None:
    events = [ev(0, ORDERED), ev(10, VIEWED), ev(20, ADDED)]
    # Unordered: the order at 0 starts and completes one step, then the view, then the add.
    [attempt] = match_attempts(events, funnel(VIEWED, ADDED, ORDERED, order="unordered"))
    assert (seconds(attempt), attempt.reached, attempt.start) == ((0, 10, 20), 3, 0)
    # Ordered: the view at 10 starts; nothing is ordered after the add at 20.
    assert matched(events, funnel(VIEWED, ADDED, ORDERED)) == [(10, 20, None)]


def test_unordered_event_completes_the_first_declared_step_it_matches() -> None:
    spec = funnel(VIEWED, Step(VIEWED, where={"category": "shoes"}), order="unordered")
    # One shoe view matches both steps but completes only the first.
    assert matched([ev(0, VIEWED, category="shoes")], spec) == [(0, None)]
    assert matched([ev(0, VIEWED, category="shoes"), ev(10, VIEWED, category="shoes")], spec) == [(0, 10)]
    # A plain view after a shoe view: the shoe view took step 1, the plain view matches neither left.
    assert matched([ev(0, VIEWED, category="shoes"), ev(10, VIEWED)], spec) == [(0, None)]


# --- Windows ----------------------------------------------------------------------------------------


def test_conversion_window_is_inclusive() -> None:
    spec = funnel(VIEWED, ORDERED, window_seconds=60)
    assert matched([ev(0, VIEWED), ev(60, ORDERED)], spec) == [(0, 60)]
    assert matched([ev(0, VIEWED), ev(61, ORDERED)], spec) == [(0, None)]
    # One microsecond over is out too.
    assert matched([ev(0, VIEWED), ev(60.000001, ORDERED)], spec) == [(0, None)]


def test_step_window_counts_from_the_previous_matched_step() -> None:
    spec = funnel(VIEWED, Step(ADDED, within_seconds=10), Step(ORDERED, within_seconds=10))
    # Both exactly 10 s after their previous step: in, though the order is 20 s after the view.
    assert matched([ev(0, VIEWED), ev(10, ADDED), ev(20, ORDERED)], spec) == [(0, 10, 20)]
    # The add 11 s after the view is too late.
    assert matched([ev(0, VIEWED), ev(11, ADDED), ev(12, ORDERED)], spec) == [(0, None, None)]
    # The order 11 s after the add at 5 is too late.
    assert matched([ev(0, VIEWED), ev(5, ADDED), ev(16, ORDERED)], spec) == [(0, 5, None)]


# --- Counting ---------------------------------------------------------------------------------------


def test_count_by_event_counts_non_overlapping_attempts() -> None:
    events = [ev(0, VIEWED), ev(10, ADDED), ev(20, ORDERED), ev(30, VIEWED), ev(40, ADDED), ev(50, ORDERED)]
    assert matched(events, funnel(VIEWED, ADDED, ORDERED, count_by="event")) == [(0, 10, 20), (30, 40, 50)]
    # By user, the same person counts once, by the earlier of two equally good attempts.
    assert matched(events, funnel(VIEWED, ADDED, ORDERED, count_by="user")) == [(0, 10, 20)]


def test_count_by_event_next_attempt_starts_after_the_last_matched_event() -> None:
    spec = funnel(VIEWED, ADDED, count_by="event")
    # The view at 5 lies inside the first attempt (0 → 10): the second starts at 15.
    events = [ev(0, VIEWED), ev(5, VIEWED), ev(10, ADDED), ev(15, VIEWED), ev(20, ADDED)]
    assert matched(events, spec) == [(0, 10), (15, 20)]
    # An attempt that matched only step 1 ends at its start: the next view starts another.
    assert matched([ev(0, VIEWED), ev(5, VIEWED)], spec) == [(0, None), (5, None)]


def test_best_attempt_has_the_most_steps_then_the_earliest_start() -> None:
    spec = funnel(VIEWED, ADDED, ORDERED, window_seconds=60)
    # From 0: added at 10, the order at 100 is past the 60 s window → 2 steps. From 70: 3 steps.
    events = [ev(0, VIEWED), ev(10, ADDED), ev(70, VIEWED), ev(80, ADDED), ev(100, ORDERED)]
    assert matched(events, spec) == [(70, 80, 100)]
    # Two single-step attempts: the earlier start counts.
    assert matched([ev(0, VIEWED), ev(10, VIEWED)], spec) == [(0, None, None)]


def test_best_attempt_prefers_required_steps_over_optional_ones() -> None:
    spec = funnel(VIEWED, Step(ADDED, optional=True), Step(CHECKOUT, optional=True), ORDERED, window_seconds=60)
    # From 0: view, add, checkout (1 required, 3 steps); the order at 110 is out of its window.
    # From 100: view, order (2 required, 2 steps) — more required steps wins.
    events = [ev(0, VIEWED), ev(5, ADDED), ev(10, CHECKOUT), ev(100, VIEWED), ev(110, ORDERED)]
    assert matched(events, spec) == [(100, None, None, 110)]


def test_per_day_counts_the_best_attempt_of_each_utc_day() -> None:
    spec = funnel(VIEWED, ADDED, window_seconds=60)
    # A view at 23:59:50 on day 0 (nothing added within 60 s), a view and an add on day 1.
    day_1 = 86_400
    events = [ev(day_1 - 10, VIEWED), ev(day_1 + 100, VIEWED), ev(day_1 + 110, ADDED)]
    assert matched(events, spec) == [(day_1 + 100, day_1 + 110)]
    by_day = match_attempts(events, spec, per_day=True)
    assert [(seconds(a), a.day) for a in by_day] == [((day_1 - 10, None), 0), ((day_1 + 100, day_1 + 110), 1)]
    # Two attempts on one day: still one, the better.
    assert matched([ev(0, VIEWED), ev(10, VIEWED), ev(20, ADDED)], spec, per_day=True) == [(0, 20)]


# --- Breakdown --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("attribution", "complete", "partial"), [
    ("first_touch", ("google",), ("google",)),   # the view's source
    ("last_touch", (None,), ("email",)),         # the order's (null stays null); the add's
    (2, ("email",), ("email",)),                 # the add's
    (3, (None,), (None,)),                       # the order's; step 3 not reached → null
])
def test_breakdown_value_comes_from_the_attributed_step(attribution: Any, complete: tuple, partial: tuple) -> None:
    spec = funnel(VIEWED, ADDED, ORDERED, breakdown=("source",), attribution=attribution)
    viewed, added = ev(0, VIEWED, source="google"), ev(10, ADDED, source="email")
    [completed] = match_attempts([viewed, added, ev(20, ORDERED)], spec)
    [partially] = match_attempts([viewed, added], spec)
    assert (completed.breakdown, partially.breakdown) == (complete, partial)


def test_breakdown_of_last_touch_with_a_value() -> None:
    spec = funnel(VIEWED, ADDED, ORDERED, breakdown=("source", "device"), attribution="last_touch")
    events = [ev(0, VIEWED, source="google", device="mobile"), ev(10, ADDED, source="email"),
              ev(20, ORDERED, source="facebook", device="desktop")]
    assert [a.breakdown for a in match_attempts(events, spec)] == [("facebook", "desktop")]


# --- Exclusions -------------------------------------------------------------------------------------


def test_exclusion_inside_its_range_discards_the_attempt() -> None:
    between_1_and_2 = funnel(VIEWED, ADDED, ORDERED, exclusions=(Exclusion(REMOVED, after_step=1, before_step=2),))
    assert matched([ev(0, VIEWED), ev(5, REMOVED), ev(10, ADDED), ev(20, ORDERED)], between_1_and_2) == []
    # After step 2: outside the range.
    assert matched([ev(0, VIEWED), ev(10, ADDED), ev(15, REMOVED), ev(20, ORDERED)], between_1_and_2) == [
        (0, 10, 20)]
    # Up to the last step by default: the same events are now discarded.
    to_the_end = funnel(VIEWED, ADDED, ORDERED, exclusions=(Exclusion(REMOVED),))
    assert matched([ev(0, VIEWED), ev(10, ADDED), ev(15, REMOVED), ev(20, ORDERED)], to_the_end) == []


def test_exclusion_before_an_unreached_step_runs_to_the_deadline() -> None:
    spec = funnel(VIEWED, ADDED, ORDERED, window_seconds=60, exclusions=(Exclusion(REMOVED),))
    # Step 3 not reached: the range ends at the deadline 0 + 60, inclusive.
    assert matched([ev(0, VIEWED), ev(10, ADDED), ev(60, REMOVED)], spec) == []
    assert matched([ev(0, VIEWED), ev(10, ADDED), ev(61, REMOVED)], spec) == [(0, 10, None)]


def test_exclusion_needs_its_after_step_and_its_filters() -> None:
    after_add = funnel(VIEWED, ADDED, ORDERED, exclusions=(Exclusion(REMOVED, after_step=2),))
    # Step 2 never reached: nothing to exclude.
    assert matched([ev(0, VIEWED), ev(5, REMOVED)], after_add) == [(0, None, None)]
    shoes_only = funnel(VIEWED, ADDED, exclusions=(Exclusion(REMOVED, where={"category": "shoes"}),))
    assert matched([ev(0, VIEWED), ev(5, REMOVED, category="hats"), ev(10, ADDED)], shoes_only) == [(0, 10)]
    assert matched([ev(0, VIEWED), ev(5, REMOVED, category="shoes"), ev(10, ADDED)], shoes_only) == []


def test_discarded_attempt_gives_way_to_the_next_best() -> None:
    spec = funnel(VIEWED, ADDED, exclusions=(Exclusion(REMOVED),))
    # From 0: added at 20 with a removal at 5 in between → discarded. From 10: clean.
    events = [ev(0, VIEWED), ev(5, REMOVED), ev(10, VIEWED), ev(20, ADDED)]
    assert matched(events, spec) == [(10, 20)]


def test_exclusion_range_excludes_the_step_events_themselves() -> None:
    # "Added without viewing another product in between": the step-1 view is not strictly after itself.
    spec = funnel(VIEWED, ADDED, exclusions=(Exclusion(VIEWED),))
    assert matched([ev(0, VIEWED), ev(10, ADDED)], spec) == [(0, 10)]
    # From 0 the view at 5 lies between: discarded; from 5 nothing does.
    assert matched([ev(0, VIEWED), ev(5, VIEWED), ev(10, ADDED)], spec) == [(5, 10)]


def test_unordered_exclusion_range_is_in_slots() -> None:
    spec = funnel(VIEWED, ORDERED, order="unordered", exclusions=(Exclusion(REMOVED),))
    # From the order at 0: slots 0 and 10 with a removal at 5 between → discarded.
    # From the view at 10: slot 1 only, nothing excluded after it.
    assert matched([ev(0, ORDERED), ev(5, REMOVED), ev(10, VIEWED)], spec) == [(10, None)]


# --- Optional steps and held properties -------------------------------------------------------------


@pytest.mark.parametrize("order", ["ordered", "strict"])
def test_optional_step_is_taken_when_it_comes_first(order: str) -> None:
    spec = funnel(VIEWED, Step(ADDED, optional=True), ORDERED, order=order)
    assert matched([ev(0, VIEWED), ev(10, ORDERED)], spec) == [(0, None, 10)]                 # skipped
    assert matched([ev(0, VIEWED), ev(5, ADDED), ev(10, ORDERED)], spec) == [(0, 5, 10)]      # taken
    assert matched([ev(0, VIEWED), ev(10, ORDERED), ev(15, ADDED)], spec) == [(0, None, 10)]  # too late


def test_event_qualifying_for_an_optional_and_a_required_step_counts_for_the_required() -> None:
    spec = funnel(VIEWED, Step(PAGE, optional=True), Step(PAGE, where={"path": "/cart"}))
    assert matched([ev(0, VIEWED), ev(5, PAGE, path="/cart")], spec) == [(0, None, 5)]
    assert matched([ev(0, VIEWED), ev(3, PAGE, path="/"), ev(5, PAGE, path="/cart")], spec) == [(0, 3, 5)]


def test_hold_constant_requires_the_same_value_on_every_step() -> None:
    held = funnel(CHECKOUT, ORDERED, hold_constant=("order_id",))
    events = [ev(0, CHECKOUT, order_id="o1"), ev(10, ORDERED, order_id="o2"), ev(20, ORDERED, order_id="o1")]
    assert matched(events, held) == [(0, 20)]
    assert matched(events, funnel(CHECKOUT, ORDERED)) == [(0, 10)]
    # A null held value matches no step: it cannot start an attempt nor complete one.
    assert matched([ev(0, CHECKOUT), ev(10, ORDERED, order_id="o1")], held) == []
    assert matched([ev(0, CHECKOUT, order_id="o1"), ev(10, ORDERED)], held) == [(0, None)]


# --- Spark ------------------------------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DAY_0, DAY_1 = date(2026, 3, 2), date(2026, 3, 3)
ONE_DAY = 86_400
SPARK_EVENTS_SCHEMA = ("person_id string, session_key string, name string, event_time timestamp, "
                       "message_id string, campaign_source string, properties string")


def row(person: str, session: str, seconds: int, name: str, source: str | None = None,
        category: str | None = None) -> tuple[Any, ...]:
    properties = None if category is None else f'{{"category": "{category}"}}'
    return (person, session, name, T0 + timedelta(seconds=seconds), f"{person}-{seconds:06d}", source, properties)


# Step 1 is a shoe or bag view (category read from the JSON properties), then an add, then an order.
SPARK_EVENTS = [
    row("u1", "s1", 0, VIEWED, "google", "shoes"), row("u1", "s1", 5, PAGE), row("u1", "s1", 10, ADDED),
    row("u1", "s2", 100, ORDERED, "email"),
    row("u2", "s3", 0, VIEWED, "google", "shoes"), row("u2", "s3", 20, ADDED), row("u2", "s3", 50, ORDERED),
    row("u3", "s4", 0, VIEWED, None, "bags"), row("u3", "s4", 30, ADDED, "bing"),
    row("u4", "s5", 0, VIEWED, "email", "shoes"), row("u4", "s5", 100, ADDED),
    row("u4", "s6", ONE_DAY, VIEWED, "email", "shoes"),
    row("u5", "s7", ONE_DAY + 60, VIEWED, "email", "shoes"),
    row("u6", "s8", 0, VIEWED, "google", "hats"), row("u6", "s8", 5, ADDED), row("u6", "s8", 10, ORDERED),
]
SHOES_OR_BAGS = Step(VIEWED, where={"category": ["shoes", "bags"]})


def spark_funnel(**options: Any) -> FunnelSpec:
    return FunnelSpec(steps=(SHOES_OR_BAGS, Step(ADDED), Step(ORDERED)), **options)


def collected(seconds: int | None) -> datetime | None:
    """How PySpark hands back T0 + seconds: naive, in the process's local time zone (UTC in tests)."""
    return None if seconds is None else (T0 + timedelta(seconds=seconds)).astimezone().replace(tzinfo=None)


@pytest.fixture(scope="module")
def spark_events(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(SPARK_EVENTS, SPARK_EVENTS_SCHEMA)


@pytest.fixture(scope="module")
def by_user(spark_events: DataFrame) -> Iterator[DataFrame]:
    """The default test funnel's attempts, matched once for the tests that read them."""
    counted = attempts(spark_events, spark_funnel()).cache()
    yield counted
    counted.unpersist()


def attempt_rows(frame: DataFrame, *keys: str) -> list[tuple[Any, ...]]:
    """(keys..., day, step_times, reached) per attempt, sorted; checks that start_time is step 1's time."""
    collected_rows = frame.collect()
    assert all(r.start_time == r.step_times[0] for r in collected_rows)
    rows = [(*(r[k] for k in keys), r.day, tuple(r.step_times), r.reached) for r in collected_rows]
    return sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))


def test_attempts_by_user_read_json_properties(by_user: DataFrame) -> None:
    assert [(f.name, f.dataType.simpleString()) for f in by_user.schema.fields] == [
        ("person_id", "string"), ("start_time", "timestamp"), ("day", "date"),
        ("step_times", "array<timestamp>"), ("reached", "int")]
    # u1's order is in another session but counts by user; u4's best attempt is day 0's (2 steps);
    # u6 viewed hats, which is not a step-1 view.
    assert attempt_rows(by_user, "person_id") == [
        ("u1", DAY_0, (collected(0), collected(10), collected(100)), 3),
        ("u2", DAY_0, (collected(0), collected(20), collected(50)), 3),
        ("u3", DAY_0, (collected(0), collected(30), None), 2),
        ("u4", DAY_0, (collected(0), collected(100), None), 2),
        ("u5", DAY_1, (collected(ONE_DAY + 60), None, None), 1),
    ]


def test_attempts_are_the_same_when_an_entity_spans_arrow_batches(spark: SparkSession, spark_events: DataFrame,
                                                                   by_user: DataFrame) -> None:
    # Two rows per Arrow batch: most people's events are cut across batches. The coalesce only
    # makes the plan differ from by_user's, which is cached (Spark would answer from the cache).
    setting = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(setting)
    spark.conf.set(setting, "2")
    try:
        small_batches = attempt_rows(attempts(spark_events.coalesce(1), spark_funnel()), "person_id")
    finally:
        spark.conf.set(setting, before)
    # The hand-checked attempts of test_attempts_by_user_read_json_properties.
    assert small_batches == attempt_rows(by_user, "person_id")


def test_attempts_by_session_match_within_a_session(spark_events: DataFrame) -> None:
    counted = attempts(spark_events, spark_funnel(count_by="session"))
    # u1's order (session s2) no longer follows its add (s1); s2 has no step 1. u4 counts per session.
    assert attempt_rows(counted, "person_id", "session_key") == [
        ("u1", "s1", DAY_0, (collected(0), collected(10), None), 2),
        ("u2", "s3", DAY_0, (collected(0), collected(20), collected(50)), 3),
        ("u3", "s4", DAY_0, (collected(0), collected(30), None), 2),
        ("u4", "s5", DAY_0, (collected(0), collected(100), None), 2),
        ("u4", "s6", DAY_1, (collected(ONE_DAY), None, None), 1),
        ("u5", "s7", DAY_1, (collected(ONE_DAY + 60), None, None), 1),
    ]


def test_summarize_counts_rates_and_exact_percentiles(by_user: DataFrame) -> None:
    steps = summarize(by_user, spark_funnel()).collect()
    # Five attempts (u1..u5). Product Added: u1 10 s, u2 20 s, u3 30 s, u4 100 s after the view.
    #   median: position 0.5 × 3 = 1.5 → 20 + 0.5 × (30 − 20) = 25; p90: 0.9 × 3 = 2.7 → 30 + 0.7 × 70 = 79.
    # Order Completed (u1, u2 of the 4 that added): from the add 90 s and 30 s → sorted 30, 90:
    #   median 30 + 0.5 × 60 = 60, p90 30 + 0.9 × 60 = 84; from the view 100 s and 50 s → 75 and 95.
    assert [tuple(r)[:8] for r in steps] == [
        (1, VIEWED, 5, 5, 1.0, 1.0, 0, 0.0),
        (2, ADDED, 5, 4, 0.8, 0.8, 1, 0.2),
        (3, ORDERED, 4, 2, 0.5, 0.4, 2, 0.5),
    ]
    assert [tuple(r)[8:] for r in steps] == [
        (None, None, None, None),
        (pytest.approx(25.0), pytest.approx(79.0), pytest.approx(25.0), pytest.approx(79.0)),
        (pytest.approx(60.0), pytest.approx(84.0), pytest.approx(75.0), pytest.approx(95.0)),
    ]
    # By day: day 0 holds u1..u4, day 1 only u5 (a view).
    by_day = [(r.day, r.step, r.entered, r.converted, r.conversion_from_previous, r.drop_off_rate)
              for r in summarize(by_user, spark_funnel(), by=("day",)).collect()]
    # Day 1's last step was entered by nobody: its rates are null, not a division error.
    assert by_day == [(DAY_0, 1, 4, 4, 1.0, 0.0), (DAY_0, 2, 4, 4, 1.0, 0.0), (DAY_0, 3, 4, 2, 0.5, 0.5),
                      (DAY_1, 1, 1, 1, 1.0, 0.0), (DAY_1, 2, 1, 0, 0.0, 1.0), (DAY_1, 3, 0, 0, None, None)]


def test_summarize_measures_optional_steps_from_the_previous_required_one(spark: SparkSession) -> None:
    spec = funnel(VIEWED, Step(ADDED, optional=True), ORDERED)
    at = collected
    counted = spark.createDataFrame(
        [([at(0), None, at(10)],), ([at(0), at(5), at(10)],), ([at(0), None, None],), ([at(0), at(5), None],)],
        "step_times array<timestamp>")
    steps = [(r.step, r.entered, r.converted, r.conversion_from_previous, r.median_seconds_to_convert,
              r.p90_seconds_to_convert, r.median_seconds_from_start) for r in summarize(counted, spec).collect()]
    # The optional add: 2 of 4. The order is entered by the 4 who viewed (not the 2 who added);
    # its time counts from the previous *matched* step: 10 s from the view, 5 s from the add →
    # median 7.5, p90 5 + 0.9 × 5 = 9.5; from the start 10 s both.
    assert steps == [
        (1, 4, 4, 1.0, None, None, None),
        (2, 4, 2, 0.5, pytest.approx(5.0), pytest.approx(5.0), pytest.approx(5.0)),
        (3, 4, 2, 0.5, pytest.approx(7.5), pytest.approx(9.5), pytest.approx(10.0)),
    ]
    unordered = funnel(VIEWED, ADDED, ORDERED, order="unordered")
    assert [r.step_name for r in summarize(counted, unordered).collect()] == [
        "Completed 1 step", "Completed 2 steps", "Completed 3 steps"]


def test_trend_by_day_with_and_without_per_day(spark_events: DataFrame, by_user: DataFrame) -> None:
    # Best attempt per person: day 0 has u1..u4 (u1 and u2 completed), day 1 has u5.
    assert [tuple(r) for r in trend(by_user, spark_funnel()).collect()] == [(DAY_0, 4, 2, 0.5), (DAY_1, 1, 0, 0.0)]
    # Per day, u4 also counts on day 1 (its view at T0 + 1 day).
    per_day = trend(attempts(spark_events, spark_funnel(), per_day=True), spark_funnel())
    assert [tuple(r) for r in per_day.collect()] == [(DAY_0, 4, 2, 0.5), (DAY_1, 2, 0, 0.0)]


def test_run_funnel_breaks_down_by_last_touch(spark_events: DataFrame) -> None:
    spec = spark_funnel(breakdown=("campaign_source",), attribution="last_touch")
    result = run_funnel(spark_events, spec)
    result.attempts.cache()   # steps and trend read the cached attempts: one matching pass
    # Last matched event: u1 the order (email), u2 the order (null), u3 the add (bing),
    # u4 the add (null), u5 the view (email).
    assert sorted((r.person_id, r.campaign_source) for r in result.attempts.collect()) == [
        ("u1", "email"), ("u2", None), ("u3", "bing"), ("u4", None), ("u5", "email")]
    steps = [(r.campaign_source, r.step, r.entered, r.converted) for r in result.steps.collect()]
    trend_rows = [tuple(r) for r in result.trend.collect()]
    result.attempts.unpersist()
    # null: u2 (3 steps), u4 (2 steps); bing: u3 (2 steps); email: u1 (3 steps), u5 (1 step).
    assert steps == [
        (None, 1, 2, 2), (None, 2, 2, 2), (None, 3, 2, 1),
        ("bing", 1, 1, 1), ("bing", 2, 1, 1), ("bing", 3, 1, 0),
        ("email", 1, 2, 2), ("email", 2, 2, 1), ("email", 3, 1, 1),
    ]
    # Day 0: null u2 (completed) and u4; bing u3; email u1 (completed). Day 1: email u5.
    assert trend_rows == [(DAY_0, None, 2, 1, 0.5), (DAY_0, "bing", 1, 0, 0.0), (DAY_0, "email", 1, 1, 1.0),
                          (DAY_1, "email", 1, 0, 0.0)]


def test_missing_columns_and_properties_are_named(spark_events: DataFrame, by_user: DataFrame) -> None:
    with pytest.raises(ValueError, match="lack column.*session_key"):
        attempts(spark_events.drop("session_key"), spark_funnel(count_by="session"))
    # Without the JSON column, a property that is not a column cannot be read.
    with pytest.raises(ValueError, match="property 'category'"):
        attempts(spark_events.drop("properties"), spark_funnel())
    with pytest.raises(ValueError, match=r"attempts lack column\(s\) campaign_source"):
        summarize(by_user, spark_funnel(breakdown=("campaign_source",)))


def test_summary_rows_have_the_documented_types(by_user: DataFrame) -> None:
    steps = summarize(by_user, spark_funnel(), by=("day",))
    assert [(f.name, f.dataType.simpleString()) for f in steps.schema.fields] == [
        ("day", "date"), ("step", "int"), ("step_name", "string"), ("entered", "bigint"), ("converted", "bigint"),
        ("conversion_from_previous", "double"), ("conversion_from_first", "double"), ("drop_off", "bigint"),
        ("drop_off_rate", "double"), ("median_seconds_to_convert", "double"), ("p90_seconds_to_convert", "double"),
        ("median_seconds_from_start", "double"), ("p90_seconds_from_start", "double")]
