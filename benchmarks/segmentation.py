"""Segmentation: the same features through Spark MLlib (the job's fit) and through scikit-learn —
time ratio, inertia ratio, silhouette difference and each one's adjusted Rand index (ARI) against
the simulator's personas.

    .venv/bin/python benchmarks/segmentation.py                        # 100,000 users, then 1,000,000
    .venv/bin/python benchmarks/segmentation.py --users 20000 --events 600000 --scale-to 200000

Prints the figures and saves them as JSON (default ``.lakepulse/benchmarks/segmentation.json``).

**Data.** The simulated run is ``--users`` people sending ``--events`` records over
``--history-days``, with the persona mix of ``conf/local.yaml``. The default, 10,000,000 records for
100,000 people over 30 days (about 100 per person), lets regular customers come back six to eight
times a month, as the simulator plans them (``lakepulse.simulate.schedule``); with fewer records
per person the simulator lets a share of the people come and leaves the others unseen. Their
``gold.user_profile`` rows are built in-process by
:func:`lakepulse.segments.simulated.simulated_profiles` — the simulator's record stream aggregated
with gold's definitions — rather than by running Kafka → bronze → silver → gold, which for 100,000
people takes far longer on two cores than the segmentation being measured;
the segmentation integration test shows the job on such rows end to end. The rows are cached as
Parquet next to the JSON, keyed by the run's parameters (``--fresh`` rebuilds them).

The ``--scale-to`` run (1,000,000 users by default) is for timing: its rows are drawn per persona,
with the run's persona shares, from the simulated run's own profiles (a bootstrap of the empirical
per-persona distribution), so the features have the real run's shape at ten times the size.

**What is compared.** Spark: :func:`lakepulse.segments.model.fit_model` with ``k = --k`` (the number
of personas) and the settings' seeds, k-means|| steps, tolerance and fit sample — its time includes
fitting the scaler, sampling and caching, not the silhouette the job computes afterwards. scikit-learn: ``StandardScaler`` + ``KMeans(n_init=seeds,
k-means++, lloyd)`` on the same ``log1p`` model inputs pulled out of Spark as a NumPy array (the time
to pull them out is not counted). Both models' inertia and labels are computed on the same
standardised array (Spark's scaling); silhouettes (squared Euclidean, as Spark's evaluator) on the
same sample of rows. Both are warmed up first on 2,000 rows, untimed (JIT compilation, first use of
classes: a batch job pays that once). Wall times and CPU seconds (scikit-learn: this process; Spark:
the JVM plus this process) are both given, with the load average: the machine may be shared. The
baseline (``--no-baseline`` skips it) is MLlib KMeans with its default parameters on all the cached
vectors, the same seeds one after the other — what the job did before it was tuned.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lakepulse.paths import runtime_dir
from lakepulse.segments.model import SCALED_COLUMN, fit_model, kmeans_stage
from lakepulse.segments.quality import adjusted_rand_index
from lakepulse.segments.simulated import simulated_profiles, user_profile_frame
from lakepulse.settings import SegmentationSettings, Settings, load_settings

SILHOUETTE_SAMPLE = 10_000


def _loads() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class CpuClock:
    """CPU seconds of this process plus, when given, the Spark JVM (a child process)."""

    def __init__(self, jvm_pid: int | None = None) -> None:
        self.jvm_pid = jvm_pid

    def __call__(self) -> float:
        total = time.process_time()
        if self.jvm_pid:
            fields = Path(f"/proc/{self.jvm_pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


def simulated_run(settings: Settings, users: int, events: int, history_days: float, seed: int, cache: Path,
                  fresh: bool) -> tuple[pd.DataFrame, dict[str, str], dict[str, Any]]:
    """The simulated profiles and personas (from the cache when there)."""
    stem = cache / f"segmentation-users{users}-events{events}-days{history_days:g}-seed{seed}"
    parquet, personas_file = stem.with_suffix(".parquet"), stem.with_suffix(".personas.json")
    info = {"users": users, "events": events, "history_days": history_days, "seed": seed, "cached": False}
    if parquet.exists() and personas_file.exists() and not fresh:
        info["cached"] = True
        return pd.read_parquet(parquet), json.loads(personas_file.read_text()), info
    config = replace(settings.simulator, users=users, history_days=history_days)
    started = time.perf_counter()
    simulated = simulated_profiles(config, events=events, now=datetime(2026, 1, 1, tzinfo=UTC), seed=seed)
    info["simulate_seconds"] = round(time.perf_counter() - started, 1)
    cache.mkdir(parents=True, exist_ok=True)
    simulated.profiles.to_parquet(parquet, index=False)
    personas_file.write_text(json.dumps(simulated.personas))
    return simulated.profiles, simulated.personas, info


def scaled_up(profiles: pd.DataFrame, personas: dict[str, str], rows: int, seed: int) -> tuple[pd.DataFrame, dict[str, str]]:
    """``rows`` profiles drawn per persona (shares as in ``profiles``) from ``profiles`` with
    replacement, under new user ids."""
    rng = np.random.default_rng(seed)
    persona = profiles["user_id"].map(personas).to_numpy()
    picks = rng.integers(0, len(profiles), rows)  # same persona shares as the run, in expectation
    drawn = profiles.iloc[picks].reset_index(drop=True)
    drawn["user_id"] = [f"synthetic-{i:07d}" for i in range(rows)]
    return drawn, dict(zip(drawn["user_id"], persona[picks], strict=True))


def _silhouette(x: np.ndarray, labels: np.ndarray, sample: np.ndarray) -> float:
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(x[sample], labels[sample], metric="sqeuclidean"))


def _assign(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, float]:
    """Nearest centre of each row and the inertia (sum of squared distances)."""
    best = np.full(len(x), np.inf)
    labels = np.zeros(len(x), dtype=np.int64)
    for index, centre in enumerate(centres):
        distance = ((x - centre) ** 2).sum(axis=1)
        closer = distance < best
        best[closer], labels[closer] = distance[closer], index
    return labels, float(best.sum())


def compare(spark: Any, clock: CpuClock, profiles: pd.DataFrame, personas: dict[str, str],
            config: SegmentationSettings, baseline: bool) -> dict[str, Any]:
    """Fit both ways on ``profiles`` and return the figures."""
    from pyspark.ml import PipelineModel
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    from lakepulse.segments.features import model_columns

    frame = user_profile_frame(spark, profiles).cache()
    users = frame.count()
    # Warm-up (JIT, first-use class loading) on a few rows, untimed: a long batch job pays it once.
    fit_model(frame.limit(2_000), replace(config, seeds=1))
    KMeans(n_clusters=config.k, n_init=1).fit(np.random.default_rng(0).normal(size=(2_000, len(config.features))))

    loads = _loads()
    wall, cpu = time.perf_counter(), clock()
    fitted = fit_model(frame, config)
    spark_wall, spark_cpu = time.perf_counter() - wall, clock() - cpu
    # scikit-learn measures no silhouette while fitting: leave the job's out of the comparison.
    spark_wall -= fitted.timings["silhouette"]

    # The same inputs for scikit-learn: log1p model inputs and Spark's standardised vectors.
    prepared = PipelineModel(stages=fitted.pipeline.stages[:-1]).transform(frame)
    inputs = prepared.select("user_id", *model_columns(config.features),
                             vector_to_array(F.col(SCALED_COLUMN)).alias("x")).toPandas()
    frame.unpersist()
    raw = inputs[model_columns(config.features)].to_numpy(dtype=np.float64)
    x = np.vstack(inputs["x"].to_numpy())
    truth = inputs["user_id"].map(personas).to_numpy()

    wall, cpu = time.perf_counter(), time.process_time()
    StandardScaler().fit_transform(raw)
    reference = KMeans(n_clusters=fitted.k, n_init=config.seeds, random_state=config.seed).fit(x)
    sklearn_wall, sklearn_cpu = time.perf_counter() - wall, time.process_time() - cpu

    defaults = _mllib_defaults(prepared.select(SCALED_COLUMN), clock, x, config) if baseline else None

    spark_labels, spark_inertia = _assign(x, np.array(kmeans_stage(fitted.pipeline).clusterCenters()))
    sklearn_labels, sklearn_inertia = reference.labels_, float(reference.inertia_)
    sample = np.random.default_rng(0).choice(users, size=min(users, SILHOUETTE_SAMPLE), replace=False)
    known = np.array([t is not None for t in truth])
    spark_silhouette = _silhouette(x, spark_labels, sample)
    sklearn_silhouette = _silhouette(x, sklearn_labels, sample)
    spark_ari = adjusted_rand_index(list(truth[known]), list(spark_labels[known]))
    sklearn_ari = adjusted_rand_index(list(truth[known]), list(sklearn_labels[known]))
    return {
        "users": users,
        "k": fitted.k,
        "persona_mix": {str(k): int(v) for k, v in pd.Series(truth[known]).value_counts().items()},
        "load_average_before": loads,
        "mllib": {
            "seconds": round(spark_wall, 2), "cpu_seconds": round(spark_cpu, 2),
            "fit_rows": fitted.fit_rows, "phases_seconds": fitted.timings,
            "seeds": [asdict(r) for r in fitted.runs], "seed_kept": fitted.seed,
            "inertia": round(spark_inertia, 2), "silhouette": round(spark_silhouette, 4), "ari": round(spark_ari, 4),
            "segment_sizes": np.bincount(spark_labels, minlength=fitted.k).tolist(),
        },
        "sklearn": {
            "seconds": round(sklearn_wall, 2), "cpu_seconds": round(sklearn_cpu, 2), "n_init": config.seeds,
            "iterations": int(reference.n_iter_),
            "inertia": round(sklearn_inertia, 2), "silhouette": round(sklearn_silhouette, 4),
            "ari": round(sklearn_ari, 4),
            "segment_sizes": np.bincount(sklearn_labels, minlength=fitted.k).tolist(),
        },
        "time_ratio": round(spark_wall / sklearn_wall, 2),
        "cpu_time_ratio": round(spark_cpu / sklearn_cpu, 2),
        "inertia_ratio": round(spark_inertia / sklearn_inertia, 5),
        "silhouette_difference": round(spark_silhouette - sklearn_silhouette, 4),
        "agreement_ari": round(adjusted_rand_index(list(spark_labels), list(sklearn_labels)), 4),
        **({"mllib_defaults": {**defaults, "time_ratio": round(defaults["seconds"] / sklearn_wall, 2),
                               "inertia_ratio": round(defaults["inertia"] / sklearn_inertia, 5)}}
           if defaults else {}),
    }


def _mllib_defaults(scaled: Any, clock: CpuClock, x: np.ndarray, config: SegmentationSettings) -> dict[str, Any]:
    """The baseline: MLlib KMeans with its default parameters (k-means|| with 2 steps, tol 1e-4, 20
    iterations) on all the cached vectors, the same seeds one after the other, the lowest cost kept."""
    from pyspark.ml.clustering import KMeans as SparkKMeans

    cached = scaled.cache()
    cached.count()
    wall, cpu = time.perf_counter(), clock()
    models = [SparkKMeans(featuresCol=SCALED_COLUMN, k=config.k, seed=config.seed + i).fit(cached)
              for i in range(config.seeds)]
    seconds, cpu_seconds = time.perf_counter() - wall, clock() - cpu
    cached.unpersist()
    best = min(models, key=lambda m: m.summary.trainingCost)
    _, inertia = _assign(x, np.array(best.clusterCenters()))
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2), "inertia": round(inertia, 2),
            "iterations": [m.summary.numIter for m in models]}


def _summary(name: str, figures: dict[str, Any]) -> str:
    mllib, sk = figures["mllib"], figures["sklearn"]
    return (f"{name}: {figures['users']:,} users, k={figures['k']}\n"
            f"  MLlib   {mllib['seconds']:7.2f} s ({mllib['cpu_seconds']:.1f} CPU s, fit on {mllib['fit_rows']:,} rows)"
            f"  inertia {mllib['inertia']:,.1f}  silhouette {mllib['silhouette']:.4f}  ARI {mllib['ari']:.4f}\n"
            f"  sklearn {sk['seconds']:7.2f} s ({sk['cpu_seconds']:.1f} CPU s)"
            f"{'':22s}inertia {sk['inertia']:,.1f}  silhouette {sk['silhouette']:.4f}  ARI {sk['ari']:.4f}\n"
            f"  time ratio {figures['time_ratio']:.2f} (CPU {figures['cpu_time_ratio']:.2f}), inertia ratio "
            f"{figures['inertia_ratio']:.5f}, silhouette difference {figures['silhouette_difference']:+.4f}, "
            f"MLlib vs sklearn labels ARI {figures['agreement_ari']:.4f}"
            + (f"\n  MLlib defaults (baseline): {figures['mllib_defaults']['seconds']:.2f} s, time ratio "
               f"{figures['mllib_defaults']['time_ratio']:.2f}, inertia ratio {figures['mllib_defaults']['inertia_ratio']:.5f}"
               if "mllib_defaults" in figures else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000, help="simulated people (default 100,000)")
    parser.add_argument("--events", type=int, default=10_000_000, help="simulated records (default 10,000,000)")
    parser.add_argument("--history-days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=42, help="simulator seed")
    parser.add_argument("--k", type=int, default=5, help="segments (default 5, the number of personas)")
    parser.add_argument("--scale-to", type=int, default=1_000_000,
                        help="also time a run of this many users drawn from the simulated ones (0: skip)")
    parser.add_argument("--fresh", action="store_true", help="simulate again even if the profiles are cached")
    parser.add_argument("--no-baseline", action="store_true", help="skip timing MLlib with its default parameters")
    parser.add_argument("--env", default=None)
    parser.add_argument("--output", type=Path, default=runtime_dir() / "benchmarks" / "segmentation.json")
    args = parser.parse_args(argv)

    settings = load_settings(args.env)
    config = replace(settings.segmentation, k=args.k)
    profiles, personas, simulation = simulated_run(settings, args.users, args.events, args.history_days, args.seed,
                                                   args.output.parent, args.fresh)
    print(f"simulated run: {len(profiles):,} people seen of {args.users:,}, {args.events:,} records over "
          f"{args.history_days:g} days" + (" (cached)" if simulation["cached"] else
                                           f" ({simulation['simulate_seconds']} s)"), flush=True)

    from lakepulse.spark import build_session

    spark = build_session(settings, "benchmark-segmentation")
    clock = CpuClock(getattr(getattr(spark.sparkContext, "_gateway", None), "proc", None) and
                     spark.sparkContext._gateway.proc.pid)
    figures: dict[str, Any] = {
        "benchmark": "segmentation",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": _loads()},
        "settings": {key: value for key, value in asdict(config).items()
                     if key in ("features", "k", "seeds", "seed", "init_steps", "max_iter", "tol", "fit_sample_rows",
                                "evaluation_sample_rows")},
        "simulation": simulation,
    }
    runs = {"simulated": (profiles, personas)}
    if args.scale_to:
        runs["scaled"] = scaled_up(profiles, personas, args.scale_to, args.seed)
    for name, (rows, truth) in runs.items():
        figures[name] = compare(spark, clock, rows, truth, config, baseline=not args.no_baseline)
        print(_summary(name, figures[name]), flush=True)
    figures["machine"]["load_average_at_end"] = _loads()
    figures["goals"] = {
        "inertia_ratio_at_most_1.02": figures["simulated"]["inertia_ratio"] <= 1.02,
        "ari_at_least_0.9_simulated": figures["simulated"]["mllib"]["ari"] >= 0.9,
        **({"time_ratio_at_most_10_scaled": figures["scaled"]["time_ratio"] <= 10} if args.scale_to else {}),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"goals: {figures['goals']}")
    print(f"saved {args.output}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
