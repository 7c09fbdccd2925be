"""The two PostgreSQL servers (OLTP and OLAP) of the native runtime.

Binaries come from the `pgserver` wheel (PostgreSQL 16). We only borrow its binaries: the server is
started by us in the foreground on 127.0.0.1, so the stack owns its process group, and it runs as
an unprivileged user when we are root (Postgres refuses to run as root).
"""

from __future__ import annotations

import importlib.util
import signal
from pathlib import Path
from collections.abc import Callable

import psycopg
from psycopg import sql

from ..config import PostgresEndpoint, Settings
from .runtime import Health, Service, ServiceContext, StackError, chown_tree


def pg_bin(name: str) -> str:
    # find the wheel without importing it: its __init__ touches platformdirs and warns as root
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the `pgserver` package is missing — run `make setup`")
    path = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin" / name
    if not path.exists():
        raise StackError(f"{path} not found — reinstall with `make setup`")
    return str(path)


# Settings a teaching server needs: logical decoding for Debezium (lesson 03), small memory.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "wal_level": "logical",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "shared_buffers": "128MB",
    "max_connections": "100",
    # bulk history loads (1 M orders) otherwise force a checkpoint every few seconds
    "max_wal_size": "4GB",
    # An idle replication slot must not fill the disk: cap what a slot may retain.
    "max_slot_wal_keep_size": "2GB",
    "log_min_duration_statement": "-1",
    "timezone": "UTC",
}


def _prepare(ctx: ServiceContext, ep: PostgresEndpoint) -> None:
    if (ctx.data_dir / "PG_VERSION").exists():
        return
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    pwfile = ctx.run_dir / "initdb.pw"
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    pwfile.write_text(ctx.settings.pg_superuser_password.get_secret_value() + "\n")
    pwfile.chmod(0o600)
    chown_tree(ctx.data_dir, ctx.user)
    chown_tree(ctx.run_dir, ctx.user)
    try:
        ctx.run_as_user([
            pg_bin("initdb"), "-D", str(ctx.data_dir), "-U", ctx.settings.pg_superuser,
            f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale",
            "--no-instructions",
        ])
    except StackError:
        # never leave a half-initialised cluster behind: the next `up` must start clean
        import shutil

        shutil.rmtree(ctx.data_dir, ignore_errors=True)
        raise
    finally:
        pwfile.unlink(missing_ok=True)


def _command(ctx: ServiceContext, ep: PostgresEndpoint) -> list[str]:
    cmd = [pg_bin("postgres"), "-D", str(ctx.data_dir), "-p", str(ep.port),
           "-c", f"unix_socket_directories={ctx.run_dir}"]
    for key, value in SERVER_SETTINGS.items():
        cmd += ["-c", f"{key}={value}"]
    return cmd


def _superuser_conninfo(ctx: ServiceContext, ep: PostgresEndpoint, dbname: str = "postgres") -> str:
    return ep.conninfo(dbname=dbname, user=ctx.settings.pg_superuser,
                       password=ctx.settings.pg_superuser_password.get_secret_value())


def _health(ctx: ServiceContext, ep: PostgresEndpoint) -> Health:
    try:
        with psycopg.connect(_superuser_conninfo(ctx, ep),
                             connect_timeout=int(ctx.service.health_timeout_s)) as conn:
            version = conn.execute("show server_version").fetchone()[0]
            wal = conn.execute("show wal_level").fetchone()[0]
        return Health(True, f"PostgreSQL {version}, wal_level={wal}")
    except psycopg.OperationalError as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
        if "password authentication failed" in msg:
            msg += " — .env changed after the data was created: `make reset`"
        return Health(False, f"{ep.address}: {msg}")


def _ensure_database(ctx: ServiceContext, ep: PostgresEndpoint) -> None:
    """Create the course role and database, owned by that role (idempotent)."""
    with psycopg.connect(_superuser_conninfo(ctx, ep), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (ep.user,)).fetchone()
        verb = "alter" if exists else "create"
        conn.execute(sql.SQL(verb + " role {} with login password {}").format(
            sql.Identifier(ep.user), sql.Literal(ep.password)))
        if not conn.execute("select 1 from pg_database where datname = %s", (ep.dbname,)).fetchone():
            conn.execute(sql.SQL("create database {} owner {}").format(
                sql.Identifier(ep.dbname), sql.Identifier(ep.user)))
    with psycopg.connect(_superuser_conninfo(ctx, ep, ep.dbname), autocommit=True) as conn:
        # Postgres 15+ no longer lets every role create in `public`; the owner role needs it.
        conn.execute(sql.SQL("alter schema public owner to {}").format(sql.Identifier(ep.user)))


def postgres_service(name: str, describe: str, endpoint: Callable[[Settings], PostgresEndpoint]) -> Service:
    """A Postgres server for ``endpoint`` (the OLTP or the OLAP one from settings)."""
    def bound(fn):
        return lambda ctx: fn(ctx, endpoint(ctx.settings))

    return Service(
        name=name, describe=describe,
        port=lambda s: endpoint(s).port,
        endpoint=lambda s: f"{endpoint(s).address}/{endpoint(s).dbname}",
        command=bound(_command), health=bound(_health), prepare=bound(_prepare),
        ready=bound(_ensure_database),
        needs_unprivileged_user=True,
        stop_signal=signal.SIGINT,  # "fast" shutdown: roll back sessions, checkpoint, exit
        start_timeout_s=60,
    )


def oltp_endpoint(s: Settings) -> PostgresEndpoint:
    return s.oltp


def olap_endpoint(s: Settings) -> PostgresEndpoint:
    return s.olap
