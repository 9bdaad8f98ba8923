"""The simulator's parts: time text, the timeline, persona quotas, fault allocation and builders,
its settings, the command's arguments, pacing and progress."""

from __future__ import annotations

import argparse
import io
import json
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakepulse.contract import (
    KNOWN_TRACK_EVENTS,
    MAX_PAYLOAD_BYTES,
    ORDER_COMPLETED,
    PRODUCT_VIEWED,
    RULE_PRICES_NUMERIC,
    RULE_REVENUE_NUMERIC,
    encode,
    identify_event,
    iso,
    track_event,
)
from lakepulse.io.kafka import ListSink
from lakepulse.paths import project_root
from lakepulse.settings import SettingsError, SimulatorSettings, load_settings
from lakepulse.simulate import command, faults
from lakepulse.simulate.clock import DAY_MS, HOUR_MS, from_ms, iso_ms, stamp, to_ms
from lakepulse.simulate.model import (
    DORMANT,
    LOYAL_HIGH_SPENDER,
    ONE_TIME_BUYER,
    PERSONAS,
    Page,
    Person,
    Persona,
    Timeline,
    build_catalogue,
    make_person,
    persona_quotas,
)
from lakepulse.simulate.runner import run_simulation
from lakepulse.simulate.schedule import MISSED_AFTER, VisitSchedule, rounded_visits
from lakepulse.simulate.wire import json_text, times_tail

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SMALL = SimulatorSettings(users=50, products=20)


# ---------------------------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------------------------
def test_time_text_is_the_contracts() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        ms = rng.randrange(0, 4_000_000_000_000)
        assert iso_ms(ms) == iso(from_ms(ms))
        assert to_ms(from_ms(ms)) == ms
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert to_ms(datetime(2026, 3, 1, 12, 0, 0, 999_999, tzinfo=UTC)) % 1000 == 999
    with pytest.raises(ValueError, match="timezone"):
        to_ms(datetime(2026, 3, 1))


def test_the_times_text_equals_the_stamped_fields() -> None:
    event: dict = {}
    stamp(event, to_ms(NOW), 250, 40, -1500)
    assert json.loads("{" + times_tail(to_ms(NOW), 250, 40, -1500)[1:]) == event
    assert event == {"originalTimestamp": "2026-03-01T11:59:58.500Z", "sentAt": "2026-03-01T11:59:58.750Z",
                     "receivedAt": "2026-03-01T12:00:00.290Z", "timestamp": "2026-03-01T12:00:00.040Z"}


def test_the_timeline_spreads_traffic_by_hour_and_stays_in_bounds() -> None:
    start = to_ms(NOW) - 7 * DAY_MS
    timeline = Timeline(start, to_ms(NOW))
    moments = [timeline.at(i / 10_000) for i in range(10_000)]
    assert moments == sorted(moments)
    assert moments[0] >= start and timeline.at(1.0) == to_ms(NOW) and timeline.at(1.5) == to_ms(NOW)
    hours = [(m // HOUR_MS) % 24 for m in moments]
    assert hours.count(20) > 5 * hours.count(4)
    with pytest.raises(ValueError):
        Timeline(start, start)


# ---------------------------------------------------------------------------------------------
# World and faults
# ---------------------------------------------------------------------------------------------
def test_persona_quotas_add_up_and_follow_the_shares() -> None:
    shares = {"a": 0.5, "b": 0.3, "c": 0.2}
    assert persona_quotas(10, shares) == {"a": 5, "b": 3, "c": 2}
    assert sum(persona_quotas(7, shares).values()) == 7
    assert persona_quotas(1001, shares)["a"] in (500, 501)


def test_the_catalogue_has_realistic_products_and_pages() -> None:
    catalogue = build_catalogue(200, "EUR", random.Random(1))
    assert len({p.product_id for p in catalogue.products}) == 200
    for product in catalogue.products:
        assert product.price > 0 and round(product.price, 2) == product.price
        assert json.loads(product.viewed_json) == product.viewed
        assert product.viewed["currency"] == "EUR"
    page = Page.at("/p/x", "X")
    assert json.loads(page.head_json + page.url_json + "}") == {
        "path": "/p/x", "url": "https://shop.example.com/p/x", "title": "X | Northwind Shop",
        "referrer": "https://shop.example.com/p/x"}


def _people(personas: list[Persona]) -> list[Person]:
    catalogue = build_catalogue(20, "USD", random.Random(1))
    rng = random.Random(2)
    return [make_person(index, persona, catalogue, 0.0, rng) for index, persona in enumerate(personas)]


def _hand_out(schedule: VisitSchedule, fraction: float | None = None) -> Counter[str]:
    """Every planned visit, asked for at ``fraction`` (else evenly through the run): visits per user id."""
    visits: Counter[str] = Counter()
    for number in range(schedule.planned):
        visits[schedule.next_visitor(number / schedule.planned if fraction is None else fraction).user_id] += 1
    return visits


def test_rounded_visits_keep_the_mean_and_stay_next_to_it() -> None:
    rng = random.Random(4)
    draws = [rounded_visits(2.3, rng) for _ in range(10_000)]
    assert set(draws) == {2, 3}
    assert sum(draws) / len(draws) == pytest.approx(2.3, abs=0.02)
    assert rounded_visits(4.0, rng) == 4


def test_regular_visits_are_sized_to_the_records_and_each_person_gets_their_share() -> None:
    loyal = PERSONAS[LOYAL_HIGH_SPENDER]
    people = _people([loyal] * 30)
    # 10 events a visit and records for 2 x persona.visits per person (activity 1): scale 2.
    records = 2 * round(sum(loyal.visits * p.activity * 10 for p in people))
    schedule = VisitSchedule(people, {loyal.name: 10.0}, records, random.Random(3))
    assert schedule.scale == pytest.approx(2.0, rel=1e-3)
    visits = _hand_out(schedule)
    assert sum(visits.values()) == schedule.planned and schedule.missed == schedule.returns == 0
    for person in people:  # the expected number, rounded down or up: no one comes 2 or 20 times
        expected = 2.0 * loyal.visits * person.activity
        assert int(expected) <= visits[person.user_id] <= int(expected) + 1
    assert schedule.next_visitor(1.0).persona is loyal and schedule.returns == 1  # the plan ran out


def test_dormant_visits_fall_at_the_start_and_late_ones_are_missed() -> None:
    dormant = PERSONAS[DORMANT]
    assert dormant.active_to + MISSED_AFTER < 0.5
    people = _people([dormant] * 40)
    early = VisitSchedule(people, {dormant.name: 4.0}, 10_000, random.Random(5))
    assert set(_hand_out(early, fraction=0.0)) == {p.user_id for p in people}  # each comes at least once
    assert early.missed == 0
    late = VisitSchedule(people, {dormant.name: 4.0}, 10_000, random.Random(5))
    _hand_out(late, fraction=0.5)  # half-way through the run every dormant visit is long past
    assert late.missed == late.planned and late.returns == late.planned


def test_one_time_buyers_do_not_come_back_after_their_order() -> None:
    once = PERSONAS[ONE_TIME_BUYER]
    assert once.max_orders == 1
    people = _people([once] * 10)
    for person in people[:5]:
        person.orders = 1
    schedule = VisitSchedule(people, {once.name: 10.0}, 1000, random.Random(6))
    made: Counter[str] = Counter()
    while True:
        person = schedule.next_visitor(0.0)
        if schedule.returns:  # the plan ran out: this one came unplanned
            break
        made[person.user_id] += 1
    assert set(made) == {p.user_id for p in people[5:]}  # everyone else came (at least once each)
    assert schedule.cancelled >= 5 and schedule.cancelled + sum(made.values()) == schedule.planned


def test_fault_counts_are_exact_and_leave_a_valid_record() -> None:
    rates = faults.fault_rates(SimulatorSettings(duplicate_rate=0.5, late_rate=0.5, malformed_json_rate=0.0,
                                                 missing_message_id_rate=0.0, missing_identity_rate=0.0,
                                                 wrong_type_rate=0.0, unknown_event_rate=0.0,
                                                 future_timestamp_rate=0.0, oversized_rate=0.0))
    counts = faults.allocate_faults(1000, rates)
    assert counts[faults.DUPLICATE] + counts[faults.LATE] == 999
    assert faults.allocate_faults(1, rates) == dict.fromkeys(faults.FAULT_KINDS, 0)
    assert faults.allocate_faults(10_000, faults.fault_rates(SimulatorSettings()))[faults.OVERSIZED] == 5


def _viewed() -> dict:
    return track_event(PRODUCT_VIEWED, message_id="m-1", anonymous_id="a-1", timestamp=NOW,
                       properties={"product_id": "p-1", "price": 9.99}, context={"page": {"path": "/"}})


def test_fault_builders_break_one_thing() -> None:
    rng = random.Random(5)
    event = _viewed()
    for _ in range(200):
        cut = faults.malformed_json(event, rng)
        assert encode(event).startswith(cut) and len(cut) < len(encode(event))
        with pytest.raises(ValueError):
            json.loads(cut)
    assert "messageId" not in faults.missing_message_id(event)
    assert not {"anonymousId", "userId"} & set(faults.missing_identity(event))
    renamed = faults.unknown_event(identify_event(message_id="m", user_id="u", traits={"email": "e"}), rng)
    assert renamed["type"] == "track" and renamed["event"] not in KNOWN_TRACK_EVENTS and "traits" not in renamed
    assert not set(faults.UNKNOWN_EVENT_NAMES) & set(KNOWN_TRACK_EVENTS)
    big = faults.oversized(event, rng)
    assert len(encode(big)) > MAX_PAYLOAD_BYTES and big["properties"]["price"] == 9.99
    assert event == _viewed()  # the original is untouched


def test_wrong_type_sends_a_price_as_text() -> None:
    product = build_catalogue(5, "USD", random.Random(2)).products[0]
    rules = set()
    for seed in range(20):
        broken, rule = faults.wrong_type(_viewed(), product, "USD", "ORD-1", random.Random(seed))
        rules.add(rule)
        if rule == RULE_REVENUE_NUMERIC:
            assert broken["event"] == PRODUCT_VIEWED and broken["properties"]["price"] == f"{product.price:.2f}"
        else:
            assert rule == RULE_PRICES_NUMERIC and broken["event"] == ORDER_COMPLETED
            assert isinstance(broken["properties"]["revenue"], float)
            assert broken["properties"]["products"][0]["price"] == f"{product.price:.2f}"
        assert broken["messageId"] == "m-1" and broken["anonymousId"] == "a-1"
    assert rules == {RULE_REVENUE_NUMERIC, RULE_PRICES_NUMERIC}


def test_json_text_is_the_contract_encoding() -> None:
    value = {"name": "Lumière Sérum", "price": 12.5, "n": [1, None, True], "nested": {"a": "\u2603"}}
    assert json_text(value).encode() == encode(value)


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------
def test_simulator_settings_load_with_defaults_and_overrides() -> None:
    settings = load_settings("local", environ={"LAKEPULSE_SIMULATOR__USERS": "123",
                                               "LAKEPULSE_SIMULATOR__LATE_RATE": "0.05"})
    assert settings.simulator.users == 123 and settings.simulator.late_rate == 0.05
    assert settings.simulator.ground_truth_dir == ".lakepulse/simulator"


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("DUPLICATE_RATE", "1.5", "simulator.duplicate_rate must be between 0 and 1"),
    ("PERSONA_DORMANT", "0.9", "simulator.persona_* shares must add up to 1, got 1.65"),
    ("LATE_RATE", "0.99", "simulator.*_rate fault rates must add up to at most 1"),
    ("USERS", "0", "simulator.users must be at least 1"),
    ("CURRENCY", "dollars", "simulator.currency must be a three-letter"),
    ("HISTORY_DAYS", "0", "simulator.history_days must be more than 0"),
])
def test_bad_simulator_settings_are_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings("local", environ={f"LAKEPULSE_SIMULATOR__{variable}": value})


# ---------------------------------------------------------------------------------------------
# The command's arguments
# ---------------------------------------------------------------------------------------------
def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_run_size_comes_from_events_or_rate_and_duration() -> None:
    settings = load_settings("local", environ={})
    assert command.request_from_args(_args("--events", "500"), settings, now=NOW).events == 500
    paced = command.request_from_args(_args("--rate", "200", "--duration", "2.5"), settings, now=NOW)
    assert (paced.events, paced.rate) == (500, 200.0)
    default = command.request_from_args(_args(), settings, now=NOW)
    assert default.events == settings.simulator.events and default.rate is None and default.now == NOW
    for argv, message in ((("--duration", "5"), "needs --rate"),
                          (("--events", "5", "--rate", "1", "--duration", "5"), "not both")):
        with pytest.raises(ValueError, match=message):
            command.request_from_args(_args(*argv), settings)


def test_arguments_override_settings_and_name_the_ground_truth_file() -> None:
    settings = load_settings("local", environ={})
    request = command.request_from_args(_args("--seed", "9", "--users", "77", "--topic", "t.x",
                                              "--now", "2026-03-01T12:00:00Z"), settings)
    assert (request.config.seed, request.config.users, request.topic) == (9, 77, "t.x")
    assert request.now == NOW
    assert request.ground_truth == project_root() / ".lakepulse" / "simulator" / "t.x.json"
    given = command.request_from_args(_args("--ground-truth", "/tmp/gt.json"), settings)
    assert given.ground_truth == Path("/tmp/gt.json") and given.topic == settings.kafka.events_topic


@pytest.mark.parametrize("argv", [["--events", "0"], ["--events", "x"], ["--rate", "-1"],
                                  ["--now", "2026-03-01T12:00:00"], ["--now", "yesterday"]])
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        _args(*argv)


def test_contradictory_arguments_exit_2_before_touching_kafka(capsys: pytest.CaptureFixture[str]) -> None:
    assert command.run(_args("--duration", "3"), load_settings("local", environ={})) == 2
    assert "--duration needs --rate" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Pacing and progress
# ---------------------------------------------------------------------------------------------
class FakeClock:
    """A monotonic clock that moves 10 µs per look and by whatever the code sleeps."""

    def __init__(self) -> None:
        self.now = 50.0
        self.slept = 0.0

    def __call__(self) -> float:
        self.now += 0.00001
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


def test_a_rate_paces_the_records_on_the_clock() -> None:
    clock = FakeClock()
    sink = ListSink()
    truth = run_simulation(sink, SMALL, events=3000, now=NOW, rate=1000.0, clock=clock, sleep=clock.sleep)
    assert sink.sent == 3000 == truth.records_sent
    assert clock.slept == pytest.approx(3.0, abs=0.05)
    assert truth.send_seconds == pytest.approx(3.0, abs=0.1)


def test_without_a_rate_nothing_sleeps_and_progress_reports_the_rate() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    run_simulation(ListSink(), SMALL, events=5000, now=NOW, progress=stream, clock=clock, sleep=clock.sleep)
    assert clock.slept == 0.0
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith("simulate: 5,000/5,000 records (100%)") and last.endswith("records/s")


def test_future_timestamps_clear_the_whole_paced_run() -> None:
    sink = ListSink()
    config = SimulatorSettings(users=50, products=20, future_timestamp_rate=0.05)
    clock = FakeClock()
    run_simulation(sink, config, events=2000, now=NOW, rate=2000 / (3 * 86_400), clock=clock, sleep=clock.sleep)
    events = []
    for _, value in sink.records:
        try:
            events.append(json.loads(value))
        except ValueError:  # the malformed ones
            continue
    futures = [e for e in events if e.get("timestamp", "") > "2026-03-02"]
    assert len(futures) == 100
    last_send = NOW + timedelta(days=3)
    assert all(datetime.fromisoformat(e["timestamp"]) > last_send + timedelta(days=1) for e in futures)
