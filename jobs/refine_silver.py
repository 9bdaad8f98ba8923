"""bronze.events_raw → silver.events, quarantine, identity map, sessions, metrics.

    ./spark-submit.sh refine_silver --env local -- --trigger available_now
    ./spark-submit.sh refine_silver --env cluster --master spark://host:7077
"""

import sys

from lakepulse.jobs import job_main

if __name__ == "__main__":
    sys.exit(job_main("refine_silver", sys.argv[1:]))
