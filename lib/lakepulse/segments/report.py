"""``lakepulse report segments``: the customer segments of the latest ``segment_users`` run.

From ``gold.segment_profiles`` (size, shares, centroid in business units, name) and the run's row in
``ops.segmentation_runs`` (k and how it was chosen, silhouette, inertia, ARI). Charts:
``segments-shares.png`` (share of users and of revenue per segment), ``segments-centroids.png``
(each centroid as a heat map row, each feature scaled to its largest centroid) and, when k was
chosen by silhouette, ``segments-k.png`` (silhouette and inertia over k).

Example::

    report = segments_report(spark, settings)
    print(report.text())
"""

from __future__ import annotations

import argparse
from typing import Any

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from lakepulse.reports.document import (
    Chart,
    Report,
    ReportError,
    Table,
    figure,
    money,
    percent,
    png_bytes,
    read_table,
)
from lakepulse.segments.features import FEATURES
from lakepulse.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: the report shows the latest run."""


def build(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> Report:
    return segments_report(spark, settings)


def _value(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def segments_report(spark: SparkSession, settings: Settings) -> Report:
    """The segments report; ReportError when segment_users has not run yet."""
    config = settings.segmentation
    profiles = sorted(read_table(spark, settings, config.segment_profiles_table).collect(),
                      key=lambda r: r["segment_id"])
    if not profiles:
        raise ReportError(f"{config.segment_profiles_table} is empty: run segment_users first")
    version = profiles[0]["model_version"]
    try:
        runs = read_table(spark, settings, config.runs_table)
        run = (runs.where(F.col("model_version") == version).orderBy(F.desc("finished_at")).first())
    except ReportError:
        run = None
    features = [f for f in FEATURES if f in profiles[0]["centroid"]]
    users = sum(r["users"] for r in profiles)
    revenue = sum(r["revenue"] for r in profiles)
    summary = [f"model {version}, scored {profiles[0]['scored_at']:%Y-%m-%d %H:%M} UTC",
               f"users: {users:,} in {len(profiles)} segments, revenue {money(revenue)}"]
    if run is not None:
        summary.append(_quality_line(run))
    segment_table = Table(
        "Segments",
        ["id", "segment", "users", "share of users", "revenue", "share of revenue"],
        [(r["segment_id"], r["segment_name"], r["users"], percent(r["user_share"]), money(r["revenue"]),
          percent(r["revenue_share"])) for r in profiles],
    )
    centroid_table = Table(
        "Centroids in business units (a typical member of each segment)",
        ["segment", *[f"{f} ({FEATURES[f].unit})" for f in features]],
        [(r["segment_name"], *[_value(r["centroid"][f]) for f in features]) for r in profiles],
    )
    blocks: list[Table | Chart] = [
        segment_table,
        Chart("Share of users and of revenue", "shares", _shares_chart(profiles)),
        centroid_table,
        Chart("Centroids (each feature scaled to its largest centroid)", "centroids",
              _centroids_chart(profiles, features)),
    ]
    if run is not None and run["silhouette_by_k"]:
        blocks.append(Chart("Choosing k: silhouette and inertia", "k", _k_chart(run)))
    return Report("segments", "Customer segments", summary, blocks)


def _quality_line(run: Row) -> str:
    parts = [f"k = {run['k']} ({run['k_chosen_by']})"]
    if run["silhouette"] is not None:
        parts.append(f"silhouette {run['silhouette']:.3f}")
    parts.append(f"inertia {run['inertia']:,.1f}")
    if run["adjusted_rand_index"] is not None:
        parts.append(f"ARI vs simulator personas {run['adjusted_rand_index']:.3f} "
                     f"({run['ground_truth_users']:,} users)")
    return "quality: " + ", ".join(parts)


def _shares_chart(profiles: list[Row]) -> bytes:
    fig = figure(8.0, 0.6 * len(profiles) + 1.8)
    ax = fig.add_subplot()
    positions = range(len(profiles))
    ax.barh([p + 0.2 for p in positions], [100 * r["user_share"] for r in profiles], height=0.4, label="users",
            color="#4c72b0")
    ax.barh([p - 0.2 for p in positions], [100 * r["revenue_share"] for r in profiles], height=0.4,
            label="revenue", color="#dd8452")
    ax.set_yticks(list(positions), [r["segment_name"] for r in profiles])
    ax.invert_yaxis()
    ax.set_xlabel("% of all")
    ax.legend(loc="lower right")
    return png_bytes(fig)


def _centroids_chart(profiles: list[Row], features: list[str]) -> bytes:
    values = [[r["centroid"][f] for f in features] for r in profiles]
    tops = [max(abs(row[i]) for row in values) or 1.0 for i in range(len(features))]
    scaled = [[row[i] / tops[i] for i in range(len(features))] for row in values]
    fig = figure(max(8.0, 0.9 * len(features) + 2.5), 0.6 * len(profiles) + 2.2)
    ax = fig.add_subplot()
    ax.imshow(scaled, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    for y, row in enumerate(values):
        for x, value in enumerate(row):
            ax.text(x, y, _value(value), ha="center", va="center", fontsize=8,
                    color="white" if scaled[y][x] > 0.6 else "black")
    ax.set_xticks(range(len(features)), features, rotation=35, ha="right")
    ax.set_yticks(range(len(profiles)), [r["segment_name"] for r in profiles])
    return png_bytes(fig)


def _k_chart(run: Row) -> bytes:
    silhouettes: dict[int, Any] = dict(run["silhouette_by_k"])
    inertias: dict[int, Any] = dict(run["inertia_by_k"] or {})
    ks = sorted(silhouettes)
    fig = figure(7.0, 4.0)
    ax = fig.add_subplot()
    ax.plot(ks, [silhouettes[k] for k in ks], marker="o", color="#4c72b0", label="silhouette")
    ax.axvline(run["k"], color="#999999", linestyle=":")
    ax.set_xlabel("k")
    ax.set_ylabel("silhouette")
    if inertias:
        other = ax.twinx()
        other.plot(ks, [inertias.get(k) for k in ks], marker="s", color="#dd8452", label="inertia")
        other.set_ylabel("inertia (evaluation sample)")
    ax.set_title(f"k = {run['k']} chosen")
    return png_bytes(fig)
