"""``lakepulse report funnel``: the e-commerce funnel over a date range — per step the people who
entered it, converted (reached it) and dropped off — and its daily trend.

The step figures mean what :func:`lakepulse.gold.funnel.summarize` says: step 1 ``entered`` =
``converted`` = people starting; step i ``entered`` = people who reached step i − 1, ``converted``
= people who reached step i, ``drop_off`` = entered − converted. Two sources:

* ``gold.funnel_daily`` (default): its day × channel × device rows summed over the range
  (``--channel`` / ``--device`` filter). Counts add up exactly; conversion rates are recomputed
  from the sums; times to convert are the daily medians averaged, weighted by people converting.
* ``--live``: the funnel engine (:func:`lakepulse.gold.funnel.run_funnel`) run now on
  ``silver.events`` of the range, stitched to people, with the gold job's default steps
  (:func:`lakepulse.gold.daily.default_funnel`): exact medians, nothing precomputed needed.

The range is ``--from`` … ``--to`` (inclusive UTC days); by default the 7 days up to the latest
day in the source. Chart: ``funnel-steps.png``, people per step with the drop-off annotated.

Example::

    report = funnel_report(spark, settings, start=date(2026, 1, 1), end=date(2026, 1, 7))
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakepulse.reports.document import (
    Chart,
    Report,
    ReportError,
    Table,
    figure,
    percent,
    png_bytes,
    read_table,
)
from lakepulse.settings import Settings

DEFAULT_DAYS = 7


@dataclass(frozen=True)
class StepFigures:
    """One funnel step over the range."""

    step: int
    step_name: str
    entered: int
    converted: int
    drop_off: int
    conversion_from_previous: float | None
    conversion_from_first: float | None
    median_seconds_to_convert: float | None


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", type=_day, default=None, metavar="YYYY-MM-DD",
                        help=f"first day (default: {DEFAULT_DAYS - 1} days before --to)")
    parser.add_argument("--to", dest="end", type=_day, default=None, metavar="YYYY-MM-DD",
                        help="last day, inclusive (default: the latest day with data)")
    parser.add_argument("--channel", default=None, help="only this marketing channel (gold.funnel_daily)")
    parser.add_argument("--device", default=None, help="only this device type: desktop, mobile, tablet, unknown")
    parser.add_argument("--live", action="store_true",
                        help="compute the funnel now from silver.events with the funnel engine")


def build(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> Report:
    return funnel_report(spark, settings, start=args.start, end=args.end, channel=args.channel,
                         device=args.device, live=args.live)


def _range(latest: dt.date | None, start: dt.date | None, end: dt.date | None, source: str) -> tuple[dt.date, dt.date]:
    end = end or latest
    if end is None:
        raise ReportError(f"{source} holds no data")
    start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ReportError(f"--from {start} is after --to {end}")
    return start, end


def funnel_report(
    spark: SparkSession,
    settings: Settings,
    start: dt.date | None = None,
    end: dt.date | None = None,
    channel: str | None = None,
    device: str | None = None,
    live: bool = False,
) -> Report:
    """The funnel report over [``start``, ``end``] from gold.funnel_daily, or from silver.events
    with the funnel engine when ``live``."""
    if live:
        if channel or device:
            raise ReportError("--channel and --device filter gold.funnel_daily; they do not apply with --live")
        steps, trend, start, end = _live_figures(spark, settings, start, end)
        source = f"live from {settings.silver.events_table} (funnel engine)"
    else:
        steps, trend, start, end = _daily_figures(spark, settings, start, end, channel, device)
        source = settings.gold.funnel_daily_table
        if channel or device:
            source += " where " + " and ".join(f"{k} = {v!r}" for k, v in (("channel", channel), ("device", device)) if v)
    if not steps:
        raise ReportError(f"no funnel data from {start} to {end} in {source}")
    first, last = steps[0], steps[-1]
    summary = [
        f"days: {start} to {end}",
        f"source: {source}",
        f"entered: {first.converted:,}, completed: {last.converted:,}, "
        f"conversion: {percent(last.converted / first.converted if first.converted else None)}",
    ]
    step_table = Table(
        "Steps",
        ["step", "name", "entered", "converted", "drop-off", "from previous", "from first", "median time"],
        [(s.step, s.step_name, s.entered, s.converted, s.drop_off, percent(s.conversion_from_previous),
          percent(s.conversion_from_first), duration(s.median_seconds_to_convert)) for s in steps],
    )
    trend_table = Table("Daily trend (by the day the funnel started)", ["day", "entered", "completed", "conversion"],
                        [(day, entered, completed, percent(completed / entered if entered else None))
                         for day, entered, completed in trend])
    chart = Chart("People per step", "steps", _steps_chart(steps, f"{start} to {end}"))
    return Report("funnel", "E-commerce funnel", summary, [step_table, chart, trend_table])


def _daily_figures(spark: SparkSession, settings: Settings, start: dt.date | None, end: dt.date | None,
                   channel: str | None, device: str | None) -> tuple[list[StepFigures], list[tuple], dt.date, dt.date]:
    rows = read_table(spark, settings, settings.gold.funnel_daily_table)
    if channel:
        rows = rows.where(F.col("channel") == channel)
    if device:
        rows = rows.where(F.col("device") == device)
    latest = rows.agg(F.max("day")).first()[0] if end is None else end
    start, end = _range(latest, start, end, settings.gold.funnel_daily_table)
    by_day = (
        rows.where(F.col("day").between(start, end))
        .groupBy("day", "step").agg(
            F.first("step_name").alias("step_name"), F.sum("entered").alias("entered"),
            F.sum("converted").alias("converted"), F.sum("drop_off").alias("drop_off"),
            # Daily medians averaged, weighted by the people they are the median of.
            F.sum(F.col("median_seconds_to_convert") * F.col("converted")).alias("weighted_seconds"),
            F.sum(F.when(F.col("median_seconds_to_convert").isNotNull(), F.col("converted"))).alias("timed"),
        ).collect()
    )
    per_step: dict[int, dict] = {}
    for row in by_day:
        figures = per_step.setdefault(row["step"], {"step_name": row["step_name"], "entered": 0, "converted": 0,
                                                    "drop_off": 0, "weighted_seconds": 0.0, "timed": 0})
        for key in ("entered", "converted", "drop_off", "weighted_seconds", "timed"):
            figures[key] += row[key] or 0
    steps: list[StepFigures] = []
    for number in sorted(per_step):
        f = per_step[number]
        starting = steps[0].converted if steps else f["converted"]
        steps.append(StepFigures(
            number, f["step_name"], f["entered"], f["converted"], f["drop_off"],
            f["converted"] / f["entered"] if f["entered"] else None,
            f["converted"] / starting if starting else None,
            f["weighted_seconds"] / f["timed"] if f["timed"] else None,
        ))
    trend = []
    if steps:
        days: dict[dt.date, list[int]] = {}
        for row in by_day:
            counts = days.setdefault(row["day"], [0, 0])
            if row["step"] == steps[0].step:
                counts[0] += row["converted"]
            if row["step"] == steps[-1].step:
                counts[1] += row["converted"]
        trend = [(day, *days[day]) for day in sorted(days)]
    return steps, trend, start, end


def _live_figures(spark: SparkSession, settings: Settings, start: dt.date | None,
                  end: dt.date | None) -> tuple[list[StepFigures], list[tuple], dt.date, dt.date]:
    from lakepulse.gold import funnel as engine
    from lakepulse.gold.daily import default_funnel
    from lakepulse.gold.prep import current_identity, funnel_events

    silver = read_table(spark, settings, settings.silver.events_table)
    latest = silver.agg(F.max("event_date")).first()[0] if end is None else end
    start, end = _range(latest, start, end, settings.silver.events_table)
    identity = current_identity(read_table(spark, settings, settings.silver.identity_table))
    events: DataFrame = funnel_events(silver.where(F.col("event_date").between(start, end)), identity,
                                      settings.silver.session_gap_seconds)
    spec = default_funnel(settings.gold.funnel_window_seconds, breakdown=())
    # Steps and trend both come from the attempts: match them once.
    counted = engine.attempts(events, spec).cache()
    try:
        steps = [
            StepFigures(r["step"], r["step_name"], r["entered"], r["converted"], r["drop_off"],
                        r["conversion_from_previous"], r["conversion_from_first"], r["median_seconds_to_convert"])
            for r in engine.summarize(counted, spec).collect()
        ]
        trend = [(r["day"], r["entered"], r["completed"]) for r in engine.trend(counted, spec).collect()]
    finally:
        counted.unpersist()
    return steps, trend, start, end


def duration(seconds: float | None) -> str:
    """``3725`` → ``1h 02m``; ``95`` → ``1m 35s``; ``None`` → ``-``."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _steps_chart(steps: list[StepFigures], period: str) -> bytes:
    fig = figure(9, 5)
    ax = fig.add_subplot()
    names = [f"{s.step}. {s.step_name}" for s in steps]
    values = [s.converted for s in steps]
    bars = ax.bar(names, values, width=0.55, color="#1f77b4")
    ax.bar_label(bars, labels=[f"{s.converted:,}\n{percent(s.conversion_from_first)}" for s in steps],
                 padding=2, fontsize=8)
    top = max(values) if values else 0
    # The drop-off sits in the gap between a step's bar and the previous one, half-way down.
    for index, step in enumerate(steps[1:], 1):
        rate = step.drop_off / step.entered if step.entered else None
        ax.annotate(f"−{step.drop_off:,}\n({percent(rate)} drop)", xy=(index - 0.5, (step.entered + step.converted) / 2),
                    ha="center", va="center", fontsize=8, color="#d62728",
                    bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#d62728"})
    ax.set_ylabel("people reaching the step")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"E-commerce funnel, {period}")
    ax.tick_params(axis="x", labelsize=8)
    ax.set_ylim(0, top * 1.2 or 1)
    return png_bytes(fig)
