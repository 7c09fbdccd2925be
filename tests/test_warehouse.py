"""The warehouse against the real native stack: OLTP → raw mirror (COPY snapshot, then Debezium
CDC) → dbt star schema.

One small deterministic shop is built once for the module (reset OLTP, 150 customers, 1,500
historical orders, snapshot, `dbt build`); the tests then change the OLTP the way a live shop
does — updates, deletes, a late chargeback, a customer who moves — and check that each change
reaches the warehouse and the marts correctly. They run in file order and build on each other.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

# kafka-python 3.0 still calls importlib.resources' legacy read_text/open_text
pytestmark = [pytest.mark.services, pytest.mark.filterwarnings("ignore:(read|open)_text is deprecated:DeprecationWarning")]

NOW = datetime(2026, 1, 31, 12, 0, 0)
SEED = 11
CUSTOMERS = 150
ORDERS = 1500


def _digest(conn, schema: str, table: str, columns: list[str], key: list[str]) -> str | None:
    cols = ", ".join(columns)
    order = ", ".join(key)
    return conn.execute(
        f"select md5(coalesce(string_agg(t::text, '|' order by {order}), '')) "
        f"from (select {cols} from {schema}.{table}) t").fetchone()[0]


def _differences() -> dict[str, tuple]:
    """Tables whose content differs between the OLTP and the raw mirror (row-exact digest)."""
    from jornada import warehouse
    from jornada.db import connect

    out = {}
    with connect("oltp") as oltp, connect("olap") as olap:
        defs = warehouse.oltp_catalog(oltp)
        for name, t in defs.items():
            a = _digest(oltp, "public", name, t.column_names, t.pk)
            b = _digest(olap, "raw", name, t.column_names, t.pk)
            if a != b:
                out[name] = (a, b)
    return out


def _sync(timeout_s: float = 60) -> dict:
    """Apply CDC until the raw mirror equals the OLTP (Debezium needs a moment to publish)."""
    from jornada import warehouse

    deadline = time.monotonic() + timeout_s
    applied = {}
    while True:
        stats = warehouse.apply_cdc(max_seconds=20, idle_s=0.5)
        for table, ops in stats["events"].items():
            for op, n in ops.items():
                applied[(table, op)] = applied.get((table, op), 0) + n
        diff = _differences()
        if not diff:
            return applied
        if time.monotonic() > deadline:
            raise AssertionError(f"raw still differs from the OLTP after {timeout_s:.0f}s in "
                                 f"{sorted(diff)}; events applied: {applied}")
        time.sleep(1)


def _olap(sql: str, params=None):
    from jornada.db import connect

    with connect("olap") as conn:
        return conn.execute(sql, params).fetchall()


def _oltp(sql: str, params=None):
    from jornada.db import connect

    with connect("oltp") as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def shop(stack_up):
    """Reset OLTP and warehouse, generate the shop, snapshot it, build the warehouse."""
    from jornada import cdc, generators, warehouse
    from jornada.schema import init_oltp

    init_oltp(reset=True)
    cdc.ensure_capture(log=lambda m: None, wait=True)   # the reset dropped tables from the publication
    warehouse.reset_warehouse()
    generators.load_customers(CUSTOMERS, seed=SEED, now=NOW)
    history = generators.load_history(ORDERS, seed=SEED, now=NOW, progress=False)
    snap = warehouse.extract_snapshot()
    build = warehouse.dbt("build")
    return {"history": history, "snapshot": snap, "build": build}


# ---- load ------------------------------------------------------------------------------------
def test_snapshot_is_an_exact_copy(shop):
    assert shop["snapshot"]["rows"]["pedidos"] == ORDERS
    assert shop["snapshot"]["offsets"], "the snapshot must record where CDC continues"
    assert _differences() == {}


def test_dbt_build_is_green_and_docs_generate(shop):
    from jornada import warehouse

    summary = shop["build"].summary()
    assert set(summary) <= {"success", "pass"}, summary
    kinds = {r["unique_id"].split(".")[0] for r in shop["build"].results}
    assert {"model", "snapshot", "test", "unit_test"} <= kinds
    docs = warehouse.dbt("docs", "generate")
    target = warehouse.dbt_env()["DBT_TARGET_PATH"]
    assert "Catalog written" in docs.output
    assert (__import__("pathlib").Path(target) / "catalog.json").exists()


def test_fact_revenue_equals_oltp_revenue(shop):
    oltp_total, oltp_items = _oltp("select sum(valor_total), (select count(*) from itens_pedidos) "
                                   "from pedidos")[0]
    fact_total, fact_rows = _olap("select sum(valor_total_item), count(*) from marts.fato_pedidos")[0]
    assert fact_total == oltp_total
    assert fact_rows == oltp_items
    # per order too, and additivity: summing the fact over any grouping gives the same total
    by_cat = _olap("select sum(receita) from marts.receita_categoria_mes")[0][0]
    assert by_cat == oltp_total


# ---- CDC: updates and deletes reach the warehouse ------------------------------------------
@pytest.fixture(scope="module")
def changes(shop):
    """Change the OLTP like a live shop does, then let CDC bring it to raw."""
    from jornada import geo
    from jornada.db import connect

    niteroi = geo.encode(-22.8950, -43.1130, 7)
    assert geo.state_of_geohash(niteroi) == "RJ"
    with connect("oltp") as conn:
        with conn.transaction():
            pid, old_name = conn.execute("select id, nome from pessoas where id in (select id_pessoa "
                                         "from pedidos) order by id limit 1").fetchone()
            conn.execute("update pessoas set nome = %s where id = %s", (old_name + " Moreira", pid))
            conn.execute("update enderecos set uf = 'RJ', cidade = 'Niterói' where id_pessoa = %s", (pid,))
        with conn.transaction():   # an order disappears entirely (items, audit, label cascade)
            deleted = conn.execute("select min(id) from pedidos where id in "
                                   "(select id_pedido from fraudes_confirmadas)").fetchone()[0]
            conn.execute("delete from pedidos where id = %s", (deleted,))
        with conn.transaction():   # one item removed from a multi-item order, total corrected
            shrunk, prod = conn.execute(
                "select id_pedido, max(id_produto) from itens_pedidos group by id_pedido "
                "having count(*) > 1 order by id_pedido limit 1").fetchone()
            conn.execute("delete from itens_pedidos where id_pedido = %s and id_produto = %s", (shrunk, prod))
            conn.execute("update pedidos set valor_total = (select sum(valor_total) from itens_pedidos "
                         "where id_pedido = %s) where id = %s", (shrunk, shrunk))
        with conn.transaction():   # a quantity corrected
            fixed, fprod = conn.execute("select id_pedido, id_produto from itens_pedidos "
                                        "where id_pedido > %s order by 1, 2 limit 1", (shrunk,)).fetchone()
            conn.execute("update itens_pedidos set qtde = qtde + 2, valor_total = valor_unit * (qtde + 2) "
                         "where id_pedido = %s and id_produto = %s", (fixed, fprod))
            conn.execute("update pedidos set valor_total = (select sum(valor_total) from itens_pedidos "
                         "where id_pedido = %s) where id = %s", (fixed, fixed))
        with conn.transaction():   # a LATE row: a chargeback for an old order, back-dated
            late, sold = conn.execute("select id, dt_venda from pedidos where id not in "
                                      "(select id_pedido from fraudes_confirmadas) "
                                      "order by dt_venda limit 1").fetchone()
            conn.execute("insert into fraudes_confirmadas (id_pedido, tipo_fraude, confirmada_em, "
                         "created_at, updated_at) values (%s, 'dispositivo', %s, %s, %s)",
                         (late, sold + timedelta(days=20), sold + timedelta(days=20), sold + timedelta(days=20)))
        with conn.transaction():   # a new order by the customer who just moved
            new_order = conn.execute(
                "insert into pedidos (id_pessoa, dt_venda, valor_total) values (%s, now() + interval '1 second', 59.80) "
                "returning id", (pid,)).fetchone()[0]
            conn.execute("insert into itens_pedidos (id_pedido, id_produto, qtde, valor_unit, valor_total) "
                         "values (%s, 1, 2, 29.90, 59.80)", (new_order,))
            conn.execute("insert into auditoria_pedidos (id_pedido, dispositivo, geohash, telefone) "
                         "values (%s, 'iPhone 15', %s, '(21) 91234-5678')", (new_order, niteroi))
    applied = _sync()
    return {"pid": pid, "old_name": old_name, "deleted": deleted, "shrunk": (shrunk, prod),
            "fixed": (fixed, fprod), "late": late, "new_order": new_order, "applied": applied,
            "snapshot_offsets": shop["snapshot"]["offsets"]}


def test_updates_and_deletes_in_oltp_reach_raw(changes):
    assert _differences() == {}     # every table row-for-row equal again
    applied = changes["applied"]
    assert applied.get(("pessoas", "u")), applied
    assert applied.get(("pedidos", "d")), applied
    assert applied.get(("itens_pedidos", "d")), applied
    assert applied.get(("itens_pedidos", "u")), applied
    assert _olap("select count(*) from raw.pedidos where id = %s", (changes["deleted"],))[0][0] == 0
    assert _olap("select count(*) from raw.itens_pedidos where id_pedido = %s", (changes["deleted"],))[0][0] == 0
    assert _olap("select nome from raw.pessoas where id = %s", (changes["pid"],))[0][0].endswith(" Moreira")
    # CDC rows carry their Kafka offset and LSN; deleting left no trace
    op, offset, lsn = _olap("select _op, _offset, _lsn from raw.pessoas where id = %s", (changes["pid"],))[0]
    assert op == "u" and offset is not None and lsn is not None


def test_cdc_apply_is_idempotent(changes):
    """Re-delivering already applied events (at-least-once) changes nothing: replay every event
    since the snapshot on top of the current mirror."""
    from jornada import warehouse
    from jornada.db import connect

    start = {}
    for name, offset in (changes["snapshot_offsets"] or {}).items():
        topic, _, part = name.rpartition("[")
        start[(topic, int(part.rstrip("]")))] = offset
    with connect("olap") as olap:     # worst case: nothing was ever committed since the snapshot
        for (topic, part), offset in start.items():
            olap.execute("update raw._cdc_offsets set next_offset = %s where topic = %s and partition = %s",
                         (offset, topic, part))
        olap.commit()
    stats = warehouse.apply_cdc(max_seconds=30, idle_s=0.5)
    assert stats["applied"] > 0
    assert _differences() == {}


def test_a_watermark_on_updated_at_would_have_missed_the_late_row(changes):
    """The late chargeback's updated_at is older than rows loaded before it: a watermark
    extract ("updated_at > last max") skips it; the change stream did not."""
    late_updated = _oltp("select updated_at from fraudes_confirmadas where id_pedido = %s",
                         (changes["late"],))[0][0]
    watermark_before = _olap("select max(updated_at) from raw.fraudes_confirmadas "
                             "where id_pedido <> %s", (changes["late"],))[0][0]
    assert late_updated < watermark_before
    assert _olap("select count(*) from raw.fraudes_confirmadas where id_pedido = %s",
                 (changes["late"],))[0][0] == 1


# ---- dbt on the changed data ---------------------------------------------------------------
@pytest.fixture(scope="module")
def rebuilt(changes):
    from jornada import warehouse

    return warehouse.dbt("build")


def _fact_digest() -> str:
    return _olap("select md5(string_agg(concat_ws(',', id_pedido, id_produto, sk_pessoa, sk_produto, "
                 "sk_data, uf_pedido, fraude_confirmada, tipo_fraude, qtde, valor_unit, valor_total_item), "
                 "'|' order by id_pedido, id_produto)) from marts.fato_pedidos")[0][0]


def test_incremental_fact_handles_updates_deletes_and_late_rows(changes, rebuilt):
    from jornada import warehouse

    assert set(rebuilt.summary()) <= {"success", "pass"}, rebuilt.summary()
    # only the touched orders were rewritten (a handful of items), not the whole fact
    fact_rows = _olap("select count(*) from marts.fato_pedidos")[0][0]
    written = rebuilt.node("fato_pedidos")["rows"]
    assert written is not None and 0 < written < 50 < fact_rows, (written, fact_rows)
    oltp_total = _oltp("select sum(valor_total) from pedidos")[0][0]
    assert _olap("select sum(valor_total_item) from marts.fato_pedidos")[0][0] == oltp_total
    assert _olap("select count(*) from marts.fato_pedidos where id_pedido = %s", (changes["deleted"],))[0][0] == 0
    shrunk, prod = changes["shrunk"]
    assert _olap("select count(*) from marts.fato_pedidos where id_pedido = %s and id_produto = %s",
                 (shrunk, prod))[0][0] == 0
    fixed, fprod = changes["fixed"]
    q = _oltp("select qtde from itens_pedidos where id_pedido = %s and id_produto = %s", (fixed, fprod))[0][0]
    assert _olap("select qtde from marts.fato_pedidos where id_pedido = %s and id_produto = %s",
                 (fixed, fprod))[0][0] == q
    assert _olap("select bool_and(fraude_confirmada) from marts.fato_pedidos where id_pedido = %s",
                 (changes["late"],))[0][0] is True
    # the incremental result is exactly what a full rebuild gives
    incremental = _fact_digest()
    warehouse.dbt("run", "--select", "fato_pedidos", "--full-refresh")
    assert _fact_digest() == incremental


def test_scd2_new_version_on_customer_change(changes, rebuilt):
    pid = changes["pid"]
    versions = _olap("select nome, uf_residencia, valid_from, valid_to, is_current, sk_pessoa "
                     "from marts.dim_pessoas where id_pessoa = %s order by valid_from", (pid,))
    assert len(versions) == 2, versions
    (old_name, old_uf, old_from, old_to, old_cur, old_sk), (new_name, new_uf, new_from, new_to, new_cur, new_sk) = versions
    assert old_name == changes["old_name"] and not old_cur
    assert new_name.endswith(" Moreira") and new_uf == "RJ" and new_cur
    changed_at = _oltp("select greatest(p.updated_at, e.updated_at) from pessoas p join enderecos e "
                       "on e.id_pessoa = p.id where p.id = %s", (pid,))[0][0]
    assert old_to == new_from == changed_at           # contiguous, at the moment of the change
    assert new_to == datetime(9999, 12, 31)
    assert old_from == datetime(1900, 1, 1)           # the first version is open to the past
    # facts point at the version valid when each order was placed
    rows = _olap("select id_pedido, sk_pessoa, dt_venda from marts.fato_pedidos where id_pessoa = %s", (pid,))
    assert rows
    for order, sk, sold in rows:
        assert sk == (new_sk if sold >= new_from else old_sk), (order, sold)
    assert any(order == changes["new_order"] and sk == new_sk for order, sk, _ in rows)
    # the mart of last purchases reads the current version
    assert _olap("select nome from marts.ultima_compra_pessoa where id_pessoa = %s", (pid,))[0][0] == new_name


def test_fraud_rate_by_uf_is_sane(rebuilt):
    import numpy as np

    from jornada import geo

    mart = {uf: (pedidos, fraudes, taxa) for uf, pedidos, fraudes, taxa in
            _olap("select uf, pedidos, fraudes, taxa_fraude from marts.taxa_fraude_uf")}
    orders, labels = _oltp("select count(*), (select count(*) from fraudes_confirmadas) from pedidos")[0]
    assert sum(p for p, _, _ in mart.values()) == orders
    assert sum(f for _, f, _ in mart.values()) == labels
    for uf, (pedidos, fraudes, taxa) in mart.items():
        assert taxa == (Decimal(fraudes) / pedidos).quantize(Decimal("0.0001"))
    # legit orders are placed near home (SP, MG, RJ): those states carry the volume, at low rates
    assert {"SP", "MG", "RJ"} <= set(mart)
    home = sum(mart[uf][0] for uf in ("SP", "MG", "RJ"))
    assert home / orders > 0.97
    for uf in ("SP", "MG", "RJ"):
        assert mart[uf][2] < Decimal("0.05"), (uf, mart[uf])
    # location frauds come from elsewhere, and only they: outside SP/MG/RJ every fraud is a
    # location fraud, and none is at home; honest travellers order from elsewhere too
    by_kind = {uf: (loc, total) for uf, loc, total in
               _olap("select uf, fraudes_localizacao, fraudes from marts.taxa_fraude_uf")}
    for uf, (loc, total) in by_kind.items():
        assert loc == (total if uf not in ("SP", "MG", "RJ") else 0), (uf, mart[uf])
    away = [mart[uf] for uf in mart if uf not in ("SP", "MG", "RJ")]
    assert sum(p for p, _, _ in away) > sum(f for _, f, _ in away) > 0
    # independent check: the UF of each order computed here, in Python, from the OLTP
    rows = _oltp("select a.geohash from auditoria_pedidos a")
    ufs = geo.states_of_geohash(np.array([r[0] for r in rows], dtype=object))
    counted: dict[str, int] = {}
    for uf in ufs:
        key = uf if isinstance(uf, str) and uf else "EX"
        counted[key] = counted.get(key, 0) + 1
    assert counted == {uf: p for uf, (p, _, _) in mart.items()}


# ---- failures are explained ------------------------------------------------------------------
def test_dbt_failure_names_the_failing_test(rebuilt):
    from jornada import warehouse

    from jornada.db import connect

    with connect("olap") as olap:      # corrupt the mirror: one item's total no longer adds up
        olap.execute("update raw.itens_pedidos set valor_total = valor_total + 1 "
                     "where (id_pedido, id_produto) = (select id_pedido, id_produto from raw.itens_pedidos "
                     "order by 1, 2 limit 1)")
        olap.commit()
    try:
        with pytest.raises(warehouse.DbtError) as err:
            warehouse.dbt("build", "--select", "stg_itens_pedidos")
        assert "expression_is_true_stg_itens_pedidos_valor_total_item" in str(err.value)
        assert any(f["status"] == "fail" for f in err.value.failures)
    finally:
        warehouse.extract_snapshot()   # repair: a fresh copy of the OLTP
    assert _differences() == {}


def test_cdc_without_positions_asks_for_a_snapshot_and_load_takes_it(rebuilt):
    from jornada import warehouse
    from jornada.db import connect

    with connect("olap") as olap:
        olap.execute("delete from raw._cdc_offsets")
        olap.commit()
    with pytest.raises(warehouse.SnapshotNeeded, match="snapshot"):
        warehouse.apply_cdc(max_seconds=5)
    out = warehouse.load()
    assert out["mode"] == "snapshot+cdc"
    assert _differences() == {}
    assert warehouse.quality_gate(check_fact=False)["problems"] == []


def test_an_oltp_reset_is_detected_and_the_warehouse_rebuilt(rebuilt):
    """`db init --reset` + a new history: the loader must not keep the old orders (issue 8 §6.2)."""
    from jornada import generators, warehouse
    from jornada.schema import init_oltp

    before = warehouse.compare_with_oltp()["tables"]["pedidos"]["raw"]
    init_oltp(reset=True)
    generators.load_customers(40, seed=SEED + 1, now=NOW)
    generators.load_history(300, seed=SEED + 1, now=NOW, progress=False)
    with pytest.raises(warehouse.SourceReset, match="re-created"):
        warehouse.apply_cdc(max_seconds=5)
    out = warehouse.load()
    assert out["mode"] == "reset+snapshot+cdc"
    warehouse.dbt("build")
    report = warehouse.quality_gate()
    assert report["tables"]["pedidos"] == {"oltp": 300, "raw": 300}, f"raw had {before} orders before"
    assert report["revenue_fact"] == report["revenue_oltp"]
