"""Getting the shop's data into the warehouse, and running dbt on it (lessons 04 and 05).

The OLAP Postgres keeps a **raw mirror** of the OLTP tables in schema ``raw`` (same columns and
types, no constraints but the primary key, plus four bookkeeping columns). dbt (``warehouse/``)
builds the star schema from it. Two loaders fill the mirror:

``extract_snapshot()`` — a full copy
    One OLTP transaction at ``REPEATABLE READ`` (so every table is read at the SAME instant: no
    item without its order), streamed with ``COPY ... TO STDOUT`` → ``COPY ... FROM STDIN`` in
    binary format, into ONE OLAP transaction that truncates and refills every raw table. Readers
    wait on the lock and then see the complete new copy, never half a table, never new orders
    with old items. Used to bootstrap, after ``db init --reset``, or when Kafka no longer holds
    the changes the warehouse needs.

``apply_cdc()`` — the incremental path, from Debezium's change events
    A Kafka consumer of the ``liga.public.<table>`` topics (lesson 03). Each poll is applied in
    ONE OLAP transaction: per primary key only the last event of the batch counts; creates,
    updates and snapshot reads are upserts (``INSERT ... ON CONFLICT (pk) DO UPDATE``), deletes
    are deletes. The next offset of every partition is stored in ``raw._cdc_offsets`` **in the
    same transaction** as the rows — the warehouse, not Kafka, is the source of truth of "how far
    have I applied", so a crash between the OLAP commit and the Kafka commit can neither lose
    nor double-apply a change (Kafka's documented pattern "storing offsets outside Kafka"). The
    consumer group offset is committed to Kafka only AFTER the OLAP commit, for monitoring
    (``kafka-consumer-groups --describe --group jornada-warehouse`` shows the lag). Every raw
    row remembers the offset of the event that wrote it (``_offset``) and an event only
    overwrites a row written by an older event, so re-delivering a batch is harmless
    (at-least-once delivery, idempotent apply). Within one table the order is the topic's
    partition order, which is the order Postgres committed the changes (Debezium reads the WAL
    in commit order); the event's LSN is kept in ``_lsn`` for inspection.

    Snapshot + stream: ``extract_snapshot`` reads Kafka's end offsets BEFORE it opens the OLTP
    snapshot and stores them as the starting point. Every change committed after the snapshot is
    therefore at or after that offset; the few events between that offset and the snapshot are
    re-applied on top of rows that already hold them, which changes nothing once the batch is
    done (the last event of each key equals the snapshot's value).

Why not a ``updated_at`` watermark ("copy rows with updated_at > last max")? The original
course's incremental idea loses data in three ways, and this module's tests show each:

1. *Late rows.* ``updated_at`` is the time the OLTP statement ran (``now()`` is the start of the
   transaction), not the time the row became visible. A transaction that starts at 10:00 and
   commits at 10:05 writes ``updated_at = 10:00``; an extract at 10:03 does not see it yet but
   moves the watermark to the newest visible row, say 10:02 — the next extract asks for
   ``> 10:02`` and skips that row forever. Back-dated writes are the same thing in bulk: our
   history loader writes ``created_at = updated_at = dt_venda`` (days in the past), so a whole
   history load after the first extract is invisible to the watermark; so is a chargeback
   (``fraudes_confirmadas``) that arrives weeks after its order.
2. *Deletes* leave no row behind to carry an ``updated_at``: the warehouse keeps them forever.
3. *Clocks*: the watermark compares the OLTP server's clock with itself across restarts and
   replicas; skew or a restored backup silently moves it.

The change log has none of these problems: a change is in the log once it commits, deletes are
events, and positions are offsets, not clocks. (Inside the warehouse dbt may still use a time
watermark — on ``_loaded_at``, which *this* loader assigns when it commits, with a lookback
window; see ``warehouse/models/marts/fato_pedidos.sql``.)

Alternatives considered (lesson 04 compares them): Debezium's JDBC *sink* connector in the same
Connect worker (is not published on Maven Central for our Debezium version, and would hide the
apply logic the lesson wants to show); ``postgres_fdw`` (not shipped by the ``pgserver``
build; it also only pulls full tables or watermark ranges, with the problems above); a periodic
full ``COPY`` (correct but O(size) every time: fine at course scale, which is why it is the
bootstrap path).

UF per order (fraud rate by state): the UF of a geohash is a point-in-polygon question answered
in Python (:mod:`jornada.geo`, shapely), which dbt on Postgres cannot ask. The loader keeps a
lookup ``raw.geohash_uf(geohash, uf)`` — the function is pure, so each distinct geohash is
resolved once, after every load, for the geohashes not there yet (an anti-join). The raw mirror
itself stays byte-identical to the OLTP (so reconciliations are exact) and dbt joins the lookup
in; a dbt test fails the build if an order's geohash is missing from it. ``uf`` NULL means
"outside Brazil".

Bookkeeping columns of every raw table: ``_op`` (``s`` snapshot, ``r``/``c``/``u`` Debezium),
``_offset`` (Kafka offset of the event; for snapshot rows, the offset just before
where the stream resumes), ``_lsn`` (the change's WAL
position), ``_source_ts`` (commit time in the OLTP), ``_loaded_at`` (the load stamp of the warehouse
transaction that wrote the row — what dbt's incremental model and freshness checks use).
Loader transactions are serialized by an advisory lock and stamped after taking it, so stamps
grow in commit order and are an exact watermark (see :func:`_lock_and_stamp`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .config import REPO_ROOT, Settings, settings as load_settings
from .db import ServiceUnavailable, connect

RAW = "raw"
DBT_PROJECT_DIR = REPO_ROOT / "warehouse"
CONSUMER_GROUP = "jornada-warehouse"
OFFSETS_TABLE = f"{RAW}._cdc_offsets"
LOADS_TABLE = f"{RAW}._loads"
GEOHASH_TABLE = f"{RAW}.geohash_uf"
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


class DbtError(WarehouseError):
    """`dbt` failed; ``failures`` lists the failed models/tests (unique_id, status, message)."""

    def __init__(self, message: str, failures: list[dict] | None = None, output: str = ""):
        super().__init__(message)
        self.failures = failures or []
        self.output = output


def tables() -> list[str]:
    """The OLTP tables mirrored into ``raw`` (parents first)."""
    from .schema import OLTP_TABLES

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
        create table if not exists {GEOHASH_TABLE} (
            geohash varchar(12) primary key, uf char(2),
            resolved_at timestamptz not null default now())""")
    olap.execute(f"comment on table {GEOHASH_TABLE} is 'UF of each order geohash "
                 "(point-in-polygon in Python, jornada.geo); NULL = outside Brazil'")
    return created


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


# ---- Kafka helpers ---------------------------------------------------------------------------
def topic_of(table: str) -> str:
    from . import cdc

    return cdc.topic_for(table)


def _kafka_consumer(s: Settings, group: str | None = CONSUMER_GROUP, **extra):
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    from . import cdc

    bs = cdc.bootstrap_servers(s)
    try:
        return KafkaConsumer(bootstrap_servers=bs, group_id=group, enable_auto_commit=False,
                             allow_auto_create_topics=False, request_timeout_ms=15000,
                             fetch_max_wait_ms=100, max_partition_fetch_bytes=4 * 1024 * 1024,
                             client_id="jornada-warehouse", **extra)
    except KafkaError as exc:
        raise ServiceUnavailable(f"Kafka not reachable at {bs} — run `make up` (or `jornada stack "
                                 f"up kafka connect`) ({type(exc).__name__})") from None


def _partitions(consumer, topics: Iterable[str]) -> list:
    from kafka import TopicPartition

    consumer._client.cluster.request_update()  # noqa: SLF001 - fresh metadata: new topics appear
    known = consumer.topics()
    out = []
    for topic in topics:
        if topic in known:
            out += [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    return out


def kafka_end_offsets(s: Settings | None = None, table_names: Iterable[str] | None = None) -> dict | None:
    """{(topic, partition): end offset} of the tables' topics; a topic not created yet gives
    partition 0 at offset 0 (Debezium creates it at its first event). None if Kafka is down."""
    s = s or load_settings()
    try:
        consumer = _kafka_consumer(s, group=None)
    except ServiceUnavailable:
        return None
    try:
        topics = [topic_of(t) for t in (table_names or tables())]
        parts = _partitions(consumer, topics)
        ends = consumer.end_offsets(parts) if parts else {}
        out = {(tp.topic, tp.partition): off for tp, off in ends.items()}
        for topic in topics:
            if not any(k[0] == topic for k in out):
                out[(topic, 0)] = 0
        return out
    finally:
        consumer.close()


# ---- snapshot --------------------------------------------------------------------------------
def extract_snapshot(s: Settings | None = None, *, with_offsets: bool = True,
                     log: Callable[[str], None] = lambda m: None) -> dict:
    """Full, consistent copy of every OLTP table into ``raw`` (see the module docstring).

    Returns {"rows": {table: n}, "seconds": …, "offsets": {topic: offset} or None}. With Kafka
    down (or ``with_offsets=False``) the copy still happens, but the stored CDC positions are
    cleared, so :func:`apply_cdc` refuses to run until the next snapshot with Kafka up.
    """
    import psycopg

    s = s or load_settings()
    t0 = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    # 1. Kafka positions FIRST: every change committed after the snapshot is at or after them.
    #    Waiting for Debezium to publish what is already committed keeps the window of events
    #    re-applied over the copy (between those positions and the snapshot) small.
    offsets = None
    if with_offsets:
        try:
            wait_cdc_caught_up(s, timeout_s=120)
        except (WarehouseError, ServiceUnavailable, psycopg.Error) as exc:
            log(f"CDC not caught up ({str(exc).strip()}); the snapshot continues")
        offsets = kafka_end_offsets(s)
    rows: dict[str, int] = {}
    with connect(s.oltp) as oltp, connect(s.olap) as olap:
        oltp.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        oltp.read_only = True
        with oltp.transaction(), olap.transaction():
            # 2. the OLTP snapshot is taken at the first query of this transaction
            lsn = oltp.execute("select pg_current_wal_lsn()::text").fetchone()[0]
            defs = oltp_catalog(oltp)
            stamp = _lock_and_stamp(olap)
            ensure_raw_schema(olap, defs, log)
            names = ", ".join(f"{RAW}.{_ident(t)}" for t in defs)
            olap.execute(f"lock table {names} in access exclusive mode")
            olap.execute(f"truncate {names}")
            for t in defs.values():
                cols = ", ".join(_ident(c) for c in t.column_names)
                # bookkeeping of snapshot rows: op 's'; as offset, the one just before where CDC
                # resumes, so re-delivered older events never overwrite the copy; the snapshot's
                # WAL position and time; the load stamp taken under the loader lock
                parts = {p: o for (tp, p), o in (offsets or {}).items() if tp == topic_of(t.name)}
                before = f"{parts[0] - 1}::bigint" if list(parts) == [0] else "null::bigint"
                meta = (f"'s'::character(1), {before}, "
                        "(pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint, now(), "
                        f"'{stamp.isoformat()}'::timestamptz")
                with oltp.cursor() as src, olap.cursor() as dst:
                    with src.copy(f"copy (select {cols}, {meta} from public.{_ident(t.name)}) "
                                  "to stdout (format binary)") as cin, \
                            dst.copy(f"copy {RAW}.{_ident(t.name)} ({cols}, _op, _offset, _lsn, "
                                     "_source_ts, _loaded_at) from stdin (format binary)") as cout:
                        for chunk in cin:
                            cout.write(chunk)
                n = olap.execute(f"select count(*) from {RAW}.{_ident(t.name)}").fetchone()[0]
                rows[t.name] = n
                log(f"raw.{t.name}: {n:,} rows")
            olap.execute(f"delete from {OFFSETS_TABLE}")
            if offsets is not None:
                with olap.cursor() as cur:
                    cur.executemany(f"insert into {OFFSETS_TABLE} (topic, partition, next_offset) "
                                    "values (%s, %s, %s)",
                                    [(tp, p, off) for (tp, p), off in offsets.items()])
            olap.execute(f"insert into {LOADS_TABLE} (kind, started_at, rows, detail) "
                         "values ('snapshot', %s, %s, %s)",
                         (started, json.dumps(rows), json.dumps({
                             "oltp_lsn": lsn,
                             "offsets": None if offsets is None else
                             {f"{tp}[{p}]": o for (tp, p), o in offsets.items()}})))
    resolved = refresh_geohash_uf(s)
    out = {"rows": rows, "seconds": round(time.perf_counter() - t0, 2), "oltp_lsn": lsn,
           "offsets": None if offsets is None else {f"{tp}[{p}]": o for (tp, p), o in offsets.items()},
           "geohashes_resolved": resolved}
    if offsets is None:
        log("Kafka not reachable: snapshot copied without CDC positions — apply_cdc needs a "
            "new snapshot once Kafka is up")
    return out


# ---- geohash → UF ----------------------------------------------------------------------------
def refresh_geohash_uf(s: Settings | None = None, chunk: int = 200_000) -> int:
    """Resolve the UF of every order geohash not yet in ``raw.geohash_uf``; returns how many."""
    import numpy as np

    from . import geo

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


# ---- CDC apply -------------------------------------------------------------------------------
def _json_expr(col: str, typ: str, src: str = "e.after") -> str:
    """SQL that turns Debezium's JSON value of a column back into the column's type.

    Connector settings (stack/register-liga-oltp.json): timestamps are microseconds since the
    epoch, dates are days since the epoch, numerics are exact strings, text is text.
    """
    v = f"({src} ->> '{col}')"
    if typ == "timestamp without time zone" or typ.startswith("timestamp(") and "without" in typ:
        return (f"(timestamp '1970-01-01' + ({v}::bigint / 1000000) * interval '1 second'"
                f" + mod({v}::bigint, 1000000) * interval '1 microsecond')")
    if typ == "date":
        return f"(date '1970-01-01' + {v}::integer)"
    if typ.startswith("timestamp with"):
        return f"{v}::timestamptz"
    return f"{v}::{typ}"


@dataclass
class _Prepared:
    table: TableDef
    delete_sql: str
    upsert_sql: str


def _prepare(t: TableDef) -> _Prepared:
    tbl = f"{RAW}.{_ident(t.name)}"
    key_match = " and ".join(f"r.{_ident(c)} = {_json_expr(c, typ, 'e.key')}"
                             for c, typ in t.columns if c in t.pk)
    delete_sql = (f"delete from {tbl} r using _cdc_in e where e.tbl = %(tbl)s and e.op = 'd' "
                  f"and {key_match} and (r._offset is null or r._offset < e.ord)")
    cols = t.column_names + ["_op", "_offset", "_lsn", "_source_ts", "_loaded_at"]
    exprs = [_json_expr(c, typ) for c, typ in t.columns]
    exprs += ["e.op", "e.ord", "e.lsn", "to_timestamp(e.ts_ms / 1000.0)", "%(stamp)s"]
    updates = ", ".join(f"{_ident(c)} = excluded.{_ident(c)}" for c in cols if c not in t.pk)
    data_cols = [c for c in t.column_names if c not in t.pk]
    changed = (f"({', '.join('r.' + _ident(c) for c in data_cols)}) is distinct from "
               f"({', '.join('excluded.' + _ident(c) for c in data_cols)})")
    # only a NEWER event (offset) with DIFFERENT content rewrites a row: a re-delivered event
    # changes nothing — not even the load stamp, so dbt's incremental run does not redo it
    upsert_sql = (f"insert into {tbl} as r ({', '.join(_ident(c) for c in cols)}) "
                  f"select {', '.join(exprs)} from _cdc_in e where e.tbl = %(tbl)s and e.op <> 'd' "
                  f"on conflict ({', '.join(_ident(c) for c in t.pk)}) do update set {updates} "
                  f"where (r._offset is null or r._offset < excluded._offset) and {changed}")
    return _Prepared(t, delete_sql, upsert_sql)


@dataclass
class CdcStats:
    events: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    batches: int = 0
    applied: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.monotonic)
    lag: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"events": {t: dict(ops) for t, ops in self.events.items()},
                "batches": self.batches, "applied": self.applied, "skipped": self.skipped,
                "seconds": round(time.monotonic() - self.started, 2), "lag": self.lag}


def stored_offsets(s: Settings | None = None) -> dict[tuple[str, int], int]:
    s = s or load_settings()
    with connect(s.olap) as olap:
        exists = olap.execute("select to_regclass(%s)", (OFFSETS_TABLE,)).fetchone()[0]
        if not exists:
            return {}
        return {(t, p): o for t, p, o in olap.execute(
            f"select topic, partition, next_offset from {OFFSETS_TABLE}")}


def wait_cdc_caught_up(s: Settings | None = None, timeout_s: float = 60) -> dict:
    """Block until every change committed in the OLTP before this call is in Kafka.

    Debezium confirms a WAL position to its replication slot (``confirmed_flush_lsn``) only
    after Kafka acknowledged every event up to it. So: note the OLTP's current WAL position,
    write one heartbeat row (a captured table, so there is a change right after that position
    for Debezium to process and confirm even when the shop is idle), and wait until the slot's
    confirmed position passes the noted one. Then Kafka's end offsets cover everything that was
    committed before — the cut-off a drain can stop at.
    """
    from . import cdc

    s = s or load_settings()
    slot = cdc.connector_template()["slot.name"]
    t0 = time.monotonic()
    with connect(s.oltp, autocommit=True) as oltp:
        target = oltp.execute("select pg_current_wal_lsn()").fetchone()[0]
        oltp.execute(f"update {cdc.HEARTBEAT_TABLE} set beat_at = now() where id = 1")
        while True:
            row = oltp.execute(
                "select active, confirmed_flush_lsn >= %s::pg_lsn, "
                "pg_wal_lsn_diff(%s::pg_lsn, confirmed_flush_lsn)::bigint "
                "from pg_replication_slots where slot_name = %s", (target, target, slot)).fetchone()
            if row is None:
                raise WarehouseError(f"replication slot {slot} does not exist: the Debezium connector "
                                     "is not running — `jornada cdc register` (or `make up`), then retry")
            if row[1]:
                return {"lsn": str(target), "waited_s": round(time.monotonic() - t0, 2)}
            if time.monotonic() - t0 > timeout_s:
                raise WarehouseError(f"Debezium has not confirmed WAL position {target} after "
                                     f"{timeout_s:.0f}s (slot {slot} active={row[0]}, {row[2]} bytes "
                                     "behind) — check `jornada cdc status`")
            time.sleep(0.2)


def apply_cdc(s: Settings | None = None, *, max_seconds: float | None = 120,
              follow: bool = False, stop: threading.Event | None = None,
              idle_s: float = 1.0, max_records: int = 20_000,
              log: Callable[[str], None] = lambda m: None) -> dict:
    """Apply Debezium's change events to the raw mirror (see the module docstring).

    Default (``follow=False``): drain — wait until Kafka holds every change committed in the
    OLTP before the call (:func:`wait_cdc_caught_up`), then stop once every topic is at the
    end offset it had at that moment and nothing new arrived for ``idle_s``. ``follow=True``:
    keep applying until ``stop`` is set or ``max_seconds`` pass (the freshness benchmark, a
    long-running consumer). Raises :class:`SnapshotNeeded` when the stored positions cannot continue the
    topics (never snapshotted, topic recreated, or events already deleted by retention).
    """
    from kafka.structs import OffsetAndMetadata

    s = s or load_settings()
    stats = CdcStats()
    positions = stored_offsets(s)
    if not positions:
        raise SnapshotNeeded("the warehouse has no CDC positions — run `extract_snapshot()` "
                             "(`python -m jornada.warehouse snapshot`) first, with Kafka up")
    topic_table = {topic_of(t): t for t in tables()}
    if not follow:
        # the drain's cut-off: everything committed in the OLTP before now is in Kafka
        stats.lag["cutoff"] = wait_cdc_caught_up(s)
    consumer = _kafka_consumer(s)
    try:
        with connect(s.oltp) as oltp:
            defs = oltp_catalog(oltp)
        with connect(s.olap) as olap:
            for t in defs.values():
                have = [tuple(r) for r in _raw_columns(olap, t.name)]
                if have != t.columns + [(c, typ) for c, typ, _ in META_COLUMNS]:
                    raise SnapshotNeeded(f"raw.{t.name} does not have the OLTP's columns (new table "
                                         "or schema change) — run a new snapshot")
        prepared = {t: _prepare(d) for t, d in defs.items()}
        parts = _partitions(consumer, topic_table)
        begins = consumer.beginning_offsets(parts) if parts else {}
        ends = consumer.end_offsets(parts) if parts else {}
        for tp in parts:
            pos = positions.get((tp.topic, tp.partition), 0)
            if pos > ends[tp]:
                raise SnapshotNeeded(f"{tp.topic}[{tp.partition}]: the warehouse is at offset {pos} "
                                     f"but the topic ends at {ends[tp]} (topic recreated?) — run a new "
                                     "snapshot: `python -m jornada.warehouse snapshot`")
            if pos < begins[tp]:
                raise SnapshotNeeded(f"{tp.topic}[{tp.partition}]: events {pos}..{begins[tp] - 1} were "
                                     "already deleted by Kafka's retention — run a new snapshot")
        assigned = set(parts)
        if parts:
            consumer.assign(parts)
            for tp in parts:
                consumer.seek(tp, positions.get((tp.topic, tp.partition), 0))
        target = dict(ends)
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        last_event = time.monotonic()
        last_refresh = time.monotonic()
        with connect(s.olap) as olap:
            olap.execute("create temporary table if not exists _cdc_in (tbl text, ord bigint, "
                         "lsn bigint, op char(1), ts_ms bigint, key jsonb, after jsonb) "
                         "on commit delete rows")
            olap.commit()
            while True:
                if stop is not None and stop.is_set():
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if follow and time.monotonic() - last_refresh > 5:
                    # topics created after we started (a table's first event) join the assignment
                    last_refresh = time.monotonic()
                    new = [tp for tp in _partitions(consumer, topic_table) if tp not in assigned]
                    if new:
                        assigned |= set(new)
                        consumer.assign(sorted(assigned, key=lambda x: (x.topic, x.partition)))
                        for tp in new:
                            consumer.seek(tp, positions.get((tp.topic, tp.partition), 0))
                if not assigned:
                    if not follow:
                        break
                    time.sleep(0.2)
                    continue
                batch = consumer.poll(timeout_ms=200, max_records=max_records)
                if not batch:
                    caught_up = all(consumer.position(tp) >= target.get(tp, 0) for tp in assigned)
                    if not follow and caught_up and time.monotonic() - last_event >= idle_s:
                        break
                    continue
                last_event = time.monotonic()
                next_offsets = _apply_batch(olap, batch, topic_table, prepared, stats)
                olap.commit()                      # rows + positions, atomically
                positions.update({(tp.topic, tp.partition): o for tp, o in next_offsets.items()})
                try:                               # then Kafka's view, for monitoring only
                    consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in next_offsets.items()})
                except Exception as exc:  # noqa: BLE001 - the warehouse already holds the truth
                    log(f"warning: Kafka offset commit failed ({type(exc).__name__}); positions are "
                        "safe in raw._cdc_offsets")
            ends = consumer.end_offsets(list(assigned)) if assigned else {}
            stats.lag.update({f"{tp.topic}[{tp.partition}]": ends[tp] - consumer.position(tp)
                              for tp in assigned})
            if stats.applied:
                olap.execute(f"insert into {LOADS_TABLE} (kind, started_at, rows, detail) values "
                             "('cdc', now() - make_interval(secs => %s), %s, %s)",
                             (time.monotonic() - stats.started,
                              json.dumps({t: sum(o.values()) for t, o in stats.events.items()}),
                              json.dumps({"batches": stats.batches, "lag": stats.lag})))
                olap.commit()
    finally:
        consumer.close()
    if stats.applied and "auditoria_pedidos" in stats.events:
        refresh_geohash_uf(s)
    return stats.as_dict()


def _apply_batch(olap, batch: dict, topic_table: dict, prepared: dict, stats: CdcStats) -> dict:
    """Apply one poll's events in the caller's transaction; returns the next offset per partition."""
    latest: dict[tuple, tuple] = {}
    next_offsets = {}
    for tp, messages in batch.items():
        table = topic_table.get(tp.topic)
        for msg in messages:
            next_offsets[tp] = msg.offset + 1
            if table is None or msg.value is None:      # tombstone: the delete event came before
                stats.skipped += 1
                continue
            try:
                value = json.loads(msg.value)
                key = json.loads(msg.key) if msg.key is not None else None
            except ValueError:
                stats.skipped += 1
                continue
            op = value.get("op")
            if op not in ("c", "u", "d", "r") or key is None:
                stats.skipped += 1                      # truncate/message events: not mirrored
                continue
            source = value.get("source") or {}
            stats.events[table][op] += 1
            latest[(table, json.dumps(key, sort_keys=True))] = (
                table, msg.offset, source.get("lsn"), op, source.get("ts_ms") or value.get("ts_ms"),
                json.dumps(key), json.dumps(value.get("after")) if op != "d" else None)
    if latest:
        stamp = _lock_and_stamp(olap)
        with olap.cursor() as cur:
            with cur.copy("copy _cdc_in (tbl, ord, lsn, op, ts_ms, key, after) from stdin") as cp:
                for row in latest.values():
                    cp.write_row(row)
            for table in sorted({k[0] for k in latest}, key=tables().index):
                p = prepared[table]
                cur.execute(p.delete_sql, {"tbl": table})
                cur.execute(p.upsert_sql, {"tbl": table, "stamp": stamp})
            stats.applied += len(latest)
        stats.batches += 1
    with olap.cursor() as cur:
        cur.executemany(
            f"insert into {OFFSETS_TABLE} (topic, partition, next_offset, updated_at) "
            "values (%s, %s, %s, now()) on conflict (topic, partition) do update "
            "set next_offset = excluded.next_offset, updated_at = now()",
            [(tp.topic, tp.partition, o) for tp, o in next_offsets.items()])
    return next_offsets


def load(s: Settings | None = None, *, log: Callable[[str], None] = lambda m: None,
         max_seconds: float = 600) -> dict:
    """What the warehouse_load DAG runs: apply the change stream; snapshot when it cannot."""
    s = s or load_settings()
    try:
        return {"mode": "cdc", **apply_cdc(s, max_seconds=max_seconds, log=log)}
    except SnapshotNeeded as exc:
        log(f"{exc} — taking a snapshot")
        snap = extract_snapshot(s, log=log)
        if snap["offsets"] is None:
            return {"mode": "snapshot", **snap}
        return {"mode": "snapshot+cdc", "snapshot": snap, "cdc": apply_cdc(s, max_seconds=max_seconds, log=log)}


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


# ---- quality ---------------------------------------------------------------------------------
def compare_with_oltp(s: Settings | None = None) -> dict:
    """Row counts and revenue in the OLTP vs the raw mirror (and the fact, once dbt built it)."""
    s = s or load_settings()
    out: dict = {"tables": {}}
    with connect(s.oltp) as oltp, connect(s.olap) as olap:
        for t in tables():
            a = oltp.execute(f"select count(*) from public.{_ident(t)}").fetchone()[0]
            try:
                b = olap.execute(f"select count(*) from {RAW}.{_ident(t)}").fetchone()[0]
            except Exception:  # noqa: BLE001 - not loaded yet
                olap.rollback()
                b = None
            out["tables"][t] = {"oltp": a, "raw": b}
        out["revenue_oltp"] = oltp.execute(
            "select coalesce(sum(valor_total), 0) from itens_pedidos").fetchone()[0]
        out["revenue_raw"] = olap.execute(
            f"select coalesce(sum(valor_total), 0) from {RAW}.itens_pedidos").fetchone()[0]
        if olap.execute("select to_regclass('marts.fato_pedidos')").fetchone()[0]:
            out["revenue_fact"] = olap.execute(
                "select coalesce(sum(valor_total_item), 0) from marts.fato_pedidos").fetchone()[0]
        last = olap.execute(f"select max(finished_at), extract(epoch from now() - max(finished_at)) "
                            f"from {LOADS_TABLE}").fetchone()
        out["last_load_at"], out["last_load_age_s"] = last[0], (float(last[1]) if last[1] is not None else None)
    return out


def quality_gate(s: Settings | None = None, *, max_age_s: float = 3600, check_fact: bool = True) -> dict:
    """Fail (WarehouseError) unless raw == OLTP row for row count, revenues reconcile and the last
    load is recent. Meant for a quiet OLTP (the pipeline DAG); under a live stream, counts move."""
    rep = compare_with_oltp(s)
    problems = []
    for t, c in rep["tables"].items():
        if c["raw"] != c["oltp"]:
            problems.append(f"{t}: OLTP has {c['oltp']} rows, raw has {c['raw']}")
    if rep["revenue_raw"] != rep["revenue_oltp"]:
        problems.append(f"revenue: OLTP {rep['revenue_oltp']} vs raw {rep['revenue_raw']}")
    if check_fact:
        if "revenue_fact" not in rep:
            problems.append("marts.fato_pedidos does not exist — dbt build has not run")
        elif rep["revenue_fact"] != rep["revenue_oltp"]:
            problems.append(f"revenue: OLTP {rep['revenue_oltp']} vs fato_pedidos {rep['revenue_fact']}")
    if rep["last_load_age_s"] is None or rep["last_load_age_s"] > max_age_s:
        problems.append(f"freshness: last load {rep['last_load_age_s']} s ago (limit {max_age_s} s)")
    rep["problems"] = problems
    if problems:
        raise WarehouseError("data-quality gate failed:\n  " + "\n  ".join(problems))
    return rep


# ---- dbt -------------------------------------------------------------------------------------
def dbt_env(s: Settings | None = None) -> dict[str, str]:
    """Environment for the dbt CLI: OLAP_* for warehouse/profiles.yml, paths under the stack dir."""
    s = s or load_settings()
    base = s.stack_dir / "dbt"
    env = dict(os.environ)
    env.update({
        "OLAP_HOST": s.olap.host, "OLAP_PORT": str(s.olap.port), "OLAP_DB": s.olap.dbname,
        "OLAP_USER": s.olap.user, "OLAP_PASSWORD": s.olap.password,
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR), "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
        "DBT_TARGET_PATH": str(base / "target"), "DBT_LOG_PATH": str(base / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false",
        "DBT_PARTIAL_PARSE": "true",
    })
    return env


def dbt_executable() -> str:
    exe = Path(sys.executable).with_name("dbt")
    if exe.exists():
        return str(exe)
    import shutil

    found = shutil.which("dbt")
    if not found:
        raise WarehouseError("the dbt CLI is not installed — run `make setup`")
    return found


@dataclass
class DbtResult:
    args: list[str]
    seconds: float
    output: str
    results: list[dict]

    def node(self, name: str) -> dict | None:
        """The result of one model/test/snapshot by its name (``fato_pedidos``)."""
        for r in self.results:
            if (r["unique_id"] or "").split(".")[2:3] == [name]:
                return r
        return None

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for r in self.results:
            counts[r["status"]] += 1
        return dict(counts)


def dbt(*args: str, s: Settings | None = None, check: bool = True,
        echo: Callable[[str], None] | None = None) -> DbtResult:
    """Run ``dbt <args>`` on warehouse/ against the OLAP database; raise DbtError on failure.

    The error names every failed model or test, with dbt's message (e.g. a test's failing
    row count), and the path of the full log.
    """
    s = s or load_settings()
    env = dbt_env(s)
    target = Path(env["DBT_TARGET_PATH"])
    run_results = target / "run_results.json"
    run_results.unlink(missing_ok=True)
    cmd = [dbt_executable(), *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=DBT_PROJECT_DIR, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if echo:
            echo(line.rstrip("\n"))
    rc = proc.wait()
    output = "\n".join(lines)
    results = []
    if run_results.exists():
        try:
            for r in json.loads(run_results.read_text()).get("results", []):
                results.append({"unique_id": r.get("unique_id"), "status": r.get("status"),
                                "message": r.get("message"), "failures": r.get("failures"),
                                "seconds": r.get("execution_time"),
                                "rows": (r.get("adapter_response") or {}).get("rows_affected")})
        except ValueError:
            pass
    result = DbtResult(list(args), round(time.perf_counter() - t0, 2), output, results)
    if rc != 0 and check:
        failed = [r for r in results if r["status"] in ("error", "fail", "runtime error")]
        if failed:
            detail = "\n".join(f"  {r['status'].upper()}: {r['unique_id']}: {(r['message'] or '').strip()[:400]}"
                               for r in failed)
        else:  # failed before running anything (parse/compile/connection error)
            errs = [ln for ln in lines if "Error" in ln or "error" in ln.split(":")[0]]
            detail = "\n".join("  " + ln for ln in (errs or lines)[-15:])
        raise DbtError(f"`dbt {' '.join(args)}` failed (exit {rc}):\n{detail}\n"
                       f"  full log: {Path(env['DBT_LOG_PATH']) / 'dbt.log'}", failed, output)
    return result


# ---- command line ----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """python -m jornada.warehouse COMMAND

    snapshot          full consistent COPY of the OLTP into raw (and CDC start positions)
    cdc [--follow]    apply Debezium's change events to raw (drain, or follow until Ctrl-C)
    load              cdc, or snapshot + cdc when the stream cannot continue the mirror
    check             data-quality gate: raw and fact vs OLTP, freshness
    reset             drop every warehouse schema (raw, dbt models, SCD2 history)
    dbt ARGS…         dbt with the course's connection, e.g. `dbt build`, `dbt docs generate`
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(main.__doc__)
        return 0
    cmd, rest = argv[0], argv[1:]
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    try:
        if cmd == "snapshot":
            print(json.dumps(extract_snapshot(log=say), indent=2, default=str))
        elif cmd == "cdc":
            follow = "--follow" in rest
            print(json.dumps(apply_cdc(follow=follow, max_seconds=None if follow else 300, log=say),
                             indent=2, default=str))
        elif cmd == "load":
            print(json.dumps(load(log=say), indent=2, default=str))
        elif cmd == "check":
            print(json.dumps(quality_gate(), indent=2, default=str))
        elif cmd == "reset":
            reset_warehouse()
            say("warehouse schemas dropped")
        elif cmd == "dbt":
            dbt(*rest, echo=print)
        else:
            say(f"unknown command {cmd!r}\n{main.__doc__}")
            return 2
    except (WarehouseError, ServiceUnavailable) as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
