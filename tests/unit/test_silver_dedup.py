"""silver.new_messages: one row per messageId, the earliest Kafka record, none that silver holds
from another record."""

from __future__ import annotations

from lakepulse.silver import new_messages

COLUMNS = "message_id string, topic string, partition int, offset long, context string"
SEEN_COLUMNS = "message_id string, topic string, partition int, offset long"


def _rows(frame):
    return sorted(tuple(r) for r in frame.collect())


def test_the_earliest_record_of_each_message_is_kept_and_seen_messages_are_dropped(spark):
    accepted = spark.createDataFrame([
        ("m1", "t", 0, 5, "first m1"),
        ("m1", "t", 0, 9, "retry of m1, later offset"),
        ("m2", "t", 1, 3, "m2 in partition 1"),
        ("m2", "t", 0, 7, "m2 again, partition 0 sorts first"),
        ("m3", "t", 2, 1, "already in silver"),
        ("m3", "t", 2, 2, "already in silver, twice"),
        ("m4", "t", 2, 4, "alone"),
    ], COLUMNS)
    seen = spark.createDataFrame([("m3", "t", 0, 1), ("m9", "t", 0, 2), ("m4", "t", 2, 4)], SEEN_COLUMNS)
    # m3 is in silver from another record: both its records go. m4 is in silver from this very
    # record (an earlier run of the same batch): it stays.
    assert _rows(new_messages(accepted, seen)) == [
        ("m1", "t", 0, 5, "first m1"),
        ("m2", "t", 0, 7, "m2 again, partition 0 sorts first"),
        ("m4", "t", 2, 4, "alone"),
    ]
    # Seen from one of its own records, the message's other records still go.
    own = spark.createDataFrame([("m3", "t", 2, 1)], SEEN_COLUMNS)
    assert [r[:4] for r in _rows(new_messages(accepted, own)) if r[0] == "m3"] == [("m3", "t", 2, 1)]
    # Without silver's ids only the repeats go; nothing seen and no repeats: every row stays.
    assert [r[0] for r in _rows(new_messages(accepted))] == ["m1", "m2", "m3", "m4"]
    singles = accepted.where("offset IN (5, 3, 4)")
    assert _rows(new_messages(singles, seen.limit(0))) == _rows(singles)
