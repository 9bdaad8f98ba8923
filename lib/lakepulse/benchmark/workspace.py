"""A benchmark run's own folder, settings and Kafka topics.

Every phase of a run gets a fresh lakehouse and checkpoint folder under
``<parent>/pipeline-<UTC time>-<id>/<phase>/`` and settings built from a base settings file
(default ``conf/local.yaml``) with the run's overrides, so nothing is shared with the demo's
lakehouse or with another run. Topic names carry the run id.

Example::

    workspace = Workspace.create(runtime_dir() / "benchmarks", overrides={"kafka": {"max_offsets_per_trigger": 500000}})
    settings = workspace.settings("catch_up", topic=workspace.topic("load"))
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from lakepulse.paths import project_root
from lakepulse.settings import Settings, load_settings

_RUN_OWNED = ("LAKEPULSE_LAKEHOUSE__", "LAKEPULSE_KAFKA__EVENTS_TOPIC", "LAKEPULSE_KAFKA__INGEST_TOPICS")


def merge(base: dict, overrides: Mapping) -> dict:
    """``base`` with ``overrides`` merged in, section by section (neither is changed)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def dotted_override(assignment: str) -> dict[str, Any]:
    """``"kafka.max_offsets_per_trigger=500000"`` → ``{"kafka": {"max_offsets_per_trigger": 500000}}``
    (the value read as a YAML scalar, as environment overrides are)."""
    path, sep, text = assignment.partition("=")
    if not sep or not path or "." not in path:
        raise ValueError(f"expected SECTION.KEY=VALUE, got {assignment!r}")
    value: Any = yaml.safe_load(text) if text else ""
    for key in reversed(path.split(".")):
        value = {key: value}
    return value


@dataclass
class Workspace:
    """The folder of one benchmark run and how to make its settings."""

    root: Path
    run_id: str
    base_file: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, parent: Path, *, base_file: Path | None = None, overrides: Mapping | None = None,
               environ: Mapping[str, str] | None = None) -> Workspace:
        run_id = uuid.uuid4().hex[:8]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        root = parent / f"pipeline-{stamp}-{run_id}"
        root.mkdir(parents=True)
        # LAKEPULSE_* overrides apply (e.g. the bootstrap servers), except those that would make
        # the run share tables, checkpoints or topics with something else.
        kept = {name: value for name, value in (environ or {}).items() if not name.startswith(_RUN_OWNED)}
        return cls(root, run_id, base_file or project_root() / "conf" / "local.yaml", dict(overrides or {}), kept)

    def topic(self, name: str) -> str:
        """A topic name of this run (``bench.pipeline.<run id>.<name>``)."""
        return f"bench.pipeline.{self.run_id}.{name}"

    def settings(self, phase: str, *, topic: str, **sections: Mapping[str, Any]) -> Settings:
        """Settings of ``phase``: the base file, then the run's overrides, then ``sections``; the
        lakehouse and checkpoints in ``<root>/<phase>/`` (new), reading ``topic``."""
        folder = self.root / phase
        base = yaml.safe_load(self.base_file.read_text()) or {}
        fixed = {
            "kafka": {"events_topic": topic, "ingest_topics": []},
            # The benchmark's tables are addressed by path; registering them by name would point the
            # session's catalog at one phase's tables after another.
            "lakehouse": {"root": "lakehouse", "checkpoints": "checkpoints", "register_tables": False},
        }
        data = merge(merge(merge(base, self.overrides), fixed), sections)
        target = folder / "conf" / "local.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(data, sort_keys=False))
        return load_settings(path=target, environ=self.environ)

    def phase_dir(self, phase: str) -> Path:
        return self.root / phase

    def remove_data(self) -> None:
        """Delete every phase's lakehouse, checkpoints and scratch files (keeps results)."""
        for phase in self.root.iterdir():
            if phase.is_dir():
                shutil.rmtree(phase, ignore_errors=True)
