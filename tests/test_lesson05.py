"""Lesson 05 (orchestration with Airflow 3): what the lesson and its solution recorded, and the grader.

The recorded values come from the session-wide course run (fixture ``records``): the lesson runs
the pipeline DAG on the real native Airflow through the REST API and demonstrates a failing
quality gate and its recovery. Timings are recorded, never asserted.
"""

from __future__ import annotations


import nbformat
import pytest

from graders import run_check
from jornada import exercises

pytestmark = pytest.mark.notebooks

LESSON = "05_orchestration_with_airflow"
SOLUTION = f"solutions/{LESSON}"
EXERCISE = exercises.EXERCISES / f"{LESSON}.ipynb"
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


# ---- the grader: `jornada check 05` ------------------------------------------------------
def _check(notebook):
    return run_check("05", notebook)


def test_check_passes_on_the_solution(stack_up):
    done = _check(exercises.SOLUTIONS / f"{LESSON}.ipynb")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4/4 tasks pass" in done.stdout


def test_check_says_to_do_on_the_untouched_exercise(stack_up):
    done = _check(EXERCISE)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("to do") == 4 and "0/4 tasks pass" in done.stdout


GATE_THAT_ONLY_WARNS = '''
    @dag(dag_id="gate_warns_" + table.replace(".", "_"), schedule=None,
         start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False)
    def gate_dag():
        @task(retries=0)
        def gate() -> bool:
            with connect("olap") as conn:
                rows = conn.execute(f"select count(*) from {table}").fetchone()[0]
            return rows > 0          # a "gate" that only reports

        gate()

    return gate_dag()
'''


def test_a_gate_that_does_not_raise_gets_the_teaching_hint(stack_up, tmp_path):
    nb = nbformat.read(EXERCISE, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "def make_gate_dag" in c.source]
    assert len(cells) == 1
    src = cells[0].source
    blank = next(line for line in src.splitlines() if "raise NotImplementedError" in line)
    cells[0].source = src.replace(blank, GATE_THAT_ONLY_WARNS.strip("\n"))
    planted = tmp_path / f"{LESSON}.ipynb"
    nbformat.write(nb, planted)
    done = _check(planted)
    assert done.returncode == 1, done.stdout + done.stderr
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines()
            if line.startswith("│") and "task_" in line}
    assert "fail" in rows["task_quality_gate"]
    assert "RAISES" in rows["task_quality_gate"]
    assert "to do" in rows["task_next_runs"]   # the other tasks are untouched
