"""The Postgres side of CDC: the Debezium role, publication, replica identities, heartbeat,
the replication slot's lag and the capture barrier."""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from ..config import Settings, settings as load_settings
from ..db import ServiceUnavailable, connect
from .config import CONNECTOR, CdcError, captured_tables, connector_template

HEARTBEAT_TABLE = "cdc_heartbeat"

# Before-images: with the default identity (the primary key), an UPDATE or DELETE event carries
# only the key columns in `before`. FULL logs the whole old row — more WAL per update/delete, but
# these tables are mostly insert-only (orders, items, audit rows) or small (catalogue), so the
# cost is small and every consumer can see what changed and reverse a deleted row's effect.
REPLICA_IDENTITY = {
    "pessoas": ("full", "SCD type 2 in the warehouse and audits need the old name/birth date"),
    "enderecos": ("full", "a move between states: fraud-by-state needs the old UF"),
    "categorias": ("full", "renames: downstream dimensions see old and new description"),
    "produtos": ("full", "price changes: before.valor_unit vs after.valor_unit"),
    "pedidos": ("full", "a corrected total or a deleted order can be reversed in aggregates"),
    "itens_pedidos": ("full", "a deleted item must subtract its qtde/valor_total downstream"),
    "auditoria_pedidos": ("full", "device/geohash corrections re-trigger fraud rules"),
    "fraudes_confirmadas": ("full", "a withdrawn chargeback must remove the label downstream"),
    HEARTBEAT_TABLE: ("default", "one row, key only: nobody needs its before-image"),
}

HEARTBEAT_DDL = f"""
create table if not exists {HEARTBEAT_TABLE} (
    id       smallint primary key check (id = 1),
    beat_at  timestamptz not null default now()
);
comment on table {HEARTBEAT_TABLE} is
    'Debezium writes here every heartbeat.interval.ms so its replication slot never pins WAL';
insert into {HEARTBEAT_TABLE} (id) values (1) on conflict do nothing;
"""


def _superuser_connect(s: Settings):
    try:
        return connect(s.oltp, autocommit=True, user=s.pg_superuser, password=s.pg_superuser_password.get_secret_value(),
                       dbname=s.oltp.dbname)
    except ServiceUnavailable as exc:
        raise CdcError(f"cannot create the Debezium role: {exc}") from None
    except psycopg.Error as exc:  # pragma: no cover - unexpected
        raise CdcError(f"cannot create the Debezium role: {exc}") from None


def _role_ok(s: Settings, user: str, password: str) -> bool:
    """True when the role logs in with the password from .env and has REPLICATION."""
    try:
        with psycopg.connect(s.oltp.conninfo(user=user, password=password), autocommit=True) as conn:
            return bool(conn.execute("select rolreplication from pg_roles where rolname = current_user")
                        .fetchone()[0])
    except psycopg.Error:
        return False


def ensure_role(s: Settings | None = None) -> str:
    """Create (or repair) the Debezium role; returns 'ok', 'created' or 'updated'."""
    s = s or load_settings()
    user, password = s.debezium_user, s.debezium_password.get_secret_value()
    if _role_ok(s, user, password):
        state = "ok"
    else:
        # Only this needs the superuser: REPLICATION can be granted by superusers only.
        with _superuser_connect(s) as conn:
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (user,)).fetchone()
            conn.execute(sql.SQL(
                "{} role {} with login replication nosuperuser nocreatedb nocreaterole "
                "noinherit password {}").format(
                sql.SQL("alter" if exists else "create"), sql.Identifier(user), sql.Literal(password)))
            state = "updated" if exists else "created"
    return state


def setup_postgres(s: Settings | None = None, name: str = CONNECTOR) -> dict:
    """Prepare the OLTP database for the connector ``name``; idempotent, returns what it did.

    Role (see :func:`ensure_role`), then — as the tables' owner, the course role — the heartbeat
    table, grants, replica identities and the publication (created, or missing tables added;
    tables someone added on purpose are left in place).
    """
    s = s or load_settings()
    template = connector_template(name)
    publication = template["publication.name"]
    tables = captured_tables(name)
    user = s.debezium_user
    done = {"role": "ok", "replica_identity_changed": [], "publication": "ok",
            "added_to_publication": []}
    with connect(s.oltp, autocommit=True) as conn:  # first: "OLTP not reachable" names the fix
        done["role"] = ensure_role(s)
        if HEARTBEAT_TABLE in tables:
            conn.execute(HEARTBEAT_DDL)
        present = {r[0] for r in conn.execute(
            "select tablename from pg_tables where schemaname = 'public' and tablename = any(%s)",
            (tables,))}
        missing = [t for t in tables if t not in present]
        if missing:
            raise CdcError(f"tables {missing} do not exist in {s.oltp.dbname} — run `jornada db init` "
                           "(or `make up`), then `jornada cdc register`")
        ident = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
        conn.execute(sql.SQL("grant connect on database {} to {}").format(
            sql.Identifier(s.oltp.dbname), sql.Identifier(user)))
        conn.execute(sql.SQL("grant usage on schema public to {}").format(sql.Identifier(user)))
        conn.execute(sql.SQL("grant select on {} to {}").format(ident, sql.Identifier(user)))
        if HEARTBEAT_TABLE in tables:
            conn.execute(sql.SQL("grant insert, update on {} to {}").format(
                sql.Identifier(HEARTBEAT_TABLE), sql.Identifier(user)))
        current = dict(conn.execute(
            "select c.relname, c.relreplident from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relname = any(%s)", (tables,)).fetchall())
        for table in tables:
            wanted = REPLICA_IDENTITY.get(table, ("full", ""))[0]
            code = {"full": "f", "default": "d"}[wanted]
            if current.get(table) != code:  # ALTER TABLE takes a strong lock: only when needed
                conn.execute(sql.SQL("alter table {} replica identity {}").format(
                    sql.Identifier(table), sql.SQL(wanted)))
                done["replica_identity_changed"].append(table)
        exists = conn.execute("select 1 from pg_publication where pubname = %s", (publication,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create publication {} for table {} "
                                 "with (publish = 'insert, update, delete, truncate')").format(
                sql.Identifier(publication), ident))
            done["publication"] = "created"
        else:
            published = publication_tables(conn, publication)
            add = [t for t in tables if t not in published]
            if add:
                conn.execute(sql.SQL("alter publication {} add table {}").format(
                    sql.Identifier(publication), sql.SQL(", ").join(sql.Identifier(t) for t in add)))
                done["publication"] = "repaired"
                done["added_to_publication"] = add
    return done


def publication_tables(conn, publication: str) -> set[str]:
    return {r[0] for r in conn.execute(
        "select tablename from pg_publication_tables where pubname = %s and schemaname = 'public'",
        (publication,))}


def slot_lag(s: Settings | None = None, name: str = CONNECTOR) -> dict | None:
    """The connector's replication slot: active?, WAL retained and not yet confirmed, in bytes.

    ``retained_bytes`` (current WAL position − restart_lsn) is what the slot forces Postgres to
    keep on disk; ``lag_bytes`` (current − confirmed_flush_lsn) is what Debezium has not yet
    confirmed. None when the slot does not exist (connector never started, or dropped).
    """
    s = s or load_settings()
    slot = connector_template(name)["slot.name"]
    try:
        with connect(s.oltp) as conn:
            row = conn.execute(
                "select slot_name, plugin, active, active_pid, restart_lsn::text, "
                "confirmed_flush_lsn::text, wal_status, "
                "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, "
                "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, "
                "pg_current_wal_lsn()::text "
                "from pg_replication_slots where slot_name = %s", (slot,)).fetchone()
    except ServiceUnavailable:
        raise
    if row is None:
        return None
    keys = ["slot_name", "plugin", "active", "active_pid", "restart_lsn", "confirmed_flush_lsn",
            "wal_status", "retained_bytes", "lag_bytes", "current_lsn"]
    return dict(zip(keys, row))


# ---- the capture barrier ---------------------------------------------------------------------
def wait_for_capture(timeout_s: float = 120, s: Settings | None = None, name: str = CONNECTOR) -> float:
    """Block until every change committed in the OLTP before this call is in Kafka; the seconds.

    Debezium confirms a WAL position to its replication slot (``confirmed_flush_lsn``) only
    after Kafka acknowledged every event up to it. So: note the OLTP's current WAL position,
    write one heartbeat row (a captured table, so there is a change right after that position
    for Debezium to process and confirm even when the shop is idle), and wait until the slot's
    confirmed position passes the noted one. Lessons run after others that wrote hundreds of
    thousands of rows: this makes "read from the end offsets" mean "after everything earlier".
    """
    from ..waits import TimedOut, poll_until

    s = s or load_settings()
    slot = connector_template(name)["slot.name"]
    t0 = time.monotonic()
    with connect(s.oltp, autocommit=True) as oltp:
        target = oltp.execute("select pg_current_wal_lsn()").fetchone()[0]
        oltp.execute(sql.SQL("update {} set beat_at = clock_timestamp() where id = 1").format(
            sql.Identifier(HEARTBEAT_TABLE)))

        def position():
            return oltp.execute(
                "select active, confirmed_flush_lsn >= %s::pg_lsn, "
                "pg_wal_lsn_diff(%s::pg_lsn, confirmed_flush_lsn)::bigint "
                "from pg_replication_slots where slot_name = %s", (target, target, slot)).fetchone()

        try:
            poll_until(position, timeout_s=timeout_s, interval_s=0.2,
                       done=lambda row: row is None or row[1], what="capture")
        except TimedOut as exc:
            active, _, behind = exc.last or (None, None, None)
            raise CdcError(f"Debezium has not confirmed WAL position {target} after {timeout_s:.0f}s "
                           f"(slot {slot} active={active}, {behind} bytes behind) — is the connector "
                           "far behind or failed? `jornada cdc status`") from None
        if position() is None:
            raise CdcError(f"replication slot {slot} does not exist: the Debezium connector is not "
                           "running — `jornada cdc register` (or `make up`), then retry")
    return time.monotonic() - t0
