"""The raw mirror in the OLAP database: one table per OLTP table, with bookkeeping columns,
the loader lock, and the geohash → UF lookup."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable

from ..config import Settings, settings as load_settings
from ..db import connect

RAW = "raw"
CONSUMER_GROUP = "jornada-warehouse"
OFFSETS_TABLE = f"{RAW}._cdc_offsets"
LOADS_TABLE = f"{RAW}._loads"
GEOHASH_TABLE = f"{RAW}.geohash_uf"
SOURCE_TABLE = f"{RAW}._source_tables"
# (name, type as pg's format_type() spells it, constraint)
META_COLUMNS = [
    ("_op", "character(1)", "not null"),
    ("_offset", "bigint", ""),
    ("_lsn", "bigint", ""),
    ("_source_ts", "timestamp with time zone", ""),
    ("_loaded_at", "timestamp with time zone", "not null default now()"),
]


class WarehouseError(RuntimeError):
    """The warehouse cannot be loaded or built; the message says what to do."""


class SnapshotNeeded(WarehouseError):
    """The change stream cannot continue the raw tables: run :func:`extract_snapshot`."""


class SourceReset(SnapshotNeeded):
    """The OLTP tables were re-created since the mirror was copied: reset, then snapshot."""


class DbtError(WarehouseError):
    """`dbt` failed; ``failures`` lists the failed models/tests (unique_id, status, message)."""

    def __init__(self, message: str, failures: list[dict] | None = None, output: str = ""):
        super().__init__(message)
        self.failures = failures or []
        self.output = output


def tables() -> list[str]:
    """The OLTP tables mirrored into ``raw`` (parents first)."""
    from ..schema import OLTP_TABLES

    return list(OLTP_TABLES)


# ---- catalogue --------------------------------------------------------------------------------
@dataclass
class TableDef:
    name: str
    columns: list[tuple[str, str]]          # (column, format_type)
    pk: list[str]

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


def oltp_catalog(conn, names: Iterable[str] | None = None) -> dict[str, TableDef]:
    """Columns (with exact types) and primary key of each OLTP table, from pg_catalog."""
    names = list(names or tables())
    rows = conn.execute(
        "select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnum "
        "from pg_attribute a join pg_class c on c.oid = a.attrelid "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relname = any(%s) and a.attnum > 0 "
        "and not a.attisdropped order by c.relname, a.attnum", (names,)).fetchall()
    pks = dict(conn.execute(
        "select c.relname, array_agg(a.attname order by array_position(i.indkey::int2[], a.attnum)) "
        "from pg_index i join pg_class c on c.oid = i.indrelid "
        "join pg_namespace n on n.oid = c.relnamespace "
        "join pg_attribute a on a.attrelid = c.oid and a.attnum = any(i.indkey) "
        "where i.indisprimary and n.nspname = 'public' and c.relname = any(%s) "
        "group by c.relname", (names,)).fetchall())
    defs: dict[str, TableDef] = {}
    for rel, col, typ, _ in rows:
        defs.setdefault(rel, TableDef(rel, [], list(pks.get(rel) or [])))
        defs[rel].columns.append((col, typ))
    missing = [n for n in names if n not in defs]
    if missing:
        raise WarehouseError(f"OLTP tables {missing} do not exist — run `jornada db init` (or `make up`)")
    return {n: defs[n] for n in names}


def _raw_columns(conn, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
        "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped "
        "order by a.attnum", (RAW, table)).fetchall()


def _ident(name: str) -> str:
    from psycopg import sql

    return sql.Identifier(name).as_string(None)


def ensure_raw_schema(olap, defs: dict[str, TableDef], log=lambda m: None) -> list[str]:
    """Create schema ``raw`` and one mirror table per OLTP table (recreated if its columns changed).

    Returns the tables (re)created. Runs inside the caller's transaction.
    """
    olap.execute(f"create schema if not exists {RAW}")
    created = []
    for t in defs.values():
        wanted = t.columns + [(c, typ) for c, typ, _ in META_COLUMNS]
        have = [tuple(r) for r in _raw_columns(olap, t.name)]
        if have == wanted:
            continue
        if have:
            log(f"raw.{t.name}: columns changed in the OLTP — recreating the mirror "
                "(dbt views on it are rebuilt by the next `dbt build`)")
            olap.execute(f"drop table {RAW}.{_ident(t.name)} cascade")
        cols = [f"{_ident(c)} {typ}" for c, typ in t.columns]
        cols += [f"{c} {typ} {extra}".strip() for c, typ, extra in META_COLUMNS]
        pk = ", ".join(_ident(c) for c in t.pk)
        olap.execute(f"create table {RAW}.{_ident(t.name)} ({', '.join(cols)}, primary key ({pk}))")
        olap.execute(f"create index on {RAW}.{_ident(t.name)} (_loaded_at)")
        olap.execute(f"comment on table {RAW}.{_ident(t.name)} is "
                     f"'Mirror of OLTP public.{t.name}, kept by lib/jornada/warehouse.py'")
        created.append(t.name)
    olap.execute(f"""
        create table if not exists {OFFSETS_TABLE} (
            topic text not null, partition integer not null, next_offset bigint not null,
            updated_at timestamptz not null default now(), primary key (topic, partition))""")
    olap.execute(f"""
        create table if not exists {LOADS_TABLE} (
            id bigserial primary key, kind text not null check (kind in ('snapshot', 'cdc')),
            started_at timestamptz not null, finished_at timestamptz not null default now(),
            rows jsonb not null, detail jsonb)""")
    olap.execute(f"""
        create table if not exists {SOURCE_TABLE} (
            table_name text primary key, oltp_oid oid not null, oltp_system_id bigint not null,
            recorded_at timestamptz not null default now())""")
    olap.execute(f"comment on table {SOURCE_TABLE} is 'Identity of the OLTP tables the raw mirror "
                 "was copied from: a reset re-creates them with new oids, so the stream cannot continue'")
    olap.execute(f"""
        create table if not exists {GEOHASH_TABLE} (
            geohash varchar(12) primary key, uf char(2),
            resolved_at timestamptz not null default now())""")
    olap.execute(f"comment on table {GEOHASH_TABLE} is 'UF of each order geohash "
                 "(point-in-polygon in Python, jornada.geo); NULL = outside Brazil'")
    return created


def source_identity(oltp, names: Iterable[str] | None = None) -> dict[str, tuple[int, int]]:
    """Each OLTP table's identity: (oid, the server's system identifier). `db init --reset` drops
    and re-creates the tables (new oids); a re-initialised server has a new system identifier."""
    system_id = oltp.execute("select system_identifier from pg_control_system()").fetchone()[0]
    rows = oltp.execute(
        "select c.relname, c.oid::bigint from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relname = any(%s)", (list(names or tables()),)).fetchall()
    return {name: (oid, system_id) for name, oid in rows}


def record_source(olap, identity: dict[str, tuple[int, int]]) -> None:
    olap.execute(f"delete from {SOURCE_TABLE}")
    with olap.cursor() as cur:
        cur.executemany(f"insert into {SOURCE_TABLE} (table_name, oltp_oid, oltp_system_id) "
                        "values (%s, %s, %s)", [(t, oid, sid) for t, (oid, sid) in identity.items()])


def source_changes(oltp, olap) -> list[str]:
    """Tables whose OLTP identity differs from the one the mirror was copied from."""
    if not olap.execute("select to_regclass(%s)", (SOURCE_TABLE,)).fetchone()[0]:
        return list(tables())
    recorded = {t: (oid, sid) for t, oid, sid in olap.execute(
        f"select table_name, oltp_oid::bigint, oltp_system_id from {SOURCE_TABLE}")}
    current = source_identity(oltp)
    return [t for t in tables() if recorded.get(t) != current.get(t)]


LOADER_LOCK = "jornada.warehouse.loader"


def _lock_and_stamp(olap) -> object:
    """Serialize every loader transaction and return its load stamp (call first thing).

    ``_loaded_at`` is the watermark dbt's incremental model reads, so it must be exact: the
    stamp is taken AFTER the transaction-scoped advisory lock is granted, hence after the
    previous loader transaction committed. Stamps then grow in commit order, and a transaction
    still open while dbt reads has a stamp above everything dbt could see — the next run's
    ``loaded_at > last max`` picks it up (staging exposes ``_loaded_at`` as ``loaded_at``; no
    lookback needed; a plain ``now()``, the start of the transaction, would not guarantee that).
    """
    olap.execute("select pg_advisory_xact_lock(hashtext(%s))", (LOADER_LOCK,))
    return olap.execute("select clock_timestamp()").fetchone()[0]


def topic_of(table: str) -> str:
    from .. import cdc

    return cdc.topic_for(table)


# ---- geohash → UF ----------------------------------------------------------------------------
def refresh_geohash_uf(s: Settings | None = None, chunk: int = 200_000) -> int:
    """Resolve the UF of every order geohash not yet in ``raw.geohash_uf``; returns how many."""
    import numpy as np

    from .. import geo

    s = s or load_settings()
    total = 0
    with connect(s.olap) as olap:
        while True:
            with olap.transaction():
                _lock_and_stamp(olap)              # one writer at a time, like every load
                pending = [r[0] for r in olap.execute(
                    f"select distinct a.geohash from {RAW}.auditoria_pedidos a "
                    f"where not exists (select 1 from {GEOHASH_TABLE} g where g.geohash = a.geohash) "
                    "limit %s", (chunk,))]
                if not pending:
                    return total
                ufs = geo.states_of_geohash(np.array(pending, dtype=object))
                with olap.cursor() as cur, cur.copy(
                        f"copy {GEOHASH_TABLE} (geohash, uf) from stdin") as cp:
                    for gh, uf in zip(pending, ufs):
                        cp.write_row((gh, uf if isinstance(uf, str) and uf else None))
                total += len(pending)


# dbt_test__audit: failing rows of the data tests (store_failures, warehouse/dbt_project.yml);
# analytics_dbt_test__audit is where dbt's default schema naming would have put them
WAREHOUSE_SCHEMAS = [RAW, "staging", "intermediate", "snapshots", "marts", "analytics",
                     "dbt_test__audit", "analytics_dbt_test__audit"]


def reset_warehouse(s: Settings | None = None) -> None:
    """Drop every warehouse schema (raw mirror, dbt's models and snapshot history).

    The SCD2 snapshot keeps history across runs on purpose, so after the OLTP is reset (same
    deterministic ids, older timestamps) the warehouse must be reset too, or dbt would compare
    the new data with the old history.
    """
    s = s or load_settings()
    with connect(s.olap) as olap:
        for schema in WAREHOUSE_SCHEMAS:
            olap.execute(f"drop schema if exists {_ident(schema)} cascade")
        olap.commit()
