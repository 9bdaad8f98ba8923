# Databricks notebook source
# MAGIC %md
# MAGIC # Funnels
# MAGIC
# MAGIC Any funnel over the events, computed now with the funnel engine (`lakepulse.gold.funnel`): the
# MAGIC people (or sessions) who went from step 1 to step n within the conversion window, where they
# MAGIC dropped off, how fast they converted, by day and split by channel or device. Then the daily
# MAGIC e-commerce funnel the gold job keeps in `gold.funnel_daily`, as a chart.
# MAGIC
# MAGIC Locally: `python notebooks/funnels.py "steps=Product Viewed,Order Completed" breakdown=device`.
# MAGIC
# MAGIC | parameter | meaning |
# MAGIC |---|---|
# MAGIC | `env`, `settings` | which settings (empty: the default) |
# MAGIC | `steps` | event names, comma-separated, in order |
# MAGIC | `window_seconds` | conversion window from the first step (empty: `gold.funnel_window_seconds`) |
# MAGIC | `order` | `ordered`, `strict` or `unordered` |
# MAGIC | `count_by` | `user`, `session` or `event` |
# MAGIC | `breakdown` | comma-separated properties: `channel`, `device` or any event property (empty: none) |
# MAGIC | `from`, `to` | first and last day of events, `YYYY-MM-DD` (empty: all) |

# COMMAND ----------

import os
import sys
from dataclasses import replace

try:
    import lakepulse  # noqa: F401
except ImportError:
    # A checkout that is not installed (e.g. a Databricks Repo): use the library next to the notebook.
    _here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
    sys.path.insert(0, os.path.join(_here, "..", "lib"))

from pyspark.sql import functions as F

from lakepulse.gold import funnel, prep
from lakepulse.gold.daily import DEFAULT_STEPS
from lakepulse.notebook import open_lakehouse, parameters
from lakepulse.reports.command import reports_dir
from lakepulse.reports.document import percent, read_table
from lakepulse.reports.funnel import duration, funnel_report
from lakepulse.sql import format_table

params = parameters({
    "env": "", "settings": "", "steps": ",".join(DEFAULT_STEPS), "window_seconds": "", "order": "ordered",
    "count_by": "user", "breakdown": "", "from": "", "to": "",
}, dbutils=globals().get("dbutils"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## The events, stitched to people
# MAGIC Each event belongs to its person (the identity map applied retroactively), its session's
# MAGIC marketing `channel` and the `device` type of its user agent — as the gold job sees them.

# COMMAND ----------

settings, spark, _ = open_lakehouse(params, "funnels")
silver = read_table(spark, settings, settings.silver.events_table)
if params["from"]:
    silver = silver.where(F.col("event_date") >= params["from"])
if params["to"]:
    silver = silver.where(F.col("event_date") <= params["to"])
identity = prep.current_identity(read_table(spark, settings, settings.silver.identity_table))
events = prep.funnel_events(silver, identity, settings.silver.session_gap_seconds)

# COMMAND ----------

# MAGIC %md
# MAGIC ## The funnel

# COMMAND ----------

spec = funnel.FunnelSpec.from_dict({
    "steps": [step.strip() for step in params["steps"].split(",") if step.strip()],
    "window_seconds": int(params["window_seconds"] or settings.gold.funnel_window_seconds),
    "order": params["order"],
    "count_by": params["count_by"],
    "breakdown": [name.strip() for name in params["breakdown"].split(",") if name.strip()],
})
attempts = funnel.attempts(events, spec).cache()  # steps, trend and breakdown all come from it
steps = funnel.summarize(attempts, spec).collect()
# The whole funnel, whatever the breakdown: the same attempts summarized without it.
overall = funnel.summarize(attempts, replace(spec, breakdown=())).collect() if spec.breakdown else steps
started, completed = overall[0]["converted"], overall[-1]["converted"]
print(f"funnel: {' → '.join(spec.step_names)} within {duration(spec.window_seconds)} ({spec.order}, by {spec.count_by})")
print(f"completed: {completed:,} of {started:,} ({percent(completed / started if started else None)})")
print(format_table(
    [*spec.breakdown, "step", "name", "entered", "converted", "drop-off", "from previous", "from first",
     "median time", "p90 time"],
    [(*[r[b] for b in spec.breakdown], r["step"], r["step_name"], r["entered"], r["converted"], r["drop_off"],
      percent(r["conversion_from_previous"]), percent(r["conversion_from_first"]),
      duration(r["median_seconds_to_convert"]), duration(r["p90_seconds_to_convert"])) for r in steps],
))

# COMMAND ----------

# MAGIC %md
# MAGIC ## By day
# MAGIC By the UTC day each counted attempt started.

# COMMAND ----------

trend = funnel.trend(attempts, spec).collect()
print(format_table([*spec.breakdown, "day", "entered", "completed", "conversion"],
                   [(*[r[b] for b in spec.breakdown], r["day"], r["entered"], r["completed"],
                     percent(r["conversion_rate"])) for r in trend]))
attempts.unpersist()

# COMMAND ----------

# MAGIC %md
# MAGIC ## The daily e-commerce funnel of the gold job
# MAGIC `gold.funnel_daily` counts a person once per day their funnel starts (a person who starts on
# MAGIC two days counts twice), by channel and device; `lakepulse report funnel` shows it. The chart and
# MAGIC an HTML page are written to `gold.reports_dir`.

# COMMAND ----------

report = funnel_report(spark, settings)
print("\n".join(report.summary))
for path in report.write(reports_dir(settings)):
    print(f"wrote {path}")
