"""Shared pieces of the Liga Sudoers DAGs (dags/): assets, default arguments, small task bodies.

This module lives in the course library, not in dags/: Airflow's DAG processor parses every
Python file of the DAG folder every 30 s looking for DAGs, and a helper module there is parsed
(and reported in the UI) like one. Here it is an ordinary import — ``from jornada.orchestration
import …`` — for the DAG files, the tests and the notebooks alike; every Airflow process already
imports the ``jornada`` package (the tasks run jornada.warehouse, jornada.cdc, …).

Module level stays import-light, because each DAG file imports it at parse time: no pandas, no
database connection; everything heavy is imported inside the functions. The real work lives in
the course library (jornada.generators, jornada.cdc, jornada.warehouse), so the same code runs
from a notebook, the CLI, a test or a task.
"""

from __future__ import annotations

from datetime import datetime, timedelta, UTC

from airflow.sdk import Asset

from .config import PostgresEndpoint, settings


def postgres_asset_uri(endpoint: PostgresEndpoint, schema: str, table: str) -> str:
    """``postgres://host:port/database/schema/table`` — the form Airflow's Postgres assets use —
    of a table on one of the course's databases, from the settings (.env / environment), so the
    URI names the server the DAGs really use: 127.0.0.1:<port> natively, oltp:5432 in compose."""
    return f"postgres://{endpoint.host}:{endpoint.port}/{endpoint.dbname}/{schema}/{table}"


# Data-aware scheduling (Airflow 3 "assets"): a task that declares an asset as an outlet emits
# an event when it succeeds; DAGs scheduled on that asset run after it. DAGs refer to an asset by
# its name; the URI says where the data is.
_s = settings()
OLTP_PEDIDOS = Asset(name="oltp_pedidos", uri=postgres_asset_uri(_s.oltp, "public", "pedidos"),
                     group="liga_sudoers")
WAREHOUSE_RAW = Asset(name="warehouse_raw", uri=postgres_asset_uri(_s.olap, "raw", "pedidos"),
                      group="liga_sudoers")
WAREHOUSE_MARTS = Asset(name="warehouse_marts", uri=postgres_asset_uri(_s.olap, "marts", "fato_pedidos"),
                        group="liga_sudoers")
# the lakehouse's tables are folders of the S3 store (s3a://silver/pedidos …)
LAKE_SILVER = Asset(name="lake_silver", uri="s3://silver/pedidos", group="liga_sudoers")
LAKE_GOLD = Asset(name="lake_gold", uri="s3://gold/revenue_by_category_month", group="liga_sudoers")
del _s

START = datetime(2026, 1, 1, tzinfo=UTC)

DEFAULT_ARGS = {
    "owner": "liga_sudoers",
    # transient trouble (a service restarting, a lock timeout) is retried; a failing data test is
    # not transient — dbt_build and the quality gates set retries=0 themselves
    "retries": 2,
    "retry_delay": timedelta(seconds=10),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(minutes=30),
}


def log(message: str) -> None:
    print(message, flush=True)


def generate_history(customers: int, orders: int, seed: int, now: str | None,
                     reset: bool = False) -> dict:
    """Customers, then back-dated orders for them (bulk COPY, one transaction each)."""
    from jornada import generators, schema

    when = datetime.fromisoformat(now) if now else datetime.now(UTC)
    out: dict = {"now": when.isoformat(), "seed": seed}
    if reset:
        # dropping the tables also drops them from the CDC publication: init_oltp puts the
        # capture set-up back; the warehouse's next load notices and takes a snapshot
        out["reset"] = schema.init_oltp(reset=True)
    else:
        schema.init_oltp()
    if customers:
        out["customers"] = generators.load_customers(customers, seed=seed, now=when)
    if orders:
        out["history"] = generators.load_history(orders, seed=seed, now=when, progress=False)
    out["counts"] = schema.table_counts()
    log(f"history load: {out}")
    return out


def ensure_cdc(wait: bool = True) -> dict:
    """Postgres side + connector registered (idempotent); raises when Connect/Kafka are down."""
    from jornada import cdc

    report = cdc.ensure_capture(log=log, wait=wait, timeout_s=90)
    return {name: {"connector": r["connector"], "publication": r["postgres"]["publication"]}
            for name, r in report.items()}


def cdc_status(max_lag_mb: float = 256) -> dict:
    """Connector and task RUNNING, publication complete, slot active and not falling behind."""
    from jornada import cdc

    st = cdc.status()
    problems = list(st["problems"])
    slot = st.get("slot") or {}
    if slot and slot.get("lag_bytes") is not None and slot["lag_bytes"] > max_lag_mb * 2**20:
        problems.append(f"replication slot {slot['slot_name']} is {slot['lag_bytes'] / 2**20:.0f} MiB "
                        f"behind (limit {max_lag_mb} MiB): is the connector consuming?")
    summary = {"connector": (st.get("status") or {}).get("connector"),
               "tasks": [t["state"] for t in (st.get("status") or {}).get("tasks", [])],
               "slot_active": slot.get("active"), "slot_lag_bytes": slot.get("lag_bytes"),
               "problems": problems}
    log(f"cdc status: {summary}")
    if problems:
        raise RuntimeError("CDC is not healthy:\n  " + "\n  ".join(problems))
    return summary


def load_warehouse(mode: str = "auto") -> dict:
    """Raw mirror ← OLTP: apply the CDC stream (snapshot when it cannot), or force a snapshot."""
    from jornada import warehouse

    if mode == "snapshot":
        out = {"mode": "snapshot", **warehouse.extract_snapshot(log=log)}
    else:
        out = warehouse.load(log=log)
    log(f"warehouse load: {out}")
    return _jsonable(out)


def dbt_build(select: str | None = None, full_refresh: bool = False) -> dict:
    """`dbt build` (models, snapshot, data tests, unit tests); any failing test fails the task."""
    from jornada import warehouse

    args = ["build"]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    result = warehouse.dbt(*args, echo=log)
    return {"seconds": result.seconds, "summary": result.summary()}


def quality_gate(check_fact: bool, max_age_s: float = 3600) -> dict:
    from jornada import warehouse

    report = warehouse.quality_gate(check_fact=check_fact, max_age_s=max_age_s)
    log(f"quality gate passed: {report}")
    return _jsonable(report)


def lake_stage(stage: str) -> dict:
    """One stage of the lakehouse refresh in its own Spark session (each Airflow task is a
    process of its own): ``bronze`` / ``silver`` catch up (availableNow) and stop, ``gold``
    rebuilds its tables."""
    from jornada import cdc, lake
    from jornada.lake import bronze, gold, silver
    from jornada.lake.spark import spark_session

    lake.preflight(needs=("s3",) if stage == "gold" else ("s3", "kafka", "oltp"))
    out: dict = {}
    if stage == "bronze":  # the cut-off: every change committed so far is in Kafka
        out["capture_wait_s"] = round(cdc.wait_for_capture(), 2)
    spark = spark_session(f"lake-{stage}")
    try:
        if stage == "gold":
            out.update(gold.build(spark))
        else:
            why = silver.needs_snapshot() if stage == "bronze" else None
            if why:   # first run, or the OLTP was re-created: start from a consistent copy
                log(f"lake: {why} — loading silver from a snapshot")
                out["snapshot"] = silver.snapshot(spark, log=log)
            out.update({"bronze": bronze.run, "silver": silver.run}[stage](spark, log=log))
    finally:
        spark.stop()
    log(f"lake {stage}: {out}")
    return _jsonable(out)


def lake_gate() -> dict:
    """Silver holds exactly the OLTP's rows, table by table (delta-rs: no Spark session)."""
    from jornada.lake import silver

    report = silver.quality_gate()
    log(f"lake gate passed: {report}")
    return _jsonable(report)


def lake_refresh_tasks():
    """The refresh as four chained tasks (call inside a @dag function): lake_bronze →
    lake_silver → lake_gate → lake_gold. Returns (first, last) to chain them into a DAG."""
    from airflow.sdk import task

    @task
    def lake_bronze() -> dict:
        return lake_stage("bronze")

    @task(outlets=[LAKE_SILVER])
    def lake_silver() -> dict:
        return lake_stage("silver")

    @task(retries=0)   # a count mismatch is not transient: gold does not build on it
    def lake_gate_task() -> dict:
        return lake_gate()

    @task(retries=0, outlets=[LAKE_GOLD])
    def lake_gold() -> dict:
        return lake_stage("gold")

    first, last = lake_bronze(), lake_gold()
    first >> lake_silver() >> lake_gate_task.override(task_id="lake_gate")() >> last
    return first, last


def _jsonable(obj):
    """XCom values must be JSON: decimals/datetimes become strings."""
    import json

    return json.loads(json.dumps(obj, default=str))
