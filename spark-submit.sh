#!/usr/bin/env bash
# Submit a Lakepulse job to Spark (local[*], standalone spark://host:port, YARN, Kubernetes).
#
#   ./spark-submit.sh <job> [--env local|cluster] [--master URL] [--dry-run] [-- job args]
#
# Examples:
#   ./spark-submit.sh ingest_bronze -- --trigger available_now
#   ./spark-submit.sh ingest_bronze --master spark://127.0.0.1:7077 --dry-run
# Set-up (virtual environment, packages, jars) runs first and is idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$ROOT/scripts/setup.sh" --quiet
exec "$ROOT/.venv/bin/python" -m lakepulse.submit "$@"
