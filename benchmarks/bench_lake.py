"""The lakehouse: bronze ingest vs kcat, silver MERGE, gold build, Spark start, freshness, growth.

* **Backlog**: ``orders`` historical orders bulk-loaded into a fresh OLTP, captured by Debezium
  (≈ 4.4 CDC events per order: order, items, audit row, some labels and customers). Bronze
  ingests the whole backlog with ``availableNow``; in the same run ``kcat`` reads the same topics
  to the end (its rate is the limit a JVM consumer cannot beat by much) — the ratio is reported.
* **Silver MERGE**: the whole backlog in one run, then a batch that changes 1 % of the orders.
* **Gold**: :func:`jornada.lake.gold.build` (revenue by category × month + order features).
* **Spark session start**: ``spark_session()`` until the first job ran.
* **Freshness**: bronze and silver run continuously (processingTime 5 s) in one session while the
  streaming generator writes ``rate`` orders/s for ``seconds``; latency of each order = the
  commit timestamp of the silver version that inserted it (Delta's change feed
  ``_commit_timestamp``) − its commit time in Postgres (``_source_ts``, from the WAL). Goal
  p99 < 10 s, 0 missing. Both in one query (:func:`jornada.lake.silver.start_with_bronze`), and
  the first hop alone (commit → the bronze batch that holds the order) reported beside it;
  ``one_query=False`` measures two queries (bronze, then silver streaming from bronze).
* **Cost growth**: the backlog pipeline (bronze + silver + gold) at two sizes; goal ≤ 12× the
  time for 10× the data. The issue asks for 100 k and 1 M orders; the default sizes are smaller
  so the suite finishes on a shared 2-core machine — pass ``growth_sizes`` to run those.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime

NOW = datetime(2026, 1, 31, 12, 0, 0)
GOAL_FRESHNESS_P99_S = 10
GOAL_GROWTH = 12
S3_PORT_KEYS = ("S3_PORT", "SEAWEEDFS_MASTER_PORT", "SEAWEEDFS_MASTER_GRPC_PORT",
                "SEAWEEDFS_VOLUME_PORT", "SEAWEEDFS_VOLUME_GRPC_PORT", "SEAWEEDFS_FILER_PORT",
                "SEAWEEDFS_FILER_GRPC_PORT", "SEAWEEDFS_S3_GRPC_PORT", "MINIO_CONSOLE_PORT")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stack_for_lake(log):
    """OLTP, Kafka, Connect (bench_cdc's rules) and S3 on this stack; the store's ports moved
    aside when someone else's S3 holds them."""
    import os

    from jornada.config import reload
    from jornada.stack.runtime import port_open

    from .bench_cdc import _free_port, _stack_for_cdc

    st, started = _stack_for_cdc(log)
    if st.running_pid(st.services["s3"]) is None and port_open(st.settings.s3_port):
        for key in S3_PORT_KEYS:
            os.environ[key] = str(_free_port())
        from jornada.services import stack

        st = stack(reload())
    if st.running_pid(st.services["s3"]) is None:
        t0 = time.monotonic()
        st.up(["s3"], log=log)
        started["s3"] = round(time.monotonic() - t0, 1)
    return st, started


def _percentiles(values: list[float]) -> dict:
    import numpy as np

    if not values:
        return {"p50": None, "p99": None, "max": None}
    return {"p50": round(float(np.percentile(values, 50)), 2),
            "p99": round(float(np.percentile(values, 99)), 2), "max": round(max(values), 2)}


def kcat_rate(topics: list[str], s) -> dict:
    """Events/s at which kcat reads the topics from the beginning to their current end."""
    if not shutil.which("kcat"):
        return {"error": "kcat not on PATH"}
    total, t0 = 0, time.monotonic()
    for topic in topics:
        proc = subprocess.run(["kcat", "-b", s.kafka_bootstrap, "-C", "-t", topic, "-o", "beginning",
                               "-e", "-q", "-f", "%o\n"], capture_output=True, text=True, timeout=1800)
        total += proc.stdout.count("\n")
    seconds = time.monotonic() - t0
    return {"events": total, "seconds": round(seconds, 2), "events_per_s": round(total / seconds)}


def _backlog(orders: int, seed: int) -> dict:
    """A fresh OLTP with ``orders`` orders; ``starting_offsets``: where its events begin in the
    topics (earlier runs' events stay in them)."""
    from jornada import cdc, generators, kafka, schema
    from jornada.lake import bronze

    # the 1 M orders are ≈ 3 GB of item events: over the broker's 1 GiB per partition
    kafka.set_retention_bytes(bronze.topics(), -1)
    starting = kafka.starting_offsets(bronze.topics())
    schema.init_oltp(reset=True)
    cdc.ensure_capture(log=lambda m: None, wait=True)
    generators.load_customers(max(orders // 10, 10), seed=seed, now=NOW)
    generators.load_history(orders, seed=seed, now=NOW, progress=False)
    waited = cdc.wait_for_capture(timeout_s=1800)
    return {"orders": orders, "oltp_rows": schema.table_counts(), "capture_wait_s": round(waited, 1),
            "starting_offsets": starting}


def _pipeline(spark, s, starting_offsets: dict) -> dict:
    """Bronze → silver → gold from a fresh lake over the whole backlog; seconds of each."""
    from jornada.lake import bronze, gold, silver

    bronze.reset(s)
    silver.reset(s)
    bronze.write_state({"identity": silver.source_identity(s), "starting_offsets": starting_offsets}, s)
    b = bronze.run(spark, s=s)
    sv = silver.run(spark, s=s)
    g = gold.build(spark, s=s)
    return {"bronze": b, "silver": sv, "gold": g,
            "seconds": round(b["seconds"] + sv["seconds"] + sum(t["seconds"] for t in g.values()), 2)}


def _one_percent_batch(spark, s) -> dict:
    """Update 1 % of the orders, capture, then time bronze and silver on just that batch."""
    from jornada import cdc
    from jornada.db import connect
    from jornada.lake import bronze, silver

    with connect(s.oltp) as conn:
        changed = conn.execute("update pedidos set valor_total = valor_total where id % 100 = 0").rowcount
        conn.commit()
    cdc.wait_for_capture(timeout_s=600)
    b = bronze.run(spark, s=s)
    sv = silver.run(spark, s=s)
    return {"orders_changed": changed, "bronze_seconds": b["seconds"], "events": b["events"],
            "silver_merge_seconds": sv["seconds"]}


def freshness(spark, s, rate: float = 100, seconds: float = 60, seed: int = 31,
              drain_s: float = 120, one_query: bool = True) -> dict:
    """OLTP commit → row in silver while both streams run continuously (see the docstring)."""
    from jornada import generators
    from jornada.db import scalar
    from jornada.lake import bronze, silver

    first_new = scalar("select coalesce(max(id), 0) from pedidos") + 1
    start_version = silver.delta_table("pedidos", s=s).version() + 1
    if one_query:   # each batch's events and seconds logged
        queries = [silver.start_with_bronze(spark, s=s, log=_log)[0]]
    else:
        queries = [bronze.start(spark, continuous=True, s=s, log=_log)[0],
                   silver.start(spark, continuous=True, s=s, log=_log)[0]]
    result: dict = {}

    def write():
        result.update(generators.run_stream(rate=rate, duration=seconds, seed=seed, progress=False))

    writer = threading.Thread(target=write, daemon=True)
    try:
        time.sleep(10)   # both queries running their first batches
        writer.start()
        writer.join(seconds + 120)
        written = scalar("select count(*) from pedidos where id >= %s", (first_new,))
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline:
            have = scalar_silver_new(s, first_new)
            if have >= written:
                break
            time.sleep(2)
    finally:
        for query in queries:
            query.stop()
    feed = (spark.read.format("delta").option("readChangeFeed", "true")
            .option("startingVersion", start_version).load(silver.table_path("pedidos"))
            .where(f"_change_type = 'insert' AND id >= {first_new}")
            .selectExpr("id", "CAST(_commit_timestamp AS DOUBLE) - CAST(_source_ts AS DOUBLE) AS lag_s")
            .collect())
    lags = {r["id"]: r["lag_s"] for r in feed}
    values = list(lags.values())
    p = _percentiles(values)
    # the first hop alone: commit → the bronze batch that wrote the order's insert event
    to_bronze = (spark.read.format("delta").load(bronze.table_path("pedidos"))
                 .where(f"op = 'c' AND get_json_object(after, '$.id') >= {first_new}")
                 .selectExpr("CAST(ingested_at AS DOUBLE) - CAST(source_ts AS DOUBLE) AS lag_s")
                 .collect())
    return {"queries": "bronze+silver in one" if one_query else "bronze, then silver",
            "target_orders_per_s": rate, "seconds": seconds, "orders_written": written,
            "achieved_orders_per_s": result.get("orders_per_s"), "in_silver": len(lags),
            "missing": written - len(lags), "latency_s": p,
            "commit_to_bronze_s": _percentiles([r["lag_s"] for r in to_bronze]), "goal_p99_s": GOAL_FRESHNESS_P99_S,
            "goal_met": p["p99"] is not None and p["p99"] < GOAL_FRESHNESS_P99_S
                        and written == len(lags)}


def scalar_silver_new(s, first_new: int) -> int:
    """Orders with id ≥ first_new in silver now (delta-rs: no Spark job in the way)."""
    import pyarrow.compute as pc

    from jornada.lake import silver

    ids = silver.delta_table("pedidos", s=s).to_pyarrow_table(columns=["id"]).column("id")
    return int(pc.sum(pc.greater_equal(ids, first_new)).as_py() or 0)


def run(orders: int = 20_000, growth_sizes: tuple[int, int] = (2_000, 20_000), rate: float = 100,
        seconds: float = 60, seed: int = 31, driver_memory: str | None = None, log=None) -> dict:
    """The lake suite of `make bench` (``driver_memory``: e.g. "6g" for the issue's 1 M orders)."""
    from jornada.lake import bronze
    from jornada.lake.spark import spark_session

    log = log or _log
    st, started = _stack_for_lake(log)
    s = st.settings
    out: dict = {"start_seconds": started, "backlog_orders": orders}
    try:
        out["backlog"] = _backlog(orders, seed)
        topics = list(bronze.topics())
        out["kcat"] = kcat_rate(topics, s)
        t0 = time.monotonic()
        conf = {"spark.driver.memory": driver_memory} if driver_memory else None
        spark = spark_session("bench-lake", s=s, conf=conf)
        spark.range(1).count()
        out["spark_session_start_s"] = round(time.monotonic() - t0, 2)
        try:
            full = _pipeline(spark, s, out["backlog"].pop("starting_offsets"))
            events = full["bronze"]["events"]
            out["bronze_ingest"] = {"events": events, "seconds": full["bronze"]["seconds"],
                                    "events_per_s": round(events / full["bronze"]["seconds"])}
            if out["kcat"].get("events_per_s"):
                out["bronze_vs_kcat"] = round(out["bronze_ingest"]["events_per_s"]
                                              / out["kcat"]["events_per_s"], 4)
            out["silver_merge_backlog_s"] = full["silver"]["seconds"]
            out["gold_build_s"] = {k: v["seconds"] for k, v in full["gold"].items()}
            log(f"lake backlog: {json.dumps({k: out[k] for k in ('kcat', 'bronze_ingest', 'silver_merge_backlog_s', 'gold_build_s') if k in out}, default=str)}")
            out["one_percent_batch"] = _one_percent_batch(spark, s)
            log(f"lake 1 % batch: {json.dumps(out['one_percent_batch'])}")
            out["freshness"] = freshness(spark, s, rate=rate, seconds=seconds, seed=seed + 1)
            log(f"lake freshness: {json.dumps(out['freshness'], default=str)}")
            growth = {}
            for size in growth_sizes:
                log(f"lake growth: {size} orders …")
                backlog = _backlog(size, seed + 2)
                growth[size] = _pipeline(spark, s, backlog["starting_offsets"])["seconds"]
                log(f"lake growth: {size} orders in {growth[size]} s")
            small, large = growth_sizes
            ratio = growth[large] / growth[small] if growth[small] else None
            out["cost_growth"] = {"seconds": growth, "data_ratio": large / small,
                                  "time_ratio": round(ratio, 2) if ratio else None,
                                  "goal_time_ratio_for_10x": GOAL_GROWTH,
                                  "goal_met": ratio is not None and ratio <= GOAL_GROWTH * (large / small) / 10}
        finally:
            spark.stop()
        out["rss_mb"] = {k: round(v) for k, v in st.rss_mb().items()}
    finally:
        from jornada import kafka

        kafka.set_retention_bytes(bronze.topics(), None)
        for name in ("s3", "connect", "kafka"):
            if name in started:
                st.down([name], log=log)
    return out


def main(argv: list[str] | None = None) -> None:
    """python -m benchmarks.bench_lake --orders 230000 --growth 100000 1000000 --driver-memory 6g
    (the issue's sizes: a backlog of ≥ 1 M CDC events, growth from 100 k to 1 M orders)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_lake")
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--growth", type=int, nargs=2, default=(2_000, 20_000))
    parser.add_argument("--driver-memory", default=None)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.orders, tuple(args.growth), driver_memory=args.driver_memory),
                     indent=2, default=str))


if __name__ == "__main__":
    main()
