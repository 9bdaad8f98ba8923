"""``lakepulse setup``: fetch every jar from Maven Central into the cache (idempotent)."""

from __future__ import annotations

import argparse

from lakepulse.jars import bundle_dir, ensure_bundle
from lakepulse.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace, settings: Settings) -> int:
    for bundle in ("spark", "kafka-broker"):
        jars = ensure_bundle(bundle)
        print(f"[lakepulse] {bundle} jars ready: {len(jars)} in {bundle_dir(bundle) / 'lib'}")
    return 0
