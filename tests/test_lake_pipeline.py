"""The lakehouse against the real native stack: Debezium topics → bronze → silver → gold.

One small shop (reset OLTP, 40 customers, 200 historical orders) is captured by a Debezium
connector of its own (fresh topics, snapshot of exactly this OLTP: the course connector's topics
may hold events of earlier OLTP incarnations). The tests run in file order and build on each
other: bronze streams while orders arrive and is SIGKILLed mid-stream, restarted, and must hold
every event exactly once; silver must equal the OLTP (counts + content digests) after inserts,
updates and deletes, and stay unchanged when batches are re-applied; gold's revenue by category
× month must equal the dbt mart built by the warehouse from the same OLTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from decimal import Decimal

import pytest

from jornada.lake import bronze, gold, silver

# kafka-python 3.0 still calls importlib.resources' legacy read_text/open_text
pytestmark = [pytest.mark.services,
              pytest.mark.filterwarnings("ignore:(read|open)_text is deprecated:DeprecationWarning")]

NOW = datetime(2026, 1, 31, 12, 0, 0)
SEED = 21
STREAM_ORDERS = 120


@pytest.fixture(scope="module")
def lake_stack():
    from jornada.config import ensure_env_file, reload
    from jornada.services import stack

    ensure_env_file()
    s = reload()
    stack(s).up(["oltp", "olap", "kafka", "connect", "s3"], log=lambda *_: None)
    return s


def _stable_topics(topics: list[str], s, quiet_s: float = 4, timeout_s: float = 180) -> dict:
    """Wait until the topics' end offsets stop moving (the connector has published everything)."""
    from jornada import kafka

    deadline = time.monotonic() + timeout_s
    last = kafka.end_offsets(topics, s)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = kafka.end_offsets(topics, s)
        if now == last and sum(now.values()):
            return now
        last = now
    raise AssertionError(f"topics still moving after {timeout_s}s: {last}")


@pytest.fixture(scope="module")
def source(lake_stack):
    """The OLTP with history, its own connector (snapshot → fresh topics), an empty lake."""
    from jornada import cdc, generators
    from jornada.checks.lesson03_tools import temporary_connector
    from jornada.schema import OLTP_TABLES, init_oltp, table_counts

    s = lake_stack
    init_oltp(reset=True)
    cdc.ensure_capture(log=lambda m: None, wait=True)
    generators.load_customers(40, seed=SEED, now=NOW)
    generators.load_history(200, seed=SEED, now=NOW)
    bronze.reset(s)
    silver.reset(s)
    with temporary_connector(OLTP_TABLES, tag="lake", s=s) as tc:
        topics = [tc.topic(t) for t in OLTP_TABLES]
        ends = _stable_topics(topics, s)
        assert sum(ends.values()) == sum(table_counts().values())   # the snapshot: one event a row
        yield {"s": s, "connector": tc, "topics": topics}


def _kafka_events(topics: list[str], s) -> list[tuple[str, int, int]]:
    """(topic, partition, offset) of every message with a value (tombstones excluded)."""
    from jornada import kafka

    out = []
    for topic in topics:
        for msg in kafka.read(topic, timeout_s=5, s=s):
            if msg.value is not None:
                out.append((msg.topic, msg.partition, msg.offset))
    return out


def _bronze_events(s) -> list[tuple[str, int, int]]:
    from deltalake.exceptions import TableNotFoundError

    out = []
    for table in bronze.tables():
        try:
            dt = silver.delta_table(table, bucket=bronze.BUCKET, s=s)
        except TableNotFoundError:      # the driver has not created it yet
            continue
        data = dt.to_pyarrow_table(columns=["topic", "partition", "offset"]).to_pylist()
        out += [(r["topic"], r["partition"], r["offset"]) for r in data]
    return out


def _changes(conn) -> dict:
    """Updates and deletes of every kind the pipeline must carry (parents and children)."""
    conn.execute("update pessoas set nome = nome || ' Filho' where id = (select min(id) from pessoas)")
    conn.execute("update enderecos set cidade = 'Campinas', uf = 'SP' "
                 "where id_pessoa = (select max(id_pessoa) from enderecos)")
    conn.execute("update produtos set valor_unit = valor_unit + 1 where id = 3")
    # an order deleted: its items, audit row and fraud label go with it (ON DELETE CASCADE)
    gone = conn.execute("delete from pedidos where id = (select min(id) from pedidos) "
                        "returning id").fetchone()[0]
    # an item removed from another order, and that order's total kept consistent
    row = conn.execute("delete from itens_pedidos where (id_pedido, id_produto) = (select id_pedido, "
                       "id_produto from itens_pedidos where id_pedido in (select id_pedido from "
                       "itens_pedidos group by 1 having count(*) > 1) order by 1, 2 limit 1) "
                       "returning id_pedido, valor_total").fetchone()
    conn.execute("update pedidos set valor_total = valor_total - %s where id = %s", (row[1], row[0]))
    conn.commit()
    return {"deleted_order": gone, "changed_order": row[0]}


def test_bronze_survives_sigkill_without_losing_or_duplicating_events(source, tmp_path):
    """`jornada lake bronze --continuous` is SIGKILLed while orders stream in; a catch-up run
    afterwards leaves every (topic, partition, offset) with a value in bronze exactly once."""
    from jornada import generators
    from jornada.db import connect

    s, prefix = source["s"], source["connector"].prefix
    log = (tmp_path / "bronze.log").open("w")
    cmd = [sys.executable, "-m", "jornada.cli", "lake", "bronze", "--continuous",
           "--topic-prefix", prefix]
    driver = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    writer = threading.Thread(target=generators.run_stream, kwargs=dict(
        rate=2, count=STREAM_ORDERS, seed=SEED + 1, progress=False,
        clock=generators.shop_clock(NOW)), daemon=True)
    try:
        deadline = time.monotonic() + 900
        while not _bronze_events(s):                 # the first batch is committed
            assert driver.poll() is None, (tmp_path / "bronze.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "bronze wrote nothing in 15 minutes"
            time.sleep(2)
        writer.start()
        time.sleep(20)                               # a few micro-batches while orders arrive
        assert driver.poll() is None
        os.killpg(driver.pid, signal.SIGKILL)        # the driver and its JVM, mid-stream
        driver.wait(30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        log.close()
    written_before_kill = len(_bronze_events(s))
    writer.join(180)
    with connect("oltp") as conn:
        source["changes"] = _changes(conn)
    _stable_topics(source["topics"], s)
    expected = _kafka_events(source["topics"], s)

    restart = subprocess.run([sys.executable, "-m", "jornada.cli", "lake", "bronze",
                              "--topic-prefix", prefix], capture_output=True, text=True, timeout=1200)
    assert restart.returncode == 0, restart.stderr[-3000:]
    got = _bronze_events(s)
    assert 0 < written_before_kill < len(expected)   # the kill left work for the restart
    assert len(got) == len(set(got))                 # nothing twice
    assert set(got) == set(expected)                 # nothing lost, nothing extra
    assert len(expected) > sum(1 for t in expected if t[0].endswith(".pedidos")) > STREAM_ORDERS


@pytest.fixture(scope="module")
def spark(source):
    from jornada.lake.spark import spark_session

    session = spark_session("test-lake", s=source["s"])
    yield session
    session.stop()


def _ops(s) -> dict[str, int]:
    from collections import Counter

    ops = Counter()
    for table in bronze.tables():
        data = silver.delta_table(table, bucket=bronze.BUCKET, s=s).to_pyarrow_table(columns=["op"])
        ops.update(data.column("op").to_pylist())
    return dict(ops)


def test_silver_equals_the_oltp_after_inserts_updates_and_deletes(source, spark):
    s = source["s"]
    ops = _ops(s)
    assert ops.get("u", 0) >= 3 and ops.get("d", 0) >= 3 and ops.get("c", 0) > STREAM_ORDERS
    out = silver.run(spark, s=s)
    assert out["events"]["pedidos"] >= 200 + STREAM_ORDERS
    content = silver.compare_content(s)
    for table, sides in content.items():
        assert sides["oltp"] == sides["silver"], table
    assert silver.compare_with_oltp(s)["problems"] == []
    deleted = source["changes"]["deleted_order"]
    ids = silver.delta_table("pedidos", s=s).to_pyarrow_table(columns=["id"]).column("id").to_pylist()
    assert deleted not in ids
    # Change Data Feed on; the renamed customer's snapshot read and update came in one batch:
    # only the latest reached silver, as one insert (no update in the feed)
    props = spark.sql(f"SHOW TBLPROPERTIES delta.`{silver.table_path('pessoas')}`").collect()
    assert {r["key"]: r["value"] for r in props}["delta.enableChangeDataFeed"] == "true"
    feed = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0)
            .load(silver.table_path("pessoas")).where("nome LIKE '% Filho'"))
    assert [r["_change_type"] for r in feed.collect()] == ["insert"]


def _version(spark, table: str) -> int:
    return spark.sql(f"DESCRIBE HISTORY delta.`{silver.table_path(table)}` LIMIT 1").first()["version"]


def _rows_changed_since(spark, table: str, version: int) -> dict:
    """Rows inserted/updated/deleted by the commits after ``version`` (none: a no-op MERGE may
    or may not commit an empty version)."""
    total = {"numTargetRowsInserted": 0, "numTargetRowsUpdated": 0, "numTargetRowsDeleted": 0}
    for row in spark.sql(f"DESCRIBE HISTORY delta.`{silver.table_path(table)}`").collect():
        if row["version"] > version:
            assert row["operation"] == "MERGE", row["operation"]
            for key in total:
                total[key] += int(row["operationMetrics"].get(key, 0))
    return total


def test_reapplying_batches_changes_nothing(source, spark):
    """The whole of bronze as one batch again (every table), then only the older events of
    changed rows (out of order): the LSN guard leaves silver as it is."""
    from pyspark.sql import functions as F

    s = source["s"]
    before = silver.compare_content(s)
    defs = silver.catalog(s)
    everything = silver.bronze_rows(spark, bronze.tables())
    versions = {t: _version(spark, t) for t in bronze.tables()}
    counts = silver.apply_batch(spark, everything, defs)
    assert sum(counts.values()) == len(_bronze_events(s))
    nothing = {"numTargetRowsInserted": 0, "numTargetRowsUpdated": 0, "numTargetRowsDeleted": 0}
    for table in bronze.tables():
        assert _rows_changed_since(spark, table, versions[table]) == nothing, table
    # an old version of the renamed customer (the snapshot read) arriving late
    version = _version(spark, "pessoas")
    stale = everything.where((F.col("table") == "pessoas") & (F.col("op") == "r"))
    silver.apply_batch(spark, stale, {"pessoas": defs["pessoas"]})
    assert _rows_changed_since(spark, "pessoas", version) == nothing
    assert silver.compare_content(s) == before


def _operations_since(spark, table: str, version: int) -> list[str]:
    return [r["operation"] for r in
            spark.sql(f"DESCRIBE HISTORY delta.`{silver.table_path(table)}`").collect()
            if r["version"] > version][::-1]


def test_bronze_and_silver_in_one_query_keep_silver_equal_to_the_oltp(source, spark):
    """silver.start_with_bronze: one query appends each Kafka batch to bronze and applies it to
    silver. New orders (keys silver does not hold) are appended, not merged; updates and
    deletes of older rows go through the MERGE; bronze still holds every event exactly once."""
    from jornada import generators
    from jornada.db import connect

    s, prefix = source["s"], source["connector"].prefix
    top = _top_order(spark)
    versions = {t: _version(spark, t) for t in ("pedidos", "pessoas")}
    generators.run_stream(rate=20, count=30, seed=SEED + 2, progress=False,
                          clock=generators.shop_clock(NOW.replace(day=28)))
    with connect("oltp") as conn:
        conn.execute("update pessoas set nome = nome || ' Neto' where id = (select max(id) from pessoas)")
        conn.execute("delete from pedidos where id = (select min(id) from pedidos)")
        conn.commit()
    _stable_topics(source["topics"], s)
    expected = _kafka_events(source["topics"], s)
    query, writer = silver.start_with_bronze(spark, processing_time="2 seconds", topic_prefix=prefix, s=s)
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    got = _bronze_events(s)
    assert len(got) == len(set(got)) and set(got) == set(expected)
    assert writer.rows.get("pedidos", 0) >= 30
    for table, sides in silver.compare_content(s).items():
        assert sides["oltp"] == sides["silver"], table
    # the 30 new orders were appended (a WRITE), the deleted old one merged; the renamed
    # customer (a key silver holds) merged, the stream's new customers (if any) appended
    assert "WRITE" in _operations_since(spark, "pedidos", versions["pedidos"])
    assert "MERGE" in _operations_since(spark, "pedidos", versions["pedidos"])
    pessoas_ops = _operations_since(spark, "pessoas", versions["pessoas"])
    assert "MERGE" in pessoas_ops and set(pessoas_ops) <= {"MERGE", "WRITE"}, pessoas_ops
    assert _top_order(spark) >= top + 30


def _top_order(spark) -> int:
    return spark.read.format("delta").load(silver.table_path("pedidos")).agg({"id": "max"}).first()[0] or 0


@pytest.mark.parametrize("composite,events", [(False, None), (True, None), (False, 13), (True, 13),
                                              (False, "arrow"), (True, "arrow")],
                         ids=["one-column key", "two-column key", "one-column key, delta-rs append",
                              "two-column key, delta-rs append", "one-column key, in the driver",
                              "two-column key, in the driver"])
def test_a_batch_of_new_and_old_keys_appends_the_new_and_merges_the_old(source, spark, composite, events):
    """silver.merge on a table holding keys 0-59 and 70-99: updates of 50-54, inserts of 60-62
    (in a gap, not held) and of 100-104 (one of them deleted within the batch) → a MERGE of the
    held keys only (5 updated, none inserted), one append of the 7 others; the same batch again
    → a MERGE only, which changes nothing. A two-column key (itens_pedidos') splits the same way.
    With the batch's size given (a stream's), the append is delta-rs's, from the driver; so it is
    with the batch given as a pyarrow table (parsed in the driver), whose held keys Spark MERGEs."""
    from jornada import s3
    from jornada.warehouse.mirror import TableDef

    if composite:
        t = TableDef("_merge_or_append2", [("id", "bigint"), ("part", "integer"), ("v", "text")], ["id", "part"])
        key = ["id", "CAST(id % 3 AS INT) AS part"]
    else:
        t = TableDef("_merge_or_append", [("id", "bigint"), ("v", "text")], ["id"])
        key = ["id"]
    path = silver.table_path(t.name)
    meta = ["0L AS _offset", "current_timestamp() AS _source_ts", "current_timestamp() AS _merged_at"]
    try:
        (spark.range(0, 100).where("id NOT BETWEEN 60 AND 69")
         .selectExpr(*key, "'old' AS v", "'r' AS _op", "0L AS _lsn", *meta)
         .write.format("delta").save(path))
        batch = spark.range(50, 55).union(spark.range(60, 63)).union(spark.range(100, 105)).selectExpr(
            *key, "'new' AS v", "IF(id = 103, 'd', IF(id < 55, 'u', 'c')) AS _op", "1L AS _lsn", *meta)
        if events == "arrow":
            batch, events = batch.toArrow(), None
        assert silver.merge(spark, t, batch, events=events) == "merge+append"
        rows = {r["id"]: r["v"] for r in spark.read.format("delta").load(path).collect()}
        assert len(rows) == 97 and 103 not in rows
        assert sorted(k for k, v in rows.items() if v == "new") == [
            50, 51, 52, 53, 54, 60, 61, 62, 100, 101, 102, 104]
        history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").where("version > 0").collect()
        ops = {r["operation"]: (r["version"], r["operationMetrics"], r["engineInfo"]) for r in history}
        assert sorted(ops) == ["MERGE", "WRITE"], ops
        assert (ops["MERGE"][1]["numTargetRowsUpdated"], ops["MERGE"][1]["numTargetRowsInserted"]) == ("5", "0")
        appended = ops["WRITE"][0]
        assert _rows_at(spark, path, appended) - _rows_at(spark, path, appended - 1) == 7
        assert ("delta-rs" in (ops["WRITE"][2] or "")) == (events is not None or not hasattr(batch, "persist")), \
            ops["WRITE"][2]
        version = max(r["version"] for r in history)
        assert silver.merge(spark, t, batch, events=events) == "merge"
        again = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").where(f"version > {version}").collect()
        assert all(r["operation"] == "MERGE" and r["operationMetrics"].get("numTargetRowsUpdated", "0") == "0"
                   and r["operationMetrics"].get("numTargetRowsInserted", "0") == "0" for r in again)
        assert {r["id"]: r["v"] for r in spark.read.format("delta").load(path).collect()} == rows
    finally:
        s3.delete_prefix(silver.BUCKET, t.name + "/", s=source["s"])


def test_a_batch_parsed_in_the_driver_equals_the_one_spark_parses(spark):
    """silver.typed_arrow (a stream's batch, parsed in the driver) gives the rows, values and
    types silver.changes gives in Spark, for every column type the OLTP uses and a few more: a
    delete's key from the event key, decimals rounded half up to the scale, a snapshot read, a
    truncate dropped, a column the table does not have ignored; latest_in_driver keeps the
    change keep_latest keeps. A type it does not parse (timestamptz) is left to Spark."""
    import json

    from jornada.warehouse.mirror import TableDef

    t = TableDef("_typed", [
        ("id", "bigint"), ("k2", "integer"), ("nome", "text"), ("sexo", "character(1)"),
        ("dt", "date"), ("ts", "timestamp without time zone"), ("v", "numeric(10,2)"),
        ("n", "numeric"), ("b", "boolean"), ("d", "double precision"), ("r", "real"),
        ("sm", "smallint"), ("g", "character varying(12)")], ["id", "k2"])
    full = {"id": 1, "k2": 2, "nome": "Zé Ñ", "sexo": "M", "dt": 19000, "ts": 1764000000123456,
            "v": "19.90", "n": "1.123456789012345", "b": True, "d": 1.5e10, "r": 0.1, "sm": 7,
            "g": "6gkzw"}
    events = [("c", {"id": 1, "k2": 2}, full, 10, 1),
              ("u", {"id": 1, "k2": 2}, {"id": 1, "k2": 2, "v": "0.005", "n": "-5", "b": False}, 11, 2),
              ("u", {"id": 1, "k2": 2}, {**full, "v": "123.455"}, 11, 0),
              ("d", {"id": 3, "k2": 4}, None, 12, 3),
              ("t", None, None, 13, 4),
              ("r", {"id": 5, "k2": 6}, {"id": 5, "k2": 6, "nome": "x", "extra": 1, "v": "-0.125"}, 0, 5)]
    bronze_rows = spark.createDataFrame(
        [(op, json.dumps(k) if k else None, json.dumps(a) if a else None, lsn, offset)
         for op, k, a, lsn, offset in events],
        "op STRING, key STRING, after STRING, lsn BIGINT, offset BIGINT",
    ).selectExpr("*", "timestamp_micros(1764000000000000 + offset) AS source_ts")
    in_spark = silver.changes(bronze_rows, t, latest=False).drop("_merged_at").toArrow()
    in_driver = silver.typed_arrow(bronze_rows.toArrow(), t).drop(["_merged_at"])
    assert in_driver.schema.remove_metadata() == in_spark.schema.remove_metadata()
    assert in_driver.to_pylist() == in_spark.to_pylist()
    assert in_driver.num_rows == 5 and in_driver.column("v").to_pylist()[1:3] == [
        Decimal("0.01"), Decimal("123.46")]
    latest = silver.keep_latest(silver.changes(bronze_rows, t, latest=False), t)
    assert (sorted(silver.latest_in_driver(in_driver, t).to_pylist(), key=lambda r: r["id"])
            == sorted(latest.drop("_merged_at").toArrow().to_pylist(), key=lambda r: r["id"]))
    assert silver.typed_arrow(bronze_rows.toArrow(), TableDef(
        "_tz", [("id", "bigint"), ("at", "timestamp with time zone")], ["id"])) is None


def _rows_at(spark, path: str, version: int) -> int:
    return spark.read.format("delta").option("versionAsOf", version).load(path).count()


def test_a_merge_reads_only_the_files_its_batch_keys_can_be_in(source, spark):
    """silver.merge adds the batch's key range to its condition, so Delta skips the files whose
    min/max exclude it: two of three files are deleted behind Delta's back, and a MERGE of keys
    in the third still succeeds (reading either of the others would fail)."""
    from jornada import s3
    from jornada.warehouse.mirror import TableDef

    t = TableDef("_merge_file_skipping", [("id", "bigint"), ("v", "text")], ["id"])
    path = silver.table_path(t.name)
    meta = ["0L AS _offset", "current_timestamp() AS _source_ts", "current_timestamp() AS _merged_at"]
    files: list[set[str]] = []
    try:
        for lo in (0, 100, 200):                      # three files, one per range of keys
            (spark.range(lo, lo + 100).selectExpr("id", "'old' AS v", "'r' AS _op", "0L AS _lsn", *meta)
             .coalesce(1).write.format("delta").mode("append").save(path))
            now = set(spark.read.format("delta").load(path).inputFiles())
            files.append(now - set().union(*files))
        for gone in files[0] | files[1]:
            assert s3.delete_prefix(silver.BUCKET, gone.split(f"/{silver.BUCKET}/", 1)[1], s=source["s"]) == 1
        silver.merge(spark, t, spark.range(250, 260).selectExpr("id", "'new' AS v", "'u' AS _op",
                                                                "1L AS _lsn", *meta))
        last = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first()
        metrics = last["operationMetrics"]
        assert last["operation"] == "MERGE", last
        assert (metrics["numTargetRowsUpdated"], metrics["numTargetRowsCopied"]) == ("10", "90"), metrics
    finally:
        s3.delete_prefix(silver.BUCKET, t.name + "/", s=source["s"])


def test_gold_revenue_equals_the_warehouse_mart(source, spark):
    """The same OLTP through two engines: Spark/Delta gold vs the dbt mart on Postgres."""
    from jornada import warehouse
    from jornada.db import connect

    warehouse.reset_warehouse(source["s"])
    warehouse.extract_snapshot(source["s"])
    warehouse.dbt("build")
    with connect("olap") as olap:
        mart = olap.execute("select ano_mes, categoria, pedidos, itens, qtde, receita, receita_fraude "
                            "from marts.receita_categoria_mes").fetchall()
    out = gold.build(spark, s=source["s"])
    assert out[gold.REVENUE]["rows"] == len(mart) > 0
    rows = silver.delta_table(gold.REVENUE, bucket=gold.BUCKET, s=source["s"]).to_pyarrow_table(
        columns=gold.REVENUE_COLUMNS).to_pylist()
    lake = {tuple(r[c] for c in gold.REVENUE_COLUMNS) for r in rows}
    assert lake == {tuple(r) for r in mart}
    # order features: one row per order, the order's UF as the warehouse's (both from jornada.geo)
    with connect("olap") as olap:
        # dbt's staging writes 'EX' (exterior) where jornada.geo says None (outside Brazil)
        uf = dict(olap.execute("select distinct id_pedido, nullif(uf_pedido, 'EX') "
                               "from marts.fato_pedidos").fetchall())
    features = silver.delta_table(gold.FEATURES, bucket=gold.BUCKET, s=source["s"]).to_pyarrow_table(
        columns=["id_pedido", "uf", "device_differs"]).to_pylist()
    with connect("oltp") as oltp:
        orders = {r[0] for r in oltp.execute("select id from pedidos")}
    assert sorted(r["id_pedido"] for r in features) == sorted(orders)
    assert {r["id_pedido"]: r["uf"] for r in features if r["id_pedido"] in uf} == uf
    assert any(r["device_differs"] for r in features)


def test_refresh_starts_from_a_snapshot_then_streams(source, spark):
    """`lake.refresh` on the course connector's topics, which still hold the events of earlier
    OLTP incarnations (the fixture re-created the tables): the first refresh loads silver from a
    snapshot and streams from the offsets before it; the next one only streams."""
    from jornada import lake
    from jornada.db import connect

    s = source["s"]
    assert silver.needs_snapshot(s) is not None
    first = lake.refresh(spark, s=s)
    assert "snapshot" in first and first["gate"]["problems"] == []
    assert silver.needs_snapshot(s) is None
    with connect("oltp") as conn:
        conn.execute("update pessoas set nome = 'Renomeada' where id = (select max(id) from pessoas)")
        conn.execute("delete from pedidos where id = (select max(id) from pedidos)")
        conn.commit()
    version = silver.delta_table("pessoas", s=s).version()
    second = lake.refresh(spark, s=s)
    assert "snapshot" not in second and second["bronze"]["events"] >= 2
    feed = (spark.read.format("delta").option("readChangeFeed", "true")
            .option("startingVersion", version + 1).load(silver.table_path("pessoas"))
            .where("_change_type = 'update_postimage'"))
    assert [r["nome"] for r in feed.collect()] == ["Renomeada"]
    for table, sides in silver.compare_content(s).items():
        assert sides["oltp"] == sides["silver"], table


def _silver_channels(s) -> dict:
    data = silver.delta_table("pedidos", s=s).to_pyarrow_table()
    if "canal" not in data.column_names:
        return {}
    return {r["id"]: r["canal"] for r in data.select(["id", "canal"]).to_pylist() if r["canal"] is not None}


def test_a_column_added_in_the_oltp_reaches_silver_through_cdc(source, spark):
    """`ALTER TABLE pedidos ADD COLUMN canal` while silver's stream runs (it started with the old
    columns): the next updates carry the field through Debezium and bronze (raw JSON) into silver —
    the catalogue read per batch, the MERGE with schema evolution — and silver equals the OLTP,
    the new column included. Dropped again upstream, silver keeps the column, values included,
    and stays equal to the OLTP over the OLTP's columns."""
    from jornada import cdc, lake
    from jornada.db import connect

    s = source["s"]
    lake.refresh(spark, s=s)                       # silver equal to the OLTP before the DDL
    query, _ = silver.start(spark, continuous=True, processing_time="2 seconds", s=s)
    try:
        with connect("oltp") as conn:
            conn.execute("alter table pedidos add column canal text")
            conn.execute("update pedidos set canal = case when id % 2 = 0 then 'app' else 'web' end "
                         "where id in (select id from pedidos order by id limit 6)")
            conn.commit()
            expected = dict(conn.execute("select id, canal from pedidos where canal is not null").fetchall())
        cdc.wait_for_capture(s=s)
        out = bronze.run(spark, s=s)
        query.processAllAvailable()                # silver's running stream has applied bronze's new commits
    finally:
        query.stop()
    assert out["rows"].get("pedidos") == len(expected) == 6
    events = silver.delta_table("pedidos", bucket=bronze.BUCKET, s=s).to_pyarrow_table(
        columns=["op", "after"]).to_pylist()
    assert sum(1 for e in events if e["op"] == "u" and '"canal":' in (e["after"] or "")) == 6
    assert _silver_channels(s) == expected
    assert set(expected.values()) == {"app", "web"}
    content = silver.compare_content(s)
    assert "canal" in silver.catalog(s, ["pedidos"])["pedidos"].column_names
    for table, sides in content.items():
        assert sides["oltp"] == sides["silver"], table

    # the column dropped upstream, one of those orders changed again: MERGE without the column
    changed = min(expected)
    with connect("oltp") as conn:
        conn.execute("alter table pedidos drop column canal")
        conn.execute("update pedidos set valor_total = valor_total + 1 where id = %s", (changed,))
        conn.commit()
    second = lake.refresh(spark, s=s)
    assert second["bronze"]["rows"].get("pedidos") == 1 and second["gate"]["problems"] == []
    for table, sides in silver.compare_content(s).items():
        assert sides["oltp"] == sides["silver"], table
    # silver keeps the column and its values, the changed order's too (UPDATE SET * without it)
    assert _silver_channels(s) == expected
