"""Fetch and cache the JVM artifacts from Maven Central.

Two bundles, each resolved once with Maven's ``dependency:copy-dependencies`` into a git-ignored
folder (``.lakepulse/jars/<bundle>``):

* ``spark``: the Delta Lake and Kafka connector jars that Spark itself does not ship;
* ``kafka-broker``: the official Apache Kafka broker and its runtime dependencies.

A bundle is re-resolved only when its coordinates change (a stamp file records them), so the step
is idempotent and cheap after the first run.

Example::

    from lakepulse.jars import ensure_bundle
    jar_paths = ensure_bundle("spark")
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from xml.sax.saxutils import escape

from lakepulse import stack
from lakepulse.paths import runtime_dir

_JAR_NAME = re.compile(r"^(?P<artifact>.+?)-\d[\w.\-]*\.jar$")


def _dependency(coordinate: str, exclusions: tuple[str, ...] = ()) -> str:
    group, artifact, version = coordinate.split(":")
    excluded = "".join(
        f"<exclusion><groupId>{escape(g)}</groupId><artifactId>{escape(a)}</artifactId></exclusion>"
        for g, a in (e.split(":") for e in exclusions)
    )
    exclusion_block = f"<exclusions>{excluded}</exclusions>" if excluded else ""
    return (
        f"<dependency><groupId>{escape(group)}</groupId><artifactId>{escape(artifact)}</artifactId>"
        f"<version>{escape(version)}</version>{exclusion_block}</dependency>"
    )


def _bundle_dependencies(bundle: str) -> list[str]:
    if bundle == "spark":
        token_provider = ":".join(stack.SPARK_TOKEN_PROVIDER.split(":")[:2])
        return [
            _dependency(stack.DELTA_SPARK),
            _dependency(stack.SPARK_SQL_KAFKA, exclusions=(token_provider,)),
            _dependency(stack.SPARK_TOKEN_PROVIDER),
        ]
    if bundle == "kafka-broker":
        return [
            _dependency(stack.KAFKA_BROKER, exclusions=("org.slf4j:slf4j-api",)),
            _dependency(f"org.slf4j:slf4j-api:{stack.SLF4J_VERSION}"),
            _dependency(f"org.apache.logging.log4j:log4j-slf4j2-impl:{stack.LOG4J_VERSION}"),
            _dependency(f"org.apache.logging.log4j:log4j-core:{stack.LOG4J_VERSION}"),
        ]
    raise ValueError(f"unknown jar bundle {bundle!r} (expected 'spark' or 'kafka-broker')")


def _pom(bundle: str) -> str:
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>lakepulse.jars</groupId><artifactId>{bundle}</artifactId><version>1</version>"
        f"<dependencies>{''.join(_bundle_dependencies(bundle))}</dependencies></project>\n"
    )


def _spark_shipped_artifacts() -> set[str]:
    """Artifact names of the jars PySpark already ships; copying them again would clash."""
    import pyspark

    jars_dir = Path(pyspark.__file__).parent / "jars"
    return {m.group("artifact") for p in jars_dir.glob("*.jar") if (m := _JAR_NAME.match(p.name))}


def bundle_dir(bundle: str) -> Path:
    return runtime_dir() / "jars" / bundle


def bundle_jars(bundle: str) -> list[Path]:
    """The cached jars of a bundle (empty when it has not been fetched)."""
    return sorted(bundle_dir(bundle).glob("lib/*.jar"))


def ensure_bundle(bundle: str, *, quiet: bool = False) -> list[Path]:
    """Resolve ``bundle`` from Maven Central unless its cached copy is current; return its jars."""
    pom = _pom(bundle)
    stamp = hashlib.sha256(pom.encode()).hexdigest()
    target = bundle_dir(bundle)
    stamp_file = target / "stamp"
    if stamp_file.exists() and stamp_file.read_text() == stamp and bundle_jars(bundle):
        return bundle_jars(bundle)
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is not installed; it fetches the jars from Maven Central")
    if not quiet:
        print(f"[lakepulse] fetching {bundle} jars from Maven Central into {target}", flush=True)
    shutil.rmtree(target, ignore_errors=True)
    (target / "lib").mkdir(parents=True)
    (target / "pom.xml").write_text(pom)
    result = subprocess.run(
        ["mvn", "-B", "-q", "-f", str(target / "pom.xml"), "dependency:copy-dependencies",
         "-DincludeScope=runtime", f"-DoutputDirectory={target / 'lib'}"],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"Maven could not fetch the {bundle} jars (is Maven Central reachable?):\n"
            + (result.stdout + result.stderr)[-3000:]
        )
    if bundle == "spark":
        shipped = _spark_shipped_artifacts()
        for jar in (target / "lib").glob("*.jar"):
            m = _JAR_NAME.match(jar.name)
            if m and m.group("artifact") in shipped:
                jar.unlink()
    stamp_file.write_text(stamp)
    return bundle_jars(bundle)


def main() -> None:
    for bundle in ("spark", "kafka-broker"):
        jars = ensure_bundle(bundle)
        print(f"[lakepulse] {bundle}: {len(jars)} jars in {bundle_dir(bundle) / 'lib'}")


if __name__ == "__main__":
    main()
