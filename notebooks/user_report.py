# Databricks notebook source
# MAGIC %md
# MAGIC # User report
# MAGIC
# MAGIC One customer: every field of their profile (`gold.user_profile`: activity, orders, RFM score and
# MAGIC segment, first-touch channel), their hourly activity (`gold.user_activity_hourly`) as a chart,
# MAGIC and how they compare with their RFM segment. The chart and an HTML page are written to
# MAGIC `gold.reports_dir`.
# MAGIC
# MAGIC Locally: `python notebooks/user_report.py user_id=u-42`.
# MAGIC
# MAGIC | parameter | meaning |
# MAGIC |---|---|
# MAGIC | `env`, `settings` | which settings (empty: the default) |
# MAGIC | `user_id` | the person (user id, or the anonymous id of a visitor never identified); empty: the top buyer |

# COMMAND ----------

import os
import sys

try:
    import lakepulse  # noqa: F401
except ImportError:
    # A checkout that is not installed (e.g. a Databricks Repo): use the library next to the notebook.
    _here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
    sys.path.insert(0, os.path.join(_here, "..", "lib"))

from pyspark.sql import functions as F

from lakepulse.notebook import open_lakehouse, parameters
from lakepulse.reports.command import reports_dir
from lakepulse.reports.document import money, read_table
from lakepulse.reports.user import user_report
from lakepulse.sql import format_table

params = parameters({"env": "", "settings": "", "user_id": ""}, dbutils=globals().get("dbutils"))

# COMMAND ----------

settings, spark, _ = open_lakehouse(params, "user_report")
profiles = read_table(spark, settings, settings.gold.user_profile_table)
user_id = params["user_id"]
if not user_id:
    top = profiles.where("orders > 0").orderBy(F.desc("revenue"), "user_id").select("user_id").first()
    if top is None:
        raise SystemExit("no buyer yet: pass user_id=...")
    user_id = top["user_id"]
print(f"user: {user_id}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Profile and activity

# COMMAND ----------

report = user_report(spark, settings, user_id)
print(report.text())
for path in report.write(reports_dir(settings)):
    print(f"wrote {path}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Against their RFM segment
# MAGIC The person's orders and revenue next to the average of everyone in the same segment.

# COMMAND ----------

person = profiles.where(F.col("user_id") == user_id).first()
peers = profiles.where(F.col("rfm_segment") == person["rfm_segment"]).agg(
    F.count(F.lit(1)).alias("people"), F.avg("orders").alias("orders"), F.avg("revenue").alias("revenue"),
    F.avg("recency_days").alias("recency_days")).first()
print(f"segment: {person['rfm_segment']} ({peers['people']:,} {'person' if peers['people'] == 1 else 'people'})")
print(format_table(
    ["", "orders", "revenue", "recency days"],
    [(user_id, person["orders"], money(person["revenue"]), person["recency_days"]),
     ("segment average", round(peers["orders"], 2), money(peers["revenue"]), round(peers["recency_days"], 1))],
))
