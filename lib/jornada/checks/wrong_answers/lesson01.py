"""Lesson 01's planted wrong answers (see jornada.checks.wrong_answers)."""

# sums item totals over a join and counts item rows as orders
ORDERS_PER_CUSTOMER_COUNTING_ITEMS = '''    return """
        select p.id_pessoa, count(*) as n_pedidos, sum(i.valor_total) as total
        from pedidos p join itens_pedidos i on i.id_pedido = p.id
        group by p.id_pessoa order by total desc
    """'''

# every insert commits on its own (autocommit): a failing audit row leaves the order behind
PLACE_ORDER_WITHOUT_TRANSACTION = '''    price = dict(conn.execute("select id, valor_unit from produtos").fetchall())
    order_id = conn.execute("insert into pedidos (id_pessoa, dt_venda, valor_total) values (%s, %s, %s) returning id",
                            (id_pessoa, dt_venda, sum(q * price[p] for p, q in items))).fetchone()[0]
    for p, q in items:
        conn.execute("insert into itens_pedidos (id_pedido, id_produto, qtde, valor_unit, valor_total)"
                     " values (%s, %s, %s, %s, %s)", (order_id, p, q, price[p], q * price[p]))
    conn.execute("insert into auditoria_pedidos (id_pedido, dispositivo, geohash, telefone) values (%s, %s, %s, %s)",
                 (order_id, audit["dispositivo"], audit["geohash"], audit["telefone"]))
    return order_id'''

CASES = [
    {"name": "items-counted-as-orders-and-no-transaction",
     "plant": {"orders_per_customer_sql": ORDERS_PER_CUSTOMER_COUNTING_ITEMS,
               "place_order": PLACE_ORDER_WITHOUT_TRANSACTION},
     "expect": {"task_orders_per_customer": ["you counted itens_pedidos rows"],
                "task_place_order": ["committed before its items/audit row", "conn.transaction()"]}},
]
