"""The original course's way of loading history, kept only to be measured against the bulk path:
one INSERT per row, two commits per order, `ORDER BY random()` to pick products."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import numpy as np

from jornada import catalog
from jornada.generators.params import _naive_utc, validate
from jornada.generators.traits import _fraud_points, _scatter, ddd_of, fraud_device, habitual_device, phone_of
from jornada.generators.customers import _TAG_HISTORY
from jornada.generators.history import DEVICE, LEGIT, LOCATION, ORDER_RADIUS_KM, TIPO_FRAUDE, _PROFILE_KEYS, _age_at, _profile_codes, _stats



def load_history_row_by_row(orders: int, *, seed: int, now: datetime, fraud_rate: float = 0.01,
                            max_days: int = 180) -> dict:
    """ANTI-PATTERN, kept only to measure against :func:`load_history`.

    This is how the original course generated orders: for every order, pick a random customer
    and random products with ``ORDER BY random()`` (a full sort of the table each time), one
    INSERT per row, a commit after the order and its items and another after the audit row (two
    commits per order — a crash in between leaves an order without its audit row). The original
    warned that 1,000 orders "may take up to 5 minutes". Same statistics as load_history.
    Not reproducible either (server-side random()), beyond the ``setseed`` we add.
    """
    from jornada.db import connect

    validate(count=orders, fraud_rate=fraud_rate, max_days=max_days)
    now = _naive_utc(now)
    rng = np.random.default_rng([seed, _TAG_HISTORY, 1])
    t0 = time.perf_counter()
    n_items = 0
    frauds = {"localizacao": 0, "dispositivo": 0}
    with connect("oltp") as conn, conn.cursor() as cur:
        cur.execute("select setseed(%s)", ((seed % 1000) / 1000.0,))
        for _ in range(orders):
            cur.execute("select p.id, p.sexo, p.dt_nasc, e.uf, e.cidade, e.geohash from pessoas p"
                        " join enderecos e on e.id_pessoa = p.id order by random() limit 1")
            row = cur.fetchone()
            if row is None:
                raise ValueError("there are no customers yet: create some first")
            pid, sexo, nasc, uf, cidade, home = row
            dt = now.replace(microsecond=0) - timedelta(
                seconds=int(rng.integers(86400, max_days * 86400 + 1)))
            age = int(_age_at(np.array([nasc], dtype="datetime64[D]"),
                              np.array([dt], dtype="datetime64[s]"))[0])
            cats = catalog.PERFIS[_PROFILE_KEYS[int(_profile_codes(np.array([sexo]),
                                                                   np.array([age]))[0])]]
            cur.execute("select p.id, p.valor_unit from produtos p join categorias c"
                        " on c.id = p.id_categoria where c.descricao = any(%s)"
                        " order by random() limit %s", (cats, int(rng.integers(1, 6))))
            items = [(prod, price, int(rng.integers(1, 4))) for prod, price in cur.fetchall()]
            kind = LEGIT
            if rng.random() < fraud_rate:
                cur.execute("select count(*) from pedidos where id_pessoa = %s and dt_venda < %s",
                            (pid, dt))
                kind = DEVICE if rng.random() < 0.5 and cur.fetchone()[0] > 0 else LOCATION
            total = sum(price * q for _, price, q in items)
            cur.execute("insert into pedidos (id_pessoa, dt_venda, valor_total, created_at,"
                        " updated_at) values (%s, %s, %s, %s, %s) returning id",
                        (pid, dt, total, dt, dt))
            order_id = cur.fetchone()[0]
            for prod, price, q in items:
                cur.execute("insert into itens_pedidos (id_pedido, id_produto, qtde, valor_unit,"
                            " valor_total, created_at, updated_at) values (%s, %s, %s, %s, %s,"
                            " %s, %s)", (order_id, prod, q, price, price * q, dt, dt))
            conn.commit()                                  # commit #1: order + items
            ids = np.array([pid], dtype=np.int64)
            uf = uf.strip()
            if kind == LOCATION:
                gh = _fraud_points(rng, 1)[0][0]
            else:
                from jornada import geo
                lat, lon = geo.decode(home)
                gh = _scatter(rng, [lat], [lon], ORDER_RADIUS_KM, [uf], [home])[0]
            device = (fraud_device(ids) if kind == DEVICE else habitual_device(ids))[0]
            phone = phone_of(ids, ddd_of([uf], [cidade]))[0]
            cur.execute("insert into auditoria_pedidos (id_pedido, dispositivo, geohash, telefone,"
                        " created_at, updated_at) values (%s, %s, %s, %s, %s, %s)",
                        (order_id, device, gh, phone, dt, dt))
            if kind != LEGIT:
                conf = dt + timedelta(days=7)
                cur.execute("insert into fraudes_confirmadas (id_pedido, tipo_fraude,"
                            " confirmada_em, created_at, updated_at) values (%s, %s, %s, %s, %s)",
                            (order_id, TIPO_FRAUDE[kind], conf, conf, conf))
                frauds[TIPO_FRAUDE[kind]] += 1
            conn.commit()                                  # commit #2: audit row (+ label)
            n_items += len(items)
    rows = orders * 2 + n_items + sum(frauds.values())
    return _stats(t0, rows, orders=orders, items=n_items, frauds=frauds,
                  fraud_rate=round(sum(frauds.values()) / orders, 4))
