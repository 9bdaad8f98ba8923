"""What every gold table starts from: silver events with the person they belong to.

* :func:`stitch` gives each event its ``person_id`` — the user it belongs to, applying the identity
  map retroactively: an event's own ``user_id`` if it has one, else the user its ``anonymous_id``
  was (latest) identified as, else the anonymous id itself (a visitor never identified).
* :func:`event_name` names every call the way funnels and reports refer to it.
* :func:`with_counted_orders` marks the Order Completed events that count: one per ``order_id``.
* :func:`device_type` reads desktop / mobile / tablet from a user agent;
* :func:`funnel_events` is all of that for funnels: stitched events with their session's
  ``session_key`` and ``channel`` and the ``device`` type.

Example::

    identity = current_identity(spark.read.format("delta").load(identity_path), new_events)
    events = stitch(silver_events, identity).transform(with_counted_orders)
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakepulse import identity as identity_map
from lakepulse import sessions
from lakepulse.contract import ORDER_COMPLETED
from lakepulse.spark import one_of

PAGE_VIEWED = "Page Viewed"
SCREEN_VIEWED = "Screen Viewed"
# Names of the non-track calls, so that every event has a name.
CALL_NAMES = {"page": PAGE_VIEWED, "screen": SCREEN_VIEWED, "identify": "Identify", "alias": "Alias",
              "group": "Group"}
DEVICE_TYPES = ("desktop", "mobile", "tablet", "unknown")

_TABLET = r"(?i)(ipad|tablet|kindle|silk|playbook|(android(?!.*mobile)))"
_MOBILE = r"(?i)(mobi|iphone|ipod|android|blackberry|opera mini|windows phone)"


def event_name(call_type: Column | str = "type", event: Column | str = "event") -> Column:
    """The track event's name; page and screen calls are ``Page Viewed`` / ``Screen Viewed``,
    identify, alias and group calls ``Identify``, ``Alias``, ``Group``."""
    call_type = F.col(call_type) if isinstance(call_type, str) else call_type
    event = F.col(event) if isinstance(event, str) else event
    by_type = F.lit(None).cast("string")
    for name, label in reversed(CALL_NAMES.items()):
        by_type = F.when(call_type == name, F.lit(label)).otherwise(by_type)
    return F.when(call_type == "track", event).otherwise(by_type)


def device_type(user_agent: Column | str = "context_user_agent") -> Column:
    """``tablet``, ``mobile``, ``desktop`` from a user agent string; ``unknown`` when there is none."""
    agent = F.trim(F.col(user_agent) if isinstance(user_agent, str) else user_agent)
    return (
        F.when(agent.isNull() | (agent == ""), F.lit("unknown"))
        .when(agent.rlike(_TABLET), F.lit("tablet"))
        .when(agent.rlike(_MOBILE), F.lit("mobile"))
        .otherwise(F.lit("desktop"))
    )


def current_identity(identity_table: DataFrame, new_events: DataFrame | None = None) -> DataFrame:
    """The identity map including the links in ``new_events`` (a micro-batch whose identity merge
    may not have committed yet): one row per anonymous id, as silver's map will hold it."""
    if new_events is None:
        return identity_map.map_columns(identity_table)
    batch = identity_map.latest_identity(identity_map.identity_links(new_events))
    return identity_map.merge_identity(identity_table, batch)


def identity_of(identity: DataFrame, ids: Iterable[str]) -> DataFrame:
    """The rows of ``identity`` whose anonymous or user id is one of ``ids`` (a micro-batch's
    people or devices): what a stitch of those people's events needs, picked out in one scan of
    the map with a hash lookup per row (measured on a 5,000,000-row map and 3,148 ids: 1.7 s, where
    a broadcast semi-join of both id columns took 4.0 s)."""
    ids = sorted(set(ids) - {None})
    if not ids:
        return identity.limit(0)
    return identity.where(one_of(F.col("anonymous_id"), ids) | one_of(F.col("user_id"), ids))


def stitch(events: DataFrame, identity: DataFrame) -> DataFrame:
    """Adds ``person_id`` (see the module doc), ``is_identified`` and ``name`` (:func:`event_name`,
    replacing silver's page name column) to silver events."""
    links = identity.select(F.col("anonymous_id").alias("_anon"), F.col("user_id").alias("_mapped_user"))
    joined = events.join(links, events["anonymous_id"] == links["_anon"], "left")
    known_user = F.coalesce(F.col("user_id"), F.col("_mapped_user"))
    return (
        joined
        .withColumn("person_id", F.coalesce(known_user, F.col("anonymous_id")))
        .withColumn("is_identified", known_user.isNotNull())
        .withColumn("name", event_name())
        .drop("_anon", "_mapped_user")
    )


def stitch_sessions(sessions: DataFrame, identity: DataFrame) -> DataFrame:
    """Adds ``person_id`` to silver.sessions rows: the session's user, else the user its device was
    identified as, else the device — the same rule as :func:`stitch` for events."""
    links = identity.select(F.col("anonymous_id").alias("_anon"), F.col("user_id").alias("_mapped_user"))
    joined = sessions.join(links, sessions["device_id"] == links["_anon"], "left")
    return joined.withColumn(
        "person_id", F.coalesce(F.col("user_id"), F.col("_mapped_user"), F.col("device_id"))
    ).drop("_anon", "_mapped_user")


def with_counted_orders(events: DataFrame) -> DataFrame:
    """Adds ``counted_order``: true for the first Order Completed event of each ``order_id`` (by
    event time, then message id); SDK retries of an order under a new messageId do not count
    twice. Order Completed events without an order id each count."""
    is_order = F.coalesce(F.col("event") == ORDER_COMPLETED, F.lit(False))
    # Every other event is alone in its window partition (no skew on a null order id).
    group = F.when(is_order & F.col("order_id").isNotNull(), F.concat(F.lit("o:"), F.col("order_id")))
    same_order = Window.partitionBy(F.coalesce(group, F.concat(F.lit("m:"), F.col("message_id")))) \
        .orderBy("event_time", "message_id")
    return events.withColumn("counted_order", is_order & (F.row_number().over(same_order) == 1))


def funnel_events(events: DataFrame, identity: DataFrame, gap_seconds: int = sessions.DEFAULT_GAP_SECONDS) -> DataFrame:
    """Silver events ready for :mod:`lakepulse.gold.funnel`: stitched to people, each with its
    session (``session_key``, the session's marketing ``channel``) and its ``device`` type — what
    the gold job, the live funnel report and the notebooks all count."""
    return with_session_and_device(stitch(events, identity), gap_seconds)


def with_session_and_device(stitched: DataFrame, gap_seconds: int = sessions.DEFAULT_GAP_SECONDS) -> DataFrame:
    """Stitched events with their session's ``session_key``, ``channel`` and ``session_start`` and
    their ``device`` type (:func:`funnel_events` without the stitch, for events already stitched)."""
    return sessions.session_events(stitched, gap_seconds).withColumn("device", device_type())
