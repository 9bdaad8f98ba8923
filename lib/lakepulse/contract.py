"""The event contract: the one owner of the event shape.

Lakepulse accepts the Segment spec envelope (also emitted by RudderStack and many SDKs) unchanged.
This module holds, in one place:

* the names: envelope fields, call types, the e-commerce v2 event names;
* Python helpers that build contract events as plain dicts (simulator, replay, tests);
* the Spark schema of an event and of a product line;
* the validation rules, as named column expressions that silver applies (see ``RULES``).

Example::

    event = track_event(PRODUCT_VIEWED, message_id="m-1", anonymous_id="a-1",
                        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
                        properties={"product_id": "p-9", "price": 19.99})
    payload = encode(event)   # compact UTF-8 JSON bytes
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------
CALL_TYPES = ("track", "page", "screen", "identify", "alias", "group")

PRODUCTS_SEARCHED = "Products Searched"
PRODUCT_LIST_VIEWED = "Product List Viewed"
PRODUCT_VIEWED = "Product Viewed"
PRODUCT_ADDED = "Product Added"
PRODUCT_REMOVED = "Product Removed"
CART_VIEWED = "Cart Viewed"
CHECKOUT_STARTED = "Checkout Started"
CHECKOUT_STEP_COMPLETED = "Checkout Step Completed"
PAYMENT_INFO_ENTERED = "Payment Info Entered"
ORDER_COMPLETED = "Order Completed"
ORDER_CANCELLED = "Order Cancelled"
ORDER_REFUNDED = "Order Refunded"
SIGNED_UP = "Signed Up"
SIGNED_IN = "Signed In"

# Track event names the pipeline knows (Segment e-commerce v2 plus account events).
KNOWN_TRACK_EVENTS = (
    PRODUCTS_SEARCHED, PRODUCT_LIST_VIEWED, PRODUCT_VIEWED, PRODUCT_ADDED, PRODUCT_REMOVED,
    CART_VIEWED, CHECKOUT_STARTED, CHECKOUT_STEP_COMPLETED, PAYMENT_INFO_ENTERED,
    ORDER_COMPLETED, ORDER_CANCELLED, ORDER_REFUNDED, SIGNED_UP, SIGNED_IN,
)
# Events whose properties must carry a non-empty products[] list.
ORDER_EVENTS = (ORDER_COMPLETED, ORDER_CANCELLED, ORDER_REFUNDED)

ENVELOPE_FIELDS = (
    "type", "messageId", "anonymousId", "userId", "timestamp", "originalTimestamp", "sentAt",
    "receivedAt", "context", "event", "name", "properties", "traits", "previousId",
)
PRODUCT_FIELDS = ("product_id", "sku", "name", "brand", "category", "price", "quantity")

# Segment's documented per-event limit.
MAX_PAYLOAD_BYTES = 32 * 1024

# Validation rule names (the Spark expressions are below, in RULES). A record that fails a rule is
# quarantined with the names of *all* rules it failed. Each simulator fault kind is built to fail
# exactly one of them. A record that is not a JSON object fails only ``json_object`` (the others
# cannot be judged).
RULE_JSON_OBJECT = "json_object"              # value is UTF-8 text holding one JSON object
RULE_MESSAGE_ID = "message_id_present"        # non-empty messageId
RULE_IDENTITY = "identity_present"            # anonymousId or userId (alias: userId + previousId)
RULE_KNOWN_TYPE = "known_type"                # type in CALL_TYPES
RULE_EVENT_NAME = "event_name_present"        # track calls carry a non-empty event
RULE_KNOWN_EVENT = "known_event_name"         # track event in KNOWN_TRACK_EVENTS
RULE_TIMESTAMP_PARSEABLE = "timestamp_parseable"  # event time derivable (timestamp or skew fields)
RULE_TIMESTAMP_PLAUSIBLE = "timestamp_plausible"  # after 2000-01-01, at most max_future ahead of Kafka time
RULE_REVENUE_NUMERIC = "revenue_numeric"      # properties.revenue/total/price, when present, are JSON numbers
RULE_PRICES_NUMERIC = "prices_numeric"        # products[].price and quantity, when present, are JSON numbers
RULE_ORDER_PRODUCTS = "order_has_products"    # ORDER_EVENTS carry a non-empty products[]
RULE_PAYLOAD_SIZE = "payload_size"            # value at most MAX_PAYLOAD_BYTES
RULE_NAMES = (
    RULE_JSON_OBJECT, RULE_MESSAGE_ID, RULE_IDENTITY, RULE_KNOWN_TYPE, RULE_EVENT_NAME,
    RULE_KNOWN_EVENT, RULE_TIMESTAMP_PARSEABLE, RULE_TIMESTAMP_PLAUSIBLE, RULE_REVENUE_NUMERIC,
    RULE_PRICES_NUMERIC, RULE_ORDER_PRODUCTS, RULE_PAYLOAD_SIZE,
)
# Default allowance for client clocks running ahead of the broker.
MAX_FUTURE_SKEW_SECONDS = 3600


# ---------------------------------------------------------------------------------------------
# Python helpers
# ---------------------------------------------------------------------------------------------
def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z, as Segment SDKs send it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _envelope(
    call_type: str,
    *,
    message_id: str,
    anonymous_id: str | None,
    user_id: str | None,
    timestamp: datetime | None,
    context: dict[str, Any] | None,
    original_timestamp: datetime | None,
    sent_at: datetime | None,
    received_at: datetime | None,
) -> dict[str, Any]:
    event: dict[str, Any] = {"type": call_type, "messageId": message_id}
    if anonymous_id is not None:
        event["anonymousId"] = anonymous_id
    if user_id is not None:
        event["userId"] = user_id
    for key, moment in (
        ("timestamp", timestamp),
        ("originalTimestamp", original_timestamp),
        ("sentAt", sent_at),
        ("receivedAt", received_at),
    ):
        if moment is not None:
            event[key] = iso(moment)
    event["context"] = context or {}
    return event


def track_event(
    event: str,
    *,
    message_id: str,
    anonymous_id: str | None = None,
    user_id: str | None = None,
    timestamp: datetime | None = None,
    properties: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    original_timestamp: datetime | None = None,
    sent_at: datetime | None = None,
    received_at: datetime | None = None,
) -> dict[str, Any]:
    """A ``track`` call (``event`` is e.g. :data:`ORDER_COMPLETED`)."""
    body = _envelope("track", message_id=message_id, anonymous_id=anonymous_id, user_id=user_id,
                     timestamp=timestamp, context=context, original_timestamp=original_timestamp,
                     sent_at=sent_at, received_at=received_at)
    body["event"] = event
    body["properties"] = properties or {}
    return body


def page_event(
    name: str,
    *,
    message_id: str,
    anonymous_id: str | None = None,
    user_id: str | None = None,
    timestamp: datetime | None = None,
    properties: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    original_timestamp: datetime | None = None,
    sent_at: datetime | None = None,
    received_at: datetime | None = None,
) -> dict[str, Any]:
    """A ``page`` call; ``properties`` usually carries path, url, referrer and title."""
    body = _envelope("page", message_id=message_id, anonymous_id=anonymous_id, user_id=user_id,
                     timestamp=timestamp, context=context, original_timestamp=original_timestamp,
                     sent_at=sent_at, received_at=received_at)
    body["name"] = name
    body["properties"] = properties or {}
    return body


def identify_event(
    *,
    message_id: str,
    user_id: str,
    anonymous_id: str | None = None,
    traits: dict[str, Any] | None = None,
    timestamp: datetime | None = None,
    context: dict[str, Any] | None = None,
    original_timestamp: datetime | None = None,
    sent_at: datetime | None = None,
    received_at: datetime | None = None,
) -> dict[str, Any]:
    """An ``identify`` call: ties ``anonymous_id`` (this device) to ``user_id``."""
    body = _envelope("identify", message_id=message_id, anonymous_id=anonymous_id, user_id=user_id,
                     timestamp=timestamp, context=context, original_timestamp=original_timestamp,
                     sent_at=sent_at, received_at=received_at)
    body["traits"] = traits or {}
    return body


def alias_event(
    *,
    message_id: str,
    user_id: str,
    previous_id: str,
    timestamp: datetime | None = None,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An ``alias`` call: ``previous_id`` (an older id) is the same person as ``user_id``."""
    body = _envelope("alias", message_id=message_id, anonymous_id=None, user_id=user_id,
                     timestamp=timestamp, context=context, original_timestamp=None, sent_at=None,
                     received_at=None)
    body["previousId"] = previous_id
    return body


def product_line(
    product_id: str,
    *,
    price: float,
    quantity: int = 1,
    sku: str | None = None,
    name: str | None = None,
    brand: str | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    """One entry of ``properties.products[]``."""
    line: dict[str, Any] = {"product_id": product_id}
    for key, value in (("sku", sku), ("name", name), ("brand", brand), ("category", category)):
        if value is not None:
            line[key] = value
    line["price"] = price
    line["quantity"] = quantity
    return line


def message_key(event: dict[str, Any]) -> bytes | None:
    """The Kafka key: the device's anonymousId, else the userId (keeps a device's events in order)."""
    key = event.get("anonymousId") or event.get("userId")
    return str(key).encode() if key else None


def encode(event: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the bytes we put on Kafka."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
