"""Lesson 04 (star schema with dbt): what the lesson and its solution recorded
(`jornada check` itself: test_graders.py).

The recorded numbers come from the session-wide course run (fixture ``records``), so what this
file asserts is what `make course` reports. Timings are recorded, never asserted.
"""

from __future__ import annotations

from datetime import datetime

import pytest


pytestmark = pytest.mark.notebooks

LESSON = "04_star_schema_with_dbt"


@pytest.fixture(scope="module")
def lesson(records):
    rec = records.get(LESSON)
    assert rec, f"notebooks/{LESSON}.ipynb recorded nothing (did it fail? see test_notebooks)"
    return rec


def test_fact_revenue_reconciles_with_the_oltp(lesson):
    assert lesson["fact_revenue"] == lesson["oltp_revenue"] > 0
    # ROLLUP's grand total and its month subtotals add up to the OLTP's revenue (read after the
    # lesson's late order, hence its own OLTP figure)
    assert lesson["rollup_total"] == pytest.approx(lesson["rollup_oltp_revenue"], abs=0.005)
    assert lesson["rollup_month_subtotals"] == pytest.approx(lesson["rollup_total"], abs=0.005)


def test_the_original_total_over_counts_revenue(lesson):
    # the order total repeated on every item row: ~ items per order (1–5 items, mean ≈ 2.3–3)
    assert 1.8 < lesson["original_overcount_factor"] < 4.0


def test_dbt_build_is_green(lesson):
    assert lesson["dbt_tests_failed"] == 0
    assert lesson["dbt_tests_passed"] >= 50


def test_scd2_keeps_both_versions_of_the_customer_who_moved(lesson):
    assert lesson["scd2_versions"] == 2
    assert lesson["scd2_current_uf"] == "RJ"


def test_incremental_fact_and_the_late_row(lesson):
    assert 0 < lesson["incremental_rows_written"] < 50     # only the touched orders, not the table
    assert lesson["fact_rows"] > 100 * lesson["incremental_rows_written"]
    # the late chargeback is stamped below the watermark, so an updated_at extract skips it…
    watermark = datetime.fromisoformat(lesson["watermark"])
    assert datetime.fromisoformat(lesson["late_updated_at"]) < watermark
    assert lesson["late_order"] not in lesson["watermark_extract_ids"]
    # …while CDC brought it into raw and the rebuilt fact marks its order as fraud
    assert lesson["late_rows_in_raw"] == 1
    assert lesson["late_order_fraud_in_fact"] is True


def test_fraud_rate_by_uf(lesson):
    rows = {r["uf"]: r for r in lesson["fraud_rate_by_uf"]}
    assert {"SP", "MG", "RJ"} <= set(rows)
    home = sum(rows[uf]["pedidos"] for uf in ("SP", "MG", "RJ"))
    assert home / sum(r["pedidos"] for r in rows.values()) > 0.97
    for uf, r in rows.items():
        assert r["taxa_fraude"] == pytest.approx(r["fraudes"] / r["pedidos"], abs=1e-4)
        assert r["fraudes"] == r["fraudes_localizacao"] + r["fraudes_dispositivo"] + r["fraudes_conta_invadida"]
        if uf in ("SP", "MG", "RJ"):               # at home: device frauds and takeovers only
            assert r["taxa_fraude"] < 0.05 and r["fraudes_localizacao"] == 0
        else:                                      # elsewhere: location frauds only
            assert r["fraudes"] == r["fraudes_localizacao"]
    away = [r for uf, r in rows.items() if uf not in ("SP", "MG", "RJ")]
    # …but not every order placed elsewhere is a fraud: honest customers travel
    assert sum(r["pedidos"] for r in away) > sum(r["fraudes"] for r in away) > 0
    assert sum(rows[uf]["fraudes_conta_invadida"] for uf in ("SP", "MG", "RJ")) > 0
    assert 0.005 <= lesson["fraud_rate_overall"] <= 0.02


def test_location_rule_on_the_mart_over_flags_and_misses(lesson):
    cells = {(r["tipo_fraude"], r["flagged"]): r["pedidos"] for r in lesson["location_rule_vs_labels"]}
    rows = {r["uf"]: r for r in lesson["fraud_rate_by_uf"]}
    assert sum(cells.values()) == sum(r["pedidos"] for r in rows.values())
    assert cells.get(("localizacao", False), 0) == 0       # every location fraud flagged
    assert cells[("(honest)", True)] > 0                   # honest travellers: false alarms
    assert cells.get(("conta_invadida", True), 0) == 0     # takeovers and device frauds: at home,
    assert cells.get(("dispositivo", True), 0) == 0        # never flagged
    assert cells[("conta_invadida", False)] > 0 and cells[("dispositivo", False)] > 0

