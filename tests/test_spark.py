"""Spark on the lake: a Delta write + read on s3a://bronze/…, in local[2] through the session
builder and on the optional standalone cluster through spark-submit."""

from __future__ import annotations

import json
import sys
import uuid

import psutil
import pytest

from jornada import s3 as storage
from jornada.lake import smoke
from jornada.lake.spark import LOCAL_MASTER, spark_session, submit

pytestmark = [
    pytest.mark.services,
    # status() asks every service, Kafka too: kafka-python 3.0 still loads its schemas this way
    pytest.mark.filterwarnings("ignore:(read|open)_text is deprecated:DeprecationWarning"),
]

ROWS = 500


@pytest.fixture
def table(s3):
    """A Delta table folder of its own under bronze/_tests, removed afterwards."""
    prefix = f"_tests/spark-{uuid.uuid4().hex[:10]}"
    yield prefix, storage.s3a_url("bronze", prefix)
    storage.delete_prefix("bronze", prefix + "/", s=s3)


def _secrets(s) -> list[str]:
    return [s.s3_secret_key.get_secret_value(), s.spark_auth_secret.get_secret_value()]


def _cmdlines(procs) -> str:
    """Every live process's command line (what any user of the machine can read in `ps`)."""
    lines = []
    for p in procs:
        try:
            lines.append(" ".join(p.cmdline()))
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            pass
    return "\n".join(lines)


def test_local_session_writes_and_reads_delta_on_s3a(s3, table):
    from pyspark.sql.functions import pandas_udf

    prefix, url = table
    spark = spark_session("test-local", s=s3)
    try:
        conf = spark.sparkContext.getConf()
        assert spark.sparkContext.master == LOCAL_MASTER
        assert conf.get("spark.driver.host") == "127.0.0.1"
        assert conf.get("spark.driver.bindAddress") == "127.0.0.1"
        assert conf.get("spark.driver.memory") == "1g"
        result = smoke.delta_roundtrip(spark, url, ROWS)
        assert (result["rows"], result["sum"]) == (ROWS, ROWS * (ROWS - 1) // 2)
        assert any(k.endswith("_delta_log/00000000000000000000.json")
                   for k in storage.list_keys("bronze", prefix + "/", s=s3))

        # Python workers run the venv's interpreter (pandas + pyarrow there)
        @pandas_udf("string")
        def python_of_worker(ids):
            import sys as worker_sys

            return ids.map(lambda _: worker_sys.executable)

        (exe,) = {r[0] for r in spark.range(4).select(python_of_worker("id")).collect()}
        assert exe == sys.executable

        # the secrets never reach a command line (other users can read those)
        cmdlines = _cmdlines(psutil.Process().children(recursive=True))
        for secret in _secrets(s3):
            assert secret not in cmdlines
    finally:
        spark.stop()

    # the same table, read without Spark (delta-rs)
    from deltalake import DeltaTable

    dt = DeltaTable(url.replace("s3a://", "s3://"), storage_options=storage.delta_rs_options(s3))
    assert dt.version() == 0
    assert dt.to_pyarrow_table().num_rows == ROWS


@pytest.fixture(scope="module")
def cluster(s3):
    """The optional standalone cluster: started for these tests, stopped after."""
    from jornada.services import stack

    st = stack(s3)
    was_running = st.running_pid(st.services["spark-master"]) is not None
    st.up(["spark"], log=lambda *_: None)
    yield st
    if not was_running:
        st.down(["spark"], log=lambda *_: None)


def test_the_cluster_is_optional_and_on_loopback(cluster):
    s = cluster.settings
    assert {svc.name for svc in cluster.to_start(None)}.isdisjoint({"spark-master", "spark-worker"})
    rows = {r["service"]: r for r in cluster.status()}
    assert rows["spark-master"]["healthy"] and rows["spark-worker"]["healthy"]
    assert "1 core(s), 1024 MB" in rows["spark-worker"]["detail"]
    for name in ("spark-master", "spark-worker"):
        svc = cluster.services[name]
        proc = psutil.Process(cluster.running_pid(svc))
        procs = [proc, *proc.children(recursive=True)]
        listening = {c.laddr for p in procs for c in p.net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN}
        assert {a.port for a in listening} == set(svc.ports(s)), name
        assert {a.ip for a in listening} <= {"127.0.0.1", "::ffff:127.0.0.1"}, name
        assert not any(secret in _cmdlines(procs) for secret in _secrets(s))


def test_spark_submit_runs_the_delta_job_on_the_cluster(cluster, table):
    from jornada.stack.spark import master_state

    prefix, url = table
    s = cluster.settings
    result = submit(smoke.__file__, url, str(ROWS), master=s.spark_master_url, s=s)
    lines = [line for line in result.stdout.splitlines() if line.startswith("JORNADA-RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    out = json.loads(lines[-1].removeprefix("JORNADA-RESULT "))
    assert out["master"] == s.spark_master_url
    assert (out["rows"], out["sum"]) == (ROWS, ROWS * (ROWS - 1) // 2)
    done = master_state(s)["completedapps"]
    assert any(app["name"] == "smoke" and app["state"] == "FINISHED" for app in done)
