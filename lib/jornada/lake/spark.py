"""The one SparkSession builder of the course: S3A on the lake's store, Delta, small-machine defaults.

    >>> from jornada.lake.spark import spark_session
    >>> spark = spark_session("lesson06")               # local[2]: two cores, driver 1 GB
    >>> spark.range(5).write.format("delta").save("s3a://bronze/demo")

Everything comes from the settings (.env): the S3 endpoint, keys and region, the UI port. The
jars (Delta, S3A + AWS SDK modules, Kafka source) are the jar set of
:data:`jornada.stack.spark.SPARK_JARS`, fetched once with Maven and listed one by one on
``spark.jars``. ``master`` defaults to ``local[2]``; pass ``settings().spark_master_url`` to run
on the optional standalone cluster (``jornada stack up spark``; in compose the ``spark`` profile,
``spark://spark-master:7077``). Natively the driver binds to 127.0.0.1 and its Python workers
run the venv's Python; in compose, on the cluster, executors reach the driver at its host name
(``jupyter``).

Scripts run with ``spark-submit`` get the same configuration from :func:`submit`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ..config import Settings, settings as load_settings

LOCAL_MASTER = "local[2]"
DRIVER_MEMORY = "1g"
EXECUTOR_MEMORY = "1g"     # the standalone worker offers exactly 1 GB
# never on a command line (see spark_session); Spark's UI redacts them (spark.redaction.regex)
SECRET_KEYS = frozenset({"spark.hadoop.fs.s3a.access.key", "spark.hadoop.fs.s3a.secret.key",
                         "spark.authenticate.secret"})


def _loopback(s: Settings, master: str) -> bool:
    """Bind the driver to 127.0.0.1, except where executors in other containers must reach it."""
    return not (s.in_compose and master.startswith("spark://"))


def spark_conf(s: Settings | None = None, master: str | None = None,
               app_name: str = "jornada") -> dict[str, str]:
    """Every setting a course session runs with (spark_session and submit use this one dict)."""
    from ..stack import spark as spark_stack

    s = s or load_settings()
    master = master or LOCAL_MASTER
    conf = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.jars": ",".join(str(p) for p in spark_stack.jars()),
        # a 2-core machine shared by other programs
        "spark.driver.memory": DRIVER_MEMORY,
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "4",
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.port": str(s.spark_ui_port),
        "spark.sql.session.timeZone": "UTC",
        # projections outside whole-stage code (Delta's log replay, stats, encoders) interpreted,
        # not compiled per task: 41 % of a stream driver's CPU went to formatting generated code
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        # Delta Lake
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.databricks.delta.snapshotPartitions": "2",            # default: 50 tasks per log replay
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "4",  # VACUUM ran 10,000 tasks
        # S3A on the store of .env (SeaweedFS natively, MinIO in compose)
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": s.s3_endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": s.s3_region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(s.s3_endpoint.startswith("https")).lower(),
        "spark.hadoop.fs.s3a.aws.credentials.provider":
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "spark.hadoop.fs.s3a.access.key": s.s3_access_key.get_secret_value(),
        "spark.hadoop.fs.s3a.secret.key": s.s3_secret_key.get_secret_value(),
    }
    if _loopback(s, master):
        conf.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"})
    if master.startswith("spark://"):
        conf.update(spark_stack.auth_properties(s))
        conf.update({"spark.executor.memory": EXECUTOR_MEMORY, "spark.executor.cores": "1",
                     "spark.cores.max": "1"})
    return conf


def _prepare_environment(s: Settings, master: str) -> None:
    from ..stack import spark as spark_stack

    env = spark_stack.spark_env(s)
    if not _loopback(s, master):
        env.pop("SPARK_LOCAL_IP")
    os.environ.update(env)


def spark_session(app_name: str = "jornada", master: str | None = None,
                  conf: dict[str, str] | None = None, s: Settings | None = None):
    """The session of a lesson (getOrCreate: a second call returns the running one).

    pyspark starts its JVM with ``spark-submit --conf key=value …`` for every builder setting,
    which any user of the machine can read in `ps`: the secrets go in a properties file of mode
    600 instead (``PYSPARK_SUBMIT_ARGS``), read once by the JVM as it starts, then deleted.
    """
    from pyspark.sql import SparkSession

    from ..stack import spark as spark_stack

    s = s or load_settings()
    master = master or LOCAL_MASTER
    _prepare_environment(s, master)
    values = {**spark_conf(s, master, app_name), **(conf or {})}
    secret = {k: values.pop(k) for k in list(values) if k in SECRET_KEYS}
    builder = SparkSession.builder
    for key, value in values.items():
        builder = builder.config(key, value)
    before = os.environ.get("PYSPARK_SUBMIT_ARGS")
    with tempfile.TemporaryDirectory(prefix="jornada-spark-") as tmp:
        props = spark_stack.write_properties(Path(tmp) / "secrets.properties", secret)
        os.environ["PYSPARK_SUBMIT_ARGS"] = f"--properties-file {props} " + (before or "pyspark-shell")
        try:
            spark = builder.getOrCreate()
        finally:
            if before is None:
                os.environ.pop("PYSPARK_SUBMIT_ARGS", None)
            else:
                os.environ["PYSPARK_SUBMIT_ARGS"] = before
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    if hadoop.get("fs.s3a.secret.key") is None:  # a session that was already running: set them
        for key, value in secret.items():
            if key.startswith("spark.hadoop."):
                hadoop.set(key.removeprefix("spark.hadoop."), value)
    spark.sparkContext.setLogLevel("WARN")
    return spark


def submit(script: str | Path, *args: str, master: str | None = None,
           conf: dict[str, str] | None = None, s: Settings | None = None,
           timeout_s: float = 600, **run_kwargs) -> subprocess.CompletedProcess:
    """Run a PySpark script with `spark-submit`, configured like :func:`spark_session`.

    The configuration (it holds the S3 secret) goes in a properties file only its owner can
    read, never on the command line. Returns the completed process (output captured as text).
    """
    from ..stack import spark as spark_stack

    s = s or load_settings()
    master = master or LOCAL_MASTER
    values = {**spark_conf(s, master, Path(script).stem), **(conf or {})}
    values.pop("spark.master")
    env = dict(os.environ)
    env.update(spark_stack.spark_env(s))
    if not _loopback(s, master):
        env.pop("SPARK_LOCAL_IP")
    with tempfile.TemporaryDirectory(prefix="jornada-submit-") as tmp:
        props = spark_stack.write_properties(Path(tmp) / "spark.properties", values)
        cmd = [spark_stack.spark_bin("spark-submit"), "--master", master,
               "--properties-file", str(props), str(script), *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s,
                              **run_kwargs)
