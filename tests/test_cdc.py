"""Change data capture, proven against the real services: Postgres → Debezium → Kafka.

Every test here talks to the real OLTP Postgres, a real Kafka 4 broker and a real Kafka Connect
worker running the Debezium Postgres connector (the native stack, started by the `stack_up`
fixture). The unit tests at the top need no service.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid

import psycopg
import pytest

from jornada import cdc
from jornada.config import settings
from jornada.db import ServiceUnavailable

# kafka-python 3.0 still loads its protocol schemas with a deprecated importlib API
pytestmark = [pytest.mark.services, pytest.mark.filterwarnings("ignore:(read|open)_text is deprecated:DeprecationWarning")]


# ---- no service needed ---------------------------------------------------------------------


# ---- helpers -------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_raw(**changes):
    return settings().replace(**{k.lower(): v for k, v in changes.items()})


def _superuser():
    s = settings()
    return psycopg.connect(s.oltp.conninfo(user=s.pg_superuser, password=s.pg_superuser_password.get_secret_value()),
                           autocommit=True)


def _events(topic: str, start: dict, want: int, timeout_s: float = 30):
    return cdc.read_topic(topic, offsets=start, min_messages=want, timeout_s=timeout_s)


def _temp_connector(suffix: str, **overrides) -> tuple[str, dict]:
    name = f"liga-test-{suffix}"
    config = cdc.connector_config()
    config.update(overrides)
    return name, config


def _drop_temp(name: str, slot: str, topic_prefix: str) -> None:
    import requests
    from kafka import KafkaAdminClient

    requests.delete(f"{cdc.connect_url()}/connectors/{name}", timeout=10)
    deadline = time.monotonic() + 30
    with _superuser() as conn:
        while time.monotonic() < deadline:
            row = conn.execute("select active from pg_replication_slots where slot_name = %s",
                               (slot,)).fetchone()
            if row is None:
                break
            if not row[0]:
                conn.execute("select pg_drop_replication_slot(%s)", (slot,))
                break
            time.sleep(0.5)
    admin = KafkaAdminClient(bootstrap_servers=cdc.bootstrap_servers())
    try:
        doomed = [t for t in admin.list_topics() if t.startswith(topic_prefix + ".")
                  or t == f"__debezium-heartbeat.{topic_prefix}"]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


# ---- against the real services -------------------------------------------------------------
@pytest.fixture(scope="module")
def cdc_ready(stack_up):
    """The stack is up and capture is set up (again: another test may have reset the OLTP
    tables, which silently removes them from the publication — the publication trap)."""
    cdc.ensure_capture(log=lambda *_: None)
    return stack_up


def test_ensure_capture_is_idempotent_and_least_privileged(cdc_ready):
    again = cdc.ensure_capture(log=lambda *_: None)[cdc.CONNECTOR]
    assert again["connector"] == "unchanged"
    assert again["postgres"]["role"] == "ok"
    assert again["postgres"]["publication"] == "ok"
    assert again["postgres"]["replica_identity_changed"] == []
    s = settings()
    user = s.debezium_user
    with _superuser() as conn:
        role = conn.execute("select rolsuper, rolreplication, rolcanlogin, rolcreatedb, rolcreaterole "
                            "from pg_roles where rolname = %s", (user,)).fetchone()
        assert role == (False, True, True, False, False)
        owner = conn.execute("select pg_get_userbyid(pubowner) from pg_publication where pubname = %s",
                             (cdc.connector_template()["publication.name"],)).fetchone()[0]
        assert owner == s.oltp.user, "the tables' owner creates the publication, not Debezium"
        ident = dict(conn.execute("select relname, relreplident from pg_class where relname = any(%s)",
                                  (cdc.captured_tables(),)).fetchall())
    assert {t: ident[t] for t in cdc.captured_tables()} == {
        t: ("d" if cdc.REPLICA_IDENTITY[t][0] == "default" else "f") for t in cdc.captured_tables()}
    # the connector's role reads, and writes nothing but its heartbeat
    with psycopg.connect(s.oltp.conninfo(user=user, password=s.debezium_password.get_secret_value())) as conn:
        assert conn.execute("select count(*) from categorias").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from pedidos")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create table debezium_was_here (x int)")


def test_publication_trap_is_reported_and_repaired(cdc_ready):
    publication = cdc.connector_template()["publication.name"]
    from jornada.db import connect

    with connect("oltp", autocommit=True) as conn:
        conn.execute(f"alter publication {publication} drop table fraudes_confirmadas")
    try:
        st = cdc.status()
        assert st["publication"]["missing"] == ["fraudes_confirmadas"]
        assert any("NOT captured" in p and "jornada cdc register" in p for p in st["problems"])
    finally:
        report = cdc.ensure_capture(log=lambda *_: None)[cdc.CONNECTOR]["postgres"]
    assert report["added_to_publication"] == ["fraudes_confirmadas"]
    assert cdc.status()["problems"] == []


def test_snapshot_emits_one_read_event_per_existing_row(cdc_ready):
    """A new connector first snapshots the tables: op=r, one event per row already there."""
    suffix = uuid.uuid4().hex[:6]
    prefix, slot = f"snap{suffix}", f"snap_{suffix}"
    name, config = _temp_connector(suffix, **{
        "topic.prefix": prefix, "slot.name": slot, "snapshot.mode": "initial",
        "table.include.list": "public.categorias,public.produtos"})
    config.pop("heartbeat.action.query")
    config["heartbeat.interval.ms"] = "0"
    from jornada.db import query_df

    expected = {t: query_df(f"select * from {t} order by id") for t in ("categorias", "produtos")}
    import requests

    try:
        requests.put(f"{cdc.connect_url()}/connectors/{name}/config", json=config,
                     timeout=30).raise_for_status()
        for table, rows in expected.items():
            df = cdc.read_topic(f"{prefix}.public.{table}", min_messages=len(rows), timeout_s=60)
            assert len(df) == len(rows), f"{table}: {len(df)} events for {len(rows)} rows"
            assert set(df["op"]) == {"r"}
            assert df["before"].isna().all()
            got = {a["id"]: a for a in df["after"]}
            assert sorted(got) == rows["id"].tolist(), "one event per row, each row once"
            if table == "produtos":
                row = rows.iloc[0]
                assert got[int(row["id"])]["valor_unit"] == f"{row['valor_unit']:.2f}", \
                    "decimals arrive as exact strings"
            assert df["key"].map(lambda k: k["id"]).tolist() == [a["id"] for a in df["after"]]
    finally:
        _drop_temp(name, slot, prefix)


def test_insert_update_delete_give_exactly_the_matching_events(cdc_ready):
    from jornada.db import connect

    t_cat, t_prod = cdc.topic_for("categorias"), cdc.topic_for("produtos")
    start = {t: cdc.end_offsets(t) for t in (t_cat, t_prod)}
    tag = uuid.uuid4().hex[:8]
    cols_cat = "id, descricao, created_at, updated_at"
    cols_prod = "id, id_categoria, descricao, valor_unit, created_at, updated_at"
    with connect("oltp", autocommit=True) as conn:
        cat0 = conn.execute(f"insert into categorias (descricao) values (%s) returning {cols_cat}",
                            (f"CDC test {tag}",)).fetchone()
        prod0 = conn.execute(
            f"insert into produtos (id_categoria, descricao, valor_unit) values (%s, %s, 12.34) "
            f"returning {cols_prod}", (cat0[0], f"CDC product {tag}")).fetchone()
        prod1 = conn.execute(f"update produtos set valor_unit = 15.00 where id = %s returning {cols_prod}",
                             (prod0[0],)).fetchone()
        cat1 = conn.execute(f"update categorias set descricao = %s where id = %s returning {cols_cat}",
                            (f"CDC test {tag} renamed", cat0[0])).fetchone()
        conn.execute("delete from produtos where id = %s", (prod0[0],))
        conn.execute("delete from categorias where id = %s", (cat0[0],))

    def as_event(row, cols):
        out = dict(zip([c.strip() for c in cols.split(",")], row))
        for k, v in out.items():
            if hasattr(v, "timestamp"):  # naive UTC timestamps arrive as µs since the epoch
                out[k] = round((v - __import__("datetime").datetime(1970, 1, 1)).total_seconds() * 1e6)
            elif hasattr(v, "as_integer_ratio") and not isinstance(v, int):
                out[k] = f"{v:.2f}"
        return out

    for topic, key, states in (
            (t_cat, cat0[0], [as_event(cat0, cols_cat), as_event(cat1, cols_cat)]),
            (t_prod, prod0[0], [as_event(prod0, cols_prod), as_event(prod1, cols_prod)])):
        df = _events(topic, start[topic], want=4)
        mine = df[df["key"].map({"id": key}.__eq__)]
        assert len(mine) == 4, f"{topic}: expected c, u, d + tombstone, got\n{mine[['op', 'tombstone']]}"
        assert mine["op"].tolist()[:3] == ["c", "u", "d"]
        c, u, d, tomb = (mine.iloc[i] for i in range(4))
        assert c["before"] is None and c["after"] == states[0]
        assert u["before"] == states[0], "REPLICA IDENTITY FULL: the update carries the whole old row"
        assert u["after"] == states[1]
        assert d["before"] == states[1] and d["after"] is None
        assert tomb["tombstone"] and tomb["op"] is None and tomb["key"] == {"id": key}
        assert mine["lsn"].iloc[:3].is_monotonic_increasing
        # nothing else happened to this key, and nobody else wrote in between on our tables
        assert len(df) == 4, f"{topic}: unexpected extra events\n{df[['op', 'key']]}"


def test_kcat_a_consumer_nobody_here_wrote_reads_the_topic(cdc_ready):
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    assert kcat, "kcat is missing — run `make system-deps` (Debian package kcat)"
    topic = cdc.topic_for("categorias")
    ours = cdc.read_topic(topic)
    out = subprocess.run(
        [kcat, "-C", "-b", cdc.bootstrap_servers(), "-t", topic, "-o", "beginning", "-e", "-q",
         "-J"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(records) == len(ours) > 0
    first = records[0]
    assert json.loads(first["key"]) == ours.iloc[0]["key"]
    payload = json.loads(first["payload"])
    assert payload["op"] == ours.iloc[0]["op"] and payload["after"] == ours.iloc[0]["after"]
    tombstones = sum(1 for r in records if r.get("payload") is None)
    assert tombstones == int(ours["tombstone"].sum())


def test_lossless_while_connect_and_broker_restart(cdc_ready, record_property):
    """≥ 2,000 orders streamed while the Connect worker and then the broker restart: every
    order id in OLTP must reach the topic. Duplicates are allowed (at-least-once), losses not."""
    from jornada import generators
    from jornada.db import scalar

    st = cdc_ready
    topic = cdc.topic_for("pedidos")
    start = cdc.end_offsets(topic)
    first_new = scalar("select coalesce(max(id), 0) from pedidos") + 1
    orders, rate = 2400, 120.0
    result: dict = {}

    def write():
        try:
            result.update(generators.run_stream(rate=rate, count=orders, seed=first_new,
                                                progress=False))
        except Exception as exc:  # surfaced below
            result["error"] = exc

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    timings = {}
    time.sleep(3)
    t0 = time.monotonic()
    st.stop_only(["connect"], log=lambda *_: None)
    st.up(["connect"], log=lambda *_: None)
    timings["connect_restart_s"] = round(time.monotonic() - t0, 1)
    time.sleep(2)
    t0 = time.monotonic()
    st.stop_only(["kafka"], log=lambda *_: None)  # Connect keeps running through it
    st.up(["kafka"], log=lambda *_: None)
    timings["kafka_restart_s"] = round(time.monotonic() - t0, 1)
    writer.join(timeout=orders / rate + 120)
    assert "error" not in result, result.get("error")
    assert result.get("orders") == orders
    from jornada.db import connect

    with connect("oltp") as conn:
        ids = {r[0] for r in conn.execute("select id from pedidos where id >= %s", (first_new,))}
    assert len(ids) >= 2000
    deadline = time.monotonic() + 120
    while True:
        df = cdc.read_topic(topic, offsets=start, timeout_s=30)
        events = df[df["op"].isin(["c", "r"])]
        seen = events["after"].map(lambda a: a["id"])
        seen = seen[seen >= first_new]
        missing = ids - set(seen)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(2)
    duplicates = int(len(seen) - seen.nunique())
    report = {"orders": len(ids), "events": int(len(seen)), "duplicates": duplicates,
              "missing": len(missing), **timings}
    print(f"\nCDC lossless under restarts: {json.dumps(report)}")
    for key, value in report.items():
        record_property(key, value)
    assert not missing, f"{len(missing)} orders never reached {topic}: {sorted(missing)[:20]}"
    cdc.wait_running(timeout_s=30)


def test_lossless_after_a_connect_worker_crash(cdc_ready, record_property):
    """SIGKILL (no graceful stop, no last offset commit): the worker resumes from the last
    committed LSN, so the changes since then arrive twice — duplicates, never a hole."""
    import os
    import signal

    from jornada import generators
    from jornada.db import connect, scalar

    st = cdc_ready
    topic = cdc.topic_for("pedidos")
    start = cdc.end_offsets(topic)
    first_new = scalar("select coalesce(max(id), 0) from pedidos") + 1
    result: dict = {}
    writer = threading.Thread(target=lambda: result.update(generators.run_stream(
        rate=200, count=1200, seed=first_new, progress=False)), daemon=True)
    writer.start()
    time.sleep(3)
    os.killpg(st.running_pid(st.services["connect"]), signal.SIGKILL)
    time.sleep(0.5)
    st.up(["connect"], log=lambda *_: None)
    writer.join(timeout=60)
    with connect("oltp") as conn:
        ids = {r[0] for r in conn.execute("select id from pedidos where id >= %s", (first_new,))}
    assert len(ids) == 1200
    deadline = time.monotonic() + 90
    while True:
        df = cdc.read_topic(topic, offsets=start, timeout_s=30)
        seen = df[df["op"].isin(["c", "r"])]["after"].map(lambda a: a["id"])
        seen = seen[seen >= first_new]
        missing = ids - set(seen)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(2)
    duplicates = int(len(seen) - seen.nunique())
    print(f"\nCDC after a worker crash: orders={len(ids)} duplicates={duplicates} missing={len(missing)}")
    record_property("crash_duplicates", duplicates)
    assert not missing, f"{len(missing)} orders lost after the crash"


def test_errors_name_the_service_and_the_fix_within_seconds(cdc_ready):
    down = _with_raw(CONNECT_PORT=str(_free_port()), KAFKA_PORT=str(_free_port()))
    t0 = time.monotonic()
    with pytest.raises(cdc.CdcError, match=r"Kafka Connect not reachable at http://127\.0\.0\.1:\d+ — run `make up`"):
        cdc.connector_status(s=down)
    with pytest.raises(ServiceUnavailable, match=r"Kafka not reachable at 127\.0\.0\.1:\d+ — run `make up`"):
        cdc.read_topic(cdc.topic_for("pedidos"), s=down)
    assert time.monotonic() - t0 < 10
    st = cdc.status(s=down)
    assert any("Kafka Connect not reachable" in p for p in st["problems"])
    # a connector whose task fails: the message names it, the cause, the log and the fix
    import requests

    suffix = uuid.uuid4().hex[:6]
    name, config = _temp_connector(suffix, **{
        "topic.prefix": f"broken{suffix}", "slot.name": f"broken_{suffix}",
        "publication.name": "no_such_publication", "table.include.list": "public.categorias"})
    config.pop("heartbeat.action.query")
    try:
        requests.put(f"{cdc.connect_url()}/connectors/{name}/config", json=config,
                     timeout=30).raise_for_status()
        t0 = time.monotonic()
        message = None
        while time.monotonic() - t0 < 20 and message is None:
            try:
                if cdc.connector_status(name) is not None:  # None: just created, no status yet
                    cdc.check_connector(name)
            except cdc.ConnectorFailed as exc:
                message = str(exc)
            time.sleep(0.5)
        assert message, "the broken connector never reported FAILED"
        assert re.search(rf"connector {name} (task 0 )?is FAILED: .*[Pp]ublication", message), message
        assert "connect.log" in message and "jornada cdc register" in message
    finally:
        _drop_temp(name, f"broken_{suffix}", f"broken{suffix}")
    with pytest.raises(cdc.CdcError, match="not registered"):
        cdc.check_connector("no-such-connector")


def test_watch_live_changes_and_consumer_lag(cdc_ready):
    """`from_beginning=False` watches what arrives from now on; consumer_lag reads a group."""
    from kafka import KafkaConsumer

    from jornada.db import connect

    topic = cdc.topic_for("categorias")
    box = {}
    watcher = threading.Thread(target=lambda: box.update(
        df=cdc.read_topic(topic, from_beginning=False, max_messages=1, timeout_s=20)))
    watcher.start()
    time.sleep(1.5)  # the watcher is positioned at the end
    tag = uuid.uuid4().hex[:8]
    with connect("oltp", autocommit=True) as conn:
        cid = conn.execute("insert into categorias (descricao) values (%s) returning id",
                           (f"live {tag}",)).fetchone()[0]
        conn.execute("delete from categorias where id = %s", (cid,))
    watcher.join()
    df = box["df"]
    assert len(df) == 1 and df.iloc[0]["op"] == "c" and df.iloc[0]["after"]["id"] == cid
    group = f"test-lag-{tag}"
    assert cdc.consumer_lag(group, topic)["lag"].isna().all(), "a new group has committed nothing"
    consumer = KafkaConsumer(topic, bootstrap_servers=cdc.bootstrap_servers(), group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        got = 0
        deadline = time.monotonic() + 20
        while got < 3 and time.monotonic() < deadline:
            got += sum(len(v) for v in consumer.poll(timeout_ms=500, max_records=3 - got).values())
        consumer.commit()
    finally:
        consumer.close()
    lag = cdc.consumer_lag(group, topic).iloc[0]
    assert lag["committed"] == 3 and lag["lag"] == lag["end"] - 3


def test_heartbeat_keeps_an_idle_slot_from_pinning_wal(cdc_ready):
    """WAL written outside the captured tables (here: a table nobody captures) must not stay
    pinned by the slot: the heartbeat writes to a captured table, Debezium receives that change
    and confirms the position, so the slot's confirmed_flush_lsn moves past our WAL."""
    from jornada.db import connect

    table = f"cdc_unrelated_{uuid.uuid4().hex[:6]}"
    with connect("oltp", autocommit=True) as conn:
        conn.execute(f"create table {table} (x int, pad text)")
        conn.execute(f"insert into {table} select g, repeat('x', 500) from generate_series(1, 4000) g")
        target = conn.execute("select pg_current_wal_lsn()").fetchone()[0]
        try:
            interval_s = int(cdc.connector_template()["heartbeat.interval.ms"]) / 1000
            deadline = time.monotonic() + 2 * interval_s + 10
            passed = False
            while time.monotonic() < deadline and not passed:
                passed = conn.execute(
                    "select confirmed_flush_lsn >= %s::pg_lsn from pg_replication_slots "
                    "where slot_name = %s", (target, cdc.connector_template()["slot.name"])).fetchone()[0]
                time.sleep(1)
            assert passed, f"the slot still pins WAL before {target} after {2 * interval_s + 10:.0f}s"
        finally:
            conn.execute(f"drop table {table}")


def test_the_debezium_password_is_never_readable_outside_the_worker(cdc_ready):
    """Connect resolves ${env:DEBEZIUM_PASSWORD} itself: the REST API, the config topic and the
    files of the stack never show the secret to anyone (issue 8 §6.3)."""
    import os
    import stat

    import requests

    s = settings()
    password = s.debezium_password.get_secret_value()
    config = requests.get(f"{cdc.connect_url()}/connectors/{cdc.CONNECTOR}/config", timeout=10).json()
    assert config["database.password"] == "${env:DEBEZIUM_PASSWORD}"
    assert password not in json.dumps(config)
    assert cdc.connector_status()["tasks"][0]["state"] == "RUNNING", "the worker resolved the secret"
    stored = cdc.read_topic("_connect-configs", timeout_s=10)
    assert len(stored) > 0 and not stored["after"].map(lambda v: password in json.dumps(v)).any()
    for folder in (s.stack_dir / "data").iterdir():
        mode = stat.S_IMODE(os.stat(folder).st_mode)
        assert mode & 0o077 == 0, f"{folder} is readable by other users ({oct(mode)})"
    assert stat.S_IMODE(os.stat(s.stack_dir / "logs").st_mode) & 0o077 == 0
