"""Kafka → bronze.events_raw (exactly once).

    ./spark-submit.sh ingest_bronze --env local -- --trigger available_now
    ./spark-submit.sh ingest_bronze --env cluster --master spark://host:7077
"""

import sys

from lakepulse.jobs import job_main

if __name__ == "__main__":
    sys.exit(job_main("ingest_bronze", sys.argv[1:]))
