"""Lesson 04 (star schema with dbt): what the lesson and its solution recorded, and the grader.

The recorded numbers come from the session-wide course run (fixture ``records``), so what this
file asserts is what `make course` reports. Timings are recorded, never asserted.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from graders import run_check
from jornada import exercises

pytestmark = pytest.mark.notebooks

LESSON = "04_star_schema_with_dbt"
SOLUTION = f"solutions/{LESSON}"
EXERCISE = exercises.EXERCISES / f"{LESSON}.ipynb"
TASKS = ["fraud_rate_by_uf", "incremental_model", "revenue_by_category_month", "scd2_version_at"]


@pytest.fixture(scope="module")
def lesson(records):
    rec = records.get(LESSON)
    assert rec, f"notebooks/{LESSON}.ipynb recorded nothing (did it fail? see test_notebooks)"
    return rec


def test_fact_revenue_reconciles_with_the_oltp(lesson):
    assert lesson["fact_equals_oltp"] is True
    assert lesson["fact_revenue"] == lesson["oltp_revenue"] > 0
    assert lesson["rollup_total_equals_oltp"] is True


def test_the_original_total_over_counts_revenue(lesson):
    # the order total repeated on every item row: ~ items per order (1–5 items, mean ≈ 2.3–3)
    assert 1.8 < lesson["original_overcount_factor"] < 4.0


def test_dbt_build_is_green(lesson):
    assert lesson["dbt_tests_failed"] == 0
    assert lesson["dbt_tests_passed"] >= 50
    assert lesson["dbt_build_s"] > 0


def test_scd2_keeps_both_versions_of_the_customer_who_moved(lesson):
    assert lesson["scd2_versions"] == 2
    assert lesson["scd2_current_uf"] == "RJ"


def test_incremental_fact_and_the_late_row(lesson):
    assert 0 < lesson["incremental_rows_written"] < 50     # only the touched orders, not the table
    assert lesson["watermark_would_miss_late_row"] is True


def test_fraud_rate_by_uf(lesson):
    rows = {r["uf"]: r for r in lesson["fraud_rate_by_uf"]}
    assert {"SP", "MG", "RJ"} <= set(rows)
    home = sum(rows[uf]["pedidos"] for uf in ("SP", "MG", "RJ"))
    assert home / sum(r["pedidos"] for r in rows.values()) > 0.97
    for uf, r in rows.items():
        assert r["taxa_fraude"] == pytest.approx(r["fraudes"] / r["pedidos"], abs=1e-4)
        if uf in ("SP", "MG", "RJ"):
            assert r["taxa_fraude"] < 0.05
        else:                                   # every order placed elsewhere is a location fraud
            assert r["taxa_fraude"] == 1.0
    assert 0.005 <= lesson["fraud_rate_overall"] <= 0.02


def test_solution_passes_every_task(records):
    rec = records.get(SOLUTION)
    assert rec, f"{SOLUTION}.ipynb recorded nothing (did it fail? see test_notebooks)"
    assert rec["checks_passed"] == TASKS


# ---- the grader: `jornada check 04` ------------------------------------------------------
def _check(notebook):
    return run_check("04", notebook)


def _rows(stdout: str) -> dict[str, str]:
    return {line.split("│")[1].strip(): line for line in stdout.splitlines()
            if line.startswith("│") and "task_" in line}


def test_check_passes_on_the_solution(stack_up):
    done = _check(exercises.SOLUTIONS / f"{LESSON}.ipynb")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4/4 tasks pass" in done.stdout


def test_check_says_to_do_on_the_untouched_exercise(stack_up):
    done = _check(EXERCISE)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("to do") == 4 and "0/4 tasks pass" in done.stdout


ITEM_GRAIN_RATE = '''
    rows = conn.execute("select uf_pedido, avg(fraude_confirmada::int)::float8 from marts.fato_pedidos "
                        "group by uf_pedido").fetchall()
    return dict(rows)
'''

UPDATED_AT_WATERMARK = '''
    sql = """
{{ config(materialized='incremental', unique_key='id_pedido') }}
select id_pedido, id_pessoa, dt_venda, valor_total, updated_at
from {{ source('exercicio', 'pedidos') }}
{% if is_incremental() %} where updated_at > (select max(updated_at) from {{ this }}) {% endif %}
"""
    yml = """
version: 2
models:
  - name: pedidos_incremental
    columns:
      - name: id_pedido
        data_tests: [unique, not_null]
"""
    return sql, yml
'''


def _plant(tmp_path: Path, marker: str, body: str) -> Path:
    nb = nbformat.read(EXERCISE, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    assert len(cells) == 1
    src = cells[0].source
    blank = next(line for line in src.splitlines() if "raise NotImplementedError" in line)
    cells[0].source = src.replace(blank, body.strip("\n"))
    planted = tmp_path / f"{LESSON}.ipynb"
    nbformat.write(nb, planted)
    return planted


def test_an_item_grain_fraud_rate_gets_the_teaching_hint(stack_up, tmp_path):
    done = _check(_plant(tmp_path, "def fraud_rate_by_uf", ITEM_GRAIN_RATE))
    assert done.returncode == 1, done.stdout + done.stderr
    rows = _rows(done.stdout)
    assert "fail" in rows["task_fraud_rate_by_uf"]
    assert "ITEM grain" in rows["task_fraud_rate_by_uf"]
    assert "count(distinct id_pedido)" in rows["task_fraud_rate_by_uf"]
    assert "to do" in rows["task_incremental_model"]   # the other tasks are untouched


def test_an_updated_at_watermark_gets_the_late_row_hint(stack_up, tmp_path):
    done = _check(_plant(tmp_path, "def incremental_model", UPDATED_AT_WATERMARK))
    assert done.returncode == 1, done.stdout + done.stderr
    rows = _rows(done.stdout)
    assert "fail" in rows["task_incremental_model"]
    assert "late row" in rows["task_incremental_model"] and "loaded_at" in rows["task_incremental_model"]
