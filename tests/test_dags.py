"""The Airflow DAGs (dags/): they import, have the expected tasks and run to success.

Three levels:

1. DagBag: every file in dags/ imports without errors; each DAG has its tasks in order.
2. ``dag.test()``: each DAG runs in-process, task by task, against the real native stack (the
   OLTP/OLAP Postgres, Kafka, Connect), with Airflow's metadata in a throw-away SQLite home.
   Airflow reads its configuration at import time, so each run is a fresh subprocess.
3. The real scheduler (the native ``airflow`` service of the stack) runs ``liga_pipeline``,
   triggered through the REST API v2 — once per test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

# kafka-python 3.0 still calls importlib.resources' legacy read_text/open_text
pytestmark = [pytest.mark.services, pytest.mark.filterwarnings("ignore:(read|open)_text is deprecated:DeprecationWarning")]

LAKE_TASKS = ["lake_bronze", "lake_silver", "lake_gate", "lake_gold"]
# each DAG's tasks as chains (a task's upstream is exactly the one before it in its chain)
CHAINS = {
    "history_load": [["generate"]],
    "cdc_check": [["register", "check"]],
    "warehouse_load": [["load"]],
    "dbt_build": [["build", "docs"]],
    "lake_refresh": [LAKE_TASKS],
    "liga_pipeline": [["cdc_healthy", "generate", "load", "gate_raw", "build", "gate_marts"],
                      ["generate", "lakehouse", *LAKE_TASKS]],
}
EXPECTED_TASKS = {dag_id: sorted({t for chain in chains for t in chain})
                  for dag_id, chains in CHAINS.items()}

RUNNER = r"""
import json, os, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag

# as the DAG processor does (the bundle dags/ goes on sys.path); the DAGs' shared helpers are in
# the course library (jornada.orchestration), so nothing else in dags/ needs importing
folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
bag = BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name="dags-folder")
what = sys.argv[1]
if what == "--list":
    out = {"errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id, dag in bag.dags.items():
        out["dags"][dag_id] = {
            "tasks": {t.task_id: {"upstream": sorted(t.upstream_task_ids), "retries": t.retries,
                                  "outlets": [getattr(o, "name", str(o)) for o in t.outlets]}
                      for t in dag.tasks},
            "schedule": type(dag.timetable).__name__,
            "schedule_assets": repr(getattr(dag.timetable, "asset_condition", "")),
            "tags": sorted(dag.tags),
            "params": sorted(dag.params.keys()),
        }
else:
    dag = bag.dags[what]
    run = dag.test(run_conf=json.loads(sys.argv[2]))
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    out = {"state": str(run.state), "tasks": states}
print("RESULT:" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    """A private AIRFLOW_HOME (SQLite, migrated) pointed at the repo's dags/ and the stack's
    endpoints — nothing shared with the running airflow service."""
    from jornada.config import ensure_env_file, reload
    from jornada.stack import airflow as af

    ensure_env_file()
    s = reload()
    home = tmp_path_factory.mktemp("airflow_home")
    env = af.airflow_env(s)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__API__SECRET_KEY": "test-only", "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-jwt",
        "PYTHONWARNINGS": "ignore",
    })
    t0 = time.monotonic()
    subprocess.run([af.airflow_executable(), "db", "migrate"], env=env, check=True,
                   capture_output=True, text=True)
    return {"env": env, "migrate_s": round(time.monotonic() - t0, 1)}


def _run(env: dict, *args: str, timeout: float = 600) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUNNER, *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT:")]
    if proc.returncode != 0 or not lines:
        raise AssertionError(f"runner {args[0]} failed (exit {proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    result = json.loads(lines[-1][len("RESULT:"):])
    result["log"] = proc.stdout[-6000:] + proc.stderr[-3000:]
    return result


# ---- 1. import ---------------------------------------------------------------------------------
def test_every_dag_imports_and_has_its_tasks(airflow_home):
    bag = _run(airflow_home["env"], "--list")
    assert bag["errors"] == {}
    assert set(bag["dags"]) == set(EXPECTED_TASKS)
    for dag_id, tasks in EXPECTED_TASKS.items():
        got = bag["dags"][dag_id]["tasks"]
        assert set(got) == set(tasks), dag_id
        for chain in CHAINS[dag_id]:
            for before, after in zip(chain, chain[1:]):   # a chain, in this order
                assert got[after]["upstream"] == [before], (dag_id, after, got[after])
        assert "liga_sudoers" in bag["dags"][dag_id]["tags"]
    pipe = bag["dags"]["liga_pipeline"]["tasks"]
    assert pipe["load"]["retries"] == 2 and pipe["cdc_healthy"]["retries"] == 2
    assert pipe["build"]["retries"] == 0 and pipe["gate_raw"]["retries"] == 0
    # data-aware scheduling: history → warehouse_load → dbt_build through assets
    assert bag["dags"]["history_load"]["tasks"]["generate"]["outlets"] == ["oltp_pedidos"]
    assert bag["dags"]["warehouse_load"]["tasks"]["load"]["outlets"] == ["warehouse_raw"]
    assert "warehouse_raw" in bag["dags"]["dbt_build"]["schedule_assets"]
    assert bag["dags"]["warehouse_load"]["schedule"] == "AssetOrTimeSchedule"
    assert "oltp_pedidos" in bag["dags"]["warehouse_load"]["schedule_assets"]
    # the lakehouse: its own DAG (after each warehouse load, and every 30 min) and a branch of
    # the pipeline; the gate and gold are not retried (data does not fix itself)
    lake = bag["dags"]["lake_refresh"]
    assert lake["schedule"] == "AssetOrTimeSchedule" and "warehouse_raw" in lake["schedule_assets"]
    for tasks in (lake["tasks"], pipe):
        assert tasks["lake_gate"]["retries"] == 0 and tasks["lake_gold"]["retries"] == 0
        assert tasks["lake_bronze"]["retries"] == 2
        assert tasks["lake_silver"]["outlets"] == ["lake_silver"]
        assert tasks["lake_gold"]["outlets"] == ["lake_gold"]


def test_the_dag_folder_holds_only_dags_and_assets_follow_the_settings(airflow_home):
    """A helper module in dags/ would be parsed as a DAG file every 30 s: dags/ holds DAG files
    only, their shared code is jornada.orchestration, and asset URIs name the configured servers
    (imported in a subprocess: Airflow reads its configuration at import time)."""
    from jornada.config import reload
    from jornada.stack import airflow as af

    files = sorted(p.name for p in af.DAGS_FOLDER.glob("*.py"))
    assert set(files) == {f"{dag_id}.py" for dag_id in EXPECTED_TASKS}, files
    for name in files:
        text = (af.DAGS_FOLDER / name).read_text()
        assert "@dag(" in text and "from jornada.orchestration import" in text, name
    code = ("import json; from jornada import orchestration as o; print('RESULT:' + json.dumps("
            "{a.name: a.uri for a in (o.OLTP_PEDIDOS, o.WAREHOUSE_RAW, o.WAREHOUSE_MARTS)}))")
    proc = subprocess.run([sys.executable, "-c", code], env=airflow_home["env"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    uris = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT:")][-1][7:])
    s = reload()
    assert uris == {
        "oltp_pedidos": f"postgres://{s.oltp.host}:{s.oltp.port}/{s.oltp.dbname}/public/pedidos",
        "warehouse_raw": f"postgres://{s.olap.host}:{s.olap.port}/{s.olap.dbname}/raw/pedidos",
        "warehouse_marts": f"postgres://{s.olap.host}:{s.olap.port}/{s.olap.dbname}/marts/fato_pedidos",
    }


# ---- 2. dag.test() ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clean_shop(stack_up):
    """Empty OLTP (catalogue only) with CDC capturing it, empty warehouse."""
    from jornada import cdc, warehouse
    from jornada.schema import init_oltp

    init_oltp(reset=True)
    cdc.ensure_capture(log=lambda m: None, wait=True)
    warehouse.reset_warehouse()
    return stack_up


RUNS = [
    ("history_load", {"customers": 60, "orders": 600, "seed": 5, "now": "2026-01-31T12:00:00"}),
    ("cdc_check", {}),
    ("warehouse_load", {}),
    ("dbt_build", {}),
    # the pipeline's lakehouse branch is lake_refresh's tasks: they run below, once
    ("liga_pipeline", {"customers": 10, "orders": 200, "seed": 6, "lakehouse": False}),
    ("lake_refresh", {}),
]
SKIPPED = {"liga_pipeline": set(LAKE_TASKS)}   # by its lakehouse param


@pytest.mark.parametrize("dag_id, conf", RUNS, ids=[r[0] for r in RUNS])
def test_dag_runs_in_process(airflow_home, clean_shop, dag_id, conf):
    result = _run(airflow_home["env"], dag_id, json.dumps(conf))
    assert result["state"] == "success", result["log"]
    assert set(result["tasks"]) == set(EXPECTED_TASKS[dag_id])
    skipped = SKIPPED.get(dag_id, set())
    assert {t for t, state in result["tasks"].items() if state == "skipped"} == skipped, result["tasks"]
    assert all(state == "success" for t, state in result["tasks"].items() if t not in skipped), result["tasks"]
    if dag_id == "warehouse_load":
        from jornada import warehouse

        assert warehouse.quality_gate(check_fact=False)["problems"] == []
    if dag_id == "liga_pipeline":
        from jornada.db import scalar

        assert scalar("select count(*) from pedidos") == 800
        assert scalar("select count(*) from marts.fato_pedidos where true", which="olap") == \
            scalar("select count(*) from itens_pedidos")
    if dag_id == "lake_refresh":
        from jornada.lake import silver

        # silver holds the OLTP's rows (the OLTP was re-created by clean_shop, so the lake
        # started from a snapshot, then streamed)
        assert silver.compare_with_oltp()["problems"] == []


def test_a_failing_dbt_test_fails_the_dbt_build_run(airflow_home, clean_shop):
    from jornada import warehouse
    from jornada.db import connect

    with connect("olap") as olap:   # an order item whose total no longer adds up
        olap.execute("update raw.itens_pedidos set valor_total = valor_total + 1 "
                     "where (id_pedido, id_produto) = (select id_pedido, id_produto "
                     "from raw.itens_pedidos order by 1, 2 limit 1)")
        olap.commit()
    try:
        result = _run(airflow_home["env"], "dbt_build", "{}")
        assert result["state"] == "failed"
        assert result["tasks"]["build"] == "failed"
        assert result["tasks"]["docs"] == "upstream_failed"
        assert "expression_is_true_stg_itens_pedidos_valor_total_item" in result["log"]
    finally:
        warehouse.extract_snapshot()
        warehouse.dbt("build")


# ---- 3. the real scheduler ----------------------------------------------------------------------
def test_scheduler_runs_the_pipeline_through_the_rest_api(clean_shop):
    """The native airflow service (started by `make up`) schedules and runs liga_pipeline."""
    from jornada.db import scalar
    from jornada.stack import airflow as af

    api = af.AirflowApi()
    api.wait_dag("liga_pipeline", timeout_s=120)
    api.unpause("liga_pipeline")
    before = scalar("select count(*) from pedidos")
    run = api.trigger("liga_pipeline", {"customers": 5, "orders": 100, "seed": 7, "lakehouse": False})
    final = api.wait_run("liga_pipeline", run["dag_run_id"], timeout_s=600)
    states = api.task_states("liga_pipeline", run["dag_run_id"])
    assert final["state"] == "success", states
    assert set(states) == set(EXPECTED_TASKS["liga_pipeline"])
    assert {t for t, v in states.items() if v != "success"} == set(LAKE_TASKS), states
    assert {states[t] for t in LAKE_TASKS} == {"skipped"}
    assert scalar("select count(*) from pedidos") == before + 100
    # the Airflow 3 CLI sees the same run (`dags list-runs` takes the DAG id as an argument now)
    listed = af.cli("dags", "list-runs", "liga_pipeline", "--output", "json")
    runs = json.loads([ln for ln in listed.stdout.splitlines() if ln.startswith("[{")][-1])
    assert any(r["run_id"] == run["dag_run_id"] and r["state"] == "success" for r in runs)
