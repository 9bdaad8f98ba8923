"""UCI Online Retail invoices → contract events, one event per invoice.

Source columns: ``InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country``,
one row per invoice line (``InvoiceDate`` like ``2010-12-01 08:26:00`` or ``12/1/2010 8:26``, UK
time taken as UTC).

Mapping (the lines of one invoice in one file → one ``track`` event):

* ``Order Completed``, or ``Order Cancelled`` for invoice numbers starting with ``C``;
  ``order_id`` = InvoiceNo, ``currency`` = GBP, ``products[]`` = the lines in file order
  (``product_id`` = StockCode, ``name`` = Description when not empty, ``price`` = UnitPrice,
  ``quantity`` = Quantity), ``revenue`` = Σ Quantity × UnitPrice rounded to cents (negative for
  cancellations). Exact duplicate lines stay separate product lines; zero prices stay.
* ``userId`` = CustomerID without the float artefact (``17850.0`` → ``17850``); guest invoices
  (no CustomerID) get ``anonymousId`` = uuid5 of the invoice number instead.
* ``timestamp`` = InvoiceDate of the invoice's first line (a few invoices span two minutes);
  ``context.location.country`` = Country of that line.
* ``messageId`` from the file name and the invoice's first line number.

Invoices are grouped within a file (no invoice of the published daily files spans two). Lines of one invoice are nearly always consecutive, but not
always (2011-02-01.csv interleaves two invoices), so up to ``max_open_invoices`` recent invoices are
held open and sent when they drop out of that window or at the end of the file. A line of an
invoice that was already sent, and any line that cannot be read, is sent as a
:func:`~lakepulse.replay.source.replay_error` record.

Example::

    for record in online_retail_records("../shared/data/online-retail"):
        sink.send(message_key(record.event), encode(record.event))
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lakepulse.contract import ORDER_CANCELLED, ORDER_COMPLETED, product_line, track_event
from lakepulse.replay.source import (
    REPLAY_NAMESPACE,
    ReplayRecord,
    SourceRow,
    check_header,
    csv_files,
    message_id,
    parse_source_time,
    read_rows,
    replay_error,
)

SOURCE = "online-retail"
COLUMNS = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
    "Country",
)
CURRENCY = "GBP"
CANCELLATION_PREFIX = "C"
# Far more than the real data needs (an invoice reappears at most one invoice later).
DEFAULT_MAX_OPEN_INVOICES = 256

_CENT = Decimal("0.01")
_FLOAT_ID = re.compile(r"^(\d+)\.0+$")


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One parsed source row: a line of an invoice."""

    row: SourceRow
    invoice_no: str
    stock_code: str
    description: str
    quantity: int
    unit_price: Decimal
    invoice_date: datetime
    customer_id: str
    country: str


def online_retail_records(
    path: str | Path, *, max_open_invoices: int = DEFAULT_MAX_OPEN_INVOICES
) -> Iterator[ReplayRecord]:
    """The records of an Online Retail CSV file, or of every CSV in a folder (files in name order).

    Within a file, invoices come out in the order of their first line; an error record comes out
    as soon as its row is read. Headers are checked before the first record is produced: raises
    :class:`~lakepulse.replay.source.ReplayError` on a missing path or a header without the columns.
    """
    if max_open_invoices < 1:
        raise ValueError(f"max_open_invoices must be at least 1, not {max_open_invoices}")
    files = csv_files(path)
    for file in files:
        check_header(file, COLUMNS)
    return (record for file in files for record in _file_records(file, max_open_invoices))


def _file_records(path: Path, max_open_invoices: int) -> Iterator[ReplayRecord]:
    open_invoices: dict[str, list[InvoiceLine]] = {}  # insertion order = order of first line
    sent: set[str] = set()
    for row in read_rows(path, COLUMNS):
        parsed = parse_invoice_line(row)
        if isinstance(parsed, ReplayRecord):
            yield parsed
            continue
        lines = open_invoices.get(parsed.invoice_no)
        if lines is not None:
            lines.append(parsed)
            continue
        if parsed.invoice_no in sent:
            yield replay_error(SOURCE, row, f"invoice {parsed.invoice_no} reappears after "
                                            f"{max_open_invoices} other invoices; its event was already sent")
            continue
        if len(open_invoices) == max_open_invoices:
            oldest = next(iter(open_invoices))
            sent.add(oldest)
            yield invoice_record(open_invoices.pop(oldest))
        open_invoices[parsed.invoice_no] = [parsed]
    for lines in open_invoices.values():
        yield invoice_record(lines)


def parse_invoice_line(row: SourceRow) -> InvoiceLine | ReplayRecord:
    """A source row as an :class:`InvoiceLine`, or a replay_error record when it cannot be read."""
    if row.values is None:
        return replay_error(SOURCE, row, row.problem or "unreadable row")
    invoice_no, stock_code, description, quantity, invoice_date, unit_price, customer_id, country = row.values
    if not invoice_no:
        return replay_error(SOURCE, row, "empty InvoiceNo")
    if not stock_code:
        return replay_error(SOURCE, row, "empty StockCode")
    try:
        quantity_number = int(quantity)
    except ValueError:
        return replay_error(SOURCE, row, f"Quantity {quantity!r} is not a whole number")
    try:
        price = Decimal(unit_price)
    except InvalidOperation:
        price = Decimal("NaN")
    if not price.is_finite():
        return replay_error(SOURCE, row, f"UnitPrice {unit_price!r} is not a number")
    try:
        moment = parse_source_time(invoice_date)
    except ValueError:
        return replay_error(SOURCE, row, f"InvoiceDate {invoice_date!r} is not a time")
    return InvoiceLine(row, invoice_no, stock_code, description, quantity_number, price, moment,
                       normalise_customer_id(customer_id), country)


def normalise_customer_id(text: str) -> str:
    """CustomerID as written by people, not by a float column: ``"17850.0"`` → ``"17850"``."""
    text = text.strip()
    match = _FLOAT_ID.match(text)
    return match.group(1) if match else text


def invoice_revenue(lines: list[InvoiceLine]) -> Decimal:
    """Σ Quantity × UnitPrice over an invoice's lines, in pounds, rounded half-up to cents."""
    return sum((line.unit_price * line.quantity for line in lines), Decimal(0)).quantize(_CENT, ROUND_HALF_UP)


def invoice_record(lines: list[InvoiceLine]) -> ReplayRecord:
    """The ``Order Completed`` / ``Order Cancelled`` event of one invoice (its lines in file order)."""
    first = lines[0]
    invoice_no = first.invoice_no
    name = ORDER_CANCELLED if invoice_no.startswith(CANCELLATION_PREFIX) else ORDER_COMPLETED
    properties: dict[str, Any] = {
        "order_id": invoice_no,
        "revenue": float(invoice_revenue(lines)),
        "currency": CURRENCY,
        "products": [
            product_line(line.stock_code, price=float(line.unit_price), quantity=line.quantity,
                         name=line.description or None)
            for line in lines
        ],
    }
    customer = first.customer_id
    event = track_event(
        name,
        message_id=message_id(SOURCE, first.row.file_name, first.row.line),
        user_id=customer or None,
        anonymous_id=None if customer else guest_anonymous_id(invoice_no),
        timestamp=first.invoice_date,
        properties=properties,
        context={"location": {"country": first.country}} if first.country else {},
    )
    return ReplayRecord(event, first.invoice_date)


def guest_anonymous_id(invoice_no: str) -> str:
    """The anonymousId of a guest checkout (no CustomerID): a uuid5 of the invoice number."""
    return str(uuid.uuid5(REPLAY_NAMESPACE, f"{SOURCE}:guest:{invoice_no}"))
