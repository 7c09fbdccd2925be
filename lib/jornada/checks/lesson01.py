"""Checks of lesson 01 (3NF modelling of the shop). Each task plants its own small, known rows so
the verdict never depends on what the generators produced, and leaves the database as it found it.

- task_orders_per_customer: the learner's SQL — orders and money per customer.
- task_place_order: the learner's ``place_order(conn, ...)`` — order + items + audit, atomically.
- task_inconsistent_orders: the learner's SQL — orders whose stored total disagrees with items.
- task_item_total_check: the learner adds a CHECK constraint keeping an item's total honest.

Only the learner's own errors escape from the learner's code: NotImplementedError of an untouched
blank propagates unchanged (the grader reports "to do"); wrong answers raise TaskFailed with a hint.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal

import psycopg

from ..db import connect
from . import TaskFailed, call, expect, passed

# Tasks that passed in this kernel (the solution notebook records them).
RESULTS: dict[str, dict] = {}

# What `jornada check 01` does to data (jornada.exercises.grade shows it; solutions/README.md):
# CHECK_SCRATCH lists the databases the run gets a scratch copy of (jornada.scratch).
CHECK_SCRATCH: tuple[str, ...] = ("oltp",)
CHECK_DATA = (
    "`jornada check 01` runs your notebook in the scratch database <OLTP_DB>_check (dropped and "
    "re-created for this run): the setup cell's init_oltp(reset=True) and the small generated shop "
    "land there, never in your own OLTP database")

CENT = Decimal("0.01")
# Fixed, recognisable timestamps of the rows the checks plant (never the wall clock).
PLANT_AT = datetime(2026, 1, 31, 12, 0, 0)
OK_AT = datetime(2026, 1, 31, 12, 0, 1)
FAIL_AT = datetime(2026, 1, 31, 12, 0, 2)
FAIL_PRODUCT_AT = datetime(2026, 1, 31, 12, 0, 3)


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


# ---- planting helpers ----------------------------------------------------------------------
def cpf_check_digits(base9: str) -> str:
    """The two check digits of a CPF whose first nine digits are ``base9``."""
    digits = [int(c) for c in base9]
    for weight_start in (10, 11):
        total = sum(d * w for d, w in zip(digits, range(weight_start, 1, -1)))
        rest = total % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return "".join(str(d) for d in digits[9:])


def _free_pessoa_ids(conn, how_many: int) -> list[int]:
    """CPF-like ids (valid check digits) that no customer has yet."""
    ids: list[int] = []
    base = 900_000_000
    while len(ids) < how_many:
        base += 1
        candidate = int(f"{base}{cpf_check_digits(str(base))}")
        taken = conn.execute("select 1 from pessoas where id = %s", (candidate,)).fetchone()
        if not taken:
            ids.append(candidate)
    return ids


def _plant_pessoa(conn, pid: int, nome: str) -> None:
    conn.execute("insert into pessoas (id, nome, sexo, dt_nasc) values (%s, %s, 'F', %s)",
                 (pid, nome, date(1990, 1, 1)))


def _products(conn, n: int) -> list[tuple[int, Decimal]]:
    rows = conn.execute("select id, valor_unit from produtos order by id limit %s", (n,)).fetchall()
    if len(rows) < n:
        raise RuntimeError("the catalogue is empty: run the setup cell (init_oltp) first")
    return [(r[0], r[1]) for r in rows]


def _plant_order(conn, id_pessoa: int, items: list[tuple[int, int, Decimal]],
                 valor_total: Decimal | None = None) -> int:
    """Insert an order with items [(id_produto, qtde, valor_unit)]; total = sum unless given."""
    total = sum((q * v for _, q, v in items), Decimal("0.00")) if valor_total is None else valor_total
    oid = conn.execute("insert into pedidos (id_pessoa, dt_venda, valor_total) values (%s, %s, %s)"
                       " returning id", (id_pessoa, PLANT_AT, total)).fetchone()[0]
    for id_produto, qtde, valor_unit in items:
        conn.execute("insert into itens_pedidos (id_pedido, id_produto, qtde, valor_unit, valor_total)"
                     " values (%s, %s, %s, %s, %s)", (oid, id_produto, qtde, valor_unit, qtde * valor_unit))
    return oid


@contextmanager
def _scratch():
    """A connection whose every change is rolled back at the end, whatever happens."""
    conn = connect("oltp")
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


def _run_learner_sql(conn, sql, fn_name: str):
    expect(isinstance(sql, str) and sql.strip(),
           f"{fn_name}() must return the SQL text as a string (got {type(sql).__name__})")
    try:
        with conn.transaction():  # a savepoint: a broken query must not lose the planted rows
            cur = conn.execute(sql)
            if cur.description is None:
                raise TaskFailed(f"the SQL of {fn_name}() returned no rows at all: it must be a SELECT")
            return [d.name for d in cur.description], cur.fetchall()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TaskFailed(f"your SQL does not run: {type(exc).__name__}: {first}") from None


# ---- task 1: orders per customer -----------------------------------------------------------
REFERENCE_ORDERS_PER_CUSTOMER = """
    select id_pessoa, count(*) as n_pedidos, sum(valor_total) as total
    from pedidos
    group by id_pessoa
    order by total desc, id_pessoa
"""


def task_orders_per_customer(fn) -> None:
    """fn() returns SQL with columns id_pessoa, n_pedidos, total; one row per customer with orders."""
    RESULTS.pop("orders_per_customer", None)
    sql = call(fn)
    with _scratch() as conn:
        a, b = _free_pessoa_ids(conn, 2)
        _plant_pessoa(conn, a, "Cliente Teste A")
        _plant_pessoa(conn, b, "Cliente Teste B")
        p = _products(conn, 3)
        # A: two orders of three items each, qtde 2 -> 2 orders, 6 item rows, 12 units
        a_items = [(pid, 2, price) for pid, price in p]
        for _ in range(2):
            _plant_order(conn, a, a_items)
        b_items = [(p[0][0], 1, p[0][1])]
        _plant_order(conn, b, b_items)
        cols, rows = _run_learner_sql(conn, sql, "orders_per_customer_sql")
        ref = conn.execute(REFERENCE_ORDERS_PER_CUSTOMER).fetchall()
    missing = [c for c in ("id_pessoa", "n_pedidos", "total") if c not in cols]
    expect(not missing, f"the result needs the columns id_pessoa, n_pedidos, total (missing {missing}; "
                        f"got {cols}) — name them with AS")
    ix = {c: cols.index(c) for c in ("id_pessoa", "n_pedidos", "total")}
    got = {}
    for r in rows:
        expect(r[ix["id_pessoa"]] not in got,
               f"customer {r[ix['id_pessoa']]} appears on more than one row: group by id_pessoa only")
        got[r[ix["id_pessoa"]]] = (r[ix["n_pedidos"]], r[ix["total"]])
    want = {r[0]: (r[1], r[2]) for r in ref}
    one_order_total = sum((q * v for _, q, v in a_items), Decimal("0.00"))
    expect(a in got, "a planted customer with 2 orders is missing from your result — "
                     "did you filter rows out (a WHERE, or an inner join to a table it has no rows in)?")
    n_a, total_a = got[a]
    expect(n_a != 6, "customer A has 2 orders of 3 items each and you reported 6: you counted "
                     "itens_pedidos rows — count pedidos per id_pessoa (count(*) on pedidos, or "
                     "count(distinct pedidos.id) if you joined the items)")
    expect(n_a != 12, "customer A has 2 orders and you reported 12: you summed itens_pedidos.qtde — "
                      "n_pedidos counts orders, not units")
    expect(n_a == 2, f"customer A has 2 orders; your n_pedidos says {n_a}")
    expect(total_a is not None, "total is NULL for a customer with orders: sum pedidos.valor_total")
    total_a = _money(total_a)
    expect(total_a != _money(3 * 2 * one_order_total),
           "customer A's total came out 3× too big: you joined itens_pedidos and then summed "
           "pedidos.valor_total — each order's total repeats on every item row (the fan-out trap). "
           "Sum pedidos.valor_total without the join")
    twice = sum((q * q * v for _, q, v in a_items), Decimal("0.00")) * 2
    expect(total_a != _money(twice),
           "customer A's total is too big: itens_pedidos.valor_total is already qtde × valor_unit — "
           "do not multiply by qtde twice (or simply sum pedidos.valor_total)")
    expect(total_a == _money(2 * one_order_total),
           f"customer A ordered R$ {2 * one_order_total} in total; your total says R$ {total_a} — "
           "sum pedidos.valor_total per id_pessoa")
    extra = sorted(set(got) - set(want))
    expect(not extra, f"{len(extra)} customer(s) without any order are listed (e.g. {extra[:3]}): "
                      "list only customers who ordered (group pedidos, no left join from pessoas)")
    lost = sorted(set(want) - set(got))
    expect(not lost, f"{len(lost)} customer(s) with orders are missing (e.g. {lost[:3]})")
    for pid, (n, total) in want.items():
        gn, gt = got[pid]
        expect(gn == n and gt is not None and _money(gt) == _money(total),
               f"customer {pid}: expected {n} orders totalling R$ {total}, got {gn} and R$ {gt}")
    totals = [_money(r[ix["total"]]) for r in rows]
    expect(totals == sorted(totals, reverse=True),
           "the rows are not sorted by total, biggest first: add ORDER BY total DESC")
    RESULTS["orders_per_customer"] = {"customers": len(want)}
    passed("orders_per_customer", f"{len(want)} customers, sorted by total")


# ---- task 2: place an order atomically -----------------------------------------------------
GOOD_AUDIT = {"dispositivo": "Motorola Moto G84", "geohash": "6gycfqb", "telefone": "+55 11 98888-0101"}
# "a" is not a geohash letter (the alphabet leaves out a, i, l, o): the CHECK rejects it.
BAD_AUDIT = {"dispositivo": "Motorola Moto G84", "geohash": "6gycfqa", "telefone": "+55 11 98888-0101"}


def _orders_at(id_pessoa: int, at: datetime) -> list[int]:
    with connect("oltp") as other:  # another session: sees only what was committed
        return [r[0] for r in other.execute(
            "select id from pedidos where id_pessoa = %s and dt_venda = %s", (id_pessoa, at))]


def _delete_orders(ids: list[int]) -> None:
    if ids:
        with connect("oltp") as other:
            other.execute("delete from pedidos where id = any(%s)", (ids,))  # cascades to items/audit


def _expect_failure(fn, conn, id_pessoa, items, audit, at, what: str) -> dict:
    """What a failing call left: the error the database raised and the orders another session sees."""
    try:
        fn(conn, id_pessoa, items, audit, at)
    except NotImplementedError:
        raise
    except Exception as exc:  # the database rejected the bad row: that is what we want here
        left = _orders_at(id_pessoa, at)
        _delete_orders(left)
        expect(not left, f"after a failing call ({what}) the order was still in the database: your "
                         "order was committed before its items/audit row. Wrap all the inserts in "
                         "`with conn.transaction():` so a failure rolls every one of them back")
        return {"error": type(exc).__name__, "orders_left": len(left)}
    _delete_orders(_orders_at(id_pessoa, at))
    raise TaskFailed(f"place_order() returned normally although {what}: let the database error "
                     "propagate (no try/except around the inserts) so the caller knows")


def task_place_order(fn) -> None:
    """fn(conn, id_pessoa, items, audit, dt_venda) -> new order id; conn is in autocommit mode."""
    RESULTS.pop("place_order", None)
    with connect("oltp") as conn:
        id_pessoa = conn.execute("select id from pessoas order by id limit 1").fetchone()[0]
        products = _products(conn, 3)
    items = [(products[0][0], 2), (products[1][0], 1), (products[2][0], 3)]
    price = dict(products)
    # Autocommit, like a web app's pooled connection: every statement commits on its own unless
    # the learner groups them in a transaction.
    conn = connect("oltp", autocommit=True)
    try:
        stale = _orders_at(id_pessoa, OK_AT) + _orders_at(id_pessoa, FAIL_AT) + _orders_at(id_pessoa, FAIL_PRODUCT_AT)
        _delete_orders(stale)  # left behind by an interrupted earlier run
        new_id = call(fn, conn, id_pessoa, items, dict(GOOD_AUDIT), OK_AT)
        try:
            expect(isinstance(new_id, int) and not isinstance(new_id, bool),
                   f"place_order() must return the new order's id as an int (got {new_id!r}) — "
                   "use `insert … returning id` and fetchone()[0]")
            with connect("oltp") as other:
                order = other.execute("select id_pessoa, dt_venda, valor_total from pedidos where id = %s",
                                      (new_id,)).fetchone()
                expect(order is not None,
                       f"order {new_id} is not visible from another session after place_order() returned: "
                       "it was never committed — `with conn.transaction():` commits when the block ends")
                expect(order[0] == id_pessoa and order[1] == OK_AT,
                       f"order {new_id} has id_pessoa={order[0]}, dt_venda={order[1]}; expected the "
                       f"arguments {id_pessoa} and {OK_AT}")
                got_items = {r[0]: r[1:] for r in other.execute(
                    "select id_produto, qtde, valor_unit, valor_total from itens_pedidos where id_pedido = %s",
                    (new_id,))}
                audit = other.execute("select dispositivo, geohash, telefone from auditoria_pedidos"
                                      " where id_pedido = %s", (new_id,)).fetchone()
        finally:
            _delete_orders([new_id] if isinstance(new_id, int) else [])
        expect(set(got_items) == {i for i, _ in items},
               f"order {new_id} has items for products {sorted(got_items)}; expected {sorted(i for i, _ in items)}"
               " — insert one itens_pedidos row per (id_produto, qtde) pair")
        for id_produto, qtde in items:
            g_qtde, g_unit, g_total = got_items[id_produto]
            expect(g_qtde == qtde, f"product {id_produto}: qtde {g_qtde}, expected {qtde}")
            expect(_money(g_unit) == _money(price[id_produto]),
                   f"product {id_produto}: valor_unit {g_unit}, but the catalogue price is "
                   f"{price[id_produto]} — read produtos.valor_unit at the time of sale")
            expect(_money(g_total) == _money(qtde * price[id_produto]),
                   f"product {id_produto}: item valor_total {g_total}, expected qtde × valor_unit = "
                   f"{qtde * price[id_produto]}")
        want_total = sum((q * price[i] for i, q in items), Decimal("0.00"))
        expect(_money(order[2]) == _money(want_total),
               f"pedidos.valor_total is {order[2]} but its items add up to {want_total}: "
               "store the sum of the items' valor_total")
        expect(audit is not None, f"order {new_id} has no auditoria_pedidos row: every order gets "
                                  "exactly one (dispositivo, geohash, telefone)")
        expect(tuple(audit) == (GOOD_AUDIT["dispositivo"], GOOD_AUDIT["geohash"], GOOD_AUDIT["telefone"]),
               f"the audit row holds {tuple(audit)}; expected the values of the `audit` argument")
        failures = {
            "invalid_geohash": _expect_failure(fn, conn, id_pessoa, items, dict(BAD_AUDIT), FAIL_AT,
                                               "the audit row has an invalid geohash"),
            "unknown_product": _expect_failure(fn, conn, id_pessoa, items + [(987_654_321, 1)], dict(GOOD_AUDIT),
                                               FAIL_PRODUCT_AT, "one product id does not exist"),
        }
    finally:
        conn.close()
    RESULTS["place_order"] = {"items": len(items), "total": str(want_total), "failures": failures}
    passed("place_order", f"total R$ {want_total}, audit present, failures leave nothing behind")


# ---- task 3: orders whose stored total disagrees with their items ---------------------------
REFERENCE_INCONSISTENT = """
    select p.id as id_pedido
    from pedidos p
    left join itens_pedidos i on i.id_pedido = p.id
    group by p.id, p.valor_total
    having p.valor_total <> coalesce(sum(i.valor_total), 0)
    order by p.id
"""


def task_inconsistent_orders(fn) -> None:
    """fn() returns SQL whose first column is the id of every inconsistent order."""
    RESULTS.pop("inconsistent_orders", None)
    sql = call(fn)
    with _scratch() as conn:
        (c,) = _free_pessoa_ids(conn, 1)
        _plant_pessoa(conn, c, "Cliente Teste C")
        p = _products(conn, 2)
        items = [(p[0][0], 2, p[0][1]), (p[1][0], 1, p[1][1])]
        right = sum((q * v for _, q, v in items), Decimal("0.00"))
        ok_many = _plant_order(conn, c, items)                          # consistent, 2 items
        off_cent = _plant_order(conn, c, items, right + CENT)           # off by one cent
        no_items = _plant_order(conn, c, [], Decimal("50.00"))           # total but no items
        empty_zero = _plant_order(conn, c, [], Decimal("0.00"))          # no items, total 0: fine
        cols, rows = _run_learner_sql(conn, sql, "inconsistent_orders_sql")
        want = {r[0] for r in conn.execute(REFERENCE_INCONSISTENT)}
    got = [r[0] for r in rows]
    expect(len(got) == len(set(got)), "an order id appears more than once: group by the order "
                                      "(one row per inconsistent order)")
    got_set = set(got)
    expect(ok_many not in got_set,
           "a consistent order with two items was reported: compare valor_total with the SUM of the "
           "order's items (group by the order), not with each item row")
    expect(off_cent in got_set,
           "the planted order whose total is off by R$ 0.01 was not found: compare the numeric "
           "values exactly — no round(), no tolerance")
    expect(no_items in got_set,
           "an order with valor_total 50.00 and no items at all was missed: an inner join drops it — "
           "start from pedidos with a LEFT JOIN and compare with coalesce(sum(...), 0)")
    expect(empty_zero not in got_set,
           "an order with no items and valor_total 0 was reported, but 0 = the (empty) sum of its "
           "items: use coalesce(sum(i.valor_total), 0) rather than treating NULL as different")
    expect(got_set == want, f"expected the orders {sorted(want)[:10]}, got {sorted(got_set)[:10]}")
    RESULTS["inconsistent_orders"] = {"found": len(want)}
    passed("inconsistent_orders", "found the planted inconsistencies, nothing else")


# ---- task 4: a CHECK constraint for a derived column ---------------------------------------
def _check_constraints(conn) -> set[str]:
    return {r[0] for r in conn.execute(
        "select conname from pg_constraint where conrelid = 'itens_pedidos'::regclass and contype = 'c'")}


def task_item_total_check(fn) -> None:
    """fn(conn) adds a CHECK on itens_pedidos so valor_total = qtde * valor_unit (not committed)."""
    RESULTS.pop("item_total_check", None)
    with connect("oltp") as probe:
        before = _check_constraints(probe)
    conn = connect("oltp")
    try:
        call(fn, conn)
        new = _check_constraints(conn) - before
        expect(new, "no new CHECK constraint on itens_pedidos: use "
                    "`alter table itens_pedidos add constraint <name> check (...)`")
        id_pessoa = conn.execute("select id from pessoas order by id limit 1").fetchone()[0]
        (id_produto, price), = _products(conn, 1)
        oid = conn.execute("insert into pedidos (id_pessoa, dt_venda, valor_total) values (%s, %s, 0)"
                           " returning id", (id_pessoa, PLANT_AT)).fetchone()[0]
        insert = ("insert into itens_pedidos (id_pedido, id_produto, qtde, valor_unit, valor_total)"
                  " values (%s, %s, %s, %s, %s)")
        rejected = False
        try:
            with conn.transaction():
                conn.execute(insert, (oid, id_produto, 3, price, price))  # 3 units, total of 1
        except psycopg.errors.CheckViolation:
            rejected = True
        expect(rejected, f"a row with qtde 3, valor_unit {price} and valor_total {price} was accepted: "
                         "the constraint must require valor_total = qtde * valor_unit")
        try:
            with conn.transaction():
                conn.execute(insert, (oid, id_produto, 3, price, 3 * price))
        except psycopg.errors.CheckViolation as exc:
            raise TaskFailed(f"a correct row (3 × {price} = {3 * price}) was rejected by your "
                             f"constraint: compare valor_total = qtde * valor_unit exactly ({exc.diag.constraint_name})") from None
    finally:
        conn.rollback()
        conn.close()
    with connect("oltp") as probe:
        leaked = _check_constraints(probe) - before
        if leaked:
            for name in leaked:
                probe.execute(f'alter table itens_pedidos drop constraint "{name}"')
    expect(not leaked, "your function committed the constraint (it was still there after the check "
                       "rolled back); leave commit to the caller — the check removed it again")
    RESULTS["item_total_check"] = {"constraints": sorted(new)}
    passed("item_total_check", f"{', '.join(sorted(new))} rejects a wrong item total and accepts a right one")
