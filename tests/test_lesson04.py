"""Lesson 04 (star schema with dbt): what the lesson and its solution recorded
(`jornada check` itself: test_graders.py).

The recorded numbers come from the session-wide course run (fixture ``records``), so what this
file asserts is what `make course` reports. Timings are recorded, never asserted.
"""

from __future__ import annotations

import pytest


pytestmark = pytest.mark.notebooks

LESSON = "04_star_schema_with_dbt"
SOLUTION = f"solutions/{LESSON}"
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
