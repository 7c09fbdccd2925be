"""lake_refresh — the lakehouse from the CDC topics: bronze catch-up (Structured Streaming,
trigger availableNow: every event in Kafka now, then stop) → silver (MERGE of the latest change
per key, LSN-guarded) → quality gate (silver's row counts equal the OLTP's: gold does not build
on incomplete data) → gold (revenue by category × month, rebuilt). Each stage is a Spark
session of its own (local[2], 1 GB driver). Runs every 30 minutes and after each warehouse load
(the same moment the OLTP is known to have moved); liga_pipeline runs the same tasks."""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag

from jornada.orchestration import DEFAULT_ARGS, START, WAREHOUSE_RAW, lake_refresh_tasks


@dag(
    dag_id="lake_refresh",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/30 * * * *", timezone="UTC"),
                                 assets=[WAREHOUSE_RAW]),
    start_date=START,
    catchup=False,
    max_active_runs=1,   # Delta's S3 log store: one writing driver per table
    default_args=DEFAULT_ARGS,
    tags=["liga_sudoers", "lakehouse", "lesson-06"],
    doc_md=__doc__,
)
def lake_refresh():
    lake_refresh_tasks()


lake_refresh()
