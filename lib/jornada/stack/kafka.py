"""Kafka 4 (KRaft) and Kafka Connect with the Debezium Postgres connector, as local processes.

Nothing here is a hand-downloaded binary: Maven fetches the jars of exactly the versions named in
stack/versions.env (`KAFKA_VERSION`, `DEBEZIUM_VERSION`) from Maven Central, as two jar sets
(:mod:`jornada.stack.jars`), into an ignored cache (`.cache/jars/`). Both JVMs run from that one Kafka classpath,
like `bin/kafka-server-start.sh` and `bin/connect-distributed.sh` of the Kafka distribution would:

- ``kafka``: one KRaft node in *combined* mode (broker and controller in one process). Kafka 4 has
  no ZooKeeper: the cluster's metadata (topics, partitions, leaders, configs) lives in a Raft log
  (`__cluster_metadata`) kept by the controller quorum, here a quorum of one. The storage is
  formatted once, on first start, with a cluster id kept in the data folder. Listeners bind to
  127.0.0.1 only.
- ``connect``: a Kafka Connect worker in *distributed* mode (its state — connector configs,
  source offsets, statuses — is kept in three Kafka topics, so a restart resumes where it
  stopped), REST API on 127.0.0.1, the Debezium plugin folder on its ``plugin.path``. After it
  is healthy, the composition root (:mod:`jornada.services`) runs the CDC hook that prepares
  Postgres and registers the connectors from stack/register-*.json, idempotently.

Both config files are written into the service's data folder at every start (ports come from
.env), so what runs is always inspectable: `.stack/data/kafka/server.properties`,
`.stack/data/connect/connect-distributed.properties`.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from .jars import Fetched, JarSet, run_mvn
from .runtime import Health, Service, ServiceContext, StackError, port_open

KAFKA_JARS = JarSet("kafka", (("kafka.version", "KAFKA_VERSION"),))
DEBEZIUM_JARS = JarSet("debezium-postgres", (("debezium.version", "DEBEZIUM_VERSION"),),
                       plugin="debezium-connector-postgres")
KAFKA_POM = KAFKA_JARS.pom
DEBEZIUM_POM = DEBEZIUM_JARS.pom

# JVM sizing: broker + Connect stay under ~1.5 GB RSS together on the 8 GB laptop profile, even
# with full heaps (heap + metaspace + code cache + threads ≈ heap + 200 MB each). An idle JVM
# gives unused heap back to the OS (G1 periodic collection), so a quiet stack stays smaller.
KAFKA_HEAP = ["-Xms128m", "-Xmx512m"]
CONNECT_HEAP = ["-Xms64m", "-Xmx384m"]
JVM_COMMON = [
    "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:G1PeriodicGCInterval=30000",
    "-XX:MaxMetaspaceSize=256m", "-XX:ReservedCodeCacheSize=96m", "-XX:MaxDirectMemorySize=256m",
    "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", "-Dfile.encoding=UTF-8",
]
CONNECT_GROUP = "jornada-connect"
CONNECT_TOPICS = {"config": "_connect-configs", "offset": "_connect-offsets",
                  "status": "_connect-status"}

LOG4J2 = """\
# written by lib/jornada/stack/kafka.py at every start; stdout goes to {log}
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = {level}
logger.state.name = state.change.logger
logger.state.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.jetty.name = org.eclipse.jetty
logger.jetty.level = WARN
# "Committing offsets for N acknowledged messages" every offset.flush.interval.ms (1 s)
logger.sourcetask.name = org.apache.kafka.connect.runtime.WorkerSourceTask
logger.sourcetask.level = WARN
"""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- the jars ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Jars:
    kafka_version: str
    debezium_version: str
    kafka: Fetched            # the classpath of broker and worker
    debezium: Fetched         # Connect's plugin.path: one sub-folder per plugin
    manifest: dict

    @property
    def classpath(self) -> str:
        return self.kafka.classpath

    @property
    def kafka_dir(self) -> Path:
        return self.kafka.jar_dir

    @property
    def plugin_path(self) -> Path:
        return self.debezium.folder

    @property
    def debezium_dir(self) -> Path:
        return self.debezium.jar_dir


def _debezium_kafka_api(debezium: Fetched, log) -> str | None:
    """The Kafka Connect API version Debezium was built against (Maven's resolution of it)."""
    cached = debezium.folder / "kafka-connect-api.txt"
    if cached.exists():
        return cached.read_text().strip() or None
    out = run_mvn(DEBEZIUM_POM, DEBEZIUM_JARS.resolved_properties(),
                  ["dependency:tree", "-Dincludes=org.apache.kafka:connect-api"], log, "Debezium",
                  profiles=["built-against"])
    m = re.search(r"org\.apache\.kafka:connect-api:jar:([\w.\-]+):", out)
    cached.write_text(m.group(1) if m else "")
    return m.group(1) if m else None


def ensure_jars(log=_stderr) -> Jars:
    """Fetch (once) the Kafka and Debezium jar sets of the versions in stack/versions.env."""
    from .. import versions

    kafka, debezium = KAFKA_JARS.ensure(log), DEBEZIUM_JARS.ensure(log)
    api = _debezium_kafka_api(debezium, log)
    return Jars(versions.kafka_version(), versions.debezium_version(), kafka, debezium,
                {"kafka": kafka.manifest, "debezium": {**debezium.manifest, "kafka_connect_api": api}})


# ---- shared helpers ----------------------------------------------------------------------------
def java_bin() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise StackError("Java 17+ is needed for Kafka and Kafka Connect — "
                         "`apt-get install -y openjdk-17-jre-headless` (see `make doctor`)")
    return java


def kafka_port(s: Settings) -> int:
    return s.kafka_port


def controller_port(s: Settings) -> int:
    return s.kafka_controller_port


def connect_port(s: Settings) -> int:
    return s.connect_port


def bootstrap_servers(s: Settings) -> str:
    """Where clients find the broker: 127.0.0.1:<KAFKA_PORT> natively (compose overrides it)."""
    return s.kafka_bootstrap


def connect_url(s: Settings) -> str:
    return s.connect_url


def _properties(values: dict[str, object], header: str) -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [f"{k}={v}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _jvm(ctx: ServiceContext, heap: list[str], main: str, *args: str) -> list[str]:
    jars = ensure_jars(log=ctx.log)
    return [java_bin(), *heap, *JVM_COMMON,
            f"-Dlog4j2.configurationFile={ctx.data_dir / 'log4j2.properties'}",
            "-cp", jars.classpath, main, *args]


# ---- kafka: one KRaft node, broker + controller --------------------------------------------------
def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID, base64url without padding (22 characters)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # a leading '-' reads as a command-line option
            return text


def kafka_server_properties(ctx: ServiceContext) -> dict[str, object]:
    s = ctx.settings
    port, ctrl = kafka_port(s), controller_port(s)
    return {
        # KRaft combined mode: this process is a broker AND the (single) controller
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.voters": f"1@127.0.0.1:{ctrl}",
        "controller.listener.names": "CONTROLLER",
        # loopback only; the broker advertises the same address to clients
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctrl}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": ctx.data_dir / "kraft-logs",
        # one node: every internal topic has one replica
        "num.partitions": 1,
        "default.replication.factor": 1,
        "min.insync.replicas": 1,
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        "group.initial.rebalance.delay.ms": 0,
        # topics are created on purpose (Connect creates its own and the connector's);
        # a typo in a consumer must not create an empty topic
        "auto.create.topics.enable": "false",
        # a teaching cluster: a week of history, 1 GiB per partition at most
        "log.retention.hours": 168,
        "log.retention.bytes": 1073741824,
        "log.segment.bytes": 134217728,
        "num.network.threads": 2,
        "num.io.threads": 4,
        "background.threads": 4,
    }


def _kafka_prepare(ctx: ServiceContext) -> None:
    jars = ensure_jars(log=ctx.log)
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    props = kafka_server_properties(ctx)
    _write(ctx.data_dir / "server.properties", _properties(
        props, "Kafka broker + KRaft controller (combined mode), written by "
               "lib/jornada/stack/kafka.py at every start: edit that file, not this one."))
    _write(ctx.data_dir / "log4j2.properties", LOG4J2.format(log=ctx.log_file, level="INFO"))
    log_dirs = Path(str(props["log.dirs"]))
    if (log_dirs / "meta.properties").exists():
        return
    # first start: format the storage with this cluster's id (kept, so a re-format after a
    # partial wipe reuses it and Connect's offsets stay meaningful)
    id_file = ctx.data_dir / "cluster.id"
    cluster_id = id_file.read_text().strip() if id_file.exists() else new_cluster_id()
    id_file.write_text(cluster_id + "\n")
    quiet = ctx.data_dir / "log4j2-format.properties"
    _write(quiet, LOG4J2.format(log=ctx.log_file, level="WARN"))
    cmd = [java_bin(), "-Xmx256m", f"-Dlog4j2.configurationFile={quiet}", "-cp", jars.classpath,
           "kafka.tools.StorageTool", "format", "--cluster-id", cluster_id,
           "--config", str(ctx.data_dir / "server.properties"), "--ignore-formatted"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"kafka: formatting the KRaft storage failed:\n{result.stdout}{result.stderr}")


def _kafka_command(ctx: ServiceContext) -> list[str]:
    return _jvm(ctx, KAFKA_HEAP, "kafka.Kafka", str(ctx.data_dir / "server.properties"))


def kafka_health(s: Settings, timeout_ms: int = 2000) -> Health:
    port = kafka_port(s)
    if not port_open(port):
        return Health(False, f"127.0.0.1:{port}: no broker listening")
    try:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", client_id="jornada-health",
                                 request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms)
        try:
            cluster = admin.describe_cluster()
        finally:
            admin.close()
    except Exception as exc:  # noqa: BLE001 - any client error means "not ready yet"
        return Health(False, f"127.0.0.1:{port}: {type(exc).__name__}: {exc}".splitlines()[0])
    brokers = [b for b in cluster.get("brokers", []) if not b.get("is_fenced")]
    if not brokers or cluster.get("controller_id") in (None, -1):
        return Health(False, "broker up, controller not elected yet")
    from .. import versions

    return Health(True, f"Kafka {versions.kafka_version()} KRaft (broker+controller), "
                        f"{len(brokers)} broker, cluster {cluster.get('cluster_id')}")


def _kafka_health(ctx: ServiceContext) -> Health:
    return kafka_health(ctx.settings)


# ---- connect: distributed worker with the Debezium plugin ----------------------------------------
def connect_worker_properties(ctx: ServiceContext, jars: Jars) -> dict[str, object]:
    s = ctx.settings
    port = connect_port(s)
    return {
        "bootstrap.servers": f"127.0.0.1:{kafka_port(s)}",
        "group.id": CONNECT_GROUP,
        # readable JSON without the embedded schema (the lesson reads the events with kafka-python)
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        # the worker's state lives in Kafka (distributed mode): one replica on a one-node cluster
        "config.storage.topic": CONNECT_TOPICS["config"],
        "config.storage.replication.factor": 1,
        "offset.storage.topic": CONNECT_TOPICS["offset"],
        "offset.storage.replication.factor": 1,
        "offset.storage.partitions": 1,
        "status.storage.topic": CONNECT_TOPICS["status"],
        "status.storage.replication.factor": 1,
        "status.storage.partitions": 1,
        # commit source offsets (the Postgres LSN reached) every second: a crash replays at most
        # about a second of changes (at-least-once: duplicates possible, losses not)
        "offset.flush.interval.ms": 1000,
        "offset.flush.timeout.ms": 5000,
        "task.shutdown.graceful.timeout.ms": 10000,
        # REST API on loopback only
        "listeners": f"http://127.0.0.1:{port}",
        "rest.advertised.host.name": "127.0.0.1",
        "rest.advertised.port": port,
        # one folder per plugin under plugin.path, each with its own class loader
        "plugin.path": jars.plugin_path,
        # every plugin here ships ServiceLoader manifests: no slow reflective classpath scan
        "plugin.discovery": "service_load",
        "topic.creation.enable": "true",
        # secrets are references (`${env:DEBEZIUM_PASSWORD}`) resolved by the worker from its own
        # environment: the connector config, the REST API and _connect-configs never hold them
        "config.providers": "env",
        "config.providers.env.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
        "config.providers.env.param.allowlist.pattern": "^DEBEZIUM_PASSWORD$",
    }


def _connect_prepare(ctx: ServiceContext) -> None:
    jars = ensure_jars(log=ctx.log)
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    _write(ctx.data_dir / "connect-distributed.properties", _properties(
        connect_worker_properties(ctx, jars),
        "Kafka Connect distributed worker, written by lib/jornada/stack/kafka.py at every start."))
    _write(ctx.data_dir / "log4j2.properties", LOG4J2.format(log=ctx.log_file, level="INFO"))


def _connect_command(ctx: ServiceContext) -> list[str]:
    return _jvm(ctx, CONNECT_HEAP, "org.apache.kafka.connect.cli.ConnectDistributed",
                str(ctx.data_dir / "connect-distributed.properties"))


def connect_health(s: Settings, timeout_s: float = 3.0) -> Health:
    import requests

    url = connect_url(s)
    try:
        root = requests.get(url + "/", timeout=timeout_s)
        root.raise_for_status()
        # /connectors answers only once the worker has joined its group and read its config topic
        names = requests.get(url + "/connectors", timeout=timeout_s)
        names.raise_for_status()
        plugins = requests.get(url + "/connector-plugins", timeout=timeout_s).json()
    except requests.RequestException as exc:
        return Health(False, f"{url}: {type(exc).__name__}".splitlines()[0])
    except ValueError:
        return Health(False, f"{url}: not a Kafka Connect REST API")
    debezium = [p for p in plugins if p.get("class", "").endswith("PostgresConnector")]
    if not debezium:
        return Health(False, f"{url}: worker up but the Debezium Postgres plugin is not loaded — "
                             f"check plugin.path in {s.stack_dir}/data/connect/connect-distributed.properties")
    detail = (f"Kafka Connect {root.json().get('version')}, Debezium {debezium[0].get('version')}, "
              f"connectors: {', '.join(names.json()) or 'none'}")
    return Health(True, detail)


def _connect_health(ctx: ServiceContext) -> Health:
    return connect_health(ctx.settings)


def _connect_env(ctx: ServiceContext) -> dict[str, str]:
    return {"DEBEZIUM_PASSWORD": ctx.settings.debezium_password.get_secret_value()}


def kafka_service() -> Service:
    return Service(
        name="kafka", describe="Kafka 4 broker + KRaft controller (CDC topics)",
        port=kafka_port, other_ports=lambda s: [controller_port(s)],
        command=_kafka_command, health=_kafka_health, prepare=_kafka_prepare,
        endpoint=lambda s: f"127.0.0.1:{kafka_port(s)}",
        start_timeout_s=90, stop_timeout_s=45,
    )


def connect_service() -> Service:
    return Service(
        name="connect", describe="Kafka Connect (distributed) + Debezium Postgres connector",
        port=connect_port, command=_connect_command, health=_connect_health,
        prepare=_connect_prepare, env=_connect_env,
        endpoint=lambda s: connect_url(s),
        start_timeout_s=120, stop_timeout_s=45, depends_on=("kafka", "oltp"),
    )
