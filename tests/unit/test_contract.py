"""The contract's validation rules on hand-built good and bad events (one Spark action per test)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lakepulse import contract as c

KAFKA_TIME = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _good(**changes) -> dict:
    event = c.track_event(
        c.ORDER_COMPLETED, message_id="m-1", anonymous_id="a-1", user_id="u-1",
        timestamp=datetime(2026, 3, 1, 11, 59, tzinfo=UTC),
        properties={"order_id": "o-1", "revenue": 25.5, "currency": "EUR",
                    "products": [c.product_line("p-1", price=12.75, quantity=2, category="shoes")]},
        context={"ip": "203.0.113.7", "campaign": {"source": "google", "medium": "cpc"},
                 "page": {"path": "/checkout"}, "sessionId": "s-1"},
    )
    event.update(changes)
    return {k: v for k, v in event.items() if v is not ...}


def _results(spark, payloads: dict[str, bytes | None], modes: dict[str, str] | None = None) -> dict[str, dict]:
    rows = [(name, value, KAFKA_TIME) for name, value in payloads.items()]
    frame = spark.createDataFrame(rows, "case string, value binary, kafka_timestamp timestamp")
    checked = c.with_rule_results(c.parse_events(frame), modes or {})
    return {r["case"]: r.asDict() for r in checked.drop("_v", "_checks").collect()}


def test_a_good_order_passes_every_rule_and_is_typed(spark):
    event = _good(shoeSize=42)
    row = _results(spark, {"good": c.encode(event)})["good"]
    assert row["failed_rules"] == [] and row["warned_rules"] == []
    assert (row["message_id"], row["type"], row["event"], row["anonymous_id"], row["user_id"]) == (
        "m-1", "track", "Order Completed", "a-1", "u-1")
    assert row["event_time"] == datetime(2026, 3, 1, 11, 59)
    assert row["event_date"].isoformat() == "2026-03-01"
    assert (row["order_id"], row["revenue"], row["currency"]) == ("o-1", 25.5, "EUR")
    assert [p.asDict() for p in row["products"]] == [
        {"product_id": "p-1", "sku": None, "name": None, "brand": None, "category": "shoes",
         "price": 12.75, "quantity": 2}]
    assert (row["campaign_source"], row["campaign_medium"], row["page_path"], row["session_id"]) == (
        "google", "cpc", "/checkout", "s-1")
    assert json.loads(row["extra"]) == {"shoeSize": 42}  # unknown fields are kept, not rejected
    assert json.loads(row["properties"])["order_id"] == "o-1"


def test_event_time_falls_back_to_clock_skew_correction(spark):
    event = _good(timestamp=...,
                  originalTimestamp="2026-03-01T10:00:00.000Z",  # device clock
                  sentAt="2026-03-01T10:00:05.000Z",            # device clock, 5 s later
                  receivedAt="2026-03-01T11:00:07.000Z")        # server clock (device is 1 h slow)
    row = _results(spark, {"skewed": c.encode(event)})["skewed"]
    assert row["failed_rules"] == []
    assert row["event_time"] == datetime(2026, 3, 1, 11, 0, 2)  # received − (sent − original)


def test_an_object_after_leading_whitespace_is_accepted(spark):
    row = _results(spark, {"spaced": b" \r\n\t" + c.encode(_good())})["spaced"]
    assert (row["failed_rules"], row["message_id"]) == ([], _good()["messageId"])


BAD_CASES = {
    # case: (payload, the rules it must fail)
    "not_json": (b'{"type":"track","messageId":"m', [c.RULE_JSON_OBJECT]),
    "json_array": (b"[1,2,3]", [c.RULE_JSON_OBJECT]),
    "json_array_after_whitespace": (b' \n [{"type":"track"}]', [c.RULE_JSON_OBJECT]),
    "json_string": (b'"{not an object}"', [c.RULE_JSON_OBJECT]),
    "json_null": (b"null", [c.RULE_JSON_OBJECT]),
    "not_utf8": (b"\xff\xfe\x00", [c.RULE_JSON_OBJECT]),
    "empty": (b"", [c.RULE_JSON_OBJECT]),
    "no_value": (None, [c.RULE_JSON_OBJECT]),
    "no_message_id": (c.encode(_good(messageId=...)), [c.RULE_MESSAGE_ID]),
    "blank_message_id": (c.encode(_good(messageId="  ")), [c.RULE_MESSAGE_ID]),
    "no_identity": (c.encode(_good(anonymousId=..., userId=...)), [c.RULE_IDENTITY]),
    "alias_without_previous": (c.encode({"type": "alias", "messageId": "m", "userId": "u",
                                         "timestamp": "2026-03-01T11:00:00Z"}), [c.RULE_IDENTITY]),
    "unknown_type": (c.encode(_good(type="purchase")), [c.RULE_KNOWN_TYPE]),
    "numeric_type": (c.encode(_good(type=7)), [c.RULE_KNOWN_TYPE]),
    "track_without_event": (c.encode(_good(event=...)), [c.RULE_EVENT_NAME]),
    "unknown_event": (c.encode(_good(event="Product Teleported")), [c.RULE_KNOWN_EVENT]),
    "bad_timestamp": (c.encode(_good(timestamp="yesterday")), [c.RULE_TIMESTAMP_PARSEABLE]),
    "no_time_at_all": (c.encode(_good(timestamp=...)), [c.RULE_TIMESTAMP_PARSEABLE]),
    "future": (c.encode(_good(timestamp="2026-03-01T13:00:01Z")), [c.RULE_TIMESTAMP_PLAUSIBLE]),
    "ancient": (c.encode(_good(timestamp="1999-12-31T23:59:59Z")), [c.RULE_TIMESTAMP_PLAUSIBLE]),
    "revenue_string": (c.encode(_good(properties={**_good()["properties"], "revenue": "25.50"})),
                       [c.RULE_REVENUE_NUMERIC]),
    "price_string": (c.encode(_good(properties={**_good()["properties"], "products": [
        {"product_id": "p-1", "price": "12.75", "quantity": 2}]})), [c.RULE_PRICES_NUMERIC]),
    "order_without_products": (c.encode(_good(properties={"order_id": "o-1", "revenue": 3})),
                               [c.RULE_ORDER_PRODUCTS]),
    "order_with_empty_products": (c.encode(_good(properties={"order_id": "o", "revenue": 3, "products": []})),
                                  [c.RULE_ORDER_PRODUCTS]),
    "oversized": (c.encode(_good(blob="x" * c.MAX_PAYLOAD_BYTES)), [c.RULE_PAYLOAD_SIZE]),
    "several_at_once": (c.encode(_good(messageId=..., type="track", event="Nope", timestamp="bad")),
                        [c.RULE_MESSAGE_ID, c.RULE_KNOWN_EVENT, c.RULE_TIMESTAMP_PARSEABLE]),
}


def test_each_bad_event_fails_exactly_its_rules(spark):
    results = _results(spark, {case: payload for case, (payload, _) in BAD_CASES.items()})
    failed = {case: results[case]["failed_rules"] for case in BAD_CASES}
    assert failed == {case: rules for case, (_, rules) in BAD_CASES.items()}


def test_every_rule_is_covered_by_a_bad_case():
    covered = {rule for _, rules in BAD_CASES.values() for rule in rules}
    assert covered == set(c.RULE_NAMES)


def test_a_page_identify_and_alias_pass(spark):
    t = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    payloads = {
        "page": c.encode(c.page_event("Home", message_id="p", anonymous_id="a", timestamp=t,
                                      properties={"path": "/", "referrer": "https://www.google.com/"})),
        "identify": c.encode(c.identify_event(message_id="i", user_id="u", anonymous_id="a", timestamp=t,
                                              traits={"email": "x@example.com"})),
        "alias": c.encode(c.alias_event(message_id="al", user_id="u", previous_id="old", timestamp=t)),
    }
    results = _results(spark, payloads)
    assert {k: v["failed_rules"] for k, v in results.items()} == {"page": [], "identify": [], "alias": []}
    assert results["page"]["page_path"] == "/"
    assert results["page"]["page_referrer"] == "https://www.google.com/"
    assert json.loads(results["identify"]["traits"]) == {"email": "x@example.com"}


@pytest.mark.parametrize(("mode", "failed", "warned"), [
    ("quarantine", [c.RULE_KNOWN_EVENT], []),
    ("warn", [], [c.RULE_KNOWN_EVENT]),
    ("off", [], []),
])
def test_rule_modes_come_from_configuration(spark, mode, failed, warned):
    row = _results(spark, {"x": c.encode(_good(event="Custom Thing"))}, {c.RULE_KNOWN_EVENT: mode})["x"]
    assert (row["failed_rules"], row["warned_rules"]) == (failed, warned)


def test_the_envelope_schema_reads_a_contract_event(spark):
    from pyspark.sql import functions as F

    event = _good()
    frame = spark.createDataFrame([(c.encode(event).decode(),)], "value string")
    row = frame.select(F.from_json("value", c.EVENT_SCHEMA).alias("e")).select("e.*").first()
    assert set(c.EVENT_SCHEMA.fieldNames()) == set(c.ENVELOPE_FIELDS)
    assert (row.type, row.messageId, row.anonymousId, row.event) == ("track", "m-1", "a-1", "Order Completed")
    assert row.context.campaign.source == "google" and row.context.page.path == "/checkout"
    assert json.loads(row.properties)["revenue"] == 25.5
