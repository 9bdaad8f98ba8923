"""silver.sessions: visits per device, cut by inactivity or by the client's own session id.

A session is what a marketer calls a visit: the events of one device (``anonymous_id``, else
``user_id``) with no pause longer than the inactivity gap (30 minutes by default, as in Google
Analytics and Segment), or, when the SDK sends one, all events carrying the same client session id.
Each session gets its counts (events, page views, the e-commerce funnel, orders, revenue), where it
landed, the campaign that brought it and a marketing channel.

Only built-in Spark functions are used (window functions and one ``groupBy``, no Python UDFs), and
the input is shuffled once, by device.

Example::

    sessions = spark.read.table("silver.events").transform(sessionize)
    short_visits = silver_events.transform(lambda events: sessionize(events, gap_seconds=600))
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakepulse.contract import CHECKOUT_STARTED, ORDER_COMPLETED, PRODUCT_ADDED, PRODUCT_VIEWED

DEFAULT_GAP_SECONDS = 30 * 60

# Channel names (values of the ``channel`` column).
PAID_SEARCH = "paid_search"
PAID_SOCIAL = "paid_social"
EMAIL = "email"
SOCIAL = "social"
AFFILIATE = "affiliate"
DISPLAY = "display"
ORGANIC_SEARCH = "organic_search"
REFERRAL = "referral"
OTHER = "other"
DIRECT = "direct"
CHANNELS = (PAID_SEARCH, PAID_SOCIAL, EMAIL, SOCIAL, AFFILIATE, DISPLAY, ORGANIC_SEARCH, REFERRAL, OTHER, DIRECT)

# Columns of silver.events that sessionize reads.
REQUIRED_COLUMNS = (
    "message_id", "type", "event", "anonymous_id", "user_id", "event_time", "session_id", "page_path",
    "page_url", "page_referrer", "campaign_name", "campaign_source", "campaign_medium", "revenue", "order_id",
)

# One row per session; session_key is the key. Counts are whole events, revenue is in the order
# currency as sent (silver does not convert), times are UTC instants.
SESSIONS_SCHEMA = StructType([
    StructField("session_key", StringType(), False),
    StructField("device_id", StringType(), False),
    StructField("user_id", StringType()),
    StructField("client_session_id", StringType()),
    StructField("session_start", TimestampType(), False),
    StructField("session_end", TimestampType(), False),
    StructField("duration_seconds", LongType(), False),
    StructField("events", LongType(), False),
    StructField("page_views", LongType(), False),
    StructField("product_views", LongType(), False),
    StructField("adds_to_cart", LongType(), False),
    StructField("checkouts", LongType(), False),
    StructField("orders", LongType(), False),
    StructField("revenue", DoubleType(), False),
    StructField("landing_page", StringType()),
    StructField("campaign_name", StringType()),
    StructField("campaign_source", StringType()),
    StructField("campaign_medium", StringType()),
    StructField("channel", StringType(), False),
    StructField("converted", BooleanType(), False),
])

# What identifies a session inside sessionize: device, client session id, gap session number.
_SESSION_GROUP = ("device_id", "client_session_id", "session_number")

# Hosts are compared without a leading "www." (see _host). Patterns are anchored: rlike searches.
_SOCIAL_HOSTS = (r"(^|\.)(facebook\.com|fb\.com|fb\.me|instagram\.com|twitter\.com|x\.com|t\.co|linkedin\.com"
                 r"|lnkd\.in|tiktok\.com|pinterest\.[a-z.]+|pin\.it|youtube\.com|youtu\.be)$")
_SEARCH_HOSTS = r"(^|\.)(google|bing|duckduckgo|yahoo|baidu|yandex)\.[a-z.]+$"
_SOCIAL_SOURCES = r"^(facebook|fb|meta|instagram|ig|twitter|x|linkedin|tiktok|pinterest|youtube)(\.com)?$"
_PAID_MEDIUMS = r"^(cpc|ppc|sem|retargeting|paid.*)$"
_EMAIL_NAMES = r"^(e[-_ ]?mail|newsletter)$"
_AFFILIATE_MEDIUMS = r"^affiliates?$"
_DISPLAY_MEDIUMS = r"^(display|banner|cpm|interstitial|expandable)$"
_SOCIAL_MEDIUMS = r"^(social|social[-_ ]?(network|media)|sm|organic[-_ ]social)$"
_NO_MEDIUM = r"^(\(none\)|none|direct)$"
_MICROS_PER_DAY = 86_400_000_000
# scheme://[user@]host[:port]/..., or a bare host/path; group 1 is the host.
_URL_HOST = r"^(?:[a-z][a-z0-9+.\-]*://)?(?:[^@/?#]*@)?([^/?#:]+)"


def _as_column(value: Column | str) -> Column:
    return F.col(value) if isinstance(value, str) else value


def _blank_to_null(value: Column | str) -> Column:
    """Trimmed text, null when empty: SDKs send "" as often as they omit a field."""
    return F.nullif(F.trim(_as_column(value)), F.lit(""))


def _host(url: Column | str) -> Column:
    """Lower-case host of ``url`` without a leading ``www.``; null when there is none."""
    host = F.regexp_extract(F.lower(F.trim(_as_column(url))), _URL_HOST, 1)
    return F.nullif(F.regexp_replace(host, r"^www\.", ""), F.lit(""))


def device_id(anonymous_id: Column | str = "anonymous_id", user_id: Column | str = "user_id") -> Column:
    """The device an event came from: its ``anonymous_id``, else its ``user_id`` (server-side events)."""
    return F.coalesce(_as_column(anonymous_id), _as_column(user_id))


def channel(
    campaign_source: Column | str,
    campaign_medium: Column | str,
    referrer: Column | str,
    page_url: Column | str | None = None,
) -> Column:
    """The marketing channel of a visit, from its UTM source and medium and its referrer URL.

    Source and medium are compared trimmed and case-insensitively, empty strings count as absent,
    referrers by host (``www.`` ignored). The first rule that matches wins:

    1. medium ``cpc``, ``ppc``, ``sem``, ``retargeting`` or ``paid…`` → ``paid_social`` when the
       source or the referrer is a social network or the medium mentions ``social``, else ``paid_search``;
    2. medium or source ``email``/``e-mail``/``newsletter`` → ``email``;
    3. medium ``affiliate(s)`` → ``affiliate``;
    4. medium ``display``, ``banner``, ``cpm``, ``interstitial``, ``expandable`` → ``display``;
    5. medium ``social`` (``social-network``, ``social media``, ``sm``, ``organic_social``), or a social
       source, or a social referrer → ``social``. Social networks: Facebook, Instagram, Twitter/X
       (``t.co``), LinkedIn, TikTok, Pinterest, YouTube;
    6. medium ``organic`` → ``organic_search``; medium ``referral`` → ``referral``;
       medium ``(none)``/``none``/``direct`` → ``direct``;
    7. any other non-empty medium (``sms``, ``push``, ``qr``…) → ``other``: tagged traffic is never
       organic or direct;
    8. referrer on a search engine (Google, Bing, DuckDuckGo, Yahoo, Baidu, Yandex) → ``organic_search``;
    9. any other referrer → ``referral``;
    10. otherwise → ``direct``.

    When ``page_url`` is given, a referrer on the page's own host is an internal navigation, not a
    referral (rules 5, 8 and 9 ignore it). Never null; the values are listed in :data:`CHANNELS`.

    Example::

        events.withColumn("channel", channel("campaign_source", "campaign_medium", "page_referrer", "page_url"))
    """
    source = F.lower(_blank_to_null(campaign_source))
    medium = F.lower(_blank_to_null(campaign_medium))
    referrer_host = _host(referrer)
    if page_url is not None:
        referrer_host = F.when(referrer_host == _host(page_url), F.lit(None)).otherwise(referrer_host)
    social_source = source.rlike(_SOCIAL_SOURCES)
    social_referrer = referrer_host.rlike(_SOCIAL_HOSTS)
    # A null condition counts as false in when(), so absent fields simply fall through.
    return (
        F.when(medium.rlike(_PAID_MEDIUMS),
               F.when(social_source | social_referrer | medium.contains("social"), F.lit(PAID_SOCIAL))
               .otherwise(F.lit(PAID_SEARCH)))
        .when(medium.rlike(_EMAIL_NAMES) | source.rlike(_EMAIL_NAMES), F.lit(EMAIL))
        .when(medium.rlike(_AFFILIATE_MEDIUMS), F.lit(AFFILIATE))
        .when(medium.rlike(_DISPLAY_MEDIUMS), F.lit(DISPLAY))
        .when(medium.rlike(_SOCIAL_MEDIUMS) | social_source | social_referrer, F.lit(SOCIAL))
        .when(medium == "organic", F.lit(ORGANIC_SEARCH))
        .when(medium == "referral", F.lit(REFERRAL))
        .when(medium.rlike(_NO_MEDIUM), F.lit(DIRECT))
        .when(medium.isNotNull(), F.lit(OTHER))
        .when(referrer_host.rlike(_SEARCH_HOSTS), F.lit(ORGANIC_SEARCH))
        .when(referrer_host.isNotNull(), F.lit(REFERRAL))
        .otherwise(F.lit(DIRECT))
    )


def _utc_iso(moment: Column) -> Column:
    """``moment`` as ``2026-03-02T10:00:00.000000Z`` (UTC), whatever ``spark.sql.session.timeZone`` says."""
    # Built arithmetically from epoch microseconds: date_format would go through the session
    # time zone (and its DST gaps), and session keys must not change with the configuration.
    micros = F.unix_micros(moment)
    of_day = F.pmod(micros, F.lit(_MICROS_PER_DAY))
    day = F.date_from_unix_date(((micros - of_day) / _MICROS_PER_DAY).cast("int"))
    return F.format_string(
        "%sT%02d:%02d:%02d.%06dZ",
        day.cast("string"),
        (of_day / 3_600_000_000).cast("int"),
        F.pmod(of_day / 60_000_000, F.lit(60)).cast("int"),
        F.pmod(of_day / 1_000_000, F.lit(60)).cast("int"),
        F.pmod(of_day, F.lit(1_000_000)).cast("int"),
    )


def _placed(events: DataFrame) -> DataFrame:
    """Events with ``device_id`` and a cleaned ``client_session_id``, one partition per device."""
    return (
        events
        .withColumn("device_id", device_id())
        .withColumn("client_session_id", _blank_to_null(F.col("session_id").cast("string")))
        # silver's identity_present and timestamp rules guarantee both; without them an event
        # cannot be placed in any session.
        .where(F.col("device_id").isNotNull() & F.col("event_time").isNotNull())
        # The only shuffle: every window and the groupBy below partition by supersets of device_id.
        .repartition("device_id")
    )


def _numbered(gap_seconds: int) -> Callable[[DataFrame], DataFrame]:
    """Adds ``session_number``: within a device and client session id, which gap session an event is in.

    Events that carry a client session id all get number 0 (their id already names the session);
    events without one are numbered by the gap rule among themselves.
    """
    in_order = Window.partitionBy("device_id", "client_session_id").orderBy("event_time", "message_id")
    micros = F.unix_micros("event_time")
    gap_micros = micros - F.lag(micros).over(in_order)
    # Strictly greater: a pause of exactly gap_seconds keeps the session open.
    opens = F.col("client_session_id").isNull() & (gap_micros.isNull() | (gap_micros > gap_seconds * 1_000_000))

    def numbered(events: DataFrame) -> DataFrame:
        return (
            events
            .withColumn("opens_session", opens.cast("int"))
            .withColumn("session_number",
                        F.sum("opens_session").over(in_order.rowsBetween(Window.unboundedPreceding, 0)))
        )

    return numbered


def _first_order_events(events: DataFrame) -> DataFrame:
    """Adds ``counted_order``: Order Completed events counted once per ``order_id`` and device.

    SDK retries resend an order under a new messageId; only its first event counts (orders and
    revenue). Order Completed events without an order_id each count.
    """
    same_order = Window.partitionBy("device_id", "order_id").orderBy("event_time", "message_id")
    is_order = F.col("event") == ORDER_COMPLETED
    first = F.col("order_id").isNull() | (F.row_number().over(same_order) == 1)
    return events.withColumn("counted_order", F.coalesce(is_order & first, F.lit(False)))


def _summarised(events: DataFrame) -> DataFrame:
    """One row per session (device, client session id, gap session number) in SESSIONS_SCHEMA."""
    position = F.struct("event_time", "message_id")

    def first_where(value: Column, present: Column) -> Column:
        # min_by skips rows whose ordering is null, so this is the earliest row where ``present``.
        return F.min_by(value, F.when(present, position))

    page_path = _blank_to_null("page_path")
    campaign_fields = {field: _blank_to_null(f"campaign_{field}") for field in ("name", "source", "medium")}
    campaign = F.struct(*(value.alias(field) for field, value in campaign_fields.items()))
    sessions = events.groupBy(*_SESSION_GROUP).agg(
        F.max_by("user_id", F.when(F.col("user_id").isNotNull(), position)).alias("user_id"),
        F.min("event_time").alias("session_start"),
        F.max("event_time").alias("session_end"),
        F.count(F.lit(1)).alias("events"),
        F.count_if(F.col("type").isin("page", "screen")).alias("page_views"),
        F.count_if(F.col("event") == PRODUCT_VIEWED).alias("product_views"),
        F.count_if(F.col("event") == PRODUCT_ADDED).alias("adds_to_cart"),
        F.count_if(F.col("event") == CHECKOUT_STARTED).alias("checkouts"),
        F.count_if("counted_order").alias("orders"),
        F.sum(F.when(F.col("counted_order"), F.col("revenue"))).alias("revenue"),
        first_where(F.struct(page_path.alias("path"), F.col("page_referrer").alias("referrer"),
                             F.col("page_url").alias("url")),
                    page_path.isNotNull()).alias("landing"),
        first_where(campaign, F.coalesce(*campaign_fields.values()).isNotNull())
        .alias("campaign"),
    )
    gap_key = F.sha2(F.concat_ws("|", F.col("device_id"), _utc_iso(F.col("session_start"))), 256)
    client_key = F.concat(F.lit("c:"), F.sha2(F.concat_ws("|", F.col("device_id"), F.col("client_session_id")), 256))
    derived = {
        "session_key": F.when(F.col("client_session_id").isNotNull(), client_key).otherwise(gap_key),
        "duration_seconds": F.floor(
            (F.unix_micros("session_end") - F.unix_micros("session_start")) / 1_000_000),
        "revenue": F.coalesce(F.col("revenue"), F.lit(0.0)),
        "landing_page": F.col("landing.path"),
        "campaign_name": F.col("campaign.name"),
        "campaign_source": F.col("campaign.source"),
        "campaign_medium": F.col("campaign.medium"),
        "channel": channel("campaign.source", "campaign.medium", "landing.referrer", "landing.url"),
        "converted": F.col("orders") > 0,
    }
    return sessions.select(*_SESSION_GROUP, *[
        derived.get(field.name, F.col(field.name)).cast(field.dataType).alias(field.name)
        for field in SESSIONS_SCHEMA.fields if field.name not in _SESSION_GROUP
    ])


def sessionize(events: DataFrame, gap_seconds: int = DEFAULT_GAP_SECONDS) -> DataFrame:
    """silver.events rows → silver.sessions rows: one row per session, in :data:`SESSIONS_SCHEMA`.

    Rules:

    * A device is ``anonymous_id``, else ``user_id`` (:func:`device_id`); its events are ordered by
      ``event_time``, ties broken by ``message_id``.
    * Events that carry a client ``session_id`` (non-empty) form one session per device and id,
      however long the pauses inside it.
    * Events without one are cut into sessions by inactivity, among themselves: a new session starts
      when the pause since the device's previous such event is *strictly greater* than
      ``gap_seconds`` (microsecond precision). A pause of exactly ``gap_seconds`` stays in the session.
      A sessionless event in the middle of a client session therefore belongs to a gap session of
      its own, not to the client's.
    * ``session_key`` is deterministic: ``sha2-256(device_id + "|" + session_start)`` with the start
      as UTC ``yyyy-MM-ddTHH:mm:ss.ffffffZ`` for gap sessions, and
      ``"c:" + sha2-256(device_id + "|" + client_session_id)`` for client sessions (client ids such as
      Amplitude's start-millisecond ids are not unique across devices, so the device is part of the key).
      Late events that move a gap session's start change its key: recompute a device's sessions from
      all its events in the affected period and replace them (MERGE on device and period).
    * Counts: ``events`` all events (identify, alias and group included); ``page_views`` page and
      screen calls; ``product_views``, ``adds_to_cart``, ``checkouts`` the Product Viewed, Product
      Added and Checkout Started events; ``orders`` the Order Completed events, one per ``order_id``
      on the device (retries of an order counted once, in the session of its first event; events
      without an order_id each count); ``revenue`` the sum of those orders' ``revenue``, 0.0 when
      none; ``converted`` is ``orders > 0``.
    * ``user_id`` is the last non-null user_id of the session; ``duration_seconds`` the whole
      seconds from the first to the last event.
    * ``landing_page`` is the ``page_path`` of the first event that has one (identify and track calls
      often carry no page); ``campaign_*`` come from the first event with any campaign field;
      ``channel`` is :func:`channel` of that campaign's source and medium and the landing event's
      referrer and URL.
    * Events without a device or an event time cannot be placed and are left out (silver's rules
      reject them before this point).

    This is a batch transform (window functions over the whole device history), meant for batch
    jobs and ``foreachBatch``; it shuffles the input once, by device.

    Example::

        sessions = silver_events.transform(sessionize)
        quick = silver_events.transform(lambda events: sessionize(events, gap_seconds=600))
    """
    summary = _sessions_with_group(events, gap_seconds, "sessionize")[1]
    return summary.select(*SESSIONS_SCHEMA.fieldNames())


def _sessions_with_group(events: DataFrame, gap_seconds: int, caller: str) -> tuple[DataFrame, DataFrame]:
    """(placed and numbered events, their sessions keyed by _SESSION_GROUP plus SESSIONS_SCHEMA)."""
    if isinstance(gap_seconds, bool) or not isinstance(gap_seconds, int) or gap_seconds <= 0:
        raise ValueError(f"{caller}: gap_seconds must be a positive whole number of seconds, got {gap_seconds!r}")
    missing = [name for name in REQUIRED_COLUMNS if name not in events.columns]
    if missing:
        raise ValueError(f"{caller}: events lack column(s) {', '.join(missing)}; expected silver.events rows")
    placed = events.transform(_placed).transform(_numbered(gap_seconds)).transform(_first_order_events)
    return placed, placed.transform(_summarised)


def session_events(events: DataFrame, gap_seconds: int = DEFAULT_GAP_SECONDS) -> DataFrame:
    """Each event with its session: the input columns plus ``device_id``, ``session_key`` and the
    session's ``channel`` and ``session_start`` — the same sessions :func:`sessionize` builds.

    Example::

        by_channel = silver_events.transform(session_events).groupBy("channel").count()
    """
    placed, summary = _sessions_with_group(events, gap_seconds, "session_events")
    keys = summary.select(*_SESSION_GROUP, "session_key", "channel", "session_start").alias("s")
    on = [F.col(f"e.{c}").eqNullSafe(F.col(f"s.{c}")) for c in _SESSION_GROUP]
    return placed.alias("e").join(keys, on, "inner").select(
        *[F.col(f"e.`{c}`") for c in events.columns], "e.device_id", "s.session_key", "s.channel", "s.session_start")
