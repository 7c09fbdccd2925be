"""Lesson 05 (orchestration with Airflow 3): what the lesson and its solution recorded
(`jornada check` itself: test_graders.py).

The recorded values come from the session-wide course run (fixture ``records``): the lesson runs
the pipeline DAG on the real native Airflow through the REST API and demonstrates a failing
quality gate and its recovery. Timings are recorded, never asserted.
"""

from __future__ import annotations


import pytest


pytestmark = pytest.mark.notebooks

LESSON = "05_orchestration_with_airflow"
SOLUTION = f"solutions/{LESSON}"
TASKS = ["next_runs", "quality_gate", "taskflow_dag", "trigger_run"]


@pytest.fixture(scope="module")
def lesson(records):
    rec = records.get(LESSON)
    assert rec, f"notebooks/{LESSON}.ipynb recorded nothing (did it fail? see test_notebooks)"
    return rec


def test_the_repo_dags_are_listed(lesson):
    assert lesson["dag_ids"] == ["cdc_check", "dbt_build", "history_load", "liga_pipeline", "warehouse_load"]


def test_dag_test_runs_in_process(lesson):
    assert lesson["dag_test_state"] == "success"


def test_backfill_dry_run_lists_the_intervals(lesson):
    assert lesson["backfill_dry_run_runs"] == 5       # */15 from 00:00 to 01:00, both ends


def test_the_pipeline_ran_on_the_scheduler(lesson):
    assert lesson["pipeline_run_state"] == "success"
    assert lesson["pipeline_new_orders"] > 0
    assert lesson["cli_sees_run"] is True


def test_the_quality_gate_failure_was_demonstrated(lesson):
    assert lesson["gate_failure_demonstrated"] is True


def test_solution_passes_every_task(records):
    rec = records.get(SOLUTION)
    assert rec, f"{SOLUTION}.ipynb recorded nothing (did it fail? see test_notebooks)"
    assert rec["checks_passed"] == TASKS
