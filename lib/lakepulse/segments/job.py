"""The ``segment_users`` batch job: ``gold.user_profile`` → segments, profiles, a quality record.

    ./spark-submit.sh segment_users --env local
    LAKEPULSE_SEGMENTATION__MODEL_VERSION=latest ./spark-submit.sh segment_users   # score only

Extract: ``gold.user_profile`` (one row per person). Transform: fit the pipeline
(:func:`lakepulse.segments.model.fit_model`) or load a saved one (``segmentation.model_version``: a
version, or ``latest``), score every user, name the segments from their centroids. Load, each
table replaced by this run's rows (every row carries the model version):

* ``gold.user_segments`` — one row per user: segment id and name, distance to the centroid;
* ``gold.segment_profiles`` — one row per segment: size, share of users and of revenue, centroid
  in business units and its name;
* ``ops.segmentation_runs`` — appended, one row per run: k and how it was chosen, silhouette,
  inertia, cluster sizes, the inertia/silhouette curve over k and, when the simulator's ground
  truth is there, the adjusted Rand index of the segments against its personas.

A fitted pipeline is saved under ``segmentation.models_dir/<version>``, the version being the fit
time and k (``20260101T120000Z-k5``), so later runs can score new users with it without refitting.

Example::

    run = run_segmentation(spark, settings)
    print(format_profiles(run))
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakepulse.io.delta import ensure_delta_table
from lakepulse.segments.features import FEATURES
from lakepulse.segments.model import (
    SCALED_COLUMN,
    SEGMENT_COLUMN,
    FittedModel,
    KMeansRun,
    KScore,
    centroids,
    fit_model,
    kmeans_stage,
    load_model,
    model_features,
    save_model,
    score_users,
    silhouette,
)
from lakepulse.segments.naming import name_segments
from lakepulse.segments.quality import adjusted_rand_index_of_counts, personas_from_truth
from lakepulse.settings import Settings
from lakepulse.tables import TableRef, table_ref

USER_SEGMENTS_SCHEMA = StructType([
    StructField("user_id", StringType(), False),
    StructField("segment_id", IntegerType(), False),
    StructField("segment_name", StringType(), False),
    StructField("distance", DoubleType(), False),      # to the centroid, in standardised feature units
    StructField("model_version", StringType(), False),
    StructField("scored_at", TimestampType(), False),
])

SEGMENT_PROFILES_SCHEMA = StructType([
    StructField("model_version", StringType(), False),
    StructField("segment_id", IntegerType(), False),
    StructField("segment_name", StringType(), False),
    StructField("users", LongType(), False),
    StructField("user_share", DoubleType(), False),
    StructField("revenue", DoubleType(), False),
    StructField("revenue_share", DoubleType(), False),
    StructField("centroid", MapType(StringType(), DoubleType()), False),  # feature -> business value
    StructField("scored_at", TimestampType(), False),
])

SEGMENTATION_RUNS_SCHEMA = StructType([
    StructField("model_version", StringType(), False),
    StructField("model_path", StringType(), False),
    StructField("fitted", BooleanType(), False),        # false: scored with a saved model
    StructField("started_at", TimestampType(), False),
    StructField("finished_at", TimestampType(), False),
    StructField("seconds", DoubleType(), False),
    StructField("fit_seconds", DoubleType()),
    StructField("users", LongType(), False),
    StructField("fit_rows", LongType()),
    StructField("evaluation_rows", LongType()),
    StructField("features", ArrayType(StringType()), False),
    StructField("k", IntegerType(), False),
    StructField("k_chosen_by", StringType(), False),   # settings | silhouette | saved model
    StructField("seed", LongType()),
    StructField("run_costs", ArrayType(DoubleType())),  # each seed's cost on the fit rows
    StructField("inertia", DoubleType(), False),        # sum of squared distances, all users
    StructField("silhouette", DoubleType()),
    StructField("cluster_sizes", ArrayType(LongType()), False),
    StructField("inertia_by_k", MapType(IntegerType(), DoubleType())),
    StructField("silhouette_by_k", MapType(IntegerType(), DoubleType())),
    StructField("adjusted_rand_index", DoubleType()),   # against the simulator's personas
    StructField("ground_truth_users", LongType()),
    StructField("ground_truth_file", StringType()),
])


class SegmentationError(Exception):
    """The job cannot run (no profiles, no saved model to score with); the message is one line."""


@dataclass(frozen=True)
class SegmentProfile:
    segment_id: int
    name: str
    users: int
    user_share: float
    revenue: float
    revenue_share: float
    centroid: dict[str, float]  # feature -> value in business units


@dataclass
class SegmentationRun:
    """What one run did: the model, the segments and their quality."""

    model_version: str
    model_path: str
    fitted: bool
    k: int
    k_chosen_by: str
    users: int
    inertia: float
    silhouette: float | None
    profiles: list[SegmentProfile]
    typical: dict[str, float]             # the centre of all users, business units
    scored_at: datetime
    seconds: float
    fit: FittedModel | None = None        # None when scored with a saved model
    adjusted_rand_index: float | None = None
    ground_truth_users: int = 0
    ground_truth_file: str | None = None
    tables: dict[str, str] = field(default_factory=dict)

    @property
    def cluster_sizes(self) -> list[int]:
        return [p.users for p in self.profiles]

    @property
    def runs(self) -> list[KMeansRun]:
        return self.fit.runs if self.fit else []

    @property
    def k_scores(self) -> list[KScore]:
        return self.fit.k_scores if self.fit else []


def models_dir(settings: Settings) -> str:
    return settings.resolve_path(settings.segmentation.models_dir).rstrip("/")


def new_version(k: int, at: datetime) -> str:
    """A model version: the fit time (UTC, to the second) and k, e.g. ``20260101T120000Z-k5``."""
    return f"{at.astimezone(UTC):%Y%m%dT%H%M%SZ}-k{k}"


def _read_delta(spark: SparkSession, ref: TableRef) -> DataFrame:
    return spark.read.format("delta").load(ref.path)


def _table_exists(spark: SparkSession, ref: TableRef) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, ref.path)


def saved_model_path(spark: SparkSession, settings: Settings, version: str) -> str:
    """Where the model ``version`` is saved; ``latest`` is the last fitted run's model in
    ``ops.segmentation_runs``. Raises SegmentationError when there is none."""
    if version != "latest":
        return f"{models_dir(settings)}/{version}"
    runs = table_ref(settings, settings.segmentation.runs_table)
    latest = None
    if _table_exists(spark, runs):
        latest = (_read_delta(spark, runs).where("fitted").orderBy(F.col("finished_at").desc())
                  .select("model_path").first())
    if latest is None:
        raise SegmentationError(f"segmentation.model_version is latest but {runs.name} has no fitted model; "
                                "run segment_users with an empty segmentation.model_version first")
    return latest["model_path"]


def ground_truth_file(settings: Settings) -> Path | None:
    """The simulator ground truth to measure segments against: ``segmentation.ground_truth_file``,
    else the simulator's file for ``kafka.events_topic``; None when it does not exist."""
    from lakepulse.simulate.runner import ground_truth_path

    configured = settings.segmentation.ground_truth_file
    path = Path(settings.resolve_path(configured)) if configured else ground_truth_path(
        settings, settings.kafka.events_topic)
    return path if path.is_file() else None


def ari_against_personas(spark: SparkSession, scored: DataFrame, personas: dict[str, str]) -> tuple[float | None, int]:
    """The adjusted Rand index of ``scored``'s segments against ``personas`` (user id → persona)
    over the users present in both, and how many those are; (None, 0) when none are."""
    if not personas:
        return None, 0
    truth = spark.createDataFrame(list(personas.items()), "user_id string, persona string")
    cells = (scored.join(truth, "user_id").groupBy("persona", SEGMENT_COLUMN).count().collect())
    counts = {(row["persona"], row[SEGMENT_COLUMN]): row["count"] for row in cells}
    matched = sum(counts.values())
    return (adjusted_rand_index_of_counts(counts) if matched else None), matched


def _profiles(aggregates: list[Row], names: dict[int, str], business: dict[int, dict[str, float]]) -> list[SegmentProfile]:
    users = sum(row["users"] for row in aggregates) or 1
    revenue = sum(row["revenue"] for row in aggregates)
    by_segment = {row[SEGMENT_COLUMN]: row for row in aggregates}
    return [
        SegmentProfile(
            segment_id=segment, name=names[segment],
            users=by_segment[segment]["users"] if segment in by_segment else 0,
            user_share=(by_segment[segment]["users"] / users) if segment in by_segment else 0.0,
            revenue=by_segment[segment]["revenue"] if segment in by_segment else 0.0,
            revenue_share=(by_segment[segment]["revenue"] / revenue) if segment in by_segment and revenue else 0.0,
            centroid=business[segment],
        )
        for segment in sorted(business)
    ]


def run_segmentation(spark: SparkSession, settings: Settings) -> SegmentationRun:
    """Run the job (see the module doc) and return what it did; raises SegmentationError when
    ``gold.user_profile`` is missing or empty, or the saved model asked for does not exist."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    config = settings.segmentation
    source = table_ref(settings, settings.gold.user_profile_table)
    if not _table_exists(spark, source):
        raise SegmentationError(f"{source.name} does not exist at {source.path}; run build_gold first")
    profiles = _read_delta(spark, source)

    fitted: FittedModel | None = None
    if config.model_version:
        path = saved_model_path(spark, settings, config.model_version)
        try:
            pipeline = load_model(path)
        except Exception as exc:  # Spark raises a Py4J/analysis error for a missing folder
            raise SegmentationError(f"no segmentation model at {path} ({type(exc).__name__})") from None
        version = path.rstrip("/").rsplit("/", 1)[-1]
    else:
        try:
            fitted = fit_model(profiles, config)
        except ValueError as exc:
            raise SegmentationError(f"{source.name}: {exc}") from None
        pipeline = fitted.pipeline
        version = new_version(fitted.k, started_at)
        path = save_model(pipeline, f"{models_dir(settings)}/{version}")

    scored = score_users(pipeline, profiles).cache()
    try:
        aggregates = (scored.groupBy(SEGMENT_COLUMN)
                      .agg(F.count(F.lit(1)).alias("users"), F.sum("revenue").alias("revenue"),
                           F.sum(F.col("distance") * F.col("distance")).alias("inertia"))
                      .collect())
        if not aggregates:
            raise SegmentationError(f"{source.name} has no users to segment")
        business, typical = centroids(pipeline)
        names = name_segments(business, typical)
        segment_profiles = _profiles(aggregates, names, business)
        quality = fitted.silhouette if fitted else _silhouette_of_saved(pipeline, profiles, config.evaluation_sample_rows)
        truth_file = ground_truth_file(settings)
        ari, matched = (ari_against_personas(spark, scored, personas_from_truth(truth_file))
                        if truth_file else (None, 0))
        scored_at = datetime.now(UTC)
        run = SegmentationRun(
            model_version=version, model_path=path, fitted=fitted is not None,
            k=len(kmeans_stage(pipeline).clusterCenters()),
            k_chosen_by=fitted.k_chosen_by if fitted else "saved model",
            users=sum(p.users for p in segment_profiles),
            inertia=sum(row["inertia"] for row in aggregates), silhouette=quality,
            profiles=segment_profiles, typical=typical, scored_at=scored_at, seconds=0.0, fit=fitted,
            adjusted_rand_index=ari, ground_truth_users=matched,
            ground_truth_file=str(truth_file) if truth_file else None,
        )
        run.tables = _write_outputs(spark, settings, scored, run)
    finally:
        scored.unpersist()
    run.seconds = time.perf_counter() - started
    _record_run(spark, settings, run, started_at, model_features(pipeline))
    return run


def _silhouette_of_saved(pipeline: PipelineModel, profiles: DataFrame, rows: int) -> float | None:
    users = profiles.count()
    sample = profiles if users <= rows else profiles.sample(fraction=rows / users, seed=7)
    scaled = PipelineModel(stages=pipeline.stages[:-1]).transform(sample).select(SCALED_COLUMN)
    return silhouette(kmeans_stage(pipeline), scaled) if users > 1 else None


def _write_outputs(spark: SparkSession, settings: Settings, scored: DataFrame, run: SegmentationRun) -> dict[str, str]:
    config = settings.segmentation
    register = settings.lakehouse.register_tables
    names = spark.createDataFrame([(p.segment_id, p.name) for p in run.profiles], "segment_id int, segment_name string")
    segments_ref = table_ref(settings, config.user_segments_table)
    ensure_delta_table(spark, segments_ref, USER_SEGMENTS_SCHEMA, register=register,
                       comment="One row per user: segment of the latest segment_users run")
    user_segments = scored.join(F.broadcast(names), SEGMENT_COLUMN).select(
        "user_id", SEGMENT_COLUMN, "segment_name", "distance",
        F.lit(run.model_version).alias("model_version"), F.lit(run.scored_at).cast("timestamp").alias("scored_at"))
    (user_segments.select([F.col(f.name).cast(f.dataType) for f in USER_SEGMENTS_SCHEMA.fields])
     .write.format("delta").mode("overwrite").save(segments_ref.path))

    profiles_ref = table_ref(settings, config.segment_profiles_table)
    ensure_delta_table(spark, profiles_ref, SEGMENT_PROFILES_SCHEMA, register=register,
                       comment="One row per segment of the latest segment_users run")
    rows = [(run.model_version, p.segment_id, p.name, p.users, p.user_share, float(p.revenue), p.revenue_share,
             {k: float(v) for k, v in p.centroid.items()}, run.scored_at.replace(tzinfo=None))
            for p in run.profiles]
    (spark.createDataFrame(rows, SEGMENT_PROFILES_SCHEMA)
     .write.format("delta").mode("overwrite").save(profiles_ref.path))
    return {"user_segments": segments_ref.name, "segment_profiles": profiles_ref.name}


def _record_run(spark: SparkSession, settings: Settings, run: SegmentationRun, started_at: datetime,
                features: list[str]) -> None:
    ref = table_ref(settings, settings.segmentation.runs_table)
    ensure_delta_table(spark, ref, SEGMENTATION_RUNS_SCHEMA, register=settings.lakehouse.register_tables,
                       comment="One row per segment_users run: model, k, silhouette, inertia, sizes, ARI")
    fit = run.fit
    row = (
        run.model_version, run.model_path, run.fitted, started_at.replace(tzinfo=None),
        run.scored_at.replace(tzinfo=None), run.seconds, fit.seconds if fit else None, run.users,
        fit.fit_rows if fit else None, fit.evaluation_rows if fit else None, features, run.k, run.k_chosen_by,
        fit.seed if fit else None, [r.cost for r in run.runs] if fit else None, run.inertia, run.silhouette,
        run.cluster_sizes,
        {s.k: s.inertia for s in run.k_scores} if fit and run.k_scores else None,
        {s.k: s.silhouette for s in run.k_scores} if fit and run.k_scores else None,
        run.adjusted_rand_index, run.ground_truth_users if run.ground_truth_file else None, run.ground_truth_file,
    )
    spark.createDataFrame([row], SEGMENTATION_RUNS_SCHEMA).write.format("delta").mode("append").save(ref.path)


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_profiles(run: SegmentationRun) -> str:
    """The segment profiles as an aligned text table: size, shares and the centroid in business
    units (one column per feature), the typical user last for comparison."""
    features = list(run.typical)
    header = ["id", "segment", "users", "users %", "revenue %", *features]
    body = [[str(p.segment_id), p.name, f"{p.users:,}", f"{100 * p.user_share:.1f}", f"{100 * p.revenue_share:.1f}",
             *[_number(p.centroid[f]) for f in features]] for p in run.profiles]
    body.append(["", "(typical user)", f"{run.users:,}", "100.0", "100.0", *[_number(run.typical[f]) for f in features]])
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    left = {0, 1}

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    units = ", ".join(f"{f} ({FEATURES[f].unit})" for f in features)
    return "\n".join([line(header), line(["-" * w for w in widths]), *[line(row) for row in body],
                      f"centroids in business units: {units}"])


def format_quality(run: SegmentationRun) -> str:
    """The run's quality figures, one per line: model, k, silhouette, inertia, sizes, ARI."""
    lines = [f"model {run.model_version} ({'fitted' if run.fitted else 'saved'}, {run.model_path})"]
    how = f"chosen by {run.k_chosen_by}"
    if run.k_scores:
        curve = ", ".join(f"k={s.k}: silhouette {s.silhouette:.3f} inertia {s.inertia:,.0f}" for s in run.k_scores)
        how += f" over {curve}"
    lines.append(f"k = {run.k} ({how})")
    if run.fit:
        costs = ", ".join(f"seed {r.seed}: {r.cost:,.1f} ({r.iterations} it)" for r in run.runs)
        lines.append(f"fit on {run.fit.fit_rows:,} of {run.fit.users:,} users in {run.fit.seconds:.1f} s; costs {costs}; "
                     f"kept seed {run.fit.seed}")
    silhouette_text = "n/a" if run.silhouette is None else f"{run.silhouette:.3f}"
    lines.append(f"silhouette {silhouette_text}, inertia {run.inertia:,.1f} over {run.users:,} users")
    lines.append("cluster sizes " + ", ".join(f"{p.segment_id}: {p.users:,}" for p in run.profiles))
    if run.ground_truth_file:
        ari = "n/a" if run.adjusted_rand_index is None else f"{run.adjusted_rand_index:.3f}"
        lines.append(f"adjusted Rand index vs simulator personas {ari} ({run.ground_truth_users:,} users, "
                     f"{run.ground_truth_file})")
    return "\n".join(lines)


def format_run(run: SegmentationRun) -> str:
    """What the job prints: quality, then the profiles table."""
    return f"{format_quality(run)}\n\n{format_profiles(run)}"
