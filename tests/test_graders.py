"""`jornada check NN` on every lesson with exercises (01–07), read from its --json result.

For each lesson: the solution passes every task; the untouched exercise says "to do" at every
blank; every planted wrong answer (jornada.checks.wrong_answers.lessonNN) gets its teaching hint
while the tasks it leaves untouched still say "to do"; and a check run leaves the learner's rows
where they were (it grades in a scratch database where the notebook resets data).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from jornada import exercises
from jornada.checks import wrong_answers

LESSONS = exercises.lessons()
TASKS = {  # the check cells of each lesson, in notebook order
    "01": ["orders_per_customer", "place_order", "inconsistent_orders", "item_total_check"],
    "02": ["fraud_rate_by_type", "location_rule", "device_rule", "fingerprint"],
    "03": ["count_ops", "rebuild_state", "add_table_to_capture", "consume_all"],
    "04": ["fraud_rate_by_uf", "revenue_by_category_month", "incremental_model", "scd2_version_at"],
    "05": ["taskflow_dag", "quality_gate", "next_runs", "trigger_run"],
    "06": ["silver_merge", "undo_bad_update", "compact", "reconcile"],
    "07": ["history_features", "ranking_metrics", "budget_threshold", "amount_rule"],
}
TASKS_PER_LESSON = 4
pytestmark = [pytest.mark.notebooks,
              # kafka-python 3.0 still loads its protocol schemas with a deprecated importlib API
              pytest.mark.filterwarnings("ignore:(read|open)_text is deprecated:DeprecationWarning")]


def run_check(lesson: str, notebook: Path, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    """`jornada check <lesson> --notebook <notebook> --json`: exit code, result, stderr."""
    exe = Path(sys.executable).with_name("jornada")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "jornada.cli"]
    done = subprocess.run(cmd + ["check", lesson, "--notebook", str(notebook), "--json"],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=900)
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not one JSON object on stdout:\n{done.stdout}\n{done.stderr}") from None
    return done.returncode, result, done.stderr


def solution_tasks(lesson: str) -> list[str]:
    return [f"task_{t}" for t in TASKS[lesson]]


def learner_rows() -> dict[str, int]:
    """What a learner would lose: the rows of every OLTP table and of the warehouse's fact."""
    from jornada.db import connect, scalar
    from jornada.schema import table_counts

    rows = {f"oltp.{t}": n for t, n in table_counts().items()}
    with connect("olap") as conn:
        if conn.execute("select to_regclass('marts.fato_pedidos')").fetchone()[0]:
            rows["olap.marts.fato_pedidos"] = scalar("select count(*) from marts.fato_pedidos", which="olap")
    return rows


def _by_task(result: dict) -> dict[str, dict]:
    return {t["task"]: t for t in result["tasks"]}


def _a_learners_shop(lesson: str) -> None:
    """A learner who reaches lesson 03 has lesson 02's shop, and at 04 a warehouse. The setup cells
    of 03+ add a small shop (and 04+ a warehouse) when there is none, by design — data added, not
    erased — so give the databases what the earlier lessons leave before counting what the check
    might lose."""
    from datetime import datetime

    from jornada import generators, warehouse
    from jornada.db import scalar

    now = datetime(2026, 1, 31, 12)
    if lesson >= "03" and scalar("select count(*) from pessoas") <= 20:
        generators.load_customers(300, seed=42, now=now)
    if lesson >= "04" and not scalar("select count(*) from pedidos"):
        generators.load_history(3000, seed=42, now=now, progress=False)
    # lesson 06 reconciles months: an earlier test may have left a shop of one month's stream
    if lesson >= "06" and scalar("select count(distinct date_trunc('month', dt_venda)) from pedidos") < 2:
        generators.load_history(3000, seed=43, now=now, progress=False)
    if lesson >= "04" and not scalar("select to_regclass('marts.fato_pedidos') is not null", which="olap"):
        warehouse.extract_snapshot()
        warehouse.dbt("build")


def _place_order_is_atomic(details: dict) -> None:
    # each failing call raised and left no order behind (the bad geohash is the database's CHECK;
    # the solution looks prices up first, so it refuses an unknown product itself)
    assert details["place_order"]["failures"] == {
        "invalid_geohash": {"error": "CheckViolation", "orders_left": 0},
        "unknown_product": {"error": "ValueError", "orders_left": 0},
    }


# What the solutions' checks measured (their record(...) cell), beyond "passed"
SOLUTION_DETAILS = {
    "01": _place_order_is_atomic,
    "06": lambda d: d["compact"]["after"] == 1 or pytest.fail(f"compacted into {d['compact']}"),
    "07": lambda d: d["budget_threshold"]["alerts"] <= d["budget_threshold"]["budget"]
    or pytest.fail(f"over the alert budget: {d['budget_threshold']}"),
}


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_solution_passes_every_task_and_the_learners_rows_stay(lesson, stack_up, tmp_path):
    """The solutions execute here, graded as a learner's notebook is (not in the course run)."""
    from jornada import course

    _a_learners_shop(lesson)
    before = learner_rows()
    records = tmp_path / "records.json"
    code, result, err = run_check(lesson, exercises.find_notebook(lesson, exercises.SOLUTIONS),
                                  env={course.RECORD_ENV: str(records)})
    assert code == 0, json.dumps(result, indent=1) + err
    assert result["lesson"] == lesson and result["notebook"].endswith(".ipynb")
    assert result["passed"] == result["total"] == TASKS_PER_LESSON
    assert [t["task"] for t in result["tasks"]] == solution_tasks(lesson)
    assert all(t["status"] == "passed" and t["hint"] == "" for t in result["tasks"])
    assert result["cell_errors"] == [], result["cell_errors"]
    assert learner_rows() == before, f"`jornada check {lesson}` changed the learner's rows"
    assert "without encryption" not in err, "the kernel warned about its TCP transport"
    recorded = json.loads(records.read_text())
    assert recorded["checks_passed"] == sorted(TASKS[lesson])
    SOLUTION_DETAILS.get(lesson, lambda d: None)(recorded["check_details"])


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_untouched_exercise_is_to_do_at_every_blank(lesson, stack_up):
    code, result, _ = run_check(lesson, exercises.find_notebook(lesson))
    assert code == 1, result
    assert all(e["ename"] == "NotImplementedError" for e in result["cell_errors"]), result["cell_errors"]
    assert set(_by_task(result)) == set(solution_tasks(lesson))
    assert all(t["status"] == "todo" for t in result["tasks"]), result
    assert result["passed"] == 0 and result["total"] == TASKS_PER_LESSON


CASES = [(lesson, case) for lesson in LESSONS for case in wrong_answers.cases(lesson)]


def test_every_lesson_has_planted_wrong_answers_and_known_tasks():
    assert {lesson for lesson, _ in CASES} == set(LESSONS) == set(TASKS)
    for lesson in LESSONS:
        nb = nbformat.read(exercises.find_notebook(lesson, exercises.SOLUTIONS), as_version=4)
        assert [r["task"] for r in exercises.task_results(nb)] == solution_tasks(lesson)


@pytest.mark.parametrize("lesson, case", CASES, ids=[f"{lesson}-{c['name']}" for lesson, c in CASES])
def test_a_planted_wrong_answer_gets_its_hint(lesson, case, stack_up, tmp_path):
    nb = nbformat.read(exercises.find_notebook(lesson), as_version=4)
    for function, code in case["plant"].items():
        wrong_answers.plant(nb, function, code)
    planted = tmp_path / exercises.find_notebook(lesson).name
    nbformat.write(nb, planted)
    code, result, err = run_check(lesson, planted)
    assert code == 1, json.dumps(result, indent=1) + err
    tasks = _by_task(result)
    for task, hints in case["expect"].items():
        assert tasks[task]["status"] == "failed", tasks[task]
        for hint in hints:
            assert hint in tasks[task]["hint"], tasks[task]
    untouched = set(tasks) - set(case["expect"])
    assert untouched and all(tasks[t]["status"] == "todo" for t in untouched), result
    assert result["passed"] == 0 and result["total"] == TASKS_PER_LESSON


def test_a_stopped_service_is_the_stack_being_down_not_your_code(stack_up, tmp_path):
    """The kernel pointed at ports where nothing listens (9: discard): lesson 03 grades against
    the learner's own services, so its service tasks say 'the stack is down — run `make up`'."""
    env = {**os.environ, "OLTP_PORT": "9", "KAFKA_PORT": "9", "CONNECT_PORT": "9"}
    exe = Path(sys.executable).with_name("jornada")
    done = subprocess.run([str(exe), "check", "03", "--json", "--notebook",
                           str(exercises.find_notebook("03", exercises.SOLUTIONS))],
                          capture_output=True, text=True, env=env, timeout=900)
    tasks = _by_task(json.loads(done.stdout))
    assert done.returncode == 1
    assert tasks["task_count_ops"]["status"] == "passed"       # planted events: no service needed
    for task in ("task_add_table_to_capture", "task_consume_all"):
        assert tasks[task]["status"] == "error", tasks[task]
        assert tasks[task]["hint"].startswith("the stack is down — run `make up`"), tasks[task]
        assert "not reachable" in tasks[task]["hint"] and "your code raised" not in tasks[task]["hint"]


def test_a_scratch_database_that_cannot_be_made_is_one_clear_line(stack_up):
    env = {**os.environ, "OLTP_PORT": "9"}
    exe = Path(sys.executable).with_name("jornada")
    done = subprocess.run([str(exe), "check", "01", "--json", "--notebook",
                           str(exercises.find_notebook("01", exercises.SOLUTIONS))],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert "OLTP Postgres not reachable at 127.0.0.1:9" in done.stderr and "make up" in done.stderr
    assert "Traceback" not in done.stderr
