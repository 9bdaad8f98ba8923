"""The faults the simulator injects, each built to fail exactly one contract rule.

Every quarantined fault starts from a copy of a valid event (with a fresh ``messageId``) and breaks
one thing, so the record fails one rule of :mod:`lakepulse.contract` and no other:

=====================  ============================================================  ======================
kind                   what is sent                                                  rule it fails
=====================  ============================================================  ======================
``malformed_json``     the JSON text cut short                                       ``json_object``
``missing_message_id`` no ``messageId``                                              ``message_id_present``
``missing_identity``   neither ``anonymousId`` nor ``userId``                        ``identity_present``
``wrong_type``         a price or revenue as text (``"12.99"``)                      ``revenue_numeric`` or
                                                                                     ``prices_numeric``
``unknown_event``      a track event name the pipeline does not know                 ``known_event_name``
``future_timestamp``   all four times more than a day after it is sent               ``timestamp_plausible``
``oversized``          a huge extra property, more than ``MAX_PAYLOAD_BYTES``        ``payload_size``
=====================  ============================================================  ======================

Two more kinds are not rule failures: ``duplicate`` (an identical re-send of a valid record; silver
drops it by ``messageId``) and ``late`` (a valid event sent minutes to hours after it happened;
silver keeps it).
"""

from __future__ import annotations

import random
from typing import Any

from lakepulse.contract import (
    MAX_PAYLOAD_BYTES,
    ORDER_COMPLETED,
    PRODUCT_VIEWED,
    RULE_IDENTITY,
    RULE_JSON_OBJECT,
    RULE_KNOWN_EVENT,
    RULE_MESSAGE_ID,
    RULE_PAYLOAD_SIZE,
    RULE_PRICES_NUMERIC,
    RULE_REVENUE_NUMERIC,
    RULE_TIMESTAMP_PLAUSIBLE,
    encode,
    product_line,
)
from lakepulse.settings import SimulatorSettings
from lakepulse.simulate.model import Product

DUPLICATE = "duplicate"
MALFORMED_JSON = "malformed_json"
MISSING_MESSAGE_ID = "missing_message_id"
MISSING_IDENTITY = "missing_identity"
WRONG_TYPE = "wrong_type"
UNKNOWN_EVENT = "unknown_event"
FUTURE_TIMESTAMP = "future_timestamp"
OVERSIZED = "oversized"
LATE = "late"

# Kinds that silver quarantines, with the rule each fails (wrong_type: one of two, chosen per record).
QUARANTINED: dict[str, tuple[str, ...]] = {
    MALFORMED_JSON: (RULE_JSON_OBJECT,),
    MISSING_MESSAGE_ID: (RULE_MESSAGE_ID,),
    MISSING_IDENTITY: (RULE_IDENTITY,),
    WRONG_TYPE: (RULE_REVENUE_NUMERIC, RULE_PRICES_NUMERIC),
    UNKNOWN_EVENT: (RULE_KNOWN_EVENT,),
    FUTURE_TIMESTAMP: (RULE_TIMESTAMP_PLAUSIBLE,),
    OVERSIZED: (RULE_PAYLOAD_SIZE,),
}
# Kinds that take a record slot of their own (late events are valid events sent out of order).
EXTRA_RECORD_KINDS = (DUPLICATE, *QUARANTINED)
FAULT_KINDS = (*EXTRA_RECORD_KINDS, LATE)

# Real event names from SDKs and plugins that are not in contract.KNOWN_TRACK_EVENTS.
UNKNOWN_EVENT_NAMES = ("Coupon Applied", "Wishlist Product Added", "Promotion Clicked", "Product Shared",
                       "Video Playback Started", "Store Locator Opened")


def fault_rates(config: SimulatorSettings) -> dict[str, float]:
    """Fraction of the records sent per fault kind, from ``simulator.*_rate``."""
    return {
        DUPLICATE: config.duplicate_rate,
        MALFORMED_JSON: config.malformed_json_rate,
        MISSING_MESSAGE_ID: config.missing_message_id_rate,
        MISSING_IDENTITY: config.missing_identity_rate,
        WRONG_TYPE: config.wrong_type_rate,
        UNKNOWN_EVENT: config.unknown_event_rate,
        FUTURE_TIMESTAMP: config.future_timestamp_rate,
        OVERSIZED: config.oversized_rate,
        LATE: config.late_rate,
    }


def allocate_faults(records: int, rates: dict[str, float]) -> dict[str, int]:
    """Exact numbers of records per fault kind for a run of ``records``: ``round(rate x records)``,
    trimmed (largest first) so that at least one record is a valid first send that is not late."""
    counts = {kind: round(rates.get(kind, 0.0) * records) for kind in FAULT_KINDS}
    while sum(counts.values()) > records - 1:
        counts[max(counts, key=lambda kind: counts[kind])] -= 1
    return counts


def _as_track(event: dict[str, Any], name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The envelope of ``event`` (ids, times, context) as a track call ``name``."""
    track = {key: value for key, value in event.items() if key not in ("name", "traits", "event", "properties")}
    track["type"] = "track"
    track["event"] = name
    track["properties"] = properties
    return track


def malformed_json(event: dict[str, Any], rng: random.Random) -> bytes:
    """The JSON text of ``event`` cut short (a proper prefix of an object is never valid JSON)."""
    text = encode(event)
    return text[: 1 + int(rng.random() * (len(text) - 1))]


def missing_message_id(event: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if key != "messageId"}


def missing_identity(event: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if key not in ("anonymousId", "userId")}


def wrong_type(event: dict[str, Any], product: Product, currency: str, order_id: str,
               rng: random.Random) -> tuple[dict[str, Any], str]:
    """A price sent as text: a Product Viewed whose ``price`` is a string (``revenue_numeric``) or
    an Order Completed whose ``products[].price`` is (``prices_numeric``); returns the event and the
    rule it fails."""
    price_text = f"{product.price:.2f}"
    if rng.random() < 0.5:
        return _as_track(event, PRODUCT_VIEWED, {**product.viewed, "price": price_text}), RULE_REVENUE_NUMERIC
    line = product_line(product.product_id, price=product.price, sku=product.sku, name=product.name,
                        brand=product.brand, category=product.category)
    line["price"] = price_text
    order = {"order_id": order_id, "revenue": product.price, "currency": currency, "products": [line]}
    return _as_track(event, ORDER_COMPLETED, order), RULE_PRICES_NUMERIC


def unknown_event(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A track call named as the pipeline does not know, with the original properties."""
    name = UNKNOWN_EVENT_NAMES[int(rng.random() * len(UNKNOWN_EVENT_NAMES))]
    return _as_track(event, name, event.get("properties") or {})


def oversized(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """``event`` with a debug snapshot property that takes it over ``MAX_PAYLOAD_BYTES``."""
    size = MAX_PAYLOAD_BYTES + 1024 + int(rng.random() * 16_384)
    big = dict(event)
    holder = "traits" if event.get("type") == "identify" else "properties"
    big[holder] = {**(event.get(holder) or {}), "debug_dom_snapshot": "<div>" + "x" * size + "</div>"}
    return big
