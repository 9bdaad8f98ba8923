"""REES46 e-commerce clickstream → contract events, one event per source row.

Source columns: ``event_time,event_type,product_id,category_id,category_code,brand,price,user_id,
user_session`` (``event_time`` like ``2019-10-01 00:00:00 UTC``).

Mapping (one row → one ``track`` event, event time = ``event_time``):

* ``view`` → ``Product Viewed``, ``cart`` → ``Product Added``, ``remove_from_cart`` (in the later
  REES46 files) → ``Product Removed``; properties ``product_id``, ``category_id``, ``category``
  (the ``category_code``), ``brand``, ``price``; empty source values are left out.
* ``purchase`` → ``Order Completed`` with ``order_id`` = ``"<file name>:<line>"``, ``revenue`` =
  ``price`` and one product line (quantity 1). The source gives no currency, so none is set. Only
  rows become events: a session that purchases without a cart row gets no invented ``Product Added``.
* ``anonymousId`` and ``userId`` are both ``user_id``; ``context.sessionId`` is ``user_session``.
* A row that cannot be mapped (wrong field count, unknown event_type, empty user_id or product_id,
  unparseable price or time) becomes a :func:`~lakepulse.replay.source.replay_error` record.

Example::

    for record in rees46_records("../shared/data/rees46/2019-10-01-first-hours.csv"):
        sink.send(message_key(record.event), encode(record.event))
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lakepulse.contract import (
    ORDER_COMPLETED,
    PRODUCT_ADDED,
    PRODUCT_REMOVED,
    PRODUCT_VIEWED,
    product_line,
    track_event,
)
from lakepulse.replay.source import (
    ReplayRecord,
    SourceRow,
    check_header,
    csv_files,
    finite_float,
    message_id,
    parse_source_time,
    read_rows,
    replay_error,
)

SOURCE = "rees46"
COLUMNS = (
    "event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price",
    "user_id", "user_session",
)
EVENT_NAMES = {
    "view": PRODUCT_VIEWED,
    "cart": PRODUCT_ADDED,
    "remove_from_cart": PRODUCT_REMOVED,
    "purchase": ORDER_COMPLETED,
}


def rees46_records(path: str | Path) -> Iterator[ReplayRecord]:
    """The records of a REES46 CSV file (or of every CSV in a folder), in file order.

    Headers are checked before the first record is produced: raises
    :class:`~lakepulse.replay.source.ReplayError` on a missing path or a header without the columns.
    """
    files = csv_files(path)
    for file in files:
        check_header(file, COLUMNS)
    return (rees46_record(row) for file in files for row in read_rows(file, COLUMNS))


def rees46_record(row: SourceRow) -> ReplayRecord:
    """One REES46 row as a contract event (or as a replay_error record when it cannot be mapped)."""
    if row.values is None:
        return replay_error(SOURCE, row, row.problem or "unreadable row")
    event_time, event_type, product_id, category_id, category_code, brand, price_text, user_id, session = (
        row.values
    )
    name = EVENT_NAMES.get(event_type)
    if name is None:
        return replay_error(SOURCE, row, f"unknown event_type {event_type!r}")
    if not user_id:
        return replay_error(SOURCE, row, "empty user_id")
    if not product_id:
        return replay_error(SOURCE, row, "empty product_id")
    try:
        price = finite_float(price_text)
    except ValueError:
        return replay_error(SOURCE, row, f"price {price_text!r} is not a number")
    try:
        moment = parse_source_time(event_time)
    except ValueError:
        return replay_error(SOURCE, row, f"event_time {event_time!r} is not a time")

    properties: dict[str, Any]
    if name == ORDER_COMPLETED:
        line = product_line(product_id, price=price, quantity=1, brand=brand or None,
                            category=category_code or None)
        if category_id:
            line["category_id"] = category_id
        properties = {"order_id": f"{row.file_name}:{row.line}", "revenue": price, "products": [line]}
    else:
        properties = {"product_id": product_id}
        if category_id:
            properties["category_id"] = category_id
        if category_code:
            properties["category"] = category_code
        if brand:
            properties["brand"] = brand
        properties["price"] = price
    event = track_event(
        name,
        message_id=message_id(SOURCE, row.file_name, row.line),
        anonymous_id=user_id,
        user_id=user_id,
        timestamp=moment,
        properties=properties,
        context={"sessionId": session} if session else {},
    )
    return ReplayRecord(event, moment)
