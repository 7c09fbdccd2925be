"""dbt_build — build and test the star schema: `dbt build` runs staging models, the SCD2
snapshot, dimensions, the incremental fact and the marts, each followed by its tests (data tests
and unit tests). A failing test fails the task — and everything downstream of it is skipped, so
bad data never reaches the marts. Then `dbt docs generate`. Runs after every warehouse load."""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from jornada.orchestration import DEFAULT_ARGS, START, WAREHOUSE_MARTS, WAREHOUSE_RAW
from jornada.orchestration import dbt_build as run_dbt_build


@dag(
    dag_id="dbt_build",
    schedule=[WAREHOUSE_RAW],
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["liga_sudoers", "dbt", "lesson-05"],
    params={"select": Param(None, type=["null", "string"], description="dbt --select (default: all)"),
            "full_refresh": Param(False, type="boolean", description="rebuild incremental models")},
    doc_md=__doc__,
)
def dbt_build():
    @task(retries=0, outlets=[WAREHOUSE_MARTS])
    def build(params=None) -> dict:
        return run_dbt_build(params["select"], params["full_refresh"])

    @task(retries=1)
    def docs(built: dict) -> str:
        from jornada import warehouse

        warehouse.dbt("docs", "generate")
        return str(warehouse.dbt_env()["DBT_TARGET_PATH"])

    docs(build())


dbt_build()
