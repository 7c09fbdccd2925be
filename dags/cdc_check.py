"""cdc_check — is change data capture healthy? Registers the Debezium connector (and repairs the
OLTP publication) when needed, then checks connector/task state and replication-slot lag.
Every 15 minutes: an idle or failed connector pins WAL on the OLTP until its disk fills."""

from __future__ import annotations

from airflow.sdk import dag, task

from jornada.orchestration import DEFAULT_ARGS, START, cdc_status, ensure_cdc


@dag(
    dag_id="cdc_check",
    schedule="*/15 * * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["liga_sudoers", "cdc", "lesson-05"],
    doc_md=__doc__,
)
def cdc_check():
    @task
    def register() -> dict:
        return ensure_cdc(wait=True)

    @task(retries=0)
    def check(registered: dict) -> dict:
        return cdc_status()

    check(register())


cdc_check()
