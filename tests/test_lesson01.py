"""Lessons 00 (the stack) and 01 (modelling the shop), and the lesson 01 exercises.

The `records` tests read what the notebooks reported with jornada.course.record() during the
session's course run; the `jornada check 01` tests run the real grader on the solution, on the
untouched exercise and on an exercise with deliberately wrong answers.
"""

from __future__ import annotations


import nbformat
import pytest

from graders import run_check
from jornada import exercises

pytestmark = pytest.mark.notebooks

SOLUTION = exercises.SOLUTIONS / "01_modelling_the_shop.ipynb"
EXERCISE = exercises.EXERCISES / "01_modelling_the_shop.ipynb"


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
    assert rec01["labels_after_sale"] is True
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
    assert rec01["trigger_sets_updated_at"] is True


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
    assert rec01["demo_sale_items"] == 2 and rec01["demo_sale_consistent"] is True


@pytest.mark.notebooks
def test_lesson01_analytics_add_up(rec01):
    assert rec01["revenue_by_category_matches"] is True
    assert set(rec01["home_states"]) <= {"SP", "MG", "RJ"}
    assert 1 <= rec01["months_with_orders"] <= 7


@pytest.mark.notebooks
def test_solution01_recorded_every_task(records):
    rec = records.get("solutions/01_modelling_the_shop")
    assert rec, "solutions/01_modelling_the_shop.ipynb recorded nothing"
    assert rec["checks_passed"] == sorted(["orders_per_customer", "place_order", "inconsistent_orders",
                                           "item_total_check"])
    assert rec["check_details"]["place_order"]["atomic"] is True


# ---- the grader on solution, exercise and wrong answers --------------------------------------
def _check(notebook):
    return run_check("01", notebook)


@pytest.mark.notebooks
def test_check_01_passes_on_the_solution(stack_up):
    result = _check(SOLUTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4/4 tasks pass" in result.stdout


@pytest.mark.notebooks
def test_check_01_says_to_do_on_the_untouched_exercise(stack_up):
    result = _check(EXERCISE)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.count("to do") == 4, result.stdout
    assert "0/4 tasks pass" in result.stdout


WRONG_ORDERS_PER_CUSTOMER = '''return """
        select p.id_pessoa, count(*) as n_pedidos, sum(i.valor_total) as total
        from pedidos p join itens_pedidos i on i.id_pedido = p.id
        group by p.id_pessoa order by total desc
    """'''

WRONG_PLACE_ORDER = '''price = dict(conn.execute("select id, valor_unit from produtos").fetchall())
    order_id = conn.execute("insert into pedidos (id_pessoa, dt_venda, valor_total) values (%s, %s, %s) returning id",
                            (id_pessoa, dt_venda, sum(q * price[p] for p, q in items))).fetchone()[0]
    for p, q in items:
        conn.execute("insert into itens_pedidos (id_pedido, id_produto, qtde, valor_unit, valor_total)"
                     " values (%s, %s, %s, %s, %s)", (order_id, p, q, price[p], q * price[p]))
    conn.execute("insert into auditoria_pedidos (id_pedido, dispositivo, geohash, telefone) values (%s, %s, %s, %s)",
                 (order_id, audit["dispositivo"], audit["geohash"], audit["telefone"]))
    return order_id'''


def _fill(nb, function: str, body: str) -> None:
    """Replace the blank inside `def <function>` by body (indented as the blank was)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and f"def {function}(" in cell.source:
            lines = cell.source.splitlines()
            i = next(n for n, line in enumerate(lines) if "raise NotImplementedError" in line)
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i] = indent + body
            cell.source = "\n".join(lines)
            return
    raise AssertionError(f"no cell defines {function}() in {EXERCISE.name}")


@pytest.mark.notebooks
def test_check_01_teaches_on_wrong_answers(stack_up, tmp_path):
    nb = nbformat.read(EXERCISE, as_version=4)
    _fill(nb, "orders_per_customer_sql", WRONG_ORDERS_PER_CUSTOMER)   # counts items, not orders
    _fill(nb, "place_order", WRONG_PLACE_ORDER)                       # no transaction
    wrong = tmp_path / "01_wrong.ipynb"
    nbformat.write(nb, wrong)
    result = _check(wrong)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "you counted itens_pedidos rows" in out, result.stdout
    assert "committed before its items/audit row" in out and "conn.transaction()" in out, result.stdout
    assert out.count("to do") == 2, result.stdout   # tasks 3 and 4 still untouched
    assert "0/4 tasks pass" in out
