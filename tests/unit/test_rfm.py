"""RFM scoring of gold.user_profile (gold.job.score_everyone → profiles.score_rfm) on a few
profiles, against quintiles worked out by hand: score = min(5, 1 + floor(5 × percent_rank)),
percent_rank = (rank − 1) / (n − 1), ties sharing the lowest rank."""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import SparkSession

from lakepulse.gold.job import score_everyone
from lakepulse.gold.profiles import USER_PROFILE_SCHEMA

DAY_10 = datetime(2026, 3, 11, 9, 0)


def _profiles(spark: SparkSession, people: list[tuple[str, int, int, float]]):
    """(user_id, days before DAY_10 last seen, orders, revenue) → full user_profile rows."""
    zero = {field.name: 0 for field in USER_PROFILE_SCHEMA.fields if field.dataType.simpleString() in ("bigint", "int")}
    rows = []
    for user_id, days_ago, orders, revenue in people:
        seen = DAY_10 - timedelta(days=days_ago)
        row = {**{f.name: None for f in USER_PROFILE_SCHEMA.fields}, **zero, "user_id": user_id,
               "is_identified": True, "first_seen": seen, "last_seen": seen, "orders": orders,
               "revenue": revenue, "updated_at": DAY_10}
        rows.append(tuple(row[f.name] for f in USER_PROFILE_SCHEMA.fields))
    return spark.createDataFrame(rows, USER_PROFILE_SCHEMA)


def test_quintiles_with_ties_match_the_percent_rank_by_hand(spark: SparkSession) -> None:
    people = [("p1", 0, 0, 0.0), ("p2", 0, 1, 10.0), ("p3", 2, 1, 10.0), ("p4", 5, 3, 50.0), ("p5", 10, 2, 20.0)]
    scored = {r["user_id"]: r for r in score_everyone(_profiles(spark, people))[0].collect()}
    # R, by recency descending (10, 5, 2, 0, 0 days): ranks 1, 2, 3, 4, 4 of 5 → 0, .25, .5, .75, .75.
    assert {u: (r["recency_days"], r["r_score"]) for u, r in scored.items()} == {
        "p1": (0, 4), "p2": (0, 4), "p3": (2, 3), "p4": (5, 2), "p5": (10, 1)}
    # F and M among the 4 buyers: 1, 1, 2, 3 orders (10, 10, 20, 50 revenue): ranks 1, 1, 3, 4 → 0, 0, 2/3, 1.
    assert {u: (r["f_score"], r["m_score"]) for u, r in scored.items()} == {
        "p1": (None, None), "p2": (1, 1), "p3": (1, 1), "p5": (4, 4), "p4": (5, 5)}
    assert {u: r["rfm_score"] for u, r in scored.items()} == {
        "p1": "4--", "p2": "411", "p3": "311", "p4": "255", "p5": "144"}
    assert {r["as_of"] for r in scored.values()} == {DAY_10}


def test_a_lone_buyer_scores_one(spark: SparkSession) -> None:
    scored = {r["user_id"]: r for r in score_everyone(_profiles(spark, [("a", 0, 0, 0.0), ("b", 3, 2, 9.5)]))[0].collect()}
    assert {u: (r["r_score"], r["f_score"], r["m_score"]) for u, r in scored.items()} == {
        "a": (5, None, None), "b": (1, 1, 1)}


def _days(moment: datetime) -> float:
    """A date as profiles.RfmCuts holds it: days since 1970-01-01."""
    return float((moment.date() - datetime(1970, 1, 1).date()).days)


def test_cuts_are_where_each_score_starts_and_score_newcomers(spark: SparkSession) -> None:
    from lakepulse.gold.profiles import RfmCuts, rfm_cuts, score_rfm

    people = [("p1", 0, 0, 0.0), ("p2", 0, 1, 10.0), ("p3", 2, 1, 10.0), ("p4", 5, 3, 50.0), ("p5", 10, 2, 20.0)]
    cuts = rfm_cuts(_profiles(spark, people))
    day = timedelta(days=1)
    # R scores 1, 2, 3, 4 start at 10, 5, 2 and 0 days ago; nobody scores 5. F: 2 orders → 4, 3 → 5
    # (nobody scores 2 or 3); M: 20.0 → 4, 50.0 → 5.
    assert cuts == RfmCuts(recency=(_days(DAY_10 - 5 * day), _days(DAY_10 - 2 * day), _days(DAY_10), None),
                           frequency=(None, None, 2.0, 3.0), monetary=(None, None, 20.0, 50.0),
                           as_of=DAY_10, people=5)
    assert RfmCuts.from_json(cuts.to_json()) == cuts
    # Newcomers scored on those cuts: the highest score whose cut the value reaches.
    newcomers = _profiles(spark, [("n1", -1, 1, 19.99), ("n2", 3, 7, 50.0), ("n3", 12, 0, 0.0)])
    scored = {r["user_id"]: (r["recency_days"], r["rfm_score"], r["rfm_segment"])
              for r in score_rfm(newcomers, cuts).collect()}
    assert scored == {"n1": (0, "411", "New customers"),      # seen after the as-of day: recency 0, R 4
                      "n2": (3, "255", "At risk"),            # 3 days: reaches the 5-day cut only
                      "n3": (12, "1--", "Lapsed prospects")}
