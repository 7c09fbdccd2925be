"""Warehouse and orchestration: dbt build time, warehouse freshness, memory of the native stack.

What is measured (issue 4):

* ``dbt_build`` — wall time of a full ``dbt build`` (staging views, SCD2 snapshot, dimensions,
  fact, marts and every data/unit test) over ``orders`` historical orders, then of an
  incremental ``dbt build`` with nothing new (what a 10-minute schedule pays when idle) and after
  1 % of the orders changed. The size is a parameter: ``make bench`` runs the default, the issue
  asks for 1 M once (``python -c "from benchmarks import bench_warehouse as b; print(b.run(orders=1_000_000))"``
  inside an isolated stack). The report states the size it ran.
* ``freshness`` — OLTP commit → row visible in the warehouse's raw tables, under the streaming
  generator (one transaction per order) with the CDC consumer following the topics
  (``apply_cdc(follow=True)``): an observer polls ``raw.pedidos`` and records when each new
  order appears; freshness = appearance − the order's ``created_at`` (set right before its
  transaction commits).
* ``memory`` — :meth:`Stack.rss_mb` of every service (whole process groups) right after ``up`` and
  after the ``liga_pipeline`` DAG ran through the real scheduler (goal ≤ 3 GB with Postgres ×2,
  Kafka, Connect and Airflow).

The benchmark resets the OLTP and the warehouse of the stack it runs against: the harness
(``python -m benchmarks``) gives it its own stack directory and Postgres ports; :func:`run`
picks free ports for Kafka, Connect and Airflow too, unless they are already set.
"""

from __future__ import annotations

import os
import socket
import statistics
import threading
import time
from datetime import datetime

NOW = datetime(2026, 1, 31, 12, 0, 0)
SERVICES = ["oltp", "olap", "kafka", "connect", "airflow"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _isolate_ports() -> None:
    from jornada.config import reload

    for key in ("KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "CONNECT_PORT", "AIRFLOW_PORT"):
        if key not in os.environ:
            os.environ[key] = str(_free_port())
    reload()


def _pss_mb(pid: int | None) -> float:
    """Proportional set size of a process tree: shared pages (Postgres' shared buffers, forked
    Airflow workers) are split between the processes that share them instead of counted in each."""
    import psutil

    if not pid:
        return 0.0
    total = 0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for p in procs:
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total / 1024 / 1024


def _rss(st) -> dict:
    """Stack.rss_mb() (RSS summed per process group: what the goal is stated in) and PSS."""
    per = {k: round(v, 1) for k, v in st.rss_mb().items()}
    pss = {svc.name: round(_pss_mb(st.running_pid(svc)), 1) for svc in st.select(None)}
    return {"per_service_mb": per, "total_mb": round(sum(per.values()), 1),
            "pss_per_service_mb": pss, "pss_total_mb": round(sum(pss.values()), 1)}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure_freshness(rate: float = 20.0, seconds: float = 30.0, seed: int = 3) -> dict:
    """Stream orders at ``rate``/s for ``seconds`` while the CDC consumer follows the topics."""
    from jornada import generators, warehouse
    from jornada.db import connect

    stop = threading.Event()
    errors: list[BaseException] = []
    seen: dict[int, float] = {}
    with connect("olap") as olap:
        last_id = olap.execute("select coalesce(max(id), 0) from raw.pedidos").fetchone()[0]

    def follower():
        try:
            warehouse.apply_cdc(follow=True, stop=stop, max_seconds=seconds + 120)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def observer():
        nonlocal last_id
        with connect("olap", autocommit=True) as olap:
            while not stop.is_set():
                rows = olap.execute("select id from raw.pedidos where id > %s", (last_id,)).fetchall()
                t = time.time()
                for (oid,) in rows:
                    seen.setdefault(oid, t)
                    last_id = max(last_id, oid)
                time.sleep(0.02)

    threads = [threading.Thread(target=follower, daemon=True), threading.Thread(target=observer, daemon=True)]
    for th in threads:
        th.start()
    time.sleep(2)   # the consumer is assigned and waiting
    start_id = last_id
    stream = generators.run_stream(rate=rate, duration=seconds, seed=seed, progress=False)
    deadline = time.time() + 60
    with connect("oltp") as oltp:
        created = dict(oltp.execute("select id, extract(epoch from created_at) from pedidos where id > %s",
                                    (start_id,)).fetchall())
    while time.time() < deadline and not all(i in seen for i in created):
        time.sleep(0.2)
    stop.set()
    for th in threads:
        th.join(timeout=30)
    lags = [seen[i] - float(c) for i, c in created.items() if i in seen]
    return {
        "stream_orders": stream.get("orders"), "rate_per_s": rate, "seconds": seconds,
        "observed": len(lags), "missing": len(created) - len(lags),
        "p50_s": round(_percentile(lags, 0.5), 3), "p95_s": round(_percentile(lags, 0.95), 3),
        "max_s": round(max(lags), 3) if lags else None,
        "mean_s": round(statistics.fmean(lags), 3) if lags else None,
        "consumer_errors": [repr(e) for e in errors],
        "path": "OLTP commit → WAL → Debezium → Kafka → apply_cdc (kafka-python) → raw.pedidos",
    }


def run(orders: int = 100_000, customers: int | None = None, seed: int = 7,
        stream_rate: float = 20.0, stream_seconds: float = 30.0, pipeline_orders: int = 1_000) -> dict:
    from jornada import cdc, generators, warehouse
    from jornada.schema import init_oltp
    from jornada.services import stack
    from jornada.stack.airflow import AirflowApi

    _isolate_ports()
    customers = customers or max(200, orders // 20)
    st = stack()
    t0 = time.monotonic()
    st.up(SERVICES, log=lambda m: None)
    out: dict = {"size": {"orders": orders, "customers": customers},
                 "stack_up_s": round(time.monotonic() - t0, 1),
                 "memory_after_up": _rss(st)}

    # the data
    init_oltp(reset=True)
    cdc.ensure_capture(log=lambda m: None, wait=True)
    warehouse.reset_warehouse()
    generators.load_customers(customers, seed=seed, now=NOW)
    hist = generators.load_history(orders, seed=seed, now=NOW, progress=False)
    out["history_load_s"] = hist["seconds"]
    t = time.monotonic()
    cdc.wait_for_capture(timeout_s=3600)     # Debezium publishes the history's events
    out["cdc_backlog_s"] = round(time.monotonic() - t, 1)
    snap = warehouse.extract_snapshot()
    out["snapshot"] = {"seconds": snap["seconds"], "rows": snap["rows"]}

    # dbt
    full = warehouse.dbt("build")
    idle = warehouse.dbt("build")
    from jornada.db import connect

    with connect("oltp") as oltp:   # 1 % of the orders change (a quantity fix, total kept right)
        n = max(1, orders // 100)
        oltp.execute("update itens_pedidos i set qtde = qtde + 1, valor_total = valor_unit * (qtde + 1) "
                     "where id_pedido in (select id from pedidos order by id desc limit %s)", (n,))
        oltp.execute("update pedidos p set valor_total = (select sum(valor_total) from itens_pedidos i "
                     "where i.id_pedido = p.id) where id in (select id from pedidos order by id desc limit %s)", (n,))
        oltp.commit()
    applied = warehouse.apply_cdc(max_seconds=600)
    changed = warehouse.dbt("build")
    out["dbt_build"] = {
        "orders": orders,
        "full_s": full.seconds, "incremental_nothing_new_s": idle.seconds,
        "incremental_1pct_changed_s": changed.seconds, "cdc_apply_1pct_s": applied["seconds"],
        "nodes": full.summary(),
        "slowest": sorted(({"node": r["unique_id"].split(".")[-1], "s": round(r["seconds"] or 0, 2)}
                           for r in full.results), key=lambda r: -r["s"])[:6],
    }
    out["quality_gate"] = not warehouse.quality_gate(check_fact=True, max_age_s=7200)["problems"]

    # freshness under the stream
    out["freshness"] = measure_freshness(rate=stream_rate, seconds=stream_seconds)
    warehouse.apply_cdc(max_seconds=300)

    # the pipeline DAG through the real scheduler, then memory again
    api = AirflowApi()
    api.wait_dag("liga_pipeline", timeout_s=180)
    api.unpause("liga_pipeline")
    t = time.monotonic()
    dag_run = api.trigger("liga_pipeline", {"customers": 20, "orders": pipeline_orders})
    final = api.wait_run("liga_pipeline", dag_run["dag_run_id"], timeout_s=3600)
    out["pipeline_dag"] = {"state": final["state"], "seconds": round(time.monotonic() - t, 1),
                           "tasks": api.task_states("liga_pipeline", dag_run["dag_run_id"])}
    out["memory_after_pipeline"] = _rss(st)
    out["memory_goal_mb"] = 3072
    out["memory_goal_met"] = out["memory_after_pipeline"]["total_mb"] <= 3072
    return out


if __name__ == "__main__":
    import json
    import sys

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps(run(orders=size), indent=2, default=str))
