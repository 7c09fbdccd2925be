"""The OLTP model: apply it, seed the catalogue, reset it, describe it."""

from __future__ import annotations

from importlib import resources

import psycopg
import psycopg.sql

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


def schema_mark() -> str:
    """What the OLTP records of the schema it holds (a comment on the schema's trigger function)."""
    import hashlib

    return "jornada oltp schema " + hashlib.sha256(schema_sql().encode()).hexdigest()[:16]


def _schema_is_current(conn) -> bool:
    """True when this exact schema was applied and every table is there: applying it again would
    only take locks (CREATE TRIGGER's blocks the shop's inserts, and deadlocked with one)."""
    mark = conn.execute("select obj_description(p.oid, 'pg_proc') from pg_proc p "
                        "where p.proname = 'set_updated_at' and p.pronamespace = 'public'::regnamespace"
                        ).fetchone()
    tables = conn.execute("select count(*) from pg_tables where schemaname = 'public' "
                          "and tablename = any(%s)", (OLTP_TABLES,)).fetchone()[0]
    return bool(mark) and mark[0] == schema_mark() and tables == len(OLTP_TABLES)


def init_oltp(*, reset: bool = False) -> dict[str, int]:
    """Create the OLTP tables (idempotent) and seed categories, products and seed customers.
    A database that already holds this schema gets no DDL (no lock in the way of a live shop).

    With ``reset=True`` every table is dropped first, in the same transaction, so a failure leaves
    the previous database untouched. Dropping a table also drops what others attached to it —
    its place in a publication (CDC), its replica identity, its grants — so the reset notes them
    first and puts them back on the new tables. Returns the row count of each table afterwards.
    """
    from .waits import retrying

    # A CDC snapshot reading the tables can deadlock with the drop; the whole reset rolled back,
    # so simply try again once the reader has moved on.
    for attempt in retrying(psycopg.errors.DeadlockDetected, attempts=DEADLOCK_RETRIES):
        with attempt, connect("oltp") as conn:
            with conn.transaction():
                attached = _attachments(conn) if reset else None
                if reset:
                    conn.execute("drop table if exists " + ", ".join(reversed(OLTP_TABLES)) + " cascade")
                if reset or not _schema_is_current(conn):
                    conn.execute(schema_sql())
                    conn.execute(psycopg.sql.SQL("comment on function set_updated_at() is {}")
                                 .format(psycopg.sql.Literal(schema_mark())))
                seed_catalogue(conn)
                if attached:
                    _reattach(conn, attached)
            return table_counts(conn)


def _attachments(conn) -> dict:
    """Publications, replica identities and grants of the OLTP tables (what a drop would lose)."""
    return {
        "publications": conn.execute(
            "select pubname, tablename from pg_publication_tables "
            "where schemaname = 'public' and tablename = any(%s)", (OLTP_TABLES,)).fetchall(),
        "identities": conn.execute(
            "select c.relname, c.relreplident from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relname = any(%s) and c.relreplident in ('f', 'n')",
            (OLTP_TABLES,)).fetchall(),
        "grants": conn.execute(
            "select grantee, table_name, privilege_type from information_schema.role_table_grants "
            "where table_schema = 'public' and table_name = any(%s) and grantee <> current_user "
            "and grantor = current_user", (OLTP_TABLES,)).fetchall(),
    }


def _reattach(conn, attached: dict) -> None:
    ident = psycopg.sql.Identifier
    for pub, table in attached["publications"]:
        conn.execute(psycopg.sql.SQL("alter publication {} add table {}").format(ident(pub), ident(table)))
    for table, code in attached["identities"]:
        conn.execute(psycopg.sql.SQL("alter table {} replica identity {}").format(
            ident(table), psycopg.sql.SQL({"f": "full", "n": "nothing"}[code])))
    for grantee, table, privilege in attached["grants"]:
        conn.execute(psycopg.sql.SQL("grant {} on {} to {}").format(
            psycopg.sql.SQL(privilege), ident(table), ident(grantee)))


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
