"""Online Retail invoice replay: exact events from inline files, and the committed fixture vs pandas."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from lakepulse.contract import CALL_TYPES, KNOWN_TRACK_EVENTS
from lakepulse.io.kafka import ListSink
from lakepulse.replay.online_retail import normalise_customer_id, online_retail_records
from lakepulse.replay.runner import replay
from lakepulse.replay.source import REPLAY_NAMESPACE
from tests.helpers import shared_data

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "online-retail"
FULL_DATA = shared_data() / "online-retail"


def write(tmp_path: Path, text: str, name: str = "2010-12-01.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def uuid5(text: str) -> str:
    return str(uuid.uuid5(REPLAY_NAMESPACE, text))


def sent_events(path: Path, **options: int) -> list[tuple[bytes | None, dict]]:
    sink = ListSink()
    replay(online_retail_records(path, **options), sink)
    return [(key, json.loads(value)) for key, value in sink.records]


def test_invoices_become_one_order_event_each_with_all_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER
                 + "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
                 + "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom\n"
                 + "C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom\n"
                 + "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:27:00,3.39,17850.0,United Kingdom\n"
                 + '536381,82567,"AIRLINE LOUNGE,METAL SIGN",2,2010-12-01 09:41:00,2.1,,France\n'
                 + "536381,21690,,4,2010-12-01 09:41:00,0.0,,France\n"
                 + "536381,21690,,4,2010-12-01 09:41:00,0.0,,France\n")
    guest = uuid5("online-retail:guest:536381")

    assert sent_events(path) == [
        (b"17850", {
            "type": "track", "messageId": uuid5("online-retail:2010-12-01.csv:2"), "userId": "17850",
            "timestamp": "2010-12-01T08:26:00.000Z", "context": {"location": {"country": "United Kingdom"}},
            "event": "Order Completed",
            "properties": {
                "order_id": "536365", "revenue": 55.98, "currency": "GBP",  # 6×2.55 + 6×3.39 + 6×3.39
                "products": [
                    {"product_id": "85123A", "name": "WHITE HANGING HEART T-LIGHT HOLDER", "price": 2.55, "quantity": 6},
                    {"product_id": "71053", "name": "WHITE METAL LANTERN", "price": 3.39, "quantity": 6},
                    {"product_id": "71053", "name": "WHITE METAL LANTERN", "price": 3.39, "quantity": 6},
                ],
            },
        }),
        (b"14527", {
            "type": "track", "messageId": uuid5("online-retail:2010-12-01.csv:4"), "userId": "14527",
            "timestamp": "2010-12-01T09:41:00.000Z", "context": {"location": {"country": "United Kingdom"}},
            "event": "Order Cancelled",
            "properties": {"order_id": "C536379", "revenue": -27.5, "currency": "GBP",
                           "products": [{"product_id": "D", "name": "Discount", "price": 27.5, "quantity": -1}]},
        }),
        (guest.encode(), {
            "type": "track", "messageId": uuid5("online-retail:2010-12-01.csv:6"), "anonymousId": guest,
            "timestamp": "2010-12-01T09:41:00.000Z", "context": {"location": {"country": "France"}},
            "event": "Order Completed",
            "properties": {
                "order_id": "536381", "revenue": 4.2, "currency": "GBP",
                "products": [
                    {"product_id": "82567", "name": "AIRLINE LOUNGE,METAL SIGN", "price": 2.1, "quantity": 2},
                    {"product_id": "21690", "price": 0.0, "quantity": 4},  # exact duplicate lines stay
                    {"product_id": "21690", "price": 0.0, "quantity": 4},
                ],
            },
        }),
    ]


def test_broken_lines_are_sent_as_replay_errors_and_left_out_of_their_invoice(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER
                 + "536365,85123A,HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
                 + "536365,71053,LANTERN,six,2010-12-01 08:26:00,3.39,17850.0,United Kingdom\n"
                 + "536365,71054,LANTERN,1,2010-12-01 08:26:00,£3,17850.0,United Kingdom\n"
                 + "536365,71055,LANTERN,1,soon,3.39,17850.0,United Kingdom\n"
                 + "536365,71056,LANTERN,1,2010-12-01 08:26:00\n")

    events = sent_events(path)

    assert [(e["type"], e.get("line"), e.get("error")) for _, e in events] == [
        ("replay_error", 3, "Quantity 'six' is not a whole number"),
        ("replay_error", 4, "UnitPrice '£3' is not a number"),
        ("replay_error", 5, "InvoiceDate 'soon' is not a time"),
        ("replay_error", 6, "5 of 8 fields"),
        ("track", None, None),
    ]
    assert events[3][1]["raw"] == "536365,71056,LANTERN,1,2010-12-01 08:26:00"
    assert events[4][1]["properties"]["revenue"] == 15.3
    assert all(e["type"] not in CALL_TYPES for _, e in events[:4])


def test_a_line_arriving_after_its_invoice_was_sent_is_not_lost(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER
                 + "1,A,a,1,2010-12-01 08:00:00,1.0,1.0,UK\n"
                 + "2,B,b,1,2010-12-01 08:01:00,2.0,2.0,UK\n"
                 + "1,C,c,1,2010-12-01 08:02:00,3.0,1.0,UK\n")

    held = sent_events(path, max_open_invoices=2)
    window_too_small = sent_events(path, max_open_invoices=1)

    assert [(e["properties"]["order_id"], e["properties"]["revenue"]) for _, e in held] == [("1", 4.0), ("2", 2.0)]
    assert [(e.get("event", e["type"]), e.get("line")) for _, e in window_too_small] == [
        ("Order Completed", None), ("replay_error", 4), ("Order Completed", None)]
    assert "already sent" in window_too_small[1][1]["error"]


def test_line_numbers_and_raw_text_follow_the_file_with_crlf_and_multi_line_fields(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.replace("\n", "\r\n")
                 + '536365,85123A,"HOLDER\r\nWHITE",6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\r\n'
                 + "536365,71053,LANTERN,6,2010-12-01 08:26:00,x,17850.0,United Kingdom\r\n")

    error, order = (event for _, event in sent_events(path))

    assert (error["line"], error["raw"]) == (4, "536365,71053,LANTERN,6,2010-12-01 08:26:00,x,17850.0,United Kingdom")
    assert order["messageId"] == uuid5("online-retail:2010-12-01.csv:2")
    assert order["properties"]["products"][0]["name"] == "HOLDER\r\nWHITE"


def test_us_style_invoice_dates_of_the_original_file_are_read_as_utc(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "536365,85123A,HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom\n")

    assert sent_events(path)[0][1]["timestamp"] == "2010-12-01T08:26:00.000Z"


@pytest.mark.parametrize(("written", "normalised"), [("17850.0", "17850"), ("17850", "17850"), (" 12346.00 ", "12346"),
                                                     ("C-17", "C-17"), ("", "")])
def test_customer_ids_lose_the_float_artefact(written: str, normalised: str) -> None:
    assert normalise_customer_id(written) == normalised


# ------------------------------------------------------------------------------------------------
# The committed fixture (and the full data set when present) against pandas
# ------------------------------------------------------------------------------------------------
def pandas_invoices(folder: Path) -> pd.DataFrame:
    """One row per (file, InvoiceNo): lines, revenue = Σ Quantity × UnitPrice rounded to cents."""
    frames = [pd.read_csv(path, dtype={"InvoiceNo": str, "CustomerID": str}).assign(file=path.name)
              for path in sorted(folder.glob("*.csv"))]
    lines = pd.concat(frames, ignore_index=True)
    lines["amount"] = lines["Quantity"] * lines["UnitPrice"]
    invoices = lines.groupby(["file", "InvoiceNo"]).agg(lines=("StockCode", "size"), revenue=("amount", "sum"),
                                                        guest=("CustomerID", lambda ids: ids.isna().all()))
    invoices["revenue"] = invoices["revenue"].round(2)
    return invoices.reset_index()


def check_against_pandas(folder: Path) -> None:
    expected = pandas_invoices(folder)
    sink = ListSink()
    summary = replay(online_retail_records(folder), sink)
    events = [json.loads(value) for _, value in sink.records]

    sent = {e["properties"]["order_id"]: e for e in events}
    cancelled = expected["InvoiceNo"].str.startswith("C")
    assert summary.records_sent == len(events) == len(sent) == len(expected)
    assert summary.broken_rows == 0
    assert summary.cancellations == int(cancelled.sum())
    assert summary.orders == int((~cancelled).sum())
    assert float(summary.revenue) == pytest.approx(expected.loc[~cancelled, "revenue"].sum(), abs=0.005)
    assert float(summary.cancelled_revenue) == pytest.approx(expected.loc[cancelled, "revenue"].sum(), abs=0.005)
    for invoice in expected.itertuples():
        event = sent[invoice.InvoiceNo]
        assert event["event"] == ("Order Cancelled" if invoice.InvoiceNo.startswith("C") else "Order Completed")
        assert event["event"] in KNOWN_TRACK_EVENTS
        assert event["properties"]["revenue"] == invoice.revenue, invoice.InvoiceNo
        assert len(event["properties"]["products"]) == invoice.lines, invoice.InvoiceNo
        assert ("userId" not in event) == invoice.guest == ("anonymousId" in event), invoice.InvoiceNo
    assert sum(Decimal(repr(e["properties"]["revenue"])) for e in events) == (
        summary.revenue + summary.cancelled_revenue)


def test_fixture_invoices_equal_pandas() -> None:
    check_against_pandas(FIXTURE)


def test_fixture_holds_the_quirks_it_is_meant_to_cover() -> None:
    sink = ListSink()
    replay(online_retail_records(FIXTURE), sink)
    events = {e["properties"]["order_id"]: e for e in (json.loads(value) for _, value in sink.records)}
    products = [p for e in events.values() for p in e["properties"]["products"]]

    assert events["536365"]["userId"] == "17850"
    assert events["C536379"]["event"] == "Order Cancelled" and events["C536379"]["properties"]["revenue"] < 0
    assert "userId" not in events["542783"] and events["542783"]["anonymousId"]
    assert any(p["price"] == 0 for p in products)
    assert any(p.get("name") == "AIRLINE LOUNGE,METAL SIGN" for p in products)
    pencils = [p for p in events["542797"]["properties"]["products"] if p["product_id"] == "22491"]
    assert len(pencils) == 2  # the exact duplicate line
    interleaved = events["542806"]  # interrupted by C542805 in the source file
    assert interleaved["timestamp"] == "2011-02-01T11:19:00.000Z"
    assert len(interleaved["properties"]["products"]) == 39


def test_fixture_replays_with_identical_message_ids() -> None:
    first, again = ListSink(), ListSink()
    replay(online_retail_records(FIXTURE), first)
    replay(online_retail_records(FIXTURE), again)

    ids = [json.loads(value)["messageId"] for _, value in first.records]
    assert ids == [json.loads(value)["messageId"] for _, value in again.records]
    assert len(set(ids)) == len(ids)


@pytest.mark.skipif(not FULL_DATA.is_dir(), reason=f"Online Retail data not present at {FULL_DATA}")
def test_full_data_set_invoices_equal_pandas() -> None:
    check_against_pandas(FULL_DATA)
