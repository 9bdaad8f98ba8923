import shlex
import subprocess

import pytest

from lakepulse.paths import project_root
from lakepulse.settings import SettingsError, default_settings_file, load_settings
from lakepulse.submit import submit_command


def _option(command: list[str], flag: str) -> list[str]:
    return [command[i + 1] for i, arg in enumerate(command) if arg == flag]


def test_command_carries_jars_library_settings_and_delta_conf():
    settings = load_settings("local", environ={})
    command = submit_command("ingest_bronze", settings, default_settings_file("local"),
                             master="spark://10.0.0.1:7077", job_args=["--trigger", "available_now"],
                             python="/usr/bin/python3.11")
    assert command[0].endswith("spark-submit")
    assert _option(command, "--master") == ["spark://10.0.0.1:7077"]
    jars = _option(command, "--jars")[0].split(",")
    assert any("delta-spark_4.1_2.13" in j for j in jars) and any("spark-sql-kafka" in j for j in jars)
    assert _option(command, "--py-files")[0].endswith("lakepulse.zip")
    assert _option(command, "--files") == [str(default_settings_file("local"))]
    confs = _option(command, "--conf")
    assert "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension" in confs
    assert "spark.pyspark.python=/usr/bin/python3.11" in confs
    assert command[-5:] == [str(project_root() / "jobs" / "ingest_bronze.py"), "--settings",
                            str(default_settings_file("local")), "--trigger", "available_now"]
    assert "--driver-memory" not in command  # resources of a standalone cluster are its own


def test_unknown_job_and_missing_master_are_setting_errors():
    with pytest.raises(SettingsError, match="unknown job 'nope'"):
        submit_command("nope", load_settings("local", environ={}), default_settings_file("local"))
    with pytest.raises(SettingsError, match=r"spark.master is empty \(conf/cluster.yaml\); pass --master URL"):
        submit_command("ingest_bronze", load_settings("cluster", environ={}), default_settings_file("cluster"))


def test_dry_run_prints_the_exact_command():
    result = subprocess.run(
        [str(project_root() / "spark-submit.sh"), "ingest_bronze", "--dry-run", "--", "--trigger", "available_now"],
        capture_output=True, text=True, check=True,
    )
    command = shlex.split(result.stdout.strip().splitlines()[-1])
    assert _option(command, "--master") == ["local[2]"]
    assert command[-2:] == ["--trigger", "available_now"]
    assert _option(command, "--driver-memory") == ["4g"]
