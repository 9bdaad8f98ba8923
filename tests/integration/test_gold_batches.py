"""The gold writer on hand-built silver batches: retroactive stitching across every gold table,
idempotency (the same batch twice) and the marketing report published once per closed window.

Every expected figure below is worked out by hand from the events listed in ``_batches``.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from pyspark.sql import functions as F

from lakepulse import identity
from lakepulse.gold.job import GoldBatchWriter, ensure_gold_tables
from lakepulse.io.kafka import ensure_topics
from lakepulse.silver_stream import ensure_silver_tables
from tests.helpers import (
    DESKTOP,
    IPHONE,
    cached_rdds,
    make_settings,
    order_line,
    read_delta_rs,
    read_topic,
    silver_event,
    silver_frame,
    unique_topic,
)

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 2)


def _at(hh: int, mm: int) -> datetime:
    return datetime(2026, 3, 2, hh, mm)


def _batches() -> list[list[dict]]:
    """Batch 0: anonymous a1 browses on a desktop from a paid-search campaign; u1 (device a2, an
    iPhone) views p2 and orders it (o1, 50.0). Batch 1: a1 identifies as u1, then orders o2 (30.0)
    without a user id, and the SDK retries o2 under a new messageId. Batch 2 (the last test only):
    a late view of p1 in the 10:00 hour, and one more retry of o2, at 13:05."""
    a1 = {"anonymous_id": "a1", "context_user_agent": DESKTOP}
    a2 = {"anonymous_id": "a2", "user_id": "u1", "context_user_agent": IPHONE}
    order2 = dict(event="Order Completed", order_id="o2", revenue=30.0, products=[order_line("p3", 30.0, "bags")], **a1)
    return [
        [
            silver_event("m1", _at(10, 0), "page", page_path="/", page_url="https://shop.test/",
                   campaign_name="spring", campaign_source="google", campaign_medium="cpc", **a1),
            silver_event("m2", _at(10, 5), event="Product Viewed", product_id="p1", category="shoes", price=80.0, **a1),
            silver_event("m3", _at(10, 6), event="Product Added", product_id="p1", category="shoes", price=80.0, **a1),
            silver_event("m4", _at(10, 10), event="Product Viewed", product_id="p2", category="hats", price=50.0, **a2),
            silver_event("m5", _at(10, 20), event="Order Completed", order_id="o1", revenue=50.0,
                   products=[order_line("p2", 50.0, "hats")], **a2),
        ],
        [
            silver_event("m6", _at(12, 30), "identify", anonymous_id="a1", user_id="u1", context_user_agent=DESKTOP),
            silver_event("m7", _at(12, 31), **order2),
            silver_event("m8", _at(12, 32), **order2),
        ],
        [
            silver_event("m9", _at(10, 40), event="Product Viewed", product_id="p1", category="shoes", price=80.0,
                         **a1),
            silver_event("m10", _at(13, 5), **order2),
        ],
    ]


@pytest.fixture(scope="module")
def gold(spark, kafka_bootstrap, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gold-batches")
    reports = unique_topic("reports")
    settings, _ = make_settings(folder, kafka_bootstrap, unique_topic("events"),
                                privacy={"salt": "pytest-salt", "salt_file": ""},
                                gold={"reports_topic": reports},
                                lakehouse={"compact_every_batches": 2})  # batch 1 compacts
    ensure_topics(kafka_bootstrap, [reports], partitions=1)
    silver = ensure_silver_tables(spark, settings)
    tables = ensure_gold_tables(spark, settings)
    schema = spark.read.format("delta").load(silver.events.path).schema
    writer = GoldBatchWriter(spark, settings, tables)
    frames = []
    for rows in _batches():
        frames.append(silver_frame(spark, rows, schema))

    applied: set[int] = set()

    def apply(batch_id: int) -> None:
        if batch_id in applied:
            return
        frames[batch_id].write.format("delta").mode("append").save(silver.events.path)
        writer(spark.read.format("delta").load(silver.events.path).where(
            F.col("message_id").isin([r["message_id"] for r in _batches()[batch_id]])), batch_id)
        applied.add(batch_id)

    def apply_all() -> None:
        # Tests after the first need both batches; each can also run on its own.
        for batch_id in (0, 1):
            apply(batch_id)

    def read(ref):
        return spark.read.format("delta").load(ref.path)

    return {"settings": settings, "tables": tables, "apply": apply, "apply_all": apply_all, "read": read,
            "writer": writer,
            "frames": frames, "silver": silver, "reports": reports, "bootstrap": kafka_bootstrap}


def _profile(gold, user_id: str) -> dict:
    rows = gold["read"](gold["tables"].user_profile).where(F.col("user_id") == user_id).collect()
    assert len(rows) <= 1
    return rows[0].asDict() if rows else {}


@pytest.mark.slow
def test_stitching_moves_earlier_activity_to_the_identified_user(spark, gold):
    tables, read = gold["tables"], gold["read"]
    gold["apply"](0)
    a1 = _profile(gold, "a1")
    assert (a1["is_identified"], a1["page_views"], a1["product_views"], a1["adds_to_cart"], a1["orders"]) == \
        (False, 1, 1, 1, 0)
    assert (a1["first_touch_channel"], a1["first_touch_campaign"]) == ("paid_search", "spring")
    u1 = _profile(gold, "u1")
    assert (u1["product_views"], u1["orders"], u1["revenue"], u1["sessions"]) == (1, 1, 50.0, 1)
    funnel = {(r.channel, r.device, r.step): (r.entered, r.converted) for r in read(tables.funnel_daily).collect()}
    assert funnel[("paid_search", "desktop", 2)] == (1, 1)   # a1: viewed, then added
    assert funnel[("direct", "mobile", 1)] == (1, 1)         # u1: viewed p2 …
    assert funnel[("direct", "mobile", 2)] == (1, 0)         # … and never added it
    assert read(tables.user_activity).where("user_id = 'a1'").count() == 1
    # Latency from event time to gold, by nearest rank over the batch's five events (10:00, 10:05,
    # 10:06, 10:10, 10:20): the 3rd largest (p50) is 10:06's, the 5th (p95, p99) 10:00's, the max's.
    [m] = read(tables.metrics).where("query = 'build_gold' AND batch_id = 0").collect()
    assert (m.latency_max_ms - m.latency_p50_ms, m.latency_max_ms - m.latency_p95_ms,
            m.latency_max_ms - m.latency_p99_ms) == (360_000, 0, 0)
    written = max(h.timestamp for h in spark.sql(f"DESCRIBE HISTORY delta.`{tables.funnel_daily.path}`").collect())
    assert m.latency_max_ms >= (written - _at(10, 0)).total_seconds() * 1000   # measured after its writes

    gold["apply"](1)
    assert _profile(gold, "a1") == {}  # a1 is u1 now, in every table
    u1 = _profile(gold, "u1")
    expected = {
        "is_identified": True, "devices": 2, "first_seen": _at(10, 0), "last_seen": _at(12, 32),
        # sessions: a1 10:00–10:06 and 12:30–12:32 (a pause over 30 minutes), a2 10:10–10:20
        "sessions": 3, "events": 8, "page_views": 1, "product_views": 2, "adds_to_cart": 1, "checkouts": 0,
        "orders": 2, "revenue": 80.0, "average_order_value": 40.0,  # o2's retry counts once
        "first_order_at": _at(10, 20), "last_order_at": _at(12, 31), "active_days": 1, "tenure_days": 0,
        "categories_viewed": 2, "top_category": "shoes",  # shoes viewed + added (2) vs hats viewed (1)
        "first_touch_channel": "paid_search", "first_touch_campaign": "spring",
        "recency_days": 0, "frequency": 2, "monetary": 80.0,
        # One person: percent_rank 0 for everyone, so every score is 1 — and R ≤ 2 with orders is Hibernating.
        "r_score": 1, "f_score": 1, "m_score": 1, "rfm_score": "111", "rfm_segment": "Hibernating",
        "as_of": _at(12, 32),
    }
    assert {k: u1[k] for k in expected} == expected

    activity = {(r.user_id, r.window_start.hour): (r.clicks, r.purchases, r.revenue)
                for r in read(tables.user_activity).collect()}
    assert activity == {("u1", 10): (4, 1, 50.0), ("u1", 12): (0, 1, 30.0)}

    metrics = {(r.product_id, r.hour.hour): (r.views, r.adds, r.orders, r.units, r.revenue)
               for r in read(tables.product_metrics).collect()}
    assert metrics == {("p1", 10): (1, 1, 0, 0, 0.0), ("p2", 10): (1, 0, 1, 1, 50.0), ("p3", 12): (0, 0, 1, 1, 30.0)}

    # funnel_attempts: a1's attempt moved to u1 (a1's row is gone); funnel_daily is summed from it.
    attempts = [(r.person_id, r.day, r.start_time, r.channel, r.device, r.step_times, r.reached)
                for r in read(tables.funnel_attempts).collect()]
    assert attempts == [("u1", DAY, _at(10, 5), "paid_search", "desktop", [_at(10, 5), _at(10, 6), None, None], 2)]
    funnel = sorted((r.day, r.channel, r.device, r.step, r.entered, r.converted, r.drop_off)
                    for r in read(tables.funnel_daily).collect())
    # u1's best attempt of the day starts with a1's view at 10:05 (paid search, desktop).
    assert funnel == [
        (DAY, "paid_search", "desktop", 1, 1, 1, 0),
        (DAY, "paid_search", "desktop", 2, 1, 1, 0),
        (DAY, "paid_search", "desktop", 3, 1, 0, 1),
        (DAY, "paid_search", "desktop", 4, 0, 0, 0),
    ]


def test_the_same_batch_twice_changes_nothing(spark, gold):
    gold["apply_all"]()
    from delta.tables import DeltaTable

    tables = gold["tables"]
    refs = [tables.user_profile, tables.product_metrics, tables.user_activity, tables.funnel_daily]

    def versions():
        return [DeltaTable.forPath(spark, ref.path).history(1).first()["version"] for ref in refs]

    before, blocks = versions(), set(cached_rdds(spark))
    silver_batch = gold["read"](gold["silver"].events).where(F.col("message_id").isin("m6", "m7", "m8"))
    gold["writer"](silver_batch, 1)
    assert versions() == before
    # Nor does it leave its checkpoints' blocks behind in the heap.
    assert cached_rdds(spark, since=blocks) == {}
    assert len(read_topic(gold["bootstrap"], gold["reports"])) == 1


def test_a_writer_started_on_gold_without_funnel_attempts_rebuilds_them_from_silver(spark, gold):
    gold["apply_all"]()
    tables = gold["tables"]
    # As gold tables built before funnel_attempts existed: funnel_daily has rows, the attempts none.
    spark.sql(f"DELETE FROM delta.`{tables.funnel_attempts.path}`")
    GoldBatchWriter(spark, gold["settings"], tables)
    attempts = [(r.person_id, r.day, r.start_time, r.channel, r.device, r.reached)
                for r in gold["read"](tables.funnel_attempts).collect()]
    assert attempts == [("u1", DAY, _at(10, 5), "paid_search", "desktop", 2)]
    # Once there are attempts, a new writer leaves them alone.
    version = spark.sql(f"DESCRIBE HISTORY delta.`{tables.funnel_attempts.path}`").agg(F.max("version")).first()[0]
    GoldBatchWriter(spark, gold["settings"], tables)
    assert spark.sql(f"DESCRIBE HISTORY delta.`{tables.funnel_attempts.path}`").agg(F.max("version")).first()[0] \
        == version


def test_gold_compacts_the_tables_it_writes_every_n_batches(spark, gold):
    gold["apply_all"]()
    tables = gold["tables"]
    operations = {ref.name: [r.operation for r in spark.sql(f"DESCRIBE HISTORY delta.`{ref.path}`")
                             .orderBy("version").collect()] for ref in tables.written()}
    # Batch 1 ends with a compaction. Only user_activity (three MERGEs' files) and product_metrics
    # (batch 0's 10:00 hour and batch 1's 12:00 hour, in the same date partition) then have small
    # files to merge; the others hold one file per partition, which OPTIMIZE leaves alone.
    compacted = {name for name, ops in operations.items() if "OPTIMIZE" in ops}
    assert compacted == {tables.user_activity.name, tables.product_metrics.name}
    assert sum(ops.count("OPTIMIZE") for ops in operations.values()) == 2
    for ref in (tables.user_activity, tables.product_metrics):
        assert operations[ref.name][-1] == "OPTIMIZE"
        assert spark.sql(f"DESCRIBE DETAIL delta.`{ref.path}`").first().numFiles == 1


def test_each_closed_window_is_published_once(gold):
    gold["apply_all"]()
    # After batch 1 the latest event is 12:32; the watermark (10 minutes earlier) is 12:22, so only
    # u1's 10:00–11:00 window is closed; 12:00–13:00 is still open.
    messages = list(read_topic(gold["bootstrap"], gold["reports"]).values())
    assert [key for key, _ in messages] == [b"u1|2026-03-02T10:00:00Z"]
    assert json.loads(messages[0][1]) == {"user_id": "u1", "window_start": "2026-03-02T10:00:00Z",
                                          "window_end": "2026-03-02T11:00:00Z", "clicks": 4, "purchases": 1,
                                          "revenue": 50.0}
    published = gold["read"](gold["tables"].user_activity).where("published_at IS NOT NULL").collect()
    assert [(r.user_id, r.window_start.hour) for r in published] == [("u1", 10)]


def test_gold_tables_read_with_delta_rs_and_duckdb(gold):
    gold["apply_all"]()
    import duckdb

    tables = gold["tables"]
    profile = read_delta_rs(tables.user_profile.path)  # delta-rs, no Spark
    products = read_delta_rs(tables.product_metrics.path)
    funnel = read_delta_rs(tables.funnel_daily.path)
    activity = read_delta_rs(tables.user_activity.path)
    con = duckdb.connect()
    for name, table in (("profile", profile), ("products", products), ("funnel", funnel), ("activity", activity)):
        con.register(name, table)
    assert con.execute("SELECT user_id, orders, revenue, rfm_segment FROM profile").fetchall() == \
        [("u1", 2, 80.0, "Hibernating")]
    assert con.execute("SELECT sum(revenue), sum(units) FROM products").fetchone() == (80.0, 2)
    assert con.execute("SELECT step, converted FROM funnel ORDER BY step").fetchall() == [(1, 1), (2, 1), (3, 0), (4, 0)]
    assert con.execute("SELECT sum(clicks), sum(purchases) FROM activity").fetchone() == (4, 2)


def test_events_of_finds_the_peoples_events_on_every_date_they_have_any(spark, tmp_path):
    from lakepulse.gold.job import _events_of

    path = str(tmp_path / "events")
    rows = [  # message, anonymous id, user id, date
        ("m1", "a1", None, date(2026, 3, 1)), ("m2", "a1", "u1", date(2026, 3, 2)),
        ("m3", "a2", None, date(2026, 3, 3)),   # u1's other device, on a date with no u1 or a1 event
        ("m4", "a3", None, date(2026, 3, 1)), ("m5", "a3", None, date(2026, 3, 4)),  # someone else
        ("m6", None, "u9", date(2026, 3, 2)),
    ]
    (spark.createDataFrame(rows, "message_id string, anonymous_id string, user_id string, event_date date")
     .write.format("delta").partitionBy("event_date").save(path))
    silver = spark.read.format("delta").load(path)
    identity = spark.createDataFrame([("a1", "u1"), ("a2", "u1"), ("a3", None)], "anonymous_id string, user_id string")
    found = lambda people: sorted(r.message_id for r in _events_of(silver, identity, people).collect())  # noqa: E731
    assert found(["u1"]) == ["m1", "m2", "m3"]
    assert found(["u1", "u9"]) == ["m1", "m2", "m3", "m6"]
    assert found(["a3"]) == ["m4", "m5"]
    assert found([]) == []
    # Within spans of dates: a1's 1 March event and a3's 4 March one are outside them.
    within = [(date(2026, 3, 2), date(2026, 3, 3))]
    assert sorted(r.message_id for r in _events_of(silver, identity, ["u1", "a3"], within=within).collect()) == [
        "m2", "m3"]


def test_active_spans_join_the_batch_dates_and_the_profiles_widened_by_a_day(spark):
    from lakepulse.gold.job import _active_spans

    profiles = spark.createDataFrame([
        ("u1", datetime(2026, 3, 1, 10), datetime(2026, 3, 3, 23)),    # 28 Feb - 4 Mar
        ("u2", datetime(2026, 3, 10, 0), datetime(2026, 3, 10, 1)),    # 9 - 11 Mar
        ("u3", datetime(2026, 1, 1, 0), datetime(2026, 1, 2, 0)),      # not touched
    ], "user_id string, first_seen timestamp, last_seen timestamp")
    batch = [date(2026, 3, 5), date(2026, 3, 20), None]
    # 5 March is adjacent to u1's span (joined); 20 March stands alone; u9 has no profile.
    assert _active_spans(profiles, ["u1", "u2", "u9"], batch) == [
        (date(2026, 2, 28), date(2026, 3, 5)), (date(2026, 3, 9), date(2026, 3, 11)), (date(2026, 3, 20), date(2026, 3, 20))]
    assert _active_spans(profiles, [], [date(2026, 3, 5)]) == [(date(2026, 3, 5), date(2026, 3, 5))]


def test_products_are_recomputed_for_the_hours_a_batch_touches_and_orders_count_once_a_day(spark, gold):
    # Runs last: batch 2 changes what the tests above expect.
    gold["apply_all"]()
    tables, read = gold["tables"], gold["read"]
    # silver.identity_map as silver's merges of batches 0 and 1 leave it (a1 → u1, a2 → u1), plus a
    # third device of u1's, a3, linked earlier, whose one event (a page view at 09:00) carries no user id.
    silver = gold["silver"]
    a3_view = silver_event("m0", _at(9, 0), "page", anonymous_id="a3", page_path="/", context_user_agent=IPHONE)
    schema = read(silver.events).schema
    silver_frame(spark, [a3_view], schema).write.format("delta").mode("append").save(silver.events.path)
    links = identity.latest_identity(identity.identity_links(read(silver.events)))
    a3_link = spark.createDataFrame([("a3", "u1", _at(8, 0), _at(8, 0), 1, ["u1"])], identity.IDENTITY_MAP_SCHEMA)
    links.unionByName(a3_link).write.format("delta").mode("append").save(silver.identity.path)
    assert sorted((r.anonymous_id, r.user_id) for r in read(silver.identity).collect()) == [
        ("a1", "u1"), ("a2", "u1"), ("a3", "u1")]
    gold["apply"](2)
    metrics = {(r.product_id, r.hour.hour): (r.views, r.adds, r.orders, r.units, r.revenue)
               for r in read(tables.product_metrics).collect()}
    # p1's 10:00 hour gains the late view; the retry of o2 at 13:05 is the same order (counted at
    # 12:31), so the 13:00 hour has no row; p2's and p3's hours are as batch 1 left them.
    assert metrics == {("p1", 10): (2, 1, 0, 0, 0.0), ("p2", 10): (1, 0, 1, 1, 50.0), ("p3", 12): (0, 0, 1, 1, 30.0)}
    operations = [r.operationParameters for r in spark.sql(f"DESCRIBE HISTORY delta.`{tables.product_metrics.path}`")
                  .orderBy(F.desc("version")).limit(1).collect()]
    # Only the touched hours were replaced.
    assert "TIMESTAMP'2026-03-02 10:00:00', TIMESTAMP'2026-03-02 13:00:00'" in operations[0]["predicate"]
    # Batch 2 names only device a1, not its user u1: u1's profile is built from all three devices,
    # a3's page view found through the map: 11 events (batch 1's 8, a3's view, batch 2's view and
    # retry), 2 page views, 3 product views, orders o1 + o2 (the retry counts once).
    u1 = _profile(gold, "u1")
    assert (u1["devices"], u1["events"], u1["page_views"], u1["product_views"], u1["orders"], u1["revenue"]) == \
        (3, 11, 2, 3, 2, 80.0)
    assert _profile(gold, "a1") == {}
