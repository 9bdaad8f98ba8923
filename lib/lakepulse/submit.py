"""Build (and run) the ``spark-submit`` command of a job; what ``spark-submit.sh`` calls.

    ./spark-submit.sh <job> [--env local|cluster] [--master URL] [--dry-run] [-- job args]

The command carries everything a cluster needs: the Delta and Kafka jars (``--jars``), the library
as a zip (``--py-files``), the settings file (``--files`` and ``--settings``) and the Delta session
configuration. ``--dry-run`` prints it instead of running it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

from lakepulse.cli_args import parse_with_passthrough
from lakepulse.jars import ensure_bundle
from lakepulse.paths import project_root, runtime_dir
from lakepulse.settings import Settings, SettingsError, default_settings_file, load_settings
from lakepulse.spark import DELTA_CONF


def available_jobs() -> list[str]:
    return sorted(p.stem for p in (project_root() / "jobs").glob("*.py") if not p.stem.startswith("_"))


def build_library_zip() -> Path:
    """Zip ``lib/lakepulse`` for ``--py-files`` (rebuilt on every call; it takes milliseconds)."""
    package = project_root() / "lib" / "lakepulse"
    target = runtime_dir() / "dist" / "lakepulse.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(package.parent))
    return target


def submit_command(
    job: str,
    settings: Settings,
    settings_file: Path,
    *,
    master: str | None = None,
    job_args: list[str] | tuple[str, ...] = (),
    python: str | None = None,
) -> list[str]:
    """The full spark-submit argument list for ``job`` (a file in ``jobs/``)."""
    if job not in available_jobs():
        raise SettingsError(f"unknown job {job!r}; jobs are: {', '.join(available_jobs())}")
    master = master or settings.spark.master
    if not master:
        raise SettingsError(f"spark.master is empty ({settings.source}); pass --master URL")
    spark_submit = Path(sys.executable).parent / "spark-submit"
    command = [
        str(spark_submit if spark_submit.exists() else "spark-submit"),
        "--master", master,
        "--name", f"lakepulse-{job}",
        "--jars", ",".join(str(p) for p in ensure_bundle("spark", quiet=True)),
        "--py-files", str(build_library_zip()),
        "--files", str(settings_file),
    ]
    conf = dict(DELTA_CONF)
    conf["spark.sql.shuffle.partitions"] = str(settings.spark.shuffle_partitions)
    if master.startswith("local"):
        command += ["--driver-memory", settings.spark.driver_memory]
    if python:
        conf["spark.pyspark.python"] = python
        conf["spark.pyspark.driver.python"] = python
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    command += [str(project_root() / "jobs" / f"{job}.py"), "--settings", str(settings_file), *job_args]
    return command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", help="a job in jobs/ (ingest_bronze, ...)")
    parser.add_argument("--master", default=None, help="Spark master URL (default spark.master)")
    parser.add_argument("--dry-run", action="store_true", help="print the command instead of running it")


def run(args: argparse.Namespace, settings: Settings) -> int:
    settings_file = Path(args.settings or default_settings_file(settings.env)).resolve()
    job_args = list(getattr(args, "passthrough", []))
    # The project's own interpreter runs the driver and the Python workers on this machine;
    # on a cluster, the cluster's image provides Python.
    python = sys.executable if settings.env != "cluster" else None
    command = submit_command(args.job, settings, settings_file, master=args.master,
                             job_args=job_args, python=python)
    if args.dry_run:
        print(shlex.join(command))
        return 0
    print(f"[lakepulse] {shlex.join(command[:3])} ... {args.job}", flush=True)
    env = {**os.environ, "PYSPARK_PYTHON": python or os.environ.get("PYSPARK_PYTHON", "python3"),
           "LAKEPULSE_HOME": str(project_root())}
    return subprocess.call(command, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spark-submit.sh", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None, help="settings environment (conf/<env>.yaml)")
    parser.add_argument("--settings", default=None, help="settings file (overrides --env)")
    add_arguments(parser)
    args = parse_with_passthrough(parser, sys.argv[1:] if argv is None else argv)
    try:
        return run(args, load_settings(args.env, args.settings))
    except SettingsError as exc:
        print(f"SettingsError: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
