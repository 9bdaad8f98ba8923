"""Send simulated shoppers' events to Kafka and write the ground truth.

    python jobs/simulate.py --env local --events 100000
    python jobs/simulate.py --env cluster --rate 5000 --duration 3600 --topic lakepulse.events

Same as ``lakepulse simulate``; needs no Spark (it only produces to Kafka).
"""

import argparse
import sys

from lakepulse.settings import SettingsError, load_settings
from lakepulse.simulate import command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/simulate.py", description=__doc__.splitlines()[0])
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
