"""silver.events → gold.user_profile, product_metrics, user_activity_hourly, funnel_daily, and the
marketing reports topic.

    ./spark-submit.sh build_gold --env local -- --trigger available_now
    ./spark-submit.sh build_gold --env cluster --master spark://host:7077
"""

import sys

from lakepulse.jobs import job_main

if __name__ == "__main__":
    sys.exit(job_main("build_gold", sys.argv[1:]))
