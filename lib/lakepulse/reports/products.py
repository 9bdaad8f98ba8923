"""``lakepulse report products``: the hot products — top N by trend score.

The ranking is :func:`lakepulse.gold.products.hot_products_sql` over ``gold.product_metrics`` (the
last ``--hours`` hours against the hours before, "now" being the end of the latest hour in the
table). Chart: ``products-hot.png``, trend score bars annotated with the activity before → now.

Example::

    report = products_report(spark, settings, top=10, hours=24)
"""

from __future__ import annotations

import argparse
import datetime as dt

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakepulse.gold.products import ACTIVITY_WEIGHTS, hot_products_sql
from lakepulse.reports.document import Chart, Report, ReportError, Table, figure, money, png_bytes, read_table
from lakepulse.settings import Settings
from lakepulse.tables import table_ref


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top", type=int, default=10, metavar="N", help="how many products (default 10)")
    parser.add_argument("--hours", type=int, default=None, metavar="H",
                        help="compare the last H hours with the H before (default gold.hot_products_hours)")


def build(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> Report:
    return products_report(spark, settings, top=args.top, hours=args.hours)


def products_report(spark: SparkSession, settings: Settings, top: int = 10, hours: int | None = None) -> Report:
    """The hot products report over ``gold.product_metrics``."""
    hours = settings.gold.hot_products_hours if hours is None else hours
    if top < 1 or hours < 1:
        raise ReportError(f"products report: --top and --hours must be at least 1, got {top} and {hours}")
    metrics = read_table(spark, settings, settings.gold.product_metrics_table)
    latest = metrics.agg(F.max("hour")).first()[0]
    if latest is None:
        raise ReportError(f"{settings.gold.product_metrics_table} is empty")
    now = latest + dt.timedelta(hours=1)
    location = table_ref(settings, settings.gold.product_metrics_table).path.replace("`", "``")
    hot = spark.sql(hot_products_sql(f"delta.`{location}`", hours, limit=top)).collect()
    weights = " + ".join(f"{w} × {c}" for c, w in ACTIVITY_WEIGHTS.items())
    summary = [
        f"window: the {hours} h up to {now:%Y-%m-%d %H:%M} UTC (end of the latest hour), against the {hours} h before",
        f"activity = {weights}; trend score = (now − before) / sqrt(before + 1)",
    ]
    table = Table(
        f"Top {len(hot)} hot products",
        ["rank", "product_id", "category", "activity", "before", "views", "adds", "orders", "revenue", "trend"],
        [(r["rank"], r["product_id"], r["category"] or "-", r["current_activity"], r["previous_activity"],
          r["views"], r["adds"], r["orders"], money(r["revenue"]), f"{r['trend_score']:.2f}") for r in hot],
    )
    blocks: list[Table | Chart] = [table]
    if hot:
        blocks.append(Chart("Hot products by trend score", "hot", _hot_chart(hot, hours)))
    return Report("products", "Hot products", summary, blocks)


def _hot_chart(hot: list, hours: int) -> bytes:
    fig = figure(8, max(2.5, 0.45 * len(hot) + 1.2))
    ax = fig.add_subplot()
    rows = hot[::-1]
    scores = [r["trend_score"] for r in rows]
    bars = ax.barh([str(r["product_id"])[:24] for r in rows], scores,
                   color=["#d62728" if s > 0 else "#7f7f7f" for s in scores])
    ax.bar_label(bars, labels=[f"{r['previous_activity']} → {r['current_activity']}" for r in rows],
                 padding=3, fontsize=8)
    ax.axvline(0, color="#444", linewidth=0.8)
    ax.set_xlabel("trend score")
    ax.set_title(f"Hot products: activity in the last {hours} h vs the {hours} h before")
    ax.margins(x=0.2)
    return png_bytes(fig)
