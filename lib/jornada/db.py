"""Connections to the course databases, with errors that name the fix."""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

import psycopg

from .config import PostgresEndpoint, settings


class ServiceUnavailable(RuntimeError):
    """A backing service cannot be reached; the message names the service and the fix."""


def _endpoint(which: str | PostgresEndpoint) -> PostgresEndpoint:
    if isinstance(which, PostgresEndpoint):
        return which
    s = settings()
    try:
        return {"oltp": s.oltp, "olap": s.olap}[which]
    except KeyError:
        raise ValueError(f"unknown database {which!r}: use 'oltp' or 'olap'") from None


def connect(which: str | PostgresEndpoint = "oltp", *, autocommit: bool = False,
            **overrides) -> psycopg.Connection:
    """Open a psycopg connection to the OLTP or OLAP database (3 s connect timeout)."""
    ep = _endpoint(which)
    try:
        return psycopg.connect(ep.conninfo(**overrides), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        text = str(exc)
        if "password authentication failed" in text:
            hint = ("the password in .env does not match the one the server was initialised "
                    "with — run `make reset` to recreate the native data (or fix .env)")
        elif "does not exist" in text:
            hint = "the database or role is missing — run `jornada db init`"
        else:
            hint = "run `make up` (or `jornada stack up`) and check `make status`"
        raise ServiceUnavailable(f"{ep.name} not reachable at {ep.address} — {hint}\n  ({text.strip()})") from None


@contextmanager
def transaction(which: str | PostgresEndpoint = "oltp") -> Iterator[psycopg.Connection]:
    """A connection whose work commits on success and rolls back entirely on error."""
    with connect(which) as conn:
        with conn.transaction():
            yield conn


def query_df(sql: str, params=None, which: str | PostgresEndpoint = "oltp"):
    """Run a query and return a pandas DataFrame (used by lessons and checks)."""
    import pandas as pd

    with connect(which) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        cols = [d.name for d in cur.description] if cur.description else []
        return pd.DataFrame(cur.fetchall(), columns=cols)


def scalar(sql: str, params=None, which: str | PostgresEndpoint = "oltp"):
    with connect(which) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
        return row[0] if row else None
