"""silver.sessions: gap and client-session rules, counts, landing page, campaign, channel, keys.

Expected values are worked out by hand from the inline events. To keep Spark jobs few, the main
scenarios share one input frame (one device per scenario) that is sessionized and collected once.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from lakepulse.sessions import CHANNELS, SESSIONS_SCHEMA, channel, sessionize

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
EVENTS_SCHEMA = (
    "message_id string, type string, event string, anonymous_id string, user_id string, "
    "event_time timestamp, session_id string, page_path string, page_url string, page_referrer string, "
    "campaign_name string, campaign_source string, campaign_medium string, revenue double, order_id string"
)
SHOP = "https://shop.example"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def collected(moment: datetime) -> datetime:
    """How PySpark hands back a timestamp: naive, in the Python process's local time zone."""
    return moment.astimezone().replace(tzinfo=None)


def event(message_id: str, device: str | None, seconds: float | None, call: str = "track",
          name: str | None = None, *, user_id: str | None = None, session_id: str | None = None,
          path: str | None = None, referrer: str | None = None,
          campaign: tuple[str | None, str | None, str | None] = (None, None, None),
          revenue: float | None = None, order_id: str | None = None) -> tuple[Any, ...]:
    """One silver.events row; ``path`` also sets ``page_url`` on the shop."""
    return (message_id, call, name, device, user_id, None if seconds is None else at(seconds), session_id,
            path, None if path is None else SHOP + path, referrer, *campaign, revenue, order_id)


def gap_key(device: str, start: datetime) -> str:
    iso = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return hashlib.sha256(f"{device}|{iso}".encode()).hexdigest()


def client_key(device: str, client_session_id: str) -> str:
    return "c:" + hashlib.sha256(f"{device}|{client_session_id}".encode()).hexdigest()


EVENTS = [
    # Boundary: a pause of exactly 1800 s stays in the session, 1801 s or 1800.000001 s does not.
    event("m01", "a-1800", 0, "page", path="/"),
    event("m02", "a-1800", 1800, "track", "Product Viewed"),
    event("m03", "a-1801", 0, "page", path="/"),
    event("m04", "a-1801", 1801, "page", path="/again"),
    event("m05", "a-micro", 0, "page", path="/"),
    event("m06", "a-micro", 1800.000001, "page", path="/later"),
    # Two devices interleaved in time.
    event("m10", "a-alice", 0, "page", path="/"),
    event("m11", "a-bob", 60, "page", path="/bob"),
    event("m12", "a-alice", 120, "page", path="/shoes"),
    event("m13", "a-bob", 2400, "track", "Product Viewed"),   # 2340 s after m11: new session
    event("m14", "a-alice", 2700, "page", path="/shoes/1"),   # 2580 s after m12: new session
    event("m15", "a-bob", 3000, "page", path="/bob/2"),       # 600 s after m13: same session
    # Client session ids: s-1 spans two hours; s-2 starts 5 minutes later; sessionless events
    # (null or blank id) form their own gap session; another device reuses the id s-1.
    event("m20", "a-app", 0, "screen", session_id="s-1", path="Home"),
    event("m21", "a-app", 7200, "track", "Product Viewed", session_id="s-1"),
    event("m22", "a-app", 7500, "screen", session_id="s-2", path="Cart"),
    event("m23", "a-app", 600, "identify", user_id="u-app"),
    event("m24", "a-app", 900, "track", "Product Added", session_id=" "),
    event("m25", "a-other", 0, "screen", session_id="s-1", path="Home"),
    # A full funnel: counts, order retry counted once, order without id, last user_id.
    event("m30", "a-buyer", 0, "page", path="/p/shoe", referrer="https://www.google.com/"),
    event("m31", "a-buyer", 10, "track", "Product Viewed", path="/p/shoe"),
    event("m32", "a-buyer", 20, "track", "Product Added"),
    event("m33", "a-buyer", 30, "alias", user_id="u-0"),
    event("m34", "a-buyer", 40, "identify", user_id="u-1"),
    event("m35", "a-buyer", 50, "track", "Checkout Started", user_id="u-1"),
    event("m36", "a-buyer", 60, "track", "Order Completed", user_id="u-1", revenue=59.5, order_id="o-1"),
    event("m37", "a-buyer", 61, "track", "Order Completed", user_id="u-1", revenue=59.5, order_id="o-1"),
    event("m38", "a-buyer", 70, "track", "Order Completed", revenue=10.25),
    event("m39", "a-buyer", 80, "screen", path="Thanks"),
    # Campaign and landing page come from the first event that has them, not from identify.
    event("m40", "a-mail", 0, "identify", user_id="u-mail"),
    event("m41", "a-mail", 5, "page", path="/sale", referrer="", campaign=("spring", "newsletter", "email")),
    event("m42", "a-mail", 10, "page", path="/sale/2", referrer=SHOP + "/sale", campaign=("other", "google", "cpc")),
    event("m50", "a-fb", 0, "page", path="/summer", referrer="https://l.instagram.com/",
          campaign=("summer_collection", "instagram", "paid_social")),
    # Navigation inside the shop is not a referral.
    event("m60", "a-self", 0, "page", path="/cart", referrer=SHOP + "/p/1"),
    # Same time: message_id breaks the tie.
    event("m-tie-b", "a-tie", 0, "page", path="/b"),
    event("m-tie-a", "a-tie", 0, "page", path="/a"),
    # Server-side event: no anonymous_id, the user is the device.
    event("m80", None, 0, "track", "Order Completed", user_id="u-server", revenue=5.0, order_id="o-9"),
    # Cannot be placed (silver rejects these): no identity; no time.
    event("m90", None, 0, "page", path="/ghost"),
    event("m91", "a-1800", None, "page", path="/timeless"),
]


def rows_by_device(rows: list[Row]) -> dict[str, list[Row]]:
    by_device: dict[str, list[Row]] = {}
    for row in sorted(rows, key=lambda r: (r.device_id, r.session_start)):
        by_device.setdefault(row.device_id, []).append(row)
    return by_device


def spans(rows: list[Row]) -> list[tuple[datetime, datetime, int, int]]:
    return [(r.session_start, r.session_end, r.duration_seconds, r.events) for r in rows]


@pytest.fixture(scope="module")
def events(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(EVENTS, EVENTS_SCHEMA)


@pytest.fixture(scope="module")
def sessions(events: DataFrame) -> list[Row]:
    return events.transform(sessionize).collect()


@pytest.fixture(scope="module")
def by_device(sessions: list[Row]) -> dict[str, list[Row]]:
    return rows_by_device(sessions)


def test_output_has_the_table_schema(events: DataFrame) -> None:
    produced = events.transform(sessionize).schema
    assert [(f.name, f.dataType) for f in produced.fields] == [(f.name, f.dataType) for f in SESSIONS_SCHEMA.fields]


def test_one_row_per_session_and_unplaceable_events_left_out(sessions: list[Row], by_device) -> None:
    assert sorted((device, len(rows)) for device, rows in by_device.items()) == [
        ("a-1800", 1), ("a-1801", 2), ("a-alice", 2), ("a-app", 3), ("a-bob", 2), ("a-buyer", 1),
        ("a-fb", 1), ("a-mail", 1), ("a-micro", 2), ("a-other", 1), ("a-self", 1), ("a-tie", 1),
        ("u-server", 1),
    ]
    assert sum(r.events for r in sessions) == len(EVENTS) - 2


def test_pause_of_exactly_the_gap_stays_in_the_session(by_device) -> None:
    assert spans(by_device["a-1800"]) == [(collected(at(0)), collected(at(1800)), 1800, 2)]


def test_pause_longer_than_the_gap_starts_a_new_session(by_device) -> None:
    assert spans(by_device["a-1801"]) == [
        (collected(at(0)), collected(at(0)), 0, 1),
        (collected(at(1801)), collected(at(1801)), 0, 1),
    ]
    # One microsecond over the gap is enough.
    assert spans(by_device["a-micro"]) == [
        (collected(at(0)), collected(at(0)), 0, 1),
        (collected(at(1800.000001)), collected(at(1800.000001)), 0, 1),
    ]
    assert [r.landing_page for r in by_device["a-micro"]] == ["/", "/later"]


def test_interleaved_devices_are_sessionized_separately(by_device) -> None:
    alice, bob = by_device["a-alice"], by_device["a-bob"]
    assert spans(alice) == [(collected(at(0)), collected(at(120)), 120, 2),
                            (collected(at(2700)), collected(at(2700)), 0, 1)]
    assert [(r.landing_page, r.page_views) for r in alice] == [("/", 2), ("/shoes/1", 1)]
    assert spans(bob) == [(collected(at(60)), collected(at(60)), 0, 1),
                          (collected(at(2400)), collected(at(3000)), 600, 2)]
    # The second session opens with a track call without a page: landing is the first page seen.
    assert [(r.landing_page, r.page_views, r.product_views) for r in bob] == [("/bob", 1, 0), ("/bob/2", 1, 1)]


def test_client_session_id_is_honoured_across_a_long_gap(by_device) -> None:
    summary = [(r.client_session_id, r.session_start, r.session_end, r.duration_seconds, r.events, r.page_views,
                r.user_id, r.landing_page) for r in by_device["a-app"]]
    assert summary == [
        ("s-1", collected(at(0)), collected(at(7200)), 7200, 2, 1, None, "Home"),
        # Sessionless events (null or blank id) are cut by the gap rule among themselves.
        (None, collected(at(600)), collected(at(900)), 300, 2, 0, "u-app", None),
        ("s-2", collected(at(7500)), collected(at(7500)), 0, 1, 1, None, "Cart"),
    ]
    assert [r.session_key for r in by_device["a-app"]] == [
        client_key("a-app", "s-1"), gap_key("a-app", at(600)), client_key("a-app", "s-2"),
    ]
    # The same client id on another device is another session with another key.
    assert by_device["a-other"][0].session_key == client_key("a-other", "s-1")


def test_funnel_counts_orders_revenue_and_conversion(by_device) -> None:
    [buyer] = by_device["a-buyer"]
    assert (buyer.events, buyer.page_views, buyer.product_views, buyer.adds_to_cart, buyer.checkouts) == (10, 2, 1, 1, 1)
    # o-1 was sent twice (a retry): counted once; the order without an id counts too.
    assert (buyer.orders, buyer.revenue, buyer.converted) == (2, 69.75, True)
    # Last non-null user_id, although later events carry none.
    assert (buyer.device_id, buyer.user_id, buyer.duration_seconds) == ("a-buyer", "u-1", 80)
    [server] = by_device["u-server"]
    assert (server.user_id, server.orders, server.revenue, server.converted, server.page_views) == (
        "u-server", 1, 5.0, True, 0)
    [browse] = by_device["a-1800"]
    assert (browse.orders, browse.revenue, browse.converted, browse.checkouts) == (0, 0.0, False, 0)


def test_landing_page_campaign_and_channel(by_device) -> None:
    def attribution(device: str) -> tuple[Any, ...]:
        [row] = by_device[device]
        return row.landing_page, row.campaign_name, row.campaign_source, row.campaign_medium, row.channel

    assert attribution("a-buyer") == ("/p/shoe", None, None, None, "organic_search")
    # identify first: landing page and campaign from the first page; the later campaign is ignored.
    assert attribution("a-mail") == ("/sale", "spring", "newsletter", "email", "email")
    assert attribution("a-fb") == ("/summer", "summer_collection", "instagram", "paid_social", "paid_social")
    assert attribution("a-self") == ("/cart", None, None, None, "direct")
    assert attribution("a-tie") == ("/a", None, None, None, "direct")
    assert by_device["a-alice"][0].channel == "direct"


def test_session_keys_are_deterministic_and_distinct(spark: SparkSession, events: DataFrame,
                                                     sessions: list[Row], by_device) -> None:
    assert [r.session_key for r in by_device["a-1801"]] == [gap_key("a-1801", at(0)), gap_key("a-1801", at(1801))]
    assert by_device["a-micro"][1].session_key == gap_key("a-micro", at(1800.000001))
    assert len({r.session_key for r in sessions}) == len(sessions)
    # Another run: rows in another order and partitioning, another session time zone. Same result.
    shuffled = spark.createDataFrame(list(reversed(EVENTS)), EVENTS_SCHEMA).repartition(3)
    zone = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
    try:
        again = shuffled.transform(sessionize).collect()
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)
    assert sorted(again) == sorted(sessions)


def test_custom_gap(spark: SparkSession) -> None:
    events = spark.createDataFrame([
        event("g1", "a-gap", 0, "page", path="/"),
        event("g2", "a-gap", 600, "page", path="/2"),      # exactly the gap: same session
        event("g3", "a-gap", 1201, "page", path="/3"),     # 601 s: new session
        event("g4", "a-gap", 1500, "page", path="/4"),
    ], EVENTS_SCHEMA)
    rows = sorted(events.transform(lambda e: sessionize(e, gap_seconds=600)).collect(), key=lambda r: r.session_start)
    assert [(r.landing_page, r.duration_seconds, r.events) for r in rows] == [("/", 600, 2), ("/3", 299, 2)]


@pytest.mark.parametrize("gap", [0, -1, 1.5, True, "30 minutes"])
def test_gap_must_be_a_positive_whole_number(events: DataFrame, gap: Any) -> None:
    with pytest.raises(ValueError, match="gap_seconds must be a positive whole number"):
        sessionize(events, gap_seconds=gap)


def test_missing_columns_are_named(events: DataFrame) -> None:
    with pytest.raises(ValueError, match="lack column.s. session_id, revenue"):
        sessionize(events.drop("revenue", "session_id"))


# (source, medium, referrer, page_url, channel with page_url, channel without page_url when different)
CHANNEL_CASES: list[tuple[Any, ...]] = [
    ("google", "cpc", "https://www.google.com/", None, "paid_search"),
    ("bing", " PPC ", None, None, "paid_search"),
    ("facebook", "cpc", "https://l.facebook.com/", None, "paid_social"),
    ("instagram", "paid_social", "https://l.instagram.com/", None, "paid_social"),
    ("meta_ads", "paid", "https://m.facebook.com/", None, "paid_social"),
    ("newsletter", "email", None, None, "email"),
    ("Newsletter", None, None, None, "email"),
    ("crm", "E-Mail", "https://www.youtube.com/", None, "email"),
    ("dealsite", "affiliate", "https://www.dealsite.example/", None, "affiliate"),
    ("google", "display", "https://googleads.g.doubleclick.net/", None, "display"),
    (None, "banner", None, None, "display"),
    (None, "social", None, None, "social"),
    ("facebook", None, None, None, "social"),
    (None, None, "https://t.co/abc", None, "social"),
    (None, None, "https://www.linkedin.com/feed/", None, "social"),
    (None, None, "https://x.com/someone", None, "social"),
    (None, None, "https://www.pinterest.co.uk/pin/1", None, "social"),
    (None, None, "https://www.tiktok.com/@shop", None, "social"),
    (None, None, "https://duckduckgo.com/", None, "organic_search"),
    (None, None, "https://www.google.co.uk/search?q=shoes", None, "organic_search"),
    (None, None, "https://search.yahoo.com/search?p=shoes", None, "organic_search"),
    ("google", "organic", None, None, "organic_search"),
    (None, None, "https://news.example.org/a", None, "referral"),
    (None, None, "https://xyz.com/", None, "referral"),
    (None, None, "https://notgoogle.com/", None, "referral"),
    (None, None, "https://googleads.g.doubleclick.net/", None, "referral"),
    (None, "referral", None, None, "referral"),
    ("partner", "sms", None, None, "other"),
    (None, "sms", "https://www.google.com/", None, "other"),
    (None, "(none)", None, None, "direct"),
    (None, None, None, None, "direct"),
    ("", " ", "", "", "direct"),
    (None, None, "https://shop.example/p/1", "https://shop.example/cart", "direct", "referral"),
    (None, None, "https://www.shop.example/", "https://shop.example/", "direct", "referral"),
    (None, None, "https://www.google.com/", "https://shop.example/", "organic_search"),
]


def test_channel_rules(spark: SparkSession) -> None:
    cases = spark.createDataFrame(
        [(index, *case[:4]) for index, case in enumerate(CHANNEL_CASES)],
        "case int, source string, medium string, referrer string, page_url string",
    )
    got = cases.select(
        "case",
        channel("source", "medium", "referrer", "page_url").alias("with_page"),
        channel(F.col("source"), F.col("medium"), F.col("referrer")).alias("without_page"),
    ).orderBy("case").collect()
    expected = [(index, case[4], case[5] if len(case) > 5 else case[4]) for index, case in enumerate(CHANNEL_CASES)]
    assert [tuple(row) for row in got] == expected
    assert {case[4] for case in CHANNEL_CASES} == set(CHANNELS)
