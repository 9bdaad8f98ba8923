"""gold.user_profile → gold.user_segments, gold.segment_profiles, ops.segmentation_runs (batch).

    ./spark-submit.sh segment_users --env local
    LAKEPULSE_SEGMENTATION__MODEL_VERSION=latest ./spark-submit.sh segment_users   # score, no refit
"""

import sys

from lakepulse.jobs import job_main

if __name__ == "__main__":
    sys.exit(job_main("segment_users", sys.argv[1:]))
