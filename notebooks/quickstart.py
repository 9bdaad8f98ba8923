# Databricks notebook source
# MAGIC %md
# MAGIC # Lakepulse quickstart
# MAGIC
# MAGIC The lakehouse at a glance: which tables and views exist, the key figures of the customer base,
# MAGIC revenue per day, the hot products and the RFM segments.
# MAGIC
# MAGIC Runs on Databricks (parameters are widgets) and locally as plain Python:
# MAGIC `python notebooks/quickstart.py env=local run_pipeline=true`.
# MAGIC
# MAGIC | parameter | meaning |
# MAGIC |---|---|
# MAGIC | `env` | settings environment, `conf/<env>.yaml` (empty: `LAKEPULSE_ENV` or `local`) |
# MAGIC | `settings` | path of a settings file (overrides `env`) |
# MAGIC | `run_pipeline` | `true`: first bring bronze, silver and gold up to date from Kafka (catch-up mode) |

# COMMAND ----------

import os
import sys

try:
    import lakepulse  # noqa: F401
except ImportError:
    # A checkout that is not installed (e.g. a Databricks Repo): use the library next to the notebook.
    _here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
    sys.path.insert(0, os.path.join(_here, "..", "lib"))

from lakepulse.notebook import open_lakehouse, parameters
from lakepulse.reports.document import read_table
from lakepulse.sql import format_table

params = parameters({"env": "", "settings": "", "run_pipeline": "false"}, dbutils=globals().get("dbutils"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Open the lakehouse
# MAGIC With `run_pipeline=true` the three streams run once in catch-up mode (available-now trigger):
# MAGIC Kafka → bronze → silver → gold. Every table that exists is then registered under its configured
# MAGIC name, and the views of `conf/sql` are created.

# COMMAND ----------

settings, spark, registered = open_lakehouse(params, "quickstart")
if params["run_pipeline"].lower() == "true":
    from lakepulse.pipeline import run_to_gold
    from lakepulse.sql import register_lakehouse

    run_to_gold(spark, settings, say=print)
    registered = register_lakehouse(spark, settings)
print("tables and views:", ", ".join(registered))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Key figures

# COMMAND ----------

events = read_table(spark, settings, settings.silver.events_table).count()
figures = read_table(spark, settings, settings.gold.user_profile_table).selectExpr(
    "count(*) AS people", "count_if(orders > 0) AS buyers", "coalesce(sum(orders), 0) AS orders",
    "coalesce(sum(revenue), 0.0) AS revenue").first()
print(f"events: {events:,}")
print(f"people: {figures['people']:,}, buyers: {figures['buyers']:,}, orders: {figures['orders']:,}, "
      f"revenue: {figures['revenue']:,.2f}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Revenue per day
# MAGIC The `gold.daily_revenue` view (`conf/sql/daily_revenue.sql`).

# COMMAND ----------

views = {name.rsplit(".", 1)[1]: name for name in registered}


def show(view: str, sql: str) -> None:
    """Run ``sql`` with ``{view}`` replaced by the view's registered name; a note when it is missing."""
    if view not in views:
        print(f"{view}: not available yet (its tables do not exist)")
        return
    result = spark.sql(sql.format(view=views[view]))
    print(format_table(result.columns, result.collect()))


show("daily_revenue", "SELECT day, orders, revenue, buyers, average_order_value FROM {view} ORDER BY day")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Hot products
# MAGIC Activity (views + 3 × adds + 10 × orders) in the last `gold.hot_products_hours` hours against
# MAGIC the hours before; the trend score favours growth over volume.

# COMMAND ----------

show("hot_products", "SELECT rank, product_id, category, current_activity, previous_activity, "
     "round(trend_score, 2) AS trend_score FROM {view} ORDER BY rank LIMIT 5")

# COMMAND ----------

# MAGIC %md
# MAGIC ## RFM segments

# COMMAND ----------

show("rfm_segments", "SELECT rfm_segment, users, buyers, revenue, share_of_users FROM {view} "
     "ORDER BY users DESC, rfm_segment")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Next
# MAGIC * `notebooks/funnels.py`: any funnel over the events, by channel or device.
# MAGIC * `notebooks/user_report.py`: one customer's profile and activity.
# MAGIC * From a shell: `lakepulse sql "SELECT …"` and `lakepulse report funnel | user ID | users | products`.
