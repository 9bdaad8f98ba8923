"""Shared fixtures: one Spark session and one real Kafka broker for the whole test run.

The broker is the project's own single-node KRaft broker started on free ports in a temporary
folder, unless LAKEPULSE_TEST_BOOTSTRAP names one that is already running.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakepulse.kafka_local import LocalBroker, broker_answers
from tests.helpers import make_settings


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Test modules with a ``slow`` test first, each module's tests kept together and in order: with
    ``make test``'s two workers (one module at a time each), the long ones start early instead of
    leaving one worker busy at the end while the other waits."""
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in slow_modules)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("LAKEPULSE_TEST_BOOTSTRAP")
    if given:
        if not broker_answers(given):
            pytest.fail(f"LAKEPULSE_TEST_BOOTSTRAP={given} does not answer")
        yield given
        return
    broker = LocalBroker(port=free_port(), controller_port=free_port(), heap="512m",
                         home=tmp_path_factory.mktemp("kafka"))
    broker.start()
    yield broker.bootstrap
    broker.stop()


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    from lakepulse.spark import build_session

    folder: Path = tmp_path_factory.mktemp("spark")
    settings, _ = make_settings(folder, "localhost:9", "unused",
                                spark={"driver_memory": "3g", "shuffle_partitions": 2})
    session = build_session(settings, "tests")
    yield session
    session.stop()
