"""Replay a real dataset (REES46 clickstream, UCI Online Retail invoices) into Kafka.

    python jobs/replay.py --env local rees46 ../shared/data/rees46/2019-10-01-first-hours.csv
    python jobs/replay.py --env local online-retail ../shared/data/online-retail --speedup 3600

Same as ``lakepulse replay``; needs no Spark (it only produces to Kafka).
"""

import sys

from lakepulse.cli import command_main

if __name__ == "__main__":
    sys.exit(command_main("replay", sys.argv[1:]))
