"""The full, consistent copy of the OLTP into the raw mirror (bootstrap and recovery)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from .. import cdc, kafka
from ..config import Settings, settings as load_settings
from ..db import ServiceUnavailable, connect
from .mirror import (LOADS_TABLE, OFFSETS_TABLE, RAW, _ident, _lock_and_stamp, ensure_raw_schema,
                     oltp_catalog, record_source, refresh_geohash_uf, source_identity, tables,
                     topic_of)


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
            cdc.wait_for_capture(timeout_s=120, s=s)
        except (ServiceUnavailable, psycopg.Error) as exc:
            log(f"CDC not caught up ({str(exc).strip()}); the snapshot continues")
        try:
            offsets = kafka.end_offsets([topic_of(t) for t in tables()], s)
        except ServiceUnavailable:
            offsets = None
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
            record_source(olap, source_identity(oltp, defs))
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
