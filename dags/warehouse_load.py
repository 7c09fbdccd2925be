"""warehouse_load — bring the OLTP's changes into the warehouse's raw mirror: apply Debezium's
change events (inserts, updates, deletes) from Kafka; take a consistent COPY snapshot instead
when the stream cannot continue the mirror. Runs every 10 minutes AND right after a history load
(an asset event), then emits `warehouse_raw` so dbt_build follows."""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from jornada.orchestration import DEFAULT_ARGS, OLTP_PEDIDOS, START, WAREHOUSE_RAW, load_warehouse


@dag(
    dag_id="warehouse_load",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/10 * * * *", timezone="UTC"),
                                 assets=[OLTP_PEDIDOS]),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["liga_sudoers", "warehouse", "lesson-05"],
    params={"mode": Param("auto", enum=["auto", "snapshot"],
                          description="auto: CDC, snapshot if needed; snapshot: full COPY")},
    doc_md=__doc__,
)
def warehouse_load():
    @task(outlets=[WAREHOUSE_RAW])
    def load(params=None) -> dict:
        return load_warehouse(params["mode"])

    load()


warehouse_load()
