"""The pinned stack, in one place.

Every version of a JVM artifact or Python engine the project depends on is written here and only
here; ``pyproject.toml`` pins the same Python versions (a unit test checks the two agree), and
``lakepulse.jars`` turns these coordinates into cached jar folders.
"""

from __future__ import annotations

SCALA_BINARY = "2.13"
SPARK_VERSION = "4.1.3"
SPARK_MINOR = "4.1"
DELTA_VERSION = "4.4.0"
KAFKA_BROKER_VERSION = "4.1.1"

# Maven Central (as reachable from our machines) lacks every 4.1.x release of
# spark-token-provider-kafka-0-10, a compile dependency of the Kafka connector that only matters
# for Kerberos delegation tokens; the 4.1.0-preview1 build of the same module is published and is
# what we pin instead. The connector itself is the released 4.1.3.
SPARK_TOKEN_PROVIDER_VERSION = "4.1.0-preview1"

DELTA_SPARK = f"io.delta:delta-spark_{SPARK_MINOR}_{SCALA_BINARY}:{DELTA_VERSION}"
SPARK_SQL_KAFKA = f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_BINARY}:{SPARK_VERSION}"
SPARK_TOKEN_PROVIDER = (
    f"org.apache.spark:spark-token-provider-kafka-0-10_{SCALA_BINARY}:{SPARK_TOKEN_PROVIDER_VERSION}"
)
KAFKA_BROKER = f"org.apache.kafka:kafka_{SCALA_BINARY}:{KAFKA_BROKER_VERSION}"
LOG4J_VERSION = "2.24.3"
SLF4J_VERSION = "2.0.16"

# Python packages whose versions must match the JVM side (checked against pyproject.toml).
PYTHON_PINS = {"pyspark": SPARK_VERSION, "delta-spark": DELTA_VERSION}
