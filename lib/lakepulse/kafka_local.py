"""The local single-node Apache Kafka broker (KRaft mode) used by the demo and the tests.

It runs the official broker (``kafka.Kafka``) from the jars fetched from Maven Central, with its
configuration, data and log under ``.lakepulse/kafka/<port>/`` (git-ignored). Starting is
idempotent: when a broker already answers on the port nothing new is started.

Example::

    broker = LocalBroker(port=19092, controller_port=19093)
    broker.start()          # returns once the broker answers
    broker.bootstrap        # "localhost:19092"
    broker.stop()
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from lakepulse.jars import bundle_dir, ensure_bundle
from lakepulse.paths import runtime_dir
from lakepulse.settings import Settings

_LOG4J = """Configuration:
  Appenders:
    File:
      name: FILE
      fileName: "{log}"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: FILE
"""


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def broker_answers(bootstrap: str, timeout: float = 5.0) -> bool:
    """True when a Kafka broker at ``bootstrap`` answers a metadata request."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if not port_answers(host, int(port)):
        return False
    from confluent_kafka.admin import AdminClient

    try:
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        return bool(admin.list_topics(timeout=timeout).brokers)
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        return False


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our exited child, so a dead broker does not look alive."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


@dataclass
class LocalBroker:
    port: int = 19092
    controller_port: int = 19093
    heap: str = "1g"
    home: Path | None = None  # default .lakepulse/kafka/<port>

    @property
    def directory(self) -> Path:
        return self.home or runtime_dir() / "kafka" / str(self.port)

    @property
    def bootstrap(self) -> str:
        return f"localhost:{self.port}"

    @property
    def _pid_file(self) -> Path:
        return self.directory / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / "broker.log"

    def pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text())
            _reap(pid)
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None

    def is_running(self) -> bool:
        return broker_answers(self.bootstrap, timeout=3)

    def _write_config(self) -> Path:
        data = self.directory / "data"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"localhost:{self.controller_port}",
            "listeners": f"PLAINTEXT://localhost:{self.port},CONTROLLER://localhost:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://localhost:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "message.max.bytes": "10485760",
            "log.retention.hours": "168",
        }
        config = self.directory / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.directory / "log4j2.yaml").write_text(_LOG4J.format(log=self.log_file))
        return config

    def _java(self, main_class: str, *args: str, background: bool = False) -> subprocess.Popen | None:
        classpath = str(bundle_dir("kafka-broker") / "lib" / "*")
        java = Path(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else "java"
        command = [str(java), f"-Xmx{self.heap}", f"-Xms{self.heap}",
                   f"-Dlog4j2.configurationFile={self.directory / 'log4j2.yaml'}",
                   "-cp", classpath, main_class, *args]
        if background:
            out = open(self.directory / "broker.out", "ab")  # noqa: SIM115 - owned by the child
            return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{main_class} failed: {(result.stdout + result.stderr)[-2000:]}")
        return None

    def start(self, timeout: float = 120.0) -> bool:
        """Start the broker unless one answers already; True when this call started it."""
        if self.is_running():
            return False
        if port_answers("localhost", self.port):
            raise RuntimeError(f"port {self.port} is taken by something that is not a Kafka broker")
        ensure_bundle("kafka-broker")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.directory / "data" / "meta.properties").exists():
            self._java("kafka.tools.StorageTool", "format", "-t", uuid.uuid4().hex[:22],
                       "-c", str(config), "--standalone", "--ignore-formatted")
        process = self._java("kafka.Kafka", str(config), background=True)
        assert process is not None
        self._pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the Kafka broker exited with code {process.returncode}; see {self.log_file}")
            if broker_answers(self.bootstrap, timeout=2):
                return True
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the Kafka broker did not answer on {self.bootstrap} within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the broker this folder started (SIGTERM: a clean shutdown); True when one was stopped."""
        pid = self.pid()
        if pid is None:
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            os.killpg(pid, signal.SIGKILL)
        self._pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> str:
        if self.is_running():
            owner = f"pid {self.pid()}" if self.pid() else "not started by this project"
            return f"running: listening on {self.bootstrap} ({owner}), data in {self.directory / 'data'}"
        return f"stopped (would listen on {self.bootstrap})"


def broker_from_settings(settings: Settings) -> LocalBroker:
    local = settings.kafka.local_broker
    return LocalBroker(port=local.port, controller_port=local.controller_port, heap=local.heap)


def ensure_kafka(settings: Settings) -> str:
    """Make sure the configured Kafka answers: start the local broker when autostart allows it."""
    bootstrap = settings.kafka.bootstrap_servers
    if broker_answers(bootstrap):
        return bootstrap
    local = settings.kafka.local_broker
    if not local.autostart or bootstrap != f"localhost:{local.port}":
        raise RuntimeError(f"no Kafka broker answers on {bootstrap} (kafka.bootstrap_servers, {settings.source})")
    print(f"[lakepulse] starting the local Kafka broker on {bootstrap}", flush=True)
    broker_from_settings(settings).start()
    return bootstrap


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["start", "stop", "status", "create-topic"])
    parser.add_argument("topic", nargs="?", help="topic name for create-topic (default: the events topic)")
    parser.add_argument("--port", type=int, default=None, help="broker port (default kafka.local_broker.port)")
    parser.add_argument("--partitions", type=int, default=None, help="partitions (default kafka.partitions)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from lakepulse.io.kafka import ensure_topics

    broker = broker_from_settings(settings)
    if args.port:
        broker = LocalBroker(port=args.port, controller_port=args.port + 1, heap=broker.heap)
    if args.action == "start":
        started = broker.start()
        print(("started: " if started else "already running: ") + broker.status())
    elif args.action == "stop":
        print("stopped" if broker.stop() else "no broker started by this project is running")
    elif args.action == "status":
        print(broker.status())
        return 0 if broker.is_running() else 3
    else:
        topic = args.topic or settings.kafka.events_topic
        bootstrap = broker.bootstrap if args.port else settings.kafka.bootstrap_servers
        partitions = args.partitions or settings.kafka.partitions
        ensure_topics(bootstrap, [topic], partitions, settings.kafka.replication_factor)
        print(f"topic {topic} ready on {bootstrap} ({partitions} partitions)")
    return 0
