"""The pipeline benchmark (``benchmarks/pipeline.py``): throughput, latency and growth of
bronze → silver → gold against a native (no Spark) baseline on the same Kafka records.

Modules: :mod:`~lakepulse.benchmark.workspace` (fresh folders, settings and topics per run),
:mod:`~lakepulse.benchmark.native` (confluent-kafka drain, pyarrow JSON → Parquet baseline),
:mod:`~lakepulse.benchmark.stages` (the Spark measurements), :mod:`~lakepulse.benchmark.producer`
(the paced producer of the latency run), :mod:`~lakepulse.benchmark.profile` (where a batch's time
goes), :mod:`~lakepulse.benchmark.report` (table, JSON, chart).
"""
