# Databricks notebook source
# MAGIC %md
# MAGIC # Customer segments
# MAGIC
# MAGIC The segments of the latest `segment_users` run: how big each is, how much revenue it brings, what a
# MAGIC typical member looks like (`gold.segment_profiles`, centroids in business units) and how good the
# MAGIC clustering is (`ops.segmentation_runs`: silhouette, inertia over k, the adjusted Rand index against the
# MAGIC simulator's personas when there is one). With `refit=true` it runs the job first (fits a new model,
# MAGIC or scores with a saved one when `segmentation.model_version` says so). Charts and an HTML page go to
# MAGIC `gold.reports_dir`.
# MAGIC
# MAGIC Locally: `python notebooks/segments.py refit=true`.
# MAGIC
# MAGIC | parameter | meaning |
# MAGIC |---|---|
# MAGIC | `env`, `settings` | which settings (empty: the default) |
# MAGIC | `refit` | `true`: run segment_users now; otherwise show the latest run |
# MAGIC | `segment` | a segment name to list its members closest to the centroid (empty: the largest) |

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
from lakepulse.reports.document import read_table
from lakepulse.segments.job import format_run, run_segmentation
from lakepulse.segments.report import segments_report
from lakepulse.sql import format_table

params = parameters({"env": "", "settings": "", "refit": "false", "segment": ""}, dbutils=globals().get("dbutils"))

# COMMAND ----------

settings, spark, _ = open_lakehouse(params, "segments")
if params["refit"].strip().lower() in ("true", "1", "yes"):
    print(format_run(run_segmentation(spark, settings)))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Segments, centroids and quality

# COMMAND ----------

report = segments_report(spark, settings)
print(report.text())
for path in report.write(reports_dir(settings)):
    print(f"wrote {path}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Members of one segment
# MAGIC The members closest to the segment's centroid are its most typical ones; those farthest away are
# MAGIC the outliers to look at before targeting the segment as a whole.

# COMMAND ----------

segments = read_table(spark, settings, settings.segmentation.user_segments_table)
profiles = read_table(spark, settings, settings.gold.user_profile_table)
name = params["segment"] or segments.groupBy("segment_name").count().orderBy(F.desc("count")).first()["segment_name"]
members = segments.where(F.col("segment_name") == name).join(profiles, "user_id")
columns = ["user_id", "distance", "recency_days", "orders", "revenue", "sessions", "product_views"]
for title, order in (("most typical", F.asc("distance")), ("farthest from the centroid", F.desc("distance"))):
    rows = members.orderBy(order, "user_id").select(*columns).limit(5).collect()
    print(f"{name}: {title}")
    print(format_table(columns, [tuple(r) for r in rows]))
    print()
