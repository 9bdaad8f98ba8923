"""The simulator's record stream, checked from the outside.

Every record is judged by an independent pure-Python reading of the contract rules (``check`` below:
json.loads and field checks, no simulator code), and the ground truth is compared with a recount of
the bytes that reached the sink.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lakepulse.contract import (
    CALL_TYPES,
    KNOWN_TRACK_EVENTS,
    MAX_FUTURE_SKEW_SECONDS,
    MAX_PAYLOAD_BYTES,
    ORDER_COMPLETED,
    ORDER_EVENTS,
    RULE_EVENT_NAME,
    RULE_IDENTITY,
    RULE_JSON_OBJECT,
    RULE_KNOWN_EVENT,
    RULE_KNOWN_TYPE,
    RULE_MESSAGE_ID,
    RULE_NAMES,
    RULE_ORDER_PRODUCTS,
    RULE_PAYLOAD_SIZE,
    RULE_PRICES_NUMERIC,
    RULE_REVENUE_NUMERIC,
    RULE_TIMESTAMP_PARSEABLE,
    RULE_TIMESTAMP_PLAUSIBLE,
    identify_event,
    page_event,
    track_event,
)
from lakepulse.io.kafka import ListSink
from lakepulse.settings import SimulatorSettings
from lakepulse.simulate import GroundTruth, SimulatedRecord, Simulation, generate, run_simulation

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EVENTS = 30_000
# Higher fault rates than the defaults, so every kind is well represented in a small run.
CONFIG = SimulatorSettings(
    users=2000, products=400, history_days=2.0,
    duplicate_rate=0.02, malformed_json_rate=0.01, missing_message_id_rate=0.01, missing_identity_rate=0.01,
    wrong_type_rate=0.02, unknown_event_rate=0.01, future_timestamp_rate=0.01, oversized_rate=0.005,
    late_rate=0.02,
)
RATES = {
    "duplicate": CONFIG.duplicate_rate, "malformed_json": CONFIG.malformed_json_rate,
    "missing_message_id": CONFIG.missing_message_id_rate, "missing_identity": CONFIG.missing_identity_rate,
    "wrong_type": CONFIG.wrong_type_rate, "unknown_event": CONFIG.unknown_event_rate,
    "future_timestamp": CONFIG.future_timestamp_rate, "oversized": CONFIG.oversized_rate,
    "late": CONFIG.late_rate,
}
# The rule each fault kind must fail (wrong_type: one of two).
EXPECTED_RULES = {
    "malformed_json": {RULE_JSON_OBJECT}, "missing_message_id": {RULE_MESSAGE_ID},
    "missing_identity": {RULE_IDENTITY}, "wrong_type": {RULE_REVENUE_NUMERIC, RULE_PRICES_NUMERIC},
    "unknown_event": {RULE_KNOWN_EVENT}, "future_timestamp": {RULE_TIMESTAMP_PLAUSIBLE},
    "oversized": {RULE_PAYLOAD_SIZE},
}
TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
HELD_BACK = timedelta(minutes=2)  # a late event's receivedAt - timestamp is at least this


# ---------------------------------------------------------------------------------------------
# An independent reading of the contract rules
# ---------------------------------------------------------------------------------------------
def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def event_time(event: dict[str, Any]) -> datetime | None:
    """timestamp, else receivedAt - (sentAt - originalTimestamp)."""
    if _time(event.get("timestamp")):
        return _time(event["timestamp"])
    received, sent, original = (_time(event.get(k)) for k in ("receivedAt", "sentAt", "originalTimestamp"))
    return received - (sent - original) if received and sent and original else None


def check(value: bytes, kafka_time: datetime) -> list[str]:
    """The contract rules ``value`` fails, in RULE_NAMES order."""
    failed = set()
    if len(value) > MAX_PAYLOAD_BYTES:
        failed.add(RULE_PAYLOAD_SIZE)
    try:
        event = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        event = None
    if not isinstance(event, dict):
        return [RULE_JSON_OBJECT, *sorted(failed)]
    call_type = _text(event.get("type"))
    if not _text(event.get("messageId")):
        failed.add(RULE_MESSAGE_ID)
    if call_type == "alias":
        if not (_text(event.get("userId")) and _text(event.get("previousId"))):
            failed.add(RULE_IDENTITY)
    elif not (_text(event.get("anonymousId")) or _text(event.get("userId"))):
        failed.add(RULE_IDENTITY)
    if call_type not in CALL_TYPES:
        failed.add(RULE_KNOWN_TYPE)
    name = _text(event.get("event"))
    if call_type == "track" and not name:
        failed.add(RULE_EVENT_NAME)
    if call_type == "track" and name and name not in KNOWN_TRACK_EVENTS:
        failed.add(RULE_KNOWN_EVENT)
    times_ok = all(field not in event or _time(event[field]) for field in TIME_FIELDS)
    moment = event_time(event)
    if not times_ok or moment is None:
        failed.add(RULE_TIMESTAMP_PARSEABLE)
    if moment is not None and (moment < datetime(2000, 1, 1, tzinfo=UTC)
                               or moment > kafka_time + timedelta(seconds=MAX_FUTURE_SKEW_SECONDS)):
        failed.add(RULE_TIMESTAMP_PLAUSIBLE)
    properties = event.get("properties") if isinstance(event.get("properties"), dict) else {}
    if any(field in properties and not _number(properties[field]) for field in ("revenue", "total", "price")):
        failed.add(RULE_REVENUE_NUMERIC)
    products = properties.get("products") if isinstance(properties.get("products"), list) else []
    if any(isinstance(p, dict) and any(f in p and not _number(p[f]) for f in ("price", "quantity")) for p in products):
        failed.add(RULE_PRICES_NUMERIC)
    if call_type == "track" and name in ORDER_EVENTS and not products:
        failed.add(RULE_ORDER_PRODUCTS)
    return [rule for rule in RULE_NAMES if rule in failed]


# ---------------------------------------------------------------------------------------------
# One run, shared by the tests of this module
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run() -> tuple[list[SimulatedRecord], GroundTruth]:
    """The records with the simulator's own labels (what each is meant to be), and the truth."""
    truth = GroundTruth(Simulation(CONFIG, events=EVENTS, now=NOW), topic="t")
    records = list(truth.simulation.records())
    for record in records:
        truth.add(record)
    return records, truth


@pytest.fixture(scope="module")
def labelled(run) -> list[SimulatedRecord]:
    return run[0]


@pytest.fixture(scope="module")
def verdicts(labelled) -> list[list[str]]:
    """The rules each record fails, by the independent check (Kafka time: NOW, the earliest send)."""
    return [check(record.value, kafka_time=NOW) for record in labelled]


@pytest.fixture(scope="module")
def sent() -> tuple[list[tuple[bytes | None, bytes | None]], dict[str, Any]]:
    """What reached a sink through run_simulation, and the ground truth document."""
    sink = ListSink()
    truth = run_simulation(sink, CONFIG, events=EVENTS, now=NOW, topic="t")
    return sink.records, truth.to_dict()


@pytest.fixture(scope="module")
def valid_events(labelled: list[SimulatedRecord]) -> list[dict[str, Any]]:
    """The valid records' events in send order, first sends only (late ones included)."""
    return [json.loads(r.value) for r in labelled if r.fault in (None, "late")]


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------
def _small(seed: int) -> list[tuple[bytes | None, bytes]]:
    config = replace(CONFIG, users=300, products=100)
    return [(r.key, r.value) for r in generate(config, 3000, NOW, seed=seed)]


def test_the_same_seed_and_now_give_byte_identical_records() -> None:
    first, second = _small(7), _small(7)
    assert len(first) == 3000
    assert first == second


def test_a_different_seed_gives_different_records() -> None:
    first, other = _small(7), _small(8)
    assert len(other) == 3000
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 2900


def test_run_simulation_sends_exactly_the_generated_records(labelled, sent) -> None:
    records, truth = sent
    assert records == [(r.key, r.value) for r in labelled]
    assert truth["records_sent"] == EVENTS


def test_a_simulation_is_read_once_and_needs_a_record() -> None:
    simulation = Simulation(replace(CONFIG, users=10, products=10), events=5, now=NOW)
    assert len(list(simulation.records())) == 5
    with pytest.raises(RuntimeError, match="once"):
        simulation.records()
    with pytest.raises(ValueError, match="at least 1"):
        Simulation(CONFIG, events=0, now=NOW)
    with pytest.raises(ValueError, match="timezone"):
        Simulation(CONFIG, events=5, now=datetime(2026, 3, 1))


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------
def test_every_record_fails_exactly_the_rule_of_its_kind(labelled, verdicts) -> None:
    seen: set[bytes] = set()
    for record, failed in zip(labelled, verdicts, strict=True):
        if record.fault in EXPECTED_RULES:
            assert len(failed) == 1 and failed[0] in EXPECTED_RULES[record.fault], (record.fault, failed)
            assert record.rule == failed[0]
        else:  # valid first sends, late events and duplicates pass every rule
            assert failed == [], (record.fault, failed, record.value[:300])
            assert record.rule is None
        if record.fault == "duplicate":
            assert record.value in seen
        seen.add(record.value)


def test_each_fault_kind_is_sent_at_its_rate(labelled, verdicts) -> None:
    observed: Counter[str] = Counter()
    by_rule = {next(iter(rules)): kind for kind, rules in EXPECTED_RULES.items() if len(rules) == 1}
    message_ids: set[str] = set()
    for record, failed in zip(labelled, verdicts, strict=True):  # classified from the bytes alone
        if failed:
            observed[by_rule.get(failed[0], "wrong_type")] += 1
            continue
        event = json.loads(record.value)
        if event["messageId"] in message_ids:
            observed["duplicate"] += 1
            continue
        message_ids.add(event["messageId"])
        if _time(event["receivedAt"]) - _time(event["timestamp"]) >= HELD_BACK:
            observed["late"] += 1
    for kind, rate in RATES.items():
        assert observed[kind] / EVENTS == pytest.approx(rate, abs=0.001), kind
    assert observed == Counter(r.fault for r in labelled if r.fault)


def test_wrong_types_fail_both_kinds_of_numeric_rule(labelled) -> None:
    rules = Counter(r.rule for r in labelled if r.fault == "wrong_type")
    assert rules[RULE_REVENUE_NUMERIC] > 50 and rules[RULE_PRICES_NUMERIC] > 50


def test_faulty_records_carry_fresh_message_ids(labelled) -> None:
    valid_ids = {json.loads(r.value)["messageId"] for r in labelled if r.fault in (None, "late")}
    for record in labelled:
        if record.fault in EXPECTED_RULES and record.fault != "malformed_json":
            event = json.loads(record.value)
            assert event.get("messageId") not in valid_ids


def test_future_timestamps_are_more_than_a_day_ahead_and_oversized_beyond_the_limit(labelled) -> None:
    future = [json.loads(r.value) for r in labelled if r.fault == "future_timestamp"]
    assert future and all(event_time(e) >= NOW + timedelta(days=1) for e in future)
    # all four time fields moved, so either reading of event time is in the future
    assert all(_time(e["receivedAt"]) - (_time(e["sentAt"]) - _time(e["originalTimestamp"]))
               >= NOW + timedelta(days=1) for e in future)
    oversized = [r.value for r in labelled if r.fault == "oversized"]
    assert oversized and all(MAX_PAYLOAD_BYTES < len(v) < 2 * MAX_PAYLOAD_BYTES for v in oversized)


def test_duplicates_repeat_a_recent_valid_record(labelled) -> None:
    positions: dict[bytes, int] = {}
    for index, record in enumerate(labelled):
        if record.fault == "duplicate":
            original = positions[record.value]
            assert labelled[original].fault in (None, "late")
            assert labelled[original].key == record.key
        else:
            positions.setdefault(record.value, index)


def test_late_events_are_valid_and_arrive_out_of_order(valid_events) -> None:
    latest_before = datetime.min.replace(tzinfo=UTC)
    late = out_of_order = 0
    for event in valid_events:
        moment = _time(event["timestamp"])
        held = _time(event["receivedAt"]) - moment
        if held >= HELD_BACK:
            late += 1
            assert held <= timedelta(hours=8, seconds=3)
            out_of_order += moment < latest_before - timedelta(minutes=1)  # newer events went first
        else:
            assert held <= timedelta(seconds=33)  # batching (30 s at most) + network
        latest_before = max(latest_before, moment)
    assert late == pytest.approx(CONFIG.late_rate * EVENTS, abs=5)
    assert out_of_order >= late - 3  # the last few may go out when nothing newer is left


# ---------------------------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------------------------
def test_ground_truth_equals_an_independent_recount(sent, verdicts) -> None:
    records, truth = sent  # the same records as `labelled` (checked above), so their verdicts apply
    quarantine: Counter[str] = Counter()
    by_name: Counter[str] = Counter()
    message_ids: set[str] = set()
    duplicates = late = orders = 0
    revenue = 0.0
    user_of_device: dict[str, str] = {}
    per_device: dict[str, list[Any]] = defaultdict(lambda: [0, 0, 0.0])
    for (key, value), failed in zip(records, verdicts, strict=True):
        if failed:
            assert len(failed) == 1
            quarantine[failed[0]] += 1
            continue
        event = json.loads(value)
        assert key == (event.get("anonymousId") or event["userId"]).encode()
        if event["messageId"] in message_ids:
            duplicates += 1
            continue
        message_ids.add(event["messageId"])
        late += _time(event["receivedAt"]) - _time(event["timestamp"]) >= HELD_BACK
        name = event.get("event") or event["type"]
        by_name[name] += 1
        device = per_device[event["anonymousId"]]
        device[0] += 1
        if event.get("userId"):
            user_of_device[event["anonymousId"]] = event["userId"]
        if name == ORDER_COMPLETED:
            orders += 1
            revenue += event["properties"]["revenue"]
            device[1] += 1
            device[2] += event["properties"]["revenue"]

    assert truth["records_sent"] == len(records) == EVENTS
    assert truth["unique_valid_events"] == len(message_ids)
    assert truth["duplicates_sent"] == duplicates
    assert truth["late_events_sent"] == late
    assert truth["expected_quarantine"] == {rule: quarantine[rule] for rule in RULE_NAMES}
    assert truth["quarantine_total"] == sum(quarantine.values())
    assert truth["records_sent"] == truth["unique_valid_events"] + truth["quarantine_total"] + duplicates
    assert truth["valid_events_by_name"] == dict(by_name)
    assert truth["valid_orders"] == orders
    assert truth["valid_revenue"] == pytest.approx(revenue, abs=0.005)

    users: dict[str, dict[str, Any]] = {}
    for device, (events, device_orders, device_revenue) in per_device.items():
        entry = users.setdefault(user_of_device.get(device, device), {"events": 0, "orders": 0, "revenue": 0.0,
                                                                       "anonymous_ids": []})
        entry["events"] += events
        entry["orders"] += device_orders
        entry["revenue"] += device_revenue
        entry["anonymous_ids"].append(device)
    assert set(truth["users"]) == set(users)
    for user, entry in users.items():
        expected = truth["users"][user]
        assert expected["valid_events"] == entry["events"]
        assert expected["orders"] == entry["orders"]
        assert expected["revenue"] == pytest.approx(entry["revenue"], abs=0.005)
        assert expected["anonymous_ids"] == sorted(entry["anonymous_ids"])
        assert expected["identified"] == (user in user_of_device.values())


def test_ground_truth_is_json_and_deterministic(run, sent, tmp_path) -> None:
    _, truth = sent
    path = run[1].write(tmp_path / "truth" / "t.json")
    assert json.loads(path.read_text()) == truth  # the same inputs, run twice
    assert truth["now"] == NOW.isoformat() and truth["seed"] == CONFIG.seed
    assert set(truth["faults"]) == set(RATES)


# ---------------------------------------------------------------------------------------------
# The events themselves
# ---------------------------------------------------------------------------------------------
def _rebuilt(event: dict[str, Any]) -> dict[str, Any]:
    """The same event made by the contract builders from its fields."""
    common = {
        "message_id": event["messageId"], "anonymous_id": event.get("anonymousId"), "user_id": event.get("userId"),
        "context": event["context"], "timestamp": _time(event["timestamp"]),
        "original_timestamp": _time(event["originalTimestamp"]), "sent_at": _time(event["sentAt"]),
        "received_at": _time(event["receivedAt"]),
    }
    if event["type"] == "track":
        return track_event(event["event"], properties=event["properties"], **common)
    if event["type"] == "page":
        return page_event(event["name"], properties=event["properties"], **common)
    assert event["type"] == "identify"
    return identify_event(traits=event["traits"], **common)


def test_valid_events_are_what_the_contract_builders_make(valid_events) -> None:
    for event in valid_events:
        assert _rebuilt(event) == event


def test_event_times_follow_the_skew_formula_and_end_just_before_now(valid_events) -> None:
    times = []
    skews = []
    for event in valid_events:
        timestamp, received = _time(event["timestamp"]), _time(event["receivedAt"])
        sent, original = _time(event["sentAt"]), _time(event["originalTimestamp"])
        assert timestamp == received - (sent - original)
        assert original <= sent  # one device clock
        assert timestamp <= received <= NOW
        times.append(timestamp)
        skews.append(abs((original - timestamp).total_seconds()))
    assert min(times) >= NOW - timedelta(days=CONFIG.history_days, minutes=2)
    assert max(times) >= NOW - timedelta(minutes=30)
    assert sum(s > 60 for s in skews) > 0.05 * len(skews)  # some device clocks are minutes or hours off
    assert sum(s < 5 for s in skews) > 0.7 * len(skews)


def test_traffic_follows_a_daily_rhythm(valid_events) -> None:
    hours = Counter(_time(e["timestamp"]).hour for e in valid_events)
    evening = sum(hours[h] for h in (18, 19, 20, 21))
    night = sum(hours[h] for h in (2, 3, 4, 5))
    assert evening > 5 * night


def test_sessions_carry_a_session_id_campaigns_pages_and_devices(valid_events) -> None:
    campaigns = 0
    for event in valid_events:
        context = event["context"]
        assert isinstance(context["sessionId"], int)
        assert context["sessionId"] <= _time(event["timestamp"]).timestamp() * 1000
        assert context["ip"].count(".") == 3 and context["userAgent"].startswith("Mozilla/5.0")
        assert set(context["page"]) == {"path", "url", "title", "referrer"}
        if "campaign" in context:
            campaigns += 1
            assert set(context["campaign"]) == {"name", "source", "medium", "term", "content"}
        if event["type"] == "page":
            assert event["properties"] == context["page"]
    assert 0.1 * len(valid_events) < campaigns < 0.6 * len(valid_events)


def test_the_funnel_narrows_at_every_step(sent) -> None:
    _, truth = sent
    names = truth["valid_events_by_name"]
    assert (names["Product Viewed"] > 3 * names["Product Added"] > 0
            and names["Product Added"] > names["Checkout Started"] > names[ORDER_COMPLETED] > 0)
    assert names["Cart Viewed"] == names["Checkout Started"]


def test_orders_have_products_and_revenue_adds_up(valid_events) -> None:
    orders = [e for e in valid_events if e.get("event") == ORDER_COMPLETED]
    assert len({e["properties"]["order_id"] for e in orders}) == len(orders)
    for event in orders:
        properties = event["properties"]
        assert properties["currency"] == CONFIG.currency
        assert set(properties["products"][0]) == {"product_id", "sku", "name", "brand", "category", "price",
                                                  "quantity"}
        total = sum(p["price"] * p["quantity"] for p in properties["products"])
        assert properties["revenue"] == pytest.approx(total, abs=0.005)
        assert event.get("userId")  # ordering needs an identified device


def test_devices_become_known_through_identify(valid_events, sent) -> None:
    _, truth = sent
    identified_at: dict[str, datetime] = {}
    for event in valid_events:
        if event["type"] == "identify":
            assert event["traits"]["email"].count("@") == 1
            assert event["context"]["traits"]["email"] == event["traits"]["email"]
            identified_at.setdefault(event["anonymousId"], _time(event["timestamp"]))
    for event in valid_events:
        first = identified_at.get(event["anonymousId"])
        if "userId" not in event:  # anonymous until the device's first identify
            assert first is None or _time(event["timestamp"]) <= first
    two_devices = [u for u, e in truth["users"].items() if len(e["anonymous_ids"]) == 2]
    assert len(two_devices) > 10 and all(truth["users"][u]["identified"] for u in two_devices)
    anonymous_only = [e for e in truth["users"].values() if not e["identified"]]
    assert anonymous_only and all(e["orders"] == 0 for e in anonymous_only)


def test_personas_behave_differently(valid_events, sent) -> None:
    _, truth = sent
    persona_of_device = {d: e["persona"] for e in truth["users"].values() for d in e["anonymous_ids"]}
    per_persona: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in truth["users"].values():
        per_persona[entry["persona"]].append(entry)

    def revenue_per_user(persona: str) -> float:
        return sum(e["revenue"] for e in per_persona[persona]) / len(per_persona[persona])

    assert revenue_per_user("loyal_high_spender") > 2 * revenue_per_user("window_shopper")
    assert revenue_per_user("loyal_high_spender") > revenue_per_user("bargain_hunter")
    assert all(e["orders"] <= 1 for e in per_persona["one_time_buyer"])
    prices: dict[str, list[float]] = defaultdict(list)
    deals: Counter[str] = Counter()
    campaign_events: Counter[str] = Counter()
    for event in valid_events:
        persona = persona_of_device[event["anonymousId"]]
        if event.get("event") == "Product Viewed":
            prices[persona].append(event["properties"]["price"])
        if "campaign" in event["context"]:
            campaign_events[persona] += 1
            deals[persona] += event["context"]["campaign"]["term"] in ("discount", "running shoes", "abandoned_cart",
                                                                       "clearance sale", "coupon")

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    assert median(prices["bargain_hunter"]) < median(prices["loyal_high_spender"])
    assert deals["bargain_hunter"] / campaign_events["bargain_hunter"] > 0.6
    assert deals["loyal_high_spender"] / campaign_events["loyal_high_spender"] < 0.4

    def order_value(persona: str) -> float:
        entries = [e for e in per_persona[persona] if e["orders"]]
        return sum(e["revenue"] for e in entries) / sum(e["orders"] for e in entries)

    assert order_value("loyal_high_spender") > 3 * order_value("bargain_hunter")
    assert sum(e["orders"] for e in per_persona["window_shopper"]) < 0.05 * len(per_persona["window_shopper"])
    # When they come: dormant people only early on; a one-time buyer's visits within a day.
    times: dict[str, list[datetime]] = defaultdict(list)
    for event in valid_events:
        times[event["anonymousId"]].append(_time(event["timestamp"]))
    start = NOW - timedelta(days=CONFIG.history_days)
    half_way = start + timedelta(days=CONFIG.history_days / 2)
    for entry in per_persona["dormant"]:
        assert max(max(times[d]) for d in entry["anonymous_ids"]) < half_way
    for entry in per_persona["one_time_buyer"]:
        moments = [t for d in entry["anonymous_ids"] for t in times[d]]
        assert max(moments) - min(moments) < timedelta(days=1)


def test_product_popularity_is_skewed(valid_events) -> None:
    views = Counter(e["properties"]["product_id"] for e in valid_events if e.get("event") == "Product Viewed")
    top = sum(count for _, count in views.most_common(CONFIG.products // 10))
    assert top > 0.4 * sum(views.values())


def test_the_persona_mix_follows_the_settings() -> None:
    shares = {"window_shopper": 0.4, "bargain_hunter": 0.1, "loyal_high_spender": 0.2, "one_time_buyer": 0.2,
              "dormant": 0.1}
    config = replace(CONFIG, users=5000, **{f"persona_{name}": share for name, share in shares.items()})
    truth = GroundTruth(Simulation(config, events=1, now=NOW)).to_dict()
    for name, share in shares.items():
        assert truth["persona_mix"][name] / 5000 == pytest.approx(share, abs=0.03)
    assert sum(truth["persona_mix"].values()) == 5000
