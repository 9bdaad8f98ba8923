"""The whole pipeline in catch-up mode, one stage after the other: Kafka → bronze → silver → gold.

For the demo, notebooks, tests and benchmarks: each stage runs with the available-now trigger
(processes what is there, then stops), so the stages see each other's complete output.

Example::

    run_to_gold(spark, settings)
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import SparkSession

from lakepulse.settings import Settings


def run_to_gold(spark: SparkSession, settings: Settings, say: Callable[[str], object] = lambda _m: None) -> None:
    """Run bronze, silver and gold once each in available-now mode, in order."""
    from lakepulse.gold.job import start_gold
    from lakepulse.metrics import ProgressRecorder
    from lakepulse.silver_stream import start_silver
    from lakepulse.streams import start_bronze

    say("bronze: Kafka → bronze.events_raw (available-now)")
    bronze = start_bronze(spark, settings, "available_now")
    bronze.awaitTermination()
    ProgressRecorder(spark, settings, bronze).record()
    say("silver: bronze → silver.events, quarantine, identity map, sessions (available-now)")
    start_silver(spark, settings, "available_now").awaitTermination()
    say("gold: silver → user profiles, product metrics, hourly activity, funnels (available-now)")
    start_gold(spark, settings, "available_now").awaitTermination()
