"""Scratch databases for `jornada check`: the learner's lesson data is never what a check resets.

A lesson whose exercise notebook resets or fills the OLTP (lesson 01's setup cell runs
``init_oltp(reset=True)``) is graded in a database of its own on the same server,
``<OLTP_DB>_check`` (e.g. ``liga_sudoers_check``). The check run drops and re-creates it (as the
Postgres superuser of `.env`, owned by the course role) and points the notebook's kernel at it
through the environment — ``OLTP_DB=liga_sudoers_check`` — which :class:`jornada.config.Settings`
reads before `.env`. It stays after the run (look at what the check saw) and is reset by the next.
"""

from __future__ import annotations

from psycopg import sql

from .config import PostgresEndpoint, Settings, settings as load_settings
from .db import connect

SUFFIX = "_check"
ENV_NAME = {"oltp": "OLTP_DB", "olap": "OLAP_DB"}


def scratch_name(dbname: str) -> str:
    return dbname if dbname.endswith(SUFFIX) else f"{dbname}{SUFFIX}"


def _endpoint(which: str, s: Settings) -> PostgresEndpoint:
    if which not in ENV_NAME:
        raise ValueError(f"unknown database {which!r}: use 'oltp' or 'olap'")
    return s.oltp if which == "oltp" else s.olap


def reset_scratch(which: str, s: Settings | None = None) -> str:
    """Drop and re-create the scratch copy of the ``which`` database (empty); return its name."""
    s = s or load_settings()
    ep = _endpoint(which, s)
    name = scratch_name(ep.dbname)
    if name == ep.dbname or not name.endswith(SUFFIX):  # never the learner's own database
        raise ValueError(f"refusing to reset {name!r}: a scratch database ends with {SUFFIX!r}")
    su = {"user": s.pg_superuser, "password": s.pg_superuser_password.get_secret_value()}
    with connect(ep, dbname="postgres", autocommit=True, **su) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(name),
                                                                  sql.Identifier(ep.user)))
    with connect(ep, dbname=name, autocommit=True, **su) as conn:
        # Postgres 15+ no longer lets every role create in `public`; the owner role needs it
        conn.execute(sql.SQL("alter schema public owner to {}").format(sql.Identifier(ep.user)))
    return name


def prepare(databases: tuple[str, ...] | list[str], s: Settings | None = None) -> dict[str, str]:
    """Reset the scratch copies of ``databases``; return the environment that points a kernel there."""
    s = s or load_settings()
    return {ENV_NAME[which]: reset_scratch(which, s) for which in databases}
