"""``lakepulse report user USER_ID``: one person's profile and activity timeline.

Every ``gold.user_profile`` field of the person, and their hours from ``gold.user_activity_hourly``
(clicks, purchases, revenue per hour). Chart: ``user-<id>-activity.png``, clicks and purchases per
hour. An unknown user is a :class:`ReportError` (exit code 1).

Example::

    report = user_report(spark, settings, "u-42")
"""

from __future__ import annotations

import argparse
import datetime as dt

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakepulse.reports.document import (
    Chart,
    Report,
    ReportError,
    Table,
    figure,
    money,
    png_bytes,
    read_table,
    safe_name,
)
from lakepulse.settings import Settings
from lakepulse.tables import table_ref


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user_id", help="the person: user id, or anonymous id of a visitor never identified")
    parser.add_argument("--hours", type=int, default=48, metavar="N",
                        help="print the latest N active hours (default 48, 0 for all; the chart shows all)")


def build(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> Report:
    return user_report(spark, settings, args.user_id, hours=args.hours)


def user_report(spark: SparkSession, settings: Settings, user_id: str, hours: int = 48) -> Report:
    """The user report of ``user_id``; ReportError when gold.user_profile does not hold them."""
    profiles = read_table(spark, settings, settings.gold.user_profile_table)
    found = profiles.where(F.col("user_id") == user_id).limit(1).collect()
    if not found:
        raise ReportError(f"unknown user {user_id!r}: not in {table_ref(settings, settings.gold.user_profile_table).name}")
    profile = found[0].asDict()
    activity = (read_table(spark, settings, settings.gold.user_activity_table)
                .where(F.col("user_id") == user_id).orderBy("window_start")
                .select("window_start", "clicks", "purchases", "revenue").collect())
    summary = [
        f"orders: {profile['orders']}, revenue: {money(profile['revenue'])}",
        f"RFM: {profile['rfm_score'] or '-'} ({profile['rfm_segment'] or 'unscored'})",
        f"seen: {profile['first_seen']:%Y-%m-%d %H:%M} to {profile['last_seen']:%Y-%m-%d %H:%M} UTC",
        f"active hours: {len(activity)}, clicks: {sum(r['clicks'] for r in activity)}, "
        f"purchases: {sum(r['purchases'] for r in activity)}",
    ]
    shown = activity[-hours:] if hours > 0 else activity
    blocks: list[Table | Chart] = [Table("Profile", ["field", "value"], list(profile.items()))]
    if activity:
        blocks.append(Chart("Activity per hour", "activity", _timeline_chart(user_id, activity)))
        title = "Activity per hour" + (f" (latest {len(shown)} of {len(activity)})" if len(shown) < len(activity) else "")
        blocks.append(Table(title, ["hour", "clicks", "purchases", "revenue"],
                            [(r["window_start"], r["clicks"], r["purchases"], money(r["revenue"])) for r in shown]))
    return Report(f"user-{safe_name(user_id)}", f"User {user_id}", summary, blocks)


def _timeline_chart(user_id: str, activity: list) -> bytes:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    fig = figure(9, 4.5)
    clicks_ax, purchases_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    hours = [r["window_start"] + dt.timedelta(minutes=30) for r in activity]  # bar centred in its hour
    width = 1 / 24 * 0.9
    clicks_ax.bar(hours, [r["clicks"] for r in activity], width=width, color="#1f77b4")
    clicks_ax.set_ylabel("clicks")
    clicks_ax.set_title(f"Activity of {user_id} per hour (UTC)")
    purchases_ax.bar(hours, [r["purchases"] for r in activity], width=width, color="#2ca02c")
    purchases_ax.set_ylabel("purchases")
    purchases_ax.yaxis.get_major_locator().set_params(integer=True)
    locator = AutoDateLocator()
    purchases_ax.xaxis.set_major_locator(locator)
    purchases_ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    return png_bytes(fig)
