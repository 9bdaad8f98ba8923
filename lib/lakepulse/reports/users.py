"""``lakepulse report users``: the top buyers by revenue and the RFM segment distribution.

From ``gold.user_profile`` (two Spark actions): the ``--top`` buyers (``orders > 0``) by revenue with
their RFM score and segment, and per RFM segment the people, buyers and revenue it holds. Charts:
``users-top.png`` (revenue bars coloured by segment) and ``users-segments.png`` (people per segment).

Example::

    report = users_report(spark, settings, top=10)
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakepulse.gold.profiles import RFM_SEGMENTS
from lakepulse.reports.document import Chart, Report, Table, figure, money, percent, png_bytes, read_table
from lakepulse.settings import Settings

UNSCORED = "Unscored"  # profiles the gold job has not scored yet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top", type=int, default=10, metavar="N", help="how many top buyers (default 10)")


def build(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> Report:
    return users_report(spark, settings, top=args.top)


def segment_order(name: str) -> tuple[int, str]:
    """Sort key: the RFM segments in their defined order (best first), then any other name."""
    return (RFM_SEGMENTS.index(name), "") if name in RFM_SEGMENTS else (len(RFM_SEGMENTS), name)


def users_report(spark: SparkSession, settings: Settings, top: int = 10) -> Report:
    """The users report over ``gold.user_profile``; ``top`` ≥ 1 buyers listed."""
    if top < 1:
        raise ValueError(f"users report: top must be at least 1, got {top}")
    profiles = read_table(spark, settings, settings.gold.user_profile_table)
    buyers = (profiles.where("orders > 0").orderBy(F.desc("revenue"), "user_id").limit(top)
              .select("user_id", "orders", "revenue", "average_order_value", "last_order_at", "rfm_score",
                      "rfm_segment").collect())
    segments = sorted(
        profiles.groupBy(F.coalesce("rfm_segment", F.lit(UNSCORED)).alias("segment")).agg(
            F.count(F.lit(1)).alias("people"), F.count_if(F.col("orders") > 0).alias("buyers"),
            F.sum("revenue").alias("revenue"),
        ).collect(),
        key=lambda r: segment_order(r["segment"]),
    )
    people = sum(r["people"] for r in segments)
    buyer_count = sum(r["buyers"] for r in segments)
    revenue = sum(r["revenue"] or 0.0 for r in segments)
    summary = [f"people: {people:,}", f"buyers: {buyer_count:,} ({percent(buyer_count / people if people else None)})",
               f"revenue: {money(revenue)}"]
    top_table = Table(
        f"Top {len(buyers)} buyers by revenue",
        ["rank", "user_id", "orders", "revenue", "avg order", "last order", "rfm", "segment"],
        [(i, r["user_id"], r["orders"], money(r["revenue"]), money(r["average_order_value"]),
          r["last_order_at"], r["rfm_score"], r["rfm_segment"] or UNSCORED) for i, r in enumerate(buyers, 1)],
    )
    segment_table = Table(
        "RFM segments",
        ["segment", "people", "share", "buyers", "revenue", "revenue share"],
        [(r["segment"], r["people"], percent(r["people"] / people), r["buyers"], money(r["revenue"]),
          percent((r["revenue"] or 0.0) / revenue if revenue else None)) for r in segments],
    )
    blocks: list[Table | Chart] = [top_table]
    if buyers:
        blocks.append(Chart("Top buyers by revenue", "top", _top_buyers_chart(buyers)))
    blocks.append(segment_table)
    if segments:
        blocks.append(Chart("People per RFM segment", "segments", _segments_chart(segments, people)))
    return Report("users", "Users: top buyers and RFM segments", summary, blocks)


def _colors(names: list[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    ordered = sorted(set(names), key=segment_order)
    return {name: palette(segment_order(name)[0] % 10) for name in ordered}


def _top_buyers_chart(buyers: list) -> bytes:
    from matplotlib.patches import Patch

    fig = figure(8, max(2.5, 0.45 * len(buyers) + 1.2))
    ax = fig.add_subplot()
    segments = [r["rfm_segment"] or UNSCORED for r in buyers]
    colors = _colors(segments)
    labels = [str(r["user_id"])[:24] for r in buyers][::-1]
    values = [r["revenue"] for r in buyers][::-1]
    bars = ax.barh(labels, values, color=[colors[s] for s in segments][::-1])
    ax.bar_label(bars, labels=[money(v) for v in values], padding=3, fontsize=8)
    ax.set_xlabel("revenue")
    ax.set_title("Top buyers by revenue (colour: RFM segment)")
    ax.legend(handles=[Patch(color=c, label=s) for s, c in colors.items()], fontsize=8, loc="lower right")
    ax.margins(x=0.15)
    return png_bytes(fig)


def _segments_chart(segments: list, people: int) -> bytes:
    fig = figure(8, 4.5)
    ax = fig.add_subplot()
    names = [r["segment"] for r in segments]
    colors = _colors(names)
    bars = ax.bar(names, [r["people"] for r in segments], color=[colors[n] for n in names])
    ax.bar_label(bars, labels=[f"{r['people']:,} ({percent(r['people'] / people)})" for r in segments], fontsize=8)
    ax.set_ylabel("people")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title("RFM segment distribution")
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.margins(y=0.15)
    return png_bytes(fig)
