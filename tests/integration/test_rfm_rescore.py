"""RFM scores in the gold writer: a rescore of every profile (its cuts kept in the commit), the
profiles of later batches scored against those cuts and merged in, the state found again by a
restarted writer, and when the next rescore is due (its scores are checked by hand in
``tests/unit/test_rfm.py``; a rescore batch is the first batch here).

Every expected figure is worked out by hand. D is 2026-03-10; p4's last order (D 10:10) is the
latest event of batch 0.

* Batch 0 (rescore: the first batch): p1 views a page at D−7; p2 orders 10.0 at D−5; p3 orders twice
  (10.0 each) at D−2; p4 orders three times (20.0, 20.0, 10.0) at D. R by last-seen date, 4 distinct
  dates → percent ranks 0, ⅓, ⅔, 1 → scores 1, 2, 4, 5; F among the buyers (1, 2, 3 orders) and M
  (10, 20, 50) → ranks 0, ½, 1 → scores 1, 3, 5.
* Batch 1 (merged; 5 profiles is 25 % more than 4, below the 50 % growth): newcomer p5 orders 30.0
  at D+1 09:00 → R 5 (on or after D, the cut of 5), F 1 (1 order < 2), M 3 (20 ≤ 30 < 50).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from lakepulse.gold.job import RESCORE_TAG, GoldBatchWriter, RfmState, ensure_gold_tables
from lakepulse.gold.profiles import RfmCuts
from lakepulse.io.kafka import ensure_topics
from lakepulse.silver_stream import ensure_silver_tables
from tests.helpers import make_settings, silver_event, unique_topic

pytestmark = pytest.mark.integration

D = datetime(2026, 3, 10, 10, 0)
DAY = timedelta(days=1)


def _order(message_id: str, user: str, moment: datetime, revenue: float) -> dict:
    return silver_event(message_id, moment, event="Order Completed", user_id=user, order_id=f"o-{message_id}",
                        revenue=revenue)


def _batches() -> list[list[dict]]:
    return [
        [silver_event("m1", D - 7 * DAY, "page", user_id="p1", page_path="/"),
         _order("m2", "p2", D - 5 * DAY, 10.0),
         _order("m3", "p3", D - 2 * DAY, 10.0), _order("m4", "p3", D - 2 * DAY + timedelta(minutes=5), 10.0),
         _order("m5", "p4", D, 20.0), _order("m6", "p4", D + timedelta(minutes=5), 20.0),
         _order("m7", "p4", D + timedelta(minutes=10), 10.0)],
        [_order("m8", "p5", D + DAY - timedelta(hours=1), 30.0)],
    ]


def _days(day: date) -> float:
    return float((day - date(1970, 1, 1)).days)


@pytest.fixture(scope="module")
def lakehouse(spark, kafka_bootstrap, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rfm-rescore")
    reports = unique_topic("reports")
    ensure_topics(kafka_bootstrap, [reports], partitions=1)

    def settings(rescore_seconds: int):
        return make_settings(folder, kafka_bootstrap, unique_topic("events"),
                             privacy={"salt": "pytest-salt", "salt_file": ""},
                             gold={"reports_topic": reports, "rfm_rescore_seconds": rescore_seconds,
                                   "rfm_rescore_growth": 0.5})[0]

    hourly = settings(3600)
    silver = ensure_silver_tables(spark, hourly)
    tables = ensure_gold_tables(spark, hourly)
    schema = spark.read.format("delta").load(silver.events.path).schema

    def apply(writer: GoldBatchWriter, batch_id: int) -> None:
        rows = [{name: row.get(name) for name in schema.fieldNames()} for row in _batches()[batch_id]]
        spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(silver.events.path)
        ids = [row["message_id"] for row in rows]
        writer(spark.read.format("delta").load(silver.events.path).where(F.col("message_id").isin(ids)), batch_id)

    def profiles() -> dict:
        return {r.user_id: r.asDict() for r in spark.read.format("delta").load(tables.user_profile.path).collect()}

    def last_commit() -> dict:
        from delta.tables import DeltaTable

        return DeltaTable.forPath(spark, tables.user_profile.path).history(1).first().asDict()

    return {"settings": settings, "tables": tables, "apply": apply, "profiles": profiles, "last_commit": last_commit}


def _scores(profiles: dict) -> dict:
    return {user: (p["rfm_score"], p["rfm_segment"], p["recency_days"], p["as_of"]) for user, p in profiles.items()}


@pytest.mark.slow
def test_rescore_then_merge_on_the_cuts_and_when_the_next_rescore_is_due(spark, lakehouse):
    hourly = lakehouse["settings"](3600)
    writer = GoldBatchWriter(spark, hourly, lakehouse["tables"])
    assert writer.rfm is None                                  # an empty table: the first batch rescores

    lakehouse["apply"](writer, 0)
    as_of_0 = D + timedelta(minutes=10)
    cuts = RfmCuts(recency=(_days(date(2026, 3, 5)), None, _days(date(2026, 3, 8)), _days(date(2026, 3, 10))),
                   frequency=(None, 2.0, None, 3.0), monetary=(None, 20.0, None, 50.0), as_of=as_of_0, people=4)
    commit = lakehouse["last_commit"]()
    assert (commit["operation"], commit["userMetadata"]) == ("WRITE", RESCORE_TAG + cuts.to_json())
    after_0 = lakehouse["profiles"]()
    assert _scores(after_0) == {
        "p1": ("1--", "Lapsed prospects", 7, as_of_0),
        "p2": ("211", "Hibernating", 5, as_of_0),
        "p3": ("433", "Potential loyalists", 2, as_of_0),
        "p4": ("555", "Champions", 0, as_of_0),
    }

    lakehouse["apply"](writer, 1)
    assert lakehouse["last_commit"]()["operation"] == "MERGE"
    after_1 = lakehouse["profiles"]()
    assert {user: after_1[user] for user in after_0} == after_0  # untouched: not even updated_at moves
    assert _scores({"p5": after_1["p5"]}) == {"p5": ("513", "New customers", 0, D + DAY - timedelta(hours=1))}
    assert (writer.rfm.cuts, writer.rfm.people) == (cuts, 5)

    # A restarted writer finds the last rescore in the table's history and the merged profile after it.
    restarted = GoldBatchWriter(spark, hourly, lakehouse["tables"]).rfm
    assert (restarted.cuts, restarted.people) == (cuts, 5)
    assert not restarted.due(hourly, restarted.rescored_at + 3599)
    assert restarted.due(hourly, restarted.rescored_at + 3600)
    assert RfmState(cuts, restarted.rescored_at, people=7).due(hourly, restarted.rescored_at)  # 7 > 4 × 1.5

    assert RfmState(cuts, restarted.rescored_at, people=5).due(lakehouse["settings"](0), restarted.rescored_at)
