"""Segmentation on real Spark and Delta tables: exact feature values on a hand-built gold table, the
same seed giving the same segments, and the whole job on simulated shoppers with well-separated
personas (ARI against the ground truth, the tables written, scoring with the saved model)."""

from __future__ import annotations

import json
import math
import runpy
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakepulse.gold.profiles import USER_PROFILE_SCHEMA
from lakepulse.io.delta import ensure_delta_table
from lakepulse.paths import project_root
from lakepulse.segments.features import FEATURES, with_features
from lakepulse.segments.job import format_profiles, format_quality, run_segmentation
from lakepulse.segments.model import fit_model, score_users
from lakepulse.segments.report import segments_report
from lakepulse.segments.simulated import simulated_profiles, user_profile_frame
from lakepulse.settings import SegmentationSettings, SimulatorSettings
from lakepulse.tables import table_ref
from tests.helpers import make_settings, read_delta_rs

pytestmark = pytest.mark.integration

NOTEBOOK = project_root() / "notebooks" / "segments.py"

AS_OF = datetime(2026, 3, 10)


def _profile(user_id: str, **values: object) -> dict:
    """A gold.user_profile row: a one-visit browser unless ``values`` say otherwise."""
    row: dict[str, object] = {f.name: None for f in USER_PROFILE_SCHEMA.fields}
    row.update(user_id=user_id, is_identified=False, devices=1, first_seen=AS_OF, last_seen=AS_OF, sessions=1,
               events=1, page_views=1, product_views=0, adds_to_cart=0, checkouts=0, orders=0, revenue=0.0,
               active_days=1, tenure_days=0, categories_viewed=0, as_of=AS_OF, updated_at=AS_OF)
    row.update(values)
    return row


def _profiles(spark: SparkSession, rows: list[dict]):
    return spark.createDataFrame([tuple(r[f.name] for f in USER_PROFILE_SCHEMA.fields) for r in rows],
                                 USER_PROFILE_SCHEMA)


def test_features_have_the_business_values_and_log1p_model_inputs_worked_out_by_hand(spark: SparkSession) -> None:
    profiles = _profiles(spark, [
        # A buyer: last seen 9 days before as-of, 3 orders for 99.0, 4 sessions, 12 product views,
        # 3 adds, 2 categories, 6 days from first to last visit, active on 3 days.
        _profile("buyer", recency_days=9, orders=3, revenue=99.0, average_order_value=33.0, sessions=4,
                 product_views=12, adds_to_cart=3, categories_viewed=2, tenure_days=6, active_days=3),
        # A visitor who never ordered nor viewed a product, with no RFM score yet (recency null).
        _profile("visitor", recency_days=None),
        # More adds than views (adds from a wishlist): the cart rate stops at 1.
        _profile("adder", recency_days=0, product_views=2, adds_to_cart=5),
    ])
    names = list(FEATURES)
    rows = {r["user_id"]: r for r in with_features(profiles, names).collect()}

    buyer = rows["buyer"]
    expected = {"recency": 9.0, "frequency": 3.0, "monetary": 99.0, "average_order_value": 33.0, "sessions": 4.0,
                "views": 12.0, "cart_rate": 0.25, "view_to_order": 0.25, "category_diversity": 2.0, "tenure": 6.0,
                "active_days": 3.0}
    assert {n: buyer[n] for n in names} == expected
    assert buyer["f_recency"] == pytest.approx(math.log(10.0), abs=1e-12)
    assert buyer["f_monetary"] == pytest.approx(math.log(100.0), abs=1e-12)
    assert buyer["f_average_order_value"] == pytest.approx(math.log(34.0), abs=1e-12)
    assert buyer["f_frequency"] == pytest.approx(math.log(4.0), abs=1e-12)
    assert buyer["f_cart_rate"] == 0.25 and buyer["f_view_to_order"] == 0.25  # rates are not transformed

    visitor = rows["visitor"]
    assert {n: visitor[n] for n in names} == {**dict.fromkeys(names, 0.0), "sessions": 1.0, "active_days": 1.0}
    assert visitor["f_sessions"] == pytest.approx(math.log(2.0), abs=1e-12)
    assert visitor["f_average_order_value"] == 0.0

    assert rows["adder"]["cart_rate"] == 1.0
    with pytest.raises(KeyError, match="unknown segmentation feature"):
        with_features(profiles, ["recency", "loyalty"])


def _persona_like_profiles(spark: SparkSession, per_group: int = 60):
    """Three well-apart kinds of user, with a deterministic spread inside each."""
    rows = []
    for i in range(per_group):
        wobble = 1 + (i % 7) / 10
        rows.append(_profile(f"big-{i}", recency_days=1 + i % 3, orders=int(8 * wobble), revenue=900.0 * wobble,
                             average_order_value=110.0, sessions=int(20 * wobble), product_views=int(60 * wobble),
                             adds_to_cart=int(25 * wobble), categories_viewed=6, tenure_days=50, active_days=18))
        rows.append(_profile(f"browse-{i}", recency_days=2 + i % 4, sessions=int(12 * wobble),
                             product_views=int(90 * wobble), adds_to_cart=int(4 * wobble), categories_viewed=8,
                             tenure_days=40, active_days=int(10 * wobble)))
        rows.append(_profile(f"gone-{i}", recency_days=40 + i % 9, sessions=1, product_views=i % 3,
                             categories_viewed=i % 2, tenure_days=0, active_days=1))
    return _profiles(spark, rows)


def test_the_same_seed_gives_the_same_segments(spark: SparkSession) -> None:
    profiles = _persona_like_profiles(spark).cache()
    config = SegmentationSettings(k=3, seeds=2, seed=11)
    first, second = fit_model(profiles, config), fit_model(profiles, config)

    assert first.k == 3 and first.k_chosen_by == "settings" and not first.k_scores
    assert [r.seed for r in first.runs] == [11, 12] and first.seed in (11, 12)
    assert [r.cost for r in first.runs] == [r.cost for r in second.runs]

    def assignments(fitted) -> dict[str, int]:
        return {r["user_id"]: r["segment_id"] for r in score_users(fitted.pipeline, profiles).collect()}

    a = assignments(first)
    assert a == assignments(second)
    # Each kind of user is one segment.
    for kind in ("big", "browse", "gone"):
        assert len({segment for user, segment in a.items() if user.startswith(kind)}) == 1
    assert len(set(a.values())) == 3
    profiles.unpersist()


def test_k_is_chosen_by_silhouette_with_the_inertia_curve(spark: SparkSession) -> None:
    profiles = _persona_like_profiles(spark, per_group=30)
    fitted = fit_model(profiles, SegmentationSettings(k=0, k_min=2, k_max=4, seeds=1, seed=5))

    assert fitted.k == 3 and fitted.k_chosen_by == "silhouette"
    assert [s.k for s in fitted.k_scores] == [2, 3, 4]
    assert max(fitted.k_scores, key=lambda s: s.silhouette).k == 3
    assert fitted.k_scores[0].inertia > fitted.k_scores[1].inertia > fitted.k_scores[2].inertia
    with pytest.raises(ValueError, match="cannot make 3 segments"):
        fit_model(profiles.limit(2), SegmentationSettings(k=3, seeds=1))


def _run_notebook(settings_file: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """notebooks/segments.py as ``python notebooks/segments.py settings=...`` would run it."""
    argv = sys.argv
    sys.argv = [str(NOTEBOOK), f"settings={settings_file}"]
    try:
        capsys.readouterr()
        runpy.run_path(str(NOTEBOOK), run_name="__main__")
    finally:
        sys.argv = argv
    return capsys.readouterr().out


@pytest.mark.slow
def test_the_job_on_simulated_personas_recovers_them_and_scores_again_with_the_saved_model(
        spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Well separated: three personas that differ in how much they browse, buy and spend, two months
    # of history with ~300 events per person, one device each, no faults.
    simulator = SimulatorSettings(users=400, history_days=60, second_device_share=0.0,
                                  persona_window_shopper=0.5, persona_loyal_high_spender=0.3, persona_dormant=0.2,
                                  persona_bargain_hunter=0.0, persona_one_time_buyer=0.0,
                                  **{name: 0.0 for name in ("duplicate_rate", "malformed_json_rate",
                                                             "missing_message_id_rate", "missing_identity_rate",
                                                             "wrong_type_rate", "unknown_event_rate",
                                                             "future_timestamp_rate", "oversized_rate", "late_rate")})
    simulated = simulated_profiles(simulator, events=120_000, now=datetime(2026, 3, 1, tzinfo=UTC))
    truth_file = tmp_path / "truth.json"
    truth_file.write_text(json.dumps({"users": {u: {"persona": p} for u, p in simulated.personas.items()}}))
    settings, settings_file = make_settings(tmp_path, "localhost:9", "unused",
                                            segmentation={"k": 3, "seeds": 2, "ground_truth_file": str(truth_file)})
    gold = table_ref(settings, settings.gold.user_profile_table)
    ensure_delta_table(spark, gold, USER_PROFILE_SCHEMA, register=False)
    user_profile_frame(spark, simulated.profiles).write.format("delta").mode("append").save(gold.path)

    run = run_segmentation(spark, settings)
    print(format_quality(run), format_profiles(run), sep="\n\n")

    users = len(simulated.profiles)
    assert run.fitted and run.k == 3 and run.users == users
    assert run.ground_truth_users == users
    assert run.adjusted_rand_index is not None and run.adjusted_rand_index >= 0.9
    assert sorted(run.cluster_sizes, reverse=True) == run.cluster_sizes or sum(run.cluster_sizes) == users
    assert sum(run.cluster_sizes) == users
    assert len({p.name for p in run.profiles}) == 3
    assert 0 < run.silhouette <= 1 and run.inertia > 0
    assert sum(p.revenue_share for p in run.profiles) == pytest.approx(1.0)
    # The loyal high spenders' segment carries most of the revenue; its name says it buys.
    loyal = [u for u, p in simulated.personas.items() if p == "loyal_high_spender"]
    segments = {r["user_id"]: r for r in read_delta_rs(
        table_ref(settings, settings.segmentation.user_segments_table).path).to_pylist()}
    loyal_segment = max({segments[u]["segment_id"] for u in loyal}, key=lambda s: sum(
        1 for u in loyal if segments[u]["segment_id"] == s))
    top = max(run.profiles, key=lambda p: p.revenue_share)
    assert top.segment_id == loyal_segment and top.revenue_share > 0.5
    assert top.name in ("Champions", "Loyal", "Big spenders", "Occasional buyers")

    # The tables, read independently of Spark.
    assert len(segments) == users and {r["model_version"] for r in segments.values()} == {run.model_version}
    profiles_table = read_delta_rs(table_ref(settings, settings.segmentation.segment_profiles_table).path).to_pylist()
    assert sorted(r["users"] for r in profiles_table) == sorted(run.cluster_sizes)
    assert all(set(dict(r["centroid"])) == set(settings.segmentation.features) for r in profiles_table)
    runs = read_delta_rs(table_ref(settings, settings.segmentation.runs_table).path).to_pylist()
    assert len(runs) == 1 and runs[0]["adjusted_rand_index"] == pytest.approx(run.adjusted_rand_index)
    assert runs[0]["cluster_sizes"] == run.cluster_sizes and runs[0]["k_chosen_by"] == "settings"

    # The report: text, charts and the HTML page.
    report = segments_report(spark, settings)
    assert run.model_version in report.text() and top.name in report.text()
    written = report.write(tmp_path / "reports")
    assert [p.name for p in written] == ["segments-shares.png", "segments-centroids.png", "segments.html"]
    assert all(p.stat().st_size > 1000 for p in written)

    # The notebook runs as plain Python on the same lakehouse and shows the same segments.
    notebook_output = _run_notebook(settings_file, capsys)
    assert "Customer segments" in notebook_output and top.name in notebook_output
    assert "most typical" in notebook_output

    # Score again with the saved model, no refit: the same segments for the same users, and a
    # newcomer is scored too.
    newcomer = spark.createDataFrame([tuple(
        _profile("newcomer", recency_days=50, last_seen=AS_OF - timedelta(days=50))[f.name]
        for f in USER_PROFILE_SCHEMA.fields)], USER_PROFILE_SCHEMA)
    newcomer.write.format("delta").mode("append").save(gold.path)
    again_settings, _ = make_settings(tmp_path, "localhost:9", "unused",
                                      segmentation={"k": 3, "model_version": "latest",
                                                    "ground_truth_file": str(truth_file)})
    again = run_segmentation(spark, again_settings)
    assert not again.fitted and again.model_version == run.model_version and again.users == users + 1
    rescored = {r["user_id"]: r["segment_id"] for r in read_delta_rs(
        table_ref(settings, settings.segmentation.user_segments_table).path).to_pylist()}
    assert {u: rescored[u] for u in segments} == {u: r["segment_id"] for u, r in segments.items()}
    assert "newcomer" in rescored
    assert [r["fitted"] for r in read_delta_rs(
        table_ref(settings, settings.segmentation.runs_table).path, "SELECT * FROM t ORDER BY started_at").to_pylist()
            ] == [True, False]
    assert spark.read.format("delta").load(gold.path).where(F.col("user_id") == "newcomer").count() == 1
