"""Checks of lesson 04 (star schema with dbt). Each task is judged on planted, known cases chosen
to catch the classic mistakes, so the verdict never depends on what the generators drew.

- task_fraud_rate_by_uf: the learner's ``fraud_rate_by_uf(conn)`` on ``marts.fato_pedidos`` —
  share of the UF's ORDERS that are confirmed frauds (the fact is at item grain). Planted rows in
  a made-up UF inside a transaction that is rolled back.
- task_revenue_by_category_month: ``revenue_by_category_month(conn)`` — additive revenue per
  (ano_mes, categoria) from the star; the original's repeated order total is recognised.
- task_incremental_model: ``incremental_model()`` returns the SQL (and the YAML with its tests)
  of an incremental dbt model; the check writes them into a throw-away dbt project next to a
  planted source table, runs ``dbt build`` twice with an update and a LATE row in between and
  compares the model with its source.
- task_scd2_version_at: ``version_at(conn, id_pessoa, instant)`` — the SCD2 version valid at an
  instant (planted versions, rolled back).

Only the learner's own errors escape from the learner's code: NotImplementedError of an untouched
blank propagates unchanged (the grader reports "to do"); wrong answers raise TaskFailed with a hint.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import psycopg

from ..db import connect
from . import TaskFailed, call, expect, passed

# Tasks that passed in this kernel (the solution notebook records them).
RESULTS: dict[str, dict] = {}

# What `jornada check 04` does to data (jornada.exercises.grade shows it; solutions/README.md):
# CHECK_SCRATCH lists the databases the run gets a scratch copy of (jornada.scratch).
CHECK_SCRATCH: tuple[str, ...] = ()
CHECK_DATA = (
    "`jornada check 04` runs against YOUR warehouse, and resets nothing: the setup cell builds the "
    "warehouse only if it does not exist yet (from your OLTP data; a small shop only if that is "
    "empty); tasks 1, 2 and 4 plant rows in transactions that are rolled back; task 3 works in a "
    "throw-away schema exercicio04, dropped afterwards")

PLANTED_UF = "ZZ"          # a UF that does not exist: the planted orders are easy to find
PLANTED_FIRST_ID = -1000   # planted orders have negative ids (never produced by the shop)


@contextmanager
def _olap_rolled_back():
    """An OLAP transaction that is always rolled back (planted rows never stay)."""
    conn = connect("olap")
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


def _require_fact(conn) -> None:
    if not conn.execute("select to_regclass('marts.fato_pedidos')").fetchone()[0]:
        raise TaskFailed("marts.fato_pedidos does not exist yet: run the setup cell at the top of the "
                         "notebook (it loads the warehouse and runs `dbt build`)")


def _run_learner(conn, fn, *args):
    """Call the learner's fn inside a savepoint: a broken query must not lose the planted rows."""
    try:
        with conn.transaction():
            return call(fn, conn, *args)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TaskFailed(f"your SQL does not run: {type(exc).__name__}: {first}") from None


def _as_mapping(got, fn_name: str, key: str, value_hint: str) -> dict:
    if isinstance(got, pd.DataFrame):
        cols = list(got.columns)
        expect(key in cols or len(cols) == 2,
               f"{fn_name}() returned a DataFrame with columns {cols}: return a dict {{{key}: {value_hint}}} "
               f"(or a DataFrame with a '{key}' column and the value)")
        k = key if key in cols else cols[0]
        val = [c for c in cols if c != k][-1]
        got = dict(zip(got[k], got[val]))
    elif isinstance(got, pd.Series):
        got = got.to_dict()
    elif isinstance(got, list) and got and isinstance(got[0], (tuple, list)) and len(got[0]) == 2:
        got = dict(got)
    expect(isinstance(got, dict), f"{fn_name}() must return a dict {{{key}: {value_hint}}}, "
                                  f"got {type(got).__name__}")
    return got


# ---- task 1: fraud rate by UF -----------------------------------------------------------------
def _plant_fraud_orders(conn) -> None:
    """UF ZZ: order -1000 has 3 items and is a fraud, orders -999 and -998 (1 item each) are legit.
    Right: 1 fraud / 3 orders = 0.3333. By items: 3 / 5 = 0.6. By frauds only: 1.0."""
    rows = []
    items = [(PLANTED_FIRST_ID, 3, True), (PLANTED_FIRST_ID + 1, 1, False), (PLANTED_FIRST_ID + 2, 1, False)]
    for order, n_items, fraud in items:
        for k in range(n_items):
            rows.append((f"planted-{order}-{k}", order, 1 + k, PLANTED_UF, fraud,
                         "dispositivo" if fraud else None, 1, Decimal("10.00"), Decimal("10.00"),
                         datetime(2026, 1, 15, 12, 0, 0)))
    with conn.cursor() as cur:
        cur.executemany(
            "insert into marts.fato_pedidos (sk_item, id_pedido, id_produto, uf_pedido, fraude_confirmada, "
            "tipo_fraude, qtde, valor_unit, valor_total_item, dt_venda) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows)


def _truth_by_uf(conn) -> dict[str, tuple[int, int]]:
    return {uf: (orders, frauds) for uf, orders, frauds in conn.execute(
        "select uf_pedido, count(distinct id_pedido), count(distinct id_pedido) filter (where fraude_confirmada) "
        "from marts.fato_pedidos group by uf_pedido")}


def task_fraud_rate_by_uf(fn) -> None:
    """fn(conn) -> {uf: frauds of the UF's orders / ALL orders of that UF} — shares, from the fact."""
    with _olap_rolled_back() as conn:
        _require_fact(conn)
        _plant_fraud_orders(conn)
        truth = _truth_by_uf(conn)
        by_items = {uf: (n, f) for uf, n, f in conn.execute(
            "select uf_pedido, count(*), count(*) filter (where fraude_confirmada) from marts.fato_pedidos "
            "group by uf_pedido")}
        got = _run_learner(conn, fn)
    rates = _as_mapping(got, "fraud_rate_by_uf", "uf", "rate")
    try:
        rates = {str(k).strip() if k is not None else None: float(v) for k, v in rates.items()}
    except (TypeError, ValueError):
        raise TaskFailed("every rate must be a number (a share like 0.0123)") from None
    want = {uf: f / n for uf, (n, f) in truth.items()}
    expect(PLANTED_UF in rates,
           f"no rate for UF {PLANTED_UF!r}: the check planted 3 orders there (rolled back afterwards) — "
           "group by marts.fato_pedidos.uf_pedido and keep every UF, including EX (outside Brazil)")
    g = rates[PLANTED_UF]
    if all(v == 0 for v in rates.values()):
        raise TaskFailed("every rate came back 0: integer division? In SQL count(...) / count(...) is an "
                         "integer — cast one side (::numeric) or divide in Python")
    if math.isclose(g, 100 * want[PLANTED_UF], rel_tol=1e-3):
        raise TaskFailed("your numbers are percentages (×100): return shares — 0.01 means 1%")
    n_items, f_items = by_items[PLANTED_UF]
    if math.isclose(g, f_items / n_items, rel_tol=1e-3):
        raise TaskFailed(
            f"UF {PLANTED_UF}: you got {g:.4f} = {f_items} fraudulent items / {n_items} items. The fact is at "
            "ITEM grain: an order with 3 items is 3 rows. Count distinct orders — count(distinct id_pedido) "
            f"— the right rate is 1 fraudulent order / 3 orders = {want[PLANTED_UF]:.4f}")
    if math.isclose(g, 1.0) and want[PLANTED_UF] < 1:
        raise TaskFailed(f"UF {PLANTED_UF}: you got 1.0 — did you divide frauds by the frauds (or filter "
                         "on fraude_confirmada before counting)? Divide by ALL orders of the UF")
    total_orders = sum(n for n, _ in truth.values())
    if math.isclose(g, truth[PLANTED_UF][1] / total_orders, rel_tol=1e-3):
        raise TaskFailed(f"UF {PLANTED_UF}: you divided the UF's frauds by every order of the shop "
                         f"({total_orders}); the rate of a UF is its frauds / its own orders")
    missing = sorted(set(want) - set(rates), key=str)
    expect(not missing, f"UFs missing from your answer: {missing} (a UF with no fraud still has a rate: 0)")
    wrong = {uf: (rates[uf], w) for uf, w in want.items() if not math.isclose(rates[uf], w, rel_tol=1e-3, abs_tol=1e-4)}
    expect(not wrong, "wrong rates (yours, expected): " + ", ".join(f"{uf}: {a:.4f} vs {b:.4f}"
                                                                      for uf, (a, b) in list(wrong.items())[:5])
           + " — count(distinct id_pedido) filter (where fraude_confirmada) / count(distinct id_pedido) per uf_pedido")
    RESULTS["fraud_rate_by_uf"] = {"ufs": len(want) - 1}
    passed("fraud_rate_by_uf", f"right for the {len(want) - 1} UFs of your warehouse and the planted one "
                               "(3 orders, 5 items, rolled back)")


# ---- task 2: revenue by category × month ------------------------------------------------------
TRUTH_REVENUE = """
    select d.ano_mes, p.categoria, sum(f.valor_total_item) as receita
    from marts.fato_pedidos f
    join marts.dim_produtos p on p.sk_produto = f.sk_produto
    join marts.dim_data d on d.sk_data = f.sk_data
    group by d.ano_mes, p.categoria"""
ORIGINAL_REVENUE = """
    select d.ano_mes, p.categoria, sum(o.valor_total_pedido) as receita
    from marts.fato_pedidos f
    join staging.stg_pedidos o on o.id_pedido = f.id_pedido
    join marts.dim_produtos p on p.sk_produto = f.sk_produto
    join marts.dim_data d on d.sk_data = f.sk_data
    group by d.ano_mes, p.categoria"""
UNIT_PRICE_REVENUE = TRUTH_REVENUE.replace("sum(f.valor_total_item)", "sum(f.valor_unit)")


def _revenue_frame(got) -> dict[tuple[str, str], Decimal]:
    expect(isinstance(got, pd.DataFrame),
           f"revenue_by_category_month() must return a DataFrame (ano_mes, categoria, receita), got "
           f"{type(got).__name__} — e.g. pd.DataFrame(rows, columns=[...]) or query_df(sql, which='olap')")
    cols = [str(c) for c in got.columns]
    need = {"ano_mes", "categoria", "receita"}
    expect(need <= set(cols), f"columns {cols}: name them ano_mes ('YYYY-MM'), categoria and receita")
    out = {}
    for r in got.itertuples(index=False):
        key = (str(r.ano_mes), str(r.categoria))
        expect(key not in out, f"{key} appears twice: one row per (ano_mes, categoria) — group by both")
        out[key] = Decimal(str(r.receita)).quantize(Decimal("0.01"))
    return out


def task_revenue_by_category_month(fn) -> None:
    """fn(conn) -> DataFrame(ano_mes, categoria, receita): additive revenue from the star."""
    with _olap_rolled_back() as conn:
        _require_fact(conn)
        truth = {(m, c): Decimal(v) for m, c, v in conn.execute(TRUTH_REVENUE)}
        original = {(m, c): Decimal(v) for m, c, v in conn.execute(ORIGINAL_REVENUE)}
        unit = {(m, c): Decimal(v) for m, c, v in conn.execute(UNIT_PRICE_REVENUE)}
        got = _run_learner(conn, fn)
    mine = _revenue_frame(got)
    total_truth, total_mine = sum(truth.values()), sum(mine.values())
    if mine == truth:
        RESULTS["revenue_by_category_month"] = {"cells": len(truth), "total": str(total_truth)}
        passed("revenue_by_category_month", f"{len(truth)} (month, category) cells, total {total_truth:,.2f} "
                                            "= the fact's revenue")
        return
    if mine and sum(original.values()) == total_mine:
        raise TaskFailed(
            f"your revenue adds up to {total_mine:,.2f}, {total_mine / total_truth:.2f}× the real "
            f"{total_truth:,.2f}: you summed the ORDER total (stg_pedidos.valor_total_pedido, the original's "
            "`total`) on every item row — an order of 3 items is counted 3 times (double counting). At item "
            "grain, sum the additive measure fato_pedidos.valor_total_item")
    if mine and sum(unit.values()) == total_mine:
        raise TaskFailed("you summed valor_unit — a PRICE, not an amount: an item of qtde 3 counts once. "
                         "Sum valor_total_item (= qtde × valor_unit)")
    if total_mine == total_truth * 2 or (total_mine > total_truth and mine.keys() == truth.keys()):
        raise TaskFailed(
            f"your revenue adds up to {total_mine:,.2f}, more than the fact's {total_truth:,.2f}: a join "
            "multiplied rows. Join dimensions on their SURROGATE keys (sk_produto, sk_data; a customer "
            "joined on id_pessoa matches every SCD2 version)")
    keys_bad = set(mine) ^ set(truth)
    if keys_bad:
        sample = sorted(keys_bad, key=str)[:3]
        raise TaskFailed(f"the (ano_mes, categoria) pairs differ from the expected ones, e.g. {sample}: "
                         "ano_mes is 'YYYY-MM' (dim_data.ano_mes), categoria is dim_produtos.categoria, and "
                         "only pairs with sales appear")
    wrong = [(k, mine[k], truth[k]) for k in truth if mine[k] != truth[k]][:3]
    raise TaskFailed("wrong revenue for " + "; ".join(f"{k}: {a} vs {b}" for k, a, b in wrong)
                     + " — sum fato_pedidos.valor_total_item grouped by dim_data.ano_mes and dim_produtos.categoria")


# ---- task 3: an incremental dbt model + a test ------------------------------------------------
MODEL = "pedidos_incremental"
EX_SCHEMA = "exercicio04"
SOURCE_TABLE = f"{EX_SCHEMA}.pedidos_src"
SOURCES_YML = f"""version: 2
sources:
  - name: exercicio
    description: A planted copy of orders, written by jornada.checks.lesson04 (throw-away).
    schema: {EX_SCHEMA}
    tables:
      - name: pedidos
        identifier: pedidos_src
"""


def _write_project(root: Path, sql: str, yml: str) -> None:
    import yaml

    from .. import warehouse

    src = Path(warehouse.DBT_PROJECT_DIR)
    shutil.copytree(src / "macros", root / "macros")
    shutil.copy(src / "profiles.yml", root / "profiles.yml")
    project = yaml.safe_load((src / "dbt_project.yml").read_text())
    project["models"] = {project["name"]: {"exercises": {"+schema": EX_SCHEMA}}}
    project.pop("snapshots", None)
    project.pop("data_tests", None)
    (root / "dbt_project.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    models = root / "models" / "exercises"
    models.mkdir(parents=True)
    (models / "_sources.yml").write_text(SOURCES_YML)
    (models / f"{MODEL}.sql").write_text(sql)
    (models / f"{MODEL}.yml").write_text(yml)


def _dbt(root: Path, *args: str) -> tuple[int, list[dict], str]:
    from .. import warehouse

    env = warehouse.dbt_env()
    env.update({"DBT_PROFILES_DIR": str(root), "DBT_PROJECT_DIR": str(root),
                "DBT_TARGET_PATH": str(root / "target"), "DBT_LOG_PATH": str(root / "logs"),
                "DBT_PARTIAL_PARSE": "false"})
    proc = subprocess.run([warehouse.dbt_executable(), *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    results = []
    rr = root / "target" / "run_results.json"
    if rr.exists():
        for r in json.loads(rr.read_text()).get("results", []):
            results.append({"unique_id": r.get("unique_id"), "status": r.get("status"),
                            "message": r.get("message") or "",
                            "rows": (r.get("adapter_response") or {}).get("rows_affected")})
        rr.unlink()
    return proc.returncode, results, proc.stdout + proc.stderr


def _plant_source(n: int = 40) -> None:
    base = datetime(2026, 1, 1, 10, 0, 0)
    with connect("olap") as conn:
        conn.execute(f"create schema if not exists {EX_SCHEMA}")
        conn.execute(f"drop table if exists {SOURCE_TABLE} cascade")
        conn.execute(f"drop table if exists {EX_SCHEMA}.{MODEL} cascade")
        conn.execute(f"create table {SOURCE_TABLE} (id_pedido integer primary key, id_pessoa bigint not null, "
                     "dt_venda timestamp not null, valor_total numeric(12, 2) not null, "
                     "updated_at timestamp not null, loaded_at timestamptz not null)")
        with conn.cursor() as cur:
            cur.executemany(f"insert into {SOURCE_TABLE} values (%s, %s, %s, %s, %s, now() - interval '1 hour')",
                            [(i, 1000 + i % 7, base + timedelta(hours=i), Decimal(10 + i), base + timedelta(hours=i))
                             for i in range(1, n + 1)])
        conn.commit()


def _change_source() -> dict:
    """An update (fresh updated_at) and a LATE row: committed now, updated_at in the past."""
    with connect("olap") as conn:
        conn.execute(f"update {SOURCE_TABLE} set valor_total = valor_total + 100, updated_at = "
                     "(select max(updated_at) from " + SOURCE_TABLE + ") + interval '1 hour', "
                     "loaded_at = clock_timestamp() where id_pedido = 5")
        conn.execute(f"insert into {SOURCE_TABLE} values (1000, 1003, timestamp '2025-12-01 09:00', 77.70, "
                     "timestamp '2025-12-01 09:00', clock_timestamp())")
        conn.commit()
    return {"updated": 5, "late": 1000}


def _table_rows(table: str) -> list[tuple]:
    with connect("olap") as conn:
        return conn.execute(f"select id_pedido, valor_total from {table} order by id_pedido, valor_total").fetchall()


def _cleanup() -> None:
    with connect("olap") as conn:
        conn.execute(f"drop schema if exists {EX_SCHEMA} cascade")
        conn.commit()


def _failed_nodes(results: list[dict]) -> list[dict]:
    return [r for r in results if r["status"] in ("error", "fail", "runtime error")]


def task_incremental_model(fn) -> None:
    """fn() -> (model_sql, schema_yml): an incremental model `pedidos_incremental` over
    source('exercicio', 'pedidos') with a unique key and a test."""
    got = call(fn)
    expect(isinstance(got, (tuple, list)) and len(got) == 2 and all(isinstance(x, str) for x in got),
           "incremental_model() must return two strings: (the model's SQL, the YAML with its tests)")
    sql, yml = got
    expect("source(" in sql and "exercicio" in sql,
           "the model must read {{ source('exercicio', 'pedidos') }} (the planted table the check fills)")
    expect(re.search(r"materialized\s*=\s*['\"]incremental['\"]", sql) is not None,
           "the model is not incremental: start it with {{ config(materialized='incremental', "
           "unique_key='id_pedido') }}")
    expect("is_incremental()" in sql,
           "no {% if is_incremental() %} block: without it every run reads (and appends) the whole source. "
           "Filter on a watermark inside it, compared with {{ this }}")
    try:
        import yaml

        spec = yaml.safe_load(yml)
    except Exception as exc:  # noqa: BLE001 - any YAML error is the learner's
        raise TaskFailed(f"your YAML does not parse: {exc}") from None
    models = (spec or {}).get("models") or []
    mine = [m for m in models if isinstance(m, dict) and m.get("name") == MODEL]
    expect(bool(mine), f"the YAML must describe `models: - name: {MODEL}` with its columns and tests")
    text = yml.replace(" ", "")
    expect("unique" in text and "id_pedido" in text,
           "add a test: the column id_pedido of the model must be `unique` (and not_null) — the test that "
           "catches an incremental model appending an order twice")
    with tempfile.TemporaryDirectory(prefix="jornada-ex04-") as tmp:
        root = Path(tmp)
        _write_project(root, sql, yml)
        try:
            _plant_source()
            rc, res, out = _dbt(root, "build", "--select", MODEL, "--full-refresh")
            failed = _failed_nodes(res)
            if rc != 0:
                detail = "; ".join(f"{r['unique_id'].split('.')[-2 if r['unique_id'].startswith('test') else -1]}: "
                                   f"{r['message'][:200]}" for r in failed) or \
                    " ".join(ln.strip() for ln in out.splitlines() if "rror" in ln)[-400:]
                raise TaskFailed(f"the first `dbt build --select {MODEL}` failed: {detail}")
            tests = [r for r in res if r["unique_id"].startswith("test.")]
            expect(bool(tests), "dbt ran no test on the model: declare `data_tests: [unique, not_null]` under "
                                "the column id_pedido in the YAML")
            first = _table_rows(f"{EX_SCHEMA}.{MODEL}")
            expect(first == _table_rows(SOURCE_TABLE),
                   f"after the first (full) build, {MODEL} has {len(first)} rows but the source has "
                   f"{len(_table_rows(SOURCE_TABLE))}: select id_pedido, valor_total, … from the source, one row "
                   "per order")
            changed = _change_source()
            rc, res, out = _dbt(root, "build", "--select", MODEL)
            rows = _table_rows(f"{EX_SCHEMA}.{MODEL}")
            want = _table_rows(SOURCE_TABLE)
            ids = [r[0] for r in rows]
            model_node = next((r for r in res if r["unique_id"].startswith("model.")), None)
            if len(ids) != len(set(ids)) or any("unique" in r["unique_id"] for r in _failed_nodes(res)):
                raise TaskFailed(
                    f"order {changed['updated']} was updated and now appears twice: the incremental run "
                    "APPENDED the new version. Give the model unique_key='id_pedido' so dbt replaces the "
                    "old row (merge/delete+insert) — and your unique test caught it, as it should")
            if rc != 0:
                detail = "; ".join(r["message"][:200] for r in _failed_nodes(res))
                raise TaskFailed(f"the incremental `dbt build --select {MODEL}` failed: {detail}")
            if changed["late"] not in ids:
                raise TaskFailed(
                    f"order {changed['late']} was committed after the last run but carries an OLD updated_at "
                    "(a late row, like a back-dated load or a chargeback): a watermark on updated_at "
                    "(`updated_at > max(updated_at) in {{ this }}`) skips it forever. Use the loader's stamp "
                    "loaded_at as the watermark instead")
            expect(rows == want, f"after the incremental run the model differs from the source (updated order "
                                 f"{changed['updated']}: expected valor_total "
                                 f"{dict(want).get(changed['updated'])}, got {dict(rows).get(changed['updated'])})")
            written = model_node.get("rows") if model_node else None
            if written is not None and written >= len(want):
                raise TaskFailed(f"the incremental run wrote {written} rows, the whole table: your "
                                 "is_incremental() filter lets every row through. Keep only rows with "
                                 "loaded_at > (select max(loaded_at) from {{ this }})")
        finally:
            _cleanup()
    RESULTS["incremental_model"] = {"rows": len(want), "incremental_rows": written}
    passed("incremental_model", f"full build, then an update and a late row: the incremental run wrote "
                                f"{written} rows and the model equals its source; {len(tests)} tests ran")


# ---- task 4: SCD2 point-in-time lookup --------------------------------------------------------
PLANT_PESSOA = 99_999_999_999
T1 = datetime(2025, 9, 1, 8, 30, 0)
T2 = datetime(2025, 12, 10, 17, 0, 0)
VERSIONS = [  # sk, nome, uf, valid_from, valid_to, is_current
    ("planted-v1", "Ana Souza", "SP", datetime(1900, 1, 1), T1, False),
    ("planted-v2", "Ana Souza", "MG", T1, T2, False),
    ("planted-v3", "Ana Souza Lima", "RJ", T2, datetime(9999, 12, 31), True),
]
CASES = [  # instant, expected sk, why
    (datetime(2025, 3, 1, 12, 0), "planted-v1", "before any change"),
    (T1 - timedelta(seconds=1), "planted-v1", "one second before the first change"),
    (T1, "planted-v2", "exactly at the first change"),
    (datetime(2025, 10, 20), "planted-v2", "between the changes"),
    (T2, "planted-v3", "exactly at the second change"),
    (datetime(2026, 1, 15), "planted-v3", "after the last change"),
]


def task_scd2_version_at(fn) -> None:
    """fn(conn, id_pessoa, instant) -> sk_pessoa of the dim_pessoas version valid at ``instant``."""
    with _olap_rolled_back() as conn:
        expect(conn.execute("select to_regclass('marts.dim_pessoas')").fetchone()[0] is not None,
               "marts.dim_pessoas does not exist yet: run the setup cell (it runs `dbt build`)")
        with conn.cursor() as cur:
            cur.executemany("insert into marts.dim_pessoas (sk_pessoa, id_pessoa, nome, sexo, uf_residencia, version, "
                            "valid_from, valid_to, is_current) values (%s, %s, %s, 'F', %s, %s, %s, %s, %s)",
                            [(sk, PLANT_PESSOA, nome, uf, i + 1, vf, vt, cur_)
                             for i, (sk, nome, uf, vf, vt, cur_) in enumerate(VERSIONS)])
        answers = [(when, want, why, _run_learner(conn, fn, PLANT_PESSOA, when)) for when, want, why in CASES]
    normal = []
    for when, want, why, got in answers:
        if isinstance(got, pd.DataFrame):
            got = got["sk_pessoa"].iloc[0] if "sk_pessoa" in got.columns and len(got) else None
        if isinstance(got, dict):
            got = got.get("sk_pessoa")
        if isinstance(got, (tuple, list)):
            got = got[0] if got else None
        expect(got is None or isinstance(got, str),
               f"version_at() must return the version's sk_pessoa (a string, or None), got {got!r}")
        normal.append((when, want, why, got))
    wrong = [(when, want, why, got) for when, want, why, got in normal if got != want]
    if not wrong:
        RESULTS["scd2_version_at"] = {"cases": len(CASES)}
        passed("scd2_version_at", f"{len(CASES)} instants, including both change instants, answered with the "
                                  "version valid then")
        return
    whys = {why for _, _, why, _ in wrong}
    gots = {g for *_, g in wrong}
    if gots == {"planted-v3"}:
        raise TaskFailed("you always return the CURRENT version (is_current): a point-in-time lookup must "
                         "return the version whose validity interval contains the instant — "
                         "valid_from <= instant and instant < valid_to")
    if any(g is None for *_, g in wrong) and whys <= {"exactly at the first change", "exactly at the second change",
                                                       "before any change", "one second before the first change"}:
        raise TaskFailed("no version found for some instants: is valid_from compared with '<' instead of "
                         "'<='? Intervals are half-open: valid_from <= instant < valid_to")
    if whys <= {"exactly at the first change", "exactly at the second change"}:
        raise TaskFailed("wrong version exactly at a change instant: two versions 'touch' there (one's valid_to "
                         "is the next one's valid_from). Intervals are half-open: instant < valid_to, not <=; "
                         "with <= both match and you get the old one")
    raise TaskFailed("wrong versions for: " + "; ".join(f"{when} ({why}): expected {want}, got {got}"
                                                        for when, want, why, got in wrong[:3])
                     + " — filter id_pessoa and valid_from <= instant < valid_to")
