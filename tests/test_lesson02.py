"""Lesson 02 (generating data): what the lesson and its solution recorded, and the grader.

The recorded numbers come from the session-wide course run (fixture ``records``), so what this
file asserts is what `make course` reports. Speeds are measured, never asserted beyond "> 0".
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from graders import run_check
from jornada import exercises, maps

pytestmark = pytest.mark.notebooks

LESSON = "02_generating_data"
SOLUTION = f"solutions/{LESSON}"
EXERCISE = exercises.EXERCISES / f"{LESSON}.ipynb"


@pytest.fixture(scope="module")
def lesson(records):
    rec = records.get(LESSON)
    assert rec, f"notebooks/{LESSON}.ipynb recorded nothing (did it fail? see test_notebooks)"
    return rec


def test_history_has_about_one_percent_fraud(lesson):
    assert lesson["history_orders"] >= 10_000
    assert 0.005 <= lesson["history_fraud_rate"] <= 0.02


def test_stream_has_about_five_percent_fraud_and_new_customers(lesson):
    assert lesson["stream_orders"] >= 600
    assert 0.03 <= lesson["stream_fraud_rate"] <= 0.08
    assert lesson["stream_new_customers"] > 0


def test_generation_is_deterministic(lesson):
    assert lesson["deterministic"] is True


def test_original_sex_heuristic_is_often_wrong(lesson):
    assert 0.10 <= lesson["sex_heuristic_error"] <= 0.30


@pytest.mark.parametrize("rule", ["location", "device_habitual"])
def test_rules_match_the_labels(lesson, rule):
    assert lesson[f"{rule}_precision"] >= 0.95
    assert lesson[f"{rule}_recall"] >= 0.95


def test_naive_variants_are_worse(lesson):
    assert lesson["device_previous_precision"] < lesson["device_habitual_precision"]
    assert lesson["device_never_seen_recall"] < lesson["device_habitual_recall"]
    assert lesson["location_legit_cells_precision"] < 0.5  # the original's cells flag honest customers


def test_speeds_were_measured(lesson):
    # measured live: only sanity, never a speed threshold
    assert lesson["copy_orders_per_s"] > 0 and lesson["row_by_row_orders_per_s"] > 0
    assert lesson["speedup"] > 0


def test_map_was_saved_with_legit_and_fraud_markers(lesson):
    path = Path(lesson["map_path"])
    assert path.name == "02_orders_map.html" and path.parent.name == "maps"
    assert path.exists(), f"{path} was not written"
    html = path.read_text()
    assert maps.LEGIT_COLOR in html and maps.FRAUD_COLOR in html
    assert '"legit (' in html and '"fraud (' in html  # both marker layers
    assert maps.LEGEND_CLASS in html and '"uf": "SP"' in html


def test_solution_passes_every_task(records):
    rec = records.get(SOLUTION)
    assert rec, f"{SOLUTION}.ipynb recorded nothing (did it fail? see test_notebooks)"
    assert rec["checks_passed"] == ["device_rule", "fingerprint", "fraud_rate_by_type", "location_rule"]


# ---- the grader: `jornada check 02` ------------------------------------------------------
def _check(notebook):
    return run_check("02", notebook)


def test_check_passes_on_the_solution(stack_up):
    done = _check(exercises.SOLUTIONS / f"{LESSON}.ipynb")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4/4 tasks pass" in done.stdout


def test_check_says_to_do_on_the_untouched_exercise(stack_up):
    done = _check(EXERCISE)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("to do") == 4 and "0/4 tasks pass" in done.stdout


PREVIOUS_ORDER_RULE = '''
    chrono = orders.sort_values(["id_pessoa", "dt_venda"])
    previous = chrono.groupby("id_pessoa")["dispositivo"].shift()
    return (previous.notna() & (chrono["dispositivo"] != previous)).reindex(orders.index)
'''


def test_a_previous_order_device_rule_gets_the_teaching_hint(stack_up, tmp_path):
    nb = nbformat.read(EXERCISE, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "def device_changed" in c.source]
    assert len(cells) == 1
    src = cells[0].source
    blank = next(line for line in src.splitlines() if "raise NotImplementedError" in line)
    cells[0].source = src.replace(blank, PREVIOUS_ORDER_RULE.strip("\n"))
    planted = tmp_path / f"{LESSON}.ipynb"
    nbformat.write(nb, planted)
    done = _check(planted)
    assert done.returncode == 1, done.stdout + done.stderr
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines()
            if line.startswith("│") and "task_" in line}
    assert "fail" in rows["task_device_rule"]
    assert "you compared with the previous order" in rows["task_device_rule"]
    assert "to do" in rows["task_location_rule"]  # the other tasks are untouched
