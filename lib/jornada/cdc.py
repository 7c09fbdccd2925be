"""Change data capture of the OLTP database with Debezium, Kafka Connect and Kafka (lesson 03).

Three parts, each idempotent, each failing with a message that names the service and the fix:

1. **Postgres side** (:func:`setup_postgres`), set up by code, never by hand:

   - a dedicated role (``DEBEZIUM_USER``) with only what the connector needs — ``LOGIN``,
     ``REPLICATION`` (to open a logical replication connection and create its slot), ``CONNECT`` on
     the database, ``USAGE`` on the schema and ``SELECT`` on the captured tables (the initial
     snapshot reads them), plus ``INSERT``/``UPDATE`` on the heartbeat table. The original course
     connected Debezium as the superuser: a leaked connector config then meant a leaked superuser.
   - a publication ``FOR TABLE <list>`` created by the tables' owner (the course role), so
     Debezium never needs ``CREATE`` on the database nor ownership of the tables
     (``publication.autocreate.mode=disabled``).
   - ``REPLICA IDENTITY FULL`` where before-images matter (see :data:`REPLICA_IDENTITY`).
   - a heartbeat table, see below.

2. **Connector registration** (:func:`register`): one ``stack/register-<name>.json`` per
   connector, Debezium-tutorial style. ``PUT /connectors/<name>/config`` creates or updates; we
   first compare with the running config, so registering twice changes nothing (no restart). The
   JSON holds ``${PLACEHOLDERS}`` for the database address and the credentials; they are filled
   from settings (`.env`) at registration time and never written to the repository.

3. **Reading the change stream**: :func:`read_topic` turns a topic into a pandas DataFrame of
   (op, before, after, source_ts_ms, lsn, key, offset, partition, timestamp, ...); status helpers
   report the connector's and task's state and the replication slot's lag in bytes.

The publication trap
--------------------
``CREATE PUBLICATION ... FOR TABLE a, b`` fixes the list: a table created later — or dropped and
created again, as ``jornada db init --reset`` does — is **not** in the publication, so Postgres
never sends its changes and Debezium publishes nothing for it. No error, no warning: the topic
simply never appears. ``FOR ALL TABLES`` avoids that but needs a superuser and captures every
table, wanted or not. So a new table is captured only when it is added to the publication
(``ALTER PUBLICATION liga_cdc ADD TABLE t``) *and* to the connector's ``table.include.list``,
and the table's REPLICA IDENTITY is set too. :func:`ensure_capture` repairs what it knows (the
tables of the register JSON) and :func:`status` lists captured tables missing from the
publication.

Why a heartbeat
---------------
A replication slot keeps every WAL segment from its ``restart_lsn`` on, until the consumer
confirms it has processed that position. Debezium confirms positions as it receives changes of
captured tables; if those tables are idle while the server keeps writing WAL (other tables, other
databases, vacuum), the slot's position never moves and WAL piles up until the disk fills
(``max_slot_wal_keep_size`` then invalidates the slot: data loss for the connector).
``heartbeat.interval.ms`` makes Debezium commit its offset regularly and
``heartbeat.action.query`` writes a row to ``cdc_heartbeat`` (a published table) so there always
is a change to receive and a position to confirm.

Event format (see stack/register-liga-oltp.json)
------------------------------------------------
- JSON without embedded schemas (``schemas.enable=false``): readable, small; consumers must know
  the column types (:func:`decode_temporal` does it from the database catalog).
- ``decimal.handling.mode=string``: ``numeric(10,2)`` money arrives as ``"19.90"``, exact;
  ``precise`` would be base64 bytes and ``double`` would round sums. Convert with
  ``decimal.Decimal`` or ``pandas.to_numeric``.
- ``time.precision.mode=adaptive_time_microseconds``: ``timestamp`` columns arrive as
  microseconds since 1970-01-01 (``pd.to_datetime(v, unit="us")``), ``date`` as days since
  1970-01-01 (``pd.to_datetime(v, unit="D")``), ``time`` as microseconds.
- ``snapshot.mode=when_needed``: the first start snapshots every captured table (events with
  ``op="r"``), then streams. Later starts resume from the LSN stored in Connect's offsets; if that
  position is gone (slot dropped or invalidated, OLTP data reset) the connector snapshots again
  instead of silently skipping changes — duplicates downstream, never a hole.
- ``tombstones.on.delete=true``: a delete is an event ``op="d"`` (with the before-image) followed
  by a tombstone (key, null value) so a compacted topic can forget the key. :func:`read_topic`
  keeps tombstones as rows with ``op=None`` and ``tombstone=True``.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import sql

from .config import REPO_ROOT, Settings, settings as load_settings
from .db import ServiceUnavailable, connect

STACK_DIR = REPO_ROOT / "stack"
CONNECTOR = "liga-oltp"
HEARTBEAT_TABLE = "cdc_heartbeat"
COLUMNS = ["op", "before", "after", "source_ts_ms", "lsn", "key", "offset", "partition",
           "timestamp", "tombstone", "table", "snapshot", "txid", "ts_ms", "topic"]

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


class CdcError(ServiceUnavailable):
    """CDC is not working; the message names the service and the fix."""


class ConnectorFailed(CdcError):
    """The connector or its task is FAILED; the message has the first line of the trace."""


# ---- configuration ---------------------------------------------------------------------------
def register_files() -> dict[str, Path]:
    """Every connector of the course: name → stack/register-<name>.json."""
    files = {}
    for path in sorted(STACK_DIR.glob("register-*.json")):
        files[json.loads(path.read_text())["name"]] = path
    return files


def connector_template(name: str = CONNECTOR) -> dict:
    """The connector's config exactly as in its register JSON (placeholders unfilled)."""
    files = register_files()
    if name not in files:
        raise CdcError(f"no stack/register-*.json defines a connector named {name!r} "
                       f"(known: {', '.join(files) or 'none'})")
    return json.loads(files[name].read_text())["config"]


_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def placeholder_values(s: Settings | None = None) -> dict[str, str]:
    """What the register JSON's ``${...}`` placeholders become, from settings (.env).

    The database address is the one *Kafka Connect* uses: natively the OLTP endpoint itself; in
    docker compose the service name (`oltp:5432`), set through JORNADA_CDC_DB_HOST/_PORT.
    """
    s = s or load_settings()
    password = s.get("DEBEZIUM_PASSWORD", "")
    if password in ("", "generate"):
        raise CdcError("DEBEZIUM_PASSWORD is not set — run `make env` (or `jornada env`): it "
                       "adds the keys .env is missing, with generated secrets")
    return {
        "CDC_DB_HOST": s.get("JORNADA_CDC_DB_HOST") or s.oltp.host,
        "CDC_DB_PORT": str(s.get("JORNADA_CDC_DB_PORT") or s.oltp.port),
        "OLTP_DB": s.oltp.dbname,
        "DEBEZIUM_USER": s.get("DEBEZIUM_USER", "debezium"),
        "DEBEZIUM_PASSWORD": password,
    }


def connector_config(name: str = CONNECTOR, s: Settings | None = None) -> dict[str, str]:
    """The config to send to Kafka Connect: the template with every placeholder filled."""
    values = placeholder_values(s)
    config = {}
    for key, value in connector_template(name).items():
        def fill(m: re.Match) -> str:
            if m.group(1) not in values:
                raise CdcError(f"stack/register-{name}.json: unknown placeholder ${{{m.group(1)}}} "
                               f"in {key} (known: {', '.join(values)})")
            return values[m.group(1)]
        config[key] = _PLACEHOLDER.sub(fill, str(value))
    return config


def captured_tables(name: str = CONNECTOR, schema: str = "public") -> list[str]:
    """Tables of the connector's table.include.list, without the schema (the one list)."""
    tables = []
    for entry in connector_template(name).get("table.include.list", "").split(","):
        entry = entry.strip()
        if entry:
            sch, _, table = entry.rpartition(".")
            if (sch or schema) == schema:
                tables.append(table)
    return tables


def topic_prefix(name: str = CONNECTOR) -> str:
    return connector_template(name)["topic.prefix"]


def topic_for(table: str, schema: str = "public", name: str = CONNECTOR) -> str:
    """The Kafka topic of a table's changes: ``topic_for("pedidos")`` → ``"liga.public.pedidos"``."""
    return f"{topic_prefix(name)}.{schema}.{table}"


def heartbeat_topic(name: str = CONNECTOR) -> str:
    return f"__debezium-heartbeat.{topic_prefix(name)}"


# ---- Postgres side ---------------------------------------------------------------------------
def _superuser_connect(s: Settings):
    import psycopg

    from .db import connect

    try:
        return connect(s.oltp, autocommit=True, user=s.pg_superuser, password=s.pg_superuser_password,
                       dbname=s.oltp.dbname)
    except ServiceUnavailable as exc:
        raise CdcError(f"cannot create the Debezium role: {exc}") from None
    except psycopg.Error as exc:  # pragma: no cover - unexpected
        raise CdcError(f"cannot create the Debezium role: {exc}") from None


def _role_ok(s: Settings, user: str, password: str) -> bool:
    """True when the role logs in with the password from .env and has REPLICATION."""
    import psycopg

    try:
        with psycopg.connect(s.oltp.conninfo(user=user, password=password), autocommit=True) as conn:
            return bool(conn.execute("select rolreplication from pg_roles where rolname = current_user")
                        .fetchone()[0])
    except psycopg.Error:
        return False


def ensure_role(s: Settings | None = None) -> str:
    """Create (or repair) the Debezium role; returns 'ok', 'created' or 'updated'."""
    from psycopg import sql

    s = s or load_settings()
    values = placeholder_values(s)
    user, password = values["DEBEZIUM_USER"], values["DEBEZIUM_PASSWORD"]
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
    from psycopg import sql

    from .db import connect

    s = s or load_settings()
    template = connector_template(name)
    publication = template["publication.name"]
    tables = captured_tables(name)
    user = placeholder_values(s)["DEBEZIUM_USER"]
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
    from .db import connect

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


# ---- Kafka Connect REST ----------------------------------------------------------------------
def connect_url(s: Settings | None = None) -> str:
    from .stack.kafka import connect_url as url

    return url(s or load_settings())


def bootstrap_servers(s: Settings | None = None) -> str:
    from .stack.kafka import bootstrap_servers as bs

    return bs(s or load_settings())


def _log_hint(s: Settings, service: str) -> str:
    path = s.stack_dir / "logs" / f"{service}.log"
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _up_hint(s: Settings, services: str) -> str:
    if s.get("JORNADA_CONNECT_URL") or s.get("JORNADA_KAFKA_BOOTSTRAP"):  # inside docker compose
        return ("start them: `docker compose -f stack/docker-compose.yml --env-file .env "
                "--env-file stack/versions.env --profile cdc up -d`")
    return f"run `make up` (or `jornada stack up {services}`)"


def _rest(method: str, path: str, s: Settings | None = None, *, json_body=None,
          timeout_s: float = 5.0, retries: int = 8, ok=(200, 201, 202, 204, 404)):
    """One Kafka Connect REST call with the errors a learner can act on."""
    import requests

    s = s or load_settings()
    url = connect_url(s) + path
    last = None
    timeouts = 0
    for attempt in range(retries):
        try:
            resp = requests.request(method, url, json=json_body, timeout=timeout_s)
        except requests.ConnectionError:
            raise CdcError(f"Kafka Connect not reachable at {connect_url(s)} — "
                           f"{_up_hint(s, 'kafka connect')}, then `jornada cdc status`") from None
        except requests.Timeout:
            # alive but busy (a worker that just (re)started is still rebalancing on a loaded
            # machine): worth two more tries; a dead worker is refused at once above
            timeouts += 1
            if timeouts < 3:
                continue
            raise CdcError(f"Kafka Connect at {connect_url(s)} did not answer within {timeout_s:.0f}s "
                           f"(3 tries) — is it still starting? see {_log_hint(s, 'connect')}") from None
        # 409: a rebalance is in progress; 500 "Request timed out": the herder is busy starting
        if resp.status_code == 409 or (resp.status_code >= 500 and "timed out" in resp.text.lower()):
            last = resp
            time.sleep(min(0.5 * (attempt + 1), 3))
            continue
        if resp.status_code not in ok:
            raise CdcError(f"Kafka Connect {method} {path} answered {resp.status_code}: "
                           f"{_error_message(resp)} — see {_log_hint(s, 'connect')}")
        return resp
    raise CdcError(f"Kafka Connect {method} {path} kept answering {last.status_code} "
                   f"({_error_message(last)}) — see {_log_hint(s, 'connect')}")


def _error_message(resp) -> str:
    try:
        return resp.json().get("message", resp.text)[:500]
    except ValueError:
        return resp.text[:500]


def connectors(s: Settings | None = None) -> list[str]:
    return _rest("GET", "/connectors", s).json()


def connector_status(name: str = CONNECTOR, s: Settings | None = None) -> dict | None:
    """``{"connector": "RUNNING", "tasks": [{"id": 0, "state": "RUNNING", "trace": None}], ...}``
    or None when the connector is not registered."""
    resp = _rest("GET", f"/connectors/{name}/status", s)
    if resp.status_code == 404:
        return None
    body = resp.json()
    return {
        "name": name,
        "connector": body.get("connector", {}).get("state"),
        "connector_trace": body.get("connector", {}).get("trace"),
        "worker": body.get("connector", {}).get("worker_id"),
        "tasks": [{"id": t.get("id"), "state": t.get("state"), "trace": t.get("trace")}
                  for t in body.get("tasks", [])],
    }


def _first_line(trace: str | None) -> str:
    if not trace:
        return "no trace"
    lines = [line.strip() for line in trace.splitlines() if line.strip()]
    # Connect wraps the cause: prefer the innermost "Caused by" line, it names the real problem
    causes = [line for line in lines if line.startswith("Caused by:")]
    return (causes[-1].removeprefix("Caused by:").strip() if causes else lines[0])[:300]


def check_connector(name: str = CONNECTOR, s: Settings | None = None) -> dict:
    """The connector's status; raises :class:`ConnectorFailed` / :class:`CdcError` when not usable."""
    s = s or load_settings()
    st = connector_status(name, s)
    fix = f"see {_log_hint(s, 'connect')}; fix, then `jornada cdc register`"
    if st is None:
        raise CdcError(f"connector {name} is not registered in Kafka Connect at {connect_url(s)} "
                       "— run `jornada cdc register` (or `make up`)")
    if st["connector"] == "FAILED":
        raise ConnectorFailed(f"connector {name} is FAILED: {_first_line(st['connector_trace'])} — {fix}")
    for task in st["tasks"]:
        if task["state"] == "FAILED":
            raise ConnectorFailed(f"connector {name} task {task['id']} is FAILED: "
                                  f"{_first_line(task['trace'])} — {fix}")
    return st


def wait_running(name: str = CONNECTOR, s: Settings | None = None, timeout_s: float = 60) -> dict:
    """Wait until the connector and all its tasks are RUNNING (raises on FAILED or timeout)."""
    s = s or load_settings()
    deadline = time.monotonic() + timeout_s
    st = None
    while time.monotonic() < deadline:
        if connector_status(name, s) is None:  # just registered: no status yet
            time.sleep(0.5)
            continue
        st = check_connector(name, s)
        if st["connector"] == "RUNNING" and st["tasks"] and all(t["state"] == "RUNNING" for t in st["tasks"]):
            return st
        time.sleep(0.5)
    raise CdcError(f"connector {name} not RUNNING after {timeout_s:.0f}s (status {st}) — "
                   f"see {_log_hint(s, 'connect')}")


def register(name: str = CONNECTOR, s: Settings | None = None) -> str:
    """Create or update the connector from its register JSON; returns created/updated/unchanged.

    Idempotent: the running config is compared first, so an unchanged connector is not touched.
    A FAILED connector or task is restarted (the usual fix: correct the cause, then register).
    """
    s = s or load_settings()
    desired = connector_config(name, s)
    current = _rest("GET", f"/connectors/{name}/config", s)
    if current.status_code == 200:
        running = {k: v for k, v in current.json().items() if k != "name"}
        if running == desired:
            st = connector_status(name, s)
            failed = st and (st["connector"] == "FAILED" or any(t["state"] == "FAILED" for t in st["tasks"]))
            if failed:
                _rest("POST", f"/connectors/{name}/restart?includeTasks=true&onlyFailed=true", s)
                return "restarted"
            return "unchanged"
    resp = _rest("PUT", f"/connectors/{name}/config", s, json_body=desired, timeout_s=30,
                 ok=(200, 201))
    return "created" if resp.status_code == 201 else "updated"


def register_all(s: Settings | None = None) -> dict[str, str]:
    return {name: register(name, s) for name in register_files()}


def ensure_capture(s: Settings | None = None, log: Callable[[str], None] = print,
                   wait: bool = True, timeout_s: float = 60) -> dict:
    """Postgres side + every connector registered and RUNNING. Safe to call any number of times."""
    s = s or load_settings()
    report = {}
    for name in register_files():
        pg = setup_postgres(s, name)
        changed = {k: v for k, v in pg.items() if v not in ("ok", [], None)}
        if changed:
            log(f"cdc: Postgres prepared for {name}: {changed}")
        state = register(name, s)
        if state != "unchanged":
            log(f"cdc: connector {name} {state} at {connect_url(s)}")
        if wait:
            wait_running(name, s, timeout_s=timeout_s)
        report[name] = {"postgres": pg, "connector": state}
    return report


def delete_connector(name: str = CONNECTOR, s: Settings | None = None) -> bool:
    """Remove the connector from Connect (its slot stays: drop it with :func:`drop_slot`)."""
    return _rest("DELETE", f"/connectors/{name}", s).status_code in (200, 204)


def restart_connector(name: str = CONNECTOR, s: Settings | None = None) -> None:
    _rest("POST", f"/connectors/{name}/restart?includeTasks=true&onlyFailed=false", s)


def status(s: Settings | None = None, name: str = CONNECTOR) -> dict:
    """Everything a learner checks: worker, connector and task states, publication, slot lag.

    Never raises for a stopped service: each part says what is wrong and how to fix it.
    """
    from .db import connect

    s = s or load_settings()
    out: dict = {"connect_url": connect_url(s), "bootstrap_servers": bootstrap_servers(s),
                 "connector": name, "problems": []}
    try:
        st = connector_status(name, s)
        out["status"] = st
        if st is None:
            out["problems"].append(f"connector {name} is not registered — `jornada cdc register`")
        else:
            try:
                check_connector(name, s)
            except CdcError as exc:
                out["problems"].append(str(exc))
    except CdcError as exc:
        out["status"] = None
        out["problems"].append(str(exc))
    try:
        publication = connector_template(name)["publication.name"]
        with connect(s.oltp) as conn:
            published = publication_tables(conn, publication)
        wanted = captured_tables(name)
        out["publication"] = {"name": publication, "tables": sorted(published),
                              "missing": [t for t in wanted if t not in published],
                              "extra": sorted(set(published) - set(wanted))}
        if out["publication"]["missing"]:
            out["problems"].append(
                f"tables {out['publication']['missing']} are not in publication {publication}: their "
                "changes are NOT captured (dropped and re-created?) — `jornada cdc register` adds them")
        out["slot"] = slot_lag(s, name)
        if out["slot"] is None:
            out["problems"].append(f"replication slot {connector_template(name)['slot.name']} does not "
                                   "exist yet (the connector creates it when it starts)")
    except ServiceUnavailable as exc:
        out["problems"].append(str(exc))
    return out


# ---- reading topics --------------------------------------------------------------------------
@contextmanager
def _quiet_kafka_client():
    """kafka-python logs every refused connection at ERROR while it bootstraps: when the broker
    is down, our one-line CdcError says it better than a screenful of retries."""
    logger = logging.getLogger("kafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _consumer(s: Settings, **extra):
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    bs = bootstrap_servers(s)
    try:
        options = dict(bootstrap_servers=bs, group_id=None, enable_auto_commit=False,
                       allow_auto_create_topics=False, bootstrap_timeout_ms=3000,
                       request_timeout_ms=10000, fetch_max_wait_ms=100, client_id="jornada-cdc")
        with _quiet_kafka_client():
            return KafkaConsumer(**{**options, **extra})
    except KafkaError as exc:
        raise CdcError(f"Kafka not reachable at {bs} — {_up_hint(s, 'kafka')} "
                       f"({type(exc).__name__})") from None


def list_topics(s: Settings | None = None, *, internal: bool = False) -> dict[str, int]:
    """Topic → number of messages currently in it (end offset − beginning offset)."""
    from kafka import TopicPartition

    s = s or load_settings()
    consumer = _consumer(s)
    try:
        out = {}
        for topic in sorted(consumer.topics()):
            if not internal and topic.startswith("_"):
                continue
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            ends = consumer.end_offsets(parts)
            starts = consumer.beginning_offsets(parts)
            out[topic] = sum(ends[p] - starts[p] for p in parts)
        return out
    finally:
        consumer.close()


def consumer_lag(group: str, topic: str, s: Settings | None = None):
    """How far a consumer group is behind on a topic: one row per partition with the group's
    committed offset, the topic's end offset and ``lag`` = end − committed (None: never committed).
    """
    import pandas as pd
    from kafka import TopicPartition

    s = s or load_settings()
    consumer = _consumer(s, group_id=group)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(parts) if parts else {}
        rows = []
        for tp in parts:
            committed = consumer.committed(tp)
            rows.append({"group": group, "topic": topic, "partition": tp.partition,
                         "committed": committed, "end": ends[tp],
                         "lag": None if committed is None else ends[tp] - committed})
    finally:
        consumer.close()
    return pd.DataFrame(rows, columns=["group", "topic", "partition", "committed", "end", "lag"])


def _parse(raw: bytes | None):
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _row(msg) -> dict:
    key = _parse(msg.key)
    value = _parse(msg.value)
    row = {"key": key, "offset": msg.offset, "partition": msg.partition, "topic": msg.topic,
           "timestamp": msg.timestamp, "tombstone": value is None}
    if isinstance(value, dict) and "op" in value:
        source = value.get("source") or {}
        row.update(op=value.get("op"), before=value.get("before"), after=value.get("after"),
                   source_ts_ms=source.get("ts_ms"), lsn=source.get("lsn"),
                   table=source.get("table"), snapshot=source.get("snapshot"),
                   txid=source.get("txId"), ts_ms=value.get("ts_ms"))
    else:  # a tombstone, a heartbeat or a message someone else wrote
        row.update(op=None, before=None, after=value if value is not None else None)
    return row


def end_offsets(topic: str, s: Settings | None = None) -> dict[int, int]:
    """Partition → offset of the next message to be written (``{}`` if the topic does not exist).

    Pass it to ``read_topic(topic, offsets=...)`` later to read only what arrived in between.
    """
    from kafka import TopicPartition

    consumer = _consumer(s or load_settings())
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: off for tp, off in consumer.end_offsets(parts).items()} if parts else {}
    finally:
        consumer.close()


def read_topic(topic: str, *, timeout_s: float = 10.0, from_beginning: bool = True,
               max_messages: int | None = None, min_messages: int | None = None,
               offsets: dict[int, int] | None = None, s: Settings | None = None):
    """Read a Debezium topic into a pandas DataFrame, one row per Kafka message.

    Columns: ``op`` (``r`` snapshot read, ``c`` create, ``u`` update, ``d`` delete, None for a
    tombstone), ``before``/``after`` (dicts of the row, JSON-decoded), ``source_ts_ms`` (commit
    time in Postgres, ms since epoch), ``lsn`` (position in the WAL), ``key`` (the primary key as
    a dict), ``offset``, ``partition``, ``timestamp`` (Kafka record time, UTC), ``tombstone``,
    ``table``, ``snapshot``, ``txid``, ``ts_ms`` (when Debezium processed it).

    ``from_beginning=True`` reads what the topic holds now and returns as soon as it is caught
    up (no waiting); ``from_beginning=False`` watches new messages for ``timeout_s``.
    ``offsets`` (from :func:`end_offsets`) starts each partition there instead of at the
    beginning. ``max_messages`` stops early; ``min_messages`` keeps waiting (up to
    ``timeout_s``) until that many arrived. A topic that does not exist (yet) gives an empty frame after waiting
    ``timeout_s`` for it — the connector creates a table's topic at its first event.
    No consumer group is used: nothing is committed, every call reads independently.
    """
    import pandas as pd
    from kafka import TopicPartition

    s = s or load_settings()
    consumer = _consumer(s)
    rows: list[dict] = []
    try:
        deadline = time.monotonic() + timeout_s
        parts = None
        while True:
            found = consumer.partitions_for_topic(topic)
            if found:
                parts = [TopicPartition(topic, p) for p in sorted(found)]
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.25)
            consumer._client.cluster.request_update()  # noqa: SLF001 - refresh metadata
        if parts:
            consumer.assign(parts)
            if offsets is not None:
                from_beginning = True  # read from the given positions up to the current end
                consumer.seek_to_beginning(*parts)
                for p in parts:
                    if p.partition in offsets:
                        consumer.seek(p, offsets[p.partition])
            elif from_beginning:
                consumer.seek_to_beginning(*parts)
            else:
                consumer.seek_to_end(*parts)
            ends = consumer.end_offsets(parts)
            positions = {p: consumer.position(p) for p in parts}
            while time.monotonic() < deadline:
                if max_messages is not None and len(rows) >= max_messages:
                    break
                caught_up = all(positions[p] >= ends[p] for p in parts)
                if from_beginning and caught_up and (min_messages is None or len(rows) >= min_messages):
                    break
                batch = consumer.poll(timeout_ms=200, max_records=max_messages - len(rows)
                                      if max_messages is not None else 500)
                for tp, messages in batch.items():
                    for msg in messages:
                        rows.append(_row(msg))
                        positions[tp] = msg.offset + 1
                for p in parts:
                    positions[p] = max(positions[p], consumer.position(p))
    finally:
        consumer.close()
    df = pd.DataFrame(rows, columns=COLUMNS)
    if max_messages is not None:
        df = df.head(max_messages)
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="ms", utc=True)
    return df


def decode_temporal(rows, table: str, s: Settings | None = None):
    """Turn the integers of ``timestamp``/``date`` columns back into datetimes.

    Accepts one row dict (``after``/``before``) or a Series/list of them; uses the column types
    of ``table`` in the OLTP catalog (the JSON carries no schema).
    """
    import pandas as pd

    from .db import connect

    s = s or load_settings()
    with connect(s.oltp) as conn:
        types = dict(conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'public' and table_name = %s", (table,)).fetchall())

    def one(row):
        if not isinstance(row, dict):
            return row
        out = dict(row)
        for col, value in row.items():
            kind = types.get(col, "")
            if value is None or not isinstance(value, int):
                continue
            if kind.startswith("timestamp"):
                out[col] = pd.Timestamp(value, unit="us")
            elif kind == "date":
                out[col] = (pd.Timestamp(0) + pd.Timedelta(days=value)).date()
        return out

    if isinstance(rows, dict):
        return one(rows)
    return [one(r) for r in rows] if isinstance(rows, list) else rows.map(one)


# ---- short-lived connectors and a capture barrier (lesson 03 and its checks) ---------------
TEMP_PREFIX = "lesson03"          # connectors lesson03-<tag>-<hex>, slots lesson03_<tag>_<hex>
TEMP_TOPIC_PREFIX = "l03"         # topics l03<tag><hex>.public.<table>


# ---- a short-lived second connector ----------------------------------------------------------
@dataclass
class TempConnector:
    name: str
    slot: str
    prefix: str
    tables: list[str]
    config: dict = field(repr=False, default_factory=dict)

    def topic(self, table: str) -> str:
        return f"{self.prefix}.public.{table}"


def _replication_conn(s):
    """A connection as the Debezium role: REPLICATION lets it drop a replication slot."""
    values = placeholder_values(s)
    return connect(s.oltp, autocommit=True, user=values["DEBEZIUM_USER"],
                   password=values["DEBEZIUM_PASSWORD"])


def _drop(name: str | None, slot: str | None, prefix: str | None, s, wait_s: float = 30) -> None:
    """Delete the connector, then its (by then inactive) slot, then its topics."""
    if name:
        _rest("DELETE", f"/connectors/{name}", s, timeout_s=30)  # noqa: SLF001
    if slot:
        deadline = time.monotonic() + wait_s
        with _replication_conn(s) as conn:
            while True:
                row = conn.execute("select active from pg_replication_slots where slot_name = %s",
                                   (slot,)).fetchone()
                if row is None:
                    break
                if not row[0]:
                    try:
                        conn.execute("select pg_drop_replication_slot(%s)", (slot,))
                        break
                    except psycopg.errors.ObjectInUse:  # the task grabbed it again: retry
                        pass
                if time.monotonic() > deadline:
                    raise CdcError(f"replication slot {slot} still active {wait_s:.0f}s after its "
                                       f"connector was deleted — drop it by hand once inactive: "
                                       f"select pg_drop_replication_slot('{slot}')")
                time.sleep(0.3)
    if prefix:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(s), client_id="jornada-l03")
        try:
            doomed = [t for t in admin.list_topics() if t.startswith(prefix + ".")]
            if doomed:
                admin.delete_topics(doomed)
        finally:
            admin.close()


def drop_leftovers(s=None) -> list[str]:
    """Remove temporary connectors, slots and topics an interrupted run left behind.

    An abandoned slot is the dangerous part: it pins WAL forever (see the lesson's heartbeat
    section), so every temporary connector starts by sweeping them.
    """
    s = s or load_settings()
    removed = []
    for name in connectors(s):
        if name.startswith(TEMP_PREFIX + "-"):
            _rest("DELETE", f"/connectors/{name}", s, timeout_s=30)  # noqa: SLF001
            removed.append(f"connector {name}")
    with _replication_conn(s) as conn:
        slots = [r[0] for r in conn.execute(
            "select slot_name from pg_replication_slots where slot_name like %s",
            (TEMP_PREFIX + "\\_%",))]
    for slot in slots:
        _drop(None, slot, None, s)
        removed.append(f"slot {slot}")
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(s), client_id="jornada-l03")
    try:
        doomed = [t for t in admin.list_topics() if t.startswith(TEMP_TOPIC_PREFIX)
                  and ".public." in t]
        if doomed:
            admin.delete_topics(doomed)
            removed += [f"topic {t}" for t in doomed]
    finally:
        admin.close()
    return removed


@contextmanager
def temporary_connector(tables: list[str], *, tag: str = "demo", snapshot_mode: str = "initial",
                        s=None):
    """A second Debezium connector, for a demo or a check, removed afterwards whatever happens.

    It is the course connector's config (stack/register-liga-oltp.json) with only what makes a
    connector independent changed: its own ``topic.prefix`` (its own topics), its own
    ``slot.name`` (its own position in the WAL) and — because Connect keys source offsets by
    connector name — its own offsets. ``table.include.list`` is ``tables``; no heartbeat. It reads
    the same publication as the course connector. On exit: connector deleted, slot dropped,
    topics deleted.
    """
    s = s or load_settings()
    drop_leftovers(s)
    suffix = uuid.uuid4().hex[:6]
    name = f"{TEMP_PREFIX}-{tag}-{suffix}"
    slot = f"{TEMP_PREFIX}_{tag}_{suffix}"
    prefix = f"{TEMP_TOPIC_PREFIX}{tag}{suffix}"
    config = connector_config(s=s)
    config.pop("heartbeat.action.query", None)
    config.update({"topic.prefix": prefix, "slot.name": slot, "snapshot.mode": snapshot_mode,
                   "table.include.list": ",".join(f"public.{t}" for t in tables),
                   "heartbeat.interval.ms": "0"})
    tc = TempConnector(name, slot, prefix, list(tables), config)
    try:
        _rest("PUT", f"/connectors/{name}/config", s, json_body=config,  # noqa: SLF001
                  timeout_s=30, ok=(200, 201))
        yield tc
    finally:
        _drop(name, slot, prefix, s)


def wait_for_capture(timeout_s: float = 120, s=None) -> float:
    """A barrier: commit a marker change and wait until its event is in Kafka; returns the seconds.

    Debezium publishes changes in commit order, so once the marker (an upsert of the heartbeat
    row, in its own transaction) is on its topic, every change committed before it is in Kafka
    too. Lessons run after others that wrote hundreds of thousands of rows: this makes "read from
    the end offsets" mean "from after everything earlier", not "from wherever CDC had got to".
    """
    s = s or load_settings()
    table = HEARTBEAT_TABLE
    topic = topic_for(table)
    start = end_offsets(topic, s)
    t0 = time.monotonic()
    with connect(s.oltp) as conn, conn.transaction():
        conn.execute(sql.SQL("insert into {} (id, beat_at) values (1, clock_timestamp()) on conflict (id) "
                             "do update set beat_at = excluded.beat_at").format(sql.Identifier(table)))
        xid = int(conn.execute("select pg_current_xact_id()::text").fetchone()[0]) % 2**32
    while time.monotonic() - t0 < timeout_s:
        events = read_topic(topic, offsets=start, timeout_s=5, s=s)
        if (events["txid"].dropna().astype("int64") == xid).any():
            return time.monotonic() - t0
        time.sleep(0.25)
    check_connector(s=s)  # a FAILED connector explains itself
    raise CdcError(f"CDC did not deliver a marker change within {timeout_s:.0f}s — is the connector "
                       "far behind? `jornada cdc status` shows the slot's lag")
