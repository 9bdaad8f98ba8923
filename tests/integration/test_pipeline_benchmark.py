"""The pipeline benchmark (benchmarks/pipeline.py), run small against the real broker: it completes,
every figure is present and positive, and every stage's counts reconcile with the simulator's
ground truth. Nothing here asserts on time."""

from __future__ import annotations

import json

import pytest

from lakepulse.benchmark import report
from lakepulse.benchmark.report import growth_goal, reconcile
from lakepulse.benchmark.run import main
from lakepulse.benchmark.stages import combined_quantiles
from lakepulse.benchmark.workspace import dotted_override

EVENTS = 5_000
USERS = 10_000


def _at(figures: dict, path: str):
    value = figures
    for key in path.split("."):
        value = value[int(key)] if isinstance(value, list) else value[key]
    return value


@pytest.mark.integration
@pytest.mark.slow
def test_a_small_benchmark_run_measures_everything_and_reconciles(spark, kafka_bootstrap, tmp_path):
    output = tmp_path / "results" / "pipeline.json"
    code = main([
        "--events", str(EVENTS), "--users", str(USERS), "--growth-users", f"{USERS}",
        # The growth point runs the three streams together (stages.together, on a seeded history),
        # so the separate together phase is skipped to keep the suite short.
        "--growth-events", str(EVENTS), "--skip-together", "--latency-seconds", "8", "--rate", "300",
        "--warmup-events", "0",
        "--latency-warmup-seconds", "0", "--bootstrap", kafka_bootstrap, "--workdir", str(tmp_path / "work"),
        "--output", str(output), "--label", "pytest",
    ])
    figures = json.loads(output.read_text())
    assert code == 0, [row for row in figures["reconciliation"] if not row["ok"]]

    truth = figures["load"]["truth"]
    assert truth["records_sent"] == EVENTS
    assert truth["quarantine_total"] > 0 and truth["duplicates_sent"] > 0  # faults were on
    positive = [
        "load.events_per_second",
        "raw_kafka_read.events_per_second", "raw_kafka_read.mb_per_second", "raw_kafka_read.events_per_cpu_second",
        "native.events_per_second", "native.events_per_cpu_second", "native_with_kafka_read.events_per_second",
        "spark_batch.events_per_second",
        *[f"catch_up.stages.{stage}.{what}" for stage in ("bronze", "silver", "gold")
          for what in ("events_per_second", "rows_in", "cpu.events_per_cpu_second")],
        "catch_up.events_per_second", "catch_up.cpu.events_per_cpu_second",
        "growth.points.0.cpu.events_per_cpu_second", "growth.points.0.memory.peak_mb.jvm_rss",
        "growth.points.0.memory.peak_mb.python_rss", "growth.points.0.state.checkpoint_bytes",
        "latency.producer.achieved_rate",
        *[f"latency.{stage}.{q}" for stage in ("silver", "gold") for q in ("p50", "p95", "p99", "batches")],
        "growth.points.0.events_per_second", "growth.points.0.memory.peak_mb.jvm_heap_used",
        "growth.points.0.memory.jvm_heap_retained_after_gc_mb", "spark_batch.cpu.events_per_cpu_second",
        "ratios.sequential_to_native", "ratios.silver_stream_to_silver_batch",
    ]
    missing = [path for path in positive if not (_at(figures, path) or 0) > 0]
    assert missing == []
    assert figures["growth"]["points"][0]["state"]["delta_tables"]["silver.events"]["bytes"] > 0
    assert figures["latency"]["silver"]["p50"] <= figures["latency"]["silver"]["p99"]

    # Every stage reconciles with the ground truth, and every stage was checked.
    stages = {row["stage"] for row in figures["reconciliation"]}
    assert stages >= {"raw Kafka read", "native baseline", "spark batch", "catch-up", "latency",
                      f"growth {USERS:.0e} run 1", f"growth {USERS:.0e} run 2"}
    assert figures["catch_up"]["counts"]["bronze_rows"] == EVENTS
    # The growth point's lakehouse knows USERS people: the simulated ones plus a seeded history,
    # and gold read only the new events (not the history).
    point = figures["growth"]["points"][0]
    # Two runs (the default --growth-repeats), each on its own copy of the seeded lakehouse; the faster counts.
    assert len(point["repeats"]) == 2
    assert point["events_per_second"] == max(run["events_per_second"] for run in point["repeats"])
    assert all(run["counts"]["gold_people"] == USERS for run in point["repeats"])
    assert point["seeded"]["people"] == USERS - truth["people"] > 0
    assert point["counts"]["gold_people"] == USERS
    assert point["counts"]["gold_metrics_rows_in"] == truth["unique_valid_events"]
    assert figures["catch_up"]["counts"]["silver_rows"] == truth["unique_valid_events"]
    assert figures["native"]["written"] + figures["native"]["set_aside"] == EVENTS

    # Where the batch time goes: both batch writers' Spark actions were profiled.
    for stage in ("silver", "gold"):
        actions = figures["catch_up"]["profile"][stage]["actions"]
        assert actions and all(a["seconds"] >= 0 and a["calls"] > 0 for a in actions)
    assert {goal["goal"] for goal in figures["goals"]} and all("met" in goal for goal in figures["goals"])
    assert figures["machine"]["load_average_at_start"] and figures["versions"]["pyspark"] == spark.version
    assert output.with_suffix(".png").stat().st_size > 10_000

    # The together phase was skipped; the report's together paths still work on a together figure
    # (a growth point is one, measured on a seeded lakehouse).
    together = {key: value for key, value in point.items() if key not in ("users", "truth", "load", "seeded")}
    concluded = report.conclude({**figures, "together": together})
    assert concluded["ratios"]["together_to_native"] == round(
        together["events_per_second"] / figures["native"]["events_per_second"], 3)
    assert "bronze+silver+gold together, end to end" in report.table(concluded)
    assert report.chart(concluded, tmp_path / "together.png").stat().st_size > 10_000


def test_reconciliation_flags_a_count_that_differs():
    truth = {"records_sent": 100, "unique_valid_events": 90, "quarantine_total": 6, "duplicates_sent": 4,
             "people": 7}
    counts = {"bronze_rows": 100, "silver_rows": 90, "quarantine_rows": 6, "duplicates_dropped": 4,
              "silver_metrics_rows_in": 100, "gold_metrics_rows_in": 90, "gold_people": 7}
    assert all(row["ok"] for row in reconcile(truth, counts, "run"))
    rows = reconcile(truth, {**counts, "silver_rows": 89}, "run")
    assert [(row["what"], row["measured"], row["expected"]) for row in rows if not row["ok"]] == [
        ("silver rows", 89, 90)]


def test_latency_quantiles_combine_batches_by_their_rows():
    one = {"latency_p50_ms": 100.0, "latency_p95_ms": 200.0, "latency_p99_ms": 300.0, "latency_max_ms": 400.0,
           "rows_out": 10}
    assert combined_quantiles([one], "rows_out") == {"p50": 100.0, "p95": 200.0, "p99": 300.0}
    # A batch nine times bigger and ten times slower owns the upper quantiles. By hand, with its
    # CDF linear between (0, 0), (1000, .5), (2000, .95), (3000, .99): 10 + 90·F(x) = 50 at
    # x = 889, and = 99 at x = 2972.
    slow = {key: value * 10 for key, value in one.items() if key != "rows_out"} | {"rows_out": 90}
    combined = combined_quantiles([one, slow], "rows_out")
    assert combined["p50"] == pytest.approx(889, abs=1)
    assert combined["p99"] == pytest.approx(2_972, abs=1)
    assert combined_quantiles([{**one, "rows_out": 0}], "rows_out") == {}


def test_overrides_name_a_setting():
    assert dotted_override("kafka.max_offsets_per_trigger=500000") == {"kafka": {"max_offsets_per_trigger": 500000}}
    with pytest.raises(ValueError, match="SECTION.KEY=VALUE"):
        dotted_override("max_offsets_per_trigger")


def _growth_point(users: int, people: int, events_per_second: float, seeded: int = 0) -> dict:
    return {"users": users, "events_per_second": events_per_second,
            "truth": {"people": people, "seeded_people": seeded}}


def test_growth_counts_only_when_the_lakehouse_holds_more_distinct_people():
    # 2,037 simulated people each time, the rest a seeded history: 10,000 and 1,000,000 people.
    grown = growth_goal([_growth_point(10_000, 2_037, 1_000, 7_963),
                         _growth_point(1_000_000, 2_037, 850, 997_963)])
    assert (grown["measured"], grown["distinct_people"], "not_shown" in grown) == (0.15, [10_000, 1_000_000], False)

    # 100× the users asked for but the same people in the lakehouse: nothing about growth is shown.
    flat = growth_goal([_growth_point(10_000, 2_037, 1_142), _growth_point(1_000_000, 2_037, 939)])
    assert flat["measured"] == 0.178
    assert flat["not_shown"] == "the lakehouse holds 2,037 → 2,037 distinct people"


def test_a_seeded_history_adds_to_silver_rows_and_gold_people():
    truth = {"records_sent": 100, "unique_valid_events": 90, "quarantine_total": 6, "duplicates_sent": 4,
             "people": 7, "seeded_people": 50, "seeded_events": 100}
    counts = {"bronze_rows": 100, "silver_rows": 190, "quarantine_rows": 6, "duplicates_dropped": 4,
              "silver_metrics_rows_in": 100, "gold_metrics_rows_in": 90, "gold_people": 57}
    assert all(row["ok"] for row in reconcile(truth, counts, "growth"))
    assert [row["what"] for row in reconcile(truth, {**counts, "gold_people": 7}, "growth") if not row["ok"]] == [
        "gold people"]
