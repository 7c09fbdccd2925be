"""history_load — fill the OLTP: new customers, then back-dated orders for them (lesson 02's
bulk generator, scheduled). Manual trigger only; parameters in the trigger form (UI) or
`airflow dags trigger history_load --conf '{"orders": 5000}'`."""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from jornada.orchestration import DEFAULT_ARGS, OLTP_PEDIDOS, START, generate_history


@dag(
    dag_id="history_load",
    schedule=None,
    start_date=START,
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["liga_sudoers", "oltp", "lesson-05"],
    params={
        "customers": Param(200, type="integer", minimum=0, description="new customers"),
        "orders": Param(2000, type="integer", minimum=0, description="historical orders"),
        "seed": Param(0, type="integer", description="same seed + same now = same data"),
        "now": Param(None, type=["null", "string"],
                     description="reference 'now' (ISO date-time); default: the run's logical date"),
        "reset": Param(False, type="boolean", description="DROP and recreate the OLTP first"),
    },
    doc_md=__doc__,
)
def history_load():
    @task(outlets=[OLTP_PEDIDOS])
    def generate(params=None, logical_date=None) -> dict:
        now = params["now"] or (logical_date.isoformat() if logical_date else None)
        out = generate_history(params["customers"], params["orders"], params["seed"], now,
                               reset=params["reset"])
        return {"counts": out["counts"], "now": out["now"]}

    generate()


history_load()
