"""spark-submit.sh against a real standalone master and worker; the local broker's commands."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyspark
import pytest

from lakepulse.io.kafka import KafkaEventSink, ensure_topics
from lakepulse.kafka_local import LocalBroker, port_answers
from lakepulse.paths import project_root
from tests.conftest import free_port
from tests.helpers import make_settings, read_delta_rs, unique_topic

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def standalone_master(tmp_path_factory):
    """A Spark standalone master and one worker (2 cores) on this machine."""
    spark_home = str(Path(pyspark.__file__).parent)
    spark_class = os.path.join(spark_home, "bin", "spark-class")
    env = {**os.environ, "SPARK_HOME": spark_home, "SPARK_LOCAL_IP": "127.0.0.1"}
    logs = tmp_path_factory.mktemp("standalone")
    port = free_port()
    master = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
         "--webui-port", str(free_port())],
        env=env, stdout=open(logs / "master.log", "w"), stderr=subprocess.STDOUT)
    url = f"spark://127.0.0.1:{port}"
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not port_answers("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.5)
        worker = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--cores", "2", "--memory", "2g",
             "--webui-port", str(free_port()), "--work-dir", str(logs / "work")],
            env=env, stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while "Successfully registered with master" not in (logs / "worker.log").read_text():
            assert time.monotonic() < deadline, "the Spark worker did not register"
            time.sleep(0.5)
        yield url, logs
    finally:
        for process in (worker, master):
            if process is not None:
                process.terminate()
                process.wait(30)


@pytest.mark.slow
def test_spark_submit_runs_bronze_on_a_standalone_cluster(standalone_master, kafka_bootstrap, tmp_path):
    url, logs = standalone_master
    topic = unique_topic("standalone")
    ensure_topics(kafka_bootstrap, [topic], partitions=3)
    settings, settings_file = make_settings(tmp_path, kafka_bootstrap, topic)
    with KafkaEventSink(kafka_bootstrap, topic) as sink:
        for i in range(300):
            sink.send(str(i).encode(), f'{{"n":{i}}}'.encode())
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEPULSE_")}
    result = subprocess.run(
        [str(project_root() / "spark-submit.sh"), "ingest_bronze", "--settings", str(settings_file),
         "--master", url, "--", "--trigger", "available_now"],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    bronze = read_delta_rs(f"{tmp_path}/lakehouse/bronze/events_raw", "SELECT count(*) AS n FROM t")
    assert bronze.column("n")[0].as_py() == 300
    executors = list((logs / "work").glob("app-*/*/stderr"))
    assert executors, "the job ran without an executor on the standalone worker"


def test_local_broker_start_is_harmless_when_running_and_status_says_where(kafka_bootstrap, tmp_path):
    port = int(kafka_bootstrap.rsplit(":", 1)[1])
    same_port = LocalBroker(port=port, controller_port=free_port(), home=tmp_path / "other")
    assert same_port.start() is False  # something answers already: nothing new is started
    assert same_port.status().startswith(f"running: listening on localhost:{port}")


def test_local_broker_starts_stops_and_reports(tmp_path):
    broker = LocalBroker(port=free_port(), controller_port=free_port(), heap="256m", home=tmp_path / "kafka")
    assert broker.status() == f"stopped (would listen on {broker.bootstrap})"
    assert broker.start() is True
    try:
        assert broker.is_running()
        ensure_topics(broker.bootstrap, ["created.here"], partitions=3)
        from confluent_kafka.admin import AdminClient

        topics = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10).topics
        assert len(topics["created.here"].partitions) == 3
        assert (tmp_path / "kafka" / "data" / "meta.properties").exists()
    finally:
        assert broker.stop() is True
    assert not broker.is_running()
    assert broker.stop() is False


def test_kafka_status_command_exit_codes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEPULSE_")}
    env["LAKEPULSE_KAFKA__LOCAL_BROKER__PORT"] = str(free_port())
    result = subprocess.run([sys.executable, "-m", "lakepulse.cli", "kafka", "status"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 3
    assert result.stdout.startswith("stopped (would listen on localhost:")
