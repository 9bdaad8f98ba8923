"""Pipeline benchmark: throughput, latency and growth of bronze → silver → gold on the local
broker, against a native (confluent-kafka + pyarrow) baseline on the same events.

    .venv/bin/python benchmarks/pipeline.py                       # 2,000,000 events, growth 10⁴…10⁷ users
    .venv/bin/python benchmarks/pipeline.py --events 200000 --growth-users 1e4,1e5 --latency-seconds 60

Prints a table of every figure with the goals met or missed and the reconciliation of each stage's
counts with the simulator's ground truth; saves the figures as JSON (default
``.lakepulse/benchmarks/pipeline.json``) and a chart next to it (``pipeline.png``). Each run uses
a fresh folder under ``.lakepulse/benchmarks/`` and fresh topics, deleted at the end unless
``--keep-data``. See ``--help`` for every option and ``lakepulse.benchmark`` for what is measured.
"""

from __future__ import annotations

import sys

from lakepulse.benchmark.run import main

if __name__ == "__main__":
    sys.exit(main())
