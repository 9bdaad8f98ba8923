"""Reconciliation of the pipeline's counts: ``lakepulse audit``.

For every silver micro-batch recorded in ``ops.pipeline_metrics``:
``rows_in = rows_out (silver) + quarantined + duplicates_dropped``. Across batches the recorded
totals must equal what the tables hold: silver.events rows = Σ rows_out, quarantine rows =
Σ quarantined, and bronze rows ≥ Σ rows_in (the difference is bronze not processed yet).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakepulse.settings import Settings
from lakepulse.silver_stream import SILVER_QUERY, SilverTables


@dataclass
class AuditResult:
    batches: int = 0
    bronze_rows: int = 0
    rows_in: int = 0
    silver_rows: int = 0
    rows_out: int = 0
    quarantine_rows: int = 0
    quarantined: int = 0
    duplicates_dropped: int = 0
    late_rows: int = 0
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def pending(self) -> int:
        return self.bronze_rows - self.rows_in


def _rows(spark: SparkSession, path: str) -> int:
    """Rows of the Delta table at ``path``; 0 when it was never created."""
    from delta.tables import DeltaTable

    return spark.read.format("delta").load(path).count() if DeltaTable.isDeltaTable(spark, path) else 0


def audit(spark: SparkSession, settings: Settings) -> AuditResult:
    """Check the reconciliation; ``problems`` lists every violation (empty when all holds)."""
    tables = SilverTables.from_settings(settings)
    result = AuditResult()
    read = spark.read.format("delta").load
    metrics = read(tables.metrics.path).where(F.col("query") == SILVER_QUERY)
    for row in metrics.where(
        F.col("rows_in") != F.col("rows_out") + F.col("quarantined") + F.col("duplicates_dropped")
    ).orderBy("batch_id").collect():
        result.problems.append(
            f"batch {row['batch_id']}: rows_in {row['rows_in']} != silver {row['rows_out']} + quarantined "
            f"{row['quarantined']} + duplicates {row['duplicates_dropped']}"
        )
    totals = metrics.agg(
        F.count("*"), F.sum("rows_in"), F.sum("rows_out"), F.sum("quarantined"),
        F.sum("duplicates_dropped"), F.sum("late_rows"),
    ).first()
    (result.batches, result.rows_in, result.rows_out, result.quarantined, result.duplicates_dropped,
     result.late_rows) = (int(v or 0) for v in totals)
    result.quarantined_by_rule = {
        r["rule"]: int(r["n"]) for r in metrics.select(F.explode("quarantined_by_rule").alias("rule", "count"))
        .groupBy("rule").agg(F.sum("count").alias("n")).orderBy(F.desc("n"), "rule").collect()
    }
    result.bronze_rows = _rows(spark, tables.bronze.path)
    result.silver_rows = read(tables.events.path).count()
    result.quarantine_rows = read(tables.quarantine.path).count()
    if result.silver_rows != result.rows_out:
        result.problems.append(f"silver.events holds {result.silver_rows} rows, batches recorded {result.rows_out}")
    if result.quarantine_rows != result.quarantined:
        result.problems.append(
            f"quarantine holds {result.quarantine_rows} rows, batches recorded {result.quarantined}")
    if result.pending < 0:
        result.problems.append(f"batches recorded {result.rows_in} rows in, bronze holds only {result.bronze_rows}")
    return result


def format_audit(result: AuditResult) -> str:
    lines = [
        f"batches audited        {result.batches:>12,}",
        f"bronze rows            {result.bronze_rows:>12,}   (not yet refined: {result.pending:,})",
        f"silver events          {result.silver_rows:>12,}",
        f"quarantined            {result.quarantine_rows:>12,}",
        f"duplicates dropped     {result.duplicates_dropped:>12,}",
        f"late (kept in silver)  {result.late_rows:>12,}",
        f"check: bronze refined {result.rows_in:,} = silver {result.rows_out:,} + quarantined "
        f"{result.quarantined:,} + duplicates {result.duplicates_dropped:,}",
    ]
    if result.quarantined_by_rule:
        lines.append("quarantine by rule (a record counts under every rule it failed):")
        lines += [f"  {rule:<24}{count:>10,}" for rule, count in result.quarantined_by_rule.items()]
    lines.append("AUDIT OK" if result.ok else "AUDIT FAILED:\n  " + "\n  ".join(result.problems))
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace, settings: Settings) -> int:
    from lakepulse.spark import build_session

    result = audit(build_session(settings, "audit"), settings)
    print(format_audit(result))
    return 0 if result.ok else 1
