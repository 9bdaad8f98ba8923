import subprocess
import sys

import pytest

from lakepulse.settings import SettingsError, load_settings
from tests.helpers import write_settings_file


def test_local_settings_load_with_their_declared_values():
    settings = load_settings("local", environ={})
    assert settings.env == "local"
    assert settings.kafka.bootstrap_servers == "localhost:19092"
    assert settings.kafka.partitions == 3
    assert settings.kafka.bronze_topics == ["lakepulse.events"]
    assert settings.spark.master == "local[2]"
    assert settings.bronze.trigger == "available_now"
    assert settings.lakehouse_root.endswith("/.lakepulse/lakehouse")


def test_cluster_settings_leave_the_master_to_spark_submit():
    settings = load_settings("cluster", environ={})
    assert settings.spark.master == ""
    assert settings.lakehouse_root == "s3a://lakepulse-lakehouse/tables"


def test_environment_overrides_are_typed():
    settings = load_settings("local", environ={
        "LAKEPULSE_KAFKA__PARTITIONS": "6",
        "LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS": "broker-a:9092,broker-b:9092",
        "LAKEPULSE_SPARK__UI_ENABLED": "true",
        "LAKEPULSE_KAFKA__INGEST_TOPICS": "a,b",
        "LAKEPULSE_LAKEHOUSE__ROOT": "/data/lake",
        "UNRELATED": "x",
    })
    assert settings.kafka.partitions == 6
    assert settings.kafka.bootstrap_servers == "broker-a:9092,broker-b:9092"
    assert settings.spark.ui_enabled is True
    assert settings.kafka.bronze_topics == ["a", "b"]
    assert settings.lakehouse_root == "/data/lake"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS": ""},
         "kafka.bootstrap_servers is empty (environment variable LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS)"),
        ({"LAKEPULSE_KAFKA__PARTITIONS": "three"},
         "kafka.partitions must be a whole number, got 'three' (environment variable LAKEPULSE_KAFKA__PARTITIONS)"),
        ({"LAKEPULSE_KAFKA__PARTITIONS": "0"},
         "kafka.partitions must be at least 1, got 0 (environment variable LAKEPULSE_KAFKA__PARTITIONS)"),
        ({"LAKEPULSE_KAFKA__BOOTSTRAPSERVERS": "x:1"},
         "unknown setting kafka.bootstrapservers (environment variable LAKEPULSE_KAFKA__BOOTSTRAPSERVERS)"),
        ({"LAKEPULSE_BRONZE__TRIGGER": "soon"},
         "bronze.trigger must be available_now or an interval like '10 seconds', got 'soon' "
         "(environment variable LAKEPULSE_BRONZE__TRIGGER)"),
        ({"LAKEPULSE_GOLD__RFM_RESCORE_SECONDS": "-1"},
         "gold.rfm_rescore_seconds must be at least 0, got -1 (environment variable LAKEPULSE_GOLD__RFM_RESCORE_SECONDS)"),
        ({"LAKEPULSE_LAKEHOUSE__COMPACT_EVERY_BATCHES": "-1"},
         "lakehouse.compact_every_batches must be at least 0, got -1 "
         "(environment variable LAKEPULSE_LAKEHOUSE__COMPACT_EVERY_BATCHES)"),
        ({"LAKEPULSE_GOLD__RFM_RESCORE_GROWTH": "0"},
         "gold.rfm_rescore_growth must be above 0, got 0.0 (environment variable LAKEPULSE_GOLD__RFM_RESCORE_GROWTH)"),
        ({"LAKEPULSE_SPARK__UI_ENABLED": "maybe"},
         "spark.ui_enabled must be true or false, got 'maybe' (environment variable LAKEPULSE_SPARK__UI_ENABLED)"),
    ],
)
def test_bad_environment_values_name_the_setting_and_the_variable(environ, message):
    with pytest.raises(SettingsError) as error:
        load_settings("local", environ=environ)
    assert str(error.value) == message


def test_bad_file_values_name_the_setting_and_the_file(tmp_path):
    path = write_settings_file(tmp_path, {"kafka": {"bootstrap_servers": "no-port"}})
    with pytest.raises(SettingsError) as error:
        load_settings(path=path, environ={})
    assert str(error.value) == (
        f"kafka.bootstrap_servers must be host:port[,host:port...], got 'no-port' ({path})"
    )


def test_missing_value_and_unknown_section(tmp_path):
    path = write_settings_file(tmp_path, {"kafka": {"events_topic": None}})
    with pytest.raises(SettingsError, match=r"^kafka.events_topic is missing a value \("):
        load_settings(path=path, environ={})
    path = write_settings_file(tmp_path, {"kafak": {}})
    with pytest.raises(SettingsError, match=r"^unknown setting kafak \("):
        load_settings(path=path, environ={})


def test_missing_file_and_invalid_yaml(tmp_path):
    with pytest.raises(SettingsError, match="settings file conf/staging.yaml does not exist"):
        load_settings("staging", environ={})
    broken = tmp_path / "broken.yaml"
    broken.write_text("kafka: [unclosed\n")
    with pytest.raises(SettingsError, match=r"broken.yaml line \d+ is not valid YAML"):
        load_settings(path=broken, environ={})


def test_relative_paths_resolve_against_the_settings_project(tmp_path):
    path = write_settings_file(tmp_path, {"lakehouse": {"root": "lake", "checkpoints": "ck"}})
    settings = load_settings(path=path, environ={})
    assert settings.lakehouse_root == str(tmp_path / "lake")
    assert settings.checkpoint_root == str(tmp_path / "ck")


def test_cli_reports_a_bad_setting_in_one_line_without_a_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "lakepulse.cli", "kafka", "status"],
        capture_output=True, text=True,
        env={"LAKEPULSE_KAFKA__PARTITIONS": "-1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert result.stderr == (
        "SettingsError: kafka.partitions must be at least 1, got -1 "
        "(environment variable LAKEPULSE_KAFKA__PARTITIONS)\n"
    )
    assert result.stdout == ""
