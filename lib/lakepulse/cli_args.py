"""Argument parsing shared by the ``lakepulse`` command, ``spark-submit.sh`` and the jobs."""

from __future__ import annotations

import argparse


def parse_with_passthrough(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv`` up to a bare ``--``; what follows it is kept, untouched, as ``passthrough``."""
    if "--" in argv:
        cut = argv.index("--")
        args = parser.parse_args(argv[:cut])
        args.passthrough = argv[cut + 1:]
    else:
        args = parser.parse_args(argv)
        args.passthrough = []
    return args
