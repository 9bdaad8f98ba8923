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


# ---------------------------------------------------------------------------------------------
# Spark side: parsing and the validation rules
# ---------------------------------------------------------------------------------------------
# Imported here rather than at the top so the Python helpers above stay usable without Spark
# (the simulator and replay only need those).
from collections.abc import Callable  # noqa: E402

from pyspark.sql import Column, DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql.types import (  # noqa: E402
    ArrayType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

PRODUCT_SCHEMA = StructType([
    StructField("product_id", StringType()),
    StructField("sku", StringType()),
    StructField("name", StringType()),
    StructField("brand", StringType()),
    StructField("category", StringType()),
    StructField("price", DoubleType()),
    StructField("quantity", LongType()),
])
CAMPAIGN_FIELDS = ("name", "source", "medium", "term", "content")
PAGE_FIELDS = ("path", "url", "referrer", "title")
# The envelope as a Spark schema, for readers that want the contract as a struct (from_json,
# SQL users, other jobs). Free-form objects (properties, traits, context.traits) stay JSON text.
# Silver parses through a VARIANT instead (parse_events) so it can also tell a JSON number from a
# numeric string, which a fixed schema silently converts.
EVENT_SCHEMA = StructType([
    StructField("type", StringType()),
    StructField("messageId", StringType()),
    StructField("anonymousId", StringType()),
    StructField("userId", StringType()),
    StructField("timestamp", StringType()),
    StructField("originalTimestamp", StringType()),
    StructField("sentAt", StringType()),
    StructField("receivedAt", StringType()),
    StructField("context", StructType([
        StructField("ip", StringType()),
        StructField("userAgent", StringType()),
        StructField("locale", StringType()),
        StructField("sessionId", StringType()),
        StructField("campaign", StructType([StructField(f, StringType()) for f in CAMPAIGN_FIELDS])),
        StructField("page", StructType([StructField(f, StringType()) for f in PAGE_FIELDS])),
        StructField("traits", StringType()),
    ])),
    StructField("event", StringType()),
    StructField("name", StringType()),
    StructField("properties", StringType()),
    StructField("traits", StringType()),
    StructField("previousId", StringType()),
])
TIME_FIELDS = {"timestamp": "timestamp", "originalTimestamp": "original_timestamp",
               "sentAt": "sent_at", "receivedAt": "received_at"}
# No backslashes: the pattern is embedded in SQL string literals, which would eat them.
_NUMERIC_VARIANT = "^(TINYINT|SMALLINT|INT|BIGINT|FLOAT|DOUBLE|DECIMAL[(][0-9]+,[0-9]+[)])$"
_EARLIEST_PLAUSIBLE = "2000-01-01 00:00:00"


def _get(path: str, type_name: str = "string") -> Column:
    return F.expr(f"try_variant_get(_v, '{path}', '{type_name}')")


def _fields_as_text(json_text: Column, fields: tuple[str, ...]) -> Column:
    """The members ``fields`` of the JSON object ``json_text`` as a struct of texts: strings as they
    are, numbers, booleans, objects and arrays as their JSON text, null where absent or JSON null;
    every field null when the text is not an object. A string-only schema never fails a record,
    and one ``from_json`` pass reads them all (a variant lookup per field took several times as long)."""
    return F.from_json(json_text, StructType([StructField(field, StringType()) for field in fields]))


def _text(raw: Column) -> Column:
    """A string field, empty strings as null."""
    value = F.trim(raw)
    return F.when(value != "", value)


def _json_text(raw: Column, path: str) -> Column:
    """The JSON text of the value at ``path``. ``raw`` is that value as :func:`_fields_as_text`
    read it from the record's text: an object or array comes back as its JSON text, several times
    faster than writing the parsed variant back out; a scalar comes back bare (a string without
    its quotes), so those take the variant's ``to_json``."""
    return F.when(raw.startswith("{") | raw.startswith("["), raw).otherwise(
        F.expr(f"to_json(try_variant_get(_v, '{path}'))"))


def _texts_in(struct: str) -> Callable[[str], Column]:
    """field → :func:`_text` of that field of the struct column ``struct``."""
    return lambda field: _text(F.col(f"{struct}.{field}"))


_TOP_TEXT_FIELDS = ("messageId", "type", "event", "name", "anonymousId", "userId", "previousId", *TIME_FIELDS,
                    "context", "properties", "traits")
_CONTEXT_TEXT_FIELDS = ("ip", "userAgent", "locale", "sessionId", "page", "campaign", "traits")
_PROPERTY_TEXT_FIELDS = ("session_id", "order_id", "currency", "product_id", "category", *PAGE_FIELDS)


def parse_events(records: DataFrame) -> DataFrame:
    """Bronze rows (``value`` bytes, Kafka coordinates) → one row per record with typed contract
    columns, plus the private ``_v`` (the parsed JSON as a variant) and ``_checks`` used by
    :func:`with_rule_results`. Nothing is dropped here: unparseable records get null fields.

    Columns added: message_id, type, event, name, anonymous_id, user_id, previous_id,
    timestamp/original_timestamp/sent_at/received_at (timestamps), event_time, event_date,
    session_id, context_ip, context_user_agent, context_locale, page_path/url/referrer/title,
    campaign_name/source/medium/term/content, order_id, revenue, currency, product_id, category,
    price, products (array of PRODUCT_SCHEMA), properties/traits/context/extra (JSON text),
    payload_bytes.
    """
    text = F.col("value").cast("string")
    utf8 = F.coalesce(F.expr("is_valid_utf8(CAST(value AS STRING))"), F.lit(False))
    # Valid JSON whose first character after whitespace is "{" is an object: a byte check, where
    # schema_of_variant would build the whole schema of every event.
    is_object = utf8 & text.rlike(r"^[ \t\r\n]*[{]")
    parsed = records.withColumn("_v", F.when(is_object, F.expr("try_parse_json(CAST(value AS STRING))")))
    # The text fields, object by object (the variant serves the numbers and the checks below).
    parsed = parsed.withColumn("_top", _fields_as_text(text, _TOP_TEXT_FIELDS))
    parsed = parsed.withColumns({"_context": _fields_as_text(F.col("_top.context"), _CONTEXT_TEXT_FIELDS),
                                 "_properties": _fields_as_text(F.col("_top.properties"), _PROPERTY_TEXT_FIELDS)})
    parsed = parsed.withColumns({"_page": _fields_as_text(F.col("_context.page"), PAGE_FIELDS),
                                 "_campaign": _fields_as_text(F.col("_context.campaign"), CAMPAIGN_FIELDS)})
    top, context, properties = _texts_in("_top"), _texts_in("_context"), _texts_in("_properties")
    parsed_times = {column: F.col(f"_top.{field}").try_cast("timestamp") for field, column in TIME_FIELDS.items()}
    columns: dict[str, Column] = {
        "payload_bytes": F.coalesce(F.length("value"), F.lit(0)),
        "message_id": top("messageId"),
        "type": top("type"),
        "event": top("event"),
        "name": top("name"),
        "anonymous_id": top("anonymousId"),
        "user_id": top("userId"),
        "previous_id": top("previousId"),
        **parsed_times,
        "session_id": F.coalesce(context("sessionId"), properties("session_id")),
        "context_ip": context("ip"),
        "context_user_agent": context("userAgent"),
        "context_locale": context("locale"),
        **{f"page_{f}": F.coalesce(_text(F.col(f"_page.{f}")), properties(f)) for f in PAGE_FIELDS},
        **{f"campaign_{f}": _text(F.col(f"_campaign.{f}")) for f in CAMPAIGN_FIELDS},
        "order_id": properties("order_id"),
        "revenue": F.coalesce(_get("$.properties.revenue", "double"), _get("$.properties.total", "double")),
        "currency": properties("currency"),
        "product_id": properties("product_id"),
        "category": properties("category"),
        "price": _get("$.properties.price", "double"),
        "products": _get("$.properties.products", ArrayType(PRODUCT_SCHEMA).simpleString()),
        "properties": _json_text(F.col("_top.properties"), "$.properties"),
        "traits": F.coalesce(_json_text(F.col("_top.traits"), "$.traits"),
                             _json_text(F.col("_context.traits"), "$.context.traits")),
        "context": _json_text(F.col("_top.context"), "$.context"),
        # Most records have no field outside the envelope: a look at the top-level keys spares them
        # the copy of the whole record into a map.
        "extra": F.when(F.exists(F.json_object_keys(text), lambda key: ~key.isin(*ENVELOPE_FIELDS)), F.expr(
            "to_json(map_filter(try_variant_get(_v, '$', 'map<string,variant>'), "
            "(k, x) -> NOT array_contains(array(" + ",".join(f"'{f}'" for f in ENVELOPE_FIELDS) + "), k)))"
        )),
    }
    parsed = parsed.withColumns(columns).drop("_top", "_context", "_properties", "_page", "_campaign")
    fallback = F.expr(
        "timestamp_millis(unix_millis(received_at) - (unix_millis(sent_at) - unix_millis(original_timestamp)))"
    )
    parsed = parsed.withColumn("event_time", F.coalesce(F.col("timestamp"), fallback))
    parsed = parsed.withColumn("event_date", F.to_date("event_time"))
    checks = {
        "json_ok": F.col("_v").isNotNull(),
        "time_fields_ok": F.expr(" AND ".join(
            f"(try_variant_get(_v, '$.{field}') IS NULL OR {column} IS NOT NULL)"
            for field, column in TIME_FIELDS.items()
        )),
        "revenue_ok": F.expr(" AND ".join(
            f"(try_variant_get(_v, '$.properties.{f}') IS NULL OR "
            f"schema_of_variant(try_variant_get(_v, '$.properties.{f}')) RLIKE '{_NUMERIC_VARIANT}')"
            for f in ("revenue", "total", "price")
        )),
        "prices_ok": F.expr(
            "forall(coalesce(try_variant_get(_v, '$.properties.products', 'array<variant>'), array()), "
            "p -> (try_variant_get(p, '$.price') IS NULL OR schema_of_variant(try_variant_get(p, '$.price')) "
            f"RLIKE '{_NUMERIC_VARIANT}') AND (try_variant_get(p, '$.quantity') IS NULL OR "
            f"schema_of_variant(try_variant_get(p, '$.quantity')) RLIKE '{_NUMERIC_VARIANT}'))"
        ),
        "products_count": F.coalesce(F.size(_get("$.properties.products", "array<variant>")), F.lit(0)),
    }
    return parsed.withColumn("_checks", F.struct(*[c.alias(n) for n, c in checks.items()]))


def rule_failures(
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    max_future_seconds: int = MAX_FUTURE_SKEW_SECONDS,
) -> dict[str, Column]:
    """Each rule name → a boolean Column that is true when a parsed record FAILS the rule.

    Evaluated over :func:`parse_events` output (which also needs ``kafka_timestamp``). A record
    that is not a JSON object fails only ``json_object``; the other rules then stay silent.
    """
    json_ok = F.col("_checks.json_ok")
    is_track = F.col("type") == "track"
    is_alias = F.col("type") == "alias"
    reference_time = F.coalesce(F.col("kafka_timestamp"), F.current_timestamp())
    rules = {
        RULE_JSON_OBJECT: ~json_ok,
        RULE_MESSAGE_ID: F.col("message_id").isNull(),
        RULE_IDENTITY: F.when(is_alias, F.col("user_id").isNull() | F.col("previous_id").isNull())
                        .otherwise(F.col("anonymous_id").isNull() & F.col("user_id").isNull()),
        RULE_KNOWN_TYPE: ~F.coalesce(F.col("type").isin(*CALL_TYPES), F.lit(False)),
        RULE_EVENT_NAME: is_track & F.col("event").isNull(),
        RULE_KNOWN_EVENT: is_track & F.col("event").isNotNull() & ~F.col("event").isin(*KNOWN_TRACK_EVENTS),
        RULE_TIMESTAMP_PARSEABLE: ~F.col("_checks.time_fields_ok") | F.col("event_time").isNull(),
        RULE_TIMESTAMP_PLAUSIBLE: F.col("event_time").isNotNull() & (
            (F.col("event_time") < F.lit(_EARLIEST_PLAUSIBLE).cast("timestamp"))
            | (F.col("event_time") > reference_time + F.make_interval(secs=F.lit(max_future_seconds)))
        ),
        RULE_REVENUE_NUMERIC: ~F.col("_checks.revenue_ok"),
        RULE_PRICES_NUMERIC: ~F.col("_checks.prices_ok"),
        RULE_ORDER_PRODUCTS: is_track & F.col("event").isin(*ORDER_EVENTS) & (F.col("_checks.products_count") == 0),
    }
    gated = {name: F.coalesce(json_ok & failed, F.lit(False)) for name, failed in rules.items() if name != RULE_JSON_OBJECT}
    return {
        RULE_JSON_OBJECT: ~json_ok,
        **gated,
        RULE_PAYLOAD_SIZE: F.col("payload_bytes") > max_payload_bytes,
    }


def with_rule_results(
    parsed: DataFrame,
    modes: dict[str, str],
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    max_future_seconds: int = MAX_FUTURE_SKEW_SECONDS,
) -> DataFrame:
    """Add ``failed_rules`` (rules in ``quarantine`` mode the record fails) and ``warned_rules``
    (rules in ``warn`` mode it fails), both arrays of rule names in RULE_NAMES order.

    ``modes`` maps rule name → ``quarantine`` | ``warn`` | ``off``; rules not named quarantine.
    """
    failures = rule_failures(max_payload_bytes, max_future_seconds)

    def names(mode: str) -> Column:
        picked = [F.when(failures[n], F.lit(n)) for n in RULE_NAMES if modes.get(n, "quarantine") == mode]
        return F.array_compact(F.array(*picked)) if picked else F.array().cast("array<string>")

    return parsed.withColumn("failed_rules", names("quarantine")).withColumn("warned_rules", names("warn"))
