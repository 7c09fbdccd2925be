"""Checks of lesson 05 (orchestration with Airflow 3). Each task is judged on planted, known cases.

- task_taskflow_dag: ``build_mini_pipeline()`` returns a TaskFlow DAG (airflow.sdk) with a given
  shape: id, schedule, catchup, tasks extract → transform → load, retries.
- task_quality_gate: ``make_gate_dag(table)`` returns a DAG whose task ``gate`` FAILS when the
  OLAP table is empty; the check runs ``dag.test()`` on a planted empty and a planted full table.
- task_next_runs: ``next_runs(cron, after, n)`` — the next n logical dates of a cron schedule,
  strictly after ``after`` (pure, deterministic).
- task_trigger_run: ``trigger_and_wait(dag_id)`` — trigger a run on the running Airflow through the
  REST API v2 and return its final state.

Airflow reads its configuration when it is first imported, so the notebook calls
:func:`airflow_sandbox` before anything imports airflow: a private ``AIRFLOW_HOME`` (own SQLite
metadata, migrated once) for ``dag.test()``, never the running service's database.

Only the learner's own errors escape from the learner's code: NotImplementedError of an untouched
blank propagates unchanged (the grader reports "to do"); wrong answers raise TaskFailed with a hint.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, UTC

from ..db import connect
from . import TaskFailed, call, expect, passed

RESULTS: dict[str, dict] = {}

# What `jornada check 05` does to data (jornada.exercises.grade shows it; solutions/README.md):
# CHECK_SCRATCH lists the databases the run gets a scratch copy of (jornada.scratch).
CHECK_SCRATCH: tuple[str, ...] = ()
CHECK_DATA = (
    "`jornada check 05` resets nothing: dag.test() records its runs in a private AIRFLOW_HOME "
    "(.stack/data/airflow_exercises05), never in the running Airflow's database; task 2 plants two "
    "tables in a throw-away warehouse schema exercicio05, dropped afterwards; task 4 triggers one "
    "run of cdc_check on the running Airflow (paused again if it was)")
EX_SCHEMA = "exercicio05"


# ---- the sandbox ------------------------------------------------------------------------------
def airflow_sandbox() -> str:
    """Point this process's Airflow at a private, migrated AIRFLOW_HOME; returns its path.

    Call it before the first ``import airflow``. Idempotent.
    """
    from ..config import settings
    from ..stack import airflow as af

    s = settings()
    home = af.sandbox_home(s, "airflow_exercises05")
    env = af.airflow_env(s)
    env.update({"AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"})
    if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != str(home):
        raise TaskFailed("airflow was imported before airflow_sandbox(): restart the kernel and run the "
                         "setup cell first")
    stamp = home / ".migrated"
    if not stamp.exists() or not (home / "airflow.db").exists():
        subprocess.run([af.airflow_executable(), "db", "migrate"], env=env, check=True, capture_output=True)
        stamp.write_text("ok")
    os.environ.update({k: v for k, v in env.items() if k.startswith("AIRFLOW")})
    return str(home)


def _is_dag(obj) -> bool:
    return hasattr(obj, "dag_id") and hasattr(obj, "task_dict")


# ---- task 1: a TaskFlow DAG -----------------------------------------------------------------
MINI_TASKS = ["extract", "transform", "load"]


def _schedule_text(dag) -> str:
    tt = getattr(dag, "timetable", None)
    for attr in ("summary", "description"):
        v = getattr(tt, attr, None)
        if isinstance(v, str) and v:
            return v
    return str(getattr(dag, "schedule", ""))


def task_taskflow_dag(fn) -> None:
    """fn() -> DAG 'liga_mini': @daily, no catchup, extract → transform → load, 2 retries each."""
    dag = call(fn)
    expect(_is_dag(dag), f"build_mini_pipeline() must RETURN the DAG object (call the @dag-decorated "
                         f"function and return its result), got {type(dag).__name__}")
    expect(dag.dag_id == "liga_mini", f"dag_id is {dag.dag_id!r}: name it 'liga_mini' (@dag(dag_id=...))")
    ids = sorted(dag.task_dict)
    expect(ids == sorted(MINI_TASKS), f"tasks {ids}: expected exactly {MINI_TASKS} — one @task function "
                                      "each; a task's id is its function's name")
    up = {t: sorted(dag.task_dict[t].upstream_task_ids) for t in MINI_TASKS}
    if not any(up.values()):
        raise TaskFailed("the three tasks have no dependencies: they would all run at once. Pass one task's "
                         "result to the next — load(transform(extract())) — or chain(a, b, c) / a >> b >> c")
    expect(up == {"extract": [], "transform": ["extract"], "load": ["transform"]},
           f"dependencies {up}: expected extract → transform → load (each task's upstream is the previous one)")
    sched = _schedule_text(dag).strip()
    expect(sched in ("@daily", "0 0 * * *"), f"schedule is {sched!r}: run it once a day — schedule='@daily'")
    expect(dag.catchup is False, "catchup is on: a DAG deployed today would run once for every day since "
                                 "start_date. Set catchup=False (backfill on purpose instead)")
    retries = {t: dag.task_dict[t].retries for t in MINI_TASKS}
    expect(all(r == 2 for r in retries.values()),
           f"retries per task {retries}: every task gets 2 retries — default_args={{'retries': 2, ...}} on "
           "the @dag (or @task(retries=2) on each)")
    delays = {t: dag.task_dict[t].retry_delay for t in MINI_TASKS}
    expect(all(d == timedelta(seconds=30) for d in delays.values()),
           f"retry_delay per task {delays}: wait 30 seconds between tries — 'retry_delay': timedelta(seconds=30)")
    RESULTS["taskflow_dag"] = {"tasks": MINI_TASKS}
    passed("taskflow_dag", "liga_mini: extract → transform → load, @daily, no catchup, 2 retries 30 s apart")


# ---- task 2: a data-quality gate --------------------------------------------------------------
def _plant_tables() -> tuple[str, str]:
    with connect("olap") as conn:
        conn.execute(f"create schema if not exists {EX_SCHEMA}")
        conn.execute(f"drop table if exists {EX_SCHEMA}.vazia, {EX_SCHEMA}.cheia")
        conn.execute(f"create table {EX_SCHEMA}.vazia (id integer)")
        conn.execute(f"create table {EX_SCHEMA}.cheia (id integer)")
        conn.execute(f"insert into {EX_SCHEMA}.cheia values (1), (2), (3)")
        conn.commit()
    return f"{EX_SCHEMA}.vazia", f"{EX_SCHEMA}.cheia"


def _drop_tables() -> None:
    with connect("olap") as conn:
        conn.execute(f"drop schema if exists {EX_SCHEMA} cascade")
        conn.commit()


def _register(dag) -> None:
    """Write a DAG built in this process to the sandbox's metadata database.

    ``dag.test()`` only finds DAGs it can re-parse from a bundle's files (the dags/ folder); a
    DAG made by a function in a notebook is in none, so it is serialized here first, the way the
    DAG processor would after parsing a file.
    """
    import tempfile

    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    # a freshly migrated metadata database has no bundle rows until a DAG processor ran; the
    # DAG row below references its bundle
    DagBundlesManager().sync_bundles_to_db()
    with tempfile.TemporaryDirectory(prefix="jornada-dag-") as folder:
        bag = BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name="dags-folder")
        bag.bag_dag(dag)
        sync_bag_to_db(bag, "dags-folder", None)


def _test_run(dag) -> tuple[str, dict[str, str]]:
    import logging

    logging.getLogger("airflow").setLevel(logging.WARNING)
    _register(dag)
    run = dag.test()
    return str(run.state), {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def task_quality_gate(fn) -> None:
    """fn(table) -> DAG with a task 'gate' that fails when the OLAP table has no rows."""
    empty, full = _plant_tables()
    try:
        dag_empty = call(fn, empty)
        expect(_is_dag(dag_empty), f"make_gate_dag() must return a DAG, got {type(dag_empty).__name__}")
        expect("gate" in dag_empty.task_dict, f"no task 'gate' in {sorted(dag_empty.task_dict)}: name the "
                                              "@task function gate")
        gate = dag_empty.task_dict["gate"]
        expect(gate.retries == 0, f"the gate has retries={gate.retries}: an empty table does not fill itself "
                                  "while Airflow waits — a quality gate gets retries=0 (@task(retries=0))")
        state_empty, tasks_empty = _test_run(dag_empty)
        dag_full = call(fn, full)
        state_full, tasks_full = _test_run(dag_full)
    finally:
        _drop_tables()
    if tasks_empty.get("gate") == "success":
        raise TaskFailed(f"on the EMPTY table {empty} the gate succeeded: a task fails only when it RAISES. "
                         "Returning False (or printing a warning) is still success — raise an exception, e.g. "
                         "AirflowFailException (fails at once, no retry) or ValueError")
    expect(tasks_full.get("gate") == "success",
           f"on {full} (3 rows) the gate ended {tasks_full.get('gate')}: it must pass when the table has rows — "
           "count with connect('olap') and select count(*) from the table it was given")
    expect(state_empty == "failed" and state_full == "success",
           f"DAG run states: empty table → {state_empty}, full table → {state_full} (expected failed, success)")
    RESULTS["quality_gate"] = {"empty": tasks_empty, "full": tasks_full}
    passed("quality_gate", f"dag.test(): empty table → gate {tasks_empty['gate']}, 3 rows → gate "
                           f"{tasks_full['gate']}")


# ---- task 3: schedules ------------------------------------------------------------------------
UTC = UTC
SCHEDULE_CASES = [  # cron, after, n, why
    ("*/15 * * * *", datetime(2026, 1, 1, 0, 7, tzinfo=UTC), 4, "every 15 minutes"),
    ("*/15 * * * *", datetime(2026, 1, 1, 0, 15, tzinfo=UTC), 3, "starting exactly on a boundary"),
    ("0 3 * * 1-5", datetime(2026, 1, 2, 12, 0, tzinfo=UTC), 3, "weekdays at 03:00 (2026-01-02 is a Friday)"),
    ("30 23 L * *", datetime(2026, 1, 15, tzinfo=UTC), 2, "the last day of each month at 23:30"),
]


def _expected_runs(cron: str, after: datetime, n: int) -> list[datetime]:
    from croniter import croniter

    it = croniter(cron, after)
    return [it.get_next(datetime) for _ in range(n)]


def _norm(values) -> list[datetime]:
    out = []
    for v in values:
        if isinstance(v, str):
            v = datetime.fromisoformat(v)
        if hasattr(v, "to_pydatetime"):
            v = v.to_pydatetime()
        expect(isinstance(v, datetime), f"next_runs() must return datetimes, got {v!r}")
        out.append(v if v.tzinfo else v.replace(tzinfo=UTC))
    return out


def task_next_runs(fn) -> None:
    """fn(cron, after, n) -> the next n run datetimes of the cron expression, strictly after ``after``."""
    for cron, after, n, why in SCHEDULE_CASES:
        got = call(fn, cron, after, n)
        expect(isinstance(got, (list, tuple)), f"next_runs() must return a list, got {type(got).__name__}")
        got = _norm(got)
        want = _expected_runs(cron, after, n)
        if got == want:
            continue
        if got and got[0] == after:
            raise TaskFailed(f"{cron!r} after {after:%Y-%m-%d %H:%M}: your first run IS `after`. The next runs "
                             "are strictly after it — a run for :15 exists already when it is :15")
        if len(got) != n:
            raise TaskFailed(f"{cron!r} ({why}): asked for {n} runs, got {len(got)}")
        if why.startswith("weekdays") and any(d.weekday() >= 5 for d in got):
            raise TaskFailed(f"{cron!r}: your runs include a weekend ({[f'{d:%a %d}' for d in got]}). In cron, "
                             "day-of-week 1-5 is Monday–Friday (0 and 7 are Sunday) — use croniter rather than "
                             "counting days by hand")
        raise TaskFailed(f"{cron!r} ({why}) after {after:%Y-%m-%d %H:%M}: expected "
                         f"{[f'{d:%Y-%m-%d %H:%M}' for d in want]}, got {[f'{d:%Y-%m-%d %H:%M}' for d in got]} — "
                         "croniter(cron, after).get_next(datetime), n times")
    RESULTS["next_runs"] = {"cases": len(SCHEDULE_CASES)}
    passed("next_runs", f"{len(SCHEDULE_CASES)} cron expressions, including a start on a boundary and "
                        "'last day of the month'")


# ---- task 4: trigger through the REST API -----------------------------------------------------
def task_trigger_run(fn, dag_id: str = "cdc_check", timeout_s: float = 240) -> None:
    """fn(dag_id) -> the final state ('success'/'failed') of a run it triggered via the REST API."""
    from ..stack import airflow as af

    api = af.AirflowApi()
    api.wait_dag(dag_id, timeout_s=120)
    before = {r["dag_run_id"] for r in api.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]}
    was_paused = api.call("GET", f"/dags/{dag_id}")["is_paused"]
    t0 = time.monotonic()
    try:
        got = call(fn, dag_id)
    finally:
        if was_paused:            # leave the DAG as it was: no 15-minute schedule left behind
            try:
                api.call("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
            except Exception:  # noqa: BLE001 - best effort
                pass
    runs = api.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]
    new = [r for r in runs if r["dag_run_id"] not in before]
    expect(bool(new), f"no new run of {dag_id} appeared: POST /api/v2/dags/{dag_id}/dagRuns with a body "
                      "{'logical_date': ..., 'conf': {}} (api.trigger does it)")
    run = new[0]
    if run["state"] in ("queued", "running"):
        raise TaskFailed(f"you returned {got!r} but the run is still {run['state']}: a DAG that is PAUSED never "
                         "starts (unpause it: PATCH /dags/{dag_id} {'is_paused': false}), and you must poll "
                         "GET /dags/{dag_id}/dagRuns/{run_id} until the state is success or failed (with a "
                         "time limit)")
    expect(got == run["state"], f"you returned {got!r}, the run ended {run['state']!r}: return the run's final "
                                "state string from the API")
    expect(run["state"] == "success", f"the run of {dag_id} ended {run['state']}: is CDC up? (`jornada stack "
                                      "status`)")
    RESULTS["trigger_run"] = {"dag_id": dag_id, "state": got, "seconds": round(time.monotonic() - t0, 1)}
    passed("trigger_run", f"{dag_id} run {run['dag_run_id']} triggered through the REST API → {got}")
