"""The ``lakepulse`` command.

Each sub-command lives in the module that owns its concern and exposes
``add_arguments(parser)`` and ``run(args, settings) -> int``; this file only wires them up and turns
a :class:`SettingsError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lakepulse.cli_args import parse_with_passthrough
from lakepulse.settings import SettingsError, load_settings

# sub-command name -> (module, one-line help)
COMMANDS = {
    "kafka": ("lakepulse.kafka_local", "start, stop or inspect the local Kafka broker; create topics"),
    "setup": ("lakepulse.setup", "fetch the jars from Maven Central (idempotent)"),
    "run": ("lakepulse.jobs", "run a pipeline job in this process (ingest_bronze, ...)"),
    "demo": ("lakepulse.demo", "the README's main command: sample events through the pipeline"),
    "simulate": ("lakepulse.simulate.command", "send simulated contract events to Kafka"),
    "replay": ("lakepulse.replay.command", "replay a real dataset (rees46, online-retail) into Kafka"),
    "audit": ("lakepulse.quality", "check that bronze = silver + quarantine + duplicates, batch by batch"),
    "submit": ("lakepulse.submit", "build (and run) the spark-submit command for a job"),
    "sql": ("lakepulse.sql", "run Spark SQL over the lakehouse tables and views, print the result"),
    "report": ("lakepulse.reports.command", "funnel, user, users or products report: tables, charts, HTML"),
}


def _add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default=None, help="settings environment: conf/<env>.yaml (default local)")
    parser.add_argument("--settings", default=None, help="path to a settings file (overrides --env)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakepulse", description=__doc__.splitlines()[0])
    _add_settings_arguments(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


def command_main(name: str, argv: list[str] | None = None) -> int:
    """Run one sub-command as its own program (``jobs/simulate.py``, ``jobs/replay.py``)."""
    module, help_text = COMMANDS[name]
    parser = argparse.ArgumentParser(prog=f"jobs/{name}.py", description=help_text)
    _add_settings_arguments(parser)
    importlib.import_module(module).add_arguments(parser)
    parser.set_defaults(_module=module)
    return _run(parse_with_passthrough(parser, sys.argv[1:] if argv is None else argv))


def main(argv: list[str] | None = None) -> int:
    return _run(parse_with_passthrough(build_parser(), sys.argv[1:] if argv is None else argv))


def _run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.env, args.settings)
        return importlib.import_module(args._module).run(args, settings)
    except SettingsError as exc:
        print(f"SettingsError: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
