"""Lesson 05 (orchestration with Airflow 3): what the lesson and its solution recorded
(`jornada check` itself: test_graders.py).

The recorded values come from the session-wide course run (fixture ``records``): the lesson runs
the pipeline DAG on the real native Airflow through the REST API and demonstrates a failing
quality gate and its recovery. Timings are recorded, never asserted.
"""

from __future__ import annotations

import re

import pytest


pytestmark = pytest.mark.notebooks

LESSON = "05_orchestration_with_airflow"


@pytest.fixture(scope="module")
def lesson(records):
    rec = records.get(LESSON)
    assert rec, f"notebooks/{LESSON}.ipynb recorded nothing (did it fail? see test_notebooks)"
    return rec


def test_the_repo_dags_are_listed(lesson):
    assert lesson["dag_ids"] == ["cdc_check", "dbt_build", "history_load", "lake_refresh", "liga_pipeline",
                                "warehouse_load"]


def test_dag_test_runs_in_process(lesson):
    assert lesson["dag_test_state"] == "success"


def test_backfill_dry_run_lists_the_intervals(lesson):
    assert lesson["backfill_dry_run_runs"] == 5       # */15 from 00:00 to 01:00, both ends


PIPELINE = ["cdc_healthy", "generate", "load", "gate_raw", "build", "gate_marts"]


def test_the_pipeline_ran_on_the_scheduler(lesson):
    assert lesson["pipeline_run_state"] == "success"
    assert lesson["orders_after"] - lesson["orders_before"] == lesson["pipeline_orders_requested"] > 0
    # the run the CLI listed is the one the API triggered, and it succeeded
    assert {"run_id": lesson["pipeline_run_id"], "state": "success"} in lesson["cli_runs"]


def test_the_quality_gate_failure_was_demonstrated(lesson):
    first, final = lesson["first_run_tasks"], lesson["final_run_tasks"]
    assert lesson["first_run_state"] == "failed"
    assert {t: v["state"] for t, v in first.items()} == {
        "cdc_healthy": "success", "generate": "success", "load": "success",
        "gate_raw": "failed", "build": "upstream_failed", "gate_marts": "upstream_failed"}
    assert {t: v["state"] for t, v in final.items()} == dict.fromkeys(PIPELINE, "success")
    assert final["gate_raw"]["try_number"] >= 2 and first["gate_raw"]["try_number"] == 1
    assert "Task failed with exception" in lesson["gate_log"], lesson["gate_log"]
    # the gate named the planted row: raw.pedidos has one order more than the OLTP
    counts = re.search(r"pedidos: OLTP has (\d+) rows, raw has (\d+)", lesson["gate_error"] or "")
    assert counts, lesson["gate_error"]
    oltp, raw = map(int, counts.groups())
    assert raw == oltp + 1 and oltp == lesson["orders_after"], lesson["gate_error"]


def test_airflow_still_holds_the_lessons_run(lesson, stack_up):
    from jornada.stack import airflow as af

    api = af.AirflowApi()
    run_id = lesson["pipeline_run_id"]
    run = api.call("GET", f"/dags/liga_pipeline/dagRuns/{run_id}")
    assert run["state"] == "success" and run["conf"]["orders"] == lesson["pipeline_orders_requested"]
    tries = api.call("GET", f"/dags/liga_pipeline/dagRuns/{run_id}/taskInstances/gate_raw/tries")
    states = {t["try_number"]: t["state"] for t in tries["task_instances"]}
    assert states[1] == "failed" and states[max(states)] == "success", states

