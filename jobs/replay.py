"""Replay a real dataset (REES46 clickstream, UCI Online Retail invoices) into Kafka.

    python jobs/replay.py --env local rees46 ../shared/data/rees46/2019-10-01-first-hours.csv
    python jobs/replay.py --env local online-retail ../shared/data/online-retail --speedup 3600

Same as ``lakepulse replay``; needs no Spark (it only produces to Kafka).
"""

import argparse
import sys

from lakepulse.replay import command
from lakepulse.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/replay.py", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None, help="settings environment: conf/<env>.yaml (default local)")
    parser.add_argument("--settings", default=None, help="path to a settings file (overrides --env)")
    command.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.env, args.settings)
    except SettingsError as exc:
        print(f"SettingsError: {exc}", file=sys.stderr)
        return 2
    return command.run(args, settings)


if __name__ == "__main__":
    sys.exit(main())
