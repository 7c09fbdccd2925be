"""Spark for the native runtime: the jar set sessions need, and an optional standalone cluster.

Spark itself is the ``pyspark`` wheel (its ``jars/`` folder is a whole Spark 4.2 with Hadoop
client 3.5.0). What it lacks is one jar set (:data:`SPARK_JARS`, stack/maven/spark/pom.xml, the
versions of stack/versions.env): Delta Lake, the S3A file system with the AWS SDK modules it
calls, and the Kafka source. Its ``classpath`` names, by group and artifact, exactly the jars
kept: whatever else Maven resolves (mostly what pyspark already ships) is deleted, so no class
is on the classpath twice. Sessions are built by :func:`jornada.lake.spark.spark_session`.

The cluster (``jornada stack up spark``: services ``spark-master`` and ``spark-worker``) is
*optional*: a plain ``jornada stack up`` leaves it out, lessons run in ``local[2]`` without it.
The wheel ships ``bin/spark-class`` but not ``sbin/start-master.sh``, so both daemons run in the
foreground from ``spark-class`` (as ``start-master.sh`` would, without daemonising), on
127.0.0.1 only (``SPARK_LOCAL_IP`` also binds the web UIs), with every port from .env. The worker
offers 1 core and 1 GB (one executor). RPCs between the daemons and applications need the
generated ``SPARK_AUTH_SECRET`` (``spark.authenticate``): without it anyone on this machine could
run code in the worker. The secret reaches the daemons in a properties file of mode 600, never on a
command line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..config import Settings
from .jars import JarSet
from .runtime import Health, Service, ServiceContext, StackError, port_open

SPARK_JARS = JarSet(
    "spark",
    (("spark.version", "SPARK_VERSION"), ("delta.version", "DELTA_VERSION"),
     ("hadoop.aws.version", "HADOOP_AWS_VERSION"), ("aws.sdk.version", "AWS_SDK_VERSION")),
    # file names are <groupId>.<artifactId>-<version>.jar (prependGroupId in the pom)
    classpath=(
        "io.delta.delta-spark_",                       # Delta Lake for Spark 4.2 / Scala 2.13
        "io.delta.delta-storage-",                     # its LogStore API
        "org.apache.hadoop.hadoop-aws-",               # s3a://
        "software.amazon.awssdk.",                     # the SDK modules the pom names + theirs
        "software.amazon.eventstream.",                # (needed by the SDK's auth module)
        "software.amazon.s3.analyticsaccelerator.",    # S3A's input stream (hadoop-aws dep)
        "org.wildfly.openssl.",                        # S3A's optional OpenSSL binding
        "org.reactivestreams.",                        # the SDK's async client API
        "org.apache.spark.spark-sql-kafka-0-10_",      # Structured Streaming's Kafka source
        "org.apache.spark.spark-token-provider-kafka-0-10_",
        "org.apache.kafka.kafka-clients-",
        "org.apache.commons.commons-pool2-",           # Kafka consumer pool
    ),
)
SPARK_POM = SPARK_JARS.pom

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
DAEMON_MEMORY = "256m"   # each daemon's heap (SPARK_DAEMON_MEMORY); executors get their own
WORKER_CORES = 1
WORKER_MEMORY = "1g"


def spark_home() -> Path:
    """The pyspark package folder: a Spark distribution (bin/, jars/) without sbin/ scripts."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def spark_bin(name: str) -> str:
    exe = spark_home() / "bin" / name
    if not exe.exists():
        raise StackError(f"{exe} is missing — reinstall pyspark (`make setup`)")
    return str(exe)


def jars(log=None) -> list[Path]:
    """The jar set's files, fetched with Maven on first use (``.cache/jars/spark-<version>``)."""
    kwargs = {"log": log} if log else {}
    fetched = SPARK_JARS.ensure(**kwargs)
    return [fetched.jar_dir / j for j in fetched.jars]


def spark_env(s: Settings) -> dict[str, str]:
    """Environment of every Spark JVM started here (daemons, spark-submit, sessions)."""
    env = {
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",       # the host name may resolve to another address
        "PYSPARK_PYTHON": sys.executable,    # executors' Python workers: the venv's, with pandas
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    home = os.environ.get("JAVA_HOME")
    if home:
        env["JAVA_HOME"] = home
    return env


def auth_properties(s: Settings) -> dict[str, str]:
    return {"spark.authenticate": "true",
            "spark.authenticate.secret": s.spark_auth_secret.get_secret_value()}


def write_properties(path: Path, values: dict[str, str]) -> Path:
    """A Spark properties file only its owner can read (it may hold secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# written by jornada at every start: edit lib/jornada/stack/spark.py instead\n")
        for key, value in values.items():
            fh.write(f"{key} {value}\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def _daemon_properties(ctx: ServiceContext) -> Path:
    return ctx.data_dir / "spark-daemon.properties"


def _prepare(ctx: ServiceContext) -> None:
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    values = {
        **auth_properties(ctx.settings),
        "spark.master.rest.enabled": "false",   # no unauthenticated REST submission server
        "spark.worker.cleanup.enabled": "true",  # finished applications' folders go
    }
    write_properties(_daemon_properties(ctx), values)


def _env(ctx: ServiceContext) -> dict[str, str]:
    return {
        **spark_env(ctx.settings),
        "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
        "SPARK_LOG_DIR": str(ctx.log_file.parent),
        "SPARK_WORKER_DIR": str(ctx.data_dir / "work"),
        "SPARK_NO_DAEMONIZE": "1",
    }


def _master_command(ctx: ServiceContext) -> list[str]:
    s = ctx.settings
    return [spark_bin("spark-class"), MASTER_CLASS, "--host", "127.0.0.1",
            "--port", str(s.spark_master_port), "--webui-port", str(s.spark_master_ui_port),
            "--properties-file", str(_daemon_properties(ctx))]


def _worker_command(ctx: ServiceContext) -> list[str]:
    s = ctx.settings
    return [spark_bin("spark-class"), WORKER_CLASS, s.spark_master_url, "--host", "127.0.0.1",
            "--port", str(s.spark_worker_port), "--webui-port", str(s.spark_worker_ui_port),
            "--cores", str(WORKER_CORES), "--memory", WORKER_MEMORY,
            "--work-dir", str(ctx.data_dir / "work"),
            "--properties-file", str(_daemon_properties(ctx))]


def master_state(s: Settings, timeout_s: float = 2.0) -> dict:
    """The master's JSON status (its web UI's /json): workers, cores, applications."""
    import requests

    return requests.get(f"http://127.0.0.1:{s.spark_master_ui_port}/json/", timeout=timeout_s).json()


def _master_health(ctx: ServiceContext) -> Health:
    s = ctx.settings
    if not port_open(s.spark_master_port):
        return Health(False, f"{s.spark_master_url}: nothing listening")
    try:
        state = master_state(s)
    except Exception as exc:  # noqa: BLE001
        return Health(False, f"master UI 127.0.0.1:{s.spark_master_ui_port}: {type(exc).__name__}")
    if state.get("status") != "ALIVE":
        return Health(False, f"master status {state.get('status')}")
    alive = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
    import pyspark

    return Health(True, f"Spark {pyspark.__version__} master, {len(alive)} worker(s), "
                        f"UI http://127.0.0.1:{s.spark_master_ui_port}")


def _worker_health(ctx: ServiceContext) -> Health:
    s = ctx.settings
    if not port_open(s.spark_worker_port):
        return Health(False, f"127.0.0.1:{s.spark_worker_port}: nothing listening")
    try:
        state = master_state(s)
    except Exception as exc:  # noqa: BLE001
        return Health(False, f"master UI: {type(exc).__name__}")
    mine = [w for w in state.get("workers", [])
            if w.get("state") == "ALIVE" and str(w.get("port")) == str(s.spark_worker_port)]
    if not mine:
        return Health(False, "not registered with the master yet")
    w = mine[0]
    return Health(True, f"registered, {w.get('cores')} core(s), {w.get('memory')} MB, "
                        f"UI http://127.0.0.1:{s.spark_worker_ui_port}")


def spark_services() -> list[Service]:
    common = dict(group="spark", optional=True, prepare=_prepare, env=_env,
                  start_timeout_s=90, stop_timeout_s=20)
    return [
        Service(name="spark-master", describe="Spark standalone master (optional)",
                command=_master_command, health=_master_health,
                port=lambda s: s.spark_master_port,
                other_ports=lambda s: [s.spark_master_ui_port],
                endpoint=lambda s: s.spark_master_url, **common),
        Service(name="spark-worker", describe="Spark standalone worker, 1 core / 1 GB (optional)",
                command=_worker_command, health=_worker_health,
                port=lambda s: s.spark_worker_port,
                other_ports=lambda s: [s.spark_worker_ui_port],
                endpoint=lambda s: f"127.0.0.1:{s.spark_worker_port}",
                depends_on=("spark-master",), **common),
    ]
