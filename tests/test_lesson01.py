"""Lessons 00 (the stack) and 01 (modelling the shop), and the lesson 01 solution.

The `records` tests read what the notebooks reported with jornada.course.record() during the
session's course run; `jornada check 01` itself is tested in test_graders.py.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest


pytestmark = pytest.mark.notebooks


# ---- lesson 00 -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rec00(records):
    rec = records["00_the_stack"]
    assert rec, "notebooks/00_the_stack.ipynb recorded nothing (did it fail? see test_notebooks)"
    return rec


@pytest.fixture(scope="module")
def rec01(records):
    rec = records["01_modelling_the_shop"]
    assert rec, "notebooks/01_modelling_the_shop.ipynb recorded nothing (did it fail? see test_notebooks)"
    return rec


@pytest.mark.notebooks
def test_lesson00_every_service_is_healthy(rec00):
    assert rec00["services_total"] >= 2 and {"oltp", "olap"} <= set(rec00["services"])
    assert rec00["services_healthy"] == rec00["services_total"], rec00["services_unhealthy"]


@pytest.mark.notebooks
def test_lesson00_postgres_is_16_with_logical_wal(rec00):
    assert rec00["postgres_major"] >= 16
    assert rec00["wal_level"] == "logical", "Debezium (lesson 03) needs wal_level=logical on the OLTP"


def test_lesson00_reported_what_the_servers_say(rec00, stack_up):
    from jornada.db import connect

    for db, key in (("oltp", "wal_level"), ("olap", "olap_wal_level")):
        with connect(db) as conn:
            assert conn.execute("show wal_level").fetchone()[0] == rec00[key], db
    with connect("oltp") as conn:
        assert int(conn.execute("show server_version_num").fetchone()[0]) // 10000 == rec00["postgres_major"]


@pytest.mark.notebooks
def test_lesson00_reports_schema_doctor_and_memory(rec00):
    assert set(rec00["oltp_tables"]) >= {"pessoas", "pedidos", "itens_pedidos", "auditoria_pedidos",
                                         "enderecos", "fraudes_confirmadas"}
    assert {"java", "memory", "cpu", "disk"} <= set(rec00["doctor"])
    assert all(mb > 0 for mb in rec00["rss_mb"].values()), "a healthy service uses memory"
    assert rec00["rss_mb_total"] == pytest.approx(sum(rec00["rss_mb"].values()), abs=0.5)


# ---- lesson 01 -------------------------------------------------------------------------------
@pytest.mark.notebooks
def test_lesson01_dataset_is_the_deterministic_one(rec01):
    assert rec01["categorias"] == 9 and rec01["produtos"] >= 9 * 20
    assert rec01["pessoas"] == rec01["n_customers"] + 20 == rec01["enderecos"]
    assert rec01["pedidos"] == rec01["n_orders"] == rec01["auditoria_pedidos"]
    assert rec01["itens_pedidos"] >= rec01["pedidos"]
    assert 0 < rec01["fraud_rate"] < 0.03, "about 1 % of historical orders are fraud"
    # a label arrives after its sale: every label's confirmada_em is later than its order's dt_venda
    assert rec01["labels_confirmed_after_sale"] == rec01["fraud_labels"] == sum(rec01["labels_by_type"].values())
    assert rec01["labels_earliest_confirmation_s"] > 0
    assert rec01["cpf_valid_share"] == 1.0


@pytest.mark.notebooks
def test_lesson01_glossary_covers_every_name(rec01):
    assert rec01["glossary_missing"] == []
    assert rec01["glossary_terms"] >= 30


@pytest.mark.notebooks
def test_lesson01_normal_form_counter_examples_show_their_anomalies(rec01):
    assert rec01["like_7_matches"] > rec01["orders_with_product_7"], "LIKE '%7%' must over-match"
    assert rec01["stale_copies_2nf"] > 0
    assert rec01["stale_copies_3nf"] > 0


@pytest.mark.notebooks
def test_lesson01_every_constraint_violation_was_rejected(rec01):
    assert rec01["constraint_attempts"] >= 6
    assert rec01["constraint_violations_rejected"] == rec01["constraint_attempts"]
    kinds = set(rec01["constraint_errors"].values())
    assert {"CheckViolation", "UniqueViolation", "ForeignKeyViolation"} <= kinds
    # the UPDATE asked for 2000-01-01; the trigger wrote the transaction's now() instead
    demo = rec01["trigger_demo"]
    assert demo["after"] == demo["transaction_now"] != demo["asked_for"], demo
    assert datetime.fromisoformat(demo["after"]) > datetime.fromisoformat(demo["before"]), demo
    assert demo["valor_unit"][1] == demo["valor_unit"][0] + 1, "the row really was updated"


@pytest.mark.notebooks
def test_lesson01_derived_total_is_consistent_and_indexes_are_used(rec01):
    assert rec01["orders_total_mismatch"] == 0
    assert rec01["orders_without_items"] == 0
    assert rec01["items_total_mismatch"] == 0
    assert rec01["plan_customer_uses_index"] and rec01["plan_day_uses_index"]
    assert rec01["plan_without_index_seq_scan"]


@pytest.mark.notebooks
def test_lesson01_one_transaction_leaves_nothing_half_written(rec01):
    assert rec01["orphans_with_autocommit"] == 1, "the original's two commits leave an order behind"
    assert rec01["rollback_left_rows"] == 0
    assert rec01["demo_sale_items"] == 2
    assert Decimal(rec01["demo_sale_valor_total"]) == Decimal(rec01["demo_sale_sum_of_items"]) > 0


@pytest.mark.notebooks
def test_lesson01_analytics_add_up(rec01):
    by_category = rec01["revenue_by_category"]
    assert len(by_category) == rec01["categorias"] and rec01["top_category"] in by_category
    assert sum(map(Decimal, by_category.values())) == Decimal(rec01["revenue_total_exact"]) > 0
    assert float(rec01["revenue_total_exact"]) == rec01["revenue_total"]
    assert set(rec01["home_states"]) <= {"SP", "MG", "RJ"}
    assert 1 <= rec01["months_with_orders"] <= 7

