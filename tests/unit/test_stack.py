import tomllib

from lakepulse import stack
from lakepulse.paths import project_root


def test_python_pins_match_the_jvm_versions():
    project = tomllib.loads((project_root() / "pyproject.toml").read_text())["project"]
    pins = dict(d.split("==") for d in project["dependencies"] if "==" in d)
    for package, version in stack.PYTHON_PINS.items():
        assert pins[package] == version, f"pyproject pins {package}=={pins[package]}, stack.py says {version}"


def test_maven_coordinates_are_for_spark_4_1_and_scala_2_13():
    assert stack.DELTA_SPARK == f"io.delta:delta-spark_4.1_2.13:{stack.DELTA_VERSION}"
    assert stack.SPARK_SQL_KAFKA == f"org.apache.spark:spark-sql-kafka-0-10_2.13:{stack.SPARK_VERSION}"
    assert stack.SPARK_VERSION.startswith("4.1.")
    assert stack.KAFKA_BROKER_VERSION.startswith("4.")


def test_installed_pyspark_is_the_pinned_one():
    import pyspark

    assert pyspark.__version__ == stack.SPARK_VERSION
