"""Where the project lives on this machine: its root and its git-ignored runtime folder."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout's root (``LAKEPULSE_HOME`` overrides, e.g. when the package is installed)."""
    override = os.environ.get("LAKEPULSE_HOME")
    if override:
        return Path(override).resolve()
    return Path(__file__).resolve().parents[2]


def runtime_dir() -> Path:
    """Git-ignored folder for jars, the local broker, the lakehouse and reports."""
    return project_root() / ".lakepulse"
