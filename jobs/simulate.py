"""Send simulated shoppers' events to Kafka and write the ground truth.

    python jobs/simulate.py --env local --events 100000
    python jobs/simulate.py --env cluster --rate 5000 --duration 3600 --topic lakepulse.events

Same as ``lakepulse simulate``; needs no Spark (it only produces to Kafka).
"""

import sys

from lakepulse.cli import command_main

if __name__ == "__main__":
    sys.exit(command_main("simulate", sys.argv[1:]))
