"""liga_pipeline — the whole path from shop to marts in one DAG, with quality gates:

    cdc_healthy → generate_history ┬→ load_warehouse → gate_raw → dbt_build → gate_marts
                                   └→ lakehouse? → lake_bronze → lake_silver → lake_gate → lake_gold

* retries with exponential back-off on the steps that touch services (a restart, a lock);
* gate_raw: the raw mirror has exactly the OLTP's rows and revenue, loaded recently — otherwise
  dbt does not run on incomplete data;
* dbt_build: a failing dbt test fails the run (no retry: data does not fix itself);
* gate_marts: the fact's revenue reconciles with the OLTP's;
* the lakehouse branch is the lake_refresh DAG's tasks (CDC topics → bronze → silver → gold),
  its gate: silver's row counts equal the OLTP's. Both branches read the same changes (Kafka,
  the OLTP), neither reads the other's output, so they run side by side. The `lakehouse` param
  (default on) skips that branch: lesson 05 runs the pipeline before lesson 06 builds the lake.
The gates compare counts, so they expect a quiet OLTP (no stream running) — lesson 05 discusses
gates under a live stream. Paused at creation; trigger it from the UI or the REST API."""

from __future__ import annotations

from airflow.sdk import Param, chain, dag, task

from jornada.orchestration import (DEFAULT_ARGS, START, WAREHOUSE_MARTS, cdc_status, dbt_build,
                                   ensure_cdc, generate_history, lake_refresh_tasks, load_warehouse,
                                   quality_gate)


@dag(
    dag_id="liga_pipeline",
    # triggered (UI, REST API, `airflow dags trigger`); the unattended path is the asset chain
    # history_load → warehouse_load → dbt_build and the cron schedules of cdc_check/warehouse_load
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["liga_sudoers", "pipeline", "lesson-05"],
    params={
        "customers": Param(50, type="integer", minimum=0, description="new customers per run"),
        "orders": Param(500, type="integer", minimum=0,
                        description="historical orders per run (0 = only move existing data)"),
        "seed": Param(None, type=["null", "integer"], description="default: from the logical date"),
        "now": Param(None, type=["null", "string"],
                     description="reference now of the generated history (ISO); default: the logical date"),
        "lakehouse": Param(True, type="boolean", description="also refresh the lakehouse (bronze → gold)"),
    },
    doc_md=__doc__,
)
def liga_pipeline():
    @task
    def cdc_healthy() -> dict:
        ensure_cdc(wait=True)
        return cdc_status()

    @task
    def generate(params=None, logical_date=None) -> dict:
        seed = params["seed"]
        if seed is None:
            seed = int(logical_date.timestamp()) % 2**31 if logical_date else 0
        # a run triggered "now" has the wall clock as its logical date: a course run passes its
        # reference now, or the same seed would give other orders on another day
        now = params.get("now") or (logical_date.isoformat() if logical_date else None)
        out = generate_history(params["customers"], params["orders"], seed, now)
        return {"counts": out["counts"], "seed": seed}

    @task
    def load() -> dict:
        return load_warehouse("auto")

    @task(retries=0)
    def gate_raw() -> dict:
        return quality_gate(check_fact=False)

    @task(retries=0, outlets=[WAREHOUSE_MARTS])
    def build() -> dict:
        return dbt_build()

    @task(retries=0)
    def gate_marts() -> dict:
        return quality_gate(check_fact=True)

    @task.short_circuit
    def lakehouse(params=None) -> bool:
        return bool(params["lakehouse"])

    generated = generate()
    chain(cdc_healthy(), generated, load(), gate_raw(), build(), gate_marts())
    lake_first, _ = lake_refresh_tasks()
    generated >> lakehouse() >> lake_first


liga_pipeline()
