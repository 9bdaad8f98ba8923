"""REES46 clickstream replay: exact events from small inline files, and the real sample vs pandas."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from lakepulse.contract import CALL_TYPES, KNOWN_TRACK_EVENTS, ORDER_EVENTS
from lakepulse.io.kafka import ListSink
from lakepulse.replay.rees46 import rees46_records
from lakepulse.replay.runner import replay
from lakepulse.replay.source import REPLAY_NAMESPACE, ReplayError
from tests.helpers import shared_data

HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
REES46_SAMPLE = shared_data() / "rees46" / "2019-10-01-first-hours.csv"


def write(tmp_path: Path, text: str, name: str = "sample.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def uuid5(text: str) -> str:
    return str(uuid.uuid5(REPLAY_NAMESPACE, text))


def sent_events(path: Path) -> list[tuple[bytes | None, dict]]:
    sink = ListSink()
    replay(rees46_records(path), sink)
    return [(key, json.loads(value)) for key, value in sink.records]


def test_rows_map_to_contract_events_with_source_times(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER
                 + "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,s-1\n"
                 + "2019-10-01 00:00:05 UTC,cart,3900821,2053013552326770905,appliances.environment.water_heater,"
                   "aqua,33.20,554748717,s-2\n"
                 + "2019-10-01 00:01:09 UTC,purchase,3900821,2053013552326770905,"
                   "appliances.environment.water_heater,aqua,33.20,554748717,s-2\n")

    assert sent_events(path) == [
        (b"541312140", {
            "type": "track", "messageId": uuid5("rees46:sample.csv:2"),
            "anonymousId": "541312140", "userId": "541312140", "timestamp": "2019-10-01T00:00:00.000Z",
            "context": {"sessionId": "s-1"}, "event": "Product Viewed",
            "properties": {"product_id": "44600062", "category_id": "2103807459595387724",
                           "brand": "shiseido", "price": 35.79},
        }),
        (b"554748717", {
            "type": "track", "messageId": uuid5("rees46:sample.csv:3"),
            "anonymousId": "554748717", "userId": "554748717", "timestamp": "2019-10-01T00:00:05.000Z",
            "context": {"sessionId": "s-2"}, "event": "Product Added",
            "properties": {"product_id": "3900821", "category_id": "2053013552326770905",
                           "category": "appliances.environment.water_heater", "brand": "aqua", "price": 33.2},
        }),
        (b"554748717", {
            "type": "track", "messageId": uuid5("rees46:sample.csv:4"),
            "anonymousId": "554748717", "userId": "554748717", "timestamp": "2019-10-01T00:01:09.000Z",
            "context": {"sessionId": "s-2"}, "event": "Order Completed",
            "properties": {
                "order_id": "sample.csv:4", "revenue": 33.2,
                "products": [{"product_id": "3900821", "brand": "aqua",
                              "category": "appliances.environment.water_heater", "price": 33.2,
                              "quantity": 1, "category_id": "2053013552326770905"}],
            },
        }),
    ]


def test_purchase_without_cart_gets_no_invented_events(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER
                 + "2019-10-01 00:00:00 UTC,view,1,2,,,10.00,7,s-1\n"
                 + "2019-10-01 00:00:30 UTC,purchase,1,2,,,10.00,7,s-1\n")

    assert [event["event"] for _, event in sent_events(path)] == ["Product Viewed", "Order Completed"]


def test_broken_rows_are_sent_as_replay_errors_carrying_the_raw_line(tmp_path: Path) -> None:
    truncated = "2019-10-01 02:50:00 UTC,view,10900305,2053013555069845885,appliances.kitchen.mixer,elenberg,25.71,52040330"
    path = write(tmp_path, HEADER
                 + "2019-10-01 00:00:00 UTC,view,1,2,,,not-a-price,7,s-1\n"
                 + "yesterday,view,1,2,,,1.00,7,s-1\n"
                 + "2019-10-01 00:00:00 UTC,wishlist,1,2,,,1.00,7,s-1\n"
                 + "2019-10-01 00:00:00 UTC,view,1,2,,,1.00,,s-1\n"
                 + "2019-10-01 00:00:00 UTC,view,1,2,,,nan,7,s-1\n"
                 + truncated)  # the real file's last line: 8 of 9 fields, no newline

    events = sent_events(path)

    assert [(key, event["line"], event["error"]) for key, event in events] == [
        (None, 2, "price 'not-a-price' is not a number"),
        (None, 3, "event_time 'yesterday' is not a time"),
        (None, 4, "unknown event_type 'wishlist'"),
        (None, 5, "empty user_id"),
        (None, 6, "price 'nan' is not a number"),
        (None, 7, "8 of 9 fields"),
    ]
    assert events[-1][1] == {
        "type": "replay_error", "messageId": uuid5("rees46:sample.csv:7"), "source": "rees46",
        "file": "sample.csv", "line": 7, "raw": truncated, "error": "8 of 9 fields",
    }
    assert all(event["type"] not in CALL_TYPES for _, event in events)  # fails rule known_type


def test_a_row_the_csv_reader_rejects_is_reported_and_reading_goes_on(tmp_path: Path) -> None:
    huge = "x" * 200_000  # over csv.field_size_limit()
    path = write(tmp_path, HEADER
                 + f"2019-10-01 00:00:00 UTC,view,1,2,{huge},,1.00,7,s-1\n"
                 + "2019-10-01 00:00:01 UTC,view,1,2,,,1.00,7,s-1\n")

    (_, error), (_, viewed) = sent_events(path)

    assert (error["line"], error["error"]) == (2, "CSV error: field larger than field limit (131072)")
    assert error["raw"].startswith("2019-10-01 00:00:00 UTC,view,1,2,xxx") and len(error["raw"]) > 200_000
    assert viewed["messageId"] == uuid5("rees46:sample.csv:3")


def test_identical_rows_get_distinct_ids_and_a_second_replay_the_same_ids(tmp_path: Path) -> None:
    row = "2019-10-01 00:00:00 UTC,view,1,2,,,1.00,7,s-1\n"
    path = write(tmp_path, HEADER + row + row)

    first = [event["messageId"] for _, event in sent_events(path)]
    again = [event["messageId"] for _, event in sent_events(path)]

    assert first == again
    assert len(set(first)) == 2


def test_same_line_in_another_file_gets_another_id(tmp_path: Path) -> None:
    row = "2019-10-01 00:00:00 UTC,view,1,2,,,1.00,7,s-1\n"
    folder = tmp_path / "days"
    folder.mkdir()
    write(folder, HEADER + row, "2019-10-01.csv")
    write(folder, HEADER + row, "2019-10-02.csv")
    (folder / "notes.txt").write_text("not a csv")

    events = sent_events(folder)

    assert [e["messageId"] for _, e in events] == [uuid5("rees46:2019-10-01.csv:2"), uuid5("rees46:2019-10-02.csv:2")]


def test_columns_are_found_by_name_and_a_wrong_header_fails_before_sending(tmp_path: Path) -> None:
    reordered = write(tmp_path, "user_id,event_type,event_time,product_id,category_id,category_code,brand,"
                                "price,user_session\n7,view,2019-10-01 00:00:00 UTC,1,2,,,1.50,s\n", "reordered.csv")
    assert sent_events(reordered)[0][1]["properties"] == {"product_id": "1", "category_id": "2", "price": 1.5}

    wrong = write(tmp_path, "InvoiceNo,StockCode\n1,2\n", "wrong.csv")
    with pytest.raises(ReplayError, match="lacks column"):
        rees46_records(wrong)
    with pytest.raises(ReplayError, match="does not exist"):
        rees46_records(tmp_path / "missing.csv")


def test_gzipped_files_are_read(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "sample.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(HEADER + "2019-10-01 00:00:00 UTC,view,1,2,,,1.00,7,s-1\n")

    assert [e["event"] for _, e in sent_events(path)] == ["Product Viewed"]


# ------------------------------------------------------------------------------------------------
# The real REES46 sample (never committed: it has no licence)
# ------------------------------------------------------------------------------------------------
needs_sample = pytest.mark.skipif(not REES46_SAMPLE.is_file(), reason=f"REES46 sample not present at {REES46_SAMPLE}")


@needs_sample
def test_real_sample_counts_and_revenue_equal_pandas() -> None:
    frame = pd.read_csv(REES46_SAMPLE, dtype=str)
    complete = frame[frame["user_session"].notna()]  # the truncated last line lacks the last field
    expected_counts = complete["event_type"].value_counts().to_dict()
    purchases = complete[complete["event_type"] == "purchase"]
    expected_revenue = sum(Decimal(price) for price in purchases["price"])

    sink = ListSink()
    summary = replay(rees46_records(REES46_SAMPLE), sink)
    events = [json.loads(value) for _, value in sink.records]

    assert expected_counts == {"view": 17_055, "purchase": 214, "cart": 165}
    assert summary.records_sent == len(frame) == 17_435
    assert summary.broken_rows == len(frame) - len(complete) == 1
    assert dict(summary.events) == {"Product Viewed": expected_counts["view"],
                                    "Product Added": expected_counts["cart"],
                                    "Order Completed": expected_counts["purchase"]}
    assert summary.orders == len(purchases)
    assert summary.revenue == expected_revenue
    revenue_sent = sum(Decimal(repr(e["properties"]["revenue"])) for e in events if e.get("event") == "Order Completed")
    assert revenue_sent == expected_revenue
    assert datetime.fromisoformat(events[0]["timestamp"]) == datetime(2019, 10, 1, tzinfo=UTC)
    good = [e for e in events if e["type"] == "track"]
    assert all(e["event"] in KNOWN_TRACK_EVENTS and e["anonymousId"] and e["context"]["sessionId"] for e in good)
    assert all(e["properties"]["products"] for e in good if e["event"] in ORDER_EVENTS)


@needs_sample
def test_real_sample_replays_with_identical_and_distinct_message_ids() -> None:
    first, again = ListSink(), ListSink()
    replay(rees46_records(REES46_SAMPLE), first)
    replay(rees46_records(REES46_SAMPLE), again)
    first_ids = [json.loads(value)["messageId"] for _, value in first.records]
    again_ids = [json.loads(value)["messageId"] for _, value in again.records]

    frame = pd.read_csv(REES46_SAMPLE, dtype=str, keep_default_na=False)
    duplicated_rows = int(frame.duplicated().sum())

    assert first_ids == again_ids
    assert duplicated_rows > 0  # the sample has identical-looking rows ...
    assert len(set(first_ids)) == len(first_ids)  # ... and each still gets its own id
