"""The OLTP model: apply it, seed the catalogue, reset it, describe it."""

from __future__ import annotations

import time
from importlib import resources

import psycopg

from . import catalog
from .db import connect

# Parents first: the order COPY and inserts must follow, and the reverse of the order to drop.
OLTP_TABLES = ["pessoas", "enderecos", "categorias", "produtos", "pedidos", "itens_pedidos",
               "auditoria_pedidos", "fraudes_confirmadas"]
# The original course's six tables (the ones later lessons capture, model and load).
ORIGINAL_TABLES = ["pessoas", "categorias", "produtos", "pedidos", "itens_pedidos",
                   "auditoria_pedidos"]


DEADLOCK_RETRIES = 4


def schema_sql() -> str:
    return resources.files("jornada").joinpath("sql/oltp_schema.sql").read_text()


def init_oltp(*, reset: bool = False) -> dict[str, int]:
    """Create the OLTP tables (idempotent) and seed categories, products and seed customers.

    With ``reset=True`` every table is dropped first, in the same transaction, so a failure leaves
    the previous database untouched. Returns the row count of each table afterwards.
    """
    for attempt in range(1, DEADLOCK_RETRIES + 1):
        try:
            with connect("oltp") as conn:
                with conn.transaction():
                    if reset:
                        conn.execute("drop table if exists " + ", ".join(reversed(OLTP_TABLES)) + " cascade")
                    conn.execute(schema_sql())
                    seed_catalogue(conn)
                counts = table_counts(conn)
                # end the read transaction first: the capture set-up ALTERs these tables from
                # another connection and would wait forever behind our own share locks
                conn.commit()
                if reset:
                    _restore_capture(conn)
                return counts
        except psycopg.errors.DeadlockDetected:
            # A CDC snapshot reading the tables can deadlock with the drop; the whole reset rolled
            # back, so simply try again once the reader has moved on.
            if attempt == DEADLOCK_RETRIES:
                raise
            time.sleep(0.5 * attempt)


def _restore_capture(conn) -> None:
    """Dropping a table silently removes it from its publication (and its grants and replica
    identity go with it): after a reset, put CDC's set-up back if CDC had been set up."""
    had_capture = conn.execute("select 1 from pg_publication limit 1").fetchone()
    conn.commit()
    if had_capture:
        from .cdc import setup_postgres

        setup_postgres()


def seed_catalogue(conn) -> None:
    """Insert the authored catalogue and seed customers; rows already present are kept."""
    at = catalog.CATALOGUE_CREATED_AT
    with conn.cursor() as cur:
        cur.executemany(
            "insert into categorias (id, descricao, created_at, updated_at) values (%s, %s, %s, %s)"
            " on conflict do nothing",
            [(i, desc, at, at) for i, desc in enumerate(catalog.CATEGORIAS, start=1)])
        cat_id = {desc: i for i, desc in enumerate(catalog.CATEGORIAS, start=1)}
        cur.executemany(
            "insert into produtos (id, id_categoria, descricao, valor_unit, created_at, updated_at)"
            " values (%s, %s, %s, %s, %s, %s) on conflict do nothing",
            [(i, cat_id[cat], desc, price, at, at)
             for i, (cat, desc, price) in enumerate(catalog.PRODUTOS, start=1)])
        cur.executemany(
            "insert into pessoas (id, nome, sexo, dt_nasc, created_at, updated_at)"
            " values (%(id)s, %(nome)s, %(sexo)s, %(dt_nasc)s, %(at)s, %(at)s) on conflict do nothing",
            [{**p, "at": at} for p in catalog.SEED_PESSOAS])
        cur.executemany(
            "insert into enderecos (id_pessoa, uf, cidade, geohash, created_at, updated_at)"
            " values (%(id)s, %(uf)s, %(cidade)s, %(geohash)s, %(at)s, %(at)s) on conflict do nothing",
            [{**p, "at": at} for p in catalog.SEED_PESSOAS])
        # explicit ids above do not move the serial sequences: move them past the seeds
        for table in ("categorias", "produtos"):
            cur.execute(f"select setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" greatest((select max(id) from {table}), 1))")


def table_counts(conn=None) -> dict[str, int]:
    if conn is None:
        with connect("oltp") as own:
            return table_counts(own)
    return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in OLTP_TABLES}
